"""Under the providers: the shared HTTP client (one per process, no TLS context for
http:// servers) and the waits the retry layer computes from rate-limit headers."""

from __future__ import annotations

import pytest

from ralph.messages import Message
from ralph.providers import Provider, get_provider, http
from tests.fakeserver import FakeModelServer, Turn

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
    monkeypatch.setattr(http, "_clients", {})
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
