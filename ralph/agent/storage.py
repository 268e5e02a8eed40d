"""A run on a disk that fills up or turns read-only: the step's note and the record's last
line still land if at all possible, and the run stops with one line saying what failed.

The run holds `RESERVE_BYTES` back (`fsutil.Reserve`, beside its lock) from before its
first step. When a write fails for lack of space, the reserve is given back and the
writes that end the run (the step's note, `run_end`) are tried once more; the run then
stops, whatever that second try gave, for the disk is full. A step starts only with the
reserve held: on a disk with less than that free, the run stops before the step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ralph.errors import StorageError, is_full, storage_error
from ralph.fsutil import Reserve


@contextlib.contextmanager
def reserved(lock: Path) -> Iterator[Reserve]:
    """The run's reserve, held for the block: one per task file (beside its lock, so a
    run killed with -9 leaves at most one, which the next run of that file takes over)."""
    reserve = Reserve(lock.with_suffix(".reserve"))
    hold(reserve)
    try:
        yield reserve
    finally:
        reserve.release()


def hold(reserve: Reserve) -> None:
    """Take the reserve (again) before a step; StorageError if the disk has not that much."""
    try:
        reserve.hold()
    except OSError as e:
        raise storage_error(e, reserve.path, "no step was started") from None


def write_note(write: Callable[[], Any], reserve: Reserve) -> tuple[OSError | None, bool]:
    """Run `write` (the task file's write-back). (The error it hit, or None; whether the
    note is written.) On a full disk it is tried again with the reserve given back."""
    try:
        write()
        return None, True
    except OSError as e:
        first = e
    if is_full(first) and reserve.release():
        try:
            write()
            return first, True
        except OSError:
            pass
    return first, False


def note_failed(error: OSError, path: Path, outcome: str, written: bool) -> StorageError:
    """The error that stops a run whose step's note hit `error`."""
    if written:
        then = f"the step is noted {outcome}, with the space ralph held back; the run stopped"
    else:
        then = f"the step's note ({outcome}) was not written"
    return storage_error(error, path, then)


def cut_short(error: StorageError, noted: tuple[OSError | None, bool]) -> StorageError:
    """The error that stops a run whose step a failed write cut short, after noting it
    (`noted`: what `write_note` gave)."""
    then = "the step is noted interrupted" if noted[1] else "the step's note was not written"
    return StorageError(f"{error}; {then}", exit_code=error.exit_code)


def end_record(
    record: Callable[..., None],
    reserve: Reserve | None,
    fields: dict[str, Any],
    *,
    after_error: bool,
) -> None:
    """`record` `run_end` (on a full disk, with the reserve given back). A record that
    cannot be closed stops a run that ended well (exit 1); after another error, that error
    is the one the user hears of."""
    try:
        record("run_end", **fields)
    except StorageError:
        if reserve is not None and reserve.release():
            with contextlib.suppress(StorageError):
                record("run_end", **fields)
                return
        if not after_error:
            raise
