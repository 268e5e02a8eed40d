"""The shipped idea-to-prototype example: in an unattended run its deploy step waits for a
person, and after `ralph approvals approve` the exact deploy goes through on the next run."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ralph import taskfile
from tests.fakeserver import Turn
from tests.harness import Ralph, cmd, finish

EXAMPLE = Path(__file__).resolve().parents[1] / "tasks" / "prototype.md"


@pytest.fixture
def ralph(ralph_anthropic: Ralph) -> Ralph:
    return ralph_anthropic


def test_example_plan_parses_with_verify_lines_and_a_deploy_step() -> None:
    tf = taskfile.load(EXAMPLE)
    assert not tf.warnings
    assert len(tf.steps) >= 5
    assert sum(1 for s in tf.steps if s.verify) >= 3
    assert any("deploy" in s.text.lower() for s in tf.steps)


def test_deploy_waits_for_a_person_then_goes_through(
    ralph: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    ws = tmp_path / "proj"
    (ws / "tasks").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    plan = ws / "tasks" / "prototype.md"
    plan.write_bytes(EXAMPLE.read_bytes())
    deploy = [s for s in taskfile.load(plan).steps if "deploy" in s.text.lower()][-1]
    for step in taskfile.load(plan).steps:  # the earlier phases are done
        if step.line < deploy.line and not step.checked:
            taskfile.record_outcome(plan, step, "done")
    assert taskfile.load(plan).next_step().text == deploy.text

    # A stand-in `fly` on PATH records that the deploy really ran; every verify passes. Both
    # live in the workspace: commands run in the sandbox, where the rest of /tmp is private.
    bin_dir = ws / "bin"
    bin_dir.mkdir()
    log = ws / "ran.log"
    for name in ("fly", "flyctl", "curl"):
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    command = _deploy_command(deploy)

    ralph.server.add(
        Turn(tool_calls=[cmd(command)]),
        Turn(tool_calls=[finish("deploy needs a person", "blocked")]),
    )
    code, summary, err = ralph.run(plan, "--unattended")
    assert code == 3, err
    assert not log.exists()
    approval = summary["steps"][0]["approval_ids"][0]
    assert taskfile.load(plan).locate(deploy).state == "awaiting_approval"

    code, out, err = ralph("approvals", "approve", approval, "--workspace", str(ws))
    assert code == 0, err
    ralph.server.add(Turn(tool_calls=[cmd(command)]), Turn(tool_calls=[finish("deployed")]))
    code, summary, err = ralph.run(plan, "--unattended")
    assert code == 0, err
    assert command.split()[0] in log.read_text()
    assert taskfile.load(plan).locate(deploy).checked


def _deploy_command(step: taskfile.Step) -> str:
    """The deploy command the example's step names (in backticks), else `fly deploy`."""
    for text in (step.text, *step.hints):
        m = re.search(r"`((?:fly|flyctl) [^`]+)`", text)
        if m:
            return m.group(1)
    return "fly deploy"
