"""The run record: one JSON line per event, flushed, secrets redacted."""

import json
from pathlib import Path

from ralph.record.log import RunLog, not_by_ralph, read_run
from ralph.redact import redact


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


def test_lines_not_written_by_ralph_are_found(tmp_path: Path) -> None:
    """Each line carries a MAC chained to the one before: an edit, an insertion and a
    removal are all found; ralph's own lines check out."""
    log = RunLog.create(tmp_path)
    for i in range(4):
        log.emit("tool", name="run_command", n=i, text="ü\u2028", value=1.5)
    log.close()
    assert not_by_ralph(log.path, read_run(log.path)) == []
    lines = [line + "\n" for line in log.path.read_text(encoding="utf-8").split("\n")[:-1]]
    assert len(lines) == 4 and len(read_run(log.path)) == 4  # U+2028 ends no line
    edited = [*lines[:1], lines[1].replace('"n": 1', '"n": 9'), *lines[2:]]
    log.path.write_text("".join(edited), encoding="utf-8")
    assert not_by_ralph(log.path, read_run(log.path)) == [1]
    log.path.write_text("".join(lines[:2] + lines[3:]), encoding="utf-8")  # one removed
    assert not_by_ralph(log.path, read_run(log.path)) == [2]
    copy = tmp_path / "20000101T000000Z-abcdef.jsonl"  # another run's name
    copy.write_text("".join(lines), encoding="utf-8")
    assert not_by_ralph(copy, read_run(copy)) == [0, 1, 2, 3]
