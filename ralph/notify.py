"""Telling a person a run ended or waits for them: `--notify-cmd` and `--notify-url`.

`notify()` sends the run's JSON summary to a shell command's stdin and/or as a JSON POST to a
URL. It never raises: a notifier that fails, hangs or is misconfigured must not break the
run, so every problem comes back as a line of text for the caller to log and show.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any
from urllib.parse import urlsplit

from ralph import __version__
from ralph.errors import UsageError
from ralph.redact import for_display, redact_all
from ralph.tools.process import kill_group

TIMEOUT_S = 10.0
_DETAIL_CHARS = 200


def notify(
    summary: dict[str, Any],
    *,
    command: str | None = None,
    url: str | None = None,
    timeout_s: float = TIMEOUT_S,
) -> list[str]:
    """Send `summary` to `command` (stdin, via the shell) and/or `url` (JSON POST).

    Returns the problems, one line each (empty when all went well); never raises. Every
    string in `summary` is redacted first.
    """
    try:
        body = json.dumps(redact_all(summary), ensure_ascii=False, default=str).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as e:
        return [f"notify: the summary is not JSON: {e}"]
    problems = []
    if command:
        problems += _run_command(command, body + b"\n", timeout_s)  # a line, for `read`
    if url:
        problems += _post(url, body, timeout_s)
    return problems


def check_url(url: str) -> None:
    """Raise UsageError unless `url` is an http(s) URL with a host (call before the run)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--notify-url must be an http:// or https:// URL, got {url!r}")


def _run_command(command: str, body: bytes, timeout_s: float) -> list[str]:
    """Run via the shell in its own process group, so a timeout kills all of it."""
    try:
        proc = subprocess.Popen(
            command,
            shell=True,
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


def _post(url: str, body: bytes, timeout_s: float) -> list[str]:
    import urllib.error
    import urllib.request

    where = _where(url)
    try:
        check_url(url)
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": f"ralph/{__version__}"},
        )
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
