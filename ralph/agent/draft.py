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
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ralph import taskfile
from ralph.agent.prompts import PLANNER_PROMPT
from ralph.agent.session import Budget, OutOfBudget, Session, Tally, ask, call_tool
from ralph.errors import EXIT_FAILED, RalphError, TaskFileError, UsageError
from ralph.messages import Message, ToolSpec, Usage
from ralph.taskfile import TaskFile
from ralph.tools.specs import READ_ONLY_TOOLS

PLAN_TOOLS = READ_ONLY_TOOLS | {"run_command"}
PLAN_MAX_TURNS = 30
CUT_OFF = frozenset({"max_tokens", "max_output_tokens", "length"})
"""Stop reasons meaning the reply hit the output limit (Anthropic, Responses, Chat)."""


_FENCE = re.compile(r"\A(`{3,}|~{3,})[ \t]*(?:markdown|md)?[ \t]*\n(.*)\n\1[ \t]*\Z", re.S | re.I)
_WRAPPED = re.compile(
    r"\A(?P<pre>(?:[^\n]*\n){1,4}?)(?P<f>`{3,}|~{3,})[ \t]*(?:markdown|md)?[ \t]*\n"
    r"(?P<body>.*)\n(?P=f)[ \t]*(?:\n(?P<post>[^`~]{0,400}))?\Z",
    re.S | re.I,
)
"""A plan in a fence with a few lines of prose before it (and maybe a line after)."""
_PLAN_LIKE = re.compile(r"^\s*(?:#|[-*+] \[)", re.M)
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
    """The inside of a code fence wrapped around the whole text (```markdown ... ```), also
    when a line or two of prose comes before it ("Here is the plan:") or after it."""
    m = _FENCE.match(text)
    if m:
        return m.group(2)
    m = _WRAPPED.match(text)
    if m and not _PLAN_LIKE.search(m.group("pre") + (m.group("post") or "")):
        return m.group("body")
    return text


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


def plan_session(workspace: Path, options: dict[str, Any], emit: Callable[..., None]) -> Session:
    """The provider (a missing key is exit 2 here, before any request), a guard under the
    shipped read-only policy in audit mode, and the read-only tools."""
    from ralph.config import load_config
    from ralph.guard.gate import Guard, shipped_policy
    from ralph.providers import get_provider
    from ralph.providers.pricing import pricer, require_prices
    from ralph.sandbox.setup import for_run
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
    from ralph.guard.gate import tty_prompt
    from ralph.trust import require_trust

    require_trust(workspace, "interactive", tty_prompt)  # e.g. a base-url the agent set
    require_prices(config)
    provider = get_provider(
        config.model,
        base_url=config.base_url,
        max_wait=config.max_wait,
        on_wait=lambda seconds, reason: emit("wait", seconds=seconds, reason=reason),
        thinking=config.thinking,
    )
    turns = options.get("max_turns") or PLAN_MAX_TURNS
    confinement = for_run(config, "audit", workspace, policy)
    if (warning := confinement.warning()) is not None:
        print(f"ralph: {warning}", file=sys.stderr)
    return Session(
        provider=provider,
        guard=Guard(policy, workspace, "audit", step="write a plan"),
        toolbox=Toolbox(
            workspace, default_timeout_s=config.command_timeout, confinement=confinement
        ),
        tools=plan_tools(),
        system=PLANNER_PROMPT,
        budget=Budget(turns, config.max_step_tokens, config.max_step_cost, config.max_step_time),
        price=pricer(config.model, config.pricing),
        emit=emit,
    )


def summary(out: Path, tf: TaskFile, result: Draft) -> dict[str, Any]:
    return {
        "file": str(out),
        "title": tf.title,
        "steps": len(tf.steps),
        "steps_with_verify": sum(1 for s in tf.steps if s.verify),
        "turns": result.turns,
        "tokens": result.usage.total,
        "cost_usd": result.cost,
    }
