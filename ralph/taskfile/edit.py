"""Byte-exact edits: check one box, put one note line, verify the plan did not change
and write atomically with a compare-and-swap on the bytes read.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ralph.errors import ConflictError
from ralph.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from collections.abc import Sequence

from ralph.taskfile import block, reader
from ralph.taskfile.lines import _MARKERS_RE, _eol, _leading_ws, _strip_eol
from ralph.taskfile.model import BOM, OUTCOMES, Outcome, Step, TaskFile
from ralph.taskfile.notes import (
    MAX_ATTEMPTS,
    NOTE_MAX_CHARS,
    NOTE_PREFIX,
    NOTE_SEP,
    _short,
    note_head,
    one_line,
)

_CAS_TRIES = 3  # re-read/re-apply rounds when the file keeps changing under us


def edit_bytes(
    tf: TaskFile,
    step: Step,
    outcome: Outcome,
    details: str | None = None,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    approval_id: str | None = None,
) -> bytes:
    """The file's new bytes after recording `outcome` for `step` (one of `tf.steps`). Pure.

    "done" checks the box (and each parent whose last open sub-step this was); with
    `details` it also writes the note `done · details`. Every other outcome leaves the box
    and writes the note; "failed" counts an attempt and becomes "blocked" at `max_attempts`.
    A note edit is verified by re-parsing; ConflictError if the plan would change shape.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    lines = list(tf.lines)
    boxes = _boxes_to_check(tf, step) if outcome == "done" else []
    for s in boxes:
        lines[s.line - 1] = _with_box(lines[s.line - 1], s.column, "x")
    if outcome == "done" and details is None:
        new = _encode(tf, lines)
        if boxes:  # nothing to verify; the new parse is kept for the next read
            box_lines = [s.line - 1 for s in boxes]
            _reparse(tf, lines, new, min(box_lines), max(box_lines) + 1, 0)
        return new
    note = note_head(step, outcome, max_attempts=max_attempts, approval_id=approval_id)
    if details:
        note += NOTE_SEP + one_line(details, NOTE_MAX_CHARS)
    spots: Sequence[tuple[int, str] | None] = (
        [None]
        if step.note_line is not None
        else [(step.note_at, step.note_indent), *step.note_alts]
    )
    refused: ConflictError | None = None
    first_box = min((s.line - 1 for s in boxes), default=len(lines))
    for spot in spots:  # the first place where the note leaves the plan as it was
        attempt = list(lines)
        shift_at, shift = _put_note(tf, step, attempt, note, spot)
        new = _encode(tf, attempt)
        lo = min(first_box, shift_at - 1 if spot is not None else shift_at - 1 + shift)
        after, span = _reparse(tf, attempt, new, lo, shift_at, shift)
        try:
            _verify(tf, after, step, {s.index for s in boxes}, shift_at, shift, note, span)
        except ConflictError as e:
            refused = refused or e
            continue
        return new
    assert refused is not None
    raise refused


def record_outcome(
    path: str | Path,
    step: Step,
    outcome: Outcome,
    details: str | None = None,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    approval_id: str | None = None,
) -> Step:
    """Write `outcome` for `step` (read earlier) into the task file at `path`; return it anew.

    The file is read again and the step found again by text and depth (nearest its old
    line), so edits made meanwhile by a person or a tool are kept. If the step is gone or its
    text changed, nothing is written and ConflictError says so. The write is atomic and
    compare-and-swap: if the bytes change between this read and the write, start over.
    """
    for _ in range(_CAS_TRIES):
        tf = reader.load(path, require_steps=False)
        target = tf.locate(step)
        if target is None:
            raise ConflictError(
                f"{tf.name}: step {_short(step.text)!r} (line {step.line}) was removed or its "
                "text changed while ralph worked on it; nothing written"
            )
        new = edit_bytes(
            tf, target, outcome, details, max_attempts=max_attempts, approval_id=approval_id
        )
        if new == tf.data:
            return target
        if reader._read_bytes(Path(path), tf.name) != tf.data:
            continue  # changed since we read it: locate and apply again on the fresh bytes
        atomic_write_bytes(path, new)
        if outcome == "done" and details is None:  # box only: no re-parse needed
            return replace(target, checked=True, state="done")
        return reader.parse(new, tf.name).locate(target) or target
    raise ConflictError(
        f"{path}: the file kept changing while ralph tried to record step "
        f"{_short(step.text)!r}; nothing written"
    )


def _boxes_to_check(tf: TaskFile, step: Step) -> list[Step]:
    """`step` if open, then each parent whose last open sub-step this closes."""
    out = [] if step.checked else [step]
    done = {step.index}
    parent = step.parent
    while parent is not None:
        p = tf.steps[parent]
        if p.checked or not all(tf.steps[c].checked or c in done for c in p.children):
            break
        out.append(p)
        done.add(p.index)
        parent = p.parent
    return out


def _with_box(line: str, column: int, mark: str) -> str:
    if line[column] != "[" or line[column + 2] != "]":
        raise ConflictError(f"no task box at column {column + 1} of {line!r}; nothing written")
    return line[: column + 1] + mark + line[column + 2 :]


def _put_note(
    tf: TaskFile, step: Step, lines: list[str], note: str, spot: tuple[int, str] | None
) -> tuple[int, int]:
    """Replace the step's note line(s), or insert one at `spot` (line index, indent);
    return (first shifted line, shift)."""
    if spot is None:
        assert step.note_line is not None
        start, end = step.note_line - 1, step.note_end
        raw = _strip_eol(lines[start])
        m = _MARKERS_RE.match(raw)
        prefix = raw[: m.end()] if m else _leading_ws(raw) + "- "
        lines[start:end] = [prefix + NOTE_PREFIX + note + _eol(lines[end - 1])]
        return end, 1 - (end - start)
    at, indent = spot
    eol = _eol(lines[at - 1])
    new = indent + "- " + NOTE_PREFIX + note
    if eol:
        new += eol
    else:  # the step ends the file without a final newline: keep it that way
        lines[at - 1] += tf.eol
    lines.insert(at, new)
    return at, 1


def _reparse(
    tf: TaskFile, lines: list[str], data: bytes, lo: int, hi: int, shift: int
) -> tuple[TaskFile, range]:
    """The parse of the edited file (old lines [lo, hi) became [lo, hi + shift)), and the
    step indices that can differ: re-parsing just the edited blocks when that is sound."""
    got = block.splice(tf, lines, data, lo, hi, shift)
    if got is None:
        return reader.parse(data, tf.name), range(len(tf.steps))
    reader.remember(got.tf)
    return got.tf, got.span


def _verify(
    old: TaskFile,
    new: TaskFile,
    target: Step,
    checked: set[int],
    shift_at: int,
    shift: int,
    note: str,
    span: range | None = None,
) -> None:
    """Refuse the edit unless the re-parsed file has the same steps, moved by the note only.
    `span`: the only step indices that can differ (the rest are known to be the old ones,
    moved); default all."""

    def refuse(why: str) -> ConflictError:
        return ConflictError(
            f"{old.name}: refusing to write ralph's note under line {target.line}: it would "
            f"change the plan ({why}); nothing written"
        )

    if len(new.steps) != len(old.steps) or len(new.warnings) != len(old.warnings):
        raise refuse(f"{len(old.steps)} steps became {len(new.steps)}")
    for k in range(len(old.steps)) if span is None else span:
        o, n = old.steps[k], new.steps[k]
        line = o.line + (shift if o.line - 1 >= shift_at else 0)
        want = (line, o.text, o.depth, o.checked or o.index in checked)
        if (n.line, n.text, n.depth, n.checked) != want:
            raise refuse(f"step on line {o.line} would read differently")
        if (n.hints, n.settings, n.details) != (o.hints, o.settings, o.details):
            raise refuse(f"the sub-items of the step on line {o.line} would move")
        if o.index != target.index and (n.note, n.attempts) != (o.note, o.attempts):
            raise refuse(f"the note of the step on line {o.line} would change")
    if new.steps[target.index].note != " ".join(note.split()):
        raise refuse("the note would not land under the step")


def _encode(tf: TaskFile, lines: Sequence[str]) -> bytes:
    return ((BOM if tf.bom else "") + "".join(lines)).encode("utf-8")
