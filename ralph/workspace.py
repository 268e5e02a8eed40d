"""Where things live: the workspace root and ralph's state folder `.ralph/` inside it."""

from __future__ import annotations

from pathlib import Path

STATE_DIR = ".ralph"


def find_workspace(start: Path) -> Path:
    """Return the git root above `start` (a file or folder), else the folder itself."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


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
