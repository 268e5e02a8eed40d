"""`ralph undo [ID]`: put the workspace back as it was before a step (its snapshot)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ralph.cli.app import _WORKSPACE_DIR, _workspace, cli, state_dir_option
from ralph.errors import EXIT_FAILED, EXIT_OK, UsageError

SHOWN = 40  # paths listed per kind before "... and N more"


@cli.command()
@click.argument("snapshot_id", metavar="[ID]", required=False)
@click.option("--yes", is_flag=True, help="Do not ask before changing files.")
@click.option("--list", "list_only", is_flag=True, help="List the snapshots, newest first.")
@state_dir_option
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
def undo(snapshot_id: str | None, yes: bool, list_only: bool, workspace: Path | None) -> int:
    """Restore the workspace to a snapshot: the one before the last step, or ID.

    \b
    ralph takes a snapshot before each step; the step's note names it
    ("· snapshot 3a8ecbc8961f ·"). Files git ignores are not in snapshots and are left
    alone. ralph lists what it will overwrite, delete and bring back, and asks first
    (--yes to skip the question). It takes a snapshot of the present first, so an undo can
    be undone the same way.
    """
    from ralph.snapshot import Snapshots

    snapshots = Snapshots(_workspace(workspace))
    if list_only:
        for s in snapshots.list():
            click.echo(f"{s.short}  {s.when}  {s.label}")
        return EXIT_OK
    target = snapshots.find(snapshot_id)
    plan = snapshots.plan_restore(target)
    click.echo(f"Snapshot {target.short} ({target.when}): {target.label}")
    if plan.empty:
        click.echo("The workspace already matches it; nothing to do.")
        return EXIT_OK
    for verb, paths in (
        ("overwrite", plan.overwrite),
        ("delete", plan.delete),
        ("bring back", plan.restore),
    ):
        for path in paths[:SHOWN]:
            click.echo(f"  {verb:<10} {path}")
        if len(paths) > SHOWN:
            click.echo(f"  {verb:<10} ... and {len(paths) - SHOWN} more")
    for path in plan.skipped:
        click.echo(f"  {'skip':<10} {path} (a nested repository: not in snapshots)")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("not changing anything without a terminal to ask; pass --yes")
        if not click.confirm("Restore these files?", default=False):
            click.echo("Nothing changed.")
            return EXIT_FAILED
    left = snapshots.restore(plan)
    if left:
        click.echo(f"ralph: {len(left)} path(s) still differ: {', '.join(left[:5])}", err=True)
        return EXIT_FAILED
    click.echo(f"Restored snapshot {target.short}; to reverse: ralph undo {plan.before.short}")
    return EXIT_OK
