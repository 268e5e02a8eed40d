"""Telling a person a run ended or waits for them: `--notify-cmd` and `--notify-url`.

`notify()` sends a notification (`ralph.notice` says what is in it) to a shell command's
stdin and/or as a POST to a URL: the JSON object (`notify-format = "json"`, the default)
or its text form (`"text"`: title line, summary line, pending approvals). The command also
gets the title and the text in RALPH_NOTIFY_TITLE and RALPH_NOTIFY_TEXT, whatever the
format. It never raises: a notifier that fails, hangs (killed after `TIMEOUT_S`) or is
misconfigured must not break the run, so every problem comes back as a line of text for
the caller to log and show.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any
from urllib.parse import urlsplit

from ralph import __version__
from ralph.errors import UsageError
from ralph.redact import escape_controls, for_display, one_line, redact_all
from ralph.tools.process import kill_group

TIMEOUT_S = 10.0
FORMATS = ("json", "text")
"""`notify-format`: what the command's stdin and the URL's POST body carry."""
_DETAIL_CHARS = 200


def notify(
    summary: dict[str, Any],
    *,
    command: str | None = None,
    url: str | None = None,
    timeout_s: float = TIMEOUT_S,
    form: str = "json",
) -> list[str]:
    """Send `summary` to `command` (stdin, via the shell) and/or `url` (a POST), as JSON or,
    with `form="text"`, as its `text` field.

    Returns the problems, one line each (empty when all went well); never raises. Every
    string in `summary` is redacted first.
    """
    try:
        summary = redact_all(summary)
        body = json.dumps(summary, ensure_ascii=False, default=str).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as e:
        return [f"notify: the summary is not JSON: {e}"] * (bool(command) + bool(url))
    title = one_line(summary.get("title", ""))  # redacted, control characters escaped
    text = escape_controls(str(summary.get("text", "")), "\n")
    content_type = "application/json"
    if form == "text":
        body, content_type = text.rstrip("\n").encode("utf-8"), "text/plain; charset=utf-8"
    problems = []
    if command:
        env = {"RALPH_NOTIFY_TITLE": title, "RALPH_NOTIFY_TEXT": text}
        problems += _run_command(command, body + b"\n", timeout_s, env)  # a line, for `read`
    if url:
        problems += _post(url, body, timeout_s, content_type, title)
    return problems


def check_format(form: str) -> None:
    """Raise UsageError unless `form` is a known `notify-format` (call before the run)."""
    if form not in FORMATS:
        raise UsageError(f"notify-format must be json or text, got {form!r}")


def check_url(url: str) -> None:
    """Raise UsageError unless `url` is an http(s) URL with a host (call before the run)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--notify-url must be an http:// or https:// URL, got {url!r}")


def _run_command(command: str, body: bytes, timeout_s: float, env: dict[str, str]) -> list[str]:
    """Run via the shell in its own process group, so a timeout kills all of it."""
    import os

    try:
        proc = subprocess.Popen(
            command,
            shell=True,
            env=os.environ | env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # kept off ralph's stdout, which may carry --json
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        return [f"notify command could not start: {e}"]
    try:
        _, err = proc.communicate(body, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        return [f"notify command timed out after {timeout_s:g}s and was killed"]
    if proc.returncode != 0:
        detail = _tail(err.decode("utf-8", errors="replace"))
        return [f"notify command exited {proc.returncode}" + (f": {detail}" if detail else "")]
    return []


def _post(url: str, body: bytes, timeout_s: float, content_type: str, title: str) -> list[str]:
    import urllib.error
    import urllib.request

    where = _where(url)
    headers = {"Content-Type": content_type, "User-Agent": f"ralph/{__version__}"}
    if title:
        headers["Title"] = _header(title)  # ntfy shows it as the title
    try:
        check_url(url)
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read(_DETAIL_CHARS)
    except UsageError as e:
        return [f"notify: {e}"]
    except urllib.error.HTTPError as e:
        return [f"notify URL {where} answered HTTP {e.code} {e.reason}"]
    except urllib.error.URLError as e:
        return [f"notify URL {where} unreachable: {e.reason}"]
    except TimeoutError:
        return [f"notify URL {where} timed out after {timeout_s:g}s"]
    except Exception as e:  # a notifier must never break the run
        return [f"notify URL {where} failed: {type(e).__name__}: {e}"]
    return []


def _header(value: str) -> str:
    """A header value HTTP can carry: ASCII as it is, else RFC 2047 (`=?utf-8?b?...?=`)."""
    from email.header import Header

    flat = " ".join(value.split())
    return flat if flat.isascii() else Header(flat, "utf-8").encode()


def _where(url: str) -> str:
    """Scheme, host and port only: webhook paths and queries often carry a secret."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}" if parts.hostname else "(bad URL)"
    except ValueError:
        return "(bad URL)"


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return for_display(lines[-1], _DETAIL_CHARS) if lines else ""
