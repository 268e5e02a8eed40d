"""`ralph runs` and `ralph log`: run records read back from hand-written JSONL fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ralph.cli import cli
from ralph.errors import UsageError
from ralph.record.runs import UNFINISHED, find_run, list_runs, summarize

T0 = 1_790_000_000.0  # a fixed epoch second; the fixtures' times count from it


def _start(run_id: str, ts: float, task: str = "plan.md") -> dict[str, Any]:
    return {
        "ts": ts,
        "event": "run_start",
        "run_id": run_id,
        "version": "0.1.0",
        "model": "claude-sonnet-4-5",
        "policy": "/p/default.toml",
        "policy_sha256": "ab" * 32,
        "task_file": f"/ws/{task}",
        "task_sha256": "cd" * 32,
        "mode": "unattended",
        "workspace": "/ws",
    }


def _step(ts: float, line: int, text: str, outcome: str, cost: float | None) -> list[dict]:
    usage = "Usage(input_tokens=1200, output_tokens=80, cache_read_tokens=0, cache_write_tokens=0)"
    return [
        {"ts": ts, "event": "step_start", "line": line, "text": text, "attempts": 0},
        {"ts": ts + 1, "event": "model", "turn": 1, "usage": usage, "cost": cost, "retries": 2},
        {
            "ts": ts + 2,
            "event": "decision",
            "tool": "run_command",
            "call_id": "c1",
            "mode": "unattended",
            "decision": "confirm",
            "outcome": "pending",
            "allowed": False,
            "rule": "git-push",
            "reason": "pushes to a remote",
            "approval_id": "ap-7",
        },
        {
            "ts": ts + 2,
            "event": "tool",
            "name": "run_command",
            "arguments": {"command": "git push origin main"},
            "decision": "confirm",
            "rule": "git-push",
            "allowed": False,
            "is_error": True,
            "result": "Refused for now: needs a person's approval (ap-7)",
        },
        {
            "ts": ts + 3,
            "event": "step_end",
            "line": line,
            "text": text,
            "outcome": outcome,
            "summary": f"summary of {text}",
            "turns": 1,
            "tokens": 1280,
            "cost_usd": cost,
            "seconds": 3.0,
            "approval_ids": ["ap-7"] if outcome == "awaiting_approval" else [],
        },
    ]


def _end(ts: float, stopped: str, code: int, steps: int, cost: float | None) -> dict:
    return {
        "ts": ts,
        "event": "run_end",
        "stopped": stopped,
        "exit_code": code,
        "steps": steps,
        "cost_usd": cost,
    }


def _write(ws: Path, run_id: str, events: list[dict], tail: str = "") -> Path:
    path = ws / ".ralph" / "runs" / f"{run_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + tail, encoding="utf-8")
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return _three_runs(tmp_path)


def _three_runs(tmp_path: Path) -> Path:
    """Three runs: an old finished one, a newer one waiting for approval, and the newest
    one killed mid-step (no run_end, a torn last line)."""
    old, mid, new = "20260101T000000Z-aaa111", "20260102T000000Z-bbb222", "20260103T000000Z-ccc333"
    _write(
        tmp_path,
        old,
        [
            _start(old, T0),
            *_step(T0 + 1, 3, "write the parser", "done", 0.25),
            *_step(T0 + 10, 5, "add tests", "failed", 0.5),
            _end(T0 + 20, "did 2 steps as asked", 1, 2, 0.75),
        ],
    )
    _write(
        tmp_path,
        mid,
        [
            _start(mid, T0 + 100),
            *_step(T0 + 101, 7, "deploy", "awaiting_approval", 0.125),
            _end(T0 + 110, "waiting for a person's approval", 3, 1, 0.125),
        ],
    )
    killed = [_start(new, T0 + 200), *_step(T0 + 201, 9, "refactor", "done", 0.5)]
    killed += _step(T0 + 210, 11, "rename module", "done", 0.0)[:3]  # killed before step_end
    killed[-1]["ts"] = T0 + 212
    # The model event of the open step says it had cost 0.0625 so far.
    killed[-2]["cost"] = 0.0625
    _write(tmp_path, new, killed, tail='{"ts": 1790000213.0, "event": "to')
    return tmp_path


def _invoke(*args: str, columns: int = 200) -> Any:
    runner = CliRunner(env={"COLUMNS": str(columns)})
    return runner.invoke(cli, list(args), standalone_mode=False, catch_exceptions=False)


def test_list_runs_newest_first_with_counts_and_costs(ws: Path) -> None:
    runs = list_runs(ws)
    assert [r.run_id[-6:] for r in runs] == ["ccc333", "bbb222", "aaa111"]
    killed, waiting, old = runs
    assert (old.steps, old.steps_done, old.steps_failed) == (2, 1, 1)
    assert old.cost_usd == 0.75 and old.exit_code == 1 and old.finished
    assert old.stopped == "did 2 steps as asked"
    assert old.started == "2026-09-21T14:13:20Z"
    assert waiting.outcomes == {"awaiting_approval": 1} and waiting.exit_code == 3
    assert (waiting.task_file, waiting.model) == ("/ws/plan.md", "claude-sonnet-4-5")


def test_killed_run_shows_as_unfinished(ws: Path) -> None:
    killed = list_runs(ws)[0]
    assert not killed.finished
    assert killed.stopped == UNFINISHED
    assert killed.exit_code is None
    assert killed.steps == 1 and killed.steps_done == 1
    assert killed.unfinished_step == "11: rename module"
    # One finished step (0.5) plus the open step's cost so far (0.0625).
    assert killed.cost_usd == pytest.approx(0.5625)


def test_unknown_price_makes_the_cost_unknown(tmp_path: Path) -> None:
    events = [_start("r1", T0), *_step(T0 + 1, 1, "a", "done", None)]
    assert summarize(tmp_path / "r1.jsonl", events).cost_usd is None


def test_empty_record_is_listed_not_fatal(tmp_path: Path) -> None:
    _write(tmp_path, "20260104T000000Z-ddd444", [], tail="{torn")
    (run,) = list_runs(tmp_path)
    assert run.run_id == "20260104T000000Z-ddd444"
    assert run.stopped == UNFINISHED and run.steps == 0 and run.model is None


def test_find_run_by_id_prefix_and_default(ws: Path) -> None:
    runs = ws / ".ralph" / "runs"
    assert find_run(ws, None) == runs / "20260103T000000Z-ccc333.jsonl"
    assert find_run(ws, "20260102") == runs / "20260102T000000Z-bbb222.jsonl"
    assert find_run(ws, "20260101T000000Z-aaa111") == runs / "20260101T000000Z-aaa111.jsonl"
    with pytest.raises(UsageError, match="ambiguous"):
        find_run(ws, "202601")
    with pytest.raises(UsageError, match="ralph runs"):
        find_run(ws, "nope")


def test_find_run_without_records(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no runs recorded"):
        find_run(tmp_path, None)


def test_runs_json(ws: Path) -> None:
    result = _invoke("runs", "--json", "--workspace", str(ws))
    assert result.return_value == 0
    data = json.loads(result.output)
    assert [r["run_id"][-6:] for r in data["runs"]] == ["ccc333", "bbb222", "aaa111"]
    first = data["runs"][0]
    assert first["stopped"] == UNFINISHED and first["finished"] is False
    assert data["runs"][2]["steps_failed"] == 1 and data["runs"][2]["cost_usd"] == 0.75


def test_runs_table(ws: Path) -> None:
    result = _invoke("runs", "--workspace", str(ws))
    assert result.return_value == 0
    text = result.output
    for expected in ("20260103T000000Z-ccc333", "plan.md", "claude-sonnet-4", "$0.7500"):
        assert expected in text
    assert "interrupted/" in text and "1 done" in text and "1 failed" in text
    assert text.index("ccc333") < text.index("bbb222") < text.index("aaa111")


def test_runs_table_fits_80_columns(ws: Path) -> None:
    text = _invoke("runs", "--workspace", str(ws), columns=80).output
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "20260103T000000Z-ccc333" in text  # ids are never wrapped or cut
    assert "…" not in text


def test_runs_without_records(tmp_path: Path) -> None:
    assert "No runs recorded" in _invoke("runs", "--workspace", str(tmp_path)).output
    data = json.loads(_invoke("runs", "--json", "--workspace", str(tmp_path)).output)
    assert data == {"runs": []}


def test_log_json_prints_every_event_in_order(ws: Path) -> None:
    result = _invoke("log", "20260101", "--json", "--workspace", str(ws))
    data = json.loads(result.output)
    assert data["run_id"] == "20260101T000000Z-aaa111"
    kinds = [e["event"] for e in data["events"]]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("step_start") == 2 and kinds.count("tool") == 2 and len(kinds) == 12


def test_log_default_is_newest_and_shows_it_unfinished(ws: Path) -> None:
    result = _invoke("log", "--workspace", str(ws))
    text = result.output
    assert "run 20260103T000000Z-ccc333" in text
    assert "▶ line 9: refactor" in text and "▶ line 11: rename module" in text
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("■ interrupted/unfinished") and "open step: line 11: rename" in last
    # The torn last line is skipped, not shown and not fatal.
    assert '"to' not in text


def test_log_readable_shows_steps_tools_decisions_and_costs(ws: Path) -> None:
    text = _invoke("log", "20260102", "--workspace", str(ws)).output
    lines = text.splitlines()
    order = [
        next(i for i, line in enumerate(lines) if marker in line)
        for marker in ("run 2026", "▶ line 7", "model  turn", "guard", "tool", "■", "stopped")
    ]
    assert order == sorted(order)
    assert "1,200 in · 80 out" in text and "$0.1250 so far" in text and "2 retries" in text
    assert "guard  confirm run_command → pending" in text and "approval ap-7" in text
    assert "refused run_command git push origin main" in text
    assert "■ awaiting_approval" in text and "waiting for approval: ap-7" in text
    assert "stopped: waiting for a person's approval · exit code 3" in text


def test_log_renders_dict_usage_and_unknown_events(tmp_path: Path) -> None:
    usage = {"input_tokens": 5, "output_tokens": 7, "cache_read_tokens": 3}
    _write(
        tmp_path,
        "r1",
        [
            _start("r1", T0),
            {"ts": T0 + 1, "event": "model", "turn": 2, "usage": usage, "cost": None},
            {"ts": T0 + 2, "event": "commit", "sha": "abc1234"},
            {"ts": T0 + 3, "event": "wait", "seconds": 30, "reason": "rate limited"},
            _end(T0 + 4, "nothing left to do", 0, 0, None),
        ],
    )
    text = _invoke("log", "--workspace", str(tmp_path)).output
    assert "turn 2 · 5 in · 7 out · 3 cache read · cost unknown so far" in text
    assert 'commit {"sha": "abc1234"}' in text
    assert "waited 30s: rate limited" in text
    assert UNFINISHED not in text


def test_log_markup_in_records_is_shown_literally(tmp_path: Path) -> None:
    events = [_start("r1", T0), *_step(T0 + 1, 1, "fix [bold]tags[/bold]", "done", 0.1)]
    _write(tmp_path, "r1", [*events, _end(T0 + 9, "done", 0, 1, 0.1)])
    assert "fix [bold]tags[/bold]" in _invoke("log", "--workspace", str(tmp_path)).output


def test_log_unknown_id_is_a_usage_error(ws: Path) -> None:
    with pytest.raises(UsageError) as info:
        _invoke("log", "zzz", "--workspace", str(ws))
    assert info.value.exit_code == 2


def test_times_no_clock_can_show_are_unknown_not_a_crash(tmp_path: Path) -> None:
    """An edited record with `Infinity`, `NaN` or a far-away time in `ts`."""
    events = [
        {**_start("r1", T0), "ts": float("inf")},
        {"ts": 1e300, "event": "model", "turn": 1, "usage": {}, "cost": 0.1},
        {"ts": float("nan"), "event": "step_end", "outcome": "done"},
        {"ts": -1e20, "event": "wait", "seconds": 1, "reason": "x"},
    ]
    _write(tmp_path, "r1", events)
    assert list_runs(tmp_path)[0].started is None
    text = _invoke("log", "--workspace", str(tmp_path)).output
    assert "time unknown" in text and "model  turn 1" in text and "waited 1s" in text
    assert "time unknown" in _invoke("runs", "--workspace", str(tmp_path)).output
    assert _invoke("runs", "--json", "--workspace", str(tmp_path)).exit_code == 0
