"""`ralph replay`: calls recorded by real runs against the fake server, re-judged under a
stricter and a looser policy; a Claude Code transcript replayed through the hook mapping."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ralph.config import shipped_policy
from tests.fakeserver import Turn
from tests.harness import Ralph, cmd, finish

PLAN = "# Plan\n\n- [ ] Look around\n  - verify: `ls`\n"


@pytest.fixture
def recorded(ralph_anthropic: Ralph, tmp_path: Path) -> tuple[Ralph, Path]:
    """A project with one finished run: `ls src` allowed, `rm -rf src` queued for approval."""
    ws = tmp_path / "proj"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "plan.md").write_text(PLAN)
    ralph_anthropic.server.add(
        Turn(tool_calls=[cmd("ls src")]),
        Turn(tool_calls=[cmd("rm -rf src")]),
        Turn(tool_calls=[finish("looked")]),
    )
    code, _, err = ralph_anthropic.run(ws / "plan.md", "--unattended")
    assert code in (0, 3), err
    return ralph_anthropic, ws


def _policy(ws: Path, name: str, extra: str) -> Path:
    path = ws / f"{name}.toml"
    path.write_text(shipped_policy("default").read_text() + extra)
    return path


STRICTER = """
[[rule]]
id = "no-ls"
decision = "deny"
reason = "listing is banned here"
program = "ls"
"""


def _without_rule(text: str, rule_id: str) -> str:
    """The policy text without the [[rule]] block whose id is `rule_id`."""
    blocks = text.split("\n[[rule]]\n")
    kept = [b for b in blocks if not b.startswith(f'id = "{rule_id}"')]
    assert len(kept) == len(blocks) - 1, rule_id
    return "\n[[rule]]\n".join(kept)


def test_the_same_policy_changes_nothing(recorded: tuple[Ralph, Path]) -> None:
    ralph, ws = recorded
    code, out, err = ralph("replay", "--all", "--workspace", str(ws), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["calls"] >= 3  # two commands and the verify
    assert report["changed"] == 0


def test_a_stricter_policy_is_reported_and_exits_0(recorded: tuple[Ralph, Path]) -> None:
    ralph, ws = recorded
    policy = _policy(ws, "strict", STRICTER)
    code, out, err = ralph(
        "replay", "--all", "--workspace", str(ws), "--policy", str(policy), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["buckets"]["stricter"] >= 2  # `ls src` and the verify `ls`
    assert report["buckets"]["looser"] == 0
    assert {c["after"]["rule"] for c in report["changes"]} == {"no-ls"}
    assert report["per_rule"]["stricter no-ls"] == report["buckets"]["stricter"]


def test_a_looser_policy_exits_1(recorded: tuple[Ralph, Path]) -> None:
    ralph, ws = recorded
    policy = ws / "loose.toml"
    text = _without_rule(shipped_policy("default").read_text(), "files.delete-tree")
    policy.write_text(_without_rule(text, "files.delete-unrecoverable"))  # src is untracked
    code, out, _ = ralph("replay", "--all", "--workspace", str(ws), "--policy", str(policy))
    assert code == 1
    assert "1 looser" in out and "rm -rf src" in out


def test_replay_needs_something_to_replay(recorded: tuple[Ralph, Path]) -> None:
    ralph, ws = recorded
    code, _, err = ralph("replay", "--workspace", str(ws))
    assert code == 2 and "--all" in err


def test_a_claude_transcript_replays_through_the_hook_mapping(
    ralph_anthropic: Ralph, tmp_path: Path
) -> None:
    ws = tmp_path / "proj"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    lines = [
        {"type": "user", "message": {"role": "user", "content": "tidy up"}},
        {
            "type": "assistant",
            "message": {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}},
                    {
                        "type": "tool_use",
                        "id": "t2",
                        "name": "Bash",
                        "input": {"command": "rm -rf ~/"},
                    },
                    {
                        "type": "tool_use",
                        "id": "t3",
                        "name": "Read",
                        "input": {"file_path": str(ws / ".env")},
                    },
                    {
                        "type": "tool_use",
                        "id": "t4",
                        "name": "mcp__db__query",
                        "input": {"sql": "x"},
                    },
                ],
            },
        },
        "not json at all",
    ]
    transcript = tmp_path / "session.jsonl"
    transcript.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
    code, out, err = ralph_anthropic(
        "replay", "--claude", str(transcript), "--workspace", str(ws), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["calls"] == 4
    assert report["decisions"].get("allow") == 1  # only `ls`
    assert report["decisions"].get("deny", 0) + report["decisions"].get("confirm", 0) == 3
