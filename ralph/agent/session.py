"""One step: a fresh session with the model, its tools and budgets, until finish_step."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ralph.agent.prompts import REMINDER, SYSTEM_PROMPT
from ralph.guard.gate import Guard
from ralph.messages import Message, Reply, ToolCall, ToolResult, ToolSpec, Usage
from ralph.providers import Provider
from ralph.redact import clip, redact
from ralph.sandbox import Grant
from ralph.stop import DeadlinePassed, Stop, Stopped
from ralph.taskfile import Outcome as NoteOutcome
from ralph.tools import Toolbox, ToolError, check_arguments

Outcome = Literal[NoteOutcome, "deferred"]
"""What an attempt came to: what a note can say, or "deferred" (a provider wait too long to
sit out; the task file is not touched)."""


MAX_NUDGES = 3


VERIFY_TAIL_CHARS = 300
"""How much of a failed verify command's output (its end, redacted) the note keeps."""


TOOL_RESULT_CHARS = 300
"""How much of a tool's result its `tool` event shows (the request event has all of it)."""


@dataclass(frozen=True)
class RunBudget:
    """What is left of the whole run's budget when a step starts (`--max-cost`, `--max-time`)."""

    max_cost: float | None = None
    spent: float = 0.0
    """USD spent by the run's earlier steps."""
    max_time: float | None = None
    deadline: float | None = None
    """time.monotonic() when the run's time is up."""

    def money_spent(self, cost: float) -> str | None:
        """Why the run must stop when this step has cost `cost` so far, or None."""
        total = self.spent + cost
        if self.max_cost is not None and total >= self.max_cost:
            return f"run budget spent (${total:.2f} of ${self.max_cost:.2f})"
        return None

    def time_spent(self) -> str | None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return f"run time spent ({self.max_time or 0:.0f}s)"
        return None


@dataclass(frozen=True)
class Budget:
    """Limits of one attempt; running out is a failed attempt with the reason. Running out
    of the run's budget (`run`) mid-step ends the attempt as interrupted."""

    max_turns: int = 50
    max_tokens: int | None = None
    max_cost: float | None = None
    max_time: float | None = None
    run: RunBudget = field(default_factory=RunBudget)


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
    stop: Stop = field(default_factory=Stop)
    """Stop signals, and the regions (model calls, commands) they and deadlines cut short."""
    plan: Path | None = None
    """The task file: the model reports progress with finish_step, it does not edit boxes."""


class OutOfBudget(Exception):
    """A per-step limit ran out; the message says which."""


class RunBudgetSpent(OutOfBudget):
    """The whole run's money or time ran out during the step: the attempt is cut short."""


class Tally:
    """Turns, tokens, cost and time of one attempt, checked against the budget."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.turns = 0
        self.usage = Usage()
        self.started = time.monotonic()
        self.approval_ids: list[str] = []
        self.sent = 0
        """How many messages earlier requests carried (each request records only the new)."""

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
        run = b.run.time_spent() or (b.run.money_spent(cost) if cost is not None else None)
        if run:
            raise RunBudgetSpent(run)

    def deadline(self) -> float | None:
        """When this attempt's time is up: its own limit or the run's, whichever is first."""
        b = self.session.budget
        own = self.started + b.max_time if b.max_time is not None else None
        return min((d for d in (own, b.run.deadline) if d is not None), default=None)

    def out_of_time(self) -> OutOfBudget:
        """The budget error for a passed `deadline()`."""
        b = self.session.budget
        own = self.started + b.max_time if b.max_time is not None else None
        if b.run.deadline is not None and (own is None or b.run.deadline <= own):
            return RunBudgetSpent(f"run time spent ({b.run.max_time or 0:.0f}s)")
        return OutOfBudget(f"out of time ({b.max_time or 0:.0f}s)")

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        """A region a stop signal or this attempt's deadline may cut short."""
        try:
            with self.session.stop.region(self.deadline()):
                yield
        except DeadlinePassed:
            raise self.out_of_time() from None

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
            if session.stop.requested:
                return tally.attempt("interrupted", session.stop.reason)
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
    except RunBudgetSpent as e:
        return tally.attempt("interrupted", str(e))
    except OutOfBudget as e:
        return tally.attempt("failed", str(e))
    except Stopped as e:
        return tally.attempt("interrupted", str(e))


def ask(session: Session, tally: Tally, messages: list[Message]) -> Reply:
    """One model turn within the budget; the reply is appended to `messages` and recorded."""
    tally.check()
    _record_request(session, tally, messages)
    with tally.timed():
        reply = session.provider.complete(session.system, messages, session.tools)
    tally.add(reply)
    said: dict[str, Any] = {"reasoning": reply.reasoning}  # shown, never sent back
    if reply.opaque is not None:  # what it was, never its content
        said["private"] = list(reply.opaque.labels)
    session.emit(
        "model",
        turn=tally.turns,
        usage=asdict(reply.usage),
        cost=tally.cost,
        retries=reply.retries,
        latency_s=round(reply.latency_s, 3),
        text=reply.text,
        tool_calls=[{"name": c.name, "arguments": c.raw_arguments} for c in reply.tool_calls],
        stop_reason=reply.stop_reason,
        **{k: v for k, v in said.items() if v},
    )
    messages.append(reply.message)
    return reply


def _record_request(session: Session, tally: Tally, messages: list[Message]) -> None:
    """Record the request about to be sent: the system prompt and tools with the first one,
    then the messages each request adds (the model's own turns are in its `model` events)."""
    fields: dict[str, Any] = {"turn": tally.turns + 1, "history": len(messages)}
    if tally.sent == 0:
        fields |= {"system": session.system, "tools": [t.name for t in session.tools]}
    fields["messages"] = [_message_json(m) for m in messages[tally.sent :] if m.role == "user"]
    tally.sent = len(messages)
    session.emit("request", **fields)


def _message_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if message.text:
        out["text"] = message.text
    if message.tool_results:
        out["tool_results"] = [asdict(r) for r in message.tool_results]
    return out


def _call_tools(
    session: Session, tally: Tally, calls: tuple[ToolCall, ...]
) -> tuple[list[ToolResult], dict[str, Any] | None]:
    """Run each call through the guard, then the tools. A valid finish_step ends the turn."""
    results: list[ToolResult] = []
    finish = None
    for call in calls:
        if call.name == "finish_step" and _finish_problem(call.arguments) is None:
            finish = call.arguments
        elif session.stop.requested:
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
    args: dict[str, Any] | None = None
    if problem is None:
        try:
            args = check_arguments(call)
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
    verdict = session.guard.review(call, args)
    if verdict.stop is not None:
        raise verdict.stop
    if verdict.approval_id:
        tally.approval_ids.append(verdict.approval_id)
    if verdict.allowed:
        with tally.timed():
            result = session.toolbox.run(call, args, Grant.of(verdict.ruling))
    else:
        result = ToolResult(call.id, verdict.message, is_error=True)
    session.emit(
        "tool",
        name=call.name,
        arguments=call.arguments,
        decision=verdict.ruling.decision,
        rule=verdict.ruling.rule,
        allowed=verdict.allowed,
        is_error=result.is_error,
        result=clip(redact(result.content), TOOL_RESULT_CHARS),  # redacted first, then cut
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
    full = redact(args["summary"].strip())  # it goes to the note, notifications, the report
    summary = " ".join(full.split())
    if args["outcome"] == "blocked":
        return tally.attempt("blocked", summary, full)
    if verify:
        ok, detail = run_verify(session, tally, verify)
        session.emit("verify", command=verify, ok=ok, output=detail)
        if not ok:
            return tally.attempt("failed", f"verify failed: {detail}", full)
    return tally.attempt("done", summary, full)


def run_verify(session: Session, tally: Tally, command: str) -> tuple[bool, str]:
    """Run the step's verify command through the guard, within the step's time; True only
    on exit status 0. A verify that needs approval leaves the attempt awaiting it."""
    ok, detail, approval_id = verify_command(
        session.guard, session.toolbox, command, timed=tally.timed
    )
    if approval_id:
        tally.approval_ids.append(approval_id)
    return ok, detail


def verify_command(
    guard: Guard,
    toolbox: Toolbox,
    command: str,
    *,
    timed: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> tuple[bool, str, str | None]:
    """A verify command through the guard, then run (`timed()` around the run): (passed,
    what happened, the approval id the guard queued or None). Also run by `ralph run
    --parallel` on the merged result, before a lane's box is checked."""
    call = ToolCall("verify", "run_command", {"command": command}, command)
    verdict = guard.review(call)
    if verdict.stop is not None:
        raise verdict.stop
    if not verdict.allowed:
        return False, f"`{command}` was refused: {verdict.message}", verdict.approval_id
    with timed():
        code, output = toolbox.run_command(command, grant=Grant.of(verdict.ruling))
    tail = clip(" ".join(redact(output).split()), VERIFY_TAIL_CHARS, tail=True)
    detail = f"`{command}` exited {code}: {tail}" if code else "passed"
    return code == 0, detail, verdict.approval_id
