"""The `openai` provider: the Responses API with function tools, stateless.

Nothing is stored server-side (`store=False`): every turn sends the system prompt as
`instructions` and the whole conversation as input items, tool calls as
`function_call` items and tool results as `function_call_output` items.
"""

from __future__ import annotations

from typing import Any

from ralph.messages import Message, Reply, ToolSpec, Usage
from ralph.providers.base import (
    SDKProvider,
    arguments_json,
    make_call,
    result_text,
)


class OpenAIProvider(SDKProvider):
    name = "openai"
    key_var = "OPENAI_API_KEY"

    sdk = "openai"
    client_class = "OpenAI"

    def _request(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Reply:
        params: dict[str, Any] = {
            "model": self.model,
            "input": [item for message in messages for item in to_items(message)],
            "store": False,
        }
        if system:
            params["instructions"] = system
        if tools:
            params["tools"] = [
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                    "strict": False,
                }
                for t in tools
            ]
        return to_reply(self._client.responses.create(**params))


def to_items(message: Message) -> list[dict[str, Any]]:
    """One ralph message as Responses API input items, in conversation order."""
    items: list[dict[str, Any]] = [
        {"type": "function_call_output", "call_id": r.call_id, "output": result_text(r)}
        for r in message.tool_results
    ]
    if message.text:
        items.append({"role": message.role, "content": message.text})
    items += [
        {
            "type": "function_call",
            "call_id": c.id,
            "name": c.name,
            "arguments": arguments_json(c),
        }
        for c in message.tool_calls
    ]
    return items


def to_reply(response: Any) -> Reply:
    """A ralph Reply from the SDK's Response."""
    texts: list[str] = []
    calls = []
    for item in response.output or ():
        if item.type == "message":
            texts += [part.text for part in item.content if part.type == "output_text"]
        elif item.type == "function_call":
            calls.append(make_call(item.call_id, item.name, item.arguments))
    incomplete = getattr(response, "incomplete_details", None)
    stop = getattr(incomplete, "reason", None) or getattr(response, "status", None) or ""
    return Reply("".join(texts), tuple(calls), to_usage(getattr(response, "usage", None)), stop)


def to_usage(usage: Any) -> Usage:
    """Responses usage -> ralph Usage; `input_tokens` there includes cached tokens."""
    if usage is None:
        return Usage()
    details = getattr(usage, "input_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    written = getattr(details, "cache_write_tokens", None) or 0
    return Usage(
        input_tokens=max(0, (usage.input_tokens or 0) - cached - written),
        output_tokens=usage.output_tokens or 0,
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )
