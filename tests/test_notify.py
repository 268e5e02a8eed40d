"""Notifications: a JSON POST to a local HTTP server, and a command that gets JSON on stdin."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ralph.errors import UsageError
from ralph.notify import check_url, notify

SUMMARY = {"run_id": "20260101T000000Z-abc123", "stopped": "waiting", "exit_code": 3, "ü": "✓"}


class Hook:
    """A local webhook: records each request; answers with `status` after `delay_s`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 204
        self.delay_s = 0.0
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                hook.requests.append(
                    {
                        "method": "POST",
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                if hook.delay_s:
                    hook.release.wait(hook.delay_s)
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Hook:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with Hook() as h:
        yield h


def test_post_sends_the_summary_as_json(hook: Hook) -> None:
    assert notify(SUMMARY, url=hook.url + "/hooks/ralph?x=1") == []
    (request,) = hook.requests
    assert request["path"] == "/hooks/ralph?x=1"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"].startswith("ralph/")
    assert json.loads(request["body"].decode("utf-8")) == SUMMARY


def test_http_error_is_a_problem_without_the_secret_path(hook: Hook) -> None:
    hook.status = 500
    problems = notify(SUMMARY, url=hook.url + "/services/T0/B0/s3cr3t-token")
    assert len(problems) == 1
    assert "HTTP 500" in problems[0] and hook.url in problems[0]
    assert "s3cr3t" not in problems[0]


def test_slow_server_times_out(hook: Hook) -> None:
    hook.delay_s = 30
    problems = notify(SUMMARY, url=hook.url, timeout_s=0.3)
    assert len(problems) == 1 and "timed out" in problems[0]


def test_unreachable_url_is_a_problem() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    problems = notify(SUMMARY, url=f"http://127.0.0.1:{port}/x")
    assert len(problems) == 1 and "unreachable" in problems[0]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "not a url", ""])
def test_bad_urls(url: str) -> None:
    if url:
        with pytest.raises(UsageError, match="--notify-url"):
            check_url(url)
        assert "must be an http" in notify(SUMMARY, url=url)[0]
    else:
        assert notify(SUMMARY, url=url) == []  # no URL given: nothing to do


def test_good_urls_pass_the_check() -> None:
    check_url("https://hooks.example.com/services/x")
    check_url("http://127.0.0.1:8080")


def test_command_gets_the_summary_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    assert notify(SUMMARY, command=f"cat > '{out}'") == []
    assert json.loads(out.read_text(encoding="utf-8")) == SUMMARY


def test_command_output_stays_off_stdout(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    assert notify(SUMMARY, command="echo hello; echo note >&2") == []
    captured = capfd.readouterr()
    assert "hello" not in captured.out and "note" not in captured.err


def test_failing_command_reports_its_exit_code_and_last_stderr_line() -> None:
    problems = notify(
        SUMMARY, command="cat >/dev/null; echo first >&2; echo 'no token' >&2; exit 7"
    )
    assert problems == ["notify command exited 7: no token"]


def test_command_that_ignores_stdin_is_fine() -> None:
    assert notify({"big": "x" * 1_000_000}, command="true") == []


def test_hanging_command_is_killed_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    command = f"sleep 60 & echo $! > '{pid_file}'; wait"
    problems = notify(SUMMARY, command=command, timeout_s=0.5)
    assert len(problems) == 1 and "timed out" in problems[0]
    child = int(pid_file.read_text())
    assert not _alive(child)


def test_command_and_url_both_run_and_both_report(hook: Hook, tmp_path: Path) -> None:
    hook.status = 404
    out = tmp_path / "got.json"
    problems = notify(SUMMARY, command=f"cat > '{out}'; exit 1", url=hook.url)
    assert json.loads(out.read_text(encoding="utf-8")) == SUMMARY and len(hook.requests) == 1
    assert [p.split()[1] for p in problems] == ["command", "URL"]


def test_nothing_configured_does_nothing() -> None:
    assert notify(SUMMARY, command=None, url=None) == []


def test_unserializable_summary_is_a_problem_not_a_crash() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    problems = notify(loop, command="true")
    assert len(problems) == 1 and "not JSON" in problems[0]


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie awaiting its reaper counts as gone)."""
    for _ in range(50):  # the kill is sent; give the kernel a moment to finish it
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return False
        if state == "Z":
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.02)
    return True


NOTE = {
    "run_id": "r1",
    "title": "ralph: plan.md — 1 step done",
    "text": "ralph: plan.md — 1 step done\n1 step: 1 done\n",
}


def test_text_form_posts_plain_text_with_a_title_header(hook: Hook) -> None:
    from email.header import decode_header, make_header

    assert notify(NOTE, url=hook.url, form="text") == []
    (request,) = hook.requests
    assert request["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert request["body"].decode("utf-8") == "ralph: plan.md — 1 step done\n1 step: 1 done"
    title = request["headers"]["Title"]
    assert title.isascii() and str(make_header(decode_header(title))) == NOTE["title"]


def test_json_form_posts_json_with_the_title_header(hook: Hook) -> None:
    assert notify({**NOTE, "title": "ralph: plan.md - done"}, url=hook.url) == []
    (request,) = hook.requests
    assert request["headers"]["Title"] == "ralph: plan.md - done"
    assert json.loads(request["body"])["run_id"] == "r1"


def test_command_gets_title_and_text_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    command = (
        f"cat > /dev/null; printf '%s|%s' \"$RALPH_NOTIFY_TITLE\" \"$RALPH_NOTIFY_TEXT\" > '{out}'"
    )
    assert notify(NOTE, command=command) == []
    assert out.read_text(encoding="utf-8") == f"{NOTE['title']}|{NOTE['text']}"
