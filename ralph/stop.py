"""Stopping a run on time: stop signals (SIGTERM, SIGHUP, Ctrl-C) and deadlines.

Most moments of a run must not be abandoned half-way (writing a note, a record line, an
approval). Two may be, and they are where a run spends its time: waiting on the model and
waiting on a command. Those run inside `Stop.region()`. A stop signal that aborts
(SIGTERM, SIGHUP) or a deadline that passes raises `Stopped` there at once; the command
runner kills the command's process group on the way out. Anywhere else a signal is only
noted, and the run stops at its next check of `Stop.requested`.

Deadlines use SIGALRM, so they are enforced in the main thread only (where the CLI runs);
elsewhere a region still ends on a stop signal, and the SDK's own read timeout applies.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


def exit_code(signum: int) -> int:
    """The shell's exit status for a run stopped by `signum`: 130, 143, 129."""
    return 128 + signum


def signal_name(signum: int) -> str:
    return SIGNAL_NAMES.get(signum, f"signal {signum}")


class Stopped(BaseException):
    """Raised inside a region by a stop signal. A BaseException, so that the SDKs' and
    the tools' `except Exception` let it through."""

    def __init__(self, reason: str, signum: int | None = None) -> None:
        super().__init__(reason)
        self.signum = signum


class DeadlinePassed(Stopped):
    """Raised inside a region when its deadline passes; the message says which budget."""


_shields: list[int] = [0]  # blocks running under shielded(), process-wide like signals
_pending: list[BaseException] = []


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold back a stop that a signal handler raises until the block is done: a command
    that was just forked must be known to ralph before anything may interrupt it."""
    _shields[0] += 1
    try:
        yield
    except BaseException:
        _shields[0] -= 1
        if not _shields[0]:
            _pending.clear()  # the block's own error goes on; a stop is still on record
        raise
    _shields[0] -= 1
    if not _shields[0] and _pending:
        error = _pending.pop()
        _pending.clear()
        raise error


def interrupt(error: BaseException) -> None:
    """Raise `error` from a signal handler now, or when the shielded block ends."""
    if _shields[0]:
        _pending.append(error)
        return
    raise error


class Stop:
    """Whether this run was asked to stop, and the regions where it may be cut short."""

    def __init__(self) -> None:
        self.signum: int | None = None
        """The first stop signal received (SIGINT, SIGTERM, SIGHUP), or None."""
        self.aborting = False
        """True once a signal asked to abandon the running call (SIGTERM, SIGHUP)."""
        self._depth = 0
        self._alarm: str | None = None  # the reason of the armed deadline

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def reason(self) -> str:
        """Why the run stops, for notes and the record ("" while no stop was asked)."""
        if self.signum is None:
            return ""
        if self.signum == signal.SIGINT:
            return "interrupted by the user"
        return f"stopped by {signal_name(self.signum)}"

    def request(self, signum: int, *, abort: bool) -> None:
        """Note a stop (call it from a signal handler). With `abort`, a region running now
        is cut short: `Stopped` is raised in it."""
        if self.signum is None:
            self.signum = signum
        if abort and not self.aborting:  # once: a second signal must not cut the cleanup short
            self.aborting = True
            if self._depth:
                interrupt(Stopped(self.reason, signum))

    @contextlib.contextmanager
    def region(self, deadline: float | None = None, why: str = "out of time") -> Iterator[None]:
        """Run the block so that an aborting signal, or `deadline` (time.monotonic())
        passing, raises `Stopped` (`DeadlinePassed`) inside it."""
        if self.aborting:
            raise Stopped(self.reason, self.signum)
        if deadline is not None and deadline <= time.monotonic():
            raise DeadlinePassed(why)
        armed = self._arm(deadline, why)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if armed is not None:
                self._disarm(armed)

    def _arm(self, deadline: float | None, why: str) -> Any:
        """Start a SIGALRM timer for `deadline`; returns the previous handler (None if
        no timer: no deadline, a timer already armed, or not the main thread)."""
        if deadline is None or self._alarm is not None:
            return None
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_alarm(signum: int, frame: Any) -> None:
            if self._alarm is not None:
                interrupt(DeadlinePassed(self._alarm))

        previous = signal.signal(signal.SIGALRM, on_alarm)
        self._alarm = why
        signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.001))
        return previous

    def _disarm(self, previous: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)  # first: no alarm can fire after this
        self._alarm = None
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
