"""What a new user meets in the first hour: `ralph config`, the default plan, help
examples, and errors that say once, clearly, what to fix."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ralph import taskfile
from tests.fakeserver import Error, Turn
from tests.harness import Ralph, finish

_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", re.M)


def _plain(err: str) -> str:
    """stderr without the UTC time that starts each line off a terminal."""
    return _STAMP.sub("", err)


def test_errors_off_a_terminal_start_with_the_utc_time(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = ralph_anthropic("run", "--model", ralph_anthropic.model)
    assert code == 2 and _STAMP.match(err) and "ralph: no task file given" in err


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RALPH_MODEL", "RALPH_POLICY", "RALPH_MAX_TURNS", "RALPH_PLAN"):
        monkeypatch.delenv(name, raising=False)


def test_config_shows_each_setting_with_its_source(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "ralph.toml").write_text('model = "openai:gpt-5"\nmax-step-cost = 2\n')
    monkeypatch.setenv("RALPH_MAX_TURNS", "20")
    monkeypatch.chdir(tmp_path)
    code, out, err = ralph_anthropic("config")
    assert code == 0, err
    lines = {line.split()[0]: line.split(None, 2)[1:] for line in out.splitlines()[1:]}
    toml = str(tmp_path / "ralph.toml")
    assert lines["model"] == ["openai:gpt-5", f"{toml}: model"]
    assert lines["max-step-cost"] == ["2.0", f"{toml}: max-step-cost"]
    assert lines["max-turns"] == ["20", "RALPH_MAX_TURNS"]
    assert lines["max-attempts"] == ["3", "default"]

    code, out, err = ralph_anthropic("config", "--json")
    assert code == 0, err
    settings = json.loads(out)["settings"]
    assert settings["max-turns"] == {"value": 20, "source": "RALPH_MAX_TURNS"}
    assert settings["max-wait"] == {"value": 900.0, "source": "default"}


def test_config_with_a_bad_file_is_exit_2_naming_the_key(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "ralph.toml").write_text('max-turns = "many"\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = ralph_anthropic("config")
    assert code == 2
    assert _plain(err).strip() == (
        f"ralph: {tmp_path / 'ralph.toml'}: max-turns: expected a whole number, got 'many'"
    )


def _project(root: Path, plan: str = "# Plan\n\n- [ ] one\n- [ ] two\n") -> Path:
    (root / "ralph.toml").write_text("")
    (root / "tasks").mkdir()
    (root / "tasks" / "plan.md").write_text(plan)
    return root


def test_run_without_a_task_file_takes_tasks_plan_md(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    ws = _project(tmp_path)
    monkeypatch.chdir(ws)
    ralph_anthropic.server.add(Turn(tool_calls=[finish("first")]))
    code, out, err = ralph_anthropic("run", "--model", ralph_anthropic.model, "--json")
    assert code == 0, err
    assert json.loads(out)["file"] == str(ws / "tasks" / "plan.md")
    assert taskfile.load(ws / "tasks" / "plan.md").steps[0].checked


def test_run_without_a_task_file_takes_the_configured_plan(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    ws = _project(tmp_path)
    (ws / "ralph.toml").write_text('plan = "tasks/other.md"\n')
    (ws / "tasks" / "other.md").write_text("- [ ] other\n")
    monkeypatch.chdir(ws / "tasks")  # the workspace is found above
    ralph_anthropic.server.add(Turn(tool_calls=[finish("other")]))
    code, out, err = ralph_anthropic("run", "--model", ralph_anthropic.model)
    assert code == 0, err
    assert (ws / "tasks" / "other.md").read_text().startswith("- [x] other")
    assert not taskfile.load(ws / "tasks" / "plan.md").steps[0].checked


def test_run_without_a_task_file_or_a_plan_is_exit_2(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "ralph.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    code, out, err = ralph_anthropic("run", "--model", ralph_anthropic.model)
    assert code == 2
    assert _plain(err).startswith("ralph: no task file given and no tasks/plan.md in ")
    assert err.count("\n") == 1 and ralph_anthropic.server.requests == []
    (tmp_path / "ralph.toml").write_text('plan = "tasks/missing.md"\n')
    code, out, err = ralph_anthropic("run", "--model", ralph_anthropic.model)
    assert code == 2 and "configured plan" in err and "tasks/missing.md" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--steps", "2", "--all"), "give --steps N or --all, not both"),
        (("--steps", "-1"), "-1 is not in the range x>=1"),
        (("--max-turns", "-5"), "--max-turns: expected a whole number of 0 or more"),
        (("--max-step-cost", "-1"), "--max-step-cost: expected a number of 0 or more"),
        (("--max-time", "-1h"), "--max-time: expected a duration"),
    ],
)
def test_bad_step_counts_and_negative_budgets_are_usage_errors(
    ralph_anthropic: Ralph, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    ws = _project(tmp_path)
    code, _, err = ralph_anthropic.run(ws / "tasks" / "plan.md", *args)
    assert code == 2 and message in err, err
    assert ralph_anthropic.server.requests == []


def test_steps_n_counts_attempts_and_the_summary_says_how_they_went(
    ralph_anthropic: Ralph, tmp_path: Path
) -> None:
    ws = _project(tmp_path, "- [ ] fails\n  - verify: `false`\n- [ ] works\n")
    ralph_anthropic.server.add(
        Turn(tool_calls=[finish("tried")]), Turn(tool_calls=[finish("tried again")])
    )
    code, summary, err = ralph_anthropic.run(ws / "tasks" / "plan.md", "--steps", "2")
    assert code == 1, err
    assert [s["outcome"] for s in summary["steps"]] == ["failed", "failed"]
    assert summary["stopped"] == "attempted 2 steps as asked (2 failed)"


def test_a_broken_policy_stops_before_the_first_model_call(
    ralph_anthropic: Ralph, tmp_path: Path
) -> None:
    ws = _project(tmp_path)
    bad = ws / "policy.toml"
    bad.write_text('[[rule]]\nid = "x"\ndecision = "allow"\nprogram = "ls"\nmatch = ["rm -rf /"]\n')
    code, _, err = ralph_anthropic.run(ws / "tasks" / "plan.md", "--policy", str(bad))
    assert code == 2, err
    assert _plain(err).startswith(f"ralph: {bad}:") and err.count("\n") == 1
    assert ralph_anthropic.server.requests == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_base_url_that_refuses_connections_fails_at_once_naming_it(
    ralph: Ralph, tmp_path: Path
) -> None:
    ws = _project(tmp_path)
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    code, _, err = ralph.run(ws / "tasks" / "plan.md", "--base-url", url)
    assert code == 2, err
    lines = [line for line in _plain(err).splitlines() if line.startswith("ralph:")]
    assert len(lines) == 1 and f"cannot connect to {url}" in lines[0]
    assert "connection refused" in lines[0] and "gave up" not in err


@pytest.mark.parametrize(("status", "hint"), [(401, "authentication failed"), (404, "not found")])
def test_401_and_404_are_configuration_errors(
    ralph: Ralph, tmp_path: Path, status: int, hint: str
) -> None:
    ws = _project(tmp_path)
    ralph.server.add(Error(status))
    code, _, err = ralph.run(ws / "tasks" / "plan.md")
    assert code == 2, err
    assert len(ralph.server.requests) == 1  # not retried
    lines = [line for line in _plain(err).splitlines() if line.startswith("ralph:")]
    assert len(lines) == 1 and f"HTTP {status}, {hint}" in lines[0], err


def test_an_error_inside_a_run_is_printed_once(ralph_anthropic: Ralph, tmp_path: Path) -> None:
    ws = _project(tmp_path)
    ralph_anthropic.server.add(Error(400, message="bad request body"))
    code, _, err = ralph_anthropic.run(ws / "tasks" / "plan.md")
    assert code == 1, err
    assert err.count("bad request body") == 1, err


MAIN_COMMANDS = ["run", "audit", "plan", "status", "next", "check", "approvals", "init", "config"]


@pytest.mark.parametrize("command", MAIN_COMMANDS)
def test_help_shows_real_examples_that_parse(command: str) -> None:
    """Each main command's --help has two or three examples, and each one is a command
    line click accepts (real flags, right arguments)."""
    import shlex

    import click

    from ralph.cli import cli

    group = cli
    result = CliRunner().invoke(group, [command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    examples = result.output.split("Examples:\n", 1)[1].split("\n\n")[0].splitlines()
    assert 2 <= len(examples) <= 3, result.output
    for line in examples:
        segment = next(part for part in line.split(" | ") if "ralph " in part)
        words = shlex.split(segment, comments=True)
        while words and "=" in words[0]:  # VAR=value ralph ...
            words.pop(0)
        assert words[:2] == ["ralph", command], line
        sub = group.get_command(click.Context(group), command)
        assert sub is not None
        args = words[2:]
        if isinstance(sub, click.Group) and args and args[0] in sub.commands:
            sub, args = sub.commands[args[0]], args[1:]  # e.g. ralph approvals approve ID
        sub.make_context(command, args, resilient_parsing=False)  # raises on a bad line


def test_completion_is_documented_and_works() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert 'eval "$(_RALPH_COMPLETE=bash_source ralph)"' in readme
    import subprocess
    import sys

    env = {**os.environ, "_RALPH_COMPLETE": "bash_source"}
    out = subprocess.run(
        [sys.executable, "-c", "from ralph.cli import main; main()"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert "_ralph_completion" in out.stdout, out.stderr


def test_init_creates_the_state_folder_and_writes_an_example(
    ralph_anthropic: Ralph, tmp_path: Path
) -> None:
    from ralph.cli.init import example_text

    code, out, err = ralph_anthropic("init", str(tmp_path / "p"), "--example", "prototype")
    assert code == 0, err
    assert (tmp_path / "p" / ".ralph").is_dir() and "created  .ralph/" in out
    assert (tmp_path / "p" / "tasks" / "prototype.md").read_text() == example_text("prototype")
    assert taskfile.load(tmp_path / "p" / "tasks" / "prototype.md").steps
    assert "ralph run tasks/prototype.md --all" in out
    code, out, err = ralph_anthropic("init", str(tmp_path / "p"), "--example", "audit")
    assert code == 0, err
    assert "skipped  .ralph/" in out and "ralph audit tasks/audit.md" in out
    assert (tmp_path / "p" / "tasks" / "audit.md").read_text() == example_text("audit")
    code, out, err = ralph_anthropic("init", str(tmp_path / "q"), "--example", "nope")
    assert code == 2 and not (tmp_path / "q").exists()


def _readme_line(pattern: str) -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    found = re.search(pattern, readme, re.M)
    assert found, pattern
    return found.group(0)


def _as_test_command(line: str, project: Path) -> str:
    """The README's line for this project, with this Python's ralph and no network."""
    line = re.sub(r"^cd \S+", f"cd {shlex.quote(str(project))}", line)
    line = re.sub(r"--notify-url \S+ ?", "", line)
    return re.sub(r"(^|&& |/)ralph ", rf"\g<1>{shlex.quote(sys.executable)} -m ralph ", line)


@pytest.mark.slow
def test_the_readme_cron_and_systemd_lines_work_on_a_fresh_project(
    ralph_anthropic: Ralph, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    code, _, err = ralph_anthropic("init", str(project))
    assert code == 0, err
    cron = _readme_line(r"(?<=^\*/10 \* \* \* \* ).*$")
    exec_start = _readme_line(r"(?<=^ExecStart=%h/\.local/bin/).*$")
    assert cron.endswith(">> .ralph/cron.log 2>&1")
    server = ralph_anthropic.server
    for _ in range(2):  # the starter plan's two steps
        server.add(
            Turn(tool_calls=[("write_file", {"path": "NOTES.md", "content": "# Notes\n"})]),
            Turn(tool_calls=[("edit_file", {"path": "NOTES.md", "old_text": "# Notes\n",
                                            "new_text": "# Notes\n\n## How to run\n"})]),
            Turn(tool_calls=[finish("wrote NOTES.md")]),
        )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env |= {"ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": server.url}
    done = subprocess.run(
        ["sh", "-c", _as_test_command(cron, project)], env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = (project / ".ralph" / "cron.log").read_text().splitlines()
    (run,) = (project / ".ralph" / "runs").glob("*.jsonl")
    stamp = re.compile(rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ {re.escape(run.stem)} ")
    assert lines and all(stamp.match(line) for line in lines), lines
    assert lines[-1].endswith("ralph: every step is done")
    # The systemd unit runs the same command in the project folder; nothing is left to do.
    done = subprocess.run(
        ["sh", "-c", _as_test_command(exec_start, project)], cwd=project, env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "every step is done" in done.stderr, done.stderr


def _pycache(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("__pycache__", ".ralph")]


@pytest.mark.slow
def test_the_package_ships_the_examples_and_policies(tmp_path: Path) -> None:
    """setuptools' build_py (what a wheel, pipx or uv tool install packs) copies the
    examples and policies into the package, following the links to tasks/ and policies/."""
    import shutil

    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    for name in ("ralph", "tasks", "policies"):
        shutil.copytree(root / name, src / name, symlinks=True, ignore=_pycache)
    subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
         "--build-lib", str(tmp_path / "out")],
        cwd=src, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    built = tmp_path / "out" / "ralph"
    for name in ("examples/prototype.md", "examples/audit.md", "policies/default.toml"):
        assert (built / name).is_file() and not (built / name).is_symlink(), name
    shipped = (built / "examples" / "audit.md").read_text()
    assert shipped == (root / "tasks" / "audit.md").read_text()


@pytest.mark.slow
def test_a_double_ctrl_c_prints_aborted_once(tmp_path: Path) -> None:
    import signal
    import time

    from tests.fakeserver import FakeModelServer

    ws = _project(tmp_path, "- [ ] slow step\n")
    slow = Turn(tool_calls=[("run_command", {"command": "touch started; sleep 5; touch late"})])
    with FakeModelServer([slow]) as server:
        env = {**os.environ, "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": server.url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "ralph", "run", "--model", "anthropic:claude-sonnet-4-6"],
            cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not (ws / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # until the command runs
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.count("aborted") == 1 and "Aborted." not in err, err
    assert err.rstrip().endswith("ralph: aborted")


def test_status_and_next_without_a_task_file_show_the_project_plan(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    ws = _project(tmp_path)
    monkeypatch.chdir(ws)
    code, out, err = ralph_anthropic("status", "--json")
    assert code == 0, err
    assert json.loads(out)["file"] == str(ws / "tasks" / "plan.md")
    code, out, err = ralph_anthropic("next", "--json")
    assert code == 0 and json.loads(out)["next"]["text"] == "one", err
    (ws / "tasks" / "plan.md").unlink()
    code, out, err = ralph_anthropic("status")
    assert code == 2 and "no task file given" in err
