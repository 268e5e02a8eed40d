"""Where things live: the workspace root and ralph's state folder (`.ralph/` inside it, or
the folder `--state-dir` / `RALPH_STATE_DIR` names, e.g. a CI cache).

`state_dir()` is the one place that decides where the state is; every other folder of the
state (locks, approvals, runs, audits, caches, lanes) is below it.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR = ".ralph"
STATE_DIR_ENV = "RALPH_STATE_DIR"
LANE_HOME_ENV = "RALPH_LANE_HOME"
"""The main checkout, as `ralph run --parallel` names it to its lanes (`lane_home`)."""

_chosen: Path | None = None
"""The state folder `--state-dir`/`RALPH_STATE_DIR` chose for this process, if any."""


def choose_state_dir(folder: str | os.PathLike[str] | None) -> None:
    """Keep every workspace's state in `folder` from now on (None: back to `.ralph/`). A
    relative folder is taken from the current folder, `~` is the home folder; the person
    named it, so a symlink in it is resolved now, once."""
    global _chosen
    if folder is None or not os.fspath(folder):
        _chosen = None
        return
    _chosen = Path(os.path.realpath(os.path.expanduser(os.fspath(folder))))


def chosen_state_dir() -> Path | None:
    """The state folder chosen with `--state-dir`/`RALPH_STATE_DIR`, or None (`.ralph/`)."""
    return _chosen


def find_workspace(start: Path) -> Path:
    """Return the git root above `start` (a file or folder); outside git, the nearest folder
    above with a `ralph.toml` (a project `ralph init` set up); else the folder itself.

    A file counts where it is named (made absolute, no symlink followed): a task file that
    is a link to a file elsewhere, or sits in a linked folder, does not move the workspace
    there. A folder is resolved. The root is returned with its own symlinks resolved."""
    named = Path(os.path.abspath(start))
    folder = Path(os.path.realpath(named)) if named.is_dir() else named.parent
    above = (folder, *folder.parents)
    for marker in (".git", "ralph.toml"):
        for candidate in above:
            if (candidate / marker).exists():
                return Path(os.path.realpath(candidate))
    return Path(os.path.realpath(folder))


def workspace_for(option: Path | None, start: Path | None = None) -> Path:
    """The workspace a command works in: `--workspace` when given, else the one found above
    `start` (a task file; default: the current folder). A task file found that way must
    really be inside it (`require_inside`)."""
    if option is not None:
        workspace = option.resolve()
    else:
        workspace = find_workspace(start or Path.cwd())
        if start is not None:
            require_inside(start, workspace)
    _require_state_apart(workspace)
    return workspace


def _require_state_apart(workspace: Path) -> None:
    """UsageError when the chosen state folder is the workspace or a folder above it (its
    approvals and caches would be the agent's files), unless the workspace is a lane's
    worktree under `<state>/worktrees/`."""
    state = _chosen
    if state is None or not workspace.is_relative_to(state):
        return
    lanes = worktrees_dir(workspace)
    if workspace.is_relative_to(lanes) and workspace != lanes:
        return
    from ralph.errors import UsageError

    raise UsageError(
        f"the state folder {state} holds the workspace {workspace}: give --state-dir (or "
        "RALPH_STATE_DIR) a folder outside it, or one inside it such as .ralph-state"
    )


def require_inside(task_file: Path, workspace: Path) -> None:
    """UsageError when `task_file` (a symlink, or in a linked folder) resolves outside the
    workspace: ralph would check boxes and write notes in a file of another tree."""
    real = os.path.realpath(task_file)
    root = os.path.realpath(workspace)
    if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
        return
    from ralph.errors import UsageError

    raise UsageError(
        f"the task file {task_file} resolves to {real}, outside the workspace {root}: "
        "keep the file in the workspace (a link may point into it, not out), or pass "
        "--workspace DIR to name the workspace yourself"
    )


def state_dir(workspace: Path) -> Path:
    """ralph's state folder for a workspace (locks, approvals, runs, audits): the one chosen
    with `--state-dir`, else `.ralph/` in the workspace. Not created here."""
    return _chosen if _chosen is not None else workspace / STATE_DIR


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


def run_writes(workspace: Path, taskfile: Path) -> tuple[Path, ...]:
    """What a run must be able to write: the task file's folder (an atomic write makes a
    temp file beside it), the task file, and ralph's state folders (locks, records,
    approvals)."""
    real = Path(os.path.realpath(taskfile))
    state = (state_dir(workspace), locks_dir(workspace), runs_dir(workspace))
    return (real.parent, real, *state, approvals_dir(workspace))


def keep_out_of_git(folder: Path) -> None:
    """ralph's state (locks, runs, approvals, caches) stays out of `git status` and commits."""
    import contextlib

    from ralph.fsutil import atomic_write_text

    ignore = folder / ".gitignore"
    if not ignore.exists():
        with contextlib.suppress(OSError):
            atomic_write_text(ignore, "*\n", durable=False)


def worktrees_dir(workspace: Path) -> Path:
    """Where parallel lanes live: one git worktree per step (`<state>/worktrees/SLUG`)."""
    return state_dir(workspace) / "worktrees"


def lane_home(workspace: Path) -> Path | None:
    """The main checkout a lane's worktree belongs to (`RALPH_LANE_HOME`, which `ralph run
    --parallel` sets for its lanes), when `workspace` really is a lane's worktree: a folder
    right under `<state>/worktrees/` of the chosen state. Else None."""
    home = os.environ.get(LANE_HOME_ENV, "")
    if _chosen is None or not os.path.isabs(home):
        return None
    real = Path(os.path.realpath(workspace))
    if real.parent != Path(os.path.realpath(worktrees_dir(real))):
        return None
    return Path(os.path.realpath(home))
