"""The `openai-chat` provider: Chat Completions, for OpenAI-compatible servers
(Ollama, vLLM, LM Studio, llama.cpp server) as well as OpenAI itself.

Lenient with local servers: missing usage counts as zero tokens, a tool call without
an id gets one, and arguments that are not a JSON object reach ralph as `None` with
the raw text kept.

Thinking models on vLLM, llama.cpp and Ollama return their reasoning beside the answer
(`reasoning_content`, or `reasoning`): it is shown in the record as the model's own
text and not sent back, as those servers document.
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


class OpenAIChatProvider(SDKProvider):
    name = "openai-chat"
    key_var = "OPENAI_API_KEY"

    sdk = "openai"
    client_class = "OpenAI"

    def _request(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Reply:
        wire = [{"role": "system", "content": system}] if system else []
        wire += [entry for message in messages for entry in to_wire(message)]
        params: dict[str, Any] = {"model": self.model, "messages": wire}
        if tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in tools
            ]
        return to_reply(self._client.chat.completions.create(**params))


def to_wire(message: Message) -> list[dict[str, Any]]:
    """One ralph message as chat messages: tool results become `tool` messages, which
    must directly follow the assistant message that made the calls."""
    if message.role == "assistant":
        entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        if message.tool_calls:
            entry["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": arguments_json(c)},
                }
                for c in message.tool_calls
            ]
        return [entry]
    entries: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": r.call_id, "content": result_text(r)}
        for r in message.tool_results
    ]
    if message.text or not entries:
        entries.append({"role": "user", "content": message.text})
    return entries


def to_reply(completion: Any) -> Reply:
    """A ralph Reply from a ChatCompletion, tolerating what local servers leave out."""
    choices = getattr(completion, "choices", None) or []
    if not choices:
        return Reply("", (), to_usage(completion), "no_choices")
    choice = choices[0]
    message = choice.message
    calls = tuple(
        make_call(
            getattr(tc, "id", None) or f"call_{index}",
            tc.function.name,
            tc.function.arguments,
        )
        for index, tc in enumerate(getattr(message, "tool_calls", None) or ())
    )
    text = getattr(message, "content", None) or ""
    return Reply(
        text,
        calls,
        to_usage(completion),
        getattr(choice, "finish_reason", None) or "",
        reasoning=_reasoning(message),
    )


REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Where local servers put a thinking model's reasoning (vLLM and llama.cpp; Ollama)."""


def _reasoning(message: Any) -> str:
    for name in REASONING_FIELDS:
        value = getattr(message, name, None)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def to_usage(completion: Any) -> Usage:
    """Chat usage -> ralph Usage; `prompt_tokens` there includes cached tokens."""
    usage = getattr(completion, "usage", None)
    if usage is None:
        return Usage()
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(
        input_tokens=max(0, (getattr(usage, "prompt_tokens", None) or 0) - cached),
        output_tokens=getattr(usage, "completion_tokens", None) or 0,
        cache_read_tokens=cached,
    )
