"""The one retry layer for model requests: what to retry, how long to wait, when to stop.

SDK clients are built with `max_retries=0`, so every retry happens here. `classify()`
turns an SDK exception into either `Transient` (worth another attempt: 408, 409, 429,
5xx incl. 529 overloaded, connection errors, timeouts) or `ProviderError` (400, 401,
403, 404 and other 4xx: retrying cannot fix them). `RetryPolicy.call()` runs one
request with tenacity: exponential backoff with jitter, or the server's `retry-after`
/ `retry-after-ms` when it sends one, or else, for a 429, the time until the rate limit
resets (`reset_wait_s`: OpenAI's `x-ratelimit-reset-*`, Anthropic's
`anthropic-ratelimit-*-reset`). A server-requested wait longer than `max_wait` raises
`WaitTooLong` at once, without sleeping.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import tenacity

from ralph.config import env_seconds
from ralph.errors import EXIT_USAGE, ProviderError, WaitTooLong

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 409, 429})
"""4xx statuses worth retrying; every 5xx (incl. 529 overloaded) is retried too."""

STREAM_ERROR_TYPES = frozenset(
    {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
)
"""Error types sent inside a 200 stream that are worth retrying."""


class Transient(Exception):
    """A failed attempt worth retrying; `retry_after` is the server's requested wait."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, from `retry-after-ms` or `retry-after`
    (seconds or an HTTP date); None when absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
RESET_LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")
"""The rate limits whose reset times the providers send."""


def duration_s(text: str) -> float | None:
    """Seconds from a Go-style duration as OpenAI sends it ("20ms", "1s", "6m0s",
    "1h2m3.5s"); None when it is not one."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _until(stamp: str, now: datetime) -> float | None:
    """Seconds from `now` to an RFC 3339 time (Anthropic's reset headers)."""
    try:
        when = datetime.fromisoformat(stamp.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def reset_wait_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds until the rate limit that stopped us resets: the latest reset among the
    limits with nothing remaining, or among all of them when none says 0; None when the
    server sent no reset times."""
    now = now or datetime.now(UTC)
    resets: list[tuple[float, bool]] = []  # (wait, exhausted)
    for limit in RESET_LIMITS:
        openai, anthropic = f"x-ratelimit-{{}}-{limit}", f"anthropic-ratelimit-{limit}-{{}}"
        for names, parse in ((openai, duration_s), (anthropic, lambda v: _until(v, now))):
            raw = headers.get(names.format("reset"))
            wait = parse(raw) if raw else None
            if wait is not None:
                left = (headers.get(names.format("remaining")) or "").strip()
                resets.append((wait, left == "0"))
    chosen = [wait for wait, exhausted in resets if exhausted] or [wait for wait, _ in resets]
    return max(chosen) if chosen else None


def _detail(exc: Exception) -> str:
    """The server's own error message, short."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return str(message)[:300]
    elif isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return str(getattr(exc, "message", exc))[:300]


def _error_type(exc: Exception) -> str | None:
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    return inner.get("type") if isinstance(inner, dict) else None


def classify(
    exc: Exception,
    *,
    provider: str,
    model: str,
    key_var: str,
    connection_errors: tuple[type[BaseException], ...],
    base_url: str = "",
) -> Exception:
    """Map an SDK exception to `Transient` (retry) or `ProviderError` (stop).

    A server that refuses the connection, or a host name that does not resolve, is a
    configuration error (exit 2) naming the URL, at once; so are 401, 403 and 404."""
    if isinstance(exc, connection_errors):
        unreachable = _unreachable(exc)
        if unreachable:
            return ProviderError(
                f"{provider}: cannot connect to {base_url or 'the API'} ({unreachable}); "
                "check --base-url (or the provider's BASE_URL variable) and that the server runs",
                exit_code=EXIT_USAGE,
            )
        return Transient(f"connection problem: {exc}")
    status = getattr(exc, "status_code", None)
    detail = _detail(exc)
    if not isinstance(status, int):
        return ProviderError(f"{provider}: unexpected response: {detail}")
    if status < 400:  # an error event inside a streamed 200 response
        kind = _error_type(exc)
        if kind in STREAM_ERROR_TYPES:
            return Transient(f"{kind} during the stream: {detail}")
        return ProviderError(f"{provider}: error during the stream ({kind}): {detail}")
    if status == 429 and _error_type(exc) == "insufficient_quota":  # billing, not a rate limit
        return ProviderError(f"{provider}: HTTP 429, quota exhausted; check billing: {detail}")
    if status in RETRY_STATUSES or status >= 500:
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        wait = retry_after_s(headers)
        if wait is None and status == 429:
            wait = reset_wait_s(headers)
        return Transient(f"HTTP {status}: {detail}", wait)
    hints = {
        401: f"authentication failed; check {key_var}",
        403: f"permission denied; check that the key in {key_var} may use {model}",
        404: f"not found; check the model name {model!r} and the base URL",
    }
    return ProviderError(
        f"{provider}: HTTP {status}, {hints.get(status, 'request refused')}: {detail}",
        exit_code=EXIT_USAGE if status in hints else None,
    )


def _unreachable(exc: BaseException) -> str | None:
    """ "connection refused" or "host not found" when that is what lies under `exc`."""
    import socket

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_NONAME:
            return "host not found"
        cause = cause.__cause__ or cause.__context__
    return None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class RetryPolicy:
    """How one provider retries. Tests shrink `base_s` (env RALPH_RETRY_BASE_S)."""

    max_wait: float = 900.0
    """Longest single wait we accept; a longer server-requested wait raises WaitTooLong."""
    on_wait: Callable[[float, str], None] | None = None
    """Called with (seconds, reason) before each sleep, so the CLI can show and log it."""
    attempts: int = 8
    base_s: float = 1.0
    """Backoff ceiling before the first retry; it doubles each attempt, up to `cap_s`."""
    cap_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_env(
        cls, max_wait: float = 900.0, on_wait: Callable[[float, str], None] | None = None
    ) -> RetryPolicy:
        """Defaults, overridden by RALPH_RETRY_BASE_S / RALPH_RETRY_CAP_S / RALPH_RETRY_ATTEMPTS."""
        return cls(
            max_wait=max_wait,
            on_wait=on_wait,
            attempts=max(1, int(env_seconds("RALPH_RETRY_ATTEMPTS", 8))),
            base_s=env_seconds("RALPH_RETRY_BASE_S", 1.0),
            cap_s=env_seconds("RALPH_RETRY_CAP_S", 60.0),
        )

    def call(self, attempt: Callable[[], T], provider: str) -> tuple[T, int]:
        """Run `attempt` until it returns; returns (its result, retries taken)."""
        retries = 0
        backoff = tenacity.wait_random_exponential(multiplier=self.base_s, max=self.cap_s)

        def wait(state: tenacity.RetryCallState) -> float:
            exc: Any = state.outcome.exception() if state.outcome else None
            if exc is None or exc.retry_after is None:
                return min(backoff(state), self.max_wait)
            if exc.retry_after > self.max_wait:
                err = WaitTooLong(
                    f"{provider} asked to wait {_duration(exc.retry_after)}, more than --max-wait "
                    f"({_duration(self.max_wait)}): {exc}"
                )
                err.wait_s = exc.retry_after  # type: ignore[attr-defined]
                raise err
            return exc.retry_after

        def before_sleep(state: tenacity.RetryCallState) -> None:
            nonlocal retries
            retries += 1
            if self.on_wait is not None and state.next_action is not None:
                exc = state.outcome.exception() if state.outcome else None
                reason = f"{provider}: {exc} (attempt {state.attempt_number} of {self.attempts})"
                self.on_wait(state.next_action.sleep, reason)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait,
            retry=tenacity.retry_if_exception_type(Transient),
            before_sleep=before_sleep,
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(attempt), retries
        except Transient as exc:
            raise ProviderError(
                f"{provider}: gave up after {self.attempts} attempts: {exc}"
            ) from exc
