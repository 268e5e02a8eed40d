"""Running a command for the agent: scrubbed environment, captured output, and a
process-group kill on timeout. Every command's process group is remembered until it is
empty, so that none outlives ralph (`stop_all`, also run at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ralph.redact import redactor, secret_name

_CLOUD_ENV = re.compile(r"^(?:AWS|AZURE|GCP|GOOGLE|CLOUDSDK)_", re.I)
"""Cloud settings are not passed to commands either: they point at the person's accounts."""


_QUIET_ENV = {"PAGER": "cat", "GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0"}


KILL_GRACE_S = 2.0


_DRAIN_S = 0.5  # how long output may keep coming after the command exits


def command_env() -> dict[str, str]:
    """The environment for commands: ours with pagers and prompts off, without secrets:
    no variable with a secret-looking name (`ralph.redact.secret_name`: API keys, tokens,
    DEPLOY_PASS, SSH_AUTH_SOCK, ...), no cloud settings, and no value the redactor would
    redact (a token under an innocent name, a URL with a password)."""
    sub = redactor()
    env = {
        k: v
        for k, v in os.environ.items()
        if not secret_name(k) and not _CLOUD_ENV.match(k) and sub(v) == v
    }
    return env | _QUIET_ENV


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the command's whole process group (see `kill_pgid`) and reap the leader."""
    kill_pgid(proc.pid, proc.poll)
    with contextlib.suppress(ChildProcessError):
        proc.wait()
    _GROUPS.discard(proc.pid)


def kill_pgid(pgid: int, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after a grace period."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < deadline:
        reap()  # reap the leader so it does not count as a member
        if not group_alive(pgid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


_GROUPS: set[int] = set()
"""Process groups of commands this process started that may still have members (a
server left running in the background, say). `stop_all()` ends them."""


_AT_EXIT: list[bool] = []


def started(proc: subprocess.Popen[bytes]) -> None:
    """Remember a command's process group, so that no member outlives ralph."""
    if not _AT_EXIT:
        atexit.register(stop_all)  # normal exit, sys.exit, a crash, a second Ctrl-C
        _AT_EXIT.append(True)
    _GROUPS.add(proc.pid)


def finished(proc: subprocess.Popen[bytes]) -> None:
    """Forget the group of a command that ended, unless members still run."""
    if not group_alive(proc.pid):
        _GROUPS.discard(proc.pid)


def stop_all() -> None:
    """Stop every process group ralph started that still has members (TERM, grace, KILL)."""
    for pgid in list(_GROUPS):
        if group_alive(pgid):
            kill_pgid(pgid)
        _GROUPS.discard(pgid)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies left to init do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


class _Capture:
    """Reads a pipe on a thread, keeping only the first and last `cap // 2` bytes."""

    def __init__(self, pipe: Any, cap: int, on_line: Any = None) -> None:
        self.on_line = on_line
        """Called (on the reader thread) with the latest complete output line, if given."""
        self.half = max(cap // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.done = threading.Event()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: Any) -> None:
        try:
            while chunk := pipe.read1(65_536):
                self.total += len(chunk)
                room = self.half - len(self.head)
                self.head += chunk[:room]
                self.tail += chunk[max(room, 0) :]
                del self.tail[: -self.half]
                if self.on_line is not None:
                    self._latest(chunk)
        finally:
            pipe.close()
            self.done.set()

    def _latest(self, chunk: bytes) -> None:
        lines = [line for line in chunk.decode("utf-8", "replace").splitlines() if line.strip()]
        if lines:
            try:
                self.on_line(lines[-1])
            except Exception:  # a display problem must not lose the command's output
                self.on_line = None

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        parts = [self.head.decode("utf-8", "replace")]
        if cut > 0:
            parts.append(f"\n[... {cut} bytes truncated ...]\n")
        parts.append(self.tail.decode("utf-8", "replace"))
        return "".join(parts).rstrip("\n")
