"""What `ralph status` and `ralph next` print: a task file as a rich table, a step with its
context, or the same as JSON. Reads only; the parsing lives in `ralph.taskfile`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ralph.cli.render import STATE_STYLES
from ralph.taskfile import Next, Step, TaskFile, load

if TYPE_CHECKING:
    from rich.console import Console


def status(path: Path, *, as_json: bool = False) -> int:
    """`ralph status`: every step with its state and ralph's last note; counts; warnings."""
    tf = load(path)
    then = what_next(path, tf)
    if as_json:
        _echo_json(tf.to_json(then=then))
        return 0
    console = _console()
    console.print(_steps_table(tf))
    console.print(_counts_line(tf))
    _print_warnings(console, tf)
    console.print(_next_line(tf, then))
    return 0


def next_step(path: Path, *, as_json: bool = False) -> int:
    """`ralph next`: the step the next run takes, with its context (or why there is none)."""
    tf = load(path)
    then = what_next(path, tf)
    if as_json:
        _echo_json(tf.to_json(with_context=True, then=then))
        return 0
    console = _console()
    step = then.step
    if step is None:
        console.print(_next_line(tf, then))
    else:
        _print_step(console, tf, step)
    _print_warnings(console, tf)
    return 0


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _steps_table(tf: TaskFile) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{tf.title}  ({tf.name})"), title_justify="left", expand=False)
    table.add_column("line", justify="right", style="dim")
    table.add_column("state")
    table.add_column("step", overflow="fold")
    table.add_column("last note", style="dim", overflow="fold")
    for s in tf.steps:
        box = "[x] " if s.checked else "[ ] "
        text = Text("  " * s.depth + box + s.text.replace("\n", " "))
        table.add_row(
            str(s.line),
            Text(s.state.replace("_", " "), style=STATE_STYLES[s.state]),
            text,
            Text(s.note or ""),
        )
    return table


def _counts_line(tf: TaskFile) -> Any:
    from rich.text import Text

    counts = tf.counts()
    line = Text(f"{len(tf.steps)} steps")
    for state in STATE_STYLES:
        if counts.get(state):
            line.append(" · ")
            line.append(f"{counts[state]} {state.replace('_', ' ')}", STATE_STYLES[state])
    return line


def what_next(path: Path, tf: TaskFile) -> Next:
    """What `ralph run` takes next, with the workspace's approvals: the same function."""
    from ralph.guard.approvals import ApprovalStore
    from ralph.workspace import workspace_for

    return tf.what_next(ApprovalStore(workspace_for(None, path)).status_of)


def _next_line(tf: TaskFile, then: Next) -> Any:
    from rich.text import Text

    step = then.step
    if step is not None:
        return Text(f"next: line {step.line}: {step.text.replace(chr(10), ' ')}")
    if then.waiting is not None:
        return Text(f"Nothing ralph can run: {then.waiting_reason}.", style="yellow")
    waiting = [s for s in tf.steps if not s.checked]
    if not waiting:
        return Text(f"Nothing left to do: all {len(tf.steps)} steps are done.", style="green")
    lines = ", ".join(f"{s.line} ({s.state.replace('_', ' ')})" for s in waiting[:10])
    return Text(
        f"Nothing ralph can run: {len(waiting)} open step(s) wait for a person: line {lines}. "
        "To retry a blocked step, delete the `- ralph:` note under it.",
        style="yellow",
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
