"""Git checkpoints (`--commit`) in throwaway repositories: what gets committed, what never
does (`.ralph/`), and the states in which ralph refuses to commit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ralph.checkpoint import CommitFailed, commit_step, preflight
from ralph.errors import UsageError


@pytest.fixture(autouse=True)
def _git_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A fixed identity, and no global/system git config (no signing, hooks or aliases)."""
    empty = tmp_path_factory.mktemp("gitconfig") / "config"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test Person")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


def git(repo: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit: README.md and src/app.py."""
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("hello\n")
    (root / "src" / "app.py").write_text("print('hi')\n")
    commit_all(root, "initial")
    return root


def _files_in(repo: Path, rev: str = "HEAD") -> set[str]:
    return set(git(repo, "show", "--name-only", "--format=", rev).splitlines())


def test_commits_changes_with_the_message_and_returns_the_short_sha(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD")
    (repo / "src" / "app.py").write_text("print('hello')\n")
    (repo / "src" / "new.py").write_text("x = 1\n")
    (repo / "README.md").unlink()
    sha = commit_step(repo, "Add a greeting\n")
    assert sha == git(repo, "rev-parse", "--short", "HEAD")
    assert git(repo, "log", "-1", "--format=%B") == "Add a greeting"
    assert git(repo, "rev-parse", "HEAD~1") == before  # one new commit on top, nothing rewritten
    assert _files_in(repo) == {"README.md", "src/app.py", "src/new.py"}
    assert git(repo, "status", "--porcelain") == ""


def test_ralph_state_is_never_committed(repo: Path) -> None:
    state = repo / ".ralph" / "runs"
    state.mkdir(parents=True)
    (state / "r1.jsonl").write_text("{}\n")
    (repo / ".ralph" / "approvals").mkdir()
    (repo / ".ralph" / "approvals" / "a1.json").write_text("{}\n")
    assert commit_step(repo, "only state changed") is None  # nothing but .ralph/: no commit
    (repo / "README.md").write_text("changed\n")
    assert commit_step(repo, "step") is not None
    assert _files_in(repo) == {"README.md"}
    assert "?? .ralph/" in git(repo, "status", "--porcelain")


def test_nothing_to_commit_returns_none_and_makes_no_commit(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    assert commit_step(repo, "nothing") is None
    assert git(repo, "rev-parse", "HEAD") == head


def test_first_commit_in_an_empty_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "plan.md").write_text("- [x] first\n")
    sha = commit_step(tmp_path, "first")
    assert sha and git(tmp_path, "rev-list", "--count", "HEAD") == "1"


def test_workspace_below_the_git_root_commits_only_its_own_changes(repo: Path) -> None:
    (repo / "src" / "app.py").write_text("print('changed')\n")
    (repo / "README.md").write_text("outside the workspace\n")
    (repo / "src" / ".ralph").mkdir()
    (repo / "src" / ".ralph" / "state.json").write_text("{}")
    commit_step(repo / "src", "src only")
    assert _files_in(repo) == {"src/app.py"}
    assert "M README.md" in git(repo, "status", "--porcelain")  # still uncommitted


def test_message_is_passed_verbatim_not_as_options(repo: Path) -> None:
    (repo / "README.md").write_text("x\n")
    commit_step(repo, "--amend -rf $(touch pwned) `id` # not a comment")
    assert (
        git(repo, "log", "-1", "--format=%s") == "--amend -rf $(touch pwned) `id` # not a comment"
    )
    assert git(repo, "rev-list", "--count", "HEAD") == "2"
    assert not (repo / "pwned").exists()


def test_empty_message_gets_a_default(repo: Path) -> None:
    (repo / "README.md").write_text("x\n")
    commit_step(repo, "  \n")
    assert git(repo, "log", "-1", "--format=%s") == "ralph: step done"


def _conflict(repo: Path) -> None:
    """Branch `other` and `main` change README.md differently."""
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "README.md").write_text("other\n")
    commit_all(repo, "other")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("main\n")
    commit_all(repo, "main")


def _start_merge(repo: Path) -> None:
    _conflict(repo)
    git(repo, "merge", "other", check=False)


def _start_rebase(repo: Path) -> None:
    _conflict(repo)
    git(repo, "rebase", "other", check=False)


def _start_rebase_apply(repo: Path) -> None:
    _conflict(repo)
    git(repo, "rebase", "--apply", "other", check=False)


def _start_cherry_pick(repo: Path) -> None:
    _conflict(repo)
    git(repo, "cherry-pick", "other", check=False)


def _start_revert(repo: Path) -> None:
    (repo / "README.md").write_text("one\n")
    commit_all(repo, "one")
    (repo / "README.md").write_text("two\n")
    commit_all(repo, "two")
    git(repo, "revert", "--no-edit", "HEAD~1", check=False)


def _start_bisect(repo: Path) -> None:
    git(repo, "bisect", "start")


@pytest.mark.parametrize(
    ("start", "what"),
    [
        (_start_merge, "a merge"),
        (_start_rebase, "a rebase"),
        (_start_rebase_apply, "a rebase (or git am)"),
        (_start_cherry_pick, "a cherry-pick"),
        (_start_revert, "a revert"),
        (_start_bisect, "a bisect"),
    ],
)
def test_refuses_while_an_operation_is_in_progress(repo: Path, start, what: str) -> None:
    start(repo)
    head = git(repo, "rev-parse", "HEAD")
    (repo / "notes.txt").write_text("work\n")
    with pytest.raises(UsageError, match=re.escape(f"{what} is in progress")) as info:
        preflight(repo)
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match="in progress"):
        commit_step(repo, "must not happen")
    assert git(repo, "rev-parse", "HEAD") == head
    assert "notes.txt" not in git(repo, "diff", "--cached", "--name-only")  # nothing staged


def test_refuses_a_merge_in_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    """In a linked worktree `.git` is a file; the merge state lives elsewhere."""
    _conflict(repo)
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "wt", str(worktree), "main")
    git(worktree, "merge", "other", check=False)
    assert (worktree / ".git").is_file()
    with pytest.raises(UsageError, match="a merge is in progress"):
        preflight(worktree)
    preflight(repo)  # the main worktree is not merging


def test_clean_repository_passes_preflight(repo: Path) -> None:
    preflight(repo)


def test_not_a_git_repository(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not inside one"):
        preflight(tmp_path)
    with pytest.raises(UsageError, match="not inside one"):
        commit_step(tmp_path, "x")


def test_missing_workspace_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a folder"):
        preflight(tmp_path / "gone")


def test_unknown_identity_is_caught_before_the_run(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "strict-gitconfig"
    config.write_text("[user]\n\tuseConfigOnly = true\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{role}_NAME")
        monkeypatch.delenv(f"GIT_{role}_EMAIL")
    with pytest.raises(UsageError, match=r"user\.email"):
        preflight(repo)


def test_planted_hooks_never_run(repo: Path) -> None:
    """A hook the agent planted (or any hook) does not run for ralph's own commit."""
    marker = repo.parent / "hook-ran"
    for name in ("pre-commit", "commit-msg", "post-commit", "reference-transaction"):
        hook = repo / ".git" / "hooks" / name
        hook.write_text(f"#!/bin/sh\necho {name} >> {marker}\nexit 1\n")
        hook.chmod(0o755)
    (repo / "README.md").write_text("x\n")
    assert commit_step(repo, "no hooks") is not None
    assert not marker.exists()
    assert git(repo, "log", "-1", "--format=%s") == "no hooks"


def test_filters_fsmonitor_and_hooks_path_from_config_never_run(repo: Path) -> None:
    """A filter picked by a tracked .gitattributes, an fsmonitor and a hooksPath: none runs."""
    marker = repo.parent / "ran"
    git(repo, "config", "filter.evil.clean", f"sh -c 'echo clean >> {marker}; cat'")
    git(repo, "config", "filter.evil.smudge", f"sh -c 'echo smudge >> {marker}; cat'")
    git(repo, "config", "filter.other.process", f"sh -c 'echo process >> {marker}'")
    git(repo, "config", "core.fsmonitor", f"{repo.parent}/monitor.sh")
    (repo.parent / "monitor.sh").write_text(f"#!/bin/sh\necho fsmonitor >> {marker}\n")
    (repo.parent / "monitor.sh").chmod(0o755)
    hooks = repo.parent / "hooks"
    hooks.mkdir()
    (hooks / "pre-commit").write_text(f"#!/bin/sh\necho hookspath >> {marker}\n")
    (hooks / "pre-commit").chmod(0o755)
    git(repo, "config", "core.hooksPath", str(hooks))
    (repo / ".gitattributes").write_text("* filter=evil\n*.py filter=other\n")
    (repo / "README.md").write_text("raw bytes\n")
    (repo / "src" / "app.py").write_text("print(1)\n")
    assert commit_step(repo, "hardened") is not None
    assert not marker.exists(), marker.read_text()
    assert git(repo, "show", "HEAD:README.md") == "raw bytes"


def test_commit_works_when_ralph_state_is_gitignored(repo: Path) -> None:
    """`ralph init` puts .ralph/ in .gitignore; `git add` must not fail on it (git 2.39)."""
    (repo / ".gitignore").write_text(".ralph/\n")
    (repo / ".ralph" / "runs").mkdir(parents=True)
    (repo / ".ralph" / "runs" / "r.jsonl").write_text("{}\n")
    (repo / "README.md").write_text("changed\n")
    assert commit_step(repo, "ignored state") is not None
    assert _files_in(repo) == {".gitignore", "README.md"}


def test_temp_files_of_atomic_writes_are_never_committed(repo: Path) -> None:
    (repo / ".plan.md.a1b2c3d4.tmp").write_text("half a write")
    (repo / "src" / ".app.py.zz9k2l1m.tmp").write_text("half")
    (repo / "src" / "app.py").write_text("print('new')\n")
    assert commit_step(repo, "step") is not None
    assert _files_in(repo) == {"src/app.py"}


def test_a_failing_commit_is_a_commit_failure_and_history_is_untouched(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("x\n")
    (repo / ".git" / "index.lock").write_text("")  # another git holds the index
    with pytest.raises(CommitFailed, match=r"index\.lock") as info:
        commit_step(repo, "blocked by a lock")
    assert info.value.exit_code == 1
    assert git(repo, "rev-parse", "HEAD") == head
