"""Overnight runs: the step loop's stop conditions, approvals that wait for a person,
audit mode, Ctrl-C and kill -9 -- end to end through the real CLI and SDKs."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ralph import taskfile
from ralph.guard.approvals import ApprovalStore
from ralph.messages import Usage
from ralph.tools import Toolbox
from tests.fakeserver import FakeModelServer, Request, Turn
from tests.guard_workspace import CORPUS, make_workspace
from tests.harness import Ralph, cmd, finish


@pytest.fixture
def ralph(ralph_anthropic: Ralph) -> Ralph:
    return ralph_anthropic


def make_project(root: Path, plan: str) -> Path:
    ws = root / "proj"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "plan.md").write_text(plan)
    return ws


def test_circuit_breaker_stops_and_blocks(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] always fails\n  - verify: `false`\n- [ ] later\n")
    ralph.server.add(*[Turn(tool_calls=[finish()]) for _ in range(3)])
    code, summary, err = ralph.run(ws / "plan.md", "--all")
    assert code == 1, err
    assert summary["stopped"] == "3 failed attempts in a row"
    assert len(summary["steps"]) == 3
    step = taskfile.load(ws / "plan.md").steps[0]
    assert step.state == "blocked" and step.attempts == 3
    ralph.server.assert_complete()


def test_run_budget_stops_between_steps(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] one\n- [ ] two\n- [ ] three\n")
    ralph.server.add(Turn(tool_calls=[finish()], usage=Usage(1_000_000, 0)))  # $3 on Sonnet
    code, summary, err = ralph.run(ws / "plan.md", "--all", "--max-cost", "1")
    assert code == 1, err  # stopped by its budget with steps left
    assert summary["stopped"].startswith("run budget spent")
    assert [s.checked for s in taskfile.load(ws / "plan.md").steps] == [True, False, False]


def test_all_steps_rereads_the_file_between_steps(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] one\n- [ ] two\n")
    plan = ws / "plan.md"

    def edit_then_finish(request: Request) -> Turn:
        plan.write_text(plan.read_text().replace("- [ ] two\n", "- [ ] two\n- [ ] added\n"))
        return Turn(tool_calls=[finish("one done")])

    ralph.server.add(edit_then_finish, Turn(tool_calls=[finish()]), Turn(tool_calls=[finish()]))
    code, summary, err = ralph.run(plan, "--all")
    assert code == 0, err
    assert summary["stopped"] == "every step is done"
    assert [s["text"] for s in summary["steps"]] == ["one", "two", "added"]


def _corpus_commands(label: str) -> list[str]:
    rows = [line.split("\t") for line in CORPUS.read_text().splitlines()[1:]]
    return [
        bytes(r[2], "ascii").decode("unicode_escape")
        for r in rows
        if r[0] == label and not r[2].startswith("@")
    ]


def test_unattended_destructive_corpus_never_runs(
    ralph: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    """Every DESTRUCTIVE shell command of the dev corpus, tried by a scripted session in an
    unattended run, is refused: none reaches the command runner (so it cannot execute), and
    every `confirm` among them is a pending approval."""
    destructive = _corpus_commands("DESTRUCTIVE")
    assert len(destructive) > 40
    ws, home = make_workspace(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    (ws / "plan.md").write_text("- [ ] clean up\n")
    before = _tree(ws, {".git", ".ralph", "plan.md"}) | _tree(home, set())
    executed: list[str] = []
    real = Toolbox.run_command

    def recording(self: Toolbox, command: str, timeout_s: float | None = None) -> Any:
        executed.append(command)
        return real(self, command, timeout_s)

    monkeypatch.setattr(Toolbox, "run_command", recording)
    ralph.server.add(
        *[Turn(tool_calls=[cmd(c)]) for c in destructive],
        Turn(tool_calls=[finish("nothing I could do", "blocked")]),
    )
    code, summary, err = ralph.run(ws / "plan.md", "--max-turns", str(len(destructive) + 5))
    assert executed == [], f"these ran: {executed}"
    assert _tree(ws, {".git", ".ralph", "plan.md"}) | _tree(home, set()) == before
    assert code == 3, err
    pending = {a.call["command"] for a in ApprovalStore(ws).list() if a.status == "pending"}
    results = [json.dumps(r.body["messages"][-1]) for r in ralph.server.requests[1:]]
    for command, result in zip(destructive, results, strict=False):
        assert "refused" in result.lower(), command
    assert pending <= set(destructive) and pending
    assert taskfile.load(ws / "plan.md").steps[0].state == "awaiting_approval"


def test_approved_call_runs_exactly_once_on_the_next_run(
    ralph: Ralph, tmp_path: Path, capsys: Any
) -> None:
    ws = make_project(tmp_path, "- [ ] remove the old src tree\n")
    (ws / "src").mkdir()
    (ws / "src" / "old.py").write_text("x = 1\n")
    (ws / "lib").mkdir()
    ralph.server.add(
        Turn(tool_calls=[cmd("rm -rf src")]),
        Turn(tool_calls=[finish("needs approval", "blocked")]),
    )
    code, summary, err = ralph.run(ws / "plan.md")
    assert code == 3, err
    approval_id = summary["steps"][0]["approval_ids"][0]
    assert (ws / "src").exists()

    code, out, err = ralph("approvals", "approve", approval_id, "--workspace", str(ws))
    assert code == 0, err
    ralph.server.add(
        Turn(tool_calls=[cmd("rm -rf lib")]),  # not approved: still refused
        Turn(tool_calls=[cmd("rm -rf src")]),  # the approved exact call: runs once
        Turn(tool_calls=[cmd("rm -rf src")]),  # a second time: needs a person again
        Turn(tool_calls=[finish("removed src")]),
    )
    code, summary, err = ralph.run(ws / "plan.md")
    assert not (ws / "src").exists() and (ws / "lib").exists()
    status = {a.id: a.status for a in ApprovalStore(ws).list()}
    assert status[approval_id] == "used"
    third = json.dumps(ralph.server.requests[-1].body["messages"][-1])
    assert "refused" in third.lower()


def _tree(ws: Path, skip: set[str]) -> dict[str, str]:
    out = {}
    for path in sorted(ws.rglob("*")):
        rel = path.relative_to(ws).as_posix()
        if rel.split("/")[0] in skip or not path.is_file():
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _git_status(ws: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(ws), "status", "--porcelain"], capture_output=True, text=True, check=True
    ).stdout


def test_audit_leaves_the_tree_and_its_task_file_alone(ralph: Ralph, tmp_path: Path) -> None:
    plan = "# Audit: a review\n\n- [ ] look for secrets\n- [ ] check the tests\n"
    ws = make_project(tmp_path, plan)
    (ws / ".gitignore").write_text(".ralph/\n")
    (ws / "src").mkdir()
    (ws / "src" / "app.py").write_text("KEY = 'x'\n")
    subprocess.run(["git", "-C", str(ws), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(ws), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "i"],
        check=True,
    )
    before = _tree(ws, {".git", ".ralph"})
    ralph.server.add(
        Turn(tool_calls=[("read_file", {"path": "src/app.py"})]),
        Turn(tool_calls=[("write_file", {"path": "src/app.py", "content": "oops"})]),
        Turn(tool_calls=[("edit_file", {"path": "src/app.py", "old_text": "x", "new_text": "y"})]),
        Turn(tool_calls=[cmd("touch made.txt"), cmd("rm -rf src"), cmd("grep -rn KEY src")]),
        Turn(tool_calls=[finish("src/app.py:1 hard-coded KEY\nseverity: low")]),
        Turn(tool_calls=[cmd("ls"), finish("no tests at all")]),
    )
    code, out, err = ralph("audit", str(ws / "plan.md"), "--model", ralph.model, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert _tree(ws, {".git", ".ralph"}) == before  # the task file too
    assert _git_status(ws) == ""
    report = Path(summary["report"])
    folder = report.parent
    assert folder.parent == ws / ".ralph" / "audits" and report.name == "report.md"
    text = report.read_text()
    assert text.startswith("# Audit: a review\n") and "Audit: Audit" not in text
    assert "hard-coded KEY" in text and "no tests at all" in text
    assert f"audit report: {report}" in err
    copy = taskfile.load(folder / "plan.md")
    assert [s.state for s in copy.steps] == ["done", "done"]
    grep_result = json.dumps(ralph.server.requests[4].body["messages"][-1])
    assert "KEY = " in grep_result  # read-only commands do run

    # A second audit starts fresh from the tracked file, in a folder of its own.
    ralph.server.add(Turn(tool_calls=[finish("fine")]), Turn(tool_calls=[finish("fine too")]))
    code, out, err = ralph("audit", str(ws / "plan.md"), "--model", ralph.model, "--json")
    assert code == 0, err
    second = Path(json.loads(out)["report"]).parent
    assert second != folder
    assert [s.state for s in taskfile.load(second / "plan.md").steps] == ["done", "done"]


def test_audit_resume_goes_on_and_never_names_a_missing_report(
    ralph: Ralph, tmp_path: Path
) -> None:
    ws = make_project(tmp_path, "# Checks\n\n- [ ] one\n- [ ] two\n")
    ralph.server.add(Turn(tool_calls=[finish("first finding")]))
    code, out, err = ralph("audit", str(ws / "plan.md"), "--model", ralph.model, "--steps", "1")
    assert code == 0, err
    (folder,) = (ws / ".ralph" / "audits").iterdir()
    ralph.server.add(Turn(tool_calls=[finish("second finding")]))
    resume = ("audit", "--resume", folder.name, "--model", ralph.model, "--workspace", str(ws))
    code, out, err = ralph(*resume)
    assert code == 0, err
    report = (folder / "report.md").read_text()
    assert report.startswith("# Audit: Checks\n")
    assert "first finding" in report and "second finding" in report
    # Resuming a finished audit: nothing to do, and no report path that does not exist.
    code, out, err = ralph(*resume, "--json")
    assert code == 0, err
    assert "report" not in json.loads(out) or Path(json.loads(out)["report"]).is_file()
    code, out, err = ralph(*resume[:2], "20200101T000000Z-0000", *resume[3:])
    assert code == 2 and "no audit '20200101T000000Z-0000'" in err


def test_audit_goal_without_task_file(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] unused\n")
    ralph.server.add(Turn(tool_calls=[finish("all fine")]))
    code, out, err = ralph(
        "audit", "--goal", "Is there a README?", "--model", ralph.model, "--workspace", str(ws)
    )
    assert code == 0, err
    (folder,) = (ws / ".ralph" / "audits").iterdir()
    report = (folder / "report.md").read_text()
    assert report.startswith("# Audit\n") and "all fine" in report
    assert (ws / "plan.md").read_text() == "- [ ] unused\n"


# --------------------------------------------------------------------------- processes


def _spawn(ws: Path, server: FakeModelServer, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=server.url)
    env["RALPH_RETRY_BASE_S"] = "0.001"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ralph",
            "run",
            "plan.md",
            "--model",
            "anthropic:claude-sonnet-4-6",
            "--unattended",
            *args,
        ],
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _worker(request: Request) -> Turn:
    """A model that runs one command, then finishes the step."""
    last = request.body["messages"][-1]
    if last["role"] == "user" and isinstance(last["content"], str):
        return Turn(tool_calls=[cmd("sleep 0.05; echo step >> work.log")])
    return Turn(tool_calls=[finish("worked")])


@pytest.mark.slow
def test_ctrl_c_finishes_the_call_and_records_interrupted(tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] slow step\n- [ ] next\n")
    slow = "touch started; sleep 1.5; echo finished > out.txt"
    with FakeModelServer([Turn(tool_calls=[cmd(slow)])]) as srv:
        proc = _spawn(ws, srv, "--all")
        deadline = time.monotonic() + 30
        while not (ws / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # wait until the command runs (a loaded machine can take seconds)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert (ws / "out.txt").read_text() == "finished\n"  # the running call was finished
    step = taskfile.load(ws / "plan.md").steps[0]
    assert not step.checked and step.note and step.note.startswith("interrupted")
    assert step.attempts == 0  # an interruption is not a failed attempt


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    steps = 6
    plan = "# Plan\n\n" + "".join(f"- [ ] step {i}\n" for i in range(steps))
    ws = make_project(tmp_path, plan)
    rng = random.Random(1234)
    with FakeModelServer() as srv:
        for _trial in range(20):
            srv.add(*[_worker] * 4 * steps)
            proc = _spawn(ws, srv, "--all")
            time.sleep(rng.uniform(0.0, 1.2))
            proc.kill()
            proc.wait()
            tf = taskfile.load(ws / "plan.md")  # always parses
            finished = _finished_steps(ws)
            checked = {s.text for s in tf.steps if s.checked}
            assert finished <= checked, "a finished step was not recorded"
            for s in tf.steps:  # a box is only ever checked together with its done receipt
                assert not s.checked or (s.note or "").startswith("done"), s
            if all(s.checked for s in tf.steps):
                break
        srv.add(*[_worker] * 4 * steps)
        proc = _spawn(ws, srv, "--all")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert all(s.checked for s in taskfile.load(ws / "plan.md").steps)


def _events(ws: Path) -> list[dict[str, Any]]:
    events = []
    for path in sorted((ws / ".ralph" / "runs").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the torn last line of a killed run
    return events


def _finished_steps(ws: Path) -> set[str]:
    """Steps whose outcome "done" was logged: they must be checked in the file."""
    return {e["text"] for e in _events(ws) if e["event"] == "step_end" and e["outcome"] == "done"}


def test_commit_after_each_done_step_and_notify(
    ralph: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    ws = make_project(tmp_path, "- [ ] add hello\n- [ ] add bye\n")
    for name, value in (("NAME", "t"), ("EMAIL", "t@example.com")):
        monkeypatch.setenv(f"GIT_AUTHOR_{name}", value)
        monkeypatch.setenv(f"GIT_COMMITTER_{name}", value)
    ralph.server.add(
        Turn(tool_calls=[("write_file", {"path": "hello.txt", "content": "hi\n"})]),
        Turn(tool_calls=[finish("hello")]),
        Turn(tool_calls=[("write_file", {"path": "bye.txt", "content": "bye\n"})]),
        Turn(tool_calls=[finish("bye")]),
    )
    notified = tmp_path / "notified.json"
    code, summary, err = ralph.run(
        ws / "plan.md", "--all", "--commit", "--notify-cmd", f"cat > {notified}"
    )
    assert code == 0, err
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=ws, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert log == ["add bye", "add hello"]
    files = subprocess.run(
        ["git", "show", "--name-only", "--format=", "HEAD"],
        cwd=ws,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "bye.txt" in files and not any(f.startswith(".ralph") for f in files)
    sent = json.loads(notified.read_text())
    assert sent["stopped"] == "every step is done" and len(sent["steps"]) == 2


def test_commit_refused_during_a_merge(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] step\n")
    (ws / ".git" / "MERGE_HEAD").write_text("0" * 40 + "\n")
    code, out, err = ralph("run", str(ws / "plan.md"), "--model", ralph.model, "--commit")
    assert code == 2 and "merge" in err
    assert ralph.server.requests == []
