"""`ralph merge`: lane branches as CI lane jobs push them, merged back in plan order."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ralph import taskfile
from ralph.lanes.plan_merge import merge_plan
from tests.gitrepo import git, make_repo

PLAN = """\
# Plan

- [ ] Build the parts
  - parallel: yes
  - [ ] add alpha
    - verify: `test -f alpha.txt`
  - [ ] add beta
    - verify: `test -f beta.txt`
  - [ ] add gamma
- [ ] Ship it
"""
WHEN = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


@pytest.fixture
def repo(tmp_path: Path, git_home: Path) -> Path:
    return make_repo(
        tmp_path / "repo", {".gitignore": ".ralph/\n", "plan.md": PLAN, "shared.txt": "one\ntwo\n"}
    )


def ci_lane(ws: Path, step_text: str, files: dict[str, str], outcome: str = "done") -> str:
    """What a CI lane job leaves: branch ralph/plan/<slug> from main with the step's work
    and its outcome in the lane's copy of the plan, all committed."""
    slug = step_text.replace(" ", "-")
    branch = f"ralph/plan/{slug}"
    wt = ws.parent / f"lane-{slug}"
    git(ws, "worktree", "add", "-q", "-b", branch, str(wt), "main")
    for name, text in files.items():
        (wt / name).write_text(text)
    tf = taskfile.load(wt / "plan.md")
    step = next(s for s in tf.steps if s.text == step_text)
    details = taskfile.note_details(f"did {step_text}", when=WHEN, turns=2)
    approval = "a1b2c3" if outcome == "awaiting_approval" else None
    taskfile.record_outcome(wt / "plan.md", step, outcome, details, approval_id=approval)
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", f"ralph: step {slug}")
    return branch


def run_verify(step: taskfile.Step):  # type: ignore[no-untyped-def]
    if not step.verify:
        return None

    def verify(ws: Path) -> tuple[bool, str]:
        done = subprocess.run(["bash", "-c", " && ".join(step.verify)], cwd=ws)
        return done.returncode == 0, "passed" if done.returncode == 0 else "exited 1"

    return verify


def test_two_siblings_on_adjacent_lines_both_merge_and_the_plan_ends_exactly_right(
    repo: Path,
) -> None:
    ci_lane(repo, "add alpha", {"alpha.txt": "a\n"})
    ci_lane(repo, "add beta", {"beta.txt": "b\n"})
    results = merge_plan(repo, repo / "plan.md", base="main", verify_for=run_verify)
    assert [(r.step, r.outcome) for r in results] == [
        ("add alpha", "merged"),
        ("add beta", "merged"),
    ]
    want = PLAN.replace(
        "  - [ ] add alpha\n    - verify: `test -f alpha.txt`\n",
        "  - [x] add alpha\n"
        "    - ralph: done · 2026-01-02 03:04 UTC · 2 turns · did add alpha\n"
        "    - verify: `test -f alpha.txt`\n",
    ).replace(
        "  - [ ] add beta\n    - verify: `test -f beta.txt`\n",
        "  - [x] add beta\n"
        "    - ralph: done · 2026-01-02 03:04 UTC · 2 turns · did add beta\n"
        "    - verify: `test -f beta.txt`\n",
    )
    assert (repo / "plan.md").read_text() == want
    assert git(repo, "show", "HEAD:plan.md") == want  # committed
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "alpha.txt").exists() and (repo / "beta.txt").exists()
    assert results[1].sha == git(repo, "rev-parse", "HEAD").strip()
    for branch in ("ralph/plan/add-alpha", "ralph/plan/add-beta"):
        git(repo, "merge-base", "--is-ancestor", branch, "main")  # merged: ancestors of main


def test_the_last_sibling_checks_the_parent_too(repo: Path) -> None:
    for text, name in (("add alpha", "alpha"), ("add beta", "beta"), ("add gamma", "gamma")):
        ci_lane(repo, text, {f"{name}.txt": name})
    assert all(r.merged for r in merge_plan(repo, repo / "plan.md", base="main"))
    tf = taskfile.load(repo / "plan.md")
    assert [s.checked for s in tf.steps] == [True, True, True, True, False]


def test_a_conflict_keeps_the_branch_and_notes_it(repo: Path) -> None:
    ci_lane(repo, "add alpha", {"shared.txt": "one\nALPHA\n"})
    ci_lane(repo, "add beta", {"shared.txt": "one\nBETA\n"})
    results = merge_plan(repo, repo / "plan.md", base="main")
    assert [r.outcome for r in results] == ["merged", "conflict"]
    assert (repo / "shared.txt").read_text() == "one\nALPHA\n"
    beta = next(s for s in taskfile.load(repo / "plan.md").steps if s.text == "add beta")
    assert not beta.checked and beta.state == "failed"
    assert beta.note is not None
    assert beta.note.startswith("failed (attempt 1/3) · kept on branch ralph/plan/add-beta:")
    assert "conflict in shared.txt" in beta.note and beta.note.endswith("did add beta")
    assert git(repo, "status", "--porcelain") == ""
    git(repo, "rev-parse", "--verify", "ralph/plan/add-beta")


def test_post_merge_verify_failure_restores_base(repo: Path) -> None:
    ci_lane(repo, "add alpha", {"not-alpha.txt": "oops\n"})  # verify wants alpha.txt
    tip = git(repo, "rev-parse", "HEAD").strip()
    (result,) = merge_plan(repo, repo / "plan.md", base="main", verify_for=run_verify)
    assert result.outcome == "verify_failed"
    assert not (repo / "not-alpha.txt").exists()
    assert git(repo, "rev-parse", "HEAD~1").strip() == tip  # only the plan's note commit
    assert git(repo, "diff", "--name-only", tip, "HEAD").split() == ["plan.md"]
    alpha = next(s for s in taskfile.load(repo / "plan.md").steps if s.text == "add alpha")
    assert not alpha.checked and "kept on branch ralph/plan/add-alpha" in (alpha.note or "")


def test_a_lane_that_did_not_finish_carries_its_note_over_unmerged(repo: Path) -> None:
    ci_lane(repo, "add alpha", {"alpha.txt": "half\n"}, outcome="failed")
    ci_lane(repo, "add beta", {"beta.txt": "b\n"}, outcome="awaiting_approval")
    results = merge_plan(repo, repo / "plan.md", base="main")
    assert [r.outcome for r in results] == ["failed", "awaiting_approval"]
    assert not (repo / "alpha.txt").exists() and not (repo / "beta.txt").exists()
    steps = {s.text: s for s in taskfile.load(repo / "plan.md").steps}
    assert (
        steps["add alpha"].note
        == "failed (attempt 1/3) · 2026-01-02 03:04 UTC · 2 turns · did add alpha"
    )
    assert (
        steps["add beta"].state == "awaiting_approval" and steps["add beta"].approval_id == "a1b2c3"
    )


def test_explicit_branches_and_bad_ones(repo: Path) -> None:
    from ralph.errors import UsageError

    ci_lane(repo, "add alpha", {"alpha.txt": "a\n"})
    ci_lane(repo, "add beta", {"beta.txt": "b\n"})
    results = merge_plan(repo, repo / "plan.md", base="main", branches=["ralph/plan/add-beta"])
    assert [r.step for r in results] == ["add beta"]
    with pytest.raises(UsageError, match="not the lane branch of an open step"):
        merge_plan(repo, repo / "plan.md", base="main", branches=["ralph/plan/add-beta"])
    with pytest.raises(UsageError, match="no branch"):
        merge_plan(repo, repo / "plan.md", base="main", branches=["ralph/plan/add-gamma"])


def ralph(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ralph", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.mark.slow
def test_ralph_merge_command(repo: Path) -> None:
    ci_lane(repo, "add alpha", {"alpha.txt": "a\n"})
    ci_lane(repo, "add beta", {"shared.txt": "changed\n"})
    (repo / "shared.txt").write_text("the person's edit\n")  # local change: beta conflicts
    done = ralph(repo, "merge", "plan.md", "--json")
    assert done.returncode == 1, done.stderr
    shown = json.loads(done.stdout)
    assert shown["base"] == "main"
    assert [(x["branch"], x["outcome"]) for x in shown["lanes"]] == [
        ("ralph/plan/add-alpha", "merged"),
        ("ralph/plan/add-beta", "conflict"),
    ]
    assert (repo / "shared.txt").read_text() == "the person's edit\n"
    again = ralph(repo, "merge", "plan.md")
    assert again.returncode == 1 and "line 8: conflict: ralph/plan/add-beta" in again.stdout
    assert ralph(repo, "merge", "plan.md", "--merge", "squash").returncode == 2
    assert ralph(repo, "merge", "nope.md").returncode == 2


@pytest.mark.parametrize(
    ("lines", "want"),
    [
        ("- [x] s\n  - ralph: done · 2 turns · ok\n", ("done", "2 turns · ok", None)),
        ("- [x] s\n", ("done", None, None)),
        ("- [x] s\n  - ralph: failed (attempt 1/3) · x\n", ("done", None, None)),
        ("- [ ] s\n  - ralph: failed (attempt 2/3) · x\n", ("failed", "x", None)),
        ("- [ ] s\n  - ralph: blocked after 3 attempts · x\n", ("blocked", "x", None)),
        ("- [ ] s\n  - ralph: awaiting approval ab12 · x\n", ("awaiting_approval", "x", "ab12")),
        ("- [ ] s\n  - ralph: interrupted · x\n", ("interrupted", "x", None)),
        ("- [ ] s\n  - ralph: done · but the box is open\n", None),
        ("- [ ] s\n", None),
    ],
)
def test_note_outcome_reads_back_what_edit_bytes_wrote(lines: str, want: object) -> None:
    step = taskfile.parse(lines.encode()).steps[0]
    assert taskfile.note_outcome(step) == want


def test_ff_lets_only_the_first_sibling_through(repo: Path) -> None:
    ci_lane(repo, "add alpha", {"alpha.txt": "a\n"})
    ci_lane(repo, "add beta", {"beta.txt": "b\n"})
    alpha_tip = git(repo, "rev-parse", "ralph/plan/add-alpha").strip()
    results = merge_plan(repo, repo / "plan.md", base="main", how="ff")
    assert [r.outcome for r in results] == ["merged", "conflict"]
    assert "not a fast-forward" in results[1].detail
    # linear: the lane's tip, one commit putting main's plan back, then the two notes
    assert git(repo, "rev-parse", "HEAD~3").strip() == alpha_tip
    assert git(repo, "rev-list", "--min-parents=2", "HEAD") == ""
    assert not (repo / "beta.txt").exists()
