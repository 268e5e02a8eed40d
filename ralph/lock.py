"""One run per task file: a non-blocking lock beside ralph's state, never on the task file.

The lock is `.ralph/locks/<name>-<sha1 of the realpath, 12 hex>.lock` (an flock via
filelock, released by the kernel if the holder dies). Next to it, a `.pid` file names the
holder so a second run can say who is working: `LockHeld` (exit code 75).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ralph.errors import EXIT_USAGE, LockHeld, storage_error
from ralph.fsutil import atomic_write_text
from ralph.workspace import keep_out_of_git, locks_dir, plan_key, state_dir


def lock_path(taskfile: Path, workspace: Path) -> Path:
    """Where the lock for `taskfile` lives: the same file for every path that reaches it."""
    return locks_dir(workspace) / f"{plan_key(taskfile)}.lock"


@contextlib.contextmanager
def run_lock(taskfile: Path, workspace: Path) -> Iterator[Path]:
    """Hold the run lock for `taskfile` for the whole block; LockHeld at once if taken."""
    from filelock import FileLock, Timeout

    path = lock_path(taskfile, workspace)
    lock = FileLock(path, timeout=0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        keep_out_of_git(state_dir(workspace))
        lock.acquire()
    except Timeout:
        raise LockHeld(
            f"another ralph run ({_holder(path)}) is working on {taskfile}; try again later"
        ) from None
    except OSError as e:
        raise storage_error(e, path, "the run did not start", exit_code=EXIT_USAGE) from None
    pid_file = path.with_suffix(".pid")
    try:
        with contextlib.suppress(OSError):  # only names the holder: a full disk skips it
            atomic_write_text(pid_file, f"{os.getpid()}\n", durable=False)  # dies with the lock
        yield path
    finally:
        with contextlib.suppress(OSError):
            if _read_pid(pid_file) == os.getpid():
                pid_file.unlink()
        lock.release()


def _holder(path: Path, wait_s: float = 1.0) -> str:
    """The holder's pid; it writes it just after taking the lock, so allow it a moment."""
    deadline = time.monotonic() + wait_s
    while True:
        pid = _read_pid(path.with_suffix(".pid"))
        if pid is not None and _alive(pid):  # a dead pid is left over from a killed run
            return f"pid {pid}"
        if time.monotonic() > deadline:
            return "pid unknown"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None
