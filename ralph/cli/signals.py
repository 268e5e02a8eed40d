"""Ctrl-C, SIGTERM and SIGHUP during a run: what each does, for `ralph run` and `audit`."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

from ralph.stop import Stop, interrupt, signal_name

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_signals() -> Iterator[Stop]:
    """Handle Ctrl-C, SIGTERM and SIGHUP for the block; yields the run's `Stop`.

    The first Ctrl-C lets the running call finish and stops after it; a second one aborts.
    SIGTERM and SIGHUP (what systemd, cron and job runners send) stop the running call at
    once: its command's process group is killed, the attempt is noted `interrupted`, and
    the run ends normally (record, notification), exiting 143 or 129.
    """
    stop = Stop()

    def on_signal(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and stop.requested:
            interrupt(KeyboardInterrupt())
            return
        if signum == signal.SIGINT:
            _say("\nralph: finishing the current call; Ctrl-C again to abort\n")
        else:
            _say(f"\nralph: {signal_name(signum)}: stopping the running call\n")
        stop.request(signum, abort=signum != signal.SIGINT)

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _say(text: str) -> None:
    """Write to stderr from a signal handler: unbuffered, so it cannot collide with a
    write the handler interrupted."""
    with contextlib.suppress(OSError):
        os.write(2, text.encode())
