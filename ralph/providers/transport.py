"""The HTTP client under every SDK client: one per process, built on first use.

Each SDK client would otherwise build its own httpx client, and with it a TLS context
that loads the CA bundle (about 90 ms), even for an `http://` server on localhost. Here
`https://` servers share one client with the default verified TLS context, built once;
`http://` servers share one whose connection pool has no TLS context at all (httpcore
would build its default, verified one only if a redirect led to `https://`).

The SDK clients never close these: nothing in ralph calls `close()` on an SDK client,
and a client closed by anyone else is rebuilt on the next use.
"""

from __future__ import annotations

import threading
from typing import Any

TIMEOUT_S = 600.0
CONNECT_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 100
MAX_KEEPALIVE = 20

_clients: dict[bool, Any] = {}
_lock = threading.Lock()


def is_plain(base_url: str | None) -> bool:
    """Whether requests go to an `http://` server (no TLS)."""
    return bool(base_url) and base_url.strip().lower().startswith("http://")  # type: ignore[union-attr]


def shared_client(base_url: str | None) -> Any:
    """The process's httpx client for `base_url`'s scheme (an `httpx2.Client`)."""
    plain = is_plain(base_url)
    with _lock:
        client = _clients.get(plain)
        if client is None or client.is_closed:
            client = _clients[plain] = _build(plain)
        return client


def _build(plain: bool) -> Any:
    import httpx2

    limits = httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE)
    transport = _plain_transport(limits) if plain else httpx2.HTTPTransport(limits=limits)
    return httpx2.Client(
        transport=transport,
        timeout=httpx2.Timeout(TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        limits=limits,
        follow_redirects=True,  # as the SDKs' own clients do
    )


def _plain_transport(limits: Any) -> Any:
    """An `httpx2.HTTPTransport` whose pool has no TLS context (HTTPTransport's own
    constructor always builds one)."""
    import httpcore2
    import httpx2

    transport = httpx2.HTTPTransport.__new__(httpx2.HTTPTransport)
    transport._pool = httpcore2.ConnectionPool(
        ssl_context=None,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
    )
    return transport
