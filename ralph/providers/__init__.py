"""Model providers behind one small Protocol, and `get_provider()` to build one from a
"PROVIDER:MODEL" spec.

Importing this package imports no SDK: each adapter module imports its SDK when a
provider is built. Keys come from the SDKs' own variables, base URLs from `base_url`
or ANTHROPIC_BASE_URL / OPENAI_BASE_URL. Every adapter retries through the one retry
layer in `retry.py`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ralph.errors import UsageError
from ralph.messages import Message, Reply, ToolSpec


class Provider(Protocol):
    """One model behind one API. `complete()` sends the whole conversation (stateless)
    and returns the model's next turn; it retries transient failures itself and raises
    `ProviderError` (stop: bad request, auth, not found, retries exhausted) or
    `WaitTooLong` (the server asked for a wait longer than max_wait)."""

    name: str
    model: str

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Reply: ...


@dataclass(frozen=True)
class _Kind:
    module: str
    cls: str
    key_var: str
    base_url_var: str


KINDS: dict[str, _Kind] = {
    "anthropic": _Kind("anthropic", "AnthropicProvider", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    "openai": _Kind("openai", "OpenAIProvider", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "openai-chat": _Kind("openai_chat", "OpenAIChatProvider", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
}

MIN_THINKING_TOKENS = 1024
"""The smallest extended-thinking budget the Messages API takes."""

KEYLESS_PLACEHOLDER = "not-needed"
"""Key sent to a non-OpenAI openai-chat server when OPENAI_API_KEY is unset."""


def check_provider_spec(spec: str) -> tuple[str, str]:
    """(provider, model) from "PROVIDER:MODEL"; raises UsageError naming the accepted form."""
    provider, sep, model = (spec or "").strip().partition(":")
    if not sep or provider not in KINDS or not model.strip():
        raise UsageError(
            f"bad model {spec!r}: use PROVIDER:MODEL with PROVIDER one of "
            f"{', '.join(KINDS)} (e.g. anthropic:claude-sonnet-4-5, openai-chat:qwen3-coder)"
        )
    return provider, model.strip()


def _api_key(provider: str, base_url: str | None) -> str:
    kind = KINDS[provider]
    key = os.environ.get(kind.key_var, "").strip()
    official = not base_url or "api.openai.com" in base_url
    if key:
        return key
    if provider == "openai-chat" and not official:
        return KEYLESS_PLACEHOLDER  # local servers (Ollama, vLLM, ...) take any key
    raise UsageError(f"{kind.key_var} is not set: export it to use {provider} models")


def check_thinking(provider: str, thinking: int | None) -> None:
    """Raise UsageError unless `thinking` (a token budget; None or 0 for none) suits
    `provider`."""
    if not thinking:
        return
    if provider != "anthropic":
        raise UsageError(
            f"--thinking (thinking = N) is for anthropic models; {provider} reasoning models "
            "think without a budget from ralph: leave it out for this model"
        )
    if thinking < MIN_THINKING_TOKENS:
        raise UsageError(
            f"--thinking {thinking}: the thinking budget must be at least "
            f"{MIN_THINKING_TOKENS} tokens (or leave it out)"
        )


def check_credentials(
    spec: str, base_url: str | None = None, *, thinking: int | None = None
) -> tuple[str, str, str | None, str]:
    """(provider, model, base URL, API key) for "PROVIDER:MODEL", importing no SDK.

    Raises UsageError for a bad spec, a missing key or a thinking budget the model cannot
    take, so a run can fail before any work."""
    provider, model = check_provider_spec(spec)
    check_thinking(provider, thinking)
    kind = KINDS[provider]
    base_url = base_url or os.environ.get(kind.base_url_var, "").strip() or None
    return provider, model, base_url, _api_key(provider, base_url)


def get_provider(
    spec: str,
    *,
    base_url: str | None = None,
    max_wait: float = 900,
    on_wait: Callable[[float, str], None] | None = None,
    thinking: int | None = None,
    timeout: float | None = None,
) -> Provider:
    """Build the provider for "PROVIDER:MODEL" (with an extended-thinking budget of
    `thinking` tokens, anthropic only). Raises UsageError for a bad spec, a missing key
    or a bad budget, before any request is made. `timeout` bounds each network wait
    (connect, and every read of a response: a server silent that long is retried)."""
    from ralph.providers.retry import RetryPolicy

    provider, model, base_url, api_key = check_credentials(spec, base_url, thinking=thinking)
    kind = KINDS[provider]
    module = importlib.import_module(f"ralph.providers.{kind.module}")
    cls = getattr(module, kind.cls)
    retry = RetryPolicy.from_env(max_wait=max_wait, on_wait=on_wait)
    extra = {"thinking": thinking} if thinking else {}
    provider_obj: Provider = cls(
        model, api_key=api_key, base_url=base_url, retry=retry, timeout=timeout, **extra
    )
    return provider_obj
