"""Merge-back (ralph.lanes.merge) against real git repositories in tmp_path, fake HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from ralph.lanes.merge import MergeResult, commit_lane, merge_lane
from tests.gitrepo import git, make_repo

PLAN = "plan.md"
PLAN_TEXT = "# Plan\n\n- [ ] one\n- [ ] two\n"


@pytest.fixture
def repo(tmp_path: Path, git_home: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {".gitignore": ".ralph/\nbuild/\n*.log\n", "a.txt": "one\ntwo\nthree\n", PLAN: PLAN_TEXT},
    )


def lane(ws: Path, slug: str) -> Path:
    path = ws / ".ralph" / "worktrees" / slug
    git(ws, "worktree", "add", "-q", "-b", f"ralph/plan/{slug}", str(path), "main")
    return path


def worked(ws: Path, slug: str, files: dict[str, str]) -> Path:
    """A lane that wrote `files` and was committed with commit_lane."""
    wt = lane(ws, slug)
    for name, text in files.items():
        (wt / name).write_text(text)
    assert commit_lane(wt, PLAN, slug)
    return wt


def snapshot(ws: Path) -> dict[str, bytes]:
    """Every file of the main checkout (tracked, untracked, ignored; .git, .ralph aside)."""
    skip = (ws / ".git", ws / ".ralph")
    return {
        str(p.relative_to(ws)): p.read_bytes()
        for p in sorted(ws.rglob("*"))
        if p.is_file() and not any(p.is_relative_to(s) for s in skip)
    }


def merge(ws: Path, slug: str, **kw: object) -> MergeResult:
    args: dict[str, object] = {"base": "main", "plan_rel": PLAN, "message": f"merge {slug}"}
    return merge_lane(ws, branch=f"ralph/plan/{slug}", **(args | kw))  # type: ignore[arg-type]


def head(ws: Path) -> str:
    return git(ws, "rev-parse", "HEAD").strip()


def test_commit_lane_commits_work_but_not_the_plan_or_state(repo: Path) -> None:
    wt = lane(repo, "one")
    (wt / "new.txt").write_text("new\n")
    (wt / PLAN).write_text(PLAN_TEXT.replace("[ ] one", "[x] one"))
    (wt / ".ralph").mkdir()
    (wt / ".ralph" / "state.json").write_text("{}")
    sha = commit_lane(wt, PLAN, "ralph: step one")
    assert sha is not None and git(wt, "rev-parse", "HEAD").strip() == sha
    assert git(wt, "show", "--name-only", "--format=", sha).split() == ["new.txt"]
    assert (wt / PLAN).read_text() == PLAN_TEXT  # put back as the lane's base had it
    assert git(wt, "status", "--porcelain") == ""
    assert commit_lane(wt, PLAN, "again") is None  # nothing left to commit


def test_clean_merge_makes_a_merge_commit_and_keeps_the_plans_notes(repo: Path) -> None:
    wt = lane(repo, "one")
    (wt / "one.txt").write_text("1\n")
    (wt / PLAN).write_text("# lane's copy\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", "lane one")  # even a committed lane plan is never merged
    noted = PLAN_TEXT.replace("- [ ] one\n", "- [ ] one\n  - ralph: failed (attempt 1/3)\n")
    (repo / PLAN).write_text(noted)  # ralph's uncommitted note in the main checkout
    before = head(repo)
    result = merge(repo, "one", verify=lambda ws: (True, "passed"))
    assert result.outcome == "merged" and result.sha == head(repo)
    parents = git(repo, "rev-list", "--parents", "-n1", "HEAD").split()[1:]
    assert parents == [before, git(repo, "rev-parse", "ralph/plan/one").strip()]
    assert (repo / "one.txt").read_text() == "1\n"
    assert (repo / PLAN).read_text() == noted
    assert git(repo, "show", f"HEAD:{PLAN}") == PLAN_TEXT
    assert git(repo, "status", "--porcelain") == f" M {PLAN}\n"
    assert not git(repo, "for-each-ref", "refs/ralph/")  # the saved tip is gone again


def test_two_lanes_on_one_line_first_merges_second_conflicts(repo: Path) -> None:
    for slug, word in (("one", "TWO"), ("two", "deux")):
        wt = lane(repo, slug)
        (wt / "a.txt").write_text(f"one\n{word}\nthree\n")
        assert commit_lane(wt, PLAN, slug)
    assert merge(repo, "one").outcome == "merged"
    tip, files = head(repo), snapshot(repo)
    second = merge(repo, "two")
    assert second.outcome == "conflict" and second.sha is None
    assert "a.txt" in second.detail and "ralph/plan/two" in second.detail
    assert head(repo) == tip and snapshot(repo) == files
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "--verify", "ralph/plan/two")  # the branch is kept


def test_verify_failure_restores_base_exactly(repo: Path) -> None:
    wt = lane(repo, "one")
    (wt / "a.txt").write_text("one\nTWO\nthree\n")
    (wt / "added").mkdir()
    (wt / "added" / "x.py").write_text("x\n")
    git(wt, "rm", "-q", ".gitignore")
    assert commit_lane(wt, PLAN, "one")
    noted = PLAN_TEXT + "  - ralph: done · note\n"
    (repo / PLAN).write_text(noted)
    (repo / "mine.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored\n")
    tip, files = head(repo), snapshot(repo)
    seen = {}

    def verify(ws: Path) -> tuple[bool, str]:
        seen["a"] = (ws / "a.txt").read_text()
        (ws / "a.txt").write_text("scribbled by the test suite\n")  # verify dirtied a file
        return False, "`pytest` exited 1"

    result = merge(repo, "one", verify=verify)
    assert seen["a"] == "one\nTWO\nthree\n"  # verify saw the merged result
    assert result.outcome == "verify_failed" and "pytest" in result.detail
    assert head(repo) == tip and git(repo, "rev-parse", "main").strip() == tip
    assert snapshot(repo) == files
    assert not (repo / "added").exists()
    assert git(repo, "status", "--porcelain") == f" M {PLAN}\n?? mine.txt\n"
    assert git(repo, "rev-parse", "--verify", "ralph/plan/one")


def test_verify_that_raises_restores_base_and_raises(repo: Path) -> None:
    worked(repo, "one", {"b.txt": "b\n"})
    tip, files = head(repo), snapshot(repo)

    def verify(ws: Path) -> tuple[bool, str]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        merge(repo, "one", verify=verify)
    assert head(repo) == tip and snapshot(repo) == files


def test_untracked_files_survive_and_a_clash_is_a_conflict(repo: Path) -> None:
    worked(repo, "one", {"lane.txt": "lane\n"})
    (repo / "notes.txt").write_text("mine\n")
    (repo / "build").mkdir()
    (repo / "build" / "cache.bin").write_text("ignored\n")
    assert merge(repo, "one").outcome == "merged"
    assert (repo / "notes.txt").read_text() == "mine\n"
    assert (repo / "build" / "cache.bin").read_text() == "ignored\n"

    for slug, path in (("two", "clash.txt"), ("three", "trace.log"), ("four", "build/x/y")):
        wt = lane(repo, slug)
        (wt / path).parent.mkdir(parents=True, exist_ok=True)
        (wt / path).write_text("the lane's\n")
        git(wt, "add", "-f", path)
        git(wt, "commit", "-qm", slug)
    (repo / "clash.txt").write_text("the user's\n")  # untracked
    (repo / "trace.log").write_text("the user's\n")  # ignored: git merge would overwrite it
    (repo / "build" / "x").write_text("the user's\n")  # a file where the lane needs a folder
    for slug, path in (("two", "clash.txt"), ("three", "trace.log"), ("four", "build/x")):
        tip, files = head(repo), snapshot(repo)
        result = merge(repo, slug)
        assert result.outcome == "conflict", result
        assert repr(path) in result.detail
        assert (repo / path).read_text() == "the user's\n"
        assert head(repo) == tip and snapshot(repo) == files


def test_local_change_to_a_file_the_lane_changed_is_a_conflict(repo: Path) -> None:
    worked(repo, "one", {"a.txt": "lane\n"})
    (repo / "a.txt").write_text("the user is editing\n")
    tip = head(repo)
    result = merge(repo, "one")
    assert result.outcome == "conflict" and "local changes" in result.detail
    assert head(repo) == tip and (repo / "a.txt").read_text() == "the user is editing\n"


def test_ff_mode(repo: Path) -> None:
    worked(repo, "one", {"one.txt": "1\n"})
    lane_tip = git(repo, "rev-parse", "ralph/plan/one").strip()
    result = merge(repo, "one", how="ff")
    assert result.outcome == "merged" and head(repo) == lane_tip  # no merge commit

    worked(repo, "two", {"two.txt": "2\n"})
    (repo / "main.txt").write_text("moved on\n")
    git(repo, "add", "main.txt")
    git(repo, "commit", "-qm", "base moved on")
    tip, files = head(repo), snapshot(repo)
    result = merge(repo, "two", how="ff")
    assert result.outcome == "conflict" and "fast-forward" in result.detail
    assert head(repo) == tip and snapshot(repo) == files


def test_ff_with_a_lane_plan_puts_the_base_plan_back_on_top(repo: Path) -> None:
    wt = lane(repo, "one")
    (wt / "one.txt").write_text("1\n")
    (wt / PLAN).write_text("# the lane's plan\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", "lane with its plan")
    result = merge(repo, "one", how="ff")
    assert result.outcome == "merged"
    assert (
        git(repo, "rev-parse", "HEAD~1").strip() == git(repo, "rev-parse", "ralph/plan/one").strip()
    )
    assert (repo / PLAN).read_text() == PLAN_TEXT and (repo / "one.txt").exists()


def test_nothing_to_merge_is_empty(repo: Path) -> None:
    lane(repo, "one")
    result = merge(repo, "one", verify=lambda ws: (True, "passed"))
    assert result.outcome == "empty" and result.merged and result.sha is None
    failed = merge(repo, "one", verify=lambda ws: (False, "`make` exited 2"))
    assert failed.outcome == "verify_failed" and not failed.merged


def test_a_merge_driver_from_config_never_runs(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "driver-ran"
    git(repo, "config", "merge.evil.driver", f"touch {marker}; false")
    (repo / ".gitattributes").write_text("a.txt merge=evil\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    worked(repo, "one", {"a.txt": "one\nTWO\nthree\n"})
    (repo / "a.txt").write_text("ONE\ntwo\nthree\n")
    git(repo, "commit", "-qam", "base edits a.txt too")
    result = merge(repo, "one")
    assert result.outcome == "conflict" and not marker.exists()


def test_wrong_branch_checked_out_or_missing_branch_is_a_usage_error(repo: Path) -> None:
    from ralph.errors import UsageError

    lane(repo, "one")
    with pytest.raises(UsageError, match="no branch"):
        merge(repo, "nope")
    git(repo, "checkout", "-q", "-b", "other")
    with pytest.raises(UsageError, match="check out main"):
        merge(repo, "one")
    with pytest.raises(UsageError, match="unknown merge mode"):
        merge(repo, "one", how="squash")


def test_pr_mode_pushes_and_opens_a_pr_through_the_guard(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    from ralph.guard.approvals import ApprovalStore
    from ralph.guard.gate import Guard
    from ralph.lanes.merge import Publisher
    from tests.guard_workspace import DEFAULT_POLICY

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    bin_dir, calls = tmp_path / "bin", tmp_path / "gh-calls"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {calls}\necho https://example.com/pull/7\n'
    )
    (bin_dir / "gh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    worked(repo, "one", {"one.txt": "1\n"})
    tip, files = head(repo), snapshot(repo)
    publish = Publisher(Guard(DEFAULT_POLICY, repo, "unattended"), title="ralph: one")
    store = ApprovalStore(repo)

    def approve(result: MergeResult, command: str) -> None:
        assert result.outcome == "awaiting_approval", result
        assert command in result.detail
        found = re.search(r"awaiting approval (\S+):", result.detail)
        assert found is not None and found.group(1) == result.approval_id
        store.approve(result.approval_id)

    first = merge(repo, "one", how="pr", publish=publish)
    approve(first, "`git push origin ralph/plan/one`")  # the default policy asks first
    assert git(repo, "ls-remote", str(remote)) == "" and not calls.exists()
    second = merge(repo, "one", how="pr", publish=publish)
    assert "ralph/plan/one" in git(repo, "ls-remote", str(remote))  # approved: pushed
    approve(second, "`gh pr create --head ralph/plan/one --base main")
    third = merge(repo, "one", how="pr", publish=publish)  # the push is not asked again
    assert third.outcome == "pushed" and "https://example.com/pull/7" in third.detail
    assert calls.read_text().startswith("pr create --head ralph/plan/one --base main")
    assert head(repo) == tip and snapshot(repo) == files  # pr mode never changes the base
