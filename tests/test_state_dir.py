"""`--state-dir DIR` / RALPH_STATE_DIR: ralph's state (approvals, runs, locks, caches) kept
outside `.ralph/`, e.g. in a CI cache, read back by every command, and as out of the agent's
reach there as `.ralph/` is in the workspace."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ralph.errors import UsageError
from ralph.guard.gate import Guard, shipped_policy
from ralph.guard.pathclass import Places
from ralph.messages import ToolCall
from ralph.sandbox import confine
from ralph.tools import Toolbox
from ralph.workspace import choose_state_dir, state_dir, workspace_for
from tests.fakeserver import Turn
from tests.harness import Ralph, cmd, finish
from tests.test_overnight import make_project


@pytest.fixture
def ralph(ralph_anthropic: Ralph) -> Ralph:
    return ralph_anthropic


@pytest.fixture
def chosen(tmp_path: Path) -> Iterator[Path]:
    """A state folder outside the workspace, chosen for this process as --state-dir does."""
    state = tmp_path / "ci-cache" / "state"
    choose_state_dir(state)
    try:
        yield state
    finally:
        choose_state_dir(None)


def test_every_command_reads_and_writes_the_chosen_state_dir(
    ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_project(tmp_path, "- [ ] deploy\n- [ ] announce\n")
    plan = str(ws / "plan.md")
    state = tmp_path / "ci-cache" / "state"
    ralph.server.add(
        Turn(tool_calls=[cmd("git push --force origin main")]),
        Turn(tool_calls=[finish("needs approval", "blocked")]),
    )
    code, summary, err = ralph.run(ws / "plan.md", "--state-dir", str(state))
    assert code == 3, err
    approval_id = summary["steps"][0]["approval_ids"][0]
    assert (state / "approvals" / f"{approval_id}.json").is_file()
    assert len(list((state / "runs").glob("*.jsonl"))) == 1
    assert not (ws / ".ralph").exists()  # nothing of the state is left in the workspace

    code, out, _ = ralph("status", plan, "--json", "--state-dir", str(state))
    waiting = json.loads(out)["waiting"]
    assert waiting["approval_id"] == approval_id and not waiting["approval_missing"]
    code, out, _ = ralph("status", plan, "--json")  # without it: .ralph/, which has nothing
    assert json.loads(out)["waiting"]["approval_missing"]
    code, out, _ = ralph("--state-dir", str(state), "approvals", "--json", "--workspace", str(ws))
    assert [a["id"] for a in json.loads(out)["approvals"]] == [approval_id]
    code, out, _ = ralph("runs", "--json", "--state-dir", str(state), "--workspace", str(ws))
    assert code == 0 and len(json.loads(out)["runs"]) == 1
    code, out, _ = ralph("log", "--json", "--workspace", str(ws), "--state-dir", str(state))
    assert code == 0 and json.loads(out)["events"][0]["event"] == "run_start"

    monkeypatch.chdir(ws)
    monkeypatch.setenv("RALPH_STATE_DIR", "../ci-cache/state")  # relative to the current folder
    code, out, err = ralph("approvals", "approve", approval_id)
    assert code == 0, err
    code, out, _ = ralph("next", plan)
    assert "deploy" in out and "waits for approval" not in out
    ralph.server.add(Turn(tool_calls=[finish("deployed")]))
    code, summary, err = ralph.run(ws / "plan.md")
    assert code == 0, err
    assert summary["steps"][0]["text"] == "deploy"
    assert len(list((state / "runs").glob("*.jsonl"))) == 2 and not (ws / ".ralph").exists()


def test_a_flag_after_the_command_wins_over_the_env(
    ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_project(tmp_path, "- [ ] one\n")
    monkeypatch.setenv("RALPH_STATE_DIR", str(tmp_path / "from-env"))
    ralph.server.add(Turn(tool_calls=[finish()]))
    code, _, err = ralph.run(ws / "plan.md", "--state-dir", str(tmp_path / "from-flag"))
    assert code == 0, err
    assert list((tmp_path / "from-flag" / "runs").glob("*.jsonl"))
    assert not (tmp_path / "from-env").exists()
    assert state_dir(ws) == ws / ".ralph"  # the choice ends with the invocation


def test_a_state_dir_from_the_env_may_start_with_the_home_folder(
    ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the CI workflow sets it: RALPH_STATE_DIR=~/.ralph-state, no shell to expand it."""
    ws = make_project(tmp_path, "- [ ] one\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RALPH_STATE_DIR", "~/.ralph-state")
    ralph.server.add(Turn(tool_calls=[finish()]))
    code, _, err = ralph.run(ws / "plan.md")
    assert code == 0, err
    assert list((tmp_path / "home" / ".ralph-state" / "runs").glob("*.jsonl"))
    assert not (ws / "~").exists() and not (ws / ".ralph").exists()


def test_a_fresh_runner_with_an_empty_state_dir_exits_3_and_says_how_to_keep_it(
    ralph: Ralph, tmp_path: Path
) -> None:
    ws = make_project(
        tmp_path, "- [ ] deploy\n  - ralph: awaiting approval 0a1b2c3d · fly deploy\n- [ ] next\n"
    )
    state = tmp_path / "restored-cache"
    code, summary, err = ralph.run(ws / "plan.md", "--state-dir", str(state))
    assert code == 3, err
    assert "0a1b2c3d" in summary["stopped"] and "--state-dir" in summary["stopped"]
    assert ralph.server.requests == []
    assert not list(state.glob("approvals/*.json")) and not (ws / ".ralph").exists()


def test_a_state_dir_that_is_a_file_is_a_usage_error(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] one\n")
    (tmp_path / "state").write_text("")
    code, _, err = ralph("status", str(ws / "plan.md"), "--state-dir", str(tmp_path / "state"))
    assert code == 2 and "is a file" in err


def test_the_chosen_state_dir_is_protected_wherever_it_is(tmp_path: Path, chosen: Path) -> None:
    ws = make_project(tmp_path, "- [ ] one\n")
    places = Places.make(ws)
    resolved = chosen.resolve()
    assert places.classify(str(resolved / "approvals" / "a.json")) == "protected"
    assert places.classify(str(resolved)) == "protected"
    assert places.classify(str(ws.resolve() / "src" / "a.py")) == "workspace"
    guard = Guard(shipped_policy("default"), ws, "unattended")
    forged = str(chosen / "approvals" / "0a1b2c3d.json")
    calls = [
        ("write_file", {"path": forged, "content": "{}"}),
        ("run_command", {"command": f"echo '{{}}' > {forged}"}),
        ("run_command", {"command": f"cp /dev/null {chosen}/runs/x.jsonl"}),
        ("run_command", {"command": f"rm -rf {chosen}"}),
        ("run_command", {"command": f"cd {chosen.parent} && touch state/approvals/x.json"}),
    ]
    for n, (tool, args) in enumerate(calls):
        verdict = guard.review(ToolCall(f"c{n}", tool, args, ""))
        assert not verdict.allowed, (tool, args, verdict.message)
    assert guard.review(ToolCall("ok", "write_file", {"path": "a.txt", "content": "x"}, "")).allowed


def test_a_lane_inside_the_state_dir_is_a_workspace_and_the_rest_stays_protected(
    tmp_path: Path, chosen: Path
) -> None:
    lane = chosen / "worktrees" / "home-page"
    lane.mkdir(parents=True)
    places = Places.make(lane)
    assert places.classify(str(lane.resolve() / "index.html")) == "workspace"
    assert places.classify(str(chosen.resolve() / "approvals" / "x.json")) == "protected"
    assert places.classify(str(chosen.resolve() / "worktrees" / "other" / "a")) == "protected"


@pytest.mark.slow
@pytest.mark.parametrize("where", ["outside", "inside"])
def test_a_sandboxed_command_cannot_write_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    ws = make_project(tmp_path, "- [ ] one\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    state = tmp_path / "state" if where == "outside" else ws / "ci-state"
    (state / "approvals").mkdir(parents=True)
    (state / "approvals" / "old.json").write_text("{}\n")
    choose_state_dir(state)
    try:
        tb = Toolbox(ws, default_timeout_s=30, confinement=confine("required", "unattended", ws))
        script = (
            "import os, sys\n"
            "d = sys.argv[1]\n"
            "for name in ('approvals/forged.json', 'approvals/old.json', 'runs/x.jsonl'):\n"
            "    try:\n"
            "        os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)\n"
            "        open(os.path.join(d, name), 'w').write('forged')\n"
            "        print('DID', name)\n"
            "    except OSError as e:\n"
            "        print('refused', name, e.strerror)\n"
        )
        (ws / "forge.py").write_text(script)
        code, out = tb.run_command(f"python3 forge.py {state}")
        code, cache = tb.run_command('mkdir -p "$PIP_CACHE_DIR" && echo "$PIP_CACHE_DIR"')
    finally:
        choose_state_dir(None)
    assert "DID" not in out, out
    assert not (state / "approvals" / "forged.json").exists() and not (state / "runs").exists()
    assert (state / "approvals" / "old.json").read_text() == "{}\n"
    assert code == 0 and cache.strip() == str(state.resolve() / "package-cache" / "pip")


def test_a_state_dir_that_holds_the_workspace_is_a_usage_error(
    ralph: Ralph, tmp_path: Path
) -> None:
    """Its approvals, caches and records would be files the agent may write."""
    ws = make_project(tmp_path, "- [ ] one\n")
    for state in (ws, tmp_path, ws / ".." / "proj"):
        code, _, err = ralph("status", str(ws / "plan.md"), "--state-dir", str(state))
        assert code == 2 and "holds the workspace" in err, (state, err)
    code, _, err = ralph("status", str(ws / "plan.md"), "--state-dir", str(ws / ".ralph-state"))
    assert code == 0, err


def test_only_a_lane_under_worktrees_may_live_in_the_state_dir(chosen: Path) -> None:
    lane = chosen / "worktrees" / "home-page"
    other = chosen / "cache" / "x"
    for ws in (lane, other):
        ws.mkdir(parents=True)
        (ws / "ralph.toml").write_text("")
        (ws / "plan.md").write_text("- [ ] one\n")
    assert workspace_for(None, lane / "plan.md") == lane.resolve()
    assert Places.make(lane).classify(str(lane.resolve() / "src.py")) == "workspace"
    with pytest.raises(UsageError, match="holds the workspace"):
        workspace_for(None, other / "plan.md")
    assert Places.make(other).classify(str(other.resolve() / "src.py")) == "protected"


def test_a_state_dir_named_through_a_symlink_is_used_where_it_points(
    ralph: Ralph, tmp_path: Path
) -> None:
    """The person named it (a CI cache mounted behind a link): resolved once, at the start;
    ralph's refusal of a symlinked approvals folder is for links planted later."""
    ws = make_project(tmp_path, "- [ ] deploy\n")
    (tmp_path / "real-cache").mkdir()
    (tmp_path / "cache").symlink_to(tmp_path / "real-cache")
    ralph.server.add(
        Turn(tool_calls=[cmd("git push --force origin main")]),
        Turn(tool_calls=[finish("needs approval", "blocked")]),
    )
    code, summary, err = ralph.run(ws / "plan.md", "--state-dir", str(tmp_path / "cache"))
    assert code == 3, err
    approval_id = summary["steps"][0]["approval_ids"][0]
    assert (tmp_path / "real-cache" / "approvals" / f"{approval_id}.json").is_file()


def test_hooks_undo_and_replay_use_the_state_dir_too(
    ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "proj"  # outside git: the snapshots live in the state, not in .git
    ws.mkdir()
    (ws / "ralph.toml").write_text("")
    (ws / "plan.md").write_text("- [ ] one\n")
    state = tmp_path / "state"
    ralph.server.add(Turn(tool_calls=[finish()]))
    code, _, err = ralph.run(ws / "plan.md", "--state-dir", str(state))
    assert code == 0, err
    assert (state / "snapshots.git").is_dir() and not (ws / ".ralph").exists()
    code, out, err = ralph("undo", "--list", "--workspace", str(ws), "--state-dir", str(state))
    assert code == 0 and "before step" in out, (out, err)
    code, out, _ = ralph("undo", "--list", "--workspace", str(ws))
    assert "before step" not in out  # .ralph/ has no snapshots
    code, out, err = ralph(
        "replay", "--all", "--json", "--workspace", str(ws), "--state-dir", str(state)
    )
    assert code == 0 and json.loads(out), err

    event = {"tool_name": "Bash", "tool_input": {"command": "rm -rf src"}, "cwd": str(ws)}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(event)))
    code, out, err = ralph("hook", "claude", "--headless", "--state-dir", str(state))
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "defer", err
    assert len(list((state / "approvals").glob("*.json"))) == 1


def test_an_audit_keeps_its_copy_and_report_in_the_state_dir(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "# Audit\n\n- [ ] look for secrets\n")
    state = tmp_path / "state"
    ralph.server.add(Turn(tool_calls=[finish("nothing found")]))
    code, out, err = ralph(
        "audit", str(ws / "plan.md"), "--model", ralph.model, "--json", "--state-dir", str(state)
    )
    assert code == 0, err
    report = Path(json.loads(out)["report"])
    assert (
        report.parent.parent == state.resolve() / "audits" and "nothing found" in report.read_text()
    )
    assert (ws / "plan.md").read_text() == "# Audit\n\n- [ ] look for secrets\n"
    assert not (ws / ".ralph").exists()


def test_file_listings_and_searches_leave_out_a_state_dir_inside_the_workspace(
    tmp_path: Path,
) -> None:
    ws = tmp_path / "ws"
    (ws / "ralph-state" / "approvals").mkdir(parents=True)
    (ws / "ralph-state" / "approvals" / "ab12.json").write_text('{"needle": 1}')
    (ws / "app.py").write_text("needle = 1\n")
    choose_state_dir(ws / "ralph-state")
    try:
        tb = Toolbox(ws)
        listed = tb.run(ToolCall("1", "list_files", {"path": "."})).content
        found = tb.run(ToolCall("2", "search", {"pattern": "needle"})).content
    finally:
        choose_state_dir(None)
    assert "app.py" in listed and "ralph-state" not in listed
    assert "app.py" in found and "ralph-state" not in found
