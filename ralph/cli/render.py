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
