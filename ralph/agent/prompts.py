"""What the model reads: the system, audit and planner prompts, and the one user message that
opens a step's fresh session, built from the task file and the workspace. Nothing from an
earlier step's conversation is in it, and its size is bounded: it does not grow with the
number of finished steps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ralph.errors import RalphError
from ralph.messages import ToolSpec
from ralph.taskfile import Step, TaskFile, one_line

if TYPE_CHECKING:
    from ralph.git import Git

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


PLANNER_PROMPT = """\
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


REMINDER = (
    "Your reply had no tool call. Work with the tools, and call finish_step when the step is "
    "done or cannot be done."
)


RECENT_NOTES = 5
NOTE_CHARS = 200
GIT_STATUS_LINES = 20
AGENT_DOC_CHARS = 4_000
AGENT_DOCS = ("AGENTS.md", "CLAUDE.md")


def build_prompt(
    tf: TaskFile, step: Step, workspace: Path, task_path: Path, git: Git | None = None
) -> str:
    """The first user message for `step`: where it sits, what it asks, and the workspace
    (`git`: the workspace's runner to share, else one of its own)."""
    parts = [f"# Plan: {tf.title}", f"Task file: {_rel(task_path, workspace)}"]
    if step.headings:
        parts.append("Section: " + " › ".join(step.headings))
    if step.parents:
        parts.append("Part of: " + " › ".join(step.parents))
    parts += ["", "## Your step", step.text]
    for hint in step.hints:
        parts.append(f"- {hint}")
    parts += step.details
    if step.verify:
        commands = " && ".join(f"`{c}`" for c in step.verify)
        parts.append(
            f"\nWhen you finish it as done, the harness runs {commands}; "
            "the step counts as done only if that exits 0."
        )
    if step.note:
        parts.append(f"\nLast attempt: {one_line(step.note, NOTE_CHARS)}")
    recent = recent_notes(tf, step)
    if recent:
        parts += ["", "## Recent progress", *recent]
    parts += ["", "## Workspace", *workspace_facts(workspace, git)]
    return "\n".join(parts).strip() + "\n"


def recent_notes(tf: TaskFile, step: Step, limit: int = RECENT_NOTES) -> list[str]:
    """ralph's notes of the last few finished steps before `step`, each capped."""
    noted = [s for s in tf.steps[: step.index] if s.note and s.checked]
    return [
        f"- [x] {one_line(s.text, 120)} — {one_line(s.note or '', NOTE_CHARS)}"
        for s in noted[-limit:]
    ]


def workspace_facts(workspace: Path, git: Git | None = None) -> list[str]:
    """Root, a short git status, and the project's agent notes (AGENTS.md / CLAUDE.md)."""
    facts = [f"Root: {workspace}"]
    status = _git_status(workspace, git)
    if status is not None:
        facts.append("git status --short:" + ("\n" + status if status else " clean"))
    for name in AGENT_DOCS:
        doc = workspace / name
        if doc.is_file():
            text = doc.read_text(encoding="utf-8", errors="replace")
            facts += [
                f"\n{name}:",
                text if len(text) <= AGENT_DOC_CHARS else text[: AGENT_DOC_CHARS - 1] + "…",
            ]
            break
    return facts


def estimate_tokens(system: str, prompt: str, tools: list[ToolSpec]) -> int:
    """A rough token count (about four characters a token) of a first request."""
    schema = json.dumps([[t.name, t.description, t.parameters] for t in tools])
    return (len(system) + len(prompt) + len(schema)) // 4


def _git_status(workspace: Path, git: Git | None = None) -> str | None:
    from ralph.git import Git

    try:
        done = (git or Git(workspace)).run(
            "status", "--short", "--ignore-submodules=all", check=False, timeout=10
        )
    except RalphError:
        return None
    if done.returncode != 0:
        return None
    out = done.stdout.decode("utf-8", "replace")
    lines = out.splitlines()
    more = len(lines) - GIT_STATUS_LINES
    shown = lines[:GIT_STATUS_LINES] + ([f"… and {more} more"] if more > 0 else [])
    return "\n".join(shown)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def first_request(task_path: Path, workspace: Path, *, as_json: bool = False) -> str:
    """The exact first request of the next step (system, tools, user message) and its token
    estimate, without calling a model."""
    from ralph import taskfile
    from ralph.guard.approvals import ApprovalStore
    from ralph.tools import TOOL_SPECS

    tf = taskfile.load(task_path)
    then = tf.what_next(ApprovalStore(workspace).status_of)  # as `ralph run` picks it
    step = then.step
    if step is None:
        return then.waiting_reason or "Nothing to do: no open step can run."
    prompt = build_prompt(tf, step, workspace, task_path)
    tokens = estimate_tokens(SYSTEM_PROMPT, prompt, TOOL_SPECS)
    if as_json:
        tools = [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in TOOL_SPECS
        ]
        request = {
            "system": SYSTEM_PROMPT,
            "tools": tools,
            "messages": [{"role": "user", "content": prompt}],
            "estimated_tokens": tokens,
        }
        return json.dumps(request, indent=2)
    names = ", ".join(t.name for t in TOOL_SPECS)
    return (
        f"--- system ---\n{SYSTEM_PROMPT}\n--- tools ---\n{names}\n"
        f"--- user ---\n{prompt}--- about {tokens:,} tokens (tool schemas included) ---"
    )
