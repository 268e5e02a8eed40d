"""Runs that end on time: SIGTERM/SIGHUP/Ctrl-C in a real subprocess, no process left
behind, deadlines on a model stream that trickles, and the run budget between turns."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ralph import taskfile
from tests.fakeserver import FakeModelServer, Turn
from tests.harness import Ralph, cmd, finish
from tests.test_overnight import _events, make_project
from tests.test_overnight import _spawn as spawn_run


@pytest.fixture
def ralph(ralph_anthropic: Ralph) -> Ralph:
    return ralph_anthropic


_POLICY = """
[[rule]]
id = "test.shell"
decision = "allow"
reason = "the test's own commands"
program = ["trap", "sleep", "echo", "touch", "wait"]
"""


def _spawn(ws: Path, server: FakeModelServer, *args: str) -> subprocess.Popen[str]:
    """`ralph run plan.md --unattended` in a subprocess, under a policy that lets the test's
    own shell commands run."""
    policy = ws.parent / "allow.toml"
    policy.write_text(_POLICY)
    return spawn_run(ws, server, "--policy", str(policy), *args)


def _wait_for(predicate: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


# A command that ignores SIGTERM, with a child in the background that would write the
# marker after ralph is gone: only a kill of the whole process group stops both.
_STUBBORN = (
    "trap '' TERM; (sleep 10; echo late > marker-bg) & "
    "touch started; sleep 10; echo late > marker; wait"
)
_LATE_S = 10.5  # after "started": the markers would exist by now had anything survived
# (10 s, not less: under load ralph may take seconds to stop the group, and a marker
# written in that time would fail the test though nothing outlived ralph)


def _no_markers_after(ws: Path, since: float) -> None:
    assert not (ws / "marker").exists()  # ralph has exited: it stopped the command in time
    time.sleep(max(0.0, since + _LATE_S - time.monotonic()))
    assert not (ws / "marker").exists() and not (ws / "marker-bg").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_stop_signal_during_a_command_kills_its_group_and_ends_the_run(
    tmp_path: Path, signum: int, code: int
) -> None:
    ws = make_project(tmp_path, "- [ ] slow step\n- [ ] next\n")
    notified = tmp_path / "notified.json"
    with FakeModelServer([Turn(tool_calls=[cmd(_STUBBORN)])]) as srv:
        proc = _spawn(ws, srv, "--all", "--notify-cmd", f"cat > {notified}")
        _wait_for(lambda: (ws / "started").exists())
        since = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    _no_markers_after(ws, since)
    step = taskfile.load(ws / "plan.md").steps[0]
    assert not step.checked and (step.note or "").startswith("interrupted"), step.note
    assert step.attempts == 0
    end = _events(ws)[-1]
    assert end["event"] == "run_end" and end["exit_code"] == code
    assert signal.Signals(signum).name in end["stopped"]
    sent = json.loads(notified.read_text())
    assert sent["exit_code"] == code


@pytest.mark.slow
def test_sigterm_during_a_model_call_ends_the_run_at_once(tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] step\n")
    with FakeModelServer([Turn(tool_calls=[finish()], delay_s=60)]) as srv:
        proc = _spawn(ws, srv)
        _wait_for(lambda: bool(srv.requests))
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)  # well before the 60 s answer
    assert proc.returncode == 143, err
    step = taskfile.load(ws / "plan.md").steps[0]
    assert not step.checked and (step.note or "").startswith("interrupted"), step.note
    assert _events(ws)[-1]["event"] == "run_end"


@pytest.mark.slow
def test_second_ctrl_c_leaves_no_process_behind(tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] slow step\n")
    with FakeModelServer([Turn(tool_calls=[cmd(_STUBBORN)])]) as srv:
        proc = _spawn(ws, srv)
        _wait_for(lambda: (ws / "started").exists())
        since = time.monotonic()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    _no_markers_after(ws, since)
    assert _events(ws)[-1]["event"] == "run_end"


def test_a_trickling_stream_cannot_outlast_the_step_time(ralph: Ralph, tmp_path: Path) -> None:
    """One byte every 50 ms never trips a read timeout; the step's deadline still ends it."""
    ws = make_project(tmp_path, "- [ ] step\n- [ ] next\n")
    ralph.server.add(Turn(tool_calls=[finish("x" * 400)], trickle_s=0.05))  # about 2 min
    code, summary, err = ralph.run(ws / "plan.md", "--max-step-time", "2s")
    assert code == 1, err
    assert summary["steps"][0]["outcome"] == "failed"
    assert summary["steps"][0]["summary"] == "out of time (2s)"
    step = taskfile.load(ws / "plan.md").steps[0]
    assert step.state == "failed" and step.attempts == 1


def test_the_run_time_ends_a_command_and_the_run(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] step\n- [ ] next\n")
    ralph.server.add(Turn(tool_calls=[cmd("sleep 30; touch marker")]))
    code, summary, err = ralph.run(ws / "plan.md", "--all", "--max-time", "2s")
    assert code == 1, err  # stopped by its budget, with steps left
    assert summary["stopped"] == "run time spent (2s)"
    assert summary["steps"][0]["outcome"] == "interrupted"
    step = taskfile.load(ws / "plan.md").steps[0]
    assert step.attempts == 0 and "run time spent" in (step.note or "")
    assert not (ws / "marker").exists()


def test_the_run_budget_is_checked_between_turns(ralph: Ralph, tmp_path: Path) -> None:
    """$3 per turn on Sonnet against --max-cost 1: the first turn spends it, and the run
    stops there instead of finishing the step and overshooting."""
    from ralph.messages import Usage

    ws = make_project(tmp_path, "- [ ] step\n- [ ] next\n")
    ralph.server.add(
        Turn(tool_calls=[cmd("echo one")], usage=Usage(1_000_000, 0)),
        Turn(tool_calls=[finish()], usage=Usage(1_000_000, 0)),
    )
    code, summary, err = ralph.run(ws / "plan.md", "--all", "--max-cost", "1")
    assert code == 1, err
    assert summary["stopped"] == "run budget spent ($3.00 of $1.00)"
    assert len(ralph.server.requests) == 1
    assert summary["steps"][0]["outcome"] == "interrupted"


def test_a_run_removes_the_temp_file_a_killed_write_back_left(ralph: Ralph, tmp_path: Path) -> None:
    """A kill -9 mid write-back leaves `.plan.md.XXXXXXXX.tmp`; the next run (holding the
    lock, so no other write is under way) removes it. `--commit` never stages such files
    (tests/test_checkpoint.py)."""
    ws = make_project(tmp_path, "- [ ] step\n")
    (ws / ".plan.md.k1ll3d00.tmp").write_text("- [x] torn\n")
    (ws / ".notes.md.k1ll3d00.tmp").write_text("someone else's\n")
    ralph.server.add(Turn(tool_calls=[finish()]))
    code, summary, err = ralph.run(ws / "plan.md")
    assert code == 0, err
    assert not (ws / ".plan.md.k1ll3d00.tmp").exists()
    assert (ws / ".notes.md.k1ll3d00.tmp").exists()


def test_a_silent_server_is_retried_after_the_idle_timeout(
    ralph: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("RALPH_IDLE_TIMEOUT", "0.5")
    ws = make_project(tmp_path, "- [ ] step\n")
    ralph.server.add(
        Turn(tool_calls=[finish("first")], delay_s=5), Turn(tool_calls=[finish("second")])
    )
    code, summary, err = ralph.run(ws / "plan.md")
    assert code == 0, err
    assert summary["steps"][0]["summary"] == "second"


# --------------------------------------------------------------------------- order


def test_a_step_awaiting_approval_holds_the_steps_after_it(ralph: Ralph, tmp_path: Path) -> None:
    """The deploy waits for a person: the announcement after it must not run."""
    ws = make_project(tmp_path, "- [ ] deploy\n- [ ] announce 0.2.0 is live\n")
    ralph.server.add(
        Turn(tool_calls=[cmd("git push --force origin main")]),
        Turn(tool_calls=[finish("needs approval", "blocked")]),
    )
    code, summary, err = ralph.run(ws / "plan.md", "--all")
    assert code == 3, err
    approval_id = summary["steps"][0]["approval_ids"][0]
    code, summary, err = ralph.run(ws / "plan.md", "--all")  # the next cron tick
    assert code == 3, err
    assert summary["steps"] == [] and approval_id in summary["stopped"]
    assert len(ralph.server.requests) == 2  # nothing asked the model
    code, out, _ = ralph("status", str(ws / "plan.md"), "--json")
    status = json.loads(out)
    assert status["next"] is None and status["waiting"]["approval_id"] == approval_id
    code, out, _ = ralph("next", str(ws / "plan.md"))
    assert f"waits for approval {approval_id}" in out
    code, out, _ = ralph("next", str(ws / "plan.md"), "--prompt")  # what run would send: nothing
    assert f"waits for approval {approval_id}" in out and "announce" not in out
    ralph.server.add(Turn(tool_calls=[finish("announced")]))
    code, summary, err = ralph.run(ws / "plan.md", "--skip-waiting")  # today's behaviour
    assert code == 0, err
    assert [s["text"] for s in summary["steps"]] == ["announce 0.2.0 is live"]


def test_a_fresh_runner_without_the_approval_exits_3_instead_of_asking_again(
    ralph: Ralph, tmp_path: Path
) -> None:
    ws = make_project(
        tmp_path, "- [ ] deploy\n  - ralph: awaiting approval 0a1b2c3d · fly deploy\n- [ ] next\n"
    )
    code, summary, err = ralph.run(ws / "plan.md")
    assert code == 3, err
    assert "0a1b2c3d" in summary["stopped"] and "not in this machine" in summary["stopped"]
    assert ralph.server.requests == []
    assert not (ws / ".ralph" / "approvals").exists() or not list(
        (ws / ".ralph" / "approvals").glob("*.json")
    )


def test_a_verify_that_needs_approval_leaves_the_step_awaiting_it(
    ralph: Ralph, tmp_path: Path
) -> None:
    ws = make_project(tmp_path, "- [ ] ship\n  - verify: `git push --force origin main`\n")
    ralph.server.add(Turn(tool_calls=[finish("shipped")]))
    code, summary, err = ralph.run(ws / "plan.md")
    assert code == 3, err
    (approval_id,) = summary["steps"][0]["approval_ids"]
    step = taskfile.load(ws / "plan.md").steps[0]
    assert step.state == "awaiting_approval" and step.approval_id == approval_id
    assert (step.note or "").startswith(f"awaiting approval {approval_id}")


# --------------------------------------------------------------------------- task files


def test_a_list_nested_ten_deep_keeps_every_step() -> None:
    """markdown-it's commonmark limit (20 levels = 10 lists) silently dropped the rest."""
    src = "".join("  " * i + f"- [ ] level {i}\n" for i in range(12)) + "- [ ] after\n"
    tf = taskfile.parse(src.encode(), "deep.md")
    assert [s.text for s in tf.steps][-2:] == ["level 11", "after"]
    assert len(tf.steps) == 13


def test_a_plan_nested_past_the_limit_is_refused_not_cut() -> None:
    from ralph.errors import TaskFileError

    src = "".join("  " * i + f"- [ ] level {i}\n" for i in range(60)) + "- [ ] after\n"
    with pytest.raises(TaskFileError, match="nested"):
        taskfile.parse(src.encode(), "deeper.md")


def test_a_huge_task_file_is_refused_at_once(tmp_path: Path) -> None:
    from ralph.errors import TaskFileError

    plan = tmp_path / "plan.md"
    with plan.open("wb") as f:
        f.write(b"- [ ] step\n")
        f.truncate(21_000_000)  # sparse: no 21 MB written
    with pytest.raises(TaskFileError, match="at most 20 MB"):
        taskfile.load(plan)


def test_the_notify_command_gets_one_line_of_json(tmp_path: Path) -> None:
    from ralph.notify import notify

    out = tmp_path / "got.txt"
    assert notify({"run_id": "r1"}, command=f"cat > {out}") == []
    assert out.read_text() == '{"run_id": "r1"}\n'
