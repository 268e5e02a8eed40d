"""What the three provider adapters share: one attempt wrapped in the retry layer and
timed, SDK errors mapped to ralph's, and tool-argument conversion.

An adapter subclasses `SDKProvider`, names its SDK and client class (the SDK is imported
when a provider is built, never at module level) and implements `_request()`: one HTTP request, from
ralph's messages to a `Reply`. Nothing SDK-typed is returned from here.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
from types import ModuleType
from typing import Any, ClassVar

from ralph.messages import Message, Reply, ToolCall, ToolResult, ToolSpec
from ralph.providers.retry import RetryPolicy, classify
from ralph.providers.transport import shared_client


class SDKProvider:
    """Base of the adapters: `complete()` = retried, timed `_request()`."""

    name: str = ""
    key_var: ClassVar[str] = ""
    sdk: ClassVar[str] = ""
    """The SDK's module, imported when the provider is built: "anthropic" or "openai"."""
    client_class: ClassVar[str] = ""
    """The SDK's client class in that module, e.g. "Anthropic" or "OpenAI"."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        self.model = model
        self.retry = retry or RetryPolicy()
        sdk = importlib.import_module(self.sdk)
        self._sdk = sdk
        self._client: Any = getattr(sdk, self.client_class)(
            **sdk_options(api_key, base_url, timeout), http_client=shared_client(base_url)
        )
        self._use_sdk_errors(sdk)

    def _use_sdk_errors(self, sdk: ModuleType) -> None:
        """Catch this SDK's API errors, and httpx2 transport errors raised mid-stream."""
        import httpx2

        self._caught = (sdk.APIError, httpx2.TransportError)
        self._connection_errors = (sdk.APIConnectionError, httpx2.TransportError)

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Reply:
        """One model turn. `latency_s` covers the whole call, retry waits included."""
        start = time.monotonic()
        reply, retries = self.retry.call(lambda: self._attempt(system, messages, tools), self.name)
        return dataclasses.replace(reply, retries=retries, latency_s=time.monotonic() - start)

    def _attempt(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Reply:
        try:
            return self._request(system, messages, tools)
        except self._caught as exc:
            raise classify(
                exc,  # type: ignore[arg-type]
                provider=self.name,
                model=self.model,
                key_var=self.key_var,
                connection_errors=self._connection_errors,
                base_url=str(getattr(self._client, "base_url", "") or ""),
            ) from exc

    def _request(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Reply:
        raise NotImplementedError


def sdk_options(api_key: str, base_url: str | None, timeout: float | None) -> dict[str, Any]:
    """Client keyword arguments common to both SDKs; always `max_retries=0`."""
    options: dict[str, Any] = {"api_key": api_key, "max_retries": 0}
    if base_url:
        options["base_url"] = base_url
    if timeout is not None:
        options["timeout"] = timeout
    return options


def parse_arguments(raw: object) -> tuple[dict[str, Any] | None, str]:
    """(arguments, raw text) from what the model sent; arguments is None unless the raw
    text is a JSON object. Blank arguments count as an empty object (no-parameter tools)."""
    if isinstance(raw, dict):
        return raw, json.dumps(raw)
    text = raw if isinstance(raw, str) else ("" if raw is None else json.dumps(raw))
    if not text.strip():
        return {}, text
    try:
        value = json.loads(text)
    except ValueError:
        return None, text
    return (value if isinstance(value, dict) else None), text


def arguments_json(call: ToolCall) -> str:
    """A call's arguments as sent back to the model. Unparsable arguments are replayed as
    `{}` (some servers reject invalid JSON in history); the tool result says what failed."""
    return json.dumps(call.arguments if call.arguments is not None else {})


def result_text(result: ToolResult) -> str:
    """Tool result text for APIs that have no error flag: errors are marked in the text."""
    return f"ERROR: {result.content}" if result.is_error else result.content


def make_call(call_id: str, name: str, raw: object) -> ToolCall:
    """A ralph ToolCall from an id, a name and raw arguments in any shape."""
    arguments, raw_text = parse_arguments(raw)
    return ToolCall(call_id, name, arguments, raw_text)
