"""The run's report, and how a run ends: however it ends (done, an error, a stop signal, a
crash), the report says why, with the exit code cron sees, and the record is closed."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ralph import humanize
from ralph.agent import storage
from ralph.agent.session import Outcome
from ralph.errors import (
    EXIT_APPROVAL,
    EXIT_FAILED,
    EXIT_OK,
    ProviderError,
    RalphError,
    WaitTooLong,
)
from ralph.fsutil import Reserve
from ralph.humanize import tally
from ralph.messages import Usage
from ralph.stop import Stopped, exit_code
from ralph.taskfile import Next, TaskFile

EXIT_INTERRUPTED = 130


@dataclass
class StepReport:
    """One attempted step, as the run summary and notifications show it."""

    line: int
    text: str
    outcome: Outcome
    summary: str
    turns: int
    tokens: int
    cost_usd: float | None
    seconds: float
    approval_ids: list[str]
    usage: dict[str, int] = field(default_factory=dict)
    """Token counts by kind (`Usage` fields)."""
    cache_read_share: float | None = None
    """Share of the step's input tokens read from the provider's prompt cache."""
    snapshot: str | None = None
    """The snapshot of the workspace taken before the step (`ralph undo ID`)."""
    sandbox: str = ""
    """How the step's commands ran: "sandboxed", or "not sandboxed (...)"."""


@dataclass
class RunReport:
    """The whole run: what was attempted, why it stopped, and the exit code that says so."""

    run_id: str
    task_file: str
    steps: list[StepReport] = field(default_factory=list)
    stopped: str = ""
    exit_code: int = EXIT_OK
    end: str = ""
    """How the run ended, one word (`END_KINDS`): done, failed, awaiting_approval, budget,
    provider_error, interrupted, error or crashed. `stopped` says it in words."""
    seconds: float = 0.0
    """Wall time of the whole run."""

    @property
    def cost_usd(self) -> float | None:
        costs = [s.cost_usd for s in self.steps]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    @property
    def usage(self) -> Usage:
        return sum((Usage(**s.usage) for s in self.steps), Usage())

    @property
    def cache_read_share(self) -> float | None:
        share = self.usage.cache_read_share
        return None if share is None else round(share, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "file": self.task_file,
            "steps": [vars(s) for s in self.steps],
            "stopped": self.stopped,
            "exit_code": self.exit_code,
            "cost_usd": self.cost_usd,
            "cache_read_share": self.cache_read_share,
            "end": self.end,
            "seconds": self.seconds,
        }


END_KINDS = (
    "done",
    "failed",
    "awaiting_approval",
    "budget",
    "provider_error",
    "interrupted",
    "error",
    "crashed",
)
"""`RunReport.end`: how a run can end, one word each."""


def drive(
    report: RunReport,
    record: Callable[..., None],
    steps: Callable[[], tuple[str, int]],
    started: float,
    *,
    cleanup: Callable[[], None],
    on_end: Callable[[RunReport], None] | None,
    reserve: Reserve | None = None,
) -> None:
    """Run `steps()` (why it stopped, exit code) and end the run the same way however it
    ends (done, an error, a stop signal, a crash): the report's outcome and time, then
    `cleanup()`, the record's `run_end` and `on_end(report)`. Also `ralph run --parallel`.
    On a full disk `run_end` goes into the space `reserve` held back (`agent.storage`)."""
    raised = False
    try:
        report.stopped, report.exit_code = steps()
        report.end = report.end or _end_for(report.exit_code)
    except BaseException as e:
        report.stopped, report.exit_code = _failure(e)
        report.end = _end_of(e)
        raised = True  # the CLI says what went wrong, once
        raise
    finally:
        report.seconds = round(time.monotonic() - started, 1)
        cleanup()
        end = {
            "stopped": report.stopped,
            "exit_code": report.exit_code,
            "steps": len(report.steps),
            "cost_usd": report.cost_usd,
            "cache_read_share": report.cache_read_share,
            "raised": raised,
        }
        try:
            storage.end_record(record, reserve, end, after_error=raised)
        except RalphError as e:  # the record cannot be closed: the run ends in that error
            report.stopped, report.exit_code = _failure(e)
            report.end = _end_of(e)
            raise
        finally:
            if on_end is not None:
                on_end(report)


def _failure(e: BaseException) -> tuple[str, int]:
    """Why the run stopped and its exit code, for a run that ended by an exception."""
    if isinstance(e, RalphError):
        return f"error: {e}", e.exit_code
    if isinstance(e, Stopped):
        return str(e), exit_code(e.signum or signal.SIGTERM)
    if isinstance(e, KeyboardInterrupt):
        return "aborted", EXIT_INTERRUPTED
    return f"crashed: {type(e).__name__}: {e}", EXIT_FAILED


def _end_of(e: BaseException) -> str:
    """`RunReport.end` for a run that ended by an exception."""
    if isinstance(e, (ProviderError, WaitTooLong)):
        return "provider_error"
    if isinstance(e, RalphError):
        return "error"
    if isinstance(e, (Stopped, KeyboardInterrupt)):
        return "interrupted"
    return "crashed"


def _end_for(code: int) -> str:
    """`RunReport.end` for a run that stopped by itself, from its exit code."""
    if code == EXIT_OK:
        return "done"
    if code == EXIT_APPROVAL:
        return "awaiting_approval"
    return "interrupted" if code > 128 else "failed"  # 128 + the signal


def attempted(steps: list[StepReport]) -> str:
    """What a run that took the steps it was asked for says: attempted N, and how they went
    (`--steps N` counts attempts, whatever their outcome)."""
    counts = tally([s.outcome for s in steps])
    return f"attempted {humanize.steps(len(steps))} as asked ({counts or 'none'})"


def nothing_left(tf: TaskFile, then: Next, exit_code: int) -> tuple[str, int]:
    """Why no step can run, and the exit code that tells cron: 3 if a step waits for an
    approval, 1 if steps are blocked, else the code so far (0 when the plan is done)."""
    if then.waiting is not None:
        return then.waiting_reason, EXIT_APPROVAL
    if all(s.checked for s in tf.steps):
        return "every step is done", exit_code
    stuck = tf.stuck() or [s for s in tf.steps if not s.checked]
    if any(s.state == "awaiting_approval" for s in stuck):
        return f"no runnable step: {len(stuck)} open step(s) wait for approval", EXIT_APPROVAL
    return f"no runnable step: {len(stuck)} open step(s) are blocked", EXIT_FAILED
