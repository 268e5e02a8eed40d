"""`ralph status` and `ralph next`: output, JSON shape, exit codes, and a light import set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ralph.cli import cli

PLAN = """\
# Launch

## Build
- [x] scaffold the app
- [ ] add login
  - returns 200 for a good password
  - verify: `pytest -q`
  - ralph: failed (attempt 1/3) · 2026-11-29 04:40 UTC · tests failed
  - [ ] write the form
- [-] maybe later
- [ ] stuck
  - ralph: blocked after 3 attempts · needs a key
"""

STEP_KEYS = {"line", "checked", "state", "text", "depth", "attempts", "note"}


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.md"
    path.write_text(PLAN)
    return path


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), standalone_mode=False)
    if result.exception is not None:
        raise result.exception
    return result


def run_ralph(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ralph", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_status_json_shape(plan: Path) -> None:
    result = invoke("status", str(plan), "--json")
    assert result.return_value == 0
    data = json.loads(result.output)
    assert set(data) == {"file", "steps", "next", "warnings"}
    assert data["file"] == str(plan)
    assert all(set(s) == STEP_KEYS for s in data["steps"])
    assert [(s["line"], s["state"], s["depth"], s["attempts"]) for s in data["steps"]] == [
        (4, "done", 0, 0),
        (5, "failed", 0, 1),
        (9, "todo", 1, 0),
        (11, "blocked", 0, 3),
    ]
    assert data["next"] == data["steps"][2]
    notes = [s["note"] for s in data["steps"]]  # each step's last note, or null
    assert notes[1] == "failed (attempt 1/3) · 2026-11-29 04:40 UTC · tests failed"
    assert notes[2] is None and notes[3].startswith("blocked after 3 attempts")
    assert data["warnings"] == [
        "line 10: `[-]` is not a task box (use `[ ]` or `[x]`); ralph ignores it"
    ]


def test_status_table_shows_states_notes_counts_and_warnings(plan: Path) -> None:
    out = invoke("status", str(plan)).output
    assert "add login" in out and "failed (attempt 1/3)" in out
    assert "4 steps · 1 done · 1 todo · 1 failed · 1 blocked" in out
    assert "warning: line 10" in out
    assert "next: line 9: write the form" in out


def test_next_shows_the_step_and_its_context(plan: Path) -> None:
    out = invoke("next", str(plan)).output
    assert "line 9" in out and "write the form" in out
    assert "Launch › Build" in out and "add login" in out
    data = json.loads(invoke("next", str(plan), "--json").output)
    assert data["next"]["line"] == 9
    assert data["context"]["parents"] == ["add login"]
    assert data["context"]["headings"] == ["Launch", "Build"]


def test_next_when_nothing_is_left(tmp_path: Path) -> None:
    path = tmp_path / "done.md"
    path.write_text("- [x] a\n- [X] b\n")
    result = invoke("next", str(path))
    assert result.return_value == 0 and "Nothing left to do" in result.output
    assert json.loads(invoke("next", str(path), "--json").output)["next"] is None
    path.write_text("- [x] a\n- [ ] b\n  - ralph: blocked after 3 attempts · x\n")
    assert "wait for a person" in invoke("next", str(path)).output


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"), (b"prose\n", "no steps")],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "plan.md"
    if content is not None:
        path.write_bytes(content)
    for command in ("status", "next"):
        proc = run_ralph(command, str(path))
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and message in proc.stderr
    if content is not None:
        assert path.read_bytes() == content


def test_folder_exits_2(tmp_path: Path) -> None:
    proc = run_ralph("status", str(tmp_path))
    assert proc.returncode == 2 and "is a folder" in proc.stderr


HEAVY = ("anthropic", "openai", "tree_sitter", "tree_sitter_bash")
PROBE = """
import json, sys
sys.argv = ["ralph", *json.loads(sys.argv[1])]
import ralph.cli
try:
    ralph.cli.main()
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m in {heavy} or m.split(".")[0] in {heavy})
sys.stderr.write("HEAVY=" + json.dumps(heavy) + "\\n")
"""


def imported(args: list[str], forbidden: tuple[str, ...], cwd: Path) -> list[str]:
    """Which of `forbidden` (packages or modules) `ralph ARGS` imports, in a fresh process."""
    code = PROBE.replace("{heavy}", repr(set(forbidden)))
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    assert proc.stdout, proc.stderr
    heavy_line = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")]
    assert len(heavy_line) == 1, proc.stderr
    return json.loads(heavy_line[0].removeprefix("HEAVY="))


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["status", "PLAN"], ["next", "PLAN", "--json"]]
)
def test_light_commands_do_not_import_sdks_or_shell_parser(plan: Path, args: list[str]) -> None:
    args = [str(plan) if a == "PLAN" else a for a in args]
    assert imported(args, HEAVY, plan.parent) == []


def test_check_does_not_import_the_approvals_store_or_filelock(tmp_path: Path) -> None:
    forbidden = ("anthropic", "openai", "filelock", "ralph.guard.approvals", "ralph.guard.gate")
    assert imported(["check", "--", "ls"], forbidden, tmp_path) == []
    # the probe sees imports: a command that needs the store does import it
    assert "ralph.guard.approvals" in imported(["approvals"], forbidden, tmp_path)
