"""Git checkpoints for `--commit`: after a step is done, commit the workspace's changes.

It only ever adds one new commit on top of HEAD: it never forces, amends, resets or rewrites
history, and it refuses while a merge, rebase, cherry-pick, revert or bisect is in progress.
ralph's own state (`.ralph/`) and the temp files of its atomic writes are never committed.
`preflight()` checks all of this before a run starts, so a repository that cannot take
checkpoints is an exit 2 before any work.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ralph.errors import RalphError, UsageError
from ralph.fsutil import TEMP_GLOB
from ralph.workspace import STATE_DIR

# `git rev-parse --git-path NAME` -> what is in progress while NAME exists.
IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase (or git am)",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
    "sequencer": "a cherry-pick or revert sequence",
    "BISECT_LOG": "a bisect",
}
DEFAULT_MESSAGE = "ralph: step done"
GIT_TIMEOUT_S = 300.0  # hooks run on commit; they may be slow, but not forever


class CommitFailed(RalphError):
    """git refused the checkpoint (a failing hook, a conflict in the index, ...)."""


def preflight(workspace: Path) -> None:
    """Raise UsageError unless `workspace` can take checkpoint commits right now."""
    inside = _git(workspace, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise UsageError(
            f"--commit needs a git repository, and {workspace} is not inside one "
            "(run `git init` there, or run without --commit)"
        )
    _refuse_if_busy(workspace)
    ident = _git(workspace, "var", "GIT_AUTHOR_IDENT", check=False)
    if ident.returncode != 0:
        raise UsageError(
            f"--commit: git does not know who commits ({_last_line(ident.stderr)}); "
            'set it with `git config user.name "..."` and `git config user.email "..."`'
        )


def commit_step(workspace: Path, message: str) -> str | None:
    """Commit every change under `workspace` except `.ralph/`; return the short sha.

    Returns None when there is nothing to commit. Raises UsageError when the repository is
    not in a state to commit (see `preflight`), CommitFailed when git refuses the commit.
    """
    preflight(workspace)  # again: a person may have started a rebase since the run began
    exclude = (f":(exclude){STATE_DIR}", f":(exclude,glob)**/{TEMP_GLOB}")
    _git(workspace, "add", "--all", "--", ".", *exclude)
    if _git(workspace, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return None
    _git(workspace, "commit", "--quiet", "-m", message.strip() or DEFAULT_MESSAGE)
    return _git(workspace, "rev-parse", "--short", "HEAD").stdout.strip()


def _refuse_if_busy(workspace: Path) -> None:
    args = [arg for name in IN_PROGRESS for arg in ("--git-path", name)]
    paths = _git(workspace, "rev-parse", *args).stdout.splitlines()
    for name, path in zip(IN_PROGRESS, paths, strict=True):
        if (workspace / path).exists():  # relative paths are relative to the workspace
            raise UsageError(
                f"--commit: {IN_PROGRESS[name]} is in progress in {workspace}; finish or "
                "abort it first (`git status` says how); ralph never commits in the middle"
            )


def _git(workspace: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
    except FileNotFoundError:
        if not workspace.is_dir():
            raise UsageError(f"--commit: the workspace {workspace} is not a folder") from None
        raise UsageError("--commit needs git, and git is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise CommitFailed(f"git {args[0]} took over {GIT_TIMEOUT_S:g}s; gave up") from None
    if check and done.returncode != 0:
        detail = _last_line(done.stderr) or _last_line(done.stdout) or f"exit {done.returncode}"
        raise CommitFailed(f"git {args[0]} failed in {workspace}: {detail}")
    return done


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
