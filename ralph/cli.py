"""The command line: parses flags, calls into the loop and engines, and is the one place
where harness errors become a message on stderr and an exit code.

Heavy modules (model SDKs, the shell parser) are imported inside the commands that use
them, so `ralph --help`, `ralph --version` and `ralph status` start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ralph import __version__
from ralph.errors import RalphError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ralph")
def cli() -> None:
    """Drive a coding agent through a markdown plan, one step per fresh session.

    \b
    Exit codes:
      0   step done, or nothing left to do
      1   the attempt failed or the step is blocked
      2   usage, input or configuration error
      3   stopped: a step waits for a person's approval
      75  another run holds the lock (try again later)
    """


@cli.command()
@click.argument("taskfile", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(taskfile: Path, as_json: bool) -> int:
    """Show every step of TASKFILE: line, state, text and ralph's last note."""
    from ralph import taskview

    return taskview.status(taskfile, as_json=as_json)


@cli.command("next")
@click.argument("taskfile", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the step's context).")
def next_cmd(taskfile: Path, as_json: bool) -> int:
    """Show the step the next run of TASKFILE takes, with its context."""
    from ralph import taskview

    return taskview.next_step(taskfile, as_json=as_json)


def main() -> None:
    """Console entry point: a RalphError becomes one line on stderr and an exit code."""
    try:
        rv = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except RalphError as e:
        if os.environ.get("RALPH_DEBUG"):
            raise
        click.echo(f"ralph: {e}", err=True)
        sys.exit(e.exit_code)
    # Commands return their exit code (an int) or None for success.
    sys.exit(rv if isinstance(rv, int) else 0)
