"""The one root error type for harness failures, and its few subclasses.

Tool failures are not errors here: they go back to the model as text. These are
failures of ralph itself (bad input, configuration, providers, locks), turned into a
message and an exit code at the CLI boundary only.
"""

from __future__ import annotations

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
