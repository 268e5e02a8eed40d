"""`ralph plan "IDEA"`: one read-only model session that turns an idea into a task file.

The session may look at the workspace (`read_file`, `list_files`, `search`, `run_command`)
under the shipped `policies/readonly.toml` in audit mode, so nothing it does can write. It
ends when the model replies with text and no tool call: that text is the plan. ralph saves
it only if it is a task file (a `# ` title and at least one `- [ ]` step), atomically, and
never over an existing file unless asked to (`--force`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ralph import taskfile
from ralph.agent.session import Budget, OutOfBudget, Session, Tally, ask, call_tool
from ralph.errors import EXIT_FAILED, RalphError, TaskFileError, UsageError
from ralph.messages import Message, ToolSpec, Usage
from ralph.taskfile import TaskFile

PLAN_TOOLS = ("read_file", "list_files", "search", "run_command")
PLAN_MAX_TURNS = 30
CUT_OFF = frozenset({"max_tokens", "max_output_tokens", "length"})
"""Stop reasons meaning the reply hit the output limit (Anthropic, Responses, Chat)."""

SYSTEM_PROMPT = """\
You write plans for ralph, a harness that later works through a plan one step at a time,
each step in a fresh model session that sees only that step, the headings above it, and
short notes from earlier steps.

You may look at the workspace first with the tools (read_file, list_files, search, and
read-only commands through run_command); nothing you do in this session can change it.
Look only as much as you need to fit the plan to what is there.

When you are ready, reply with the plan as markdown and nothing else: no tool call, no
preamble, no code fence around it. The plan looks like this:

# Title of the plan

One or two sentences: what gets built, and the main choices (language, framework, layout).

## Scaffold

- [ ] Create the package layout with a `pyproject.toml` and an empty test suite
  - verify: `python -m pytest -q`
- [ ] A small step, written as the result it leaves behind
  - an acceptance criterion or hint, when it helps
  - verify: `a real command that exits 0 only when the step is done`

Rules:
- A `# ` title, then one `## ` heading per phase, in the order the work happens.
- Every step is a `- [ ] ` item small enough to finish in one session (about one file or
  one feature and its tests). Split anything larger. Name files, modules and commands.
- Each step must make sense on its own: its session will not see the other steps' work
  except through the files.
- Give a step a `verify:` sub-bullet with a real, fast, non-interactive shell command run
  from the workspace root (tests, a build, a linter, grep) wherever such a check exists.
- Steps that publish or deploy come last, in their own phase; a person approves them.
- Leave every box open, and write nothing after the plan.
"""

_FENCE = re.compile(r"\A(`{3,}|~{3,})[ \t]*(?:markdown|md)?[ \t]*\n(.*)\n\1[ \t]*\Z", re.S | re.I)
_SMALL_WORDS = frozenset({"a", "an", "the"})


class PlanError(RalphError):
    """The session ended without a plan that can be saved; nothing was written."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Draft:
    """The model's final reply and what the session took."""

    text: str
    stop_reason: str
    turns: int
    usage: Usage
    cost: float | None


def plan_tools() -> list[ToolSpec]:
    """The tools a planning session is offered: the read-only ones and run_command."""
    from ralph.tools import TOOL_SPECS

    return [spec for spec in TOOL_SPECS if spec.name in PLAN_TOOLS]


def first_message(idea: str, workspace: Path) -> str:
    """The one user message that opens the session: the idea and the workspace facts."""
    from ralph.agent.prompts import workspace_facts

    return "\n".join(
        ["# Idea", idea.strip(), "", "## Workspace", *workspace_facts(workspace)]
    ).strip()


def draft(session: Session, prompt: str) -> Draft:
    """Run the session until the model replies with no tool call; that reply is the draft.

    Tool calls go through the guard, then the toolbox; a tool the session was not offered is
    refused without running. Running out of budget raises PlanError.
    """
    messages = [Message("user", prompt)]
    tally = Tally(session)
    try:
        while True:
            reply = ask(session, tally, messages)
            if not reply.tool_calls:
                return Draft(reply.text, reply.stop_reason, tally.turns, tally.usage, tally.cost)
            results = tuple(call_tool(session, tally, call) for call in reply.tool_calls)
            messages.append(Message("user", tool_results=results))
    except OutOfBudget as e:
        raise PlanError(f"the planning session ended without a plan: {e}") from None


def accept(reply: str, stop_reason: str = "") -> tuple[str, TaskFile]:
    """The text to save and its parse, or PlanError saying why the reply is not a plan."""
    if stop_reason in CUT_OFF:
        raise _rejected(f"the reply was cut off at the output limit ({stop_reason})")
    text = strip_fence(reply.strip()).strip()
    if not text:
        raise _rejected("the reply was empty")
    if _is_json(text):
        raise _rejected("it is JSON, not a markdown task file")
    try:
        tf = taskfile.parse(text.encode("utf-8"), name="")  # no `# ` heading -> title ""
    except TaskFileError as e:
        raise _rejected(str(e).strip()) from None
    if not tf.steps:
        extra = f"; {len(tf.warnings)} look-alike(s), first {tf.warnings[0]}" if tf.warnings else ""
        raise _rejected(f"it has no steps (`- [ ] ...` items){extra}")
    if not tf.title:
        raise _rejected("it has no title (a `# Title` line before the steps)")
    return text + "\n", tf


def strip_fence(text: str) -> str:
    """The inside of a code fence wrapped around the whole text (```markdown ... ```)."""
    m = _FENCE.match(text)
    return m.group(2) if m else text


def slug(idea: str, max_words: int = 6, max_chars: int = 48) -> str:
    """A file name stem from the idea: "A link shortener in Flask!" -> "link-shortener-in-flask"."""
    plain = unicodedata.normalize("NFKD", idea).encode("ascii", "ignore").decode().lower()
    words = [w for w in re.findall(r"[a-z0-9]+", plain) if w not in _SMALL_WORDS]
    return "-".join(words[:max_words])[:max_chars].strip("-") or "plan"


def save(path: Path, text: str, *, force: bool) -> None:
    """Write the plan atomically; an existing file is replaced only with `force`."""
    from ralph.fsutil import atomic_write_text

    if path.exists() and not force:
        raise PlanError(f"{path} appeared while planning; nothing written (--force replaces it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def _is_json(text: str) -> bool:
    if text[0] not in "{[":
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _rejected(reason: str) -> PlanError:
    return PlanError(f"the model's plan was rejected: {reason}; nothing written")


# --------------------------------------------------------------------------- the command


def make_plan(idea: str, output: Path | None, *, force: bool, options: dict[str, Any]) -> int:
    """`ralph plan`: check the inputs, run the session, save the plan. Exit 0, else raises
    UsageError (2: bad input, missing key) or PlanError (1: no plan saved)."""
    from rich.console import Console
    from rich.markup import escape

    from ralph.cli.live import LiveView
    from ralph.workspace import find_workspace

    if not idea.strip():
        raise UsageError('give the idea to plan, e.g. ralph plan "a link shortener in Flask"')
    as_json = options.pop("as_json", False)
    ws_option = options.pop("workspace", None)
    workspace = ws_option.resolve() if ws_option else find_workspace(Path.cwd())
    out = output if output is not None else workspace / "tasks" / f"{slug(idea)}.md"
    if out.is_dir():
        raise UsageError(f"{out} is a folder; give -o the path of a markdown file to write")
    if out.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to replace it, or -o another path")
    console = Console(stderr=True, highlight=False)
    view = LiveView(console)
    session = _session(workspace, options, view)
    console.print(f"[bold]▶ planning:[/] {escape(' '.join(idea.split()))}", soft_wrap=True)
    result = draft(session, first_message(idea, workspace))
    try:
        text, tf = accept(result.text, result.stop_reason)
    except PlanError:
        if result.text.strip():
            console.print("[dim]the model's reply (not saved):[/]")
            console.print(result.text, markup=False, highlight=False, soft_wrap=True)
        raise
    save(out, text, force=force)
    summary = _summary(out, tf, result)
    _print_summary(console, summary)
    if as_json:
        click.echo(json.dumps(summary))
    return 0


def _session(workspace: Path, options: dict[str, Any], emit: Callable[..., None]) -> Session:
    """The provider (a missing key is exit 2 here, before any request), a guard under the
    shipped read-only policy in audit mode, and the read-only tools."""
    from ralph.config import load_config
    from ralph.guard.gate import Guard, shipped_policy
    from ralph.providers import get_provider
    from ralph.providers.pricing import pricer, require_prices
    from ralph.tools import Toolbox

    config = load_config(workspace, options)
    if not config.model:
        raise UsageError(
            "no model: pass --model PROVIDER:MODEL, set RALPH_MODEL, "
            "or set model in [tool.ralph] / ralph.toml"
        )
    policy = shipped_policy("readonly")
    if not policy.is_file():
        raise UsageError(f"ralph's read-only policy is missing: {policy}")
    require_prices(config)
    provider = get_provider(
        config.model,
        base_url=config.base_url,
        max_wait=config.max_wait,
        on_wait=lambda seconds, reason: emit("wait", seconds=seconds, reason=reason),
        thinking=config.thinking,
    )
    turns = options.get("max_turns") or PLAN_MAX_TURNS
    return Session(
        provider=provider,
        guard=Guard(policy, workspace, "audit", step="write a plan"),
        toolbox=Toolbox(workspace, default_timeout_s=config.command_timeout),
        tools=plan_tools(),
        system=SYSTEM_PROMPT,
        budget=Budget(turns, config.max_step_tokens, config.max_step_cost, config.max_step_time),
        price=pricer(config.model, config.pricing),
        emit=emit,
    )


def _summary(out: Path, tf: TaskFile, result: Draft) -> dict[str, Any]:
    return {
        "file": str(out),
        "title": tf.title,
        "steps": len(tf.steps),
        "steps_with_verify": sum(1 for s in tf.steps if s.verify),
        "turns": result.turns,
        "tokens": result.usage.total,
        "cost_usd": result.cost,
    }


def _print_summary(console: Any, s: dict[str, Any]) -> None:
    from rich.markup import escape

    cost = "cost unknown" if s["cost_usd"] is None else f"${s['cost_usd']:.3f}"
    console.print(
        f"[bold green]■ saved[/] {escape(s['file'])}: {escape(s['title'])} · {s['steps']} steps, "
        f"{s['steps_with_verify']} with verify · {s['turns']} turns · {s['tokens']:,} tok · {cost}",
        soft_wrap=True,
        highlight=False,
    )
    shown = escape(s["file"])
    console.print(f"Next: ralph status {shown}  ·  ralph run {shown}", soft_wrap=True)
