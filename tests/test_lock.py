"""Run lock: one run per task file, the loser learns the holder's pid, dead holders free it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ralph.errors import EXIT_LOCKED, LockHeld
from ralph.lock import lock_path, run_lock

HOLDER = """
import sys, time
from pathlib import Path
from ralph.errors import LockHeld
from ralph.lock import run_lock
start_at, release = float(sys.argv[3]), Path(sys.argv[4])
while time.time() < start_at:
    pass
try:
    with run_lock(Path(sys.argv[1]), Path(sys.argv[2])):
        print("got", flush=True)
        deadline = time.time() + 60
        while not release.exists() and time.time() < deadline:
            time.sleep(0.01)
except LockHeld as e:
    print("held", e, flush=True)
    sys.exit(e.exit_code)
"""


def spawn(taskfile: Path, workspace: Path, start_at: float, release: Path) -> subprocess.Popen:
    """A process that takes the lock at `start_at` and holds it until `release` exists."""
    args = [
        sys.executable,
        "-c",
        HOLDER,
        str(taskfile),
        str(workspace),
        str(start_at),
        str(release),
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.md"
    path.write_text("- [ ] a\n")
    return path


@pytest.mark.slow
def test_two_processes_racing_one_wins_other_names_its_pid(plan: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    start_at = time.time() + 0.5  # both spin until the same instant, then race
    procs = [spawn(plan, tmp_path, start_at, release) for _ in range(2)]
    while all(p.poll() is None for p in procs):  # the loser exits at once
        time.sleep(0.01)
    release.touch()
    outs = [p.communicate(timeout=60)[0] for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, EXIT_LOCKED], outs
    winner = procs[[p.returncode for p in procs].index(0)]
    loser_out = outs[[p.returncode for p in procs].index(EXIT_LOCKED)]
    assert f"another ralph run (pid {winner.pid}) is working on {plan}" in loser_out


def test_second_lock_in_process_is_refused_and_released_after(plan: Path, tmp_path: Path) -> None:
    with run_lock(plan, tmp_path) as held:
        assert held.parent == tmp_path / ".ralph" / "locks"
        with pytest.raises(LockHeld) as err, run_lock(plan, tmp_path):
            pass
        assert f"pid {os.getpid()}" in str(err.value)
        assert err.value.exit_code == EXIT_LOCKED
    with run_lock(plan, tmp_path):
        pass
    assert not held.with_suffix(".pid").exists()
    assert (held.parent.parent / ".gitignore").read_text() == "*\n"  # all of .ralph/
    assert plan.read_text() == "- [ ] a\n"  # the task file itself is never the lock


def test_every_path_to_the_file_shares_one_lock(plan: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.md"
    link.symlink_to(plan)
    other = tmp_path / "sub" / "plan.md"
    other.parent.mkdir()
    other.write_text("- [ ] b\n")
    assert lock_path(link, tmp_path) == lock_path(plan, tmp_path)
    assert lock_path(tmp_path / "." / "plan.md", tmp_path) == lock_path(plan, tmp_path)
    assert lock_path(other, tmp_path) != lock_path(plan, tmp_path)
    assert lock_path(plan, tmp_path).name.startswith("plan.md-")
    with run_lock(link, tmp_path), pytest.raises(LockHeld), run_lock(plan, tmp_path):
        pass


@pytest.mark.slow
def test_killed_holder_releases_the_lock(plan: Path, tmp_path: Path) -> None:
    proc = spawn(plan, tmp_path, time.time(), tmp_path / "never")
    assert proc.stdout is not None and proc.stdout.readline() == "got\n"
    with pytest.raises(LockHeld, match=f"pid {proc.pid}"), run_lock(plan, tmp_path):
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with run_lock(plan, tmp_path):  # the kernel dropped the flock with the process
        pass
