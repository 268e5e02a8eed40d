"""A task file is found where it is named: a symlink (or a linked folder) that points out of
the workspace does not move the workspace there; it is exit 2, unless --workspace says
where the workspace is. Writing back through a link updates the file it points to."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ralph import taskfile
from tests.fakeserver import Turn
from tests.harness import Ralph, finish

PLAN = "# Plan\n\n- [ ] Write hello.txt\n- [ ] Later\n"


@pytest.fixture
def ralph(ralph_anthropic: Ralph) -> Ralph:
    return ralph_anthropic


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    """A git workspace whose plan.md is a symlink to a plan in a folder outside it."""
    ws = tmp_path / "proj"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "plan.md").write_text(PLAN)
    (ws / "plan.md").symlink_to(outside / "plan.md")
    return ws, outside


COMMANDS = [
    ("status", "plan.md"),
    ("status", "plan.md", "--json"),
    ("next", "plan.md"),
    ("next", "plan.md", "--prompt"),
    ("matrix", "plan.md"),
    ("ci", "github", "plan.md"),
    ("run", "plan.md", "--model", "anthropic:claude-sonnet-4-6"),
    ("audit", "plan.md", "--model", "anthropic:claude-sonnet-4-6"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_plan_linked_from_outside_is_exit_2_for_every_command(
    ralph: Ralph,
    linked: tuple[Path, Path],
    command: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, outside = linked
    monkeypatch.chdir(ws)
    code, out, err = ralph(*command)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "outside the workspace" in lines[0] and "--workspace" in lines[0]
    assert str(outside / "plan.md") in lines[0]
    assert sorted(p.name for p in outside.iterdir()) == ["plan.md"]  # no .ralph/ there
    assert (outside / "plan.md").read_text() == PLAN and ralph.server.requests == []
    assert not (ws / ".github").exists()


def test_a_plan_in_a_linked_folder_and_the_default_plan_count_too(
    ralph: Ralph, linked: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, outside = linked
    (ws / "plan.md").unlink()
    (ws / "tasks").symlink_to(outside)  # tasks/plan.md: the default plan, through a folder
    monkeypatch.chdir(ws)
    for args in (["status", "tasks/plan.md"], ["status"], ["next"], ["matrix"]):
        code, out, err = ralph(*args)
        assert code == 2 and "outside the workspace" in err, (args, out, err)
    monkeypatch.chdir(ws.parent)
    code, _, err = ralph("status", str(ws / "tasks" / "plan.md"))
    assert code == 2 and "outside the workspace" in err


def test_with_workspace_given_the_link_is_followed_and_kept(
    ralph: Ralph, linked: tuple[Path, Path]
) -> None:
    ws, outside = linked
    code, out, err = ralph("status", str(ws / "plan.md"), "--workspace", str(ws))
    assert code == 0 and "Write hello.txt" in out, err
    ralph.server.add(Turn(tool_calls=[finish("wrote it")]))
    code, summary, err = ralph.run(ws / "plan.md", "--workspace", str(ws))
    assert code == 0, err
    assert (ws / "plan.md").is_symlink()  # the write-back went through the link
    assert [s.checked for s in taskfile.load(outside / "plan.md").steps] == [True, False]
    assert (ws / ".ralph" / "runs").is_dir() and not (outside / ".ralph").exists()
    assert sorted(os.listdir(outside)) == ["plan.md"]  # no temp file left beside it


def test_a_link_inside_the_workspace_is_written_through(ralph: Ralph, tmp_path: Path) -> None:
    """plan.md -> tasks/v2.md, both in the workspace: the target gets the box, the link stays
    a link (an atomic write must not replace it with a copy)."""
    ws = tmp_path / "proj"
    (ws / "tasks").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "tasks" / "v2.md").write_text(PLAN)
    (ws / "plan.md").symlink_to(Path("tasks") / "v2.md")
    ralph.server.add(Turn(tool_calls=[finish("wrote it")]))
    code, _, err = ralph.run(ws / "plan.md")
    assert code == 0, err
    assert (ws / "plan.md").is_symlink() and os.readlink(ws / "plan.md") == "tasks/v2.md"
    assert "[x] Write hello.txt" in (ws / "tasks" / "v2.md").read_text()
    assert sorted(os.listdir(ws / "tasks")) == ["v2.md"]
    code, out, _ = ralph("status", str(ws / "plan.md"))
    assert code == 0 and "next: line 5: Later" in out
