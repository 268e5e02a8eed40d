"""Interactive mode through a real terminal: the question comes on /dev/tty, the default
answer is no, and "y" runs that one call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.fakeserver import FakeModelServer, Turn
from tests.harness import cmd, finish


def _run_in_terminal(ws: Path, server: FakeModelServer, answer: str) -> tuple[int, str]:
    env = dict(os.environ, ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=server.url)
    env["NO_COLOR"] = "1"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "ralph", "run", "plan.md", "--model", "anthropic:claude-sonnet-4-6"],
        cwd=str(ws),
        env=env,
        encoding="utf-8",
        timeout=30,
    )
    child.expect(r"Allow\? \[y\]es once / \[N\]o / \[a\]lways this exact call: ")
    question = child.before
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, question


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "runs"), [("y", True), ("", False), ("n", False)])
def test_confirm_asks_on_the_terminal(tmp_path: Path, answer: str, runs: bool) -> None:
    ws = tmp_path / "proj"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "plan.md").write_text("- [ ] remove the old code\n")
    (ws / "src").mkdir()
    (ws / "src" / "old.py").write_text("x = 1\n")
    script = [Turn(tool_calls=[cmd("rm -rf src")]), Turn(tool_calls=[finish("removed src")])]
    with FakeModelServer(script) as server:
        code, question = _run_in_terminal(ws, server, answer)
        result = server.requests[1].body["messages"][-1]["content"][0]
    assert "rm -rf src" in question and "rule:" in question and str(ws / "src") in question
    assert (ws / "src").exists() is not runs
    assert ("Refused" in str(result)) is not runs
    assert code == 0  # the model finished the step either way; no approval was queued
    assert not (ws / ".ralph" / "approvals").exists() or not any(
        (ws / ".ralph" / "approvals").iterdir()
    )
