"""Shared rendering: the colours of decisions and step states, the same in every view."""

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

    from ralph.record.log import redact

    words = redact(" ".join(str(text or "").split()))
    if not words:
        return None
    if len(words) > limit:
        words = words[:limit] + "…"
    return f"[dim]  │ {escape(words)}[/]"
