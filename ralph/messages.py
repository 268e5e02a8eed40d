"""ralph's own small message types, shared by the loop, tools, guard and providers.

SDK types never leave `ralph/providers/`; everything else speaks these.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )


@dataclass(frozen=True)
class Message:
    """One conversation entry. A user message carries text and/or tool results;
    an assistant message carries text and/or tool calls."""

    role: Literal["user", "assistant"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()


@dataclass(frozen=True)
class Reply:
    """One model response, in ralph's terms."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    stop_reason: str = ""
    retries: int = 0
    latency_s: float = 0.0

    @property
    def message(self) -> Message:
        return Message("assistant", self.text, self.tool_calls)
