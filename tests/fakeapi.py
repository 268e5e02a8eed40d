"""What the fake model server knows of the real APIs beyond their wire formats.

- `Strict`: the requests the real APIs refuse with a 400 when a client drops or changes
  what a reasoning model returned. It remembers every thinking block (with its
  signature) and every reasoning item (with its encrypted content) the fake handed out,
  and checks that they come back exactly, in order:
  * Anthropic, thinking enabled: the budget is at least 1024 and below `max_tokens`; no
    temperature, top_k or forced tool_choice; every thinking block sent is one the fake
    issued, unchanged; the final assistant turn with tool uses starts with the thinking
    blocks of its response, in order.
  * Responses: every reasoning item sent is one issued, with its encrypted content
    (with `store=false` the server has nothing else to go on), directly followed by the
    item that followed it; a function call made after reasoning comes after that
    reasoning item.
- `PromptCache`: usage the way a prompt cache reports it. The prompt is cut into units
  (tools, system, messages' blocks or input items); a request reads from the cache the
  longest unit-aligned prefix whose bytes (cache_control aside) equal a prefix cached
  by an earlier request, when it is at least `min_tokens` long. Anthropic caches the
  prefixes that end at a `cache_control` breakpoint and reports the rest up to the last
  breakpoint as a cache write; OpenAI caches every prefix and reports no writes. A token
  is 4 bytes of JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from ralph.messages import Usage

MIN_THINKING = 1024


class Strict:
    """Issued reasoning state, and the checks against it."""

    def __init__(self) -> None:
        self.thinking: list[dict[str, Any]] = []  # every thinking block handed out
        self.thinking_before: dict[str, list[dict[str, Any]]] = {}  # tool_use id -> blocks
        self.reasoning: dict[str, dict[str, Any]] = {}  # rs id -> item as handed out
        self.follows: dict[str, tuple[str, str]] = {}  # rs id -> (kind, id) of the next item
        self.reasoning_before: dict[str, list[str]] = {}  # call_id -> rs ids before it

    # -- remembering what was handed out ---------------------------------------------
    def issued_anthropic(self, content: list[dict[str, Any]]) -> None:
        blocks = [b for b in content if b["type"] in ("thinking", "redacted_thinking")]
        self.thinking += blocks
        for block in content:
            if block["type"] == "tool_use" and blocks:
                self.thinking_before[block["id"]] = blocks

    def issued_responses(self, output: list[dict[str, Any]]) -> None:
        before: list[str] = []  # reasoning items so far in this output
        fresh: list[str] = []  # ... not yet followed by another item
        for item in output:
            if item["type"] == "reasoning":
                self.reasoning[item["id"]] = item
                before.append(item["id"])
                fresh.append(item["id"])
                continue
            for rs_id in fresh:
                self.follows[rs_id] = _item_key(item)
            fresh = []
            if item["type"] == "function_call" and before:
                self.reasoning_before[item["call_id"]] = list(before)

    # -- checking a request ----------------------------------------------------------
    def check(self, api: str, body: Any) -> str | None:
        """Why the real API would refuse this request, or None."""
        if not isinstance(body, dict):
            return None
        if api == "anthropic":
            return self._check_anthropic(body)
        if api == "responses":
            return self._check_responses(body)
        return None

    def _check_anthropic(self, body: dict[str, Any]) -> str | None:
        thinking = body.get("thinking") or {}
        if thinking.get("type") != "enabled":
            return None
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_THINKING:
            return f"thinking.budget_tokens: must be at least {MIN_THINKING}"
        if not body.get("max_tokens", 0) > budget:
            return "max_tokens must be greater than thinking.budget_tokens"
        if body.get("temperature", 1) != 1 or "top_k" in body:
            return "temperature and top_k may not be modified when thinking is enabled"
        if (body.get("tool_choice") or {}).get("type", "auto") not in ("auto", "none"):
            return "Thinking may not be enabled when tool_choice forces tool use."
        messages = body.get("messages") or []
        for m, message in enumerate(messages):
            for b, block in enumerate(_blocks(message)):
                if block.get("type") in ("thinking", "redacted_thinking") and (
                    block not in self.thinking
                ):
                    return f"messages.{m}.content.{b}: Invalid `signature` in `thinking` block"
        return self._check_final_turn(messages)

    def _check_final_turn(self, messages: list[dict[str, Any]]) -> str | None:
        turns = [(m, x) for m, x in enumerate(messages) if x.get("role") == "assistant"]
        if not turns:
            return None
        m, last = turns[-1]
        blocks = _blocks(last)
        uses = [b["id"] for b in blocks if b.get("type") == "tool_use"]
        needed = next((self.thinking_before[u] for u in uses if u in self.thinking_before), [])
        if needed and blocks[: len(needed)] != needed:
            return (
                f"messages.{m}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                f"found `{blocks[0].get('type') if blocks else 'nothing'}`. When `thinking` is "
                "enabled, a final `assistant` message must start with a thinking block."
            )
        return None

    def _check_responses(self, body: dict[str, Any]) -> str | None:
        items = body.get("input") if isinstance(body.get("input"), list) else []
        seen: set[str] = set()
        for i, item in enumerate(items):
            kind = item.get("type")
            if kind == "reasoning":
                problem = self._check_reasoning(item, items[i + 1 :], body.get("store"))
                if problem:
                    return problem
                seen.add(item.get("id"))
            elif kind == "function_call":
                missing = [
                    r for r in self.reasoning_before.get(item.get("call_id"), ()) if r not in seen
                ]
                if missing:
                    return (
                        f"Item '{item.get('id') or item.get('call_id')}' of type 'function_call' "
                        f"was provided without its required 'reasoning' item: '{missing[0]}'."
                    )
        return None

    def _check_reasoning(self, item: dict[str, Any], rest: list[Any], store: Any) -> str | None:
        rs_id = item.get("id")
        issued = self.reasoning.get(rs_id)
        if issued is None or (store is False and not item.get("encrypted_content")):
            return (
                f"Item with id '{rs_id}' not found. Items are not persisted when `store` is set "
                "to false. Try again with `store` set to true, or remove this item from your input."
            )
        if item != issued:
            return f"The encrypted content for item {rs_id} could not be verified."
        after = next((x for x in rest if x.get("type") != "reasoning"), None)
        if rs_id in self.follows and (after is None or _item_key(after) != self.follows[rs_id]):
            return (
                f"Item '{rs_id}' of type 'reasoning' was provided without its required "
                "following item."
            )
        return None


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _item_key(item: dict[str, Any]) -> tuple[str, str]:
    if item.get("type") == "function_call":
        return "function_call", str(item.get("call_id"))
    return str(item.get("type") or "message"), str(item.get("id"))


# -- prompt caching ------------------------------------------------------------------------


def tokens(size: int) -> int:
    return math.ceil(size / 4)


class PromptCache:
    """Cached prompt prefixes (by hash) across the requests one server has seen."""

    def __init__(self, min_tokens: int = 1024) -> None:
        self.min_tokens = min_tokens
        self.prefixes: set[str] = set()

    def usage(self, api: str, body: Any, output_tokens: int) -> Usage:
        units = prompt_units(api, body)
        marks: list[tuple[str, int, bool]] = []  # (prefix hash, tokens so far, breakpoint)
        digest, size = hashlib.sha256(), 0
        for data, breakpoint in units:
            digest.update(data)
            size += len(data)
            marks.append((digest.copy().hexdigest(), tokens(size), breakpoint))
        total = tokens(size)
        cacheable = [m for m in marks if m[1] >= self.min_tokens]
        read = max((n for h, n, _ in cacheable if h in self.prefixes), default=0)
        written = 0
        if api == "anthropic":
            ends = [n for _, n, bp in cacheable if bp]
            written = max(0, max(ends, default=0) - read)
            self.prefixes |= {h for h, _, bp in cacheable if bp}
        else:
            self.prefixes |= {h for h, _, _ in cacheable}
        return Usage(total - read - written, output_tokens, read, written)


def prompt_units(api: str, body: Any) -> list[tuple[bytes, bool]]:
    """The prompt in cache order as (bytes, ends at a breakpoint) units."""
    if not isinstance(body, dict):
        return []
    if api == "anthropic":
        parts = [*(body.get("tools") or []), *(body.get("system") or [])]
        for message in body.get("messages") or []:
            content = message.get("content")
            blocks = content if isinstance(content, list) else [content]
            parts += [{"role": message.get("role"), "block": b} for b in blocks]
        return [(_bytes(p), _has_breakpoint(p)) for p in parts]
    if api == "responses":
        head = [body.get("tools") or [], body.get("instructions") or ""]
        return [(_bytes(p), False) for p in [*head, *(body.get("input") or [])]]
    return [(_bytes(p), False) for p in [body.get("tools") or [], *(body.get("messages") or [])]]


def _has_breakpoint(part: Any) -> bool:
    block = part.get("block", part) if isinstance(part, dict) else None
    return isinstance(block, dict) and "cache_control" in block


def _bytes(part: Any) -> bytes:
    return json.dumps(_strip(part), ensure_ascii=False).encode()


def _strip(value: Any) -> Any:
    """`value` without cache_control markers: moving a breakpoint changes no cached bytes."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
