"""The lanes' fork server (ralph/lanes/forkserver.py): a forked lane is started as a fresh
process would be (cwd, environment, fds, session, exit code), dies with its server and with
the parent, and `ralph run --parallel` starts lanes without it when it cannot start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ralph.lanes import run as lanes_run
from ralph.lanes.forkserver import Forked, ForkServer, exists, with_ralph_on_path
from tests.fakeserver import Request, Turn
from tests.harness import Ralph, finish

PROBE = "tests.forkprobe:main"


@pytest.fixture
def server() -> Iterator[ForkServer]:
    started = ForkServer.start(["tests.forkprobe"], with_ralph_on_path(dict(os.environ)))
    try:
        yield started
    finally:
        started.close()


def spawn(server: ForkServer, tmp_path: Path, *args: str, **env: str) -> Forked:
    cwd = tmp_path / "lane"
    cwd.mkdir(exist_ok=True)
    return server.spawn(
        PROBE,
        ["probe", *args],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        stdout=tmp_path / "out.txt",
        stderr=tmp_path / "log.txt",
    )


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def printed(path: Path) -> bool:
    return path.exists() and path.read_text().strip() != ""


def test_a_forked_lane_gets_its_cwd_environment_fds_and_session(
    server: ForkServer, tmp_path: Path
) -> None:
    (tmp_path / "out.txt").write_text("old output, truncated\n")
    (tmp_path / "log.txt").write_text("earlier log\n")
    os.environ["RALPH_FORKPROBE_PARENT_ONLY"] = "1"  # the server's env, never the lane's
    try:
        forked = spawn(server, tmp_path, "report", RALPH_LANE="plan-x")
        assert forked.wait(30) == 0
    finally:
        del os.environ["RALPH_FORKPROBE_PARENT_ONLY"]
    report = json.loads((tmp_path / "out.txt").read_text())
    assert report["argv"] == ["probe", "report"]
    assert report["cwd"] == str(tmp_path / "lane")
    assert report["env"] == {"PATH": os.environ["PATH"], "RALPH_LANE": "plan-x"}
    assert report["stdin"] == ""
    fds = {int(k): v for k, v in report["fds"].items()}
    assert fds[0] == os.devnull
    assert fds[1] == str(tmp_path / "out.txt")
    assert fds[2] == str(tmp_path / "log.txt")
    leaked = [v for k, v in fds.items() if k > 2 and v.startswith(("pipe:", "socket:"))]
    assert leaked == []  # none of the server's pipes (its requests, its wakeups)
    assert report["pid"] == forked.pid == report["sid"] == report["pgid"]  # its own session
    assert report["ppid"] == server.proc.pid
    assert (tmp_path / "log.txt").read_text() == "earlier log\na line on stderr\n"


def test_the_server_imports_what_it_is_asked_to_and_says_what_failed(
    server: ForkServer, tmp_path: Path
) -> None:
    server.preload(["tests.gitrepo", "tests.no_such_module"])
    assert spawn(server, tmp_path, "report").wait(30) == 0
    report = json.loads((tmp_path / "out.txt").read_text())
    assert "tests.gitrepo" in report["modules"]  # imported before the lane was forked
    assert server.ready == {"ready": True, "failed": []}

    other = ForkServer.start(["tests.no_such_module"], with_ralph_on_path(dict(os.environ)))
    try:
        wait_for(lambda: other.pump(0.1) or other.ready is not None)
        assert other.ready == {"ready": True, "failed": ["tests.no_such_module"]}
    finally:
        other.close()


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (("exit", "3"), 3, ""),
        (("exit", "0"), 0, ""),
        (("message",), 1, "bad input: say what to fix\n"),
        (("crash",), 1, "RuntimeError: boom"),
    ],
)
def test_a_forked_lane_exits_as_a_program_does(
    server: ForkServer, tmp_path: Path, args: tuple[str, ...], code: int, stderr: str
) -> None:
    forked = spawn(server, tmp_path, *args)
    assert forked.wait(30) == code
    assert forked.poll() == code
    assert stderr in (tmp_path / "log.txt").read_text()


def test_atexit_handlers_run_and_output_is_flushed(server: ForkServer, tmp_path: Path) -> None:
    assert spawn(server, tmp_path, "atexit").wait(30) == 0
    assert (tmp_path / "out.txt").read_text() == "main ran\natexit ran\n"


def test_a_signal_is_its_exit_code_as_with_popen(server: ForkServer, tmp_path: Path) -> None:
    forked = spawn(server, tmp_path, "sleep")
    wait_for(lambda: printed(tmp_path / "out.txt"))
    assert forked.poll() is None
    forked.send_signal(signal.SIGTERM)
    assert forked.wait(30) == -signal.SIGTERM
    forked.send_signal(signal.SIGTERM)  # ended: nothing is signalled (its pid may be reused)


def test_a_lane_dies_with_its_server_and_is_then_seen_ended(
    server: ForkServer, tmp_path: Path
) -> None:
    forked = spawn(server, tmp_path, "sleep")
    wait_for(lambda: printed(tmp_path / "out.txt"))
    pid = int((tmp_path / "out.txt").read_text())
    os.kill(server.proc.pid, signal.SIGKILL)
    assert forked.wait(30) == 255  # no exit code comes from a dead server
    assert not exists(pid)
    with pytest.raises(OSError, match="fork server has ended"):
        spawn(server, tmp_path, "report")


def test_kill_9_of_the_parent_stops_the_server_and_its_lanes(tmp_path: Path) -> None:
    parent_code = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from ralph.lanes.forkserver import ForkServer
        from ralph.lanes.forkserver import with_ralph_on_path
        server = ForkServer.start([], with_ralph_on_path(dict(os.environ)))
        tmp = Path({str(tmp_path)!r})
        (tmp / "lane").mkdir()
        server.spawn({PROBE!r}, ["probe", "sleep"], cwd=tmp / "lane", env=dict(os.environ),
                     stdout=tmp / "out.txt", stderr=tmp / "log.txt")
        print(server.proc.pid, flush=True)
        time.sleep(120)
        """
    )
    env = with_ralph_on_path(dict(os.environ))
    parent = subprocess.Popen([sys.executable, "-c", parent_code], env=env, stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        out = tmp_path / "out.txt"
        wait_for(lambda: printed(out))
        lane_pid = int(out.read_text())
        assert exists(server_pid) and exists(lane_pid)
        parent.kill()
        parent.wait(30)
        wait_for(lambda: not exists(server_pid) and not exists(lane_pid))
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _events(ws: Path) -> list[dict[str, object]]:
    events = []
    for path in (ws / ".ralph" / "runs").glob("*.jsonl"):
        events += [json.loads(line) for line in path.read_text().splitlines()]
    return events


PLAN = """\
- [ ] Pages
  - parallel: yes
  - [ ] Home page
  - [ ] About page
"""


def _repo(tmp_path: Path) -> Path:
    """A project with a `ralph` package of its own (ralph working on ralph, say): a lane
    must run the ralph that started it, never the one in its worktree."""
    ws = tmp_path / "proj"
    (ws / "ralph").mkdir(parents=True)
    (ws / "ralph" / "__init__.py").write_text("raise SystemExit('the repo's own ralph ran')\n")
    (ws / "ralph" / "__main__.py").write_text("raise SystemExit('the repo's own ralph ran')\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
        if args[0] == "add":
            (ws / "plan.md").write_text(PLAN)
        subprocess.run(["git", *args], cwd=ws, check=True, capture_output=True)
    return ws


def _both_lanes_done(ralph: Ralph, tmp_path: Path) -> tuple[Path, str]:
    """Run PLAN's two lanes with --parallel 2; both are done. The workspace, and stderr."""
    ws = _repo(tmp_path)
    _two_lanes(ralph)
    code, summary, err = ralph.run(ws / "plan.md", "--all", "--parallel", "2")
    assert code == 0, err
    done = sorted(s["summary"] for s in summary["steps"] if s["outcome"] == "done")
    assert done == ["made the about page", "made the home page"]
    return ws, err


def _two_lanes(ralph: Ralph) -> None:
    def answer(request: Request) -> Turn:
        first = request.body["messages"][0]["content"]
        text = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
        step = text.split("## Your step\n", 1)[1].split("\n", 1)[0]
        return Turn(tool_calls=[finish(f"made the {step.lower()}")])

    ralph.server.add(answer, answer)


@pytest.mark.slow
def test_lanes_are_forked_by_the_server(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path
) -> None:
    ws, _ = _both_lanes_done(ralph_anthropic, tmp_path)
    assert not [e for e in _events(ws) if e["event"] == "lane_launcher"]


@pytest.mark.slow
def test_without_a_fork_server_lanes_start_as_fresh_processes_and_the_record_says_so(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot(*args: object) -> ForkServer:
        raise OSError("no fork server today")

    monkeypatch.setattr(lanes_run.ForkServer, "start", cannot)
    ws, err = _both_lanes_done(ralph_anthropic, tmp_path)
    said = [e for e in _events(ws) if e["event"] == "lane_launcher"]
    assert [(e["how"], e["why"]) for e in said] == [
        ("subprocess", "the fork server did not start: no fork server today")
    ]
    assert "lanes start as fresh processes" in err


def test_a_lane_asked_for_before_the_server_died_was_never_forked(tmp_path: Path) -> None:
    slow = ForkServer.start(["tests.forkprobe_slow"], with_ralph_on_path(dict(os.environ)))
    try:
        forked = spawn(slow, tmp_path, "report")  # waits behind the slow import
        os.kill(slow.proc.pid, signal.SIGKILL)
        assert forked.wait(30) == 1
        assert forked.pid is None and forked.error == "the lanes' fork server ended"
        assert not (tmp_path / "out.txt").exists()
    finally:
        slow.close()


def test_every_provider_has_a_preload() -> None:
    import importlib

    from ralph.lanes.forkserver import PRELOAD, preload_for
    from ralph.providers import KINDS

    for name in KINDS:
        extra = preload_for(f"{name}:some-model")[len(PRELOAD) :]
        module, _, cls = extra[0].partition(":")
        assert getattr(importlib.import_module(module), cls).sdk in ("anthropic", "openai")
    assert preload_for(None) == list(PRELOAD) == preload_for("nonsense")


@pytest.mark.slow
def test_a_lane_the_server_never_forked_starts_again_as_a_fresh_process(
    ralph_anthropic: Ralph, tmp_path: Path, git_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(self: ForkServer, entry: str, argv: list[str], **kwargs: object) -> Forked:
        forked = Forked(self, argv)
        forked.error, forked.returncode = "the lanes' fork server ended", 1
        return forked

    monkeypatch.setattr(lanes_run.ForkServer, "spawn", lost)
    ws, _ = _both_lanes_done(ralph_anthropic, tmp_path)
    said = [e for e in _events(ws) if e["event"] == "lane_launcher"]
    assert [e["why"] for e in said] == ["the lanes' fork server ended"]
