"""ralph's own small message types, shared by the loop, tools, guard and providers.

SDK types never leave `ralph/providers/`; everything else speaks these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a JSON schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """One tool call from the model."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    """Parsed arguments, or None when the model sent arguments that are not a JSON object."""
    raw_arguments: str = ""
    """The arguments exactly as the model sent them (for error messages and logs)."""


@dataclass(frozen=True)
class ToolResult:
    """What goes back to the model for one tool call."""

    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Usage:
    """Token counts of one response. `input_tokens` excludes cache reads and writes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.output_tokens

    @property
    def prompt_tokens(self) -> int:
        """Every input token the model read: uncached, cache reads and cache writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def cache_read_share(self) -> float | None:
        """The share of input tokens that were cache reads (0..1); None with no input."""
        prompt = self.prompt_tokens
        return self.cache_read_tokens / prompt if prompt else None


@dataclass(frozen=True)
class Opaque:
    """A provider's own record of one assistant turn, for that provider only.

    It holds what the API needs back but ralph must not read: OpenAI's encrypted reasoning
    items, Anthropic's signed thinking blocks. The provider named here writes it from a
    reply and reads it when it sends the turn back (in order, unchanged); every other
    provider ignores it. Its data is never logged or shown: `labels` say what the record
    may note instead, e.g. "reasoning item (encrypted)".
    """

    provider: str
    data: str = field(repr=False)
    """JSON written by the provider; opaque to the rest of ralph."""
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Message:
    """One conversation entry. A user message carries text and/or tool results;
    an assistant message carries text and/or tool calls."""

    role: Literal["user", "assistant"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    opaque: Opaque | None = None
    """Provider-private parts of an assistant turn (see `Opaque`)."""


@dataclass(frozen=True)
class Reply:
    """One model response, in ralph's terms."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    stop_reason: str = ""
    retries: int = 0
    latency_s: float = 0.0
    reasoning: str = ""
    """The model's readable reasoning (thinking text, `reasoning_content`), for the record
    only: ralph never sends it back."""
    opaque: Opaque | None = None

    @property
    def message(self) -> Message:
        return Message("assistant", self.text, self.tool_calls, opaque=self.opaque)
