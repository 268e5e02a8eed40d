"""`ralph run --all --parallel N`: lanes in worktrees, merged back in plan order, end to end
through the real CLI, real git, real lane processes and the fake model server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ralph import taskfile
from ralph.messages import Usage
from tests.fakeserver import Request, Turn
from tests.harness import Ralph, finish

pytestmark = pytest.mark.slow

PAGES = """\
# Site

- [ ] Pages
  - parallel: yes
  - [ ] Home page
    - verify: `test -f home.html`
  - [ ] About page
    - verify: `test -f about.html`
  - [ ] Contact page
    - verify: `test -f contact.html`
- [ ] Deploy
  - verify: `test -f home.html && test -f about.html && test -f contact.html`
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def make_repo(root: Path, plan: str, files: dict[str, str] | None = None) -> Path:
    ws = root / "proj"
    ws.mkdir()
    git(ws, "init", "-q", "-b", "main")
    (ws / ".gitignore").write_text("ignored/\n")
    (ws / "plan.md").write_text(plan)
    for name, text in (files or {}).items():
        (ws / name).write_text(text)
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "base")
    return ws


def write(path: str, content: str) -> tuple[str, dict[str, str]]:
    return ("write_file", {"path": path, "content": content})


def your_step(request: Request) -> str:
    """The step a lane's request is for (the line after "## Your step" in its prompt)."""
    first = request.body["messages"][0]["content"]
    text = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
    return text.split("## Your step\n", 1)[1].split("\n", 1)[0]


def lanes_script(
    scripts: dict[str, list[Turn]], *, together: int = 0
) -> list[Callable[[Request], Turn]]:
    """Script items that answer each lane from its own list, whatever order the lanes ask
    in. With `together`, each of the first `together` lanes' first turn is held until all
    of them have asked: they only pass if that many lanes run at the same time."""
    barrier = threading.Barrier(together, timeout=60) if together else None
    lock = threading.Lock()
    taken: dict[str, int] = {}

    def answer(request: Request) -> Turn:
        step = your_step(request)
        with lock:
            n = taken.get(step, 0)
            taken[step] = n + 1
        if n == 0 and barrier is not None:
            barrier.wait()
        return scripts[step][n]

    return [answer] * sum(len(turns) for turns in scripts.values())


def lane_records(ws: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for path in (ws / ".ralph" / "runs").glob("*.jsonl"):
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if events and events[0].get("lane"):
            out[events[0]["lane"]] = events
    return out


def notes(ws: Path) -> dict[str, tuple[bool, str, str | None]]:
    tf = taskfile.load(ws / "plan.md")
    return {s.text: (s.checked, s.state, s.note) for s in tf.steps}


def without_notes(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if "- ralph: " not in line)


def test_three_lanes_run_at_once_and_all_merge_in_plan_order(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    ws = make_repo(tmp_path, PAGES)
    (ws / "scratch.txt").write_text("mine, untracked\n")
    (ws / "ignored").mkdir()
    (ws / "ignored" / "cache.bin").write_bytes(b"\x00mine")
    pages = {
        f"{name.capitalize()} page": [
            Turn(tool_calls=[write(f"{name}.html", f"<h1>{name}</h1>\n")]),
            Turn(tool_calls=[finish(f"wrote {name}.html")]),
        ]
        for name in ("home", "about", "contact")
    }
    script = lanes_script(pages, together=3)
    deploy = [Turn(tool_calls=[write("deployed.txt", "yes\n"), finish("deployed")])]
    script += lanes_script({"Deploy": deploy})
    ralph_anthropic.server.add(*script)

    code, summary, err = ralph_anthropic.run(ws / "plan.md", "--all", "--parallel", "3")

    assert code == 0, err
    ralph_anthropic.server.assert_complete()
    assert summary["stopped"] == "every step is done"
    assert [s["text"] for s in summary["steps"]][-1] == "Deploy"
    plan = (ws / "plan.md").read_text()
    assert without_notes(plan) == PAGES.replace("- [ ]", "- [x]")
    for text, (checked, state, note) in notes(ws).items():
        assert checked and state == "done", text
        if text != "Pages":
            assert note is not None and "merged into main" in note, text
    for name in ("home", "about", "contact"):
        assert (ws / f"{name}.html").read_text() == f"<h1>{name}</h1>\n"
    assert git(ws, "status", "--porcelain", "--untracked-files=no").splitlines() == [" M plan.md"]
    assert (ws / "scratch.txt").read_text() == "mine, untracked\n"
    assert (ws / "ignored" / "cache.bin").read_bytes() == b"\x00mine"
    merges = git(ws, "log", "--merges", "--format=%s").splitlines()
    assert [m.split(" (")[0] for m in reversed(merges)] == [
        "ralph: merge ralph/plan/home-page",
        "ralph: merge ralph/plan/about-page",
        "ralph: merge ralph/plan/contact-page",
        "ralph: merge ralph/plan/deploy",
    ]
    assert not list((ws / ".ralph" / "worktrees").glob("*/"))  # merged lanes are removed
    assert git(ws, "branch", "--list", "ralph/*") == ""
    records = lane_records(ws)
    spans = [
        (
            next(e["ts"] for e in records[f"plan-{n}-page"] if e["event"] == "step_start"),
            next(e["ts"] for e in records[f"plan-{n}-page"] if e["event"] == "step_end"),
        )
        for n in ("home", "about", "contact")
    ]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # all at once
    assert all(e["lane"] == "plan-deploy" for e in records["plan-deploy"])


WORDS = """\
# Words

- [ ] Words
  - parallel: yes
  - [ ] Say hello
  - [ ] Say goodbye
"""


def test_two_lanes_editing_one_line_one_merges_the_other_keeps_its_branch(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    ws = make_repo(tmp_path, WORDS, {"word.txt": "word\n"})
    says = {
        f"Say {w}": [Turn(tool_calls=[write("word.txt", f"{w}\n"), finish(f"said {w}")])]
        for w in ("hello", "goodbye")
    }
    ralph_anthropic.server.add(*lanes_script(says, together=2))

    code, summary, err = ralph_anthropic.run(ws / "plan.md", "--all", "--parallel", "2")

    assert code == 1, err
    ralph_anthropic.server.assert_complete()
    assert (ws / "word.txt").read_text() == "hello\n"
    got = notes(ws)
    assert got["Say hello"][:2] == (True, "done")
    checked, state, note = got["Say goodbye"]
    assert not checked and state == "failed"
    assert note is not None and "conflict in word.txt" in note
    assert "ralph/plan/say-goodbye" in note
    assert "conflict in word.txt" in summary["stopped"] and "say-goodbye" in summary["stopped"]
    assert git(ws, "branch", "--list", "ralph/plan/say-goodbye").strip()
    kept = ws / ".ralph" / "worktrees" / "plan-say-goodbye"
    assert (kept / "word.txt").read_text() == "goodbye\n"  # the lane's work, kept
    assert not (ws / ".ralph" / "worktrees" / "plan-say-hello").exists()
    listed = subprocess.run(
        [sys.executable, "-m", "ralph", "worktrees", "--json"],
        cwd=ws,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    states = {Path(w["path"]).name: w["state"] for w in json.loads(listed.stdout)["worktrees"]}
    assert states == {"plan-say-goodbye": "unmerged"}


FILES = """\
# Files

- [ ] Files
  - parallel: yes
  - [ ] Make a
    - verify: `test -f a.txt`
  - [ ] Make b where there is no a
    - verify: `test -f b.txt && test ! -f a.txt`
"""


def test_a_failed_verify_after_the_merge_leaves_the_base_as_it_was(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    ws = make_repo(tmp_path, FILES)
    makes = {
        "Make a": [Turn(tool_calls=[write("a.txt", "a\n"), finish("made a")])],
        "Make b where there is no a": [Turn(tool_calls=[write("b.txt", "b\n"), finish("made b")])],
    }
    ralph_anthropic.server.add(*lanes_script(makes, together=2))

    code, summary, err = ralph_anthropic.run(ws / "plan.md", "--all", "--parallel", "2")

    assert code == 1, err
    got = notes(ws)
    assert got["Make a"][:2] == (True, "done")
    checked, state, note = got["Make b where there is no a"]
    assert not checked and state == "failed"
    assert note is not None and "verify failed on the merged result" in note
    assert "ralph/plan/make-b-where-there-is-no" in note
    head = git(ws, "rev-parse", "HEAD").strip()
    subject = git(ws, "log", "-1", "--format=%s", head)
    assert subject.startswith("ralph: merge ralph/plan/make (Make a)")
    assert not (ws / "b.txt").exists()
    assert git(ws, "status", "--porcelain", "--untracked-files=all").splitlines() == [" M plan.md"]


def test_a_dirty_checkout_is_refused_before_any_lane(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    ws = make_repo(tmp_path, WORDS, {"word.txt": "word\n"})
    (ws / "word.txt").write_text("changed, not committed\n")
    code, _, err = ralph_anthropic.run(ws / "plan.md", "--all", "--parallel", "2")
    assert code == 2
    assert "uncommitted changes (word.txt)" in err and "commit or stash" in err
    assert len(err.strip().splitlines()) == 1
    assert ralph_anthropic.server.requests == []
    assert not (ws / ".ralph" / "worktrees").exists()
    assert (ws / "word.txt").read_text() == "changed, not committed\n"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--parallel", "2"], "needs --all or --steps"),
        (["--parallel", "2", "--step", "5"], "--step takes exactly one"),
        (["--all", "--merge", "ff"], "give --parallel N too"),
    ],
)
def test_parallel_usage_errors(
    ralph_anthropic: Ralph, tmp_path: Path, args: list[str], problem: str
) -> None:
    ws = make_repo(tmp_path, WORDS)
    code, _, err = ralph_anthropic.run(ws / "plan.md", *args)
    assert code == 2 and problem in err
    assert ralph_anthropic.server.requests == []


def test_kill_9_of_the_parent_then_the_next_run_resumes_every_lane(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    ws = make_repo(tmp_path, FILES.replace(" && test ! -f a.txt", ""))
    asked, killed = threading.Semaphore(0), threading.Event()

    def held(request: Request) -> Turn:
        asked.release()
        killed.wait(60)  # the parent is killed while both lanes wait for this turn
        return Turn(tool_calls=[finish("too late")])

    first = {
        "Make a": [Turn(tool_calls=[write("a.txt", "a\n")]), held],
        "Make b where there is no a": [Turn(tool_calls=[write("b.txt", "b\n")]), held],
    }
    ralph_anthropic.server.add(*_resolved(lanes_script(first)))
    code_root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": code_root}
    argv = [sys.executable, "-m", "ralph", "run", str(ws / "plan.md"), "--all"]
    parent = subprocess.Popen(
        [*argv, "--parallel", "2", "--model", ralph_anthropic.model],
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert asked.acquire(timeout=60) and asked.acquire(timeout=60)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        _until(lambda: _both_ended(ws), 30)  # the lanes died with it, their turn unanswered
    finally:
        killed.set()
        if parent.poll() is None:
            parent.kill()
    lanes = sorted(p.name for p in (ws / ".ralph" / "worktrees").iterdir())
    assert lanes == ["plan-make", "plan-make-b-where-there-is-no"]

    # the lanes' work so far is kept: the next run goes on in the same worktrees
    again = {
        "Make a": [Turn(tool_calls=[finish("made a")])],
        "Make b where there is no a": [Turn(tool_calls=[finish("made b")])],
    }
    ralph_anthropic.server.add(*lanes_script(again))
    code, summary, err = ralph_anthropic.run(ws / "plan.md", "--all", "--parallel", "2")

    assert code == 0, err
    assert sorted(s["summary"] for s in summary["steps"]) == ["made a", "made b"]
    assert all(checked for checked, _, _ in notes(ws).values())
    assert (ws / "a.txt").read_text() == "a\n" and (ws / "b.txt").read_text() == "b\n"
    assert not list((ws / ".ralph" / "worktrees").iterdir())
    assert git(ws, "branch", "--list", "ralph/*") == ""


def _both_ended(ws: Path) -> bool:
    records = lane_records(ws)
    ended = [any(e["event"] == "run_end" for e in events) for events in records.values()]
    return len(ended) == 2 and all(ended)


def _until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _resolved(items: list[Any]) -> list[Any]:
    """Script items whose answer may itself be a callable (a turn that waits)."""

    def call(item: Any) -> Any:
        def answer(request: Request) -> Any:
            got = item(request)
            return got(request) if callable(got) else got

        return answer

    return [call(item) for item in items]


@contextlib.contextmanager
def held_turn() -> Iterator[Callable[[Request], Turn]]:
    """A model turn that is answered only after the block (the run must stop first)."""
    release = threading.Event()

    def held(request: Request) -> Turn:
        release.wait(60)
        return Turn(tool_calls=[finish("too late")])

    try:
        yield held
    finally:
        release.set()


def test_one_budget_across_lanes_stops_them_all(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    ws = make_repo(tmp_path, WORDS)
    dear = Usage(1_000_000, 0)  # $3 a turn on Sonnet: each lane alone stays under $5
    with held_turn() as held:  # never answered in time: the parent stops the lanes first
        says = {
            f"Say {w}": [
                Turn(tool_calls=[write(f"{w}.txt", "x\n")]),
                Turn(tool_calls=[("read_file", {"path": f"{w}.txt"})], usage=dear),
                held,
            ]
            for w in ("hello", "goodbye")
        }
        ralph_anthropic.server.add(*_resolved(lanes_script(says, together=2)))
        code, summary, err = ralph_anthropic.run(
            ws / "plan.md", "--all", "--parallel", "2", "--max-cost", "5"
        )

    assert code == 1, err
    assert summary["stopped"] == "run budget spent ($6.00 of $5.00)"
    assert summary["end"] == "budget"
    assert {s["outcome"] for s in summary["steps"]} == {"interrupted"}
    for text in ("Say hello", "Say goodbye"):
        checked, state, note = notes(ws)[text]
        assert not checked and note is not None and note.startswith("interrupted")
        assert "its work is kept in .ralph/worktrees/" in note
    for w in ("hello", "goodbye"):
        assert (ws / ".ralph" / "worktrees" / f"plan-say-{w}" / f"{w}.txt").exists()


def test_lanes_left_behind_are_merged_when_done_and_kept_when_their_step_is_gone(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    from ralph.lanes.lane import Lane
    from ralph.worktrees import create_lane

    ws = make_repo(tmp_path, WORDS)
    head = git(ws, "rev-parse", "HEAD").strip()
    tf = taskfile.load(ws / "plan.md")
    hello = next(s for s in tf.steps if s.text == "Say hello")
    done = create_lane(ws, "plan-say-hello", "ralph/plan/say-hello", head)
    (done / "hello.txt").write_text("hello\n")  # the lane did its step, then the run died
    (done / "plan.md").write_text(WORDS.replace("- [ ] Say hello", "- [x] Say hello"))
    Lane("plan-say-hello", "ralph/plan/say-hello", done, "plan.md", hello).save(base=head)
    gone = create_lane(ws, "plan-say-nothing", "ralph/plan/say-nothing", head)
    (gone / "nothing.txt").write_text("work of a step no longer in the plan\n")
    stale = Lane("plan-say-nothing", "ralph/plan/say-nothing", gone, "plan.md", hello)
    stale.save(step="Say nothing", base=head)
    ralph_anthropic.server.add(*lanes_script({"Say goodbye": [Turn(tool_calls=[finish()])]}))

    code, summary, err = ralph_anthropic.run(ws / "plan.md", "--all", "--parallel", "2")

    assert code == 0, err
    ralph_anthropic.server.assert_complete()  # no model call for the lane done before
    assert (ws / "hello.txt").read_text() == "hello\n"
    assert notes(ws)["Say hello"][:2] == (True, "done")
    assert "done in its lane (resumed)" in (notes(ws)["Say hello"][2] or "")
    assert (gone / "nothing.txt").exists()  # kept, never removed unmerged
    assert git(ws, "branch", "--list", "ralph/plan/say-nothing").strip()
    assert "plan-say-nothing" in err and "no longer in the plan" in err


def test_the_circuit_breaker_stops_every_lane(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    says = "".join(f"  - [ ] Say {w}\n    - verify: `false`\n" for w in ("hello", "goodbye", "why"))
    ws = make_repo(tmp_path, "# Words\n\n- [ ] Words\n  - parallel: yes\n" + says)
    always = [Turn(tool_calls=[finish()])] * 9  # a failed step is tried again, up to 3 times
    says = {f"Say {w}": always for w in ("hello", "goodbye", "why")}
    ralph_anthropic.server.add(*lanes_script(says, together=3))

    code, summary, err = ralph_anthropic.run(
        ws / "plan.md", "--all", "--parallel", "3", "--max-failures", "2"
    )

    assert code == 1, err
    assert summary["stopped"] == "2 failed attempts in a row"
    # without the breaker, each step would fail three times and end blocked
    assert len(summary["steps"]) < 9
    assert not any(s.state == "blocked" for s in taskfile.load(ws / "plan.md").steps)
    assert {s["outcome"] for s in summary["steps"]} <= {"failed", "interrupted"}


def test_parallel_needs_a_repository_with_a_commit(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "plan.md").write_text(WORDS)
    code, _, err = ralph_anthropic.run(bare / "plan.md", "--all", "--parallel", "2")
    assert code == 2 and "--parallel needs a git repository" in err
    git(bare, "init", "-q", "-b", "main")
    code, _, err = ralph_anthropic.run(bare / "plan.md", "--all", "--parallel", "2")
    assert code == 2 and "no commit yet" in err
    assert ralph_anthropic.server.requests == []


def test_the_run_time_is_one_total_across_lanes(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    ws = make_repo(tmp_path, WORDS)
    with held_turn() as held:  # the lanes never get an answer before the run's time is up
        says = {f"Say {w}": [held] for w in ("hello", "goodbye")}
        ralph_anthropic.server.add(*_resolved(lanes_script(says)))
        code, summary, err = ralph_anthropic.run(
            ws / "plan.md", "--all", "--parallel", "2", "--max-time", "4s"
        )

    assert code == 1, err
    assert summary["stopped"] == "run time spent (4s)"
    assert summary["end"] == "budget"
    assert not any(s.checked for s in taskfile.load(ws / "plan.md").steps)


AWAIT = """\
# Words

- [ ] Words
  - parallel: yes
  - [ ] Say hello
  - [ ] Say goodbye
- [ ] Deploy
"""


def test_a_lane_waiting_for_approval_is_approved_from_the_main_checkout(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    from tests.harness import cmd

    ws = make_repo(tmp_path, AWAIT, {"old.txt": "old\n"})
    says = {
        "Say hello": [
            Turn(tool_calls=[cmd("rm -rf old.txt")]),
            Turn(tool_calls=[finish("could not delete", "blocked")]),
        ],
        "Say goodbye": [Turn(tool_calls=[write("goodbye.txt", "bye\n"), finish()])],
    }
    ralph_anthropic.server.add(*lanes_script(says))
    sent = tmp_path / "sent.json"

    code, summary, err = ralph_anthropic.run(
        ws / "plan.md", "--all", "--parallel", "2", "--notify-cmd", f"cat > '{sent}'"
    )

    assert code == 3, err
    hello = next(s for s in summary["steps"] if s["text"] == "Say hello")
    assert hello["outcome"] == "awaiting_approval"
    approval = hello["approval_ids"][0]
    checked, state, note = notes(ws)["Say hello"]
    assert (checked, state) == (False, "awaiting_approval")
    assert f"awaiting approval {approval}" in (note or "")
    assert notes(ws)["Say goodbye"][:2] == (True, "done")
    assert notes(ws)["Deploy"] == (False, "todo", None)  # held, as in a sequential run
    assert (ws / "old.txt").exists()
    assert f"ralph approvals approve {approval}" in sent.read_text()  # what the person is told

    ralph_anthropic.monkeypatch.chdir(ws)
    code, out, _ = ralph_anthropic("approvals")
    assert code == 0 and f"{approval}  pending" in out and "ignored" not in out
    assert f"{ws / 'old.txt'} (workspace)" in out  # the main checkout's path, not the lane's
    code, out, err = ralph_anthropic("approvals", "approve", approval)
    assert code == 0, err

    again = {
        "Say hello": [Turn(tool_calls=[cmd("rm -rf old.txt")]), Turn(tool_calls=[finish()])],
        "Deploy": [Turn(tool_calls=[finish()])],
    }
    ralph_anthropic.server.add(*lanes_script(again))
    code, summary, err = ralph_anthropic.run(ws / "plan.md", "--all", "--parallel", "2")

    assert code == 0, err
    ralph_anthropic.server.assert_complete()
    assert all(s.checked for s in taskfile.load(ws / "plan.md").steps)
    assert not (ws / "old.txt").exists()
    code, out, _ = ralph_anthropic("approvals", "--json")
    (used,) = json.loads(out)["approvals"]
    assert (used["id"], used["status"]) == (approval, "used")


def test_a_push_held_for_approval_leaves_the_step_awaiting_it(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    ws = make_repo(tmp_path, "# Words\n\n- [ ] Words\n  - parallel: yes\n  - [ ] Say hello\n")
    with (ws / "plan.md").open("a") as f:
        f.write("- [ ] Deploy\n")
    git(ws, "commit", "-qam", "deploy")
    says = {"Say hello": [Turn(tool_calls=[write("hello.txt", "hi\n"), finish()])]}
    ralph_anthropic.server.add(*lanes_script(says))

    code, summary, err = ralph_anthropic.run(
        ws / "plan.md", "--all", "--parallel", "2", "--merge", "pr"
    )

    assert code == 3, err
    (hello,) = summary["steps"]
    assert hello["outcome"] == "awaiting_approval"
    push = hello["approval_ids"][-1]
    checked, state, note = notes(ws)["Say hello"]
    assert (checked, state) == (False, "awaiting_approval")
    assert note is not None and note.startswith(f"awaiting approval {push}")
    assert "git push origin ralph/plan/say-hello" in note and "kept on branch" not in note
    assert note.count(push) == 1
    assert notes(ws)["Deploy"] == (False, "todo", None)
    ralph_anthropic.monkeypatch.chdir(ws)
    code, out, _ = ralph_anthropic("approvals", "approve", push)
    assert code == 0

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(ws, "remote", "add", "origin", str(remote))
    code, summary, err = ralph_anthropic.run(
        ws / "plan.md", "--all", "--parallel", "2", "--merge", "pr"
    )

    assert code == 3, err  # pushed with the approval; now `gh pr create` waits for one
    assert git(remote, "branch", "--list", "ralph/plan/say-hello").strip()
    checked, state, note = notes(ws)["Say hello"]
    assert (checked, state) == (False, "awaiting_approval")
    assert note is not None and "gh pr create" in note and push not in note
    assert len(ralph_anthropic.server.requests) == 1  # done in its lane: no model call again
