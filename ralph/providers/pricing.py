"""What a model's tokens cost: a table of USD per million tokens and `cost_usd()`.

The prices are the vendors' public list prices (standard tier, short context, 5-minute
cache writes) as known on 2026-11-29. They drift: check the vendors' pricing pages
before trusting a total, and update `PRICES` when they change. Batch, priority,
long-context and data-residency rates are not modelled.

A model matches the longest key that equals its name or is followed in it by "-"
(so "claude-sonnet-4-5-20250929" is priced as "claude-sonnet-4-5", but "gpt-5.4" is not
priced as "gpt-5"). A model that matches nothing (a local model, a new release) has an
unknown cost: `cost_usd()` returns None and the caller shows tokens only.
"""

from __future__ import annotations

from typing import NamedTuple

from ralph.messages import Usage


class Price(NamedTuple):
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float


def _anthropic(inp: float, out: float, read_ratio: float = 0.1) -> Price:
    # Anthropic: 5-minute cache writes cost 1.25x input; reads 0.1x (0.05x on some 5.5 models).
    return Price(inp, out, inp * 1.25, inp * read_ratio)


def _openai(inp: float, out: float, cached: float) -> Price:
    # OpenAI bills cache writes as ordinary input.
    return Price(inp, out, inp, cached)


PRICES: dict[str, Price] = {
    # Anthropic
    "claude-fable-5": _anthropic(10, 50),
    "claude-fable-5-1": _anthropic(10, 50, 0.025),
    "claude-mythos-5": _anthropic(10, 50),
    "claude-mythos-5-1": _anthropic(10, 50, 0.025),
    "claude-opus-5-5": _anthropic(4, 20, 0.05),
    "claude-opus-5": _anthropic(5, 25),
    "claude-opus-4-8": _anthropic(5, 25),
    "claude-opus-4-7": _anthropic(5, 25),
    "claude-opus-4-6": _anthropic(5, 25),
    "claude-opus-4-5": _anthropic(5, 25),
    "claude-opus-4-1": _anthropic(15, 75),
    "claude-opus-4-0": _anthropic(15, 75),
    "claude-opus-4-20250514": _anthropic(15, 75),
    "claude-sonnet-5-5": _anthropic(2, 10, 0.05),
    "claude-sonnet-5": _anthropic(2, 10),
    "claude-sonnet-4-6": _anthropic(3, 15),
    "claude-sonnet-4-5": _anthropic(3, 15),
    "claude-sonnet-4-0": _anthropic(3, 15),
    "claude-sonnet-4-20250514": _anthropic(3, 15),
    "claude-3-7-sonnet": _anthropic(3, 15),
    "claude-haiku-5-5": _anthropic(0.10, 0.50),
    "claude-haiku-4-5": _anthropic(1, 5),
    "claude-3-5-haiku": _anthropic(0.80, 4),
    "claude-3-haiku": Price(0.25, 1.25, 0.30, 0.03),
    # OpenAI
    "gpt-5.5": _openai(5, 30, 0.50),
    "gpt-5.5-pro": _openai(30, 180, 30),
    "gpt-5.4": _openai(2.50, 15, 0.25),
    "gpt-5.4-mini": _openai(0.75, 4.50, 0.075),
    "gpt-5.4-nano": _openai(0.20, 1.25, 0.02),
    "gpt-5.4-pro": _openai(30, 180, 30),
    "gpt-5.3-codex": _openai(1.75, 14, 0.175),
    "gpt-5.2": _openai(1.75, 14, 0.175),
    "gpt-5.2-codex": _openai(1.75, 14, 0.175),
    "gpt-5.2-pro": _openai(21, 168, 21),
    "gpt-5.1": _openai(1.25, 10, 0.125),
    "gpt-5.1-codex": _openai(1.25, 10, 0.125),
    "gpt-5.1-codex-mini": _openai(0.25, 2, 0.025),
    "gpt-5": _openai(1.25, 10, 0.125),
    "gpt-5-codex": _openai(1.25, 10, 0.125),
    "gpt-5-mini": _openai(0.25, 2, 0.025),
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "gpt-5-pro": _openai(15, 120, 15),
    "gpt-4.1": _openai(2, 8, 0.50),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-4o": _openai(2.50, 10, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
    "o1": _openai(15, 60, 7.50),
    "o3": _openai(2, 8, 0.50),
    "o3-mini": _openai(1.10, 4.40, 0.55),
    "o3-pro": _openai(20, 80, 20),
    "o4-mini": _openai(1.10, 4.40, 0.275),
    "codex-mini-latest": _openai(1.50, 6, 0.375),
}


def price_for(model: str) -> Price | None:
    """The price of `model` by longest matching key, or None when it is not in the table."""
    name = model.strip().lower()
    keys = [key for key in PRICES if name == key or name.startswith(key + "-")]
    return PRICES[max(keys, key=len)] if keys else None


def cost_usd(model: str, usage: Usage) -> float | None:
    """USD for `usage` on `model`, or None when the model's price is unknown."""
    price = price_for(model)
    if price is None:
        return None
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_write_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    ) / 1_000_000
