"""Under the providers: the shared HTTP client (one per process, no TLS context for
http:// servers) and the waits the retry layer computes from rate-limit headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ralph.errors import WaitTooLong
from ralph.messages import Message
from ralph.providers import Provider, get_provider, transport
from tests.fakeserver import Error, FakeModelServer, Turn

FIRST = [Message("user", "hi")]


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.setenv("OPENAI_API_KEY", "k")


@pytest.fixture
def tls_contexts(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """A fresh client cache, and every TLS context httpx builds from now on."""
    import httpx2._transports.default as transports

    built: list[object] = []
    real = transports.create_ssl_context

    def counting(*args: object, **kwargs: object) -> object:
        built.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transports, "create_ssl_context", counting)
    monkeypatch.setattr(transport, "_clients", {})
    return built


def _http_client(provider: Provider) -> object:
    return provider._client._client  # type: ignore[attr-defined]


def test_http_servers_share_one_client_and_build_no_tls_context(
    tls_contexts: list[object], fake_server: FakeModelServer
) -> None:
    first = get_provider("anthropic:m", base_url=fake_server.url)
    second = get_provider("openai-chat:m", base_url=fake_server.base_url("openai-chat"))
    assert _http_client(first) is _http_client(second)
    assert tls_contexts == []
    pool = _http_client(first)._transport._pool  # type: ignore[attr-defined]
    assert pool._ssl_context is None
    fake_server.add(Turn(text="one"), Turn(text="two"))
    assert first.complete("", FIRST, []).text == "one"
    assert second.complete("", FIRST, []).text == "two"
    assert tls_contexts == []  # requests to http:// need none either


def test_https_servers_share_one_verified_client(tls_contexts: list[object]) -> None:
    first = get_provider("openai:gpt-5", base_url="https://api.example.invalid/v1")
    second = get_provider("anthropic:claude-x", base_url="https://api.example.invalid")
    assert _http_client(first) is _http_client(second)
    assert len(tls_contexts) == 1  # built once, for both, with verification on
    plain = get_provider("anthropic:claude-x", base_url="http://127.0.0.1:9")
    assert _http_client(plain) is not _http_client(first)


def test_a_closed_shared_client_is_rebuilt(tls_contexts: list[object]) -> None:
    first = get_provider("anthropic:m", base_url="http://127.0.0.1:9")
    _http_client(first).close()  # type: ignore[attr-defined]
    second = get_provider("anthropic:m", base_url="http://127.0.0.1:9")
    assert _http_client(second) is not _http_client(first)
    assert not _http_client(second).is_closed  # type: ignore[attr-defined]


# -- rate-limit reset headers --------------------------------------------------------------


def _stamp(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def _waits(
    name: str, server: FakeModelServer, headers: dict[str, str], **kw: object
) -> list[float]:
    """The waits the retry layer chose for a 429 with `headers`, then success (no sleeping)."""
    server.add(Error(429, headers), Turn(text="ok"))
    provider = get_provider(f"{name}:m", base_url=server.base_url(name), **kw)  # type: ignore[arg-type]
    slept: list[float] = []
    provider.retry.sleep = slept.append  # type: ignore[attr-defined]
    assert provider.complete("", FIRST, []).text == "ok"
    return slept


OPENAI_LIMITS = {
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "1.5s",
    "x-ratelimit-remaining-tokens": "40000",
    "x-ratelimit-reset-tokens": "6m0s",
}


@pytest.mark.parametrize("name", ["openai", "openai-chat"])
def test_openai_reset_of_the_exhausted_limit_lengthens_the_wait(
    name: str, fake_server: FakeModelServer
) -> None:
    assert _waits(name, fake_server, OPENAI_LIMITS) == [1.5]  # backoff alone: ~1 ms here


def test_openai_reset_shortens_a_long_backoff(
    fake_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RALPH_RETRY_BASE_S", "30")
    monkeypatch.setenv("RALPH_RETRY_CAP_S", "60")
    limits = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "20ms"}
    assert _waits("openai", fake_server, limits) == [0.02]


def test_without_a_limit_at_zero_the_latest_reset_counts(fake_server: FakeModelServer) -> None:
    limits = {k: v for k, v in OPENAI_LIMITS.items() if "remaining" not in k}
    assert _waits("openai", fake_server, limits, max_wait=900) == [360.0]


def test_anthropic_reset_timestamps_set_the_wait(fake_server: FakeModelServer) -> None:
    limits = {
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": _stamp(30),
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": _stamp(1),
    }
    (wait,) = _waits("anthropic", fake_server, limits)
    assert 25 < wait <= 30  # the tokens limit's reset, not the requests limit's


def test_retry_after_still_wins_over_reset_headers(fake_server: FakeModelServer) -> None:
    assert _waits("openai", fake_server, {**OPENAI_LIMITS, "retry-after": "2"}) == [2.0]


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("openai", {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "9m50s"}),
        (
            "anthropic",
            {
                "anthropic-ratelimit-output-tokens-remaining": "0",
                "anthropic-ratelimit-output-tokens-reset": "PLACEHOLDER",
            },
        ),
    ],
)
def test_reset_beyond_max_wait_defers_without_sleeping(
    name: str, headers: dict[str, str], fake_server: FakeModelServer
) -> None:
    headers = {k: (_stamp(600) if v == "PLACEHOLDER" else v) for k, v in headers.items()}
    fake_server.add(Error(429, headers))
    provider = get_provider(f"{name}:m", base_url=fake_server.base_url(name), max_wait=60)
    slept: list[float] = []
    provider.retry.sleep = slept.append  # type: ignore[attr-defined]
    with pytest.raises(WaitTooLong, match="more than --max-wait") as caught:
        provider.complete("", FIRST, [])
    assert slept == [] and 500 < caught.value.wait_s <= 600  # type: ignore[attr-defined]


def test_reset_headers_on_a_500_are_not_a_wait(fake_server: FakeModelServer) -> None:
    fake_server.add(Error(503, OPENAI_LIMITS), Turn(text="ok"))
    provider = get_provider("openai:m", base_url=fake_server.base_url("openai"))
    slept: list[float] = []
    provider.retry.sleep = slept.append  # type: ignore[attr-defined]
    provider.complete("", FIRST, [])
    assert len(slept) == 1 and slept[0] <= 0.01  # plain backoff


def test_duration_and_timestamp_parsing() -> None:
    from ralph.providers.retry import duration_s, reset_wait_s

    assert [duration_s(t) for t in ("20ms", "1s", "6m0s", "1h2m3.5s", "")] == [
        0.02,
        1.0,
        360.0,
        3723.5,
        None,
    ]
    assert duration_s("soon") is None and duration_s("1s2") is None
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    headers = {"anthropic-ratelimit-requests-reset": "2026-01-01T12:00:42Z"}
    assert reset_wait_s(headers, now) == 42.0
    assert reset_wait_s({"anthropic-ratelimit-requests-reset": "2025-01-01T00:00:00Z"}, now) == 0.0
    assert reset_wait_s({"x-ratelimit-reset-tokens": "later"}, now) is None
    assert reset_wait_s({}, now) is None
