"""Shared test fixtures: no network but loopback, fast retries, no real keys, and the
fake model server."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fakeserver import FakeModelServer
from tests.harness import PROVIDERS, Ralph

# No wall-clock limits in tests (these machines are noisy): hypothesis's per-example
# deadline failed `test_run_never_raises` at load 12 (844 ms against 200 ms).
settings.register_profile("ralph", deadline=None)
settings.load_profile("ralph")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection to a non-loopback address: tests never touch the network."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])  # type: ignore[index]
            if not _is_loopback(host):
                raise OSError(f"tests may not connect to {host}: loopback only")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def _test_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Millisecond retry backoff, and no real API keys or base URLs from the caller."""
    monkeypatch.setenv("RALPH_RETRY_BASE_S", "0.001")
    monkeypatch.setenv("RALPH_RETRY_CAP_S", "0.01")
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("RALPH_STATE_DIR", raising=False)  # a caller's state folder stays out


@pytest.fixture(autouse=True)
def _user_config_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """ralph's per-user folder (secret, trust records) in a throwaway place, never ~/.config."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def fake_server() -> Iterator[FakeModelServer]:
    """A running FakeModelServer with an empty script; `fake_server.add(...)` turns."""
    with FakeModelServer() as server:
        yield server


@pytest.fixture(params=list(PROVIDERS))
def ralph(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Ralph]:
    """The CLI against a fresh fake server, once for each provider."""
    with FakeModelServer() as server:
        yield Ralph(server, request.param, monkeypatch, capsys)


@pytest.fixture
def ralph_anthropic(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Ralph]:
    """The CLI against a fresh fake server, Anthropic only."""
    with FakeModelServer() as server:
        yield Ralph(server, "anthropic", monkeypatch, capsys)


@pytest.fixture
def git_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake HOME (no person's git config) and a fixed git identity; returns the HOME."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for k, v in {"NAME": "t", "EMAIL": "t@example.com"}.items():
        monkeypatch.setenv(f"GIT_AUTHOR_{k}", v)
        monkeypatch.setenv(f"GIT_COMMITTER_{k}", v)
    return home
