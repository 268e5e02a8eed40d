"""Shared rendering: the colours of decisions and step states, the same in every view."""

import re

from ralph.redact import escape_controls, one_line

DECISION_STYLE = {"allow": "green", "confirm": "yellow", "deny": "red"}
"""How a guard decision is coloured wherever one is shown (the live view, `ralph log`)."""

STATE_STYLES = {
    "done": "green",
    "todo": "",
    "failed": "yellow",
    "blocked": "bold red",
    "awaiting_approval": "magenta",
}


def model_words(text: object, limit: int = 600) -> str | None:
    """The model's own text between tool calls as one dimmed markup line, shortened to
    `limit` characters (None when it wrote nothing), credentials redacted. The live view and
    `ralph log` show it."""
    from rich.markup import escape

    words = one_line(text or "", limit + 1)
    if not words:
        return None
    return f"[dim]  │ {escape(words)}[/]"


_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "magenta": "35"}


def color(stream: object | None = None) -> bool:
    """Whether to colour output to `stream` (stdout): a terminal, unless NO_COLOR is set
    or TERM is dumb; FORCE_COLOR forces it (rich's rules, for the plain-text views)."""
    import os
    import sys

    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream or sys.stdout, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") not in ("dumb", "unknown")


def paint(text: str, style: str, on: bool) -> str:
    """`text` in `style` ("bold red", "dim", ...) as ANSI codes when `on`, else as is."""
    start = _sgr(style) if on else ""
    return f"{start}{text}\x1b[0m" if start else text


def _sgr(style: str) -> str:
    codes = ";".join(_SGR[word] for word in style.split() if word in _SGR)
    return f"\x1b[{codes}m" if codes else ""


def printable(text: str) -> str:
    """`text` on one line: newlines as spaces, other control characters (escape sequences,
    CR) escaped (`\\x1b`), so that no text can fake or hide a line."""
    return escape_controls(text, " ")


def from_markup(text: str, on: bool) -> str:
    """Rich markup (`[bold]x[/]`; escaped brackets stay literal, as rich reads them) as
    plain text, with ANSI codes when `on`. One regex pass over the whole text: far cheaper
    than a rich console for the many lines of `ralph log`. Each line must close its tags."""
    from rich.markup import RE_TAGS

    styles: list[str] = []

    def tag(match: re.Match[str]) -> str:
        full, escapes, name = match.groups()
        backslashes, escaped = divmod(len(escapes), 2)
        if escaped:
            return "\\" * backslashes + full[len(escapes) :]
        if not on:
            return "\\" * backslashes
        if name.startswith("/"):
            if styles:
                styles.pop()
            return "\\" * backslashes + "\x1b[0m" + "".join(_sgr(s) for s in styles)
        styles.append(name)
        return "\\" * backslashes + _sgr(name)

    return RE_TAGS.sub(tag, text)
