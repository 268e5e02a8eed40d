"""`ralph run` end to end: the real CLI, the real SDKs, the real guard and tools, against the
fake model server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ralph.cli import main
from tests.fakeserver import Error, FakeModelServer, Turn
from tests.harness import Ralph, cmd, finish

PLAN = """\
# Demo plan

## Build

- [ ] Create hello.txt saying hi
  - verify: `grep -q hi hello.txt`
- [ ] Second step
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    ws = tmp_path / "proj"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "tasks").mkdir()
    (ws / "tasks" / "plan.md").write_text(PLAN)
    return ws


def user_messages(server: FakeModelServer, index: int) -> list[Any]:
    """The user entries of request `index`, whatever the API."""
    req = server.requests[index]
    if req.api == "responses":
        items = req.body["input"]
        return [i for i in items if i.get("role") == "user"]
    return [m for m in req.body["messages"] if m["role"] == "user"]


def test_multi_turn_edit_passes_verify(ralph: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    ralph.server.add(
        Turn(tool_calls=[("write_file", {"path": "hello.txt", "content": "hi there\n"})]),
        Turn(tool_calls=[cmd("cat hello.txt")]),
        Turn(tool_calls=[finish("wrote hello.txt")]),
    )
    code, summary, err = ralph.run(plan)
    assert code == 0, err
    ralph.server.assert_complete()
    assert (project / "hello.txt").read_text() == "hi there\n"
    text = plan.read_text()
    assert "- [x] Create hello.txt saying hi" in text
    note = [line for line in text.splitlines() if "ralph: done" in line]
    assert len(note) == 1 and "3 turns" in note[0] and "wrote hello.txt" in note[0]
    assert summary["steps"][0]["outcome"] == "done"
    # The first request of the step carries exactly one user message, built from the task file.
    first = user_messages(ralph.server, 0)
    assert len(first) == 1
    assert "Create hello.txt saying hi" in json.dumps(first[0])
    # The tool result of the command reached the model in the next request.
    assert "hi there" in json.dumps(ralph.server.requests[2].body)


def test_each_step_starts_a_fresh_session(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    ralph_anthropic.server.add(
        Turn(tool_calls=[("write_file", {"path": "hello.txt", "content": "hi\n"})]),
        Turn(tool_calls=[finish("first")]),
        Turn(tool_calls=[finish("second")]),
    )
    code, summary, err = ralph_anthropic.run(plan, "--steps", "2")
    assert code == 0, err
    assert [s["outcome"] for s in summary["steps"]] == ["done", "done"]
    third = ralph_anthropic.server.requests[2].body["messages"]
    assert len(third) == 1 and "Second step" in json.dumps(third)
    assert "hello.txt" not in json.dumps(third[0]["content"]).split("Recent progress")[0]


def test_destructive_command_refused_unattended(ralph: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    (project / "src").mkdir()
    (project / "src" / "keep.py").write_text("x = 1\n")
    ralph.server.add(
        Turn(tool_calls=[cmd("rm -rf src")]),
        Turn(tool_calls=[finish("could not delete", "blocked")]),
    )
    code, summary, err = ralph.run(plan)
    assert (project / "src" / "keep.py").exists()
    assert code == 3, err
    assert summary["steps"][0]["outcome"] == "awaiting_approval"
    approval = summary["steps"][0]["approval_ids"][0]
    assert f"awaiting approval {approval}" in plan.read_text()
    tool_result = json.dumps(ralph.server.requests[1].body)
    assert approval in tool_result and "refused" in tool_result.lower()


def test_write_to_policy_file_is_refused(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    policy = project / "policies" / "policy.toml"
    policy.parent.mkdir()
    shipped = Path(__file__).parents[1] / "policies" / "default.toml"
    policy.write_bytes(shipped.read_bytes())
    before = policy.read_bytes()
    ralph_anthropic.server.add(
        Turn(tool_calls=[("write_file", {"path": "policies/policy.toml", "content": "x"})]),
        Turn(tool_calls=[cmd("echo '[[rule]]' >> policies/policy.toml")]),
        Turn(tool_calls=[finish("gave up", "blocked")]),
    )
    code, summary, err = ralph_anthropic.run(plan, "--policy", str(policy))
    assert policy.read_bytes() == before
    assert code in (1, 3), err
    assert "refused" in json.dumps(ralph_anthropic.server.requests[1].body).lower()


def test_verify_failing_leaves_the_box_open(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    ralph_anthropic.server.add(
        Turn(tool_calls=[("write_file", {"path": "hello.txt", "content": "bye\n"})]),
        Turn(tool_calls=[finish("wrote it")]),
    )
    code, summary, err = ralph_anthropic.run(plan)
    assert code == 1, err
    text = plan.read_text()
    assert "- [ ] Create hello.txt" in text
    assert "failed (attempt 1/3)" in text and "verify failed" in text


def test_429_then_success(ralph: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    ralph.server.add(
        Error(429, {"retry-after": "0"}),
        Turn(tool_calls=[("write_file", {"path": "hello.txt", "content": "hi\n"})]),
        Turn(tool_calls=[finish()]),
    )
    code, summary, err = ralph.run(plan)
    assert code == 0, err
    ralph.server.assert_complete()


def test_repeated_500s_fail_cleanly(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    before = plan.read_bytes()
    ralph_anthropic.server.add(*[Error(500) for _ in range(20)])
    code, out, err = ralph_anthropic("run", str(plan), "--model", ralph_anthropic.model)
    assert code == 1
    assert "500" in err and "Traceback" not in err
    assert plan.read_bytes() == before  # a provider outage is not the step's failure


def test_malformed_arguments_and_unknown_tool_go_back_as_text(
    ralph_anthropic: Ralph, project: Path
) -> None:
    plan = project / "tasks" / "plan.md"
    ralph_anthropic.server.add(
        Turn(tool_calls=[("write_file", '{"path": "hello.txt", "content": ')]),
        Turn(tool_calls=[("launch_rockets", {"target": "moon"})]),
        Turn(tool_calls=[("write_file", {"path": "hello.txt", "content": "hi\n"})]),
        Turn(tool_calls=[finish()]),
    )
    code, summary, err = ralph_anthropic.run(plan)
    assert code == 0, err
    second = json.dumps(ralph_anthropic.server.requests[1].body)
    third = json.dumps(ralph_anthropic.server.requests[2].body)
    assert "JSON" in second or "json" in second
    assert "launch_rockets" in third and "no tool" in third.lower()


def test_huge_output_is_capped(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    ralph_anthropic.server.add(
        Turn(tool_calls=[cmd("seq 1 200000")]),
        Turn(tool_calls=[("write_file", {"path": "hello.txt", "content": "hi\n"})]),
        Turn(tool_calls=[finish()]),
    )
    code, summary, err = ralph_anthropic.run(plan)
    assert code == 0, err
    body = json.dumps(ralph_anthropic.server.requests[1].body)
    assert "truncated" in body and "200000" in body and len(body) < 100_000


def test_command_timeout_is_reported(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    ralph_anthropic.server.add(
        Turn(tool_calls=[cmd("sleep 30", timeout_s=1)]),
        Turn(tool_calls=[("write_file", {"path": "hello.txt", "content": "hi\n"})]),
        Turn(tool_calls=[finish()]),
    )
    code, summary, err = ralph_anthropic.run(plan)
    assert code == 0, err
    assert "timed out" in json.dumps(ralph_anthropic.server.requests[1].body).lower()


def test_no_tool_call_three_times_fails(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    ralph_anthropic.server.add(Turn(text="hmm"), Turn(text="well"), Turn(text="ok"))
    code, summary, err = ralph_anthropic.run(plan)
    assert code == 1, err
    assert "without a tool call" in plan.read_text()
    reminder = json.dumps(ralph_anthropic.server.requests[1].body)
    assert "no tool call" in reminder


def test_turn_budget(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    ralph_anthropic.server.add(*[Turn(tool_calls=[cmd("true")]) for _ in range(2)])
    code, summary, err = ralph_anthropic.run(plan, "--max-turns", "2")
    assert code == 1, err
    assert "out of turns (2)" in plan.read_text()


def test_missing_key_is_exit_2_naming_the_variable(
    project: Path, monkeypatch: Any, capsys: Any
) -> None:
    plan = project / "tasks" / "plan.md"
    monkeypatch.setattr(sys, "argv", ["ralph", "run", str(plan), "--model", "openai:gpt-5"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert not (project / ".ralph" / "runs").exists()


def test_nothing_left_is_exit_0(ralph_anthropic: Ralph, tmp_path: Path) -> None:
    plan = tmp_path / "done.md"
    plan.write_text("- [x] all done\n")
    code, summary, err = ralph_anthropic.run(plan)
    assert code == 0
    assert summary["stopped"] == "every step is done"
    assert ralph_anthropic.server.requests == []


def test_next_prompt_shows_first_request(project: Path, monkeypatch: Any, capsys: Any) -> None:
    plan = project / "tasks" / "plan.md"
    (project / "AGENTS.md").write_text("Use tabs.\n")
    monkeypatch.setattr(sys, "argv", ["ralph", "next", str(plan), "--prompt"])
    with pytest.raises(SystemExit) as e:
        main()
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "Create hello.txt saying hi" in out and "grep -q hi hello.txt" in out
    assert "Use tabs." in out and "tokens" in out


def test_second_run_exits_75_naming_the_holder(ralph_anthropic: Ralph, project: Path) -> None:
    import os

    from ralph.lock import run_lock

    plan = project / "tasks" / "plan.md"
    with run_lock(plan, project):
        code, _, err = ralph_anthropic("run", str(plan), "--model", ralph_anthropic.model)
    assert code == 75
    assert f"pid {os.getpid()}" in err
    assert ralph_anthropic.server.requests == []


def test_usage_limit_longer_than_max_wait_defers_the_step(
    ralph_anthropic: Ralph, project: Path
) -> None:
    plan = project / "tasks" / "plan.md"
    before = plan.read_bytes()
    ralph_anthropic.server.add(Error(429, {"retry-after": "10800"}))
    code, summary, err = ralph_anthropic.run(plan, "--max-wait", "15m")
    assert code == 1, err
    assert summary["steps"][0]["outcome"] == "deferred"
    assert plan.read_bytes() == before  # not counted as a failed attempt
    assert len(ralph_anthropic.server.requests) == 1  # no sleeping through three hours


def test_blocked_by_the_model_counts_as_an_attempt(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "tasks" / "plan.md"
    ralph_anthropic.server.add(Turn(tool_calls=[finish("the spec is missing", "blocked")]))
    code, _, err = ralph_anthropic.run(plan)
    assert code == 1, err
    assert "failed (attempt 1/3)" in plan.read_text()
    assert "blocked: the spec is missing" in plan.read_text()


def test_only_blocked_steps_left_is_exit_1(ralph_anthropic: Ralph, tmp_path: Path) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text("- [ ] stuck\n  - ralph: blocked after 3 attempts · verify failed\n")
    code, summary, _ = ralph_anthropic.run(plan)
    assert code == 1
    assert summary["stopped"] == "no runnable step: 1 open step(s) are blocked"
    assert ralph_anthropic.server.requests == []


def test_the_stuck_count_leaves_out_the_open_parents(
    ralph_anthropic: Ralph, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text(
        "- [ ] release\n  - [ ] build\n    - [ ] stuck\n"
        "      - ralph: blocked after 3 attempts · verify failed\n"
    )
    code, summary, _ = ralph_anthropic.run(plan)
    assert code == 1
    assert summary["stopped"] == "no runnable step: 1 open step(s) are blocked"
    code, out, _ = ralph_anthropic("next", str(plan))
    assert "1 open step(s) wait for a person: line 3 (blocked)" in out


def test_the_model_cannot_edit_the_plan_with_file_tools(
    ralph_anthropic: Ralph, project: Path
) -> None:
    plan = project / "tasks" / "plan.md"
    before = plan.read_text()
    checked = before.replace("- [ ] Create", "- [x] Create")
    ralph_anthropic.server.add(
        Turn(tool_calls=[("write_file", {"path": "tasks/plan.md", "content": checked})]),
        Turn(tool_calls=[("edit_file", {"path": str(plan), "old_text": "[ ]", "new_text": "[x]"})]),
        Turn(tool_calls=[finish("ticked it", "blocked")]),
    )
    code, _, err = ralph_anthropic.run(plan)
    assert code == 1, err
    assert "- [ ] Create hello.txt" in plan.read_text()
    for index in (1, 2):
        assert "finish_step instead" in json.dumps(ralph_anthropic.server.requests[index].body)
