"""What `ralph status` and `ralph next` print: a task file as a rich table, a step with its
context, or the same as JSON. Reads only; the parsing lives in `ralph.taskfile`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ralph.cli.render import STATE_STYLES, color, paint, printable
from ralph.taskfile import Next, Step, TaskFile, load

if TYPE_CHECKING:
    from rich.console import Console


def status(path: Path, workspace: Path, *, as_json: bool = False) -> int:
    """`ralph status`: every step with its state and ralph's last note; counts; warnings.

    Plain lines (styled on a terminal), not a rich table: 100k steps print in a second.
    """
    tf = _load(path, workspace)
    then = what_next(workspace, tf)
    if as_json:
        _echo_json(tf.to_json(then=then))
        return 0
    on = color()
    lines = [*_steps_lines(tf, on), _counts_text(tf, on)]
    lines += [paint(f"warning: {printable(str(w))}", "yellow", on) for w in tf.warnings]
    text, style = _next_text(tf, then)
    lines.append(paint(text, style, on))
    click.echo("\n".join(lines), color=on)
    return 0


def next_step(path: Path, workspace: Path, *, as_json: bool = False) -> int:
    """`ralph next`: the step the next run takes, with its context (or why there is none)."""
    tf = _load(path, workspace)
    then = what_next(workspace, tf)
    if as_json:
        _echo_json(tf.to_json(with_context=True, then=then))
        return 0
    console = _console()
    step = then.step
    if step is None:
        from rich.text import Text

        console.print(Text(*_next_text(tf, then)))
    else:
        _print_step(console, tf, step)
    _print_warnings(console, tf)
    return 0


def _load(path: Path, workspace: Path) -> TaskFile:
    """The plan, from the workspace's parse cache when its bytes have not changed."""
    from ralph.workspace import cache_dir

    return load(path, cache=cache_dir(workspace))


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _echo_json(data: dict[str, Any]) -> None:
    from ralph.cli.jsontext import indented

    click.echo(indented(data))


def _steps_lines(tf: TaskFile, on: bool) -> list[str]:
    """The title, a header and one line per step: line, state, indented box and text, note."""
    steps = tf.steps
    line_w = max(4, len(str(steps[-1].line)) if steps else 0)
    names = {s: s.replace("_", " ") for s in STATE_STYLES}
    state_w = max([5, *(len(names[state]) for state in {s.state for s in steps})])
    texts = ["  " * s.depth + ("[x] " if s.checked else "[ ] ") + printable(s.text) for s in steps]
    step_w = min(max([4, *map(len, texts)]), 60)
    head = f"{'line':>{line_w}}  {'state':<{state_w}}  {'step':<{step_w}}  last note"
    out = [printable(f"{tf.title}  ({tf.name})"), paint(head, "bold", on)]
    dim, undim = ("\x1b[2m", "\x1b[0m") if on else ("", "")
    cells = {  # the state column, painted once per state
        state: f"{undim}  {paint(f'{name:<{state_w}}', STATE_STYLES[state], on)}  "
        for state, name in names.items()
    }
    out += [
        (
            f"{dim}{s.line:>{line_w}}{cells[s.state]}{text:<{step_w}}"
            + (f"  {dim}{printable(s.note)}{undim}" if s.note else "")
        ).rstrip()
        for s, text in zip(steps, texts, strict=True)
    ]
    return out


def _counts_text(tf: TaskFile, on: bool) -> str:
    counts = tf.counts()
    parts = [f"{len(tf.steps)} steps"]
    for state in STATE_STYLES:
        if counts.get(state):
            parts.append(
                paint(f"{counts[state]} {state.replace('_', ' ')}", STATE_STYLES[state], on)
            )
    return " · ".join(parts)


def what_next(workspace: Path, tf: TaskFile) -> Next:
    """What `ralph run` takes next, with the workspace's approvals: the same function."""
    from ralph.guard.approvals import ApprovalStore

    return tf.what_next(ApprovalStore(workspace).status_of)


def _next_text(tf: TaskFile, then: Next) -> tuple[str, str]:
    """The line about the next step, and its style."""
    step = then.step
    if step is not None:
        return f"next: line {step.line}: {printable(step.text)}", ""
    if then.waiting is not None:
        return f"Nothing ralph can run: {printable(then.waiting_reason)}.", "yellow"
    if all(s.checked for s in tf.steps):
        return f"Nothing left to do: all {len(tf.steps)} steps are done.", "green"
    waiting = tf.stuck() or [s for s in tf.steps if not s.checked]
    lines = ", ".join(f"{s.line} ({s.state.replace('_', ' ')})" for s in waiting[:10])
    return (
        f"Nothing ralph can run: {len(waiting)} open step(s) wait for a person: line {lines}. "
        "To retry a blocked step, delete the `- ralph:` note under it.",
        "yellow",
    )


def _print_warnings(console: Console, tf: TaskFile) -> None:
    from rich.text import Text

    for w in tf.warnings:
        console.print(Text(f"warning: {w}", style="yellow"))


def _print_step(console: Console, tf: TaskFile, step: Step) -> None:
    from rich.text import Text

    console.print(Text(f"Next step: {tf.name}, line {step.line}", style="bold"))
    rows: list[tuple[str, str]] = []
    if step.headings:
        rows.append(("section", " › ".join(step.headings)))
    rows += [("within", p.replace("\n", " ")) for p in step.parents]
    rows.append(("step", step.text))
    rows += [("hint", h) for h in step.hints]
    rows += [("verify", v) for v in step.verify]
    rows += [(k, v) for k, v in step.settings.items() if k != "verify"]
    rows += [("details", d) for d in step.details]
    if step.note:
        rows.append(("last note", step.note))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        line = Text(f"  {key:<{width}}  ", style="dim")
        line.append(value)
        console.print(line)
