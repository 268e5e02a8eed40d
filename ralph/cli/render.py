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
    if not text:
        return None  # (the common case: a turn with tool calls only)
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

    if not on and not _SPANNING_TAG.search(text):
        return _plain(text)
    styles: list[str] = []

    def tag(match: re.Match[str]) -> str:
        _, escapes, name = match.groups()
        backslashes, escaped = divmod(len(escapes), 2)
        if escaped or not on:
            return _plain_tag(match)
        if name.startswith("/"):
            if styles:
                styles.pop()
            return "\\" * backslashes + "\x1b[0m" + "".join(_sgr(s) for s in styles)
        styles.append(name)
        return "\\" * backslashes + _sgr(name)

    return RE_TAGS.sub(tag, text)


_SPANNING_TAG = re.compile(r"\[[a-z#/@][^[\]]*\n[^[\]]*]")
"""A markup tag (rich's RE_TAGS) with a line end inside it."""
_TAG = re.compile(r"\[[a-z#/@][^[]*?]")
"""rich's RE_TAGS without the escapes before a tag: the same matches where no backslash
comes before a bracket, found several times faster (it starts at a literal `[`)."""


def _plain(text: str) -> str:
    """`from_markup(text, False)` where no tag spans lines: each line with an escaped
    bracket through rich's reading, the lines between in one C-level pass."""
    from rich.markup import RE_TAGS

    out, start = [], 0
    at = text.find("\\[")
    while at >= 0:
        begin = max(text.rfind("\n", start, at) + 1, start)
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        out.append(_TAG.sub("", text[start:begin]))
        out.append(RE_TAGS.sub(_plain_tag, text[begin:end]))
        start = end
        at = text.find("\\[", start)
    out.append(_TAG.sub("", text[start:]))
    return "".join(out)


def _plain_tag(match: re.Match[str]) -> str:
    """A tag's text without colour: its escaping backslashes halved, the tag itself kept
    when escaped (an odd number of them), else dropped (rich's reading)."""
    full, escapes, _ = match.groups()
    backslashes, escaped = divmod(len(escapes), 2)
    return "\\" * backslashes + (full[len(escapes) :] if escaped else "")
