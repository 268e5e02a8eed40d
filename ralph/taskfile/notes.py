"""The note grammar: the one line ralph keeps under a step (`- ralph: <state> · <details>`).

Writing a note (`note_head`, `note_details`) and reading one back (`note_state`) live
here together, so the two can never disagree.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ralph.humanize import count, duration, money
from ralph.redact import one_line

if TYPE_CHECKING:
    pass
from ralph.taskfile.model import Outcome, State, Step

MAX_ATTEMPTS = 3  # failed attempts before a step is blocked


NOTE_PREFIX = "ralph: "  # a note line is "<indent>- ralph: <state> · <details>"


NOTE_SEP = " · "


NOTE_MAX_CHARS = 300  # a note is one line; longer details are cut with "…"


SUMMARY_MAX_CHARS = 200


_ATTEMPTS_RE = re.compile(r"\battempt (\d+)|\bafter (\d+) attempts?\b")


_APPROVAL_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


_SNAPSHOT_RE = re.compile(r"snapshot ([0-9a-f]{7,40})")


def note_state(note: str | None, checked: bool) -> tuple[State, int, str | None]:
    """(state, attempts, approval id) read back from ralph's note and the box."""
    if note is None:
        return ("done" if checked else "todo"), 0, None
    head = note.split("·", 1)[0].strip()
    m = _ATTEMPTS_RE.search(head)
    attempts = int(m.group(1) or m.group(2)) if m else 0
    words = head.split()
    word = words[0] if words else ""
    approval = None
    state: State = "todo"
    if word == "done":
        attempts = 0
    elif word == "failed":
        state = "failed"
    elif word == "blocked":
        state = "blocked"
    elif word == "awaiting" and len(words) > 2 and words[1] == "approval":
        state, approval = "awaiting_approval", words[2]
    return ("done" if checked else state), attempts, approval


def note_head(
    step: Step,
    outcome: Outcome,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    approval_id: str | None = None,
) -> str:
    """The state part of a note, e.g. "failed (attempt 2/3)" or "blocked after 3 attempts"."""
    used = step.attempts
    so_far = f" (attempt {used}/{max_attempts})" if used else ""
    if outcome == "done":
        return "done"
    if outcome == "failed" and used + 1 < max_attempts:
        return f"failed (attempt {used + 1}/{max_attempts})"
    if outcome in ("failed", "blocked"):
        return f"blocked after {used + 1} attempt{'s' if used else ''}"
    if outcome == "awaiting_approval":
        if not approval_id or not _APPROVAL_ID_RE.fullmatch(approval_id):
            raise ValueError(
                f"awaiting_approval needs an approval id (letters, digits, ._-): {approval_id!r}"
            )
        return f"awaiting approval {approval_id}{so_far}"
    if outcome == "interrupted":
        return f"interrupted{so_far}"
    raise ValueError(f"unknown outcome {outcome!r}")


def note_details(
    summary: str = "",
    *,
    when: datetime | None = None,
    turns: int | None = None,
    tokens: int | None = None,
    cache_share: float | None = None,
    cost_usd: float | None = None,
    seconds: float | None = None,
    snapshot: str | None = None,
) -> str:
    """The details part of a note.

    For example "2026-11-29 04:40 UTC · 7 turns · 12.3k tok · 64% cached · $0.07 · 2m10s ·
    snapshot 3a8ecbc8961f · added /login": "64% cached" is the share of input tokens read
    from the provider's prompt cache, the snapshot is the workspace's before the step.
    """
    when = (when or datetime.now(UTC)).astimezone(UTC)
    parts = [when.strftime("%Y-%m-%d %H:%M UTC")]
    if turns is not None:
        parts.append(f"{turns} turn{'' if turns == 1 else 's'}")
    if tokens is not None:
        parts.append(f"{count(tokens)} tok")
    if cache_share is not None:
        parts.append(f"{cache_share:.0%} cached")
    if cost_usd is not None:
        parts.append(money(cost_usd))
    if seconds is not None:
        parts.append(duration(seconds))
    if snapshot:
        if not _SNAPSHOT_RE.fullmatch(f"snapshot {snapshot}"):
            raise ValueError(f"a snapshot id is 7-40 hex digits: {snapshot!r}")
        parts.append(f"snapshot {snapshot}")
    if summary.strip():
        parts.append(one_line(summary, SUMMARY_MAX_CHARS))
    return NOTE_SEP.join(parts)


def note_outcome(step: Step) -> tuple[Outcome, str | None, str | None] | None:
    """What `step`'s box and note record, as `edit_bytes` writes it: (outcome, details,
    approval id), so another copy of the plan can be given the same note (`ralph merge`
    carries a lane's outcome over). None when nothing is recorded (open, no note)."""
    note = step.note
    if note is None:
        return ("done", None, None) if step.checked else None
    head, sep, details = note.partition(NOTE_SEP.strip())
    outcome: Outcome
    if step.checked:
        if head.strip() != "done":
            return "done", None, None  # checked by hand under an older note: the box only
        outcome = "done"
    elif step.state in ("failed", "blocked", "awaiting_approval"):
        outcome = step.state
    elif head.split()[:1] == ["interrupted"]:
        outcome = "interrupted"
    else:
        return None  # not a note ralph wrote for an open step
    return outcome, details.strip() if sep else None, step.approval_id


def note_snapshot(note: str | None) -> str | None:
    """The snapshot id a note names (`... · snapshot 3a8ecbc8961f · ...`), or None."""
    for part in (note or "").split(NOTE_SEP.strip()):
        m = _SNAPSHOT_RE.fullmatch(part.strip())
        if m:
            return m.group(1)
    return None


def _short(text: str, limit: int = 60) -> str:
    return one_line(text, limit)
