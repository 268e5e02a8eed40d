"""The one root error type for harness failures, and its few subclasses.

Tool failures are not errors here: they go back to the model as text. These are
failures of ralph itself (bad input, configuration, providers, locks), turned into a
message and an exit code at the CLI boundary only.
"""

from __future__ import annotations

import errno
import os

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_APPROVAL = 3
EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the lock; try again later


class RalphError(Exception):
    """A harness failure with a one-line message that says what to fix."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(RalphError):
    """Bad input or configuration: a missing file, a bad flag, a missing API key."""

    exit_code = EXIT_USAGE


class TaskFileError(UsageError):
    """A task file that cannot be read or parsed, or has no steps."""


class PolicyError(UsageError):
    """A policy file that does not parse or validate: names file, line and problem."""


class ConflictError(RalphError):
    """The task file changed under us in a way that cannot be merged; nothing was written."""


class LockHeld(RalphError):
    """Another ralph run holds the lock for this task file."""

    exit_code = EXIT_LOCKED


class ProviderError(RalphError):
    """The model provider refused the request in a way retrying cannot fix (400/401/403/404)."""


class WaitTooLong(RalphError):
    """The provider asked us to wait longer than --max-wait; the attempt ends, not counted."""


class StorageError(RalphError):
    """A file ralph must write (the run record, the task file, an approval, its state
    folder) could not be written: disk full, read-only, no permission, an I/O error.

    Exit 1 when it happens during a run; 2 (`exit_code=EXIT_USAGE`) when it is found
    before the run starts, as a path the user must fix first."""


_ADVICE = {
    errno.ENOSPC: "free some space and run again",
    errno.EDQUOT: "free some space (you are over your disk quota) and run again",
    errno.EROFS: "the file system is mounted read-only; remount it read-write, or work on a "
    "writable copy, and run again",
    errno.EACCES: "make it writable for you (check its and its folder's owner and mode) "
    "and run again",
    errno.EPERM: "make it writable for you (check its owner, mode and attributes such as "
    "chattr +i) and run again",
    errno.EIO: "the disk reported an I/O error; check it (dmesg, SMART) before running again",
}


_WRITE_ONLY = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def storage_error(
    error: OSError,
    path: str | os.PathLike[str] | None = None,
    then: str = "",
    *,
    verb: str | None = "write",
    exit_code: int | None = None,
) -> StorageError:
    """One line for a failed read or write: what failed, why, what to do, and `then`
    (what that means for the run, e.g. "the step's note was not written"). `verb` None:
    "write" for the errors only a write gets (disk full, read-only), else "use"."""
    if verb is None:
        verb = "write" if error.errno in _WRITE_ONLY else "use"
    where = os.fspath(path) if path is not None else error.filename
    shown = _shown(where) if where is not None else "a file"
    reason = error.strerror or str(error) or type(error).__name__
    advice = _ADVICE.get(error.errno or 0, "check the path and run again")
    message = f"cannot {verb} {shown}: {reason} — {advice}"
    if then:
        message += f"; {then}"
    return StorageError(message, exit_code=exit_code)


def _shown(path: str | bytes) -> str:
    """A path as the user knows it: relative to the current folder when inside it."""
    text = os.fsdecode(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return text if rel.startswith("..") else rel


def is_full(error: BaseException) -> bool:
    """Whether `error` is a full disk or quota (space may be freed, then the write tried again)."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
