"""The guard's speed-ups never change a decision: a remembered decision (the pure `decide`
step, remembered per observation) is only reused for the same fresh observation, and the
merged glob and name matchers answer exactly as the globs one by one.

Each freshness test checks a call, changes one thing the decision depends on (the policy
file, a symlink, a file a glob or a project script reads, git state, the mode, the
workspace), checks the same call again, and compares with a check that remembers nothing.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ralph.guard import units
from ralph.guard.pathclass import GlobSet, Places
from ralph.guard.policy import (
    Decision,
    Policy,
    Unit,
    check,
    clear_caches,
    decide,
    load_policy,
    load_policy_cached,
    observe,
)
from ralph.guard.rules import ArgPattern, Names
from tests.guard_workspace import DEFAULT_POLICY, GIT, corpus_call, corpus_rows, make_workspace

Setup = tuple[Policy, Path, Path]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    ws, home = make_workspace(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    clear_caches()
    yield load_policy(DEFAULT_POLICY), ws, home
    clear_caches()


def run(policy: Policy, ws: Path, command: str, mode: str = "interactive") -> Decision:
    return check({"tool": "run_command", "command": command}, policy, ws, mode)  # type: ignore[arg-type]


def fresh(policy: Policy, ws: Path, command: str, mode: str = "interactive") -> Decision:
    """The decision with nothing remembered (no analysis, static part or decision)."""
    clear_caches()
    return run(policy, ws, command, mode)


def twice(policy: Policy, ws: Path, command: str) -> Decision:
    first = run(policy, ws, command)
    assert run(policy, ws, command) == first  # the second one is remembered
    return first


def test_policy_edit_between_identical_checks(setup: Setup, tmp_path: Path) -> None:
    _, ws, _ = setup
    path = tmp_path / "policy.toml"
    path.write_bytes(DEFAULT_POLICY.read_bytes())
    assert twice(load_policy_cached(path), ws, "ls src").decision == "allow"
    deny = '\n[[rule]]\nid = "no-ls"\ndecision = "deny"\nreason = "r"\nprogram = "ls"\n'
    path.write_text(path.read_text() + deny)
    after = run(load_policy_cached(path), ws, "ls src")
    assert (after.decision, after.rule) == ("deny", "no-ls")
    path.write_bytes(DEFAULT_POLICY.read_bytes())  # and back: allowed again
    assert run(load_policy_cached(path), ws, "ls src").decision == "allow"


def test_policy_object_with_the_same_hash_is_not_confused(setup: Setup, tmp_path: Path) -> None:
    """Two policies built by hand with one sha256 but other rules decide on their own."""
    policy, ws, _ = setup
    assert twice(policy, ws, "ls src").decision == "allow"
    strict = dataclasses.replace(policy, rules=())  # same path and sha256, no rules
    assert run(strict, ws, "ls src").rule == "default:uncovered"


def test_symlink_swapped_to_secrets_between_checks(setup: Setup) -> None:
    policy, ws, home = setup
    (ws / "src" / "credentials").write_text("not a secret here\n")
    os.symlink(ws / "src", ws / "view")
    assert twice(policy, ws, "cat view/credentials").decision == "allow"
    (ws / "view").unlink()
    os.symlink(home / ".aws", ws / "view")  # now view/credentials is ~/.aws/credentials
    after = run(policy, ws, "cat view/credentials")
    assert after.decision != "allow"
    assert after == fresh(policy, ws, "cat view/credentials")
    assert any("(secret)" in p for p in after.paths)


def test_file_created_and_removed_under_a_glob(setup: Setup) -> None:
    policy, ws, _ = setup
    assert twice(policy, ws, "cat src/*").decision == "allow"
    (ws / "src" / "id_rsa").write_text("-----BEGIN KEY-----\n")
    after = run(policy, ws, "cat src/*")
    assert after.decision != "allow"
    assert after == fresh(policy, ws, "cat src/*")
    (ws / "src" / "id_rsa").unlink()
    assert run(policy, ws, "cat src/*").decision == "allow"


def test_project_script_rewritten_between_checks(setup: Setup) -> None:
    policy, ws, _ = setup
    assert twice(policy, ws, "make test").decision == "allow"
    makefile = (ws / "Makefile").read_text().replace("\tpytest -q\n", "\trm -rf ~/.ssh\n")
    (ws / "Makefile").write_text(makefile)
    after = run(policy, ws, "make test")
    assert after.decision != "allow"
    assert after == fresh(policy, ws, "make test")


def test_git_state_change_between_checks(setup: Setup) -> None:
    """A clean tracked file may be deleted; once it has uncommitted changes, git cannot
    restore them, and the same `rm` needs confirmation."""
    policy, ws, _ = setup
    assert twice(policy, ws, "rm src/settings.py").decision == "allow"
    (ws / "src" / "settings.py").write_text("DEBUG = False  # edited\n")
    after = run(policy, ws, "rm src/settings.py")
    assert (after.decision, after.rule) == ("confirm", "files.delete-unrecoverable")
    assert after == fresh(policy, ws, "rm src/settings.py")


def test_branch_switch_between_pushes(setup: Setup, tmp_path: Path) -> None:
    """`git push` pushes the current branch (read from .git/HEAD at each check)."""
    policy, ws, _ = setup
    push = twice(policy, ws, "git push")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run([*GIT, "checkout", "-qb", "main2"], cwd=ws, check=True, env=env)
    after = run(policy, ws, "git push")
    assert after == fresh(policy, ws, "git push")
    seen = observe({"tool": "run_command", "command": "git push"}, _places(policy, ws))
    assert seen.units[0].args[-1] == "main2"
    assert push.decision == after.decision  # same rule here; the observation differs


def test_mode_change_between_checks(setup: Setup) -> None:
    policy, ws, _ = setup
    command = "echo hi > notes.txt"
    assert twice(policy, ws, command).decision == "allow"
    assert run(policy, ws, command, "audit").decision == "deny"
    assert run(policy, ws, command, "unattended").decision == "allow"
    assert run(policy, ws, command, "audit").decision == "deny"


def test_other_workspace_same_command(setup: Setup, tmp_path: Path) -> None:
    policy, ws, home = setup
    other = tmp_path / "other"
    other.mkdir()
    (ws / "src" / "credentials").write_text("x\n")
    os.symlink(ws / "src", ws / "view")
    os.symlink(home / ".aws", other / "view")
    assert twice(policy, ws, "cat view/credentials").decision == "allow"
    assert run(policy, other, "cat view/credentials").decision != "allow"
    assert run(policy, ws, "cat view/credentials").decision == "allow"


def test_home_change_between_checks(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`~` is whatever $HOME is at the check."""
    policy, ws, _ = setup
    command = "echo x > ~/notes.txt"
    assert twice(policy, ws, command).decision != "allow"  # a write outside the workspace
    monkeypatch.setenv("HOME", str(ws / "src"))  # now ~/notes.txt is inside the workspace
    after = run(policy, ws, command)
    assert after.decision == "allow"
    assert after == fresh(policy, ws, command)


def _places(policy: Policy, ws: Path) -> Places:
    from ralph.guard.policy import _places as places

    return places(policy, ws)


def test_remembered_decisions_equal_fresh_ones_over_the_corpus(setup: Setup) -> None:
    """Every corpus call, in every mode: checked cold, checked again (remembered), and
    decided from a fresh observation without the memo: the same decision each time."""
    policy, ws, _ = setup
    places = _places(policy, ws)
    rows = corpus_rows() + corpus_rows(Path(__file__).with_name("guard_extra.tsv"))
    calls = [corpus_call(command) for _, _, command, _ in rows]
    for mode in ("interactive", "unattended", "audit"):
        clear_caches()
        cold = [check(c, policy, ws, mode) for c in calls]  # type: ignore[arg-type]
        warm = [check(c, policy, ws, mode) for c in calls]  # type: ignore[arg-type]
        clear_caches()
        pure = [decide(observe(c, places), policy, places, mode) for c in calls]  # type: ignore[arg-type]
        assert cold == warm == pure


def test_every_unit_field_is_static_or_from_the_disk() -> None:
    """A command's unit is its static part (kept per analysis) plus what `_command_unit`
    reads from the disk at every check; a new Unit field must be put in one of the two."""
    fields = {f.name for f in dataclasses.fields(Unit)}
    assert fields == units._STATIC_FIELDS | units._DISK_FIELDS
    assert not units._STATIC_FIELDS & units._DISK_FIELDS


# ---------------------------------------------------------------------------------------------
# Merged matchers answer as the globs one by one.

_NAME_CHARS = st.sampled_from([*list("ab.-_*?[]!/~"), "**", ".env", "x"])
_globs = st.lists(st.lists(_NAME_CHARS, min_size=1, max_size=6).map("".join), max_size=6)
_paths = st.lists(st.sampled_from(["a", "b", ".env", "a.b", "ab", "x", "-", "[", "_"]), max_size=5)


def _one_by_one(globs: GlobSet, path: str, places: Places) -> bool:
    """GlobSet.matches as it was: each compiled glob in turn."""
    for anchor, regex in globs.globs:
        if anchor == "name":
            if any(regex.match(part) for part in path.split("/") if part):
                return True
            continue
        base = {"workspace": places.workspace, "home": places.home, "absolute": "/"}[anchor]
        if base and path.startswith(base.rstrip("/") + "/"):
            rel = path[len(base.rstrip("/")) + 1 :]
            if rel and regex.match(rel):
                return True
    return False


_PLACES = Places("/w/ws", "/w/home", ("/tmp",))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # "[[" globs: a possible nested set
@settings(max_examples=400, deadline=None)
@given(_globs, _paths, st.sampled_from(["/w/ws/", "/w/home/", "/", "/w/ws/src/"]))
def test_globset_merged_matches_each_glob(patterns: list[str], parts: list[str], base: str) -> None:
    try:
        globs = GlobSet.of(patterns)
    except re.error:
        return  # a glob that is no regex is refused by the policy loader already
    path = base + "/".join(parts)
    assert globs.matches(path, _PLACES) == _one_by_one(globs, path, _PLACES)


def test_globset_of_the_default_policy(setup: Setup) -> None:
    policy, _, _ = setup
    places = Places("/w/ws", "/w/home", ("/tmp",))
    sets = [r.path_glob for r in policy.rules if r.path_glob is not None]
    assert sets
    paths = [
        f"{base}/{tail}"
        for base in ("/w/ws", "/w/home", "/etc", "/w/ws/src")
        for tail in (
            ".claude",
            ".claude/x",
            "pyproject.toml",
            "a/.mcp.json",
            ".config/ralph/x",
            ".vscode/settings.json",
            "x.pth",
            "lib/site-packages/ralph/a.py",
            "ok.txt",
        )
    ]
    for globs in sets:
        for path in paths:
            assert globs.matches(path, places) == _one_by_one(globs, path, places), path


_WORDS = st.lists(st.sampled_from([*list("ab-*?[]!."), "mkfs", "--"]), max_size=5).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=4), _WORDS)
def test_compiled_names_and_patterns_match_as_fnmatch(items: list[str], value: str) -> None:
    names = Names.of(items)
    want = value in names.exact or any(fnmatch.fnmatchcase(value, g) for g in names.globs)
    assert names.matches(value) == want
    for item in items:
        assert ArgPattern(item, None).matches(value) == fnmatch.fnmatchcase(value, item)


def test_unhashable_free_observations(setup: Setup) -> None:
    """Observations are hashable values (the memo keys on them whole)."""
    policy, ws, _ = setup
    places = _places(policy, ws)
    for _, _, command, _ in corpus_rows():
        hash(observe(corpus_call(command), places))  # type: ignore[arg-type]
