"""Where things live: the workspace root and ralph's state folder `.ralph/` inside it."""

from __future__ import annotations

from pathlib import Path

STATE_DIR = ".ralph"


def find_workspace(start: Path) -> Path:
    """Return the git root above `start` (a file or folder); outside git, the nearest folder
    above with a `ralph.toml` (a project `ralph init` set up); else the folder itself."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    above = (folder, *folder.parents)
    for marker in (".git", "ralph.toml"):
        for candidate in above:
            if (candidate / marker).exists():
                return candidate
    return folder


def workspace_for(option: Path | None, start: Path | None = None) -> Path:
    """The workspace a command works in: `--workspace` when given, else the one found above
    `start` (default: the current folder)."""
    return option.resolve() if option else find_workspace(start or Path.cwd())


def state_dir(workspace: Path) -> Path:
    """ralph's state folder for a workspace (locks, approvals, runs, audits). Not created here."""
    return workspace / STATE_DIR


def locks_dir(workspace: Path) -> Path:
    return state_dir(workspace) / "locks"


def approvals_dir(workspace: Path) -> Path:
    return state_dir(workspace) / "approvals"


def runs_dir(workspace: Path) -> Path:
    return state_dir(workspace) / "runs"


def audits_dir(workspace: Path) -> Path:
    return state_dir(workspace) / "audits"


def notified_dir(workspace: Path) -> Path:
    """What the last notification of each task file said (`ralph.notice`): one per approval."""
    return state_dir(workspace) / "notified"


def plan_key(taskfile: Path) -> str:
    """One file name per task file, whatever path reaches it (a symlink, `./`):
    `plan.md-<sha1 of the real path, 12 hex>`."""
    import hashlib
    import os

    real = os.path.realpath(taskfile)
    digest = hashlib.sha1(real.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{Path(real).name}-{digest}"


def cache_dir(workspace: Path) -> Path:
    """Caches that only save time (parsed task files): safe to delete at any moment."""
    return state_dir(workspace) / "cache"


def package_cache_dir(workspace: Path) -> Path:
    """The one folder of the state a sandboxed command may write: package caches (npm, pip,
    uv, cargo, go). Never ralph's own caches: those the agent must not be able to forge."""
    return state_dir(workspace) / "package-cache"


def keep_out_of_git(folder: Path) -> None:
    """ralph's state (locks, runs, approvals, caches) stays out of `git status` and commits."""
    import contextlib

    from ralph.fsutil import atomic_write_text

    ignore = folder / ".gitignore"
    if not ignore.exists():
        with contextlib.suppress(OSError):
            atomic_write_text(ignore, "*\n", durable=False)


def worktrees_dir(workspace: Path) -> Path:
    """Where parallel lanes live: one git worktree per step (`.ralph/worktrees/SLUG`)."""
    return state_dir(workspace) / "worktrees"
