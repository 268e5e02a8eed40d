"""The run record: one JSON line per event, flushed, secrets redacted."""

import json
from pathlib import Path

from ralph.record.log import RunLog, read_run, redact


def test_events_are_flushed_and_redacted(tmp_path: Path) -> None:
    log = RunLog.create(tmp_path / "runs")
    log.emit("tool", arguments={"command": "curl -H 'Authorization: Bearer abcdef123456789'"})
    # Visible to another reader before close: flushed per event.
    line = log.path.read_text().splitlines()[0]
    record = json.loads(line)
    assert record["event"] == "tool"
    assert "abcdef123456789" not in line and "[REDACTED]" in line
    log.close()


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"event": "run_start"}\n{"event": "mod')
    assert [e["event"] for e in read_run(path)] == ["run_start"]


def test_redact_keeps_ordinary_text() -> None:
    assert redact("pytest -q tests/") == "pytest -q tests/"
    assert "sk-ant-" not in redact("key sk-ant-api03-abcdefghijklmnopqrstuvwxyz")
    assert "hunter2hunter2" not in redact("PASSWORD=hunter2hunter2")
