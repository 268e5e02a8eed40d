"""`ralph init [DIR]`: what it creates, what it appends, and that it never overwrites."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ralph import taskfile
from ralph.cli import init as scaffold
from ralph.cli import main
from ralph.config import Config, load_config
from ralph.guard.gate import shipped_policy
from tests.fakeserver import Turn


def ralph(monkeypatch: Any, capsys: Any, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ralph", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RALPH_MODEL", "RALPH_POLICY", "RALPH_MAX_TURNS"):
        monkeypatch.delenv(name, raising=False)


def test_empty_folder(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = ralph(monkeypatch, capsys, "init", "proj")  # does not exist yet: created
    assert code == 0, err
    proj = tmp_path / "proj"
    assert sorted(snapshot(proj)) == [
        ".gitignore",
        "policies/policy.toml",
        "ralph.toml",
        "tasks/plan.md",
    ]
    for name in ("tasks/plan.md", "policies/policy.toml", ".gitignore", "ralph.toml"):
        assert f"created  {name}" in out
    assert "cd proj" in out and "ralph run tasks/plan.md" in out

    plan = taskfile.load(proj / "tasks" / "plan.md")
    assert plan.title == "Starter plan"
    assert len(plan.steps) >= 2 and all(step.verify for step in plan.steps)

    policy = (proj / "policies" / "policy.toml").read_text()
    shipped = shipped_policy("default").read_text()
    assert policy.endswith(shipped) and "ralph policy lint" in policy[: -len(shipped)]
    from ralph.guard.policy import load_policy

    load_policy(proj / "policies" / "policy.toml")  # the copy is a valid policy

    assert (proj / ".gitignore").read_text().splitlines()[-1] == ".ralph/"
    cfg = load_config(proj)
    assert cfg.model == scaffold.DEFAULT_MODEL
    assert cfg.policy == "policies/policy.toml"
    assert (cfg.max_turns, cfg.max_step_time) == (Config().max_turns, Config().max_step_time)


def test_current_folder_is_the_default(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = ralph(monkeypatch, capsys, "init")
    assert code == 0, err
    assert (tmp_path / "tasks" / "plan.md").is_file()
    assert "\n  cd " not in out


def test_python_project_gets_tool_ralph_appended(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    original = b'[project]\r\nname = "demo"\r\n\r\n[tool.ruff]\r\nline-length = 100'  # no final EOL
    (tmp_path / "pyproject.toml").write_bytes(original)
    (tmp_path / ".gitignore").write_bytes(b"__pycache__/\n*.pyc")
    code, out, err = ralph(monkeypatch, capsys, "init", str(tmp_path))
    assert code == 0, err
    assert "appended pyproject.toml" in out and "appended .gitignore" in out

    data = (tmp_path / "pyproject.toml").read_bytes()
    assert data.startswith(original)
    added = data[len(original) :]
    assert added.startswith(b"\r\n\r\n[tool.ralph]\r\n")
    assert b"\n" not in added.replace(b"\r\n", b"")  # the file's own line endings
    parsed = tomllib.loads(data.decode())
    assert parsed["project"] == {"name": "demo"} and parsed["tool"]["ruff"] == {"line-length": 100}
    assert parsed["tool"]["ralph"]["policy"] == "policies/policy.toml"
    assert not (tmp_path / "ralph.toml").exists()
    assert load_config(tmp_path).model == scaffold.DEFAULT_MODEL

    ignore = (tmp_path / ".gitignore").read_bytes()
    assert ignore.startswith(b"__pycache__/\n*.pyc\n") and ignore.endswith(b"\n.ralph/\n")


def test_twice_overwrites_nothing(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    assert ralph(monkeypatch, capsys, "init", str(tmp_path))[0] == 0
    (tmp_path / "tasks" / "plan.md").write_text("# Mine\n\n- [ ] my own step\n")
    with (tmp_path / "policies" / "policy.toml").open("a") as f:
        f.write("# my edit\n")
    before = snapshot(tmp_path)

    code, out, err = ralph(monkeypatch, capsys, "init", str(tmp_path))
    assert code == 0, err
    assert snapshot(tmp_path) == before
    assert "created" not in out and "appended" not in out
    for name in ("tasks/plan.md", "policies/policy.toml", ".gitignore", "pyproject.toml"):
        assert f"skipped  {name}" in out
    assert "[tool.ralph] exists" in out and ".ralph/ is ignored already" in out


def test_existing_ralph_toml_keeps_pyproject_untouched(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    (tmp_path / "ralph.toml").write_text('model = "openai:gpt-5"\n')
    before = snapshot(tmp_path)
    assert ralph(monkeypatch, capsys, "init", str(tmp_path))[0] == 0
    after = snapshot(tmp_path)
    assert after["pyproject.toml"] == before["pyproject.toml"]
    assert after["ralph.toml"] == before["ralph.toml"]
    assert load_config(tmp_path).model == "openai:gpt-5"


def test_pyproject_that_cannot_take_the_table_falls_back_to_ralph_toml(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    original = b'tool = { black = { line-length = 88 } }\n[project]\nname = "demo"\n'
    (tmp_path / "pyproject.toml").write_bytes(original)
    code, out, err = ralph(monkeypatch, capsys, "init", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / "pyproject.toml").read_bytes() == original
    assert "created  ralph.toml" in out and "pyproject.toml cannot take it" in out
    assert load_config(tmp_path).policy == "policies/policy.toml"


def test_broken_pyproject_is_exit_2_and_nothing_is_created(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\nname = 1\n")
    before = snapshot(tmp_path)
    code, out, err = ralph(monkeypatch, capsys, "init", str(tmp_path))
    assert code == 2
    assert "pyproject.toml: not valid TOML" in err
    assert snapshot(tmp_path) == before and not (tmp_path / "tasks").exists()


@pytest.mark.parametrize(
    "existing", [b".ralph\n", b"/.ralph/\nnode_modules/\n", b"build/\r\n.ralph/\r\n"]
)
def test_state_folder_already_ignored(
    tmp_path: Path, monkeypatch: Any, capsys: Any, existing: bytes
) -> None:
    (tmp_path / ".gitignore").write_bytes(existing)
    code, out, err = ralph(monkeypatch, capsys, "init", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / ".gitignore").read_bytes() == existing
    assert "skipped  .gitignore" in out


def test_subfolder_of_a_git_repository_is_pointed_out(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    (tmp_path / ".git").mkdir()
    code, out, err = ralph(monkeypatch, capsys, "init", str(tmp_path / "sub"))
    assert code == 0, err
    assert "inside the git repository" in out


def test_commented_budget_defaults_are_the_real_defaults(tmp_path: Path) -> None:
    """Uncommenting a budget line that shows a default must not change the config."""
    lines = []
    for line in scaffold._config_body().splitlines():
        if line.startswith("# ") and " = " in line and "no limit" not in line:
            line = line[2:]
        lines.append(line)
    uncommented = "\n".join(lines) + "\n"
    (tmp_path / "ralph.toml").write_text(uncommented)
    data = tomllib.loads(uncommented)
    assert len(data) == 8  # model, policy and the six budgets that have defaults
    cfg = load_config(tmp_path)
    assert cfg == Config(model=cfg.model, policy=cfg.policy)


def test_a_project_set_up_by_init_runs_its_plan_outside_git(
    ralph_anthropic: Any, tmp_path: Path
) -> None:
    """No git: the workspace is the folder with ralph.toml, so its model and policy apply."""
    project = tmp_path / "demo"
    code, _, err = ralph_anthropic("init", str(project))
    assert code == 0, err
    ralph_anthropic.server.add(
        Turn(tool_calls=[("write_file", {"path": "NOTES.md", "content": "# Notes\n"})]),
        Turn(tool_calls=[("finish_step", {"outcome": "done", "summary": "wrote NOTES.md"})]),
    )
    code, out, err = ralph_anthropic("run", str(project / "tasks" / "plan.md"), "--json")
    assert code == 0, err
    assert (project / "NOTES.md").exists()
    run = json.loads(out)
    record = (project / ".ralph" / "runs" / f"{run['run_id']}.jsonl").read_text()
    start = json.loads(record.splitlines()[0])
    assert start["policy"] == str((project / "policies" / "policy.toml").resolve())


def test_the_state_folder_follows_ralph_state_dir(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RALPH_STATE_DIR", str(tmp_path / "cache" / "ralph-state"))
    code, out, err = ralph(monkeypatch, capsys, "init", "proj")
    assert code == 0, err
    assert (tmp_path / "cache" / "ralph-state").is_dir()
    assert not (tmp_path / "proj" / ".ralph").exists()
    assert f"created  {tmp_path / 'cache' / 'ralph-state'}/" in out
