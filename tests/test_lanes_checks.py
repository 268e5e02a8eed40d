"""What `ralph run --parallel` checks around its lanes: a clean checkout, and the trust a
lane's worktree inherits from the main checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ralph import trust
from ralph.errors import UsageError
from ralph.lanes.checks import require_clean, trust_like
from ralph.worktrees import create_lane


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path, git_home: Path) -> Path:
    ws = tmp_path / "repo"
    (ws / "policies").mkdir(parents=True)
    git(ws, "init", "-q", "-b", "main")
    (ws / "plan.md").write_text("- [ ] one\n")
    (ws / "a.txt").write_text("a\n")
    (ws / "policies" / "mine.toml").write_text("version = 1\n")
    (ws / "ralph.toml").write_text('policy = "policies/mine.toml"\n')
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "base")
    return ws


def test_only_tracked_changes_besides_the_plan_are_refused(repo: Path) -> None:
    (repo / "plan.md").write_text("- [ ] one\n  - ralph: failed (attempt 1/3) · x\n")
    (repo / "new.txt").write_text("untracked\n")
    require_clean(repo, "plan.md")  # ralph's notes and untracked files are fine
    git(repo, "mv", "a.txt", "b.txt")
    with pytest.raises(UsageError, match=r"uncommitted changes \(b.txt\)"):
        require_clean(repo, "plan.md")


def test_a_lane_inherits_trust_only_for_the_same_settings(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    lane = create_lane(repo, "plan-one", "ralph/plan/one", head)
    trust_like(repo, lane)
    assert trust.changes(lane)  # the main checkout is not trusted: neither is the lane
    trust.trust(repo)
    trust_like(repo, lane)
    assert trust.changes(lane) == []
    other = create_lane(repo, "plan-two", "ralph/plan/two", head)
    (other / "policies" / "mine.toml").write_text("version = 1\n# changed in the lane\n")
    trust_like(repo, other)
    assert trust.changes(other)  # a different policy file is never trusted for it
