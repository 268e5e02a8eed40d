"""Snapshots before each step and `ralph undo`, on real git repositories and real runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ralph import taskfile
from ralph.config import shipped_policy
from ralph.errors import UsageError
from ralph.snapshot import REF_PREFIX, PendingSnapshot, Snapshots
from tests.fakeserver import Turn
from tests.harness import Ralph, cmd, finish


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q")
    (root / ".gitignore").write_text(".ralph/\nbuild/\n")
    (root / "tracked.txt").write_text("tracked\n")
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "initial")
    (root / "untracked.txt").write_text("untracked\n")
    return root


def test_undo_restores_what_a_step_deleted(ralph_anthropic: Ralph, repo: Path) -> None:
    plan = repo / "tasks" / "plan.md"
    plan.parent.mkdir()
    plan.write_text("# Plan\n\n- [ ] Clean up\n")
    ralph_anthropic.server.add(
        Turn(tool_calls=[cmd("rm tracked.txt untracked.txt src/app.py")]),
        Turn(tool_calls=[cmd("echo made > new.txt && mkdir -p out && echo x > out/y.txt")]),
        Turn(tool_calls=[finish("cleaned up")]),
    )
    # The default policy asks before deleting a file git cannot restore (untracked.txt);
    # here the snapshot is what brings it back, so that rule is left out.
    policy = repo.parent / "policy.toml"
    rules = shipped_policy("default").read_text().split("\n[[rule]]\n")
    kept = [r for r in rules if not r.startswith('id = "files.delete-unrecoverable"')]
    policy.write_text("\n[[rule]]\n".join(kept))
    code, summary, err = ralph_anthropic.run(plan, "--unattended", "--policy", str(policy))
    assert code == 0, err
    assert not (repo / "tracked.txt").exists() and not (repo / "untracked.txt").exists()
    step = taskfile.load(plan).steps[0]
    snap = taskfile.note_snapshot(step.note)
    assert snap and summary["steps"][0]["snapshot"] == snap
    index_before = (repo / ".git" / "index").read_bytes()
    head_before = git(repo, "rev-parse", "HEAD")

    code, out, err = ralph_anthropic("undo", "--workspace", str(repo), snap)
    assert code == 2 and "--yes" in err  # no terminal to ask: nothing changes
    assert not (repo / "tracked.txt").exists()

    code, out, err = ralph_anthropic("undo", "--workspace", str(repo), "--yes", snap)
    assert code == 0, err
    assert "bring back tracked.txt" in " ".join(out.split())
    assert "delete     new.txt" in out
    assert (repo / "tracked.txt").read_text() == "tracked\n"
    assert (repo / "untracked.txt").read_text() == "untracked\n"
    assert (repo / "src" / "app.py").read_text() == "print('hi')\n"
    assert not (repo / "new.txt").exists() and not (repo / "out").exists()
    assert "- [ ] Clean up" in plan.read_text()  # the plan is back too: the step is open
    assert (repo / ".git" / "index").read_bytes() == index_before  # the person's index
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert git(repo, "status", "--porcelain").splitlines() == [
        "?? tasks/",
        "?? untracked.txt",
    ]


def test_an_undo_can_be_undone(repo: Path) -> None:
    snaps = Snapshots(repo)
    first = snaps.take("before step one")
    (repo / "tracked.txt").write_text("changed by the step\n")
    plan = snaps.plan_restore(first)
    assert plan.overwrite == ["tracked.txt"] and not plan.delete and not plan.restore
    assert snaps.restore(plan) == []
    assert (repo / "tracked.txt").read_text() == "tracked\n"
    back = snaps.plan_restore(snaps.find(plan.before.short))
    snaps.restore(back)
    assert (repo / "tracked.txt").read_text() == "changed by the step\n"


def test_modes_symlinks_and_type_changes_come_back(repo: Path) -> None:
    (repo / "link").symlink_to("tracked.txt")
    snaps = Snapshots(repo)
    first = snaps.take("before")
    (repo / "run.sh").chmod(0o644)
    (repo / "link").unlink()
    (repo / "link").mkdir()
    (repo / "link" / "inside.txt").write_text("x")
    (repo / "src" / "app.py").unlink()
    (repo / "src").rmdir()
    (repo / "src").write_text("now a file\n")
    assert snaps.restore(snaps.plan_restore(first)) == []
    assert (repo / "run.sh").stat().st_mode & 0o111
    assert (repo / "link").is_symlink() and (repo / "link").readlink() == Path("tracked.txt")
    assert (repo / "src" / "app.py").read_text() == "print('hi')\n"


def test_ignored_files_are_left_alone(repo: Path) -> None:
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_text("built")
    snaps = Snapshots(repo)
    first = snaps.take("before")
    (repo / "build" / "out.bin").write_text("rebuilt")
    (repo / "build" / "more.bin").write_text("more")
    assert snaps.plan_restore(first).empty
    assert (repo / "build" / "more.bin").exists()


def test_a_symlink_in_the_way_is_refused_before_any_change(repo: Path, tmp_path: Path) -> None:
    """The agent swaps src/ for an (ignored) link to a folder outside: nothing is written."""
    snaps = Snapshots(repo)
    first = snaps.take("before")
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "src" / "app.py").unlink()
    (repo / "src").rmdir()
    (repo / ".gitignore").write_text(".ralph/\nbuild/\nsrc\n")
    (repo / "src").symlink_to(outside)
    (repo / "tracked.txt").write_text("changed\n")
    with pytest.raises(UsageError, match="in the way"):
        snaps.plan_restore(first)
    assert list(outside.iterdir()) == []
    assert (repo / "tracked.txt").read_text() == "changed\n"


def test_snapshots_run_no_hooks_or_filters(repo: Path) -> None:
    marker = repo.parent / "ran"
    hook = repo / ".git" / "hooks" / "reference-transaction"
    hook.write_text(f"#!/bin/sh\necho hook >> {marker}\n")
    hook.chmod(0o755)
    git(repo, "config", "filter.evil.clean", f"sh -c 'echo filter >> {marker}; cat'")
    git(repo, "config", "core.fsmonitor", "true")
    (repo / ".gitattributes").write_text("* filter=evil\n")
    snaps = Snapshots(repo)
    snaps.take("before")
    (repo / "tracked.txt").write_text("changed\n")
    snaps.restore(snaps.plan_restore(snaps.find(None)))
    assert not marker.exists()


def test_snapshots_live_under_ralphs_own_ref(repo: Path) -> None:
    snaps = Snapshots(repo)
    a = snaps.take("one")
    b = snaps.take("two")
    assert git(repo, "rev-parse", REF_PREFIX + "root") == b.id
    assert git(repo, "rev-parse", f"{b.id}^") == a.id  # a chain
    assert [s.label for s in snaps.list()] == ["two", "one"]
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/heads") in (
        "refs/heads/master",
        "refs/heads/main",
    )
    files = git(repo, "ls-tree", "-r", "--name-only", a.id).splitlines()
    assert "untracked.txt" in files and not any(f.startswith(".ralph") for f in files)
    with pytest.raises(UsageError, match="not one of"):
        snaps.find("deadbeef")


def test_outside_git_snapshots_use_a_private_repository(tmp_path: Path) -> None:
    ws = tmp_path / "plain"
    ws.mkdir()
    (ws / "notes.md").write_text("keep me\n")
    snaps = Snapshots(ws)
    first = snaps.take("before")
    assert (ws / ".ralph" / "snapshots.git" / "HEAD").is_file()
    assert not (ws / ".git").exists()
    (ws / "notes.md").unlink()
    assert snaps.restore(snaps.plan_restore(first)) == []
    assert (ws / "notes.md").read_text() == "keep me\n"


def test_linked_worktrees_keep_their_own_snapshots(repo: Path, tmp_path: Path) -> None:
    """Refs are shared between a repository's worktrees; each still undoes only its own."""
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "-b", "lane", str(other))
    main_snap = Snapshots(repo).take("main step")
    lane = Snapshots(other)
    lane_snap = lane.take("lane step")
    assert Snapshots(repo).ref != lane.ref
    assert [s.id for s in lane.list()] == [lane_snap.id]
    assert [s.id for s in Snapshots(repo).list()] == [main_snap.id]


def test_a_pending_snapshot_has_the_workspace_as_it_was_when_captured_returned(
    repo: Path,
) -> None:
    """The run loop sends nothing to the model before `captured()`: from then on the agent
    may change files, and the snapshot (finished in the background) still has the old ones."""
    pending = PendingSnapshot(repo, "before step: edit").start()
    pending.captured()
    (repo / "tracked.txt").write_text("changed by the step\n")
    (repo / "untracked.txt").unlink()
    (repo / "new.txt").write_text("made by the step\n")
    snap, why = pending.result()
    assert snap is not None, why
    assert git(repo, "rev-parse", REF_PREFIX + "root") == snap.id
    assert git(repo, "show", f"{snap.id}:tracked.txt") == "tracked"
    assert git(repo, "show", f"{snap.id}:untracked.txt") == "untracked"
    assert "new.txt" not in git(repo, "ls-tree", "-r", "--name-only", snap.id).split()
    assert pending.result() == (snap, "")  # asked again: the same answer


def test_a_snapshot_that_fails_after_the_capture_leaves_the_step_without_one(
    repo: Path,
) -> None:
    """git cannot move ralph's ref (another git holds its lock): the step goes on, with no
    snapshot and the reason in the record, and nothing is raised."""
    lock = repo / ".git" / "refs" / "ralph" / "snapshots" / "root.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    pending = PendingSnapshot(repo, "before step: locked").start()
    pending.captured()  # the content is in git; only the ref could not be moved
    snap, why = pending.result()
    assert snap is None and "update-ref" in why and "root.lock" in why


def test_the_step_prompt_and_its_snapshot_share_one_list_of_drivers_and_run_none(
    ralph_anthropic: Ralph, repo: Path
) -> None:
    """The prompt's `git status` and the snapshot run at once with one listing of the
    configured drivers: a filter the tree picks runs for neither, in a real run."""
    marker = repo.parent / "ran"
    for key in ("clean", "smudge"):
        git(repo, "config", f"filter.evil.{key}", f"sh -c 'echo {key} >> {marker}; cat'")
    git(repo, "config", "filter.other.process", f"sh -c 'echo process >> {marker}'")
    (repo / ".gitattributes").write_text("* filter=evil\n*.py filter=other\n")
    (repo / "src" / "app.py").write_text("print('stat-dirty: status must read it')\n")
    plan = repo / "plan.md"
    plan.write_text("# Plan\n\n- [ ] Look around\n")
    ralph_anthropic.server.add(Turn(tool_calls=[finish("looked")]))
    code, summary, err = ralph_anthropic.run(plan, "--unattended")
    assert code == 0, err
    assert not marker.exists(), marker.read_text()
    first = ralph_anthropic.server.requests[0]
    assert "src/app.py" in str(first)  # the status was in the prompt
    snap = summary["steps"][0]["snapshot"]
    assert snap and "stat-dirty" in git(repo, "show", f"{snap}:src/app.py")


def test_the_chain_holds_when_each_snapshot_is_taken_by_a_fresh_runner(repo: Path) -> None:
    """The run loop makes a new `Snapshots` per step, which learns the chain's tip along
    with the repository; one that looked before another moved the tip asks again."""
    early = Snapshots(repo)
    early.git()  # the tip as it was then: stale once `b` is taken
    a = Snapshots(repo).take("one")
    b = Snapshots(repo).take("two")
    c = early.take("three")
    assert git(repo, "rev-parse", f"{b.id}^") == a.id
    assert git(repo, "rev-parse", f"{c.id}^") == b.id
    assert git(repo, "rev-parse", REF_PREFIX + "root") == c.id
    assert [s.label for s in Snapshots(repo).list()] == ["three", "two", "one"]
    ahead = Snapshots(repo)
    ahead.git()  # finds the repository and the tip
    d = Snapshots(repo).take("four")  # another run of this workspace moves the tip
    e = ahead.take("five")
    assert git(repo, "rev-parse", f"{e.id}^") == d.id
    assert git(repo, "rev-parse", REF_PREFIX + "root") == e.id
