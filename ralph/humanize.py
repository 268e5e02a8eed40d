"""Numbers as people read them: money, durations and counts, the same in notes, the live
view, `ralph runs` and messages."""

from __future__ import annotations

from typing import Any


def money(cost: Any, places: int = 2) -> str:
    """`$0.07` (to `places` decimals), or "cost unknown" when the cost is not a number."""
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        return "cost unknown"
    return f"${cost:.{places}f}"


def duration(seconds: float) -> str:
    """`42s`, `2m10s`, `1h05m`: whole seconds, the note's format."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def count(n: int) -> str:
    """`950`, `12.3k`, `4.1M`."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def tally(kinds: list[str]) -> str:
    """`2 done, 1 awaiting approval`: how many of each, in order of first appearance."""
    return ", ".join(f"{kinds.count(k)} {k.replace('_', ' ')}" for k in dict.fromkeys(kinds))


def steps(n: int) -> str:
    """`1 step`, `3 steps`."""
    return f"{n} step{'' if n == 1 else 's'}"
