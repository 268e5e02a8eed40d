"""Git checkpoints for `--commit`: after a step is done, commit the workspace's changes.

It only ever adds one new commit on top of HEAD: it never forces, amends, resets or rewrites
history, and it refuses while a merge, rebase, cherry-pick, revert or bisect is in progress.
ralph's own state (`.ralph/`) is never committed. `preflight()` checks all of this before a
run starts, so a repository that cannot take checkpoints is an exit 2 before any work.
"""

from __future__ import annotations

from pathlib import Path

from ralph.errors import UsageError
from ralph.git import RALPH_EXCLUDES, Git, GitFailed, last_line

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
CommitFailed = GitFailed
"""git refused the checkpoint (a conflict in the index, a full disk, ...)."""


def preflight(workspace: Path, flag: str = "--commit") -> None:
    """Raise UsageError unless `workspace` can take checkpoint commits right now (the
    messages name `flag`, the option that needs them)."""
    git = Git(workspace)
    inside = git.run("rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != b"true":
        raise UsageError(
            f"{flag} needs a git repository, and {workspace} is not inside one "
            f"(run `git init` there, or run without {flag})"
        )
    _refuse_if_busy(git, flag)
    ident = git.run("var", "GIT_AUTHOR_IDENT", check=False)
    if ident.returncode != 0:
        raise UsageError(
            f"{flag}: git does not know who commits ({last_line(ident.stderr.decode())}); "
            'set it with `git config user.name "..."` and `git config user.email "..."`'
        )


def commit_step(workspace: Path, message: str) -> str | None:
    """Commit every change under `workspace` except `.ralph/` and temp files; return the
    short sha. Hooks never run (see `ralph.git`).

    Returns None when there is nothing to commit. Raises UsageError when the repository is
    not in a state to commit (see `preflight`), CommitFailed when git refuses the commit.
    """
    preflight(workspace)  # again: a person may have started a rebase since the run began
    git = Git(workspace)
    git.run("add", "--all", "--", ".", *RALPH_EXCLUDES)
    staged = git.run("diff", "--cached", "--quiet", "--no-ext-diff", "--no-textconv", check=False)
    if staged.returncode == 0:
        return None
    git.run("commit", "--quiet", "--no-verify", "-m", message.strip() or DEFAULT_MESSAGE)
    return git.text("rev-parse", "--short", "HEAD").strip()


def _refuse_if_busy(git: Git, flag: str) -> None:
    args = [arg for name in IN_PROGRESS for arg in ("--git-path", name)]
    paths = git.text("rev-parse", *args).splitlines()
    for name, path in zip(IN_PROGRESS, paths, strict=True):
        if (git.workspace / path).exists():  # relative paths are relative to the workspace
            raise UsageError(
                f"{flag}: {IN_PROGRESS[name]} is in progress in {git.workspace}; finish or "
                "abort it first (`git status` says how); ralph never commits in the middle"
            )
