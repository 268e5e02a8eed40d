"""`ralph init`: set a project up for ralph without touching anything already there.

It creates `tasks/plan.md` (a starter plan), `policies/policy.toml` (a copy of the shipped
default policy to edit), a `.ralph/` line in `.gitignore`, and the project config:
`[tool.ralph]` appended to `pyproject.toml` when there is one, else `ralph.toml`. A file
that exists is never overwritten: new files are created exclusively, and text is only ever
appended to the end of `.gitignore` or `pyproject.toml`, when what it adds is missing.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import click

from ralph import __version__
from ralph.errors import UsageError

STARTER_PLAN = """\
# Starter plan

A first plan to try ralph on this project. Each `- [ ]` item is one step, worked on in a
fresh model session; when the model says a step is done, ralph runs its `verify:` command
and checks the box only if it exits 0. Edit this plan freely, or draft one for an idea
with `ralph plan "IDEA"`.

## Get to know the project

- [ ] Write `NOTES.md`: what this project is and how its files are laid out, in under 40 lines
  - facts from the files only; say so if the folder is empty
  - verify: `test -s NOTES.md`
- [ ] Add a `## How to run` section to `NOTES.md` with the commands to install, test and run it
  - verify: `grep -q '^## How to run' NOTES.md`
"""

POLICY_HEADER = """\
# This project's ralph policy. Every tool call the agent makes is checked against this file,
# and ralph re-reads it for every check, so an edit applies at once.
#
# It started as a copy of ralph's shipped policies/default.toml (ralph {version}). Edit the
# rules to fit this project: allow what is safe here, ask (confirm) or deny what is not.
# After editing, check it:      ralph policy lint policies/policy.toml
# See what it decides:          ralph check -- git push origin main

"""

CONFIG_BODY = """\
# ralph's settings for this project. A flag (--model, --max-turns, ...) or a RALPH_*
# environment variable (RALPH_MODEL, RALPH_MAX_TURNS, ...) overrides a value set here.
model = "{model}"  # or e.g. openai:gpt-5.3-codex, openai-chat:MODEL
policy = "policies/policy.toml"

# Budgets, shown with their defaults; uncomment a line to change it.
# max-turns = 50              # model turns per step
# max-step-time = "1h"        # wall time per step
# max-step-tokens = 2000000   # tokens per step (default: no limit)
# max-step-cost = 2.0         # USD per step (default: no limit)
# max-attempts = 3            # failed attempts before a step is blocked
# max-failures = 3            # failed attempts in a row that stop a multi-step run
# max-cost = 20.0             # USD per run (default: no limit)
# max-time = "8h"             # wall time per run (default: no limit)
# max-wait = "15m"            # longest provider back-off to sit through
# command-timeout = "10m"     # default time limit of one command the agent runs
"""

DEFAULT_MODEL = "anthropic:claude-sonnet-5-5"
"""The model a new project's config names (a person changes it there)."""
GITIGNORE_ENTRY = "# ralph's state: locks, approvals, run logs\n.ralph/\n"
_IGNORES_STATE = frozenset({".ralph", ".ralph/", "/.ralph", "/.ralph/", ".ralph/*", "/.ralph/*"})


@dataclass(frozen=True)
class Action:
    """One thing `init` did or left alone, for the report."""

    verb: Literal["created", "appended", "skipped"]
    path: str
    """Relative to the project folder."""
    detail: str = ""


EXAMPLES = ("prototype", "audit")
"""Worked examples shipped with ralph (ralph/examples/NAME.md); `init --example NAME`."""


def init_project(folder: Path, example: str | None = None) -> list[Action]:
    """Set `folder` up for ralph (creating it if needed) and say what was done."""
    _check_pyproject(folder)
    policy = _policy_text()  # before anything is created: a broken install changes nothing
    sample = example_text(example) if example else None
    actions: list[Action] = []
    if not folder.exists():
        folder.mkdir(parents=True)
        actions.append(Action("created", ".", "(the project folder)"))
    elif not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; give the project folder to set up")
    actions.append(_create(folder, "tasks/plan.md", STARTER_PLAN))
    if example and sample is not None:
        actions.append(_create(folder, f"tasks/{example}.md", sample))
    actions.append(_create(folder, "policies/policy.toml", policy))
    actions.append(_state_dir(folder))
    actions.append(_ignore_state(folder))
    actions.append(_config(folder))
    made = {a.path for a in actions if a.verb != "skipped"}
    if "policies/policy.toml" in made and made & {"ralph.toml", "pyproject.toml"}:
        from ralph.trust import trust

        trust(folder)  # a person ran init: what it wrote is trusted (ralph config trust)
    return actions


def example_text(name: str) -> str:
    """The text of a shipped example plan; UsageError naming the ones there are."""
    from importlib.resources import files

    if name not in EXAMPLES:
        raise UsageError(f"no example {name!r}; the examples are: {', '.join(EXAMPLES)}")
    try:
        return (files("ralph") / "examples" / f"{name}.md").read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read ralph's example {name}: {e.strerror or e}") from None


def report(actions: list[Action], folder: Path, cwd: Path, example: str | None = None) -> str:
    """What was done, a note if ralph will not see this folder as the workspace, and the next
    commands to run."""
    width = max(len(a.path) for a in actions)
    lines = [f"ralph: set up {folder}"]
    lines += [f"  {a.verb:<9}{a.path:<{width}}  {a.detail}".rstrip() for a in actions]
    root = _git_root(folder)
    if root is not None and root != folder.resolve():
        lines += [
            "",
            f"note: {folder} is inside the git repository {root}, which ralph takes as the "
            "workspace; run ralph with --workspace . from here, or run ralph init in the root.",
        ]
    lines += ["", "Next:"]
    if folder.resolve() != cwd.resolve():
        lines.append(f"  cd {_shown(folder, cwd)}")
    lines += [
        "  export ANTHROPIC_API_KEY=...        # or OPENAI_API_KEY; the model is in the config",
        "  ralph status tasks/plan.md          # the starter plan's steps",
        '  ralph plan "a link shortener"       # or draft a plan for your idea',
        "  ralph run tasks/plan.md             # take the next step",
        "  ralph policy lint                   # check the policy after you edit it",
    ]
    if example == "audit":
        lines.append("  ralph audit tasks/audit.md          # the read-only audit example")
    elif example:
        lines.append(f"  ralph run tasks/{example}.md --all  # the {example} example")
    return "\n".join(lines)


def run_init(folder: Path | None, example: str | None = None) -> int:
    """`ralph init [DIR] [--example NAME]`: set the folder up and print what happened."""
    cwd = Path.cwd()
    target = folder if folder is not None else cwd
    actions = init_project(target, example)
    click.echo(report(actions, target, cwd, example))
    return 0


# --------------------------------------------------------------------------- the pieces


def _create(folder: Path, rel: str, text: str) -> Action:
    """Create a new file; an existing one (or anything at that path) is left alone."""
    path = folder / rel
    if path.exists() or path.is_symlink():
        return Action("skipped", rel, "(exists)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8", newline="") as f:
            f.write(text)
    except FileExistsError:  # created between the check and now: still never overwritten
        return Action("skipped", rel, "(exists)")
    return Action("created", rel)


def _policy_text() -> str:
    from ralph.guard.gate import shipped_policy

    shipped = shipped_policy("default")
    try:
        body = shipped.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read ralph's shipped policy {shipped}: {e.strerror}") from None
    return POLICY_HEADER.format(version=__version__) + body


def _state_dir(folder: Path) -> Action:
    """ralph's state folder, so `>> .ralph/cron.log` works before the first run."""
    from ralph.workspace import state_dir

    path = state_dir(folder)  # `.ralph/`, or the folder --state-dir / RALPH_STATE_DIR chose
    shown = f"{path.relative_to(folder) if path.is_relative_to(folder) else path}/"
    if path.is_dir():
        return Action("skipped", shown, "(exists)")
    if path.exists() or path.is_symlink():
        return Action("skipped", shown, "(not a folder)")
    path.mkdir(parents=True)
    return Action("created", shown, "(ralph's state: runs, approvals, cron.log)")


def _ignore_state(folder: Path) -> Action:
    """Add `.ralph/` to .gitignore (appended, or a new file) unless it is ignored already."""
    path = folder / ".gitignore"
    if not path.exists():
        return _create(folder, ".gitignore", GITIGNORE_ENTRY)
    if not path.is_file():
        return Action("skipped", ".gitignore", "(not a regular file)")
    data = path.read_bytes()
    lines = {line.strip() for line in data.decode("utf-8", "replace").splitlines()}
    if lines & _IGNORES_STATE:
        return Action("skipped", ".gitignore", "(.ralph/ is ignored already)")
    _append(path, data, GITIGNORE_ENTRY)
    return Action("appended", ".gitignore", ".ralph/")


def _config(folder: Path) -> Action:
    """`[tool.ralph]` at the end of pyproject.toml when there is one, else ralph.toml."""
    if (folder / "ralph.toml").exists():
        return Action("skipped", "ralph.toml", "(exists; it holds the config)")
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return _create(folder, "ralph.toml", _config_body())
    data = pyproject.read_bytes()
    tool = tomllib.loads(data.decode("utf-8")).get("tool")
    if isinstance(tool, dict) and "ralph" in tool:
        return Action("skipped", "pyproject.toml", "([tool.ralph] exists)")
    addition = "[tool.ralph]\n" + _config_body()
    problem = _appended_toml_problem(data, addition)
    if problem:
        created = _create(folder, "ralph.toml", _config_body())
        return Action(created.verb, created.path, f"(pyproject.toml cannot take it: {problem})")
    _append(pyproject, data, addition)
    return Action("appended", "pyproject.toml", "[tool.ralph]")


def _config_body() -> str:
    return CONFIG_BODY.replace("{model}", DEFAULT_MODEL)


def _check_pyproject(folder: Path) -> None:
    """Refuse up front (before creating anything) to add to a pyproject.toml that is broken."""
    path = folder / "pyproject.toml"
    if not path.is_file():
        return
    try:
        tomllib.loads(path.read_bytes().decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(
            f"{path}: not valid TOML ({e}); fix it, then run ralph init again"
        ) from None


def _appended_toml_problem(data: bytes, addition: str) -> str | None:
    """Why appending `addition` would not give a valid `[tool.ralph]` (None when it would),
    e.g. a `tool = {...}` inline table cannot be extended."""
    try:
        merged = tomllib.loads((data + _joint(data) + addition.encode()).decode("utf-8"))
    except tomllib.TOMLDecodeError as e:
        return str(e)
    return None if "model" in merged.get("tool", {}).get("ralph", {}) else "no [tool.ralph]"


def _append(path: Path, data: bytes, text: str) -> None:
    """Append `text` after a blank line, in the file's own line endings; the bytes already
    there are left exactly as they were."""
    eol = b"\r\n" if b"\r\n" in data else b"\n"
    addition = _joint(data) + text.encode("utf-8").replace(b"\n", eol)
    with path.open("ab") as f:
        f.write(addition)


def _joint(data: bytes) -> bytes:
    """What goes between existing text and an appended block: end the last line, then one
    blank line."""
    eol = b"\r\n" if b"\r\n" in data else b"\n"
    if not data.strip():
        return eol if data and not data.endswith(b"\n") else b""
    if not data.endswith(b"\n"):
        return eol + eol
    return b"" if data.endswith((b"\n\n", b"\n\r\n")) else eol


def _git_root(folder: Path) -> Path | None:
    from ralph.workspace import find_workspace

    root = find_workspace(folder)
    return root if (root / ".git").exists() else None


def _shown(folder: Path, cwd: Path) -> str:
    try:
        return os.path.relpath(folder, cwd)
    except ValueError:
        return str(folder)
