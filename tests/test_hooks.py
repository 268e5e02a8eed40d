"""ralph as a pre-tool hook for Claude Code, Codex and Gemini CLI, and `ralph hook install`.

Hook inputs are built from each host's documented stdin; the answers are compared with the
exact stdout and exit code each host reads. Every workspace is a folder the test made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ralph.cli import main
from ralph.guard.approvals import ApprovalStore
from ralph.hooks.answer import answer
from ralph.hooks.hosts import HOSTS, patch_calls
from ralph.hooks.install import install, settings_path

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    ws = tmp_path / "proj"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("print('hi')\n")
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    return ws


def claude(ws: Path, tool: str, tool_input: dict[str, Any]) -> str:
    return json.dumps(
        {
            "session_id": "abc123",
            "transcript_path": str(ws / "t.jsonl"),
            "cwd": str(ws),
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": tool_input,
            "tool_use_id": "toolu_01",
        }
    )


def codex(ws: Path, tool: str, tool_input: dict[str, Any]) -> str:
    event = json.loads(claude(ws, tool, tool_input)) | {"turn_id": "t1", "model": "gpt-5"}
    return json.dumps(event)


def gemini(ws: Path, tool: str, tool_input: dict[str, Any]) -> str:
    return json.dumps(
        {
            "session_id": "s1",
            "transcript_path": str(ws / "t.json"),
            "cwd": str(ws),
            "hook_event_name": "BeforeTool",
            "timestamp": "2026-12-01T10:00:00Z",
            "tool_name": tool,
            "tool_input": tool_input,
        }
    )


def claude_out(decision: str, reason: str | None = None) -> dict[str, Any]:
    inner: dict[str, Any] = {"hookEventName": "PreToolUse", "permissionDecision": decision}
    if reason is not None:
        inner["permissionDecisionReason"] = reason
    return {"hookSpecificOutput": inner}


# --------------------------------------------------------------------------- claude


def test_claude_allow_is_a_bare_allow(project: Path) -> None:
    out = answer(HOSTS["claude"], claude(project, "Bash", {"command": "ls src"}))
    assert (out.exit_code, out.stderr) == (0, "")
    assert json.loads(out.stdout) == claude_out("allow")


def test_claude_deny_names_the_rule(project: Path) -> None:
    out = answer(HOSTS["claude"], claude(project, "Bash", {"command": "rm -rf /"}))
    body = json.loads(out.stdout)["hookSpecificOutput"]
    assert out.exit_code == 0 and body["permissionDecision"] == "deny"
    assert "rule floor:" in body["permissionDecisionReason"]


def test_claude_confirm_asks_the_person_and_queues_nothing(project: Path) -> None:
    out = answer(HOSTS["claude"], claude(project, "Bash", {"command": "rm -rf src"}))
    body = json.loads(out.stdout)["hookSpecificOutput"]
    assert body["permissionDecision"] == "ask"
    assert "ralph policy" in body["permissionDecisionReason"]
    assert ApprovalStore(project).list() == []


def test_claude_headless_defers_and_an_approval_lets_the_exact_call_run_once(
    project: Path,
) -> None:
    event = claude(project, "Bash", {"command": "rm -rf src"})
    first = json.loads(answer(HOSTS["claude"], event, headless=True).stdout)
    assert first["hookSpecificOutput"]["permissionDecision"] == "defer"
    (pending,) = ApprovalStore(project).list()
    assert (
        "ralph approvals approve " + pending.id
        in first["hookSpecificOutput"]["permissionDecisionReason"]
    )
    ApprovalStore(project).approve(pending.id)
    again = json.loads(answer(HOSTS["claude"], event, headless=True).stdout)
    assert again == claude_out("allow")
    third = json.loads(answer(HOSTS["claude"], event, headless=True).stdout)
    assert third["hookSpecificOutput"]["permissionDecision"] == "defer"  # once only


def test_claude_write_to_a_secret_and_read_of_home_keys_are_judged_as_file_calls(
    project: Path,
) -> None:
    write = answer(
        HOSTS["claude"],
        claude(project, "Write", {"file_path": str(project / ".env"), "content": "A=1"}),
    )
    assert json.loads(write.stdout)["hookSpecificOutput"]["permissionDecision"] != "allow"
    key = str(Path(os.environ["HOME"]) / ".ssh" / "id_rsa")
    read = answer(HOSTS["claude"], claude(project, "Read", {"file_path": key}))
    assert json.loads(read.stdout)["hookSpecificOutput"]["permissionDecision"] != "allow"
    edit = {"file_path": str(project / "src/app.py"), "old_string": "hi", "new_string": "yo"}
    ok = answer(HOSTS["claude"], claude(project, "Edit", edit))
    assert json.loads(ok.stdout) == claude_out("allow")


def test_inert_tools_are_allowed_and_unknown_tools_blocked(project: Path) -> None:
    todo = answer(HOSTS["claude"], claude(project, "TodoWrite", {"todos": []}))
    assert json.loads(todo.stdout) == claude_out("allow")
    mcp = answer(HOSTS["claude"], claude(project, "mcp__db__drop", {"table": "users"}))
    assert mcp.exit_code == 2 and mcp.stdout == "" and "unknown tool" in mcp.stderr


# --------------------------------------------------------------------------- codex


def test_codex_allow_prints_nothing(project: Path) -> None:
    out = answer(HOSTS["codex"], codex(project, "Bash", {"command": "ls"}))
    assert (out.stdout, out.stderr, out.exit_code) == ("", "", 0)


def test_codex_confirm_is_a_deny_naming_the_approval_and_only_known_fields(project: Path) -> None:
    out = answer(HOSTS["codex"], codex(project, "Bash", {"command": "rm -rf src"}))
    body = json.loads(out.stdout)
    assert set(body) == {"hookSpecificOutput"}
    inner = body["hookSpecificOutput"]
    assert set(inner) == {"hookEventName", "permissionDecision", "permissionDecisionReason"}
    assert inner["permissionDecision"] == "deny"
    (pending,) = ApprovalStore(project).list()
    assert f"ralph approvals approve {pending.id}" in inner["permissionDecisionReason"]


def test_codex_apply_patch_judges_every_file_it_touches(project: Path) -> None:
    patch = (
        "*** Begin Patch\n*** Update File: src/app.py\n@@\n-print('hi')\n+print('yo')\n"
        "*** Delete File: src/old.py\n*** End Patch\n"
    )
    assert [(t, a["path"]) for t, a in patch_calls(patch)] == [
        ("write_file", "src/app.py"),
        ("delete", "src/old.py"),
    ]
    out = answer(HOSTS["codex"], codex(project, "apply_patch", {"command": patch}))
    assert out.exit_code == 0
    secret = "*** Begin Patch\n*** Add File: .env\n+TOKEN=x\n*** End Patch\n"
    refused = answer(HOSTS["codex"], codex(project, "apply_patch", {"command": secret}))
    assert json.loads(refused.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


# --------------------------------------------------------------------------- gemini


def test_gemini_answers_with_top_level_decision(project: Path) -> None:
    ok = answer(HOSTS["gemini"], gemini(project, "run_shell_command", {"command": "ls"}))
    assert json.loads(ok.stdout) == {"decision": "allow"}
    no = answer(HOSTS["gemini"], gemini(project, "run_shell_command", {"command": "rm -rf src"}))
    body = json.loads(no.stdout)
    assert body["decision"] == "deny" and "ralph approvals approve" in body["reason"]


def test_gemini_dir_path_is_where_the_command_runs(project: Path) -> None:
    cmd = {"command": "rm -rf *", "dir_path": str(Path(os.environ["HOME"]))}
    out = answer(HOSTS["gemini"], gemini(project, "run_shell_command", cmd))
    assert json.loads(out.stdout)["decision"] == "deny"


# --------------------------------------------------------------------------- fail closed


@pytest.mark.parametrize("host", ["claude", "codex", "gemini"])
def test_bad_input_broken_policy_and_crash_block(
    host: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = HOSTS[host]
    for raw in ("", "not json", "[]", json.dumps({"tool_name": "Bash"})):
        out = answer(h, raw)
        assert out.exit_code == 2 and out.stderr and out.stdout == ""
    broken = project / "broken.toml"
    broken.write_text("[[rule]]\nid = 'x'\ndecison = 'allow'\n")
    tool = {"claude": "Bash", "codex": "Bash", "gemini": "run_shell_command"}[host]
    event = {"claude": claude, "codex": codex, "gemini": gemini}[host](
        project, tool, {"command": "ls"}
    )
    out = answer(h, event, policy=broken)
    assert out.exit_code == 2 and "broken.toml" in out.stderr

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("guard exploded")

    monkeypatch.setattr("ralph.guard.policy.check", boom)
    out = answer(h, event)
    assert "guard exploded" in out.stderr + out.stdout
    if out.exit_code != 2:  # a deny in the host's own format blocks too
        body = json.loads(out.stdout)
        assert (body.get("hookSpecificOutput") or body)[
            "permissionDecision" if host != "gemini" else "decision"
        ] == "deny"


@pytest.mark.slow
def test_the_hook_process_answers_on_stdout_with_the_exit_code(project: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    cases = [
        ("claude", claude(project, "Bash", {"command": "ls"}), 0, claude_out("allow")),
        ("codex", codex(project, "Bash", {"command": "ls"}), 0, None),
        (
            "gemini",
            gemini(project, "run_shell_command", {"command": "ls"}),
            0,
            {"decision": "allow"},
        ),
        ("codex", "{garbage", 2, None),
    ]
    for host, stdin, code, stdout in cases:
        p = subprocess.run(
            [sys.executable, "-m", "ralph.hooks", host],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=project,
            timeout=60,
        )
        assert p.returncode == code, p.stderr
        assert (json.loads(p.stdout) if p.stdout.strip() else None) == stdout
        assert bool(p.stderr.strip()) == (code == 2)


# --------------------------------------------------------------------------- install


@pytest.mark.parametrize("host", ["claude", "codex", "gemini"])
def test_install_twice_keeps_one_entry_and_other_hooks(host: str, project: Path) -> None:
    path = settings_path(host, user=False, workspace=project)
    event = HOSTS[host].event
    other = {"matcher": "Write", "hooks": [{"type": "command", "command": "prettier-hook"}]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"model": "x", "hooks": {event: [other]}}))
    install(host, path)
    install(host, path)
    settings = json.loads(path.read_text())
    assert settings["model"] == "x"
    groups = settings["hooks"][event]
    assert groups[0] == other and len(groups) == 2
    command = groups[1]["hooks"][0]["command"]
    assert command.endswith(f"-m ralph.hooks {host}") and sys.executable in command
    install(host, path, uninstall=True)
    assert json.loads(path.read_text())["hooks"][event] == [other]


def test_install_refuses_a_broken_settings_file_without_touching_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text("{not json")
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "argv", ["ralph", "hook", "install", "claude"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert path.read_text() == "{not json"


def test_user_scope_uses_the_hosts_home_folders(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path(os.environ["HOME"])
    assert settings_path("claude", user=True, workspace=project) == home / ".claude/settings.json"
    assert settings_path("gemini", user=True, workspace=project) == home / ".gemini/settings.json"
    monkeypatch.setenv("CODEX_HOME", str(home / "cx"))
    assert settings_path("codex", user=True, workspace=project) == home / "cx/hooks.json"


def test_a_policy_text_runs_its_examples_once_per_version_and_lint_always(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ralph.guard import load

    calls: list[str] = []
    real = load._check_examples
    monkeypatch.setattr(load, "_check_examples", lambda p, pr: calls.append("x") or real(p, pr))
    policy = tmp_path / "p.toml"
    text = (
        '[[rule]]\nid = "no-ls"\ndecision = "deny"\nreason = "r"\nprogram = "ls"\nmatch = ["ls"]\n'
    )
    policy.write_text(text)
    load.load_policy(policy)
    load.load_policy(policy)  # a new process would find the marker the same way
    assert calls == ["x"]
    assert load.lint(policy) == [] and calls == ["x", "x"]
    policy.write_text(text.replace('match = ["ls"]', 'match = ["cat x"]'))  # a failing example
    with pytest.raises(Exception, match="cat x"):
        load.load_policy(policy)
    assert len(calls) == 3
