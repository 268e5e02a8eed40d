"""Task files: parse a markdown checklist plan, pick the next step, and write progress back.

- A *step* is a list item whose marker line starts with a GitHub task box `[ ]`, `[x]` or
  `[X]`, then a space or tab, then text. Boxes in blockquotes, code, HTML blocks and front
  matter are not steps; look-alikes (`[-]`, `[/]`, `[~]`, `[ ]*`, ...) become warnings.
- Under a step, ralph keeps one note: a sub-bullet `- ralph: <state> · <details>`
  (`notes` owns that grammar). It is never a step or a hint.
- Other sub-bullets are context for the model: `key: value` settings (`verify: \\`pytest\\``)
  and free-text hints (acceptance criteria).
- Edits never re-render (`edit`): checking a box changes one character, a note is one
  inserted (or replaced) line; every other byte survives.

`model` holds the data types, `reader` turns bytes into them (markdown-it-py set up by
`mdparse`, tokens to steps in `builder`, a big plan in two processes by `halves`),
`lines` is markdown-it's line model. Lines are 1-based in the API.
"""

from ralph.taskfile.edit import edit_bytes, record_outcome
from ralph.taskfile.model import (
    BOM,
    OUTCOMES,
    Next,
    Outcome,
    ParseWarning,
    State,
    Step,
    TaskFile,
)
from ralph.taskfile.notes import (
    MAX_ATTEMPTS,
    NOTE_MAX_CHARS,
    NOTE_PREFIX,
    NOTE_SEP,
    SUMMARY_MAX_CHARS,
    note_details,
    note_head,
    note_outcome,
    note_snapshot,
    note_state,
    one_line,
)
from ralph.taskfile.reader import keep, load, parse

__all__ = [
    "BOM",
    "MAX_ATTEMPTS",
    "NOTE_MAX_CHARS",
    "NOTE_PREFIX",
    "NOTE_SEP",
    "OUTCOMES",
    "SUMMARY_MAX_CHARS",
    "Next",
    "Outcome",
    "ParseWarning",
    "State",
    "Step",
    "TaskFile",
    "edit_bytes",
    "keep",
    "load",
    "note_details",
    "note_head",
    "note_outcome",
    "note_snapshot",
    "note_state",
    "one_line",
    "parse",
    "record_outcome",
]
