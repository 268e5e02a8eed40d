"""Issue 11 gaps that need a workspace of their own: project scripts read from disk (and
cached by hash), git state of deleted files, pushes to places that are no remote, `..`
beside a workspace under a temp folder, $TMPDIR in paths, and the rule index."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ralph.guard import scripts
from ralph.guard.load import lint
from ralph.guard.policy import Decision, Policy, check, load_policy, observe
from ralph.guard.policy import _places as places_for
from tests.guard_workspace import DEFAULT_POLICY, GIT, corpus_call, corpus_rows


def git(ws: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run([*GIT, *args], cwd=ws, check=True, env=env, capture_output=True)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Policy, Path]]:
    """A git repository under tmp_path/box/ws with one committed file, and a fake home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    ws = tmp_path / "box" / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "kept.py").write_text("x = 1\n")
    git(ws, "init", "-q")
    git(ws, "add", "src")
    git(ws, "commit", "-qm", "init")
    yield load_policy(DEFAULT_POLICY), ws


def decide(project: tuple[Policy, Path], command: str) -> Decision:
    policy, ws = project
    return check({"tool": "run_command", "command": command}, policy, ws, "interactive")


def write_package(ws: Path, scripts_: dict[str, str]) -> None:
    (ws / "package.json").write_text(json.dumps({"scripts": scripts_}))


def test_a_package_script_is_judged_by_what_it_runs(project: tuple[Policy, Path]) -> None:
    _, ws = project
    write_package(ws, {"go": "eslint ."})
    assert decide(project, "npm run go").decision == "allow"
    write_package(ws, {"go": "netlify deploy --prod"})  # same size class, new bytes
    found = decide(project, "npm run go")
    assert (found.decision, found.rule) == ("confirm", "deploy.platforms")
    assert any("netlify deploy --prod" in c for c in found.commands)
    write_package(ws, {"go": "eslint .", "prego": "rm -rf ~/notes"})  # npm runs pre<name>
    assert decide(project, "npm run go").decision == "confirm"


def test_scripts_the_guard_cannot_read_ask(project: tuple[Policy, Path]) -> None:
    _, ws = project
    write_package(ws, {"build": "tsc"})
    assert decide(project, "npm run nothing-like-this").rule == "builtin:unparsed"
    (ws / "package.json").write_text("{not json")
    assert decide(project, "npm run build").decision == "confirm"
    (ws / "justfile").write_text("py:\n    #!/usr/bin/env python3\n    print(1)\n")
    assert decide(project, "just py").decision == "confirm"  # not shell: cannot be judged
    (ws / "Makefile").write_text("include rules.mk\nall:\n\ttrue\n")
    assert decide(project, "make hidden").decision == "confirm"  # maybe in rules.mk
    assert decide(project, "make").decision == "allow"


def test_make_recipes_follow_prerequisites_and_variables(project: tuple[Policy, Path]) -> None:
    _, ws = project
    (ws / "Makefile").write_text(
        "OUT := ~/.local/share/app\nall: gen\n\ttrue\ngen:\n\t@-rm -rf $(OUT)\n"
        "one: ; cp src/kept.py build/kept.py\n"
    )
    found = decide(project, "make")
    assert found.decision == "confirm"
    assert "make gen: rm -rf ~/.local/share/app" in found.commands
    assert decide(project, "make one").decision == "allow"


def test_script_files_are_parsed_once_per_content(tmp_path: Path) -> None:
    calls: list[str] = []

    def parse(text: str) -> str:
        calls.append(text)
        return text.upper()

    path = tmp_path / "f.json"
    path.write_text("a")
    assert scripts.parsed(str(path), parse) == "A"
    assert scripts.parsed(str(path), parse) == "A"
    assert calls == ["a"]
    path.write_text("b")  # one byte changed: parsed again
    assert scripts.parsed(str(path), parse) == "B"
    assert calls == ["a", "b"]


@pytest.mark.parametrize(
    "command",
    [
        "printf 'x:\\n\\ttrue\\n' > Makefile && make x",
        "echo 'def test(): pass' > tests/test_new.py; python3 -m pytest -q",
        "sed -i s/a/b/ package.json && npm test",
        "npm pkg set scripts.lint='eslint .' && npm run lint",
        "cat > justfile <<'EOF'\nt:\n    ls\nEOF\njust t",
    ],
)
def test_writing_a_config_then_running_its_tool_asks(
    project: tuple[Policy, Path], command: str
) -> None:
    _, ws = project
    (ws / "tests").mkdir(exist_ok=True)
    write_package(ws, {"test": "jest", "lint": "eslint ."})
    found = decide(project, command)
    assert found.decision == "confirm", (command, found)


def test_writing_an_unrelated_file_then_building_runs(project: tuple[Policy, Path]) -> None:
    _, ws = project
    (ws / "Makefile").write_text("all:\n\ttrue\n")
    assert decide(project, "echo notes > NOTES.md && make").decision == "allow"


def test_deletes_follow_what_git_can_restore(project: tuple[Policy, Path]) -> None:
    _, ws = project
    assert decide(project, "rm src/kept.py").decision == "allow"  # clean and tracked
    (ws / "src" / "new.py").write_text("y = 2\n")
    assert decide(project, "rm src/new.py").rule == "files.delete-unrecoverable"
    (ws / "src" / "kept.py").write_text("x = 2\n")  # uncommitted change
    assert decide(project, "unlink src/kept.py").rule == "files.delete-unrecoverable"
    assert decide(project, "truncate -s 0 src/kept.py").decision == "confirm"
    os.symlink("kept.py", ws / "src" / "link.py")
    assert decide(project, "rm src/link.py").decision == "allow"  # only the link goes
    assert decide(project, "rm src/never-existed.py").decision == "allow"


def test_deletes_outside_git_cannot_be_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ws = tmp_path / "plain"
    ws.mkdir()
    (ws / "data.csv").write_text("a,b\n")
    found = check(
        {"tool": "run_command", "command": "rm data.csv"},
        load_policy(DEFAULT_POLICY),
        ws,
        "interactive",
    )
    assert found.rule == "files.delete-unrecoverable"


def test_pushes_to_places_that_are_no_remote_ask(project: tuple[Policy, Path]) -> None:
    _, ws = project
    git(ws, "remote", "add", "origin", "https://example.com/r.git")
    assert decide(project, "git push origin HEAD:feature/y").decision == "allow"
    for place in ("https://example.com/other.git", "git@example.com:x.git", "../copy", "/tmp/c"):
        assert decide(project, f"git push {place} HEAD").rule == "builtin:push-target", place
    assert decide(project, "git push --repo=https://example.com/x.git").decision == "confirm"
    assert decide(project, "git push nowhere HEAD").decision == "allow"  # git just fails
    (ws / "mirror").mkdir()
    assert decide(project, "git push mirror HEAD").rule == "builtin:push-target"


def test_dot_dot_from_a_workspace_under_a_temp_folder_is_outside(
    project: tuple[Policy, Path],
) -> None:
    policy, ws = project
    places = places_for(policy, ws)
    beside = str((ws / ".." / "other").resolve())
    if places.temp_roots and any(beside.startswith(r + "/") for r in places.temp_roots):
        assert places.classify(beside) == "outside"
    assert decide(project, "rm -rf ../other").decision == "confirm"
    assert decide(project, "echo x > ../../note.txt").decision == "confirm"


def test_tmpdir_in_a_path_is_expanded(
    project: tuple[Policy, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "t"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", "/tmp")
    assert decide(project, 'rm -rf "$TMPDIR/ralph-x"').decision == "allow"
    assert decide(project, 'rm -rf "${TMPDIR}/x"').decision == "allow"
    monkeypatch.delenv("TMPDIR")
    assert decide(project, 'rm -rf "$TMPDIR/x"').decision == "confirm"  # bash gives /x
    assert decide(project, 'rm -rf "$TMPDIR/$X"').rule == "builtin:dynamic-path"


def test_the_rule_index_finds_every_rule_a_full_scan_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.guard_workspace import make_workspace

    ws, home = make_workspace(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    policy = load_policy(DEFAULT_POLICY)
    places = places_for(policy, ws)
    for _, _, command, _ in corpus_rows():
        for unit in observe(corpus_call(command), places).units:
            full = [r.id for r in policy.rules if r.matches(unit, places)]
            indexed = [r.id for r in policy.candidates(unit) if r.matches(unit, places)]
            fast = [r.id for r in policy.candidates(unit) if r.matches_candidate(unit, places)]
            assert full == indexed == fast, command


def test_new_rule_keys_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[[rule]]\nid = "a"\ndecision = "confirm"\nreason = "r"\npath_state = "gone"\n'
        '[[rule]]\nid = "b"\ndecision = "confirm"\nreason = "r"\nwords_any = ["re:("]\n'
        '[[rule]]\nid = "c"\ndecision = "allow"\nreason = "r"\nnot_program = []\n'
    )
    problems = lint(path)
    assert any("unknown path_state 'gone'" in p for p in problems)
    assert any("bad regex in words_any" in p for p in problems)
    assert any("not_program must be a string or a non-empty list" in p for p in problems)


def test_an_image_that_copies_a_secret_asks(project: tuple[Policy, Path]) -> None:
    _, ws = project
    (ws / ".env").write_text("TOKEN=x\n")
    (ws / "Dockerfile").write_text("FROM alpine\nCOPY . /app\n")
    assert decide(project, "docker build -t app .").rule == "paths.secret"
    (ws / ".dockerignore").write_text(".env\n")
    assert decide(project, "docker build -t app .").decision == "allow"
    (ws / "Dockerfile").write_text("FROM alpine\nCOPY --chown=1 .env /app/.env\n")
    assert decide(project, "docker build -t app .").decision == "allow"  # ignored: not sent
    (ws / ".dockerignore").write_text("node_modules\n")
    assert decide(project, "docker buildx build .").rule == "paths.secret"


def test_files_gitlab_ci_includes_are_ci_configuration(project: tuple[Policy, Path]) -> None:
    policy, ws = project
    (ws / "ci").mkdir()
    for name in ("build.yml", "more-1.yml", "nested.yml", "other.yml"):
        (ws / "ci" / name).write_text("job: {}\n")
    (ws / ".gitlab-ci.yml").write_text(
        "include:\n  - local: /ci/build.yml\n  - 'ci/more-*.yml'\n  - remote: https://x/y.yml\n"
    )
    (ws / "ci" / "build.yml").write_text("include: {local: ci/nested.yml}\n")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "ci")

    def write(path: str) -> Decision:
        return check({"tool": "write_file", "path": path}, policy, ws, "interactive")

    for path in ("ci/build.yml", "ci/more-1.yml", "ci/nested.yml"):  # included, at any depth
        assert (write(path).decision, write(path).rule) == ("confirm", "paths.ci-config"), path
        assert decide(project, f"echo x > {path}").rule == "paths.ci-config", path
    assert decide(project, "rm ci/build.yml").rule == "paths.ci-config"
    assert write("ci/other.yml").decision == "allow"  # not included: an ordinary file
    assert decide(project, "cat ci/build.yml").decision == "allow"
    (ws / ".gitlab-ci.yml").write_text("include: [")  # unparseable: its own rule still guards it
    assert write("ci/more-1.yml").decision == "allow"
    assert write(".gitlab-ci.yml").rule == "paths.ci-config"
