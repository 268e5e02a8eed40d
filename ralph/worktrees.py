"""Lanes: the git worktrees under `.ralph/worktrees/`, their branches and their state.

Read from `git worktree list --porcelain` (through the hardened `ralph.git.Git`). A lane
is `merged` when its branch tip is in the base branch and its tree has no uncommitted
change and no untracked or ignored file (ralph's own `.ralph/` aside); only such lanes
are ever removed. Every other state keeps the lane: `unmerged` (commits the base lacks),
`dirty` (changes not committed), `detached` (no branch), `missing` (its folder is gone:
git can prune it, nothing is removed here).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ralph.errors import UsageError
from ralph.git import Git
from ralph.workspace import STATE_DIR, keep_out_of_git, state_dir, worktrees_dir


@dataclass(frozen=True)
class Lane:
    path: str
    branch: str | None  # short name, None when detached
    head: str
    state: str  # merged, unmerged, dirty, detached, missing
    changes: int  # uncommitted changes, untracked and ignored files (.ralph/ aside)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def base_branch(git: Git) -> str:
    """The branch checked out in the main checkout (the lanes' base)."""
    name = git.text("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
    if not name:
        raise UsageError(f"{git.workspace} has no branch checked out; give --base BRANCH")
    return name


def list_lanes(workspace: Path, base: str | None = None) -> tuple[str, list[Lane]]:
    """(base branch, the lanes under `.ralph/worktrees/`, in path order)."""
    git = Git(workspace)
    base = base or base_branch(git)
    if git.run("rev-parse", "--verify", "--quiet", f"refs/heads/{base}", check=False).returncode:
        raise UsageError(f"no branch {base!r} in {workspace}; give --base BRANCH")
    root = worktrees_dir(workspace).resolve()
    lanes = []
    for entry in _porcelain(git.text("worktree", "list", "--porcelain")):
        path = Path(entry["worktree"])
        if not path.is_relative_to(root) or path == root:
            continue
        lanes.append(_lane(git, base, path, entry))
    return base, sorted(lanes, key=lambda lane: lane.path)


def clean(workspace: Path, base: str | None = None) -> tuple[list[Lane], list[Lane]]:
    """Remove the merged lanes (worktree, then branch); return (removed, kept)."""
    base, lanes = list_lanes(workspace, base)
    removed, kept = [], []
    for lane in lanes:
        if lane.state == "merged" and remove_lane(workspace, Path(lane.path), base):
            removed.append(lane)
        else:
            kept.append(lane)
    return removed, kept


def remove_lane(workspace: Path, path: Path, base: str) -> bool:
    """Remove one lane (worktree, then branch) if it is merged into `base` and clean, as
    checked just now; False (nothing removed) otherwise."""
    git = Git(workspace)
    lane = _lane(git, base, path, None)
    if lane.state != "merged" or lane.branch is None:
        return False
    git.run("worktree", "remove", lane.path)  # no --force: git refuses a dirty tree too
    tip = git.text("rev-parse", f"refs/heads/{lane.branch}").strip()
    if _is_ancestor(git, tip, base):
        git.run("update-ref", "-d", f"refs/heads/{lane.branch}", tip)
    return True


def lane_names(plan_rel: str, step_text: str) -> tuple[str, str]:
    """(folder under `.ralph/worktrees/`, branch) of the lane for a step of the plan at
    `plan_rel`: `<plan-stem>-<step-slug>` and `ralph/<plan-slug>/<step-slug>` (as CI)."""
    from ralph.agent.draft import slug

    plan = Path(plan_rel)
    step = slug(step_text)
    return f"{slug(plan.stem)}-{step}", f"ralph/{slug(plan.with_suffix('').as_posix())}/{step}"


def create_lane(workspace: Path, folder: str, branch: str, base: str) -> Path:
    """Make the lane's worktree `.ralph/worktrees/FOLDER` on `branch` from commit `base`.

    A branch left from an earlier lane is never lost: one already merged into `base` is
    moved to it, one with commits `base` lacks is checked out as it is (its work goes on).
    """
    git = Git(workspace)
    path = worktrees_dir(workspace) / folder
    path.parent.mkdir(parents=True, exist_ok=True)
    keep_out_of_git(state_dir(workspace))
    ref = f"refs/heads/{branch}"
    if git.run("rev-parse", "--verify", "--quiet", ref, check=False).returncode:
        git.run("worktree", "add", "--quiet", "-b", branch, str(path), base)
    elif git.run("merge-base", "--is-ancestor", ref, base, check=False).returncode == 0:
        git.run("worktree", "add", "--quiet", "-B", branch, str(path), base)
    else:
        git.run("worktree", "add", "--quiet", str(path), branch)
    (path / STATE_DIR).mkdir(exist_ok=True)
    keep_out_of_git(path / STATE_DIR)  # the lane's own files stay out of its commits
    return path


def _lane(git: Git, base: str, path: Path, entry: dict[str, str] | None) -> Lane:
    if entry is None:  # look again, just before removing
        listed = _porcelain(git.text("worktree", "list", "--porcelain"))
        entry = next((e for e in listed if Path(e["worktree"]) == path), {"worktree": str(path)})
    ref = entry.get("branch", "")
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    head = entry.get("HEAD", "")
    if not path.is_dir() or "prunable" in entry:
        return Lane(str(path), branch, head, "missing", 0)
    changes = _changes(git, path)
    if changes:
        state = "dirty"
    elif branch is None:
        state = "detached"
    elif head and _is_ancestor(git, head, base):
        state = "merged"
    else:
        state = "unmerged"
    return Lane(str(path), branch, head, state, changes)


def _changes(git: Git, path: Path) -> int:
    out = Git(path).text(
        "status", "--porcelain=v1", "-z", "--ignored=matching", "--untracked-files=all"
    )
    entries = [e for e in out.split("\0") if len(e) > 3]
    return sum(not e[3:].startswith(f"{STATE_DIR}/") for e in entries)


def _is_ancestor(git: Git, commit: str, base: str) -> bool:
    done = git.run("merge-base", "--is-ancestor", commit, f"refs/heads/{base}", check=False)
    return done.returncode == 0


def _porcelain(text: str) -> list[dict[str, str]]:
    """`git worktree list --porcelain` as one dict per worktree (flag lines map to "")."""
    out: list[dict[str, str]] = []
    for block in text.strip().split("\n\n"):
        entry: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            entry[key] = value
        if "worktree" in entry:
            out.append(entry)
    return out
