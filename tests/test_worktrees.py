"""`ralph worktrees [--json]` lists the lanes; `ralph worktrees clean` removes merged ones only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def ralph(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ralph", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture
def repo(tmp_path: Path, git_home: Path) -> Path:
    ws = tmp_path / "repo"
    ws.mkdir()
    git(ws, "init", "-q", "-b", "main")
    (ws / ".gitignore").write_text(".ralph/\nbuild/\n")
    (ws / "a.txt").write_text("a\n")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "base")
    return ws


def lane(ws: Path, slug: str, *, commit: bool = False) -> Path:
    path = ws / ".ralph" / "worktrees" / slug
    git(ws, "worktree", "add", "-q", "-b", f"ralph/plan/{slug}", str(path), "main")
    if commit:
        (path / f"{slug}.txt").write_text(slug)
        git(path, "add", "-A")
        git(path, "commit", "-qm", slug)
    return path


def states(ws: Path) -> dict[str, tuple[str | None, str]]:
    done = ralph(ws, "worktrees", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["base"] == "main"
    return {Path(w["path"]).name: (w["branch"], w["state"]) for w in shown["worktrees"]}


def test_lists_lanes_with_branch_and_state(repo: Path) -> None:
    lane(repo, "merged-one", commit=True)
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "ralph/plan/merged-one")
    lane(repo, "open-one", commit=True)
    (lane(repo, "dirty-one") / "a.txt").write_text("changed\n")
    (lane(repo, "untracked-one") / "new.txt").write_text("x")
    built = lane(repo, "ignored-one") / "build"
    built.mkdir()
    (built / "out.bin").write_text("x")
    git(repo, "worktree", "add", "-q", "--detach", str(repo / ".ralph/worktrees/detached"))
    git(repo, "worktree", "add", "-q", "-b", "elsewhere", str(repo.parent / "not-a-lane"))
    assert states(repo) == {
        "merged-one": ("ralph/plan/merged-one", "merged"),
        "open-one": ("ralph/plan/open-one", "unmerged"),
        "dirty-one": ("ralph/plan/dirty-one", "dirty"),
        "untracked-one": ("ralph/plan/untracked-one", "dirty"),
        "ignored-one": ("ralph/plan/ignored-one", "dirty"),
        "detached": (None, "detached"),
    }
    text = ralph(repo, "worktrees")
    assert text.returncode == 0 and "unmerged" in text.stdout and "6 lane(s)" in text.stdout


def test_clean_removes_only_merged_clean_lanes(repo: Path) -> None:
    merged = lane(repo, "merged-one", commit=True)
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "ralph/plan/merged-one")
    unmerged = lane(repo, "open-one", commit=True)
    # merged branch, but a file nobody committed: kept
    dirty = lane(repo, "fresh")
    (dirty / "notes.txt").write_text("keep me")
    (repo / "untracked-in-main.txt").write_text("mine")
    done = ralph(repo, "worktrees", "clean", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert [Path(w["path"]).name for w in shown["removed"]] == ["merged-one"]
    assert sorted(Path(w["path"]).name for w in shown["kept"]) == ["fresh", "open-one"]
    assert not merged.exists()
    assert "ralph/plan/merged-one" not in git(repo, "branch", "--list")
    assert (unmerged / "open-one.txt").read_text() == "open-one"
    assert (dirty / "notes.txt").read_text() == "keep me"
    assert (repo / "untracked-in-main.txt").read_text() == "mine"
    assert "ralph/plan/open-one" in git(repo, "branch", "--list")
    assert states(repo) == {
        "fresh": ("ralph/plan/fresh", "dirty"),
        "open-one": ("ralph/plan/open-one", "unmerged"),
    }


def test_missing_lane_is_reported_not_removed(repo: Path) -> None:
    gone = lane(repo, "gone", commit=True)
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "ralph/plan/gone")
    subprocess.run(["rm", "-rf", str(gone)], check=True)
    assert states(repo) == {"gone": ("ralph/plan/gone", "missing")}
    shown = json.loads(ralph(repo, "worktrees", "clean", "--json").stdout)
    assert shown["removed"] == [] and len(shown["kept"]) == 1
    assert "ralph/plan/gone" in git(repo, "branch", "--list")


def test_bad_base_is_a_usage_error(repo: Path) -> None:
    done = ralph(repo, "worktrees", "--base", "nope")
    assert done.returncode == 2 and "--base" in done.stderr and "Traceback" not in done.stderr
    empty = ralph(repo, "worktrees")
    assert empty.returncode == 0 and "No lanes." in empty.stdout
