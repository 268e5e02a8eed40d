"""The command line: everything that parses flags or prints.

`app` holds the click group and `main()`; `commands` and `run` register their commands
on it; the other modules render (status, check, approvals, runs, the live view) or set
a project up (`init`).
"""

from ralph.cli import commands, hooks, merge, run, undo  # noqa: F401  (registers the commands)
from ralph.cli.app import cli, main

__all__ = ["cli", "main"]
