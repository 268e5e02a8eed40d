"""I/O errors end a run with one line, the right exit code, a whole record and an intact
task file: a real full disk (a small tmpfs in a user and mount namespace), a read-only
`.ralph/`, task file or task folder (a read-only bind mount when the tests run as root,
for whom chmod stops nothing; chmod otherwise)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ralph import taskfile
from tests.fakeserver import FakeModelServer, Turn
from tests.harness import cmd, finish
from tests.test_overnight import make_project

_POLICY = """
[[rule]]
id = "test.fill"
decision = "allow"
reason = "the test fills the disk"
program = ["head", "true"]
"""
_FILL = "head -c 4000000 /dev/zero > fill"
_FULL = re.compile(
    r"ralph: cannot write (?P<what>\S+): No space left on device — free some space and run "
    r"again; (?P<then>[^\n]+)$"
)


@functools.cache
def _namespaces() -> str | None:
    """Why `unshare -rm` (a user and mount namespace, to mount a tmpfs) cannot be used here."""
    if shutil.which("unshare") is None:
        return "no unshare(1) on this machine"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"`unshare -rm` cannot mount a tmpfs here: {probe.stderr.strip()}"
    return None


@pytest.fixture
def namespaces() -> None:
    why = _namespaces()
    if why is not None:
        pytest.skip(f"a real full or read-only file system needs `unshare -rm`: {why}")


def _ralph_argv(ws: Path, *args: str) -> list[str]:
    policy = ws.parent / "allow.toml"
    policy.write_text(_POLICY)
    return [
        sys.executable, "-m", "ralph", "run", "plan.md", "--model", "anthropic:claude-sonnet-4-6",
        "--unattended", "--sandbox", "off", "--policy", str(policy), *args,
    ]  # fmt: skip


def _env(server: FakeModelServer) -> dict[str, str]:
    return dict(
        os.environ, ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=server.url, RALPH_RETRY_BASE_S="0"
    )


def _on_small_disk(
    src: Path,
    out: Path,
    server: FakeModelServer,
    *,
    size: str,
    fill_first: bool = False,
    log_on_disk: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ralph in a copy of the project `src` on a tmpfs of `size` (filled up first if
    asked; with its stderr in `ralph.log` there, as cron's `2>>cron.log` would, if asked);
    the workspace as ralph left it is copied to `out`."""
    disk = src.parent / "disk"
    disk.mkdir()
    out.mkdir()
    script = textwrap.dedent(
        """\
        mount -t tmpfs -o size="$1" tmpfs "$2"
        cp -a "$3/." "$2/"
        cd "$2"
        if [ "$4" = 1 ]; then head -c 100000000 /dev/zero > full 2>/dev/null || true; fi
        shift 4
        rc=0
        if [ -n "$LOG_ON_DISK" ]; then "$@" 2>ralph.log || rc=$?; else "$@" || rc=$?; fi
        cp -a . "$OUT_DIR/"
        exit $rc
        """
    )
    argv = ["unshare", "-rm", "sh", "-c", script, "sh", size, str(disk), str(src), str(+fill_first)]
    env = _env(server) | {"OUT_DIR": str(out), "LOG_ON_DISK": "1" if log_on_disk else ""}
    return subprocess.run(
        [*argv, *_ralph_argv(src)], env=env, capture_output=True, text=True, timeout=120
    )


def _record_end(where: Path) -> dict[str, Any]:
    """The last line of the (only) run record in the workspace or state folder `where`:
    whole JSON, newline-terminated."""
    state = where / ".ralph" if (where / ".ralph").is_dir() else where
    (path,) = (state / "runs").glob("*.jsonl")
    data = path.read_bytes()
    assert data.endswith(b"\n"), data[-200:]
    last = json.loads(data.splitlines()[-1])
    assert isinstance(last, dict)
    return last


def _one_line(err: str) -> re.Match[str]:
    assert "Traceback" not in err, err
    got = _FULL.search(err.rstrip("\n").splitlines()[-1])
    assert got is not None, err
    return got


def _no_leftovers(ws: Path) -> None:
    assert not list(ws.glob(".plan.md.*.tmp"))  # a failed atomic write removes its temp file
    assert not list((ws / ".ralph" / "locks").glob("*.reserve"))  # given back at the end


@pytest.mark.slow
def test_a_disk_that_fills_during_the_step_ends_with_one_line(
    tmp_path: Path, namespaces: None
) -> None:
    src = make_project(tmp_path, "- [ ] fill the disk\n- [ ] next\n")
    with FakeModelServer([Turn(tool_calls=[cmd(_FILL)]), Turn(tool_calls=[finish()])]) as srv:
        done = _on_small_disk(src, tmp_path / "out", srv, size="2m")
    assert done.returncode == 1, done.stderr
    then = _one_line(done.stderr)["then"]
    step = taskfile.load(tmp_path / "out" / "plan.md").steps[0]
    if then == "the step is noted interrupted":  # a record line was the write that failed
        assert (step.note or "").startswith("interrupted"), step.note
    else:  # the note was, and went into the space held back
        assert then == "the step is noted done, with the space ralph held back; the run stopped"
        assert step.checked and (step.note or "").startswith("done"), step.note
    end = _record_end(tmp_path / "out")
    assert end["event"] == "run_end" and end["exit_code"] == 1
    assert end["stopped"].startswith("error: cannot write")
    _no_leftovers(tmp_path / "out")


@pytest.mark.slow
def test_a_full_disk_under_the_live_view_does_not_crash_the_run(
    tmp_path: Path, namespaces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr on the disk that fills (cron's `2>>cron.log`) while the record is elsewhere
    (`RALPH_STATE_DIR`): the live view goes quiet, the run goes on and ends in one error."""
    state = tmp_path / "state"
    monkeypatch.setenv("RALPH_STATE_DIR", str(state))
    src = make_project(tmp_path, "- [ ] fill the disk\n")
    talk = [Turn(text="words " * 100, tool_calls=[cmd("true")]) for _ in range(12)]
    script = [Turn(tool_calls=[cmd(_FILL)]), *talk, Turn(tool_calls=[finish()])]
    with FakeModelServer(script) as srv:
        done = _on_small_disk(src, tmp_path / "out", srv, size="2m", log_on_disk=True)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in (tmp_path / "out" / "ralph.log").read_text()
    end = _record_end(state)
    assert end["event"] == "run_end", end
    assert end["stopped"] == (
        "error: cannot write plan.md: No space left on device — free some space and run "
        "again; the step's note (done) was not written"
    ), end
    assert (tmp_path / "out" / "plan.md").read_text() == "- [ ] fill the disk\n"


@pytest.mark.slow
def test_a_note_that_cannot_be_written_leaves_the_task_file_as_it_was(
    tmp_path: Path, namespaces: None
) -> None:
    filler = "".join(f"Background line {i}: {'words ' * 14}\n" for i in range(1500))  # ~130 KB
    plan = f"# Plan\n\n- [ ] fill the disk\n\n{filler}"
    src = make_project(tmp_path, plan)
    with FakeModelServer([Turn(tool_calls=[cmd(_FILL)]), Turn(tool_calls=[finish()])]) as srv:
        done = _on_small_disk(src, tmp_path / "out", srv, size="2m")
    assert done.returncode == 1, done.stderr
    assert _one_line(done.stderr)["then"] in (
        "the step's note was not written",  # a record line failed first
        "the step's note (done) was not written",
    )
    assert (tmp_path / "out" / "plan.md").read_text() == plan  # not a byte changed or lost
    assert _record_end(tmp_path / "out")["event"] == "run_end"  # in the space held back
    _no_leftovers(tmp_path / "out")


@pytest.mark.slow
def test_a_full_disk_at_the_start_runs_no_step(tmp_path: Path, namespaces: None) -> None:
    src = make_project(tmp_path, "- [ ] step\n")
    with FakeModelServer([Turn(tool_calls=[finish()])]) as srv:
        done = _on_small_disk(src, tmp_path / "out", srv, size="1m", fill_first=True)
        assert not srv.requests  # no model call on a disk that cannot take a note
    assert done.returncode == 1, done.stderr
    got = _one_line(done.stderr)
    assert got["what"].endswith(".reserve") and got["then"] == "no step was started"
    assert (tmp_path / "out" / "plan.md").read_text() == "- [ ] step\n"
    assert not list((tmp_path / "out" / ".ralph" / "runs").glob("*.jsonl"))  # no torn record
    _no_leftovers(tmp_path / "out")


def _read_only_run(
    ws: Path, paths: list[Path], server: FakeModelServer, argv: list[str] | None = None
) -> tuple[int, str]:
    """Run ralph (`ralph run plan.md` unless `argv`) in `ws` with `paths` read-only: a
    read-only bind mount in a namespace as root (chmod stops nothing there), chmod a-w
    otherwise."""
    argv = argv or _ralph_argv(ws)
    if os.geteuid() == 0:
        if _namespaces() is not None:
            pytest.skip(f"as root, a read-only path needs `unshare -rm`: {_namespaces()}")
        mounts = "".join(
            f'mount --bind "{p}" "{p}" && mount -o remount,bind,ro "{p}" && ' for p in paths
        )
        argv = ["unshare", "-rm", "sh", "-c", mounts + 'exec "$@"', "sh", *argv]
    else:
        for p in paths:
            p.chmod(p.stat().st_mode & ~0o222)
    done = subprocess.run(argv, cwd=ws, env=_env(server), capture_output=True, text=True)
    return done.returncode, done.stderr


_READ_ONLY = re.compile(
    r"^ralph: cannot write (?P<what>\S+): (Read-only file system — the file system is mounted "
    r"read-only|Permission denied — make it writable for you)[^\n]*; the run did not start$"
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("layout", "read_only", "named"),
    [
        ("state", ".ralph", ".ralph"),
        ("state", ".ralph/runs", ".ralph/runs"),
        ("file", "plan.md", "plan.md"),
        ("folder", "tasks", "tasks"),
    ],
)
def test_a_path_ralph_cannot_write_is_exit_2_before_any_work(
    tmp_path: Path, layout: str, read_only: str, named: str
) -> None:
    ws = make_project(tmp_path, "- [ ] step\n")
    (ws / ".ralph" / "runs").mkdir(parents=True)
    if layout == "folder":
        (ws / "tasks").mkdir()
        (ws / "plan.md").rename(ws / "tasks" / "plan.md")
        (ws / "plan.md").symlink_to("tasks/plan.md")  # the folder of the file it names
    with FakeModelServer([Turn(tool_calls=[finish()])]) as srv:
        code, err = _read_only_run(ws, [ws / read_only], srv)
        assert not srv.requests
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    got = _READ_ONLY.match(re.sub(r"^\S+Z ", "", err.strip()))  # the time stamp off a tty
    assert got is not None and got["what"] == named, err
    assert taskfile.load(ws / "plan.md").steps[0].note is None
    assert not list((ws / ".ralph" / "runs").glob("*.jsonl"))


def _in_small_tmpfs(tmp_path: Path, code: str) -> dict[str, Any]:
    """Run Python `code` with `disk` (a Path) a fresh 256 KiB tmpfs; `fill()` fills it up.
    Returns the JSON object the code prints."""
    disk = tmp_path / "disk"
    disk.mkdir()
    prelude = textwrap.dedent(
        """\
        import json, os, sys
        from pathlib import Path
        disk = Path(sys.argv[1])
        def fill():
            fd = os.open(disk / "fill", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                while True:
                    os.write(fd, b"\\0" * 65536)
            except OSError:
                pass
            finally:
                os.close(fd)
        """
    )
    script = 'mount -t tmpfs -o size=256k tmpfs "$1" && shift && exec "$@"'
    code = prelude + textwrap.dedent(code)
    done = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            script,
            "sh",
            str(disk),
            sys.executable,
            "-c",
            code,
            str(disk),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_record_never_ends_in_a_torn_line_of_its_own(tmp_path: Path, namespaces: None) -> None:
    """Lines fill the last page of the record until one fits only in part: that part is
    cut off again, and once space is freed the next line lands whole, its MAC chained."""
    got = _in_small_tmpfs(
        tmp_path,
        """
        from ralph.errors import StorageError
        from ralph.record.log import RunLog, not_by_ralph, read_run
        log = RunLog.create(disk / "runs")
        log.emit("run_start", text="x" * 500)
        fill()
        landed, error = 0, ""
        try:
            for n in range(100):
                log.emit("tool", n=n, text="y" * 700)
                landed += 1
        except StorageError as e:
            error = str(e)
        full = log.path.read_text()
        os.unlink(disk / "fill")
        log.emit("run_end")
        events = read_run(log.path)
        print(json.dumps({"landed": landed, "error": error, "full": full,
                          "events": [e["event"] for e in events],
                          "bad": not_by_ralph(log.path, events)}))
        """,
    )
    assert 0 < got["landed"] < 100  # some fitted in the page's room, then one did not
    assert got["error"].startswith("cannot write ") and "No space left on device" in got["error"]
    assert got["full"].endswith("\n")
    assert [json.loads(line)["event"] for line in got["full"].splitlines()][-1] == "tool"
    assert got["events"] == ["run_start", *["tool"] * got["landed"], "run_end"]
    assert got["bad"] == []


def test_a_full_disk_stops_the_run_when_an_approval_cannot_be_queued(
    tmp_path: Path, namespaces: None
) -> None:
    """The approval is the only record of the refused call: without it the run must stop
    (and say so), not tell the model it waits for an approval no one can see."""
    got = _in_small_tmpfs(
        tmp_path,
        """
        from ralph.config import shipped_policy
        from ralph.guard.gate import Guard
        from ralph.messages import ToolCall
        ws = disk / "ws"
        (ws / "src").mkdir(parents=True)
        guard = Guard(shipped_policy("default"), ws, "unattended")
        guard.approvals.folder.mkdir(parents=True)
        fill()
        verdict = guard.review(ToolCall("c1", "run_command", {"command": "rm -rf src"}))
        print(json.dumps({"allowed": verdict.allowed, "stop": str(verdict.stop),
                          "kind": type(verdict.stop).__name__,
                          "files": sorted(os.listdir(guard.approvals.folder))}))
        """,
    )
    assert not got["allowed"] and got["kind"] == "StorageError"
    assert re.fullmatch(
        r"cannot write \S+/approvals/[0-9a-f]{8}\.json: No space left on device — free some "
        r"space and run again; approval [0-9a-f]{8} was not recorded",
        got["stop"],
    ), got["stop"]
    assert got["files"] == []  # no temp file left in the folder


@pytest.mark.slow
def test_any_other_write_that_fails_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    ws = tmp_path / "proj"
    ws.mkdir()
    with FakeModelServer() as srv:
        argv = [sys.executable, "-m", "ralph", "init"]
        code, err = _read_only_run(ws, [ws], srv, argv)
    assert code == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert re.search(
        r"ralph: cannot (write|use) tasks: (Read-only file system|Permission denied) — ", err
    ), err
    assert list(ws.iterdir()) == []
