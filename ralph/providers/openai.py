"""The `openai` provider: the Responses API with function tools, stateless.

Nothing is stored server-side (`store=False`): every turn sends the system prompt as
`instructions` and the whole conversation as input items, tool calls as
`function_call` items and tool results as `function_call_output` items.

Reasoning models think before they answer. With `store=False` their reasoning would be
lost between turns, so every request asks for `reasoning.encrypted_content`, and a turn
that came with reasoning items keeps its whole output, in order, as an `Opaque` part: it
is sent back as the API documents (`input += response.output`), so each reasoning item
arrives right before the message or function call it preceded. ralph never reads or
logs the encrypted content.
"""

from __future__ import annotations

import json
from typing import Any

from ralph.messages import Message, Opaque, Reply, ToolSpec, Usage
from ralph.providers.base import (
    SDKProvider,
    arguments_json,
    make_call,
    result_text,
)

INCLUDE = ["reasoning.encrypted_content"]
REASONING_LABEL = "reasoning item (encrypted)"


class OpenAIProvider(SDKProvider):
    name = "openai"
    key_var = "OPENAI_API_KEY"

    sdk = "openai"
    client_class = "OpenAI"
    include_reasoning = True
    """Whether requests ask for encrypted reasoning; off once the model refuses it."""

    def _request(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Reply:
        params: dict[str, Any] = {
            "model": self.model,
            "input": [item for message in messages for item in to_items(message)],
            "store": False,
            "include": INCLUDE,
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
        if not self.include_reasoning:
            del params["include"]
        try:
            return to_reply(self._client.responses.create(**params))
        except self._sdk.BadRequestError as exc:
            if not self.include_reasoning or not _refuses_include(exc):
                raise
        self.include_reasoning = False  # a model without reasoning items; ask once more
        del params["include"]
        return to_reply(self._client.responses.create(**params))


def _refuses_include(exc: Exception) -> bool:
    """A 400 saying this model has no encrypted reasoning to include."""
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else {}
    param = error.get("param") if isinstance(error, dict) else None
    message = str(error.get("message") if isinstance(error, dict) else exc).lower()
    return param == "include" or "include" in message or "encrypted" in message


def to_items(message: Message) -> list[dict[str, Any]]:
    """One ralph message as Responses API input items, in conversation order."""
    items: list[dict[str, Any]] = [
        {"type": "function_call_output", "call_id": r.call_id, "output": result_text(r)}
        for r in message.tool_results
    ]
    if message.opaque is not None and message.opaque.provider == OpenAIProvider.name:
        return items + _replayed_output(message)
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


def _replayed_output(message: Message) -> list[dict[str, Any]]:
    """A turn's output items as the API returned them; function calls carry the arguments
    ralph saw (`arguments_json`), so history never holds JSON the SDK could not read."""
    assert message.opaque is not None
    calls = {c.id: c for c in message.tool_calls}
    items = json.loads(message.opaque.data)
    for item in items:
        call = calls.get(item.get("call_id")) if item.get("type") == "function_call" else None
        if call is not None:
            item["arguments"] = arguments_json(call)
    return items


def to_reply(response: Any) -> Reply:
    """A ralph Reply from the SDK's Response."""
    texts: list[str] = []
    calls = []
    reasoning: list[str] = []
    output = list(response.output or ())
    for item in output:
        if item.type == "message":
            texts += [part.text for part in item.content if part.type == "output_text"]
        elif item.type == "function_call":
            calls.append(make_call(item.call_id, item.name, item.arguments))
        elif item.type == "reasoning":
            reasoning += [part.text for part in item.summary or () if part.text]
    incomplete = getattr(response, "incomplete_details", None)
    stop = getattr(incomplete, "reason", None) or getattr(response, "status", None) or ""
    return Reply(
        "".join(texts),
        tuple(calls),
        to_usage(getattr(response, "usage", None)),
        stop,
        reasoning="\n".join(reasoning),
        opaque=_opaque(output),
    )


def _opaque(output: list[Any]) -> Opaque | None:
    """The whole output, kept for the next request when it holds reasoning items."""
    count = sum(item.type == "reasoning" for item in output)
    if not count:
        return None
    items = [item.to_dict(mode="json") for item in output]  # only the fields the API sent
    return Opaque(OpenAIProvider.name, json.dumps(items), (REASONING_LABEL,) * count)


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
