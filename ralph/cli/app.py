"""The click group and the console entry point: the one place where harness errors
become a message on stderr and an exit code.

Heavy modules (model SDKs, the shell parser) are imported inside the commands that use
them, so `ralph --help`, `ralph --version` and `ralph status` start fast.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TypeVar

import click

from ralph import __version__
from ralph.config import debug
from ralph.errors import EXIT_FAILED, RalphError, storage_error
from ralph.guard import MODES
from ralph.workspace import STATE_DIR_ENV

F = TypeVar("F")

_STATE_DIR = click.Path(file_okay=False, path_type=Path)
_STATE_HELP = "Keep ralph's state (approvals, runs, locks, caches) in DIR instead of .ralph/."


def _choose_state(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """`--state-dir` before the command (or RALPH_STATE_DIR): the state folder for this
    invocation, forgotten when it ends (tests run many invocations in one process)."""
    from ralph.workspace import choose_state_dir

    if value is None and ctx.parent is not None:
        return  # not given to the command: the group's choice (flag or env) stands
    choose_state_dir(value)
    ctx.call_on_close(lambda: choose_state_dir(None))


def state_dir_option(f: F) -> F:
    """`--state-dir DIR` on a command that reads or writes ralph's state (one home)."""
    option = click.option(
        "--state-dir",
        type=_STATE_DIR,
        metavar="DIR",
        expose_value=False,
        callback=_choose_state,
        help=f"{_STATE_HELP} [env RALPH_STATE_DIR]",
    )
    return option(f)  # type: ignore[no-any-return]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ralph")
@click.option(
    "--state-dir",
    type=_STATE_DIR,
    metavar="DIR",
    envvar=STATE_DIR_ENV,
    expose_value=False,
    callback=_choose_state,
    help=f"{_STATE_HELP} Also accepted after the command. [env RALPH_STATE_DIR]",
)
def cli() -> None:
    """Drive a coding agent through a markdown plan, one step per fresh session.

    \b
    Exit codes:
      0   step done, or every step is done
      1   the attempt failed, or only blocked steps are left, or a write failed
          during the run (disk full, I/O error; the message says which file)
      2   usage, input or configuration error, or a task file or .ralph/ that
          ralph cannot write (found before the run starts)
      3   stopped: a step waits for a person's approval
      75  another run holds the lock (try again later)
      130 interrupted with Ctrl-C (the running call finished; the attempt is noted)
      143 stopped by SIGTERM, 129 by SIGHUP (the running call is stopped at once,
          its command's process group killed; the attempt is noted, the record closed)
    """


def _workspace(option: Path | None) -> Path:
    from ralph.workspace import workspace_for

    return workspace_for(option)


_MODES = click.Choice(MODES)


_WORKSPACE_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


def task_workspace_option(f: F) -> F:
    """`--workspace DIR` on a command that takes TASKFILE (run, audit, status, next...)."""
    option = click.option(
        "--workspace",
        type=_WORKSPACE_DIR,
        help="Default: git root above TASKFILE, else the ralph.toml folder, else its folder.",
    )
    return option(f)  # type: ignore[no-any-return]


def main() -> None:
    """Console entry point: a RalphError becomes one line on stderr and an exit code."""
    try:
        rv = cli.main(prog_name="ralph", standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C (click turns KeyboardInterrupt into Abort)
        click.echo(stamped("ralph: aborted"), err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except RalphError as e:
        if debug():
            raise
        _say(f"ralph: {e}")
        sys.exit(e.exit_code)
    except OSError as e:  # a write no one turned into a StorageError: still one line
        if debug():
            raise
        _say(f"ralph: {storage_error(e, verb=None)}")
        sys.exit(EXIT_FAILED)
    # Commands return their exit code (an int) or None for success.
    sys.exit(rv if isinstance(rv, int) else 0)


def _say(line: str) -> None:
    """The last word on stderr; if even stderr cannot be written (a full disk under
    cron.log), the exit code says it alone."""
    with contextlib.suppress(OSError):
        click.echo(stamped(line), err=True)


def stamped(line: str) -> str:
    """A line for stderr: off a terminal (cron.log, a journal) it starts with the UTC time,
    like every line of a run, so a log shows when ralph stopped and why."""
    import time

    if sys.stderr.isatty():
        return line
    return time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + line
