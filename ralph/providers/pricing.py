"""What a model's tokens cost: a table of USD per million tokens and `cost_usd()`.

The prices are the vendors' public list prices (standard tier, short context, 5-minute
cache writes) as known on 2026-11-29. They drift: check the vendors' pricing pages
before trusting a total, and update `PRICES` when they change. Batch, priority,
long-context and data-residency rates are not modelled.

A model matches the longest key that equals its name or is followed in it by "-"
(so "claude-sonnet-4-5-20250929" is priced as "claude-sonnet-4-5", but "gpt-5.4" is not
priced as "gpt-5"). A model that matches nothing (a local model, a new release) has an
unknown cost: `cost_usd()` returns None and the caller shows tokens only.

Users extend or correct the table in the project config, per million tokens:

    [pricing."openai-chat:qwen3-coder"]
    input = 0.20
    output = 0.80
    cache-read = 0.02      # optional, default: input
    cache-write = 0.25     # optional, default: input

Those entries are keyed by provider and model (matched the same way) and win over
`PRICES`. A dollar budget for a model with no price is refused (`require_prices`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ralph.errors import UsageError
from ralph.messages import Usage

if TYPE_CHECKING:
    from ralph.config import Config


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


def _longest_match(name: str, keys: Iterable[str]) -> str | None:
    """The longest key equal to `name` or followed in it by "-"."""
    matches = [key for key in keys if name == key or name.startswith(key + "-")]
    return max(matches, key=len) if matches else None


def price_for(
    model: str, *, provider: str | None = None, table: Mapping[str, Price] | None = None
) -> Price | None:
    """The price of `model`: from the user's `table` (keys "provider:model") when it has
    one for `provider`, else from `PRICES` by longest matching key; None when unknown."""
    name = model.strip().lower()
    if provider and table:
        mine = {
            key.split(":", 1)[1]: price
            for key, price in table.items()
            if key.startswith(f"{provider}:")
        }
        key = _longest_match(name, mine)
        if key is not None:
            return mine[key]
    key = _longest_match(name, PRICES)
    return PRICES[key] if key is not None else None


def cost_usd(
    model: str,
    usage: Usage,
    *,
    provider: str | None = None,
    table: Mapping[str, Price] | None = None,
) -> float | None:
    """USD for `usage` on `model`, or None when the model's price is unknown."""
    price = price_for(model, provider=provider, table=table)
    if price is None:
        return None
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_write_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    ) / 1_000_000


def pricer(spec: str, table: Mapping[str, Price] | None = None) -> Callable[[Usage], float | None]:
    """USD of a usage on the model "PROVIDER:MODEL" (None when its price is unknown)."""
    provider, _, model = spec.partition(":")
    return lambda usage: cost_usd(model, usage, provider=provider, table=table)


def require_prices(config: Config) -> None:
    """Raise UsageError when a dollar budget is set for a model ralph cannot price: the
    budget would never stop anything."""
    budgets = {"--max-cost": config.max_cost, "--max-step-cost": config.max_step_cost}
    flags = [flag for flag, value in budgets.items() if value is not None]
    if not flags or not config.model:
        return
    provider, _, model = config.model.partition(":")
    if price_for(model, provider=provider, table=config.pricing) is not None:
        return
    spec = config.model
    need = "needs" if len(flags) == 1 else "need"
    raise UsageError(
        f"{' and '.join(flags)} {need} the price of {spec}, which ralph does not know: add "
        f'[pricing."{spec}"] with input and output (and cache-read, cache-write) in USD per '
        f'million tokens to ralph.toml (in pyproject.toml: [tool.ralph.pricing."{spec}"]), '
        f"or drop {' and '.join(flags)}"
    )


PRICE_FIELDS = {
    "input": "input",
    "output": "output",
    "cache_read": "cache-read",
    "cache_write": "cache-write",
}
"""Price fields in the config (with "-" or "_") and how messages spell them."""


def parse_table(raw: Any, where: str) -> dict[str, Price]:
    """`[pricing."provider:model"]` tables from the project config, validated; `where`
    names the table in messages (e.g. 'ralph.toml: [pricing'). Raises UsageError."""
    from ralph.providers import KINDS

    if not isinstance(raw, dict):
        raise UsageError(
            f'{where}."PROVIDER:MODEL"] tables are expected under pricing, not {raw!r}'
        )
    table: dict[str, Price] = {}
    for key, entry in raw.items():
        name = f'{where}."{key}"]'
        provider, sep, model = str(key).partition(":")
        if not sep or provider not in KINDS or not model.strip():
            raise UsageError(
                f"{name}: name the model as PROVIDER:MODEL with PROVIDER one of "
                f'{", ".join(KINDS)}, e.g. {where}."openai-chat:qwen3-coder"]'
            )
        table[f"{provider}:{model.strip().lower()}"] = _price(entry, name)
    return table


def _price(entry: Any, name: str) -> Price:
    if not isinstance(entry, dict):
        raise UsageError(f"{name} must be a table with input and output (USD per million tokens)")
    values: dict[str, float] = {}
    for field, value in entry.items():
        key = str(field).replace("-", "_")
        if key not in PRICE_FIELDS:
            raise UsageError(
                f"{name}: unknown price {field!r}; known: {', '.join(PRICE_FIELDS.values())}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise UsageError(f"{name} {field}: {value!r} is not a number of USD per million tokens")
        values[key] = float(value)
    if "input" not in values or "output" not in values:
        raise UsageError(f"{name} needs input and output (USD per million tokens)")
    return Price(
        values["input"],
        values["output"],
        values.get("cache_write", values["input"]),
        values.get("cache_read", values["input"]),
    )
