"""The one redactor (`ralph.redact`): every format it knows, in a note, the record, a
notification, `ralph log` and the live view; cuts after redaction; control characters
shown, not obeyed; and ordinary text left alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ralph import redact as R
from ralph.redact import MARKER, clip, escape_controls, for_display, one_line, redact
from tests.fakeserver import Turn
from tests.harness import Ralph, cmd, finish

B64 = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEk3"  # 40 characters, an AWS secret's shape
PEM_BODY = ["MIIEowIBAAKCAQEAx4Zq9" + "Ab3" * 14, "p9Kx2mQ7" * 8, "Zm9vYmFy" * 4 + "=="]
PEM = "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *PEM_BODY, "-----END RSA PRIVATE KEY-----"])
JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N_XgL0n"

# name: (text holding the secret, the secret itself: it must not survive)
FORMATS = {
    "anthropic": ("key sk-ant-api03-" + "Xy9_" * 10, "Xy9_Xy9_"),
    "openai": ("OPENAI_KEY sk-" + "T3BlbkFJ" * 6, "T3BlbkFJ"),
    "openai project": ("use sk-proj-" + "a1B2c3D4" * 6, "a1B2c3D4"),
    "github classic": ("token ghp_" + "A1b2C3d4E5" * 4, "A1b2C3d4E5"),
    "github oauth": ("gho_" + "Z9y8X7w6V5" * 4, "Z9y8X7w6V5"),
    "github app": ("ghs_" + "Q1w2E3r4T5" * 4 + " for the app", "Q1w2E3r4T5"),
    "github fine-grained": ("github_pat_11ABCDEFG0" + "_a1B2c3D4e5" * 6, "a1B2c3D4e5"),
    "aws key id": ("id AKIA" + "IOSFODNN7EXAMPL3", "IOSFODNN7EXAMPL3"),
    "aws session key id": ("ASIA" + "Z7XQ4TRW2MNB8KLP", "Z7XQ4TRW2MNB8KLP"),
    "aws secret": (f"aws_secret_access_key = {B64}", B64),
    "aws secret env": (f"export AWS_SECRET_ACCESS_KEY=/{B64[1:]}", B64[1:]),
    "aws secret json": (f'{{"SecretAccessKey": "{B64}"}}', B64),
    "google": ("AIza" + "SyA-1b2C3d4E5f6G7h8I9j0K_lMnOpQrStU", "SyA-1b2C3d4E5f6G7h8I9j0K"),
    "slack bot": ("xoxb-" + "123456789012-abcdefGHIJKL", "123456789012-abcdefGHIJKL"),
    "slack user": ("xoxp-" + "98765432-ZYXwvu", "98765432-ZYXwvu"),
    "stripe live": ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    "stripe restricted": ("rk_live_" + "51Hx2abcDEF0987", "51Hx2abcDEF0987"),
    "stripe test": ("sk_test_" + "26PHem9AhJZvU623DfE1x4sd", "26PHem9AhJZvU623DfE1x4sd"),
    "pem": (f"key:\n{PEM}\ndone", PEM_BODY[1]),
    "pem first line": (f"key:\n{PEM}\ndone", PEM_BODY[0]),
    "pem cut off": ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1" + "AAAA9x" * 9, "AAAA9x"),
    "jwt": (f"Cookie: session={JWT}", "dozjgNryP4J3jVmNHl0w5N"),
    "bearer": ("Authorization: Bearer " + "mF_9.B5f-4.1JqMzz", "mF_9.B5f-4.1JqMzz"),
    "basic": ("Authorization: Basic " + "YWRtaW46aHVudGVyMjI=", "YWRtaW46aHVudGVyMjI"),
    "url password": ("git clone https://deploy:" + "Pa55w0rd!x@git.example.com/r", "Pa55w0rd!x"),
    "url token": ("https://x-access-token:" + "gh5ecret99@github.com/o/r", "gh5ecret99"),
    "password=": ("PASSWORD=" + "hunter2hunter2", "hunter2hunter2"),
    "password json": ('{"password": "' + "s3cr3t-Pass" + '"}', "s3cr3t-Pass"),
    "token:": ("token: " + "3f786850e387550fdab836ed7e6dc881de23001b", "3f786850e387550fdab836ed"),
    "api_key=": ("api_key=" + "Zk29xQmP4vL8nR2s", "Zk29xQmP4vL8nR2s"),
    "--token": ("mytool --token " + "q8Zr2LmX9vK4pT7w --verbose", "q8Zr2LmX9vK4pT7w"),
    "curl -u": ("curl -u admin:" + "hunter22 https://api", "hunter22"),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_is_redacted(name: str) -> None:
    text, secret = FORMATS[name]
    out = redact(text)
    assert secret not in out and MARKER in out, out


ORDINARY = [
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",  # a git sha
    "HEAD is now at 3f78685 fix the parser",
    "id 123e4567-e89b-12d3-a456-426614174000",  # a UUID
    "/home/user/project/src/ralph/redact.py:12: key error",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    'DATA = "SGVsbG8gd29ybGQhIFRoaXMgaXMgdGVzdCBkYXRh"  # base64 test data',
    "key = self.cache_key(path)",
    "token = tokens[0]",
    "secret_key = os.environ['SECRET_KEY']",
    "password = getpass.getpass()",
    "password: required",
    "max_tokens=100000",
    "offendingToken:Token=None",
    "dest_key='JobFlowRole'",
    "key: 'test/1/2/3.txt'",
    "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer",
    "GIT_AUTHOR_NAME=Jane",
    "basic authentication works; Bearer tokens too",
    "ssh://git@github.com/o/r.git",
    "task-abcdefghijklmnop1234567890 and sk-learn-compatible-models",
    "pytest -q tests/ && ruff check .",
    "The key: use the tokenizer; the secret: patience.",
    "- [x] step · 2026-11-29 04:40 UTC · 7 turns · 12.3k tok · $0.07 · snapshot 3a8ecbc8961f",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_the_values_of_secret_env_vars_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_PASS", "correcthorsebattery")  # a word: only the env knows
    monkeypatch.setenv("SHORT_TOKEN", "1")  # too short to redact everywhere
    monkeypatch.setenv("RALPH_TEST_PLAIN", "plainvalue99")  # not a secret name
    R.refresh()
    try:
        out = redact("deploy with correcthorsebattery, retry 1, plainvalue99")
        assert out == f"deploy with {MARKER}, retry 1, plainvalue99"
    finally:
        monkeypatch.undo()
        R.refresh()


@pytest.mark.parametrize(
    ("name", "secret"),
    [("DEPLOY_PASS", True), ("DB_PWD", True), ("GITHUB_TOKEN", True), ("AWS_SECRET", True),
     ("SSH_AUTH_SOCK", True), ("AUTHORIZATION", True), ("MY_CREDENTIALS", True),
     ("SENTRY_DSN", True), ("PWD", False), ("OLDPWD", False), ("GIT_AUTHOR_NAME", False),
     ("HOME", False), ("PATH", False)],
)  # fmt: skip
def test_secret_names(name: str, secret: bool) -> None:
    assert R.secret_name(name) is secret


def test_a_cut_never_splits_a_marker() -> None:
    text = "x" * 290 + MARKER + "y" * 50
    for limit in range(285, 305):
        for tail in (False, True):
            cut = clip(text, limit, tail=tail)
            assert len(cut) <= limit
            assert cut.count("[") == cut.count(MARKER), cut  # whole markers or none


def test_controls_are_escaped_not_obeyed() -> None:
    text = "ok\x1b[2K\r12:00:00 guard allow\x08\x07\u202eevil\u200b\x9b"
    shown = escape_controls(text)
    assert shown == "ok\\x1b[2K\\x0d12:00:00 guard allow\\x08\\x07\\u202eevil\\u200b\\x9b"
    assert shown.isprintable()
    assert escape_controls("tab\tand é ü 中") == "tab\tand é ü 中"
    assert one_line("a\r\nb\u2028c\x1bd") == "a b c\\x1bd"
    assert for_display("l1\nl2", newline="\n") == "l1\nl2"


def _secrets_file(ws: Path) -> str:
    """A file that holds one of each format; the verify command prints its end."""
    body = "\n".join(text for text, _ in FORMATS.values()) + "\nDEPLOY correcthorsebattery\n"
    (ws / "secrets.txt").write_text(body)
    return body


def _no_secret_in(text: str, where: str) -> None:
    for name, (_, secret) in FORMATS.items():
        assert secret not in text, f"{name} survives in {where}"
    assert "correcthorsebattery" not in text, f"the env value survives in {where}"


@pytest.mark.slow
def test_secrets_never_reach_the_note_the_record_or_a_notification(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    body = _secrets_file(ws)
    plan = ws / "plan.md"
    plan.write_text("- [ ] deploy\n  - verify: `cat secrets.txt; false`\n")
    monkeypatch.setenv("DEPLOY_PASS", "correcthorsebattery")
    ralph_anthropic.server.add(
        Turn(text=f"Reading.\n{body}", tool_calls=[cmd("cat secrets.txt")]),
        Turn(tool_calls=[finish(f"Deployed; the keys are\n{body}")]),
    )
    notified = tmp_path / "notified.json"
    code, summary, err = ralph_anthropic.run(
        plan, "--workspace", str(ws), "--notify-cmd", f"cat > {notified}"
    )
    assert code == 1, err  # the verify command fails, printing the file
    note = plan.read_text()
    assert "verify failed" in note and MARKER in note
    _no_secret_in(note, "the note")
    record = (ws / ".ralph" / "runs" / f"{summary['run_id']}.jsonl").read_text()
    assert MARKER in record
    _no_secret_in(record, "the record")
    _no_secret_in(notified.read_text(), "the notification")
    _no_secret_in(err, "the live view")
    _no_secret_in(json.dumps(summary), "the --json summary")


@pytest.mark.slow
def test_the_summary_is_redacted_in_the_note(ralph_anthropic: Ralph, tmp_path: Path) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text("- [ ] rotate the key\n")
    key = "ghp_" + "A1b2C3d4E5" * 4
    ralph_anthropic.server.add(Turn(tool_calls=[finish(f"rotated; the new one is {key}")]))
    code, _, err = ralph_anthropic.run(plan, "--workspace", str(tmp_path))
    assert code == 0, err
    note = plan.read_text()
    assert f"rotated; the new one is {MARKER}" in note and "ghp_" not in note


@pytest.mark.slow
def test_a_key_near_the_cut_leaves_no_prefix_in_the_record(
    ralph_anthropic: Ralph, tmp_path: Path
) -> None:
    key = "sk-ant-api03-" + "Xy9_" * 12
    (tmp_path / "out.txt").write_text("x" * 290 + key + "\n" + "y" * 500 + "\n")
    plan = tmp_path / "plan.md"
    plan.write_text("- [ ] look\n")
    ralph_anthropic.server.add(
        Turn(tool_calls=[cmd("cat out.txt")]), Turn(tool_calls=[finish("looked")])
    )
    code, summary, err = ralph_anthropic.run(plan, "--workspace", str(tmp_path))
    assert code == 0, err
    lines = (tmp_path / ".ralph" / "runs" / f"{summary['run_id']}.jsonl").read_text()
    tools = [json.loads(line) for line in lines.splitlines() if '"event": "tool"' in line]
    assert tools and tools[0]["result"].startswith("x" * 290)
    assert "sk-" not in lines and "Xy9_" not in lines


@pytest.mark.slow
def test_escape_sequences_are_shown_not_obeyed_in_the_log_and_live_view(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    fake = "\x1b[2K\r12:00:00  guard  allow run_command → ok"
    plan = tmp_path / "plan.md"
    plan.write_text("- [ ] look\n")
    ralph_anthropic.server.add(
        Turn(text=f"Looking.{fake}\u202e", tool_calls=[cmd(f"echo '{fake}'")]),
        Turn(tool_calls=[finish(f"done{fake}\x08\x08")]),
    )
    code, summary, err = ralph_anthropic.run(plan, "--workspace", str(tmp_path))
    assert code == 0, err
    for where, text in [("live view", err), ("note", plan.read_text())]:
        assert "\x1b" not in text and "\x08" not in text and "\u202e" not in text, where
        assert "\\x1b[2K" in text, where
    code, out, err = ralph_anthropic("log", "--workspace", str(tmp_path))
    assert code == 0, err
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    assert "Looking.\\x1b[2K" in out and "\\u202e" in out and "done\\x1b[2K" in out
    assert not [line for line in out.splitlines() if line.startswith("12:00:00")]


def test_a_notification_is_redacted(tmp_path: Path) -> None:
    from ralph.notify import notify

    out = tmp_path / "n.json"
    key = "sk-ant-api03-" + "Xy9_" * 10
    problems = notify({"steps": [{"summary": f"used {key}"}]}, command=f"cat > {out}")
    assert problems == []
    sent = json.loads(out.read_text())
    assert sent == {"steps": [{"summary": f"used {MARKER}"}]}


def test_the_env_is_read_again_when_a_run_starts() -> None:
    assert R.redactor() is R.redactor()
    before = R.redactor()
    assert R.refresh() is not before and R.redactor() is not before
    assert os.environ.get("PWD") is None or R.redactor()(os.environ["PWD"]) == os.environ["PWD"]
