"""Many steps: the run request, taking a step, its note, and why the run stopped (the
report, and how a run ends, are `ralph.agent.report`)."""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ralph import __version__, redact, taskfile
from ralph.agent import storage
from ralph.agent.audit import add_findings
from ralph.agent.prompts import AUDIT_PROMPT, SYSTEM_PROMPT, build_prompt
from ralph.agent.report import (
    EXIT_INTERRUPTED,
    RunReport,
    StepReport,
    attempted,
    drive,
    nothing_left,
)
from ralph.agent.session import (
    Attempt,
    Budget,
    RunBudget,
    Session,
    run_step,
)
from ralph.checkpoint import commit_step
from ralph.config import Config
from ralph.errors import (
    EXIT_APPROVAL,
    EXIT_FAILED,
    EXIT_OK,
    StorageError,
    WaitTooLong,
)
from ralph.fsutil import Reserve, remove_stale_temps
from ralph.git import Git
from ralph.guard import Mode
from ralph.guard.approvals import ApprovalStore
from ralph.guard.gate import Guard
from ralph.lock import run_lock
from ralph.providers import Provider
from ralph.providers.pricing import pricer
from ralph.record.log import RunLog
from ralph.sandbox import Confinement
from ralph.sandbox.setup import for_run
from ralph.snapshot import PendingSnapshot
from ralph.stop import Stop, exit_code
from ralph.taskfile import Next, Step, TaskFile
from ralph.tools import TOOL_SPECS, Toolbox
from ralph.tools.process import stop_all
from ralph.workspace import cache_dir, runs_dir


@dataclass(frozen=True)
class RunRequest:
    """What `ralph run` was asked to do."""

    task_path: Path
    workspace: Path
    policy_path: Path
    mode: Mode
    config: Config
    max_steps: int | None = 1
    """How many steps to attempt; None for all of them."""
    audit_report: Path | None = None
    """In audit mode, the markdown report that collects each step's findings."""
    commit: bool = False
    """Commit the workspace's changes after each done step, with the step's text."""
    audit_source: str | None = None
    """In audit mode, the task file the audit's copy was taken from (named in the report)."""
    only_step: str | None = None
    """`--step`: take exactly this step (its line or text) instead of the next one."""
    skip_waiting: bool = False
    """Pass over a step awaiting approval instead of holding the steps after it."""
    confinement: Confinement | None = None
    """How commands are confined; None: made from the config when the run starts."""


LIVE_ONLY = frozenset({"output"})
"""Events shown in the live view but not written to the record (a command's output lines
as they come; the tool event records the output)."""

_EXIT_FOR = {
    "done": EXIT_OK,
    "failed": EXIT_FAILED,
    "blocked": EXIT_FAILED,
    "awaiting_approval": EXIT_APPROVAL,
    "interrupted": EXIT_INTERRUPTED,
    "deferred": EXIT_FAILED,
}


def run_task(
    req: RunRequest,
    make_provider: Callable[[Callable[[float, str], None]], Provider],
    *,
    emit: Callable[..., None] = lambda event, **fields: None,
    stop: Stop | None = None,
    prompt: Callable[[str], str | None] | None = None,
    on_end: Callable[[RunReport], None] | None = None,
) -> RunReport:
    """Take steps of the task file one at a time, each in a fresh session, under the lock.

    `make_provider(on_wait)` builds the model client; it calls `on_wait(seconds, reason)`
    before each back-off so long waits are shown and logged. However the run ends (done,
    an error, a stop signal, a crash), the record ends with `run_end`, no command's process
    group is left running, and `on_end(report)` is called (for notifications).
    """
    redact.refresh()  # the secret-looking env vars of this run, as it starts
    with (
        run_lock(req.task_path, req.workspace) as lock,
        storage.reserved(lock) as reserve,  # on a disk too full for it: no step starts
        RunLog.create(runs_dir(req.workspace)) as log,
    ):

        def record(event: str, **fields: Any) -> None:
            if event not in LIVE_ONLY:
                log.emit(event, **fields)
            emit(event, **fields)

        provider = make_provider(
            lambda seconds, reason: record("wait", seconds=seconds, reason=reason)
        )
        remove_stale_temps(req.task_path)  # left by a kill -9 during an earlier write-back

        if req.confinement is None:
            req = replace(req, confinement=for_run(*_confinement_args(req)))
        report = RunReport(log.run_id, str(req.task_path))
        record(
            "run_start",
            run_id=log.run_id,
            version=__version__,
            model=provider.model,
            policy=str(req.policy_path),
            policy_sha256=_sha256(req.policy_path),
            task_file=str(req.task_path),
            task_sha256=_sha256(req.task_path),
            mode=req.mode,
            workspace=str(req.workspace),
            sandbox=req.confinement.record() if req.confinement else None,
        )
        run = _Run(req, provider, report, record, stop or Stop(), prompt, reserve)

        def cleanup() -> None:
            taskfile.keep(req.task_path, cache_dir(req.workspace))  # for the next process
            stop_all()  # a server the agent left in the background ends with the run

        drive(
            report, record, run.steps, run.started, cleanup=cleanup, on_end=on_end, reserve=reserve
        )
        return report


@dataclass
class _Run:
    """A run in progress: takes one step at a time and says when and why to stop."""

    req: RunRequest
    provider: Provider
    report: RunReport
    record: Callable[..., None]
    stop: Stop
    prompt: Callable[[str], str | None] | None
    reserve: Reserve
    started: float = field(default_factory=time.monotonic)
    failures_in_a_row: int = 0

    def steps(self) -> tuple[str, int]:
        """Attempt steps until a stop condition; (why it stopped, exit code)."""
        req, report = self.req, self.report
        while req.max_steps is None or len(report.steps) < req.max_steps:
            if self.stop.requested:
                return self.stop.reason, exit_code(self.stop.signum or signal.SIGINT)
            # read again: a person may have edited it (unchanged bytes are not parsed again)
            tf = taskfile.load(req.task_path, cache=cache_dir(req.workspace))
            if req.only_step is not None:
                then = Next(tf.find_step(req.only_step))
            else:
                store = ApprovalStore(req.workspace)
                then = tf.what_next(store.status_of, skip_waiting=req.skip_waiting)
            if then.step is None:
                return nothing_left(tf, then, report.exit_code)
            why = self.why_stop(self.take(tf, then.step))
            if why is not None:
                return why
        return attempted(report.steps), report.exit_code

    def take(self, tf: TaskFile, step: Step) -> Attempt:
        """One step in a fresh session: attempt it, write the note back, commit if asked."""
        req, record, report = self.req, self.record, self.report
        storage.hold(self.reserve)  # given back on a full disk: taken again, or no step
        session = self.session(step)
        prompt, pending = _begin(req, tf, step)
        record("step_start", line=step.line, text=step.text, attempts=step.attempts)
        cut: StorageError | None = None
        try:
            attempt = _attempt(session, prompt, step)
        except StorageError as e:  # the record, an approval...: note the step, then stop
            attempt, cut = Attempt("interrupted", f"stopped: {e}"), e
        finally:
            snap, taken = _snapshot_taken(pending)  # waited for even when cut short
        if cut is not None:  # the record cannot take more: the note can, with the reserve
            raise storage.cut_short(cut, self.write_back(step, attempt, snap)) from None
        if taken is not None:
            record("snapshot", **taken)
        error, written = self.write_back(step, attempt, snap)
        if error is not None:
            raise storage.note_failed(error, req.task_path, attempt.outcome, written)
        if req.audit_report is not None:
            findings = attempt.full_summary or attempt.summary
            add_findings(
                req.audit_report, tf.title, req.audit_source or tf.name, step.text,
                attempt.outcome, attempt.turns, attempt.cost, findings,
            )  # fmt: skip
        if req.commit and attempt.outcome == "done":
            record("commit", sha=commit_step(req.workspace, step.text))
        record("step_end", **vars(report.steps[-1]))
        report.exit_code = _EXIT_FOR[attempt.outcome]
        failed = attempt.outcome in ("failed", "blocked")
        self.failures_in_a_row = self.failures_in_a_row + 1 if failed else 0
        return attempt

    def write_back(
        self, step: Step, attempt: Attempt, snap: str | None
    ) -> tuple[OSError | None, bool]:
        """Note the attempt in the task file (on a full disk, in the reserve): the error the
        write hit, or None; whether the note is written."""
        req = self.req
        report = _step_report(req, step, attempt, snap)
        self.report.steps.append(report)
        seconds = attempt.seconds
        return storage.write_note(
            lambda: write_note(
                req.task_path, step, report, req.config.max_attempts, seconds=seconds
            ),
            self.reserve,
        )

    def session(self, step: Step) -> Session:
        req, cfg, provider, record = self.req, self.req.config, self.provider, self.record
        guard = Guard(
            req.policy_path,
            req.workspace,
            req.mode,
            step=step.text,
            prompt=self.prompt,
            log=lambda event: record("decision", **event),
        )
        run = RunBudget(cfg.max_cost, self.report.cost_usd or 0.0, cfg.max_time, self.deadline())
        return Session(
            provider=provider,
            guard=guard,
            toolbox=_toolbox(req, record),
            tools=TOOL_SPECS,
            system=SYSTEM_PROMPT + (AUDIT_PROMPT if req.mode == "audit" else ""),
            budget=Budget(
                cfg.max_turns, cfg.max_step_tokens, cfg.max_step_cost, cfg.max_step_time, run
            ),
            price=pricer(f"{provider.name}:{provider.model}", cfg.pricing),
            emit=record,
            stop=self.stop,
            plan=req.task_path,
        )

    def why_stop(self, attempt: Attempt) -> tuple[str, int] | None:
        """(why, exit code) when the run must stop after this attempt, else None."""
        cfg, report = self.req.config, self.report
        if self.stop.requested:
            return self.stop.reason, exit_code(self.stop.signum or signal.SIGINT)
        if attempt.outcome == "awaiting_approval":
            return "waiting for a person's approval", EXIT_APPROVAL
        if attempt.outcome == "deferred":
            report.end = "provider_error"  # it asked us to wait longer than --max-wait
            return attempt.summary, EXIT_FAILED
        run = RunBudget(cfg.max_cost, 0.0, cfg.max_time, self.deadline())
        why = run.money_spent(report.cost_usd or 0.0) or run.time_spent()
        if why is not None:
            left = any(not s.checked for s in taskfile.load(self.req.task_path).steps)
            report.end = "budget" if left else ""
            return why, EXIT_FAILED if left else report.exit_code
        if attempt.outcome == "interrupted":
            return "interrupted", EXIT_INTERRUPTED
        if self.failures_in_a_row >= cfg.max_failures:
            return f"{self.failures_in_a_row} failed attempts in a row", EXIT_FAILED
        return None

    def deadline(self) -> float | None:
        max_time = self.req.config.max_time
        return None if max_time is None else self.started + max_time


def _toolbox(req: RunRequest, record: Callable[..., None]) -> Toolbox:
    toolbox = Toolbox(
        req.workspace,
        default_timeout_s=req.config.command_timeout,
        confinement=_fresh(req.confinement),
    )
    toolbox.on_output = lambda line: record("output", line=line)
    return toolbox


def _begin(req: RunRequest, tf: TaskFile, step: Step) -> tuple[str, PendingSnapshot | None]:
    """The step's prompt, built while the workspace is recorded (not in audit mode, which
    changes nothing); returns once it is. StorageError if a full disk stops the snapshot:
    then no step is started."""
    if req.mode == "audit":
        return build_prompt(tf, step, req.workspace, req.task_path), None
    git = Git(req.workspace)  # one list of git's configured drivers for both
    pending = PendingSnapshot(req.workspace, f"before step: {step.text}", git).start()
    try:
        return build_prompt(tf, step, req.workspace, req.task_path, git), pending
    finally:
        pending.captured()


def _snapshot_taken(pending: PendingSnapshot | None) -> tuple[str | None, dict[str, Any] | None]:
    """Wait for the step's snapshot: its short id (None without one) and its record event's
    fields (None in audit mode)."""
    if pending is None:
        return None, None
    snap, why = pending.result()
    if snap is None:
        return None, {"id": None, "error": why, "seconds": pending.seconds}
    return snap.short, {"id": snap.short, "commit": snap.id, "seconds": pending.seconds}


def _confinement_args(req: RunRequest) -> tuple[Config, str, Path, Path, Path]:
    return req.config, req.mode, req.workspace, req.policy_path, req.task_path


def _fresh(confinement: Confinement | None) -> Confinement | None:
    """The run's confinement, its layout to be walked again by the step's first command."""
    if confinement is not None and confinement.sandbox is not None:
        confinement.sandbox.forget()
    return confinement


def _attempt(session: Session, prompt: str, step: Step) -> Attempt:
    try:
        return run_step(session, prompt, step_verify(step))
    except WaitTooLong as e:
        return Attempt("deferred", f"deferred: {e}; the step stays open for the next run")


def step_verify(step: Step) -> str | None:
    """The step's verify commands as one command line (all must pass), or None."""
    return " && ".join(f"({c})" if len(step.verify) > 1 else c for c in step.verify) or None


def _step_report(req: RunRequest, step: Step, attempt: Attempt, snapshot: str | None) -> StepReport:
    """The attempt as the run summary shows it."""
    share = attempt.usage.cache_read_share
    return StepReport(
        step.line,
        step.text,
        attempt.outcome,
        attempt.summary,
        attempt.turns,
        attempt.usage.total,
        attempt.cost,
        round(attempt.seconds, 1),
        attempt.approval_ids,
        asdict(attempt.usage),
        None if share is None else round(share, 3),
        snapshot,
        req.confinement.label if req.confinement else "",
    )


def write_note(
    task_path: Path,
    step: Step,
    report: StepReport,
    max_attempts: int,
    *,
    seconds: float | None = None,
    outcome: taskfile.Outcome | None = None,
    extra: str | None = None,
) -> None:
    """Write an attempt's outcome and receipt into the task file (nothing for a deferred
    one). `ralph run --parallel` writes its lanes' outcomes with it too, `outcome` and
    `extra` (put before the summary) saying how the merge back went."""
    if report.outcome == "deferred":
        return  # not an attempt: nothing to write
    summary = report.summary
    if report.outcome == "blocked":  # the model's word; counted like any failed attempt
        summary = f"blocked: {summary}"
    if report.cost_usd is None:
        summary = f"cost unknown · {summary}"
    if extra:  # first: what happened to the lane's work must survive a long summary's cut
        summary = f"{extra} · {summary}"
    if report.sandbox:
        summary = f"{report.sandbox} · {summary}"
    details = taskfile.note_details(
        summary,
        turns=report.turns,
        tokens=report.tokens,
        cache_share=report.cache_read_share,
        cost_usd=report.cost_usd,
        seconds=report.seconds if seconds is None else seconds,
        snapshot=report.snapshot,
    )
    if outcome is None:
        outcome = "failed" if report.outcome == "blocked" else report.outcome
    approval = report.approval_ids[-1] if report.approval_ids else None
    taskfile.record_outcome(
        task_path, step, outcome, details, max_attempts=max_attempts, approval_id=approval
    )


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
