"""`ralph check`, `ralph check --jsonl`, `ralph policy lint` and `ralph approvals`, through
click in-process and once through the real entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ralph.cli import cli
from ralph.errors import RalphError
from ralph.guard.approvals import ApprovalStore
from ralph.guard.gate import shipped_policy


def ralph(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI as `main()` would: (exit code, stdout, stderr or the error message)."""
    result = CliRunner().invoke(cli, list(args), input=stdin, standalone_mode=False)
    if isinstance(result.exception, RalphError):
        return result.exception.exit_code, result.stdout, str(result.exception)
    if result.exception is not None:
        raise result.exception
    return result.return_value or 0, result.stdout, result.stderr


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hi')\n")
    return tmp_path


# -- ralph check -------------------------------------------------------------------------


def test_check_shows_decision_rule_reason_and_commands(ws: Path) -> None:
    code, out, _ = ralph("check", "--workspace", str(ws), "--", "cd src && rm -rf /")
    assert code == 0  # the decision is in the output, not the exit code
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert fields["decision"].strip() == "deny"
    assert fields["rule"].strip() not in ("", "(none)")
    assert fields["reason"].strip()
    commands = [line for line in out.splitlines() if line.startswith("command:")]
    assert len(commands) == 2 and "rm" in commands[1] and "cd" in commands[0]
    assert f"policy:   {shipped_policy('default')}" in out


def test_check_json_and_joined_words(ws: Path) -> None:
    code, out, _ = ralph("check", "--json", "--workspace", str(ws), "--", "git", "status")
    assert code == 0
    d = json.loads(out)
    assert d["decision"] == "allow"
    assert set(d) >= {"decision", "rule", "reason", "commands", "paths", "effect"}
    assert len(d["policy_sha256"]) == 64
    assert any("git" in c for c in d["commands"])


def test_check_uses_the_projects_configured_policy(ws: Path) -> None:
    shutil.copy(shipped_policy("strict"), ws / "mine.toml")
    (ws / "ralph.toml").write_text('policy = "mine.toml"\n')
    _, out, _ = ralph("check", "--json", "--workspace", str(ws), "--", "ls")
    assert json.loads(out)["policy"] == str(ws.resolve() / "mine.toml")
    _, out, _ = ralph(
        "check",
        "--json",
        "--workspace",
        str(ws),
        "--policy",
        str(shipped_policy("default")),
        "--",
        "ls",
    )
    assert json.loads(out)["policy"] == str(shipped_policy("default"))


def test_check_needs_a_command(ws: Path) -> None:
    code, _, err = ralph("check", "--workspace", str(ws))
    assert code == 2 and "give a command to check" in err
    code, _, err = ralph("check", "--jsonl", "--workspace", str(ws), "--", "ls")
    assert code == 2 and "not both" in err


def test_check_with_a_broken_policy_names_the_file(ws: Path) -> None:
    bad = ws / "bad.toml"
    bad.write_text("[[rule]\nid = 'x'\n")
    code, _, err = ralph("check", "--policy", str(bad), "--workspace", str(ws), "--", "ls")
    assert code == 2 and "bad.toml" in err


def test_check_audit_mode_refuses_writes(ws: Path) -> None:
    _, out, _ = ralph("check", "--json", "--mode", "audit", "--workspace", str(ws), "--", "touch x")
    assert json.loads(out)["decision"] == "deny"


# -- ralph check --jsonl -----------------------------------------------------------------


def test_jsonl_answers_each_line_in_order(ws: Path) -> None:
    calls = [
        {"tool": "run_command", "command": "git status"},
        {"tool": "run_command", "command": "rm -rf /"},
        {"tool": "write_file", "path": ".git/config"},
        {"tool": "edit_file", "path": "src/app.py"},
        {"tool": "read_file", "path": "src/app.py"},
    ]
    stdin = "".join(json.dumps(c) + "\n" for c in calls)
    code, out, _ = ralph("check", "--jsonl", "--workspace", str(ws), stdin=stdin)
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [sorted(a) for a in answers] == [["decision", "reason", "rule"]] * len(calls)
    assert [a["decision"] for a in answers] == ["allow", "deny", "deny", "allow", "allow"]


def test_jsonl_bad_lines_stay_aligned_and_exit_2(ws: Path) -> None:
    lines = [
        '{"tool": "run_command", "command": "ls"}',
        "{not json",
        "",
        '["tool"]',
        '{"tool": "run_command"}',
        '{"tool": "write_file", "path": 7}',
        '{"command": "ls"}',
        '{"tool": "read_file", "path": "README.md"}',
    ]
    code, out, _ = ralph("check", "--jsonl", "--workspace", str(ws), stdin="\n".join(lines) + "\n")
    assert code == 2
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == len(lines)
    assert answers[0]["decision"] == "allow" and answers[-1]["decision"] == "allow"
    for bad in answers[1:-1]:
        assert bad["decision"] == "deny" and bad["rule"] is None
        assert bad["reason"].startswith("bad input: ")
    assert "not JSON" in answers[1]["reason"]
    assert 'run_command needs "command"' in answers[4]["reason"]


def test_jsonl_through_the_real_entry_point(ws: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ralph", "check", "--jsonl", "--workspace", str(ws)],
        input='{"tool": "run_command", "command": "sudo rm -rf ~"}\n{oops\n',
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["decision"] in ("confirm", "deny") and second["decision"] == "deny"


# -- ralph policy lint -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "readonly", "strict"])
def test_lint_passes_the_shipped_policies(ws: Path, name: str) -> None:
    code, out, _ = ralph("policy", "lint", str(shipped_policy(name)))
    assert code == 0
    assert out.startswith(f"{shipped_policy(name)}: OK, ") and " rules, " in out


def test_lint_defaults_to_the_policy_ralph_would_use(ws: Path) -> None:
    code, out, _ = ralph("policy", "lint", "--workspace", str(ws))
    assert code == 0 and out.startswith(str(shipped_policy("default")))


def test_lint_reports_the_problem_with_exit_2(ws: Path) -> None:
    bad = ws / "bad.toml"
    bad.write_text("this is = = not toml\n")
    code, _, err = ralph("policy", "lint", str(bad))
    assert code == 2 and "bad.toml" in err
    code, _, err = ralph("policy", "lint", str(ws / "missing.toml"))
    assert code == 2 and "missing.toml" in err


# -- ralph approvals ---------------------------------------------------------------------


RM = {"tool": "run_command", "command": "rm -rf build"}


def test_approvals_list_empty(ws: Path) -> None:
    assert ralph("approvals", "--workspace", str(ws))[:2] == (0, "No approvals.\n")
    assert json.loads(ralph("approvals", "--json", "--workspace", str(ws))[1]) == {
        "approvals": [],
        "ignored": [],
    }


def test_approvals_json_shape(ws: Path) -> None:
    a = ApprovalStore(ws).add_pending(RM, "rm.recursive", "deletes a tree", "tasks.md: clean")
    code, out, _ = ralph("approvals", "--json", "--workspace", str(ws))
    assert code == 0
    [item] = json.loads(out)["approvals"]
    assert {k: item[k] for k in ("id", "step", "call", "rule", "reason", "when", "status")} == {
        "id": a.id,
        "step": "tasks.md: clean",
        "call": RM,
        "rule": "rm.recursive",
        "reason": "deletes a tree",
        "when": a.created,
        "status": "pending",
    }


def test_approve_and_reject_by_id(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ApprovalStore(ws)
    a = store.add_pending(RM, "rm.recursive", "deletes a tree", "s")
    b = store.add_pending({"tool": "write_file", "path": ".env", "content": "X=1"}, None, "secret")
    monkeypatch.chdir(ws / "src")  # the workspace is found from the git root above
    code, out, _ = ralph("approvals")
    assert code == 0
    assert f"{a.id}  pending" in out and "rm -rf build" in out
    assert "write_file .env (content: 3 chars)" in out
    assert "2 pending" in out
    code, out, _ = ralph("approvals", "approve", a.id)
    assert code == 0 and out.startswith(f"approved {a.id}: rm -rf build; it runs once")
    code, out, _ = ralph("approvals", "reject", b.id, "--workspace", str(ws))
    assert code == 0 and out.startswith(f"rejected {b.id}")
    assert [x.status for x in store.list()] == ["approved", "rejected"]


def test_approvals_unknown_id_is_exit_2(ws: Path) -> None:
    code, _, err = ralph("approvals", "--workspace", str(ws), "approve", "feedbeef")
    assert code == 2 and "no approval 'feedbeef'" in err


def test_approvals_list_escapes_control_characters(ws: Path) -> None:
    ApprovalStore(ws).add_pending(
        {"tool": "run_command", "command": "ls\x1b[8m; rm -rf ~"}, "r", ""
    )
    _, out, _ = ralph("approvals", "--workspace", str(ws))
    assert "\x1b" not in out and "ls\\x1b[8m; rm -rf ~" in out


def test_lint_lists_every_problem(ws: Path) -> None:
    bad = ws / "bad.toml"
    bad.write_text(
        "[[rule]]\nid = 'a'\ndecision = 'allow'\nreason = 'r'\nprogram = 'ls'\n"
        "match = ['cat x']\n\n"
        "[[rule]]\nid = 'b'\ndecision = 'maybe'\nreason = 'r'\nprogram = 'ls'\n"
    )
    result = CliRunner().invoke(cli, ["policy", "lint", str(bad)], standalone_mode=False)
    assert result.return_value == 2
    problems = result.stderr.splitlines()
    assert len(problems) == 2 and all(p.startswith(f"ralph: {bad}:") for p in problems)
    assert "'cat x'" in result.stderr and "maybe" in result.stderr
