"""One step in a fresh model session: prompt, tool calls through the guard, and the outcome.

`run_step` is the whole loop of one step. Everything that differs (the model, the policy and
its modes, the tools, the record) lives in the collaborators of `Session`. The harness, not
the model, decides when a step is done: `finish_step(done)` only counts once the step's
`verify:` command exits 0.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ralph import __version__, taskfile
from ralph.approvals import ApprovalStore
from ralph.checkpoint import commit_step
from ralph.config import Config
from ralph.context import build_prompt
from ralph.errors import EXIT_APPROVAL, EXIT_FAILED, EXIT_OK, RalphError, WaitTooLong
from ralph.guard import Guard, Mode
from ralph.lock import run_lock
from ralph.log import RunLog
from ralph.messages import Message, Reply, ToolCall, ToolResult, ToolSpec, Usage
from ralph.pricing import cost_usd
from ralph.providers import Provider
from ralph.taskfile import Step, TaskFile
from ralph.tools import TOOL_SPECS, Toolbox, ToolError, check_arguments
from ralph.workspace import runs_dir

EXIT_INTERRUPTED = 130

Outcome = Literal["done", "failed", "blocked", "awaiting_approval", "interrupted", "deferred"]

SYSTEM_PROMPT = """\
You are a careful software engineer working on exactly one step of a plan, in a fresh session.
The user message holds the step, where it sits in the plan, and facts about the workspace.

How to work:
- Use the tools to look, change files and run commands in the workspace. Change only what
  the step asks for.
- Every tool call is checked against a policy. A refused call did not run; do not retry it in
  another form. If it needs a person's approval, carry on with what you can, or finish the step
  as blocked.
- No person is reading this conversation: do not ask questions; decide, or finish as blocked.
- Do not edit the plan's checkboxes or notes: the harness records progress.
- When the step is complete, call finish_step(outcome="done", summary=...) with one line saying what
  you did. If the step has a verify command, the harness runs it and only a zero exit status counts.
- If the step cannot be done, call finish_step(outcome="blocked", summary=...) saying why.
"""

AUDIT_PROMPT = """
This is a read-only audit: nothing that writes will run, so do not try to change files. Look,
search and run read-only commands, then call finish_step with your findings as the summary:
what you checked, what you found (with file paths and line numbers), and how serious each is.
"""

REMINDER = (
    "Your reply had no tool call. Work with the tools, and call finish_step when the step is "
    "done or cannot be done."
)
MAX_NUDGES = 3
VERIFY_TAIL_CHARS = 300


@dataclass(frozen=True)
class Budget:
    """Limits of one attempt; running out is a failed attempt with the reason."""

    max_turns: int = 50
    max_tokens: int | None = None
    max_cost: float | None = None
    max_time: float | None = None


@dataclass
class Attempt:
    """What one attempt at a step came to, with its receipt."""

    outcome: Outcome
    summary: str
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0
    seconds: float = 0.0
    approval_ids: list[str] = field(default_factory=list)
    full_summary: str = ""
    """The model's summary as written (several lines), for the audit report."""


@dataclass
class Session:
    """The collaborators of one step's session."""

    provider: Provider
    guard: Guard
    toolbox: Toolbox
    tools: list[ToolSpec]
    system: str = SYSTEM_PROMPT
    budget: Budget = field(default_factory=Budget)
    price: Callable[[Usage], float | None] = lambda usage: None
    emit: Callable[..., None] = lambda event, **fields: None
    interrupted: Callable[[], bool] = lambda: False
    plan: Path | None = None
    """The task file: the model reports progress with finish_step, it does not edit boxes."""


class OutOfBudget(Exception):
    """A per-step limit ran out; the message says which."""


class Tally:
    """Turns, tokens, cost and time of one attempt, checked against the budget."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.turns = 0
        self.usage = Usage()
        self.started = time.monotonic()
        self.approval_ids: list[str] = []

    @property
    def cost(self) -> float | None:
        return self.session.price(self.usage)

    def add(self, reply: Reply) -> None:
        self.turns += 1
        self.usage = self.usage + reply.usage

    def check(self) -> None:
        b = self.session.budget
        cost = self.cost
        if self.turns >= b.max_turns:
            raise OutOfBudget(f"out of turns ({b.max_turns})")
        if b.max_tokens is not None and self.usage.total >= b.max_tokens:
            raise OutOfBudget(f"out of tokens ({self.usage.total:,} of {b.max_tokens:,})")
        if b.max_cost is not None and cost is not None and cost >= b.max_cost:
            raise OutOfBudget(f"out of money (${cost:.2f} of ${b.max_cost:.2f})")
        if b.max_time is not None and time.monotonic() - self.started >= b.max_time:
            raise OutOfBudget(f"out of time ({b.max_time:.0f}s)")

    def attempt(self, outcome: Outcome, summary: str, full_summary: str = "") -> Attempt:
        if outcome in ("failed", "blocked", "interrupted") and self.approval_ids:
            outcome = "awaiting_approval"
        return Attempt(
            outcome,
            summary,
            self.turns,
            self.usage,
            self.cost,
            time.monotonic() - self.started,
            list(self.approval_ids),
            full_summary,
        )


def run_step(session: Session, prompt: str, verify: str | None = None) -> Attempt:
    """Work on one step in a brand-new conversation until it is finished or a limit is hit."""
    messages = [Message("user", prompt)]
    tally = Tally(session)
    nudges = 0
    try:
        while True:
            if session.interrupted():
                return tally.attempt("interrupted", "interrupted by the user")
            reply = ask(session, tally, messages)
            if not reply.tool_calls:
                nudges += 1
                if nudges >= MAX_NUDGES:
                    return tally.attempt("failed", "replied without a tool call three times")
                messages.append(Message("user", REMINDER))
                continue
            nudges = 0
            results, finish = _call_tools(session, tally, reply.tool_calls)
            if finish is not None:
                return _finish(session, tally, finish, verify)
            messages.append(Message("user", tool_results=tuple(results)))
    except OutOfBudget as e:
        return tally.attempt("failed", str(e))


def ask(session: Session, tally: Tally, messages: list[Message]) -> Reply:
    """One model turn within the budget; the reply is appended to `messages` and recorded."""
    tally.check()
    reply = session.provider.complete(session.system, messages, session.tools)
    tally.add(reply)
    session.emit(
        "model",
        turn=tally.turns,
        usage=asdict(reply.usage),
        cost=tally.cost,
        retries=reply.retries,
        latency_s=round(reply.latency_s, 3),
    )
    messages.append(reply.message)
    return reply


def _call_tools(
    session: Session, tally: Tally, calls: tuple[ToolCall, ...]
) -> tuple[list[ToolResult], dict[str, Any] | None]:
    """Run each call through the guard, then the tools. A valid finish_step ends the turn."""
    results: list[ToolResult] = []
    finish = None
    for call in calls:
        if call.name == "finish_step" and _finish_problem(call.arguments) is None:
            finish = call.arguments
        elif session.interrupted():
            results.append(ToolResult(call.id, "not run: the user interrupted", is_error=True))
        else:
            results.append(call_tool(session, tally, call))
    return results, finish


def call_tool(session: Session, tally: Tally, call: ToolCall) -> ToolResult:
    """One call: unknown or malformed calls go back as text; the rest pass the guard first.

    A policy that breaks mid-run (the guard refuses everything then) stops the run.
    """
    offered = [spec.name for spec in session.tools]
    problem = _finish_problem(call.arguments) if call.name == "finish_step" else None
    if call.name not in offered:
        problem = (
            f"Refused: no tool {call.name!r} in this session; the tools are: {', '.join(offered)}"
        )
    if problem is None:
        try:
            check_arguments(call)
        except ToolError as e:
            problem = str(e)
    if problem is None and _edits_plan(session, call):
        problem = (
            "Refused: ralph writes progress to the task file itself. Report the outcome with "
            "finish_step instead of editing the plan."
        )
    if problem is not None:
        session.emit("tool", name=call.name, arguments=call.raw_arguments, error=problem)
        return ToolResult(call.id, problem, is_error=True)
    verdict = session.guard.review(call)
    if session.guard.fatal is not None:
        raise session.guard.fatal
    if verdict.approval_id:
        tally.approval_ids.append(verdict.approval_id)
    if verdict.allowed:
        result = session.toolbox.run(call)
    else:
        result = ToolResult(call.id, verdict.message, is_error=True)
    session.emit(
        "tool",
        name=call.name,
        arguments=call.arguments,
        decision=verdict.decision.decision,
        rule=verdict.decision.rule,
        allowed=verdict.allowed,
        is_error=result.is_error,
        result=result.content[:300],
    )
    return result


def _edits_plan(session: Session, call: ToolCall) -> bool:
    if session.plan is None or call.name not in ("write_file", "edit_file") or not call.arguments:
        return False
    target = Path(os.path.expanduser(str(call.arguments.get("path", ""))))
    workspace = getattr(session.toolbox, "workspace", Path.cwd())
    return os.path.realpath(workspace / target) == os.path.realpath(session.plan)


def _finish_problem(arguments: dict[str, Any] | None) -> str | None:
    if not isinstance(arguments, dict):
        return "finish_step needs JSON arguments {outcome, summary}."
    if arguments.get("outcome") not in ("done", "blocked"):
        return 'finish_step: outcome must be "done" or "blocked".'
    if not isinstance(arguments.get("summary"), str) or not arguments["summary"].strip():
        return "finish_step: summary must be a non-empty string."
    return None


def _finish(session: Session, tally: Tally, args: dict[str, Any], verify: str | None) -> Attempt:
    full = args["summary"].strip()
    summary = " ".join(full.split())
    if args["outcome"] == "blocked":
        return tally.attempt("blocked", summary, full)
    if verify:
        ok, detail = run_verify(session, verify)
        session.emit("verify", command=verify, ok=ok, output=detail)
        if not ok:
            return tally.attempt("failed", f"verify failed: {detail}", full)
    return tally.attempt("done", summary, full)


def run_verify(session: Session, command: str) -> tuple[bool, str]:
    """Run the step's verify command through the guard; True only on exit status 0."""
    call = ToolCall("verify", "run_command", {"command": command}, command)
    verdict = session.guard.review(call)
    if not verdict.allowed:
        return False, f"`{command}` was refused: {verdict.message}"
    code, output = session.toolbox.run_command(command)
    tail = " ".join(output.split())[-VERIFY_TAIL_CHARS:]
    return code == 0, f"`{command}` exited {code}: {tail}" if code else "passed"


# --------------------------------------------------------------------------- a run of steps


@dataclass(frozen=True)
class RunRequest:
    """What `ralph run` was asked to do."""

    task_path: Path
    workspace: Path
    policy_path: Path
    mode: Mode
    config: Config
    steps: int | None = 1
    """How many steps to attempt; None for all of them."""
    audit_report: Path | None = None
    """In audit mode, the markdown report that collects each step's findings."""
    commit: bool = False
    """Commit the workspace's changes after each done step, with the step's text."""


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


@dataclass
class RunReport:
    """The whole run: what was attempted, why it stopped, and the exit code that says so."""

    run_id: str
    task_file: str
    steps: list[StepReport] = field(default_factory=list)
    stopped: str = ""
    exit_code: int = EXIT_OK

    @property
    def cost_usd(self) -> float | None:
        costs = [s.cost_usd for s in self.steps]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "file": self.task_file,
            "steps": [vars(s) for s in self.steps],
            "stopped": self.stopped,
            "exit_code": self.exit_code,
            "cost_usd": self.cost_usd,
        }


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
    interrupted: Callable[[], bool] = lambda: False,
    prompt: Callable[[str], str | None] | None = None,
) -> RunReport:
    """Take steps of the task file one at a time, each in a fresh session, under the lock.

    `make_provider(on_wait)` builds the model client; it calls `on_wait(seconds, reason)`
    before each back-off so long waits are shown and logged.
    """
    with run_lock(req.task_path, req.workspace), RunLog.create(runs_dir(req.workspace)) as log:

        def record(event: str, **fields: Any) -> None:
            log.emit(event, **fields)
            emit(event, **fields)

        provider = make_provider(
            lambda seconds, reason: record("wait", seconds=seconds, reason=reason)
        )

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
        )
        try:
            report.stopped = _steps(req, provider, report, record, interrupted, prompt)
        except (RalphError, KeyboardInterrupt) as e:
            report.stopped = f"error: {e}" if isinstance(e, RalphError) else "aborted"
            report.exit_code = getattr(e, "exit_code", EXIT_INTERRUPTED)
            raise
        finally:
            record(
                "run_end",
                stopped=report.stopped,
                exit_code=report.exit_code,
                steps=len(report.steps),
                cost_usd=report.cost_usd,
            )
        return report


def _steps(
    req: RunRequest,
    provider: Provider,
    report: RunReport,
    record: Callable[..., None],
    interrupted: Callable[[], bool],
    prompt: Callable[[str], str | None] | None,
) -> str:
    """Attempt steps until one of the stop conditions; return why it stopped."""
    cfg = req.config
    started = time.monotonic()
    failures_in_a_row = 0
    while req.steps is None or len(report.steps) < req.steps:
        tf = taskfile.load(req.task_path)  # read again: a person may have edited it
        step = tf.next_step(decided=lambda approval_id: _decided(req.workspace, approval_id))
        if step is None:
            stopped, report.exit_code = _nothing_left(tf, report.exit_code)
            return stopped
        guard = Guard(
            req.policy_path,
            req.workspace,
            req.mode,
            step=step.text,
            prompt=prompt,
            log=lambda event: record("decision", **event),
        )
        session = Session(
            provider=provider,
            guard=guard,
            toolbox=Toolbox(req.workspace, default_timeout_s=cfg.command_timeout),
            tools=TOOL_SPECS,
            system=SYSTEM_PROMPT + (AUDIT_PROMPT if req.mode == "audit" else ""),
            budget=Budget(cfg.max_turns, cfg.max_step_tokens, cfg.max_step_cost, cfg.max_step_time),
            price=lambda usage: cost_usd(provider.model, usage),
            emit=record,
            interrupted=interrupted,
            plan=req.task_path,
        )
        record("step_start", line=step.line, text=step.text, attempts=step.attempts)
        attempt = _attempt(session, tf, step, req)
        if guard.fatal is not None:
            raise guard.fatal
        report.steps.append(_write_back(req, step, attempt))
        if req.audit_report is not None:
            _add_findings(req.audit_report, tf, step, attempt)
        if req.commit and attempt.outcome == "done":
            record("commit", sha=commit_step(req.workspace, step.text))
        record("step_end", **vars(report.steps[-1]))
        report.exit_code = _EXIT_FOR[attempt.outcome]
        failures_in_a_row = failures_in_a_row + 1 if attempt.outcome in ("failed", "blocked") else 0
        if attempt.outcome in ("awaiting_approval", "interrupted", "deferred"):
            return {
                "awaiting_approval": "waiting for a person's approval",
                "interrupted": "interrupted",
                "deferred": attempt.summary,
            }[attempt.outcome]
        if failures_in_a_row >= cfg.max_failures:
            return f"{failures_in_a_row} failed attempts in a row"
        if cfg.max_cost is not None and (report.cost_usd or 0.0) >= cfg.max_cost:
            return f"run budget spent (${report.cost_usd or 0:.2f} of ${cfg.max_cost:.2f})"
        if cfg.max_time is not None and time.monotonic() - started >= cfg.max_time:
            return f"run time spent ({cfg.max_time:.0f}s)"
    return f"did {len(report.steps)} step{'s' if len(report.steps) != 1 else ''} as asked"


def _attempt(session: Session, tf: TaskFile, step: Step, req: RunRequest) -> Attempt:
    prompt = build_prompt(tf, step, req.workspace, req.task_path)
    verify = " && ".join(f"({c})" if len(step.verify) > 1 else c for c in step.verify) or None
    try:
        return run_step(session, prompt, verify)
    except WaitTooLong as e:
        return Attempt("deferred", f"deferred: {e}; the step stays open for the next run")


def _write_back(req: RunRequest, step: Step, attempt: Attempt) -> StepReport:
    """Check the box or record the failed attempt, with the receipt, in the task file."""
    report = StepReport(
        step.line,
        step.text,
        attempt.outcome,
        attempt.summary,
        attempt.turns,
        attempt.usage.total,
        attempt.cost,
        round(attempt.seconds, 1),
        attempt.approval_ids,
    )
    if attempt.outcome == "deferred":
        return report  # not an attempt: nothing to write
    summary = attempt.summary
    if attempt.outcome == "blocked":  # the model's word; counted like any failed attempt
        summary = f"blocked: {summary}"
    if attempt.cost is None:
        summary = f"cost unknown · {summary}"
    details = taskfile.note_details(
        summary,
        turns=attempt.turns,
        tokens=attempt.usage.total,
        cost_usd=attempt.cost,
        seconds=attempt.seconds,
    )
    outcome = "failed" if attempt.outcome == "blocked" else attempt.outcome
    approval = attempt.approval_ids[-1] if attempt.approval_ids else None
    taskfile.record_outcome(
        req.task_path,
        step,
        outcome,
        details,
        max_attempts=req.config.max_attempts,
        approval_id=approval,
    )
    return report


def _add_findings(report: Path, tf: TaskFile, step: Step, attempt: Attempt) -> None:
    """Append one step's findings to the audit report (created with a title on first use)."""
    report.parent.mkdir(parents=True, exist_ok=True)
    head = "" if report.exists() else f"# Audit: {tf.title}\n\nTask file: {tf.name}\n"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    cost = "cost unknown" if attempt.cost is None else f"${attempt.cost:.2f}"
    with report.open("a", encoding="utf-8") as f:
        f.write(
            f"{head}\n## {step.text}\n\n_{attempt.outcome} · {when} · {attempt.turns} turns"
            f" · {cost}_\n\n{attempt.full_summary or attempt.summary}\n"
        )


def _decided(workspace: Path, approval_id: str) -> bool:
    """Whether a person has approved or rejected this approval (or it is gone)."""
    try:
        return ApprovalStore(workspace).get(approval_id).status != "pending"
    except RalphError:
        return True


def _nothing_left(tf: TaskFile, exit_code: int) -> tuple[str, int]:
    """Why no step can run, and the exit code that tells cron: 3 if a step waits for an
    approval, 1 if steps are blocked, else the code so far (0 when the plan is done)."""
    waiting = [s for s in tf.steps if not s.checked]
    if not waiting:
        return "every step is done", exit_code
    if any(s.state == "awaiting_approval" for s in waiting):
        return f"no runnable step: {len(waiting)} open step(s) wait for approval", EXIT_APPROVAL
    return f"no runnable step: {len(waiting)} open step(s) are blocked", EXIT_FAILED


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
