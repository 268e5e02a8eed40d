"""The `anthropic` provider: the Messages API with tool use, streamed.

Streaming keeps long turns clear of the SDK's limits for non-streamed requests. The
tool definitions, the system prompt and the end of the conversation carry
`cache_control` breakpoints, so later turns and later steps reuse the cached prefix.

Extended thinking (`thinking=N`, from `--thinking N`): the request carries
`thinking: {"type": "enabled", "budget_tokens": N}` and `max_tokens` grows to N plus
the usual room for the answer (the API wants `max_tokens > budget_tokens`); ralph sets
no temperature, top_k or tool_choice, which thinking does not allow to change. A turn
with thinking keeps its content blocks, in order, as an `Opaque` part, so the thinking
and redacted_thinking blocks go back unchanged, signatures and all, before the tool
calls they led to, as the API requires in tool-use conversations. The readable thinking
is shown in the record; signatures and redacted data never are.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ralph.config import env_count
from ralph.errors import ProviderError
from ralph.messages import Message, Opaque, Reply, ToolCall, ToolSpec, Usage
from ralph.providers.base import SDKProvider, make_call
from ralph.providers.retry import Transient

CACHE = {"type": "ephemeral"}
DEFAULT_MAX_TOKENS = 16_000
THINKING_LABELS = {"thinking": "thinking block (signed)", "redacted_thinking": "redacted thinking"}


class AnthropicProvider(SDKProvider):
    name = "anthropic"
    key_var = "ANTHROPIC_API_KEY"

    sdk = "anthropic"
    client_class = "Anthropic"

    def __init__(
        self,
        model: str,
        *,
        max_tokens: int | None = None,
        thinking: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        self.max_tokens = max_tokens or env_count("RALPH_MAX_TOKENS", DEFAULT_MAX_TOKENS)
        self.thinking = thinking

    def _request(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Reply:
        params = request_params(self.model, self.max_tokens, system, messages, tools)
        if self.thinking:
            params["thinking"] = {"type": "enabled", "budget_tokens": self.thinking}
            params["max_tokens"] = self.thinking + self.max_tokens
        try:
            with self._client.messages.stream(**params) as stream:
                final = stream.get_final_message()
        except ValueError as exc:  # the SDK could not parse streamed tool input as JSON
            raise ProviderError(f"anthropic: unreadable tool input in the stream: {exc}") from exc
        if final.stop_reason is None:
            raise Transient("the stream ended before the message was complete")
        return to_reply(final)


def request_params(
    model: str, max_tokens: int, system: str, messages: list[Message], tools: list[ToolSpec]
) -> dict[str, Any]:
    """The Messages API request body for one turn."""
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [to_wire(message) for message in messages],
    }
    if system:
        params["system"] = [{"type": "text", "text": system, "cache_control": CACHE}]
    if tools:
        params["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in tools
        ]
        params["tools"][-1]["cache_control"] = CACHE
    if params["messages"]:  # moving breakpoint: this turn's prefix is cached for the next
        params["messages"][-1]["content"][-1]["cache_control"] = CACHE
    return params


def to_wire(message: Message) -> dict[str, Any]:
    """One ralph message as a Messages API message with content blocks."""
    if message.opaque is not None and message.opaque.provider == AnthropicProvider.name:
        return {"role": message.role, "content": _replayed_content(message)}
    blocks: list[dict[str, Any]] = [
        {
            "type": "tool_result",
            "tool_use_id": r.call_id,
            "content": r.content or "(no output)",
            "is_error": r.is_error,
        }
        for r in message.tool_results
    ]  # tool results must come first in a user message
    if message.text:
        blocks.append({"type": "text", "text": message.text})
    blocks += [_tool_use(c) for c in message.tool_calls]
    if not blocks:  # the API rejects empty content
        blocks.append({"type": "text", "text": "(empty)"})
    return {"role": message.role, "content": blocks}


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments or {}}


def _replayed_content(message: Message) -> list[dict[str, Any]]:
    """A turn's content blocks in the order they came: thinking blocks unchanged, tool
    uses with the arguments ralph saw (an object, as the API requires)."""
    assert message.opaque is not None
    calls = {c.id: c for c in message.tool_calls}
    blocks = json.loads(message.opaque.data)
    return [
        _tool_use(calls[b["id"]]) if b.get("type") == "tool_use" and b.get("id") in calls else b
        for b in blocks
    ]


def to_reply(final: Any) -> Reply:
    """A ralph Reply from the SDK's final Message."""
    texts = [block.text for block in final.content if block.type == "text"]
    uses = [block for block in final.content if block.type == "tool_use"]
    calls = [make_call(u.id, u.name, u.input) for u in uses]
    if calls and final.stop_reason == "max_tokens":  # the last call's input was cut off
        calls[-1] = dataclasses.replace(calls[-1], arguments=None)
    usage = final.usage
    return Reply(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
            cache_write_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
        ),
        stop_reason=final.stop_reason or "",
        reasoning="\n".join(b.thinking for b in final.content if b.type == "thinking"),
        opaque=_opaque(final.content),
    )


def _opaque(content: list[Any]) -> Opaque | None:
    """The turn's content blocks, kept when it has thinking to send back."""
    labels = tuple(THINKING_LABELS[b.type] for b in content if b.type in THINKING_LABELS)
    if not labels:
        return None
    return Opaque(AnthropicProvider.name, json.dumps([_block(b) for b in content]), labels)


def _block(block: Any) -> dict[str, Any]:
    """A content block as the API takes it back: thinking exactly as it came."""
    if block.type == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if block.type == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return dict(block.to_dict(mode="json"))
