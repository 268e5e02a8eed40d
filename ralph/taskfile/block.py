"""Re-parse only the top-level blocks an edit touched, and splice them into the old parse.

An edit by ralph changes a few lines (a box, a note). Parsing starts afresh at the start
of every top-level block and of every top-level list item after the first of its list
(`TaskFile.cuts`): what markdown-it makes of the text from there depends only on the text
from there (the list's marker and type are those of the item itself; only the list's
tightness, which ralph never reads, depends on the items above). So the region from the
last cut at or before the edit to the cut after the first cut past it is parsed alone,
before and after the edit. The splice is used only when

- the old region parsed alone gives exactly the old parse's steps and warnings there
  (nothing outside the region shaped it),
- the new region still has a cut of the same kind where the old text after the edit
  starts (so everything after it parses as before, moved by the inserted lines), and
- its steps have the same structure, headings and front matter as before.

Otherwise `splice` returns None and the caller parses the whole file. The spliced parse is
then exactly what a full parse gives (tests/test_taskfile_block.py checks that).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace

from ralph.taskfile.model import ParseWarning, Step, TaskFile

_MAX_SHARE = 0.5  # a region above this share of the file is parsed whole instead


@dataclass(frozen=True)
class Splice:
    """The new parse, and which of its steps can differ from the old one's."""

    tf: TaskFile
    span: range  # step indices inside the re-parsed region


def splice(
    old: TaskFile, lines: list[str], data: bytes, lo: int, hi: int, shift: int
) -> Splice | None:
    """The parse of `data` (split into `lines`): `old` with its lines [lo, hi) (0-based)
    replaced by the new lines [lo, hi + shift). None when that cannot be shown cheaply."""
    cuts = old.cuts
    i = bisect_right(cuts, 2 * lo + 1) - 1
    a = cuts[i] >> 1 if i >= 0 else 0
    j = bisect_left(cuts, 2 * hi)
    if j < len(cuts):
        b, b_kind = cuts[j] >> 1, cuts[j] & 1
        end = cuts[j + 1] >> 1 if j + 1 < len(cuts) else len(old.lines)
    else:
        b, b_kind, end = len(old.lines), 0, len(old.lines)
    if not a <= lo < b or end - a > _MAX_SHARE * len(old.lines) + 50:
        return None
    before, before_heads = _parse_region(old.lines[a:end], a)
    s0 = _first_step_at(old.steps, a)
    s1 = _first_step_at(old.steps, end)
    if not _same_parse(before, old, a, s0, s1, end):
        return None
    after, after_heads = _parse_region(lines[a : end + shift], a)
    if b < len(old.lines) and 2 * (b + shift - a) + b_kind not in after.cuts:
        return None  # the edit ran into the text after it
    moved = [(ln + (shift if ln >= hi else 0), lv, t) for ln, lv, t in before_heads]
    if moved != after_heads or after.front_matter != before.front_matter:
        return None
    if not _same_structure(before.steps, after.steps):
        return None
    return Splice(_joined(old, after, a, s0, s1, end, lines, data, shift), range(s0, s1))


def _parse_region(lines: tuple[str, ...] | list[str], first: int) -> tuple[TaskFile, list]:
    from ralph.gcpause import gc_paused
    from ralph.taskfile.builder import _Builder

    with gc_paused():
        builder = _Builder("".join(lines), front_matter=first == 0)
        tf = builder.build("<block>", b"", "", False)
    return tf, [(line + first, level, text) for line, level, text in builder.heads]


def _first_step_at(steps: tuple[Step, ...], line: int) -> int:
    """Index of the first step whose box is on 0-based `line` or later."""
    lo, hi = 0, len(steps)
    while lo < hi:
        mid = (lo + hi) // 2
        if steps[mid].line - 1 < line:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _same_parse(region: TaskFile, old: TaskFile, a: int, s0: int, s1: int, end: int) -> bool:
    """Whether the region parsed alone reads as the whole-file parse did there."""
    if len(region.steps) != s1 - s0:
        return False
    for mine, full in zip(region.steps, old.steps[s0:s1], strict=True):
        if _placed(mine, a, s0, full.headings) != full:
            return False
    inside = [w for w in old.warnings if a <= w.line - 1 < end]
    return [ParseWarning(w.line + a, w.message) for w in region.warnings] == inside


def _same_structure(old: tuple[Step, ...], new: tuple[Step, ...]) -> bool:
    """Same steps in the same tree with the same context; lines, boxes and notes may differ."""
    if len(old) != len(new):
        return False
    return all(_shape(o) == _shape(n) for o, n in zip(old, new, strict=True))


def _shape(s: Step) -> tuple[object, ...]:
    return (
        s.text,
        s.depth,
        s.column,
        s.parent,
        s.children,
        s.parents,
        s.headings,
        s.hints,
        s.settings,
        s.verify,
        s.details,
    )


def _placed(step: Step, a: int, s0: int, headings: tuple[str, ...]) -> Step:
    """A step of a region parse as the whole-file parse has it: lines from `a`, indices
    from `s0`, and the heading path of the whole file."""
    return replace(
        _moved(step, a),
        index=step.index + s0,
        parent=None if step.parent is None else step.parent + s0,
        children=tuple(c + s0 for c in step.children),
        headings=headings,
    )


def _moved(s: Step, by: int) -> Step:
    """`s` with every line number moved by `by` (built directly: this runs for every step
    below an inserted line, and `dataclasses.replace` costs three times more)."""
    noted = s.note_line is not None
    return Step(
        s.line + by,
        s.checked,
        s.text,
        s.depth,
        s.state,
        s.attempts,
        s.note,
        s.approval_id,
        s.headings,
        s.parents,
        s.hints,
        s.settings,
        s.verify,
        s.details,
        s.index,
        s.parent,
        s.children,
        s.column,
        s.note_line + by if noted else None,  # type: ignore[operator]
        s.note_end + by if noted else s.note_end,
        s.note_at + by,
        s.note_indent,
        tuple((at + by, indent) for at, indent in s.note_alts) if s.note_alts else (),
    )


def _joined(
    old: TaskFile,
    region: TaskFile,
    a: int,
    s0: int,
    s1: int,
    end: int,
    lines: list[str],
    data: bytes,
    shift: int,
) -> TaskFile:
    """The old parse with the region's steps, warnings and cuts put in, the rest moved."""
    tail = old.steps[s1:]
    steps = (
        *old.steps[:s0],
        *(_placed(s, a, s0, old.steps[s0 + k].headings) for k, s in enumerate(region.steps)),
        *(tail if not shift else (_moved(s, shift) for s in tail)),
    )
    warnings = (
        *(w for w in old.warnings if w.line - 1 < a),
        *(ParseWarning(w.line + a, w.message) for w in region.warnings),
        *(ParseWarning(w.line + shift, w.message) for w in old.warnings if w.line - 1 >= end),
    )
    k0 = bisect_left(old.cuts, 2 * a)
    k1 = bisect_left(old.cuts, 2 * end)
    inner = [c + 2 * a for c in region.cuts if c >> 1 > 0]  # the first is old's (its kind)
    head = [old.cuts[k0]] if k0 < len(old.cuts) and old.cuts[k0] >> 1 == a else []
    cuts = (*old.cuts[:k0], *head, *inner, *(c + 2 * shift for c in old.cuts[k1:]))
    return replace(
        old,
        steps=steps,
        warnings=warnings,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        lines=tuple(lines),
        cuts=cuts,
    )
