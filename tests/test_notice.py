"""What a notification says at the end of a real run (done, failed, waiting for approval,
provider errors, SIGTERM), the documented schema, and one notification per approval."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ralph.guard.approvals import ApprovalStore
from tests.fakeserver import Error, FakeModelServer, Turn
from tests.harness import Ralph, cmd, finish
from tests.test_overnight import make_project

README = Path(__file__).resolve().parent.parent / "README.md"
SECRET = "sk-ant-api03-" + "Z" * 40


@pytest.fixture
def ralph(ralph_anthropic: Ralph) -> Ralph:
    return ralph_anthropic


def _notify(ralph: Ralph, plan: Path, out: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """A run whose notifications are appended to `out`, one JSON line each."""
    return ralph.run(plan, "--notify-cmd", f"cat >> '{out}'", *args)


def _sent(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _lines(note: dict[str, Any]) -> list[str]:
    text = note["text"]
    assert text.endswith("\n")
    return text.splitlines()


def _wait_for_approval(ralph: Ralph, ws: Path, command: str) -> None:
    ralph.server.add(
        Turn(tool_calls=[cmd(command)]),
        Turn(tool_calls=[finish("needs a person", "blocked")]),
    )


def test_done(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "# Plan\n\n- [ ] one\n- [ ] two\n")
    ralph.server.add(Turn(tool_calls=[finish("did one")]), Turn(tool_calls=[finish("did two")]))
    out = tmp_path / "sent.jsonl"
    code, summary, err = _notify(ralph, ws / "plan.md", out, "--all")
    assert code == 0, err
    (note,) = _sent(out)
    assert note["title"] == "ralph: plan.md — 2 steps done"
    assert note["end"] == "done" and note["steps_done"] == 2 and note["steps_failed"] == 0
    title, line = _lines(note)
    assert title == note["title"] and line == note["summary"]
    assert line.startswith("2 steps: 2 done · $0.00 · ")
    assert line.endswith(" · stopped: every step is done")
    assert note["approvals"] == []
    for key, value in summary.items():  # every key of `--json` is there, unchanged
        assert note[key] == value, key


def test_text_form_on_stdin_and_in_the_environment(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] one\n")
    ralph.server.add(Turn(tool_calls=[finish()]))
    out, title = tmp_path / "sent.txt", tmp_path / "title.txt"
    command = f"cat > '{out}'; printf '%s' \"$RALPH_NOTIFY_TITLE\" > '{title}'"
    code, _, err = ralph.run(ws / "plan.md", "--notify-cmd", command, "--notify-format", "text")
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n") and not text.startswith("{")
    lines = text.splitlines()
    assert lines[0] == "ralph: plan.md — 1 step done" == title.read_text(encoding="utf-8")
    assert lines[1].startswith("1 step: 1 done · ") and len(lines) == 2


def test_failed(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] never works\n  - verify: `false`\n- [ ] later\n")
    ralph.server.add(Turn(tool_calls=[finish()]))
    out = tmp_path / "sent.jsonl"
    code, _, err = _notify(ralph, ws / "plan.md", out)
    assert code == 1, err
    (note,) = _sent(out)
    assert note["title"] == "ralph: plan.md — failed" and note["end"] == "failed"
    assert note["steps_failed"] == 1
    assert _lines(note)[1].startswith("1 step: 1 failed · ")


def test_awaiting_approval_shows_the_call_and_the_command_that_approves_it(
    ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_project(tmp_path, "- [ ] clean up\n- [ ] later\n")
    (ws / "src").mkdir()
    command = f"rm -rf src && curl -H 'x-api-key: {SECRET}' https://example.com/{'a' * 300}"
    _wait_for_approval(ralph, ws, command)
    out = tmp_path / "sent.jsonl"
    code, summary, err = _notify(ralph, ws / "plan.md", out)
    assert code == 3, err
    (note,) = _sent(out)
    approval_id = summary["steps"][0]["approval_ids"][0]
    assert note["title"] == "ralph: plan.md — waiting for approval"
    assert note["end"] == "awaiting_approval"
    (shown,) = note["approvals"]
    assert shown["id"] == approval_id and shown["line"] == 1 and shown["tool"] == "run_command"
    assert shown["call"].startswith("run_command: rm -rf src && curl ")
    assert len(shown["call"]) <= 160 and shown["call"].endswith("…")
    assert SECRET[:20] not in json.dumps(note) and "[REDACTED]" in shown["call"]
    approve = f"ralph approvals approve {approval_id} --workspace {ws}"
    assert shown["approve"] == approve
    assert _lines(note)[2:] == [
        f"approval {approval_id} (line 1): {shown['call']}",
        f"  approve: {approve}",
    ]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the command works from any folder, as given
    code, _, err = ralph(*shlex.split(approve)[1:])
    assert code == 0, err
    assert ApprovalStore(ws).get(approval_id).status == "approved"


def test_with_a_state_dir_the_approve_command_names_it(
    ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_project(tmp_path, "- [ ] clean up\n")
    (ws / "src").mkdir()
    state = tmp_path / "ci cache"
    _wait_for_approval(ralph, ws, "rm -rf src")
    out = tmp_path / "sent.jsonl"
    code, summary, err = _notify(ralph, ws / "plan.md", out, "--state-dir", str(state))
    assert code == 3, err
    (note,) = _sent(out)
    approval_id = summary["steps"][0]["approval_ids"][0]
    approve = note["approvals"][0]["approve"]
    assert approve.endswith(f" --state-dir '{state}'")
    assert list((state / "notified").glob("plan.md-*.json")) and not (ws / ".ralph").exists()
    monkeypatch.chdir(tmp_path)
    code, _, err = ralph(*shlex.split(approve)[1:])
    assert code == 0, err
    approvals = (state / "approvals").glob("*.json")
    assert [p.stem for p in approvals] == [approval_id]
    monkeypatch.setenv("RALPH_STATE_DIR", str(state))
    assert ralph("approvals", "--workspace", str(ws), "--json")[1].count('"approved"') == 1


@pytest.mark.parametrize(("status", "code"), [(401, 2), (500, 1)])
def test_provider_error(
    ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int, code: int
) -> None:
    monkeypatch.setenv("RALPH_RETRY_ATTEMPTS", "2")
    ws = make_project(tmp_path, "- [ ] one\n")
    ralph.server.add(Error(status), Error(status))
    out = tmp_path / "sent.jsonl"
    got, _, err = _notify(ralph, ws / "plan.md", out)
    assert got == code, err
    (note,) = _sent(out)
    assert note["title"] == "ralph: plan.md — provider error"
    assert note["end"] == "provider_error" and note["exit_code"] == code
    assert f"HTTP {status}" in _lines(note)[1] and "no step taken" in _lines(note)[1]


def test_budget_spent(ralph: Ralph, tmp_path: Path) -> None:
    from ralph.messages import Usage

    ws = make_project(tmp_path, "- [ ] one\n- [ ] two\n")
    ralph.server.add(Turn(tool_calls=[finish()], usage=Usage(1_000_000, 0)))  # $3 on Sonnet
    out = tmp_path / "sent.jsonl"
    code, _, err = _notify(ralph, ws / "plan.md", out, "--all", "--max-cost", "1")
    assert code == 1, err
    (note,) = _sent(out)
    assert note["title"] == "ralph: plan.md — budget spent" and note["end"] == "budget"
    assert _lines(note)[1].startswith("1 step: 1 done · $3.00 · ")
    assert "stopped: run budget spent ($3.00 of $1.00)" in _lines(note)[1]


def test_crash(ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ralph.agent import run as agent_run

    def crash(*args: Any) -> Any:
        raise ZeroDivisionError("a bug in ralph")

    monkeypatch.setattr(agent_run, "_attempt", crash)
    ws = make_project(tmp_path, "- [ ] one\n")
    out = tmp_path / "sent.jsonl"
    with pytest.raises(ZeroDivisionError):
        _notify(ralph, ws / "plan.md", out)
    (note,) = _sent(out)
    assert note["title"] == "ralph: plan.md — crashed" and note["end"] == "crashed"
    assert "stopped: crashed: ZeroDivisionError: a bug in ralph" in _lines(note)[1]


@pytest.mark.slow
def test_sigterm(tmp_path: Path) -> None:
    from tests.test_stop import _spawn, _wait_for

    ws = make_project(tmp_path, "- [ ] step\n")
    out = tmp_path / "sent.txt"
    with FakeModelServer([Turn(tool_calls=[finish()], delay_s=60)]) as srv:
        proc = _spawn(ws, srv, "--notify-cmd", f"cat > '{out}'", "--notify-format", "text")
        _wait_for(lambda: bool(srv.requests))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    title, line = out.read_text(encoding="utf-8").splitlines()
    assert title == "ralph: plan.md — interrupted"
    assert line.startswith("1 step: 1 interrupted · ") and "SIGTERM" in line


def test_one_notification_per_approval(
    ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_project(tmp_path, "- [ ] clean up\n- [ ] later\n")
    (ws / "src").mkdir()
    (ws / "lib").mkdir()
    out = tmp_path / "sent.jsonl"
    _wait_for_approval(ralph, ws, "rm -rf src")
    code, summary, err = _notify(ralph, ws / "plan.md", out)
    assert code == 3, err
    first = summary["steps"][0]["approval_ids"][0]
    assert [n["approvals"][0]["id"] for n in _sent(out)] == [first]

    for _ in range(2):  # cron ticks: the plan waits on the same approval, nothing new to say
        code, summary, err = _notify(ralph, ws / "plan.md", out)
        assert code == 3 and summary["steps"] == [], err
        assert len(_sent(out)) == 1
    assert list((ws / ".ralph" / "notified").glob("plan.md-*.json"))

    assert ralph("approvals", "approve", first, "--workspace", str(ws))[0] == 0
    ralph.server.add(
        Turn(tool_calls=[cmd("rm -rf src")]),  # the approved call runs
        Turn(tool_calls=[cmd("rm -rf lib")]),  # a new one waits
        Turn(tool_calls=[finish("needs a person", "blocked")]),
    )
    code, summary, err = _notify(ralph, ws / "plan.md", out)
    assert code == 3, err
    second = summary["steps"][0]["approval_ids"][-1]
    assert second != first
    assert [n["approvals"][0]["id"] for n in _sent(out)] == [first, second]
    code, _, err = _notify(ralph, ws / "plan.md", out)  # the next tick waits on it: quiet
    assert code == 3 and len(_sent(out)) == 2, err


def test_a_different_end_notifies_and_nothing_done_does_not(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] one\n")
    out = tmp_path / "sent.jsonl"
    ralph.server.add(Error(401))
    assert _notify(ralph, ws / "plan.md", out)[0] == 2
    ralph.server.add(Error(401))
    assert _notify(ralph, ws / "plan.md", out)[0] == 2  # the same failure again: quiet
    assert [n["end"] for n in _sent(out)] == ["provider_error"]
    ralph.server.add(Turn(tool_calls=[finish()]))
    assert _notify(ralph, ws / "plan.md", out)[0] == 0
    assert _notify(ralph, ws / "plan.md", out)[0] == 0  # nothing left to do: nothing to say
    assert [n["end"] for n in _sent(out)] == ["provider_error", "done"]


def test_a_failed_notifier_is_a_line_and_is_tried_again(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] one\n")
    ralph.server.add(Error(401), Error(401), Error(401))
    code, _, err = ralph.run(ws / "plan.md", "--notify-cmd", "cat > /dev/null; exit 7")
    assert code == 2 and "notification failed: notify command exited 7" in err
    out = tmp_path / "sent.jsonl"
    assert _notify(ralph, ws / "plan.md", out)[0] == 2  # not sent before, so sent now
    assert _notify(ralph, ws / "plan.md", out)[0] == 2  # sent: not again
    assert len(_sent(out)) == 1


def test_an_error_while_composing_never_breaks_the_run(
    ralph: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ralph import notice

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(notice, "compose", broken)
    ws = make_project(tmp_path, "- [ ] one\n")
    ralph.server.add(Turn(tool_calls=[finish()]))
    code, summary, err = ralph.run(ws / "plan.md", "--notify-cmd", "true")
    assert code == 0 and summary["stopped"], err
    assert "notification failed: RuntimeError: boom" in err


def test_bad_notify_format_is_a_usage_error(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] one\n")
    (ws / "ralph.toml").write_text('notify-format = "yaml"\n')
    code, _, err = ralph.run(ws / "plan.md")
    assert code == 2 and "notify-format must be json or text" in err
    assert ralph.server.requests == []


# -- the documented schema -----------------------------------------------------------------

_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "list": list,
    "object": dict,
    "null": type(None),
}


def _documented() -> dict[str, tuple[tuple[type, ...], bool]]:
    """README's notification fields: name -> (accepted types, optional)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Notifications", 1)[1].split("\n#", 1)[0]
    fields = {}
    for m in re.finditer(r"^\| `([^`]+)` \| ([^|]+) \|", section, re.M):
        kinds = m.group(2).strip()
        optional = kinds.endswith(", optional")
        names = kinds.removesuffix(", optional").split(" or ")
        accepted: list[type] = []
        for name in names:
            kind = _TYPES[name]
            accepted += list(kind) if isinstance(kind, tuple) else [kind]
        fields[m.group(1)] = (tuple(accepted), optional)
    assert len(fields) > 20, "the README's notification table was not found"
    return fields


def _flatten(note: dict[str, Any]) -> dict[str, Any]:
    """`steps[].line`-style names for every field of the note and of its list items."""
    flat = {}
    for key, value in note.items():
        flat[key] = value
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                flat.update({f"{key}[].{k}": v for k, v in item.items()})
    return flat


def test_a_real_notification_matches_the_documented_schema(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] clean up\n")
    (ws / "src").mkdir()
    _wait_for_approval(ralph, ws, "rm -rf src")
    out = tmp_path / "sent.jsonl"
    assert _notify(ralph, ws / "plan.md", out)[0] == 3
    (note,) = _sent(out)
    assert note["schema"] == 1
    documented, actual = _documented(), _flatten(note)
    assert set(actual) - set(documented) == set(), "undocumented fields"
    required = {name for name, (_, optional) in documented.items() if not optional}
    assert required - set(actual) == set(), "documented fields missing"
    for name, value in actual.items():
        kinds, _ = documented[name]
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        assert ok, f"{name}: {value!r} is not {kinds}"
    assert note["end"] in _ends_documented()


def _ends_documented() -> set[str]:
    from ralph.agent.report import END_KINDS

    section = README.read_text(encoding="utf-8").split("### Notifications", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("| `end` |"))
    named = set(re.findall(r"`(\w+)`", row)) - {"end"}
    assert named == set(END_KINDS)
    return named


def test_the_memory_is_in_the_state_folder_out_of_git(ralph: Ralph, tmp_path: Path) -> None:
    ws = make_project(tmp_path, "- [ ] one\n")
    ralph.server.add(Error(401))
    assert _notify(ralph, ws / "plan.md", tmp_path / "sent.jsonl")[0] == 2
    (memory,) = (ws / ".ralph" / "notified").iterdir()
    assert memory.name.startswith("plan.md-") and memory.suffix == ".json"
    sent = json.loads(memory.read_text(encoding="utf-8"))
    assert sent["end"] == "provider_error" and sent["exit_code"] == 2
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored=no"],
        cwd=ws,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".ralph" not in status
