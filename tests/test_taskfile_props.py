"""Property tests over generated checklists: edits touch only the box or the note line.

The generator mixes bullet and ordered markers, tabs, nesting, hints, existing notes,
look-alike boxes, headings, blank and continuation lines, per-line EOLs (LF, CRLF, CR),
trailing whitespace, a BOM and a missing final newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ralph.errors import ConflictError
from ralph.taskfile import Step, TaskFile, edit_bytes, parse

LINE_RE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
NOTE_LINE_RE = re.compile(rb"[ \t]*- ralph: [^\r\n]*(?:\r\n|\r|\n)?")
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NOTE_HEADS = {
    "done": "done",
    "failed": ("failed (attempt ", "blocked after "),
    "blocked": "blocked after ",
    "interrupted": "interrupted",
    "awaiting_approval": "awaiting approval ab12",
}
WORDS = st.text(alphabet="abcdefghij klmnop.,;:!?é✓[]x()", min_size=1, max_size=24)
TEXT = st.builds(lambda first, rest: first + rest.rstrip(), st.sampled_from("AbcXyz"), WORDS)


@dataclass
class Item:
    box: str | None  # " ", "x", "X", a look-alike like "-" or " ]*", or None for a plain bullet
    marker: str
    sep: str
    text: str
    trailing: str
    continuation: str | None
    note: bool
    children: list[Item]


MARKERS = ("-", "*", "+", "1.", "1)")
WILD_MARKERS = (*MARKERS, "2.", "10)")  # "2." cannot interrupt a paragraph: lazy-line mazes


def items(depth: int, markers: tuple[str, ...]) -> st.SearchStrategy[list[Item]]:
    child = items(depth + 1, markers) if depth < 3 else st.just([])
    item = st.builds(
        Item,
        box=st.sampled_from([" ", " ", " ", "x", "X", None, "-", "/", "~", " ]*"]),
        marker=st.sampled_from(markers),
        sep=st.sampled_from([" ", " ", "  ", "\t"]),
        text=TEXT,
        trailing=st.sampled_from(["", "", " ", "  ", "\t"]),
        continuation=st.one_of(st.none(), TEXT),
        note=st.booleans(),
        children=child,
    )
    return st.lists(item, min_size=1, max_size=3)


def visual_col(s: str) -> int:
    col = 0
    for ch in s:
        col = col + 4 - col % 4 if ch == "\t" else col + 1
    return col


def render(tree: list[Item], indent: str, blank: st.DataObject, out: list[str]) -> None:
    for it in tree:
        box = "" if it.box is None else ("[" + it.box + "] " if len(it.box) == 1 else "[" + it.box)
        head = indent + it.marker + it.sep
        out.append(head + box + it.text + it.trailing)
        inner = " " * visual_col(head)
        if it.continuation is not None:
            out.append(inner + it.continuation)
        if it.note and it.box in (" ", "x", "X"):
            out.append(inner + "- ralph: failed (attempt 1/3) · earlier")
        render(it.children, inner, blank, out)
        if blank.draw(st.booleans()):
            out.append(blank.draw(st.sampled_from(["", "   ", "\t"])))


@st.composite
def checklists(draw: st.DrawFn, markers: tuple[str, ...] = MARKERS) -> bytes:
    lines: list[str] = []
    if draw(st.booleans()):
        lines += ["# " + draw(TEXT), ""]
    for _ in range(draw(st.integers(1, 3))):
        render(draw(items(0, markers)), "", draw(st.data()), lines)
        if draw(st.booleans()):
            lines += ["", "## " + draw(TEXT), ""]
    eols = draw(
        st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=len(lines), max_size=len(lines))
    )
    if draw(st.booleans()):
        eols = [eols[0]] * len(eols)
    body = "".join(line + eol for line, eol in zip(lines, eols, strict=True))
    if draw(st.booleans()):
        body = body.rstrip("\r\n")
    if not body.strip():
        body = "- [ ] fallback\n"
    return (("\ufeff" if draw(st.booleans()) else "") + body).encode("utf-8")


def ancestors(tf: TaskFile, index: int) -> set[int]:
    out = set()
    parent = tf.steps[index].parent
    while parent is not None:
        out.add(parent)
        parent = tf.steps[parent].parent
    return out


def same_steps_except(old: TaskFile, new: TaskFile, *, shift_at: int = 10**9, checked=()) -> None:
    assert len(new.steps) == len(old.steps)
    for o, n in zip(old.steps, new.steps, strict=True):
        line = o.line + (1 if o.line > shift_at else 0)
        assert (n.line, n.text, n.depth) == (line, o.text, o.depth)
        assert n.checked == (o.checked or o.index in checked)
        assert (n.hints, n.settings, n.details, n.parent) == (
            o.hints,
            o.settings,
            o.details,
            o.parent,
        )


@SETTINGS
@given(data=checklists(), pick=st.data())
def test_checking_any_step_changes_only_box_characters(data: bytes, pick: st.DataObject) -> None:
    tf = parse(data, "gen.md")
    if not tf.steps:
        return
    step = pick.draw(st.sampled_from(tf.steps))
    new = edit_bytes(tf, step, "done")
    assert len(new) == len(data)
    diffs = [i for i, (a, b) in enumerate(zip(data, new, strict=True)) if a != b]
    for i in diffs:
        assert data[i - 1 : i + 2] == b"[ ]" and new[i : i + 1] == b"x"
    after = parse(new, "gen.md")
    flipped = {
        s.index for s, n in zip(tf.steps, after.steps, strict=True) if s.checked != n.checked
    }
    assert len(flipped) == len(diffs)
    assert flipped <= {step.index} | ancestors(tf, step.index)
    assert after.steps[step.index].checked
    same_steps_except(tf, after, checked=flipped)


@SETTINGS
@given(
    data=checklists(),
    pick=st.data(),
    outcome=st.sampled_from(["done", "failed", "blocked", "interrupted", "awaiting_approval"]),
    details=st.text(max_size=300),
)
def test_a_note_only_inserts_or_replaces_one_line(
    data: bytes, pick: st.DataObject, outcome: str, details: str
) -> None:
    tf = parse(data, "gen.md")
    if tf.steps:
        check_note_edit(tf, pick.draw(st.sampled_from(tf.steps)), outcome, details)


@SETTINGS
@given(
    data=checklists(WILD_MARKERS),
    pick=st.data(),
    outcome=st.sampled_from(["done", "failed", "interrupted"]),
)
def test_wild_markdown_gets_a_clean_note_or_an_explicit_refusal(
    data: bytes, pick: st.DataObject, outcome: str
) -> None:
    tf = parse(data, "gen.md")
    if not tf.steps:
        return
    step = pick.draw(st.sampled_from(tf.steps))
    try:
        check_note_edit(tf, step, outcome, "note")
    except ConflictError as e:  # fail closed: the note would have moved other blocks
        assert "refusing to write ralph's note" in str(e)


def check_note_edit(tf: TaskFile, step: Step, outcome: str, details: str) -> None:
    """A note edit inserts or replaces exactly one line and leaves every other step alone."""
    data = tf.data
    base = edit_bytes(tf, step, "done") if outcome == "done" else data
    new = edit_bytes(tf, step, outcome, details or "x", approval_id="ab12")  # type: ignore[arg-type]
    old_lines, new_lines = LINE_RE.findall(base), LINE_RE.findall(new)
    if step.note_line is not None:  # replaced in place
        assert len(new_lines) == len(old_lines)
        changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
        assert changed in ([], [step.note_line - 1])
        shift_at = 10**9
    else:
        pairs = zip(old_lines, new_lines, strict=False)
        at = next((i for i, (a, b) in enumerate(pairs) if a != b), len(old_lines))
        if at == len(old_lines) - 1 and not NOTE_LINE_RE.fullmatch(new_lines[at]):
            # The step ended the file without an EOL: that line gains one, the note has none.
            assert not re.search(rb"[\r\n]$", old_lines[at])
            assert new_lines[at].rstrip(b"\r\n") == old_lines[at] != new_lines[at]
            at += 1
            assert len(new_lines) == at + 1 and not new.endswith((b"\n", b"\r"))
        else:
            assert new_lines[:at] + new_lines[at + 1 :] == old_lines
        assert NOTE_LINE_RE.fullmatch(new_lines[at])
        shift_at = at
    after = parse(new, "gen.md")
    checked = {s.index for s in tf.steps if s.checked != after.steps[s.index].checked}
    same_steps_except(tf, after, shift_at=shift_at, checked=checked)
    target = after.steps[step.index]
    assert target.note is not None and "\n" not in target.note
    assert target.note.startswith(NOTE_HEADS[outcome])
    for o, n in zip(tf.steps, after.steps, strict=True):
        if o.index != step.index:
            assert (n.note, n.attempts) == (o.note, o.attempts)
            assert n.state == ("done" if n.checked else o.state)


@SETTINGS
@given(data=checklists())
def test_steps_match_markdown_it_tasklists_and_next_is_the_first_open_leaf(data: bytes) -> None:
    from markdown_it import MarkdownIt

    tf = parse(data, "gen.md")
    text = data.decode("utf-8").removeprefix("\ufeff")
    oracle = [
        (t.map[0] + 1, t.meta["checked"])
        for t in MarkdownIt("commonmark", {"tasklists": True}).parse(text)
        if t.type == "list_item_open" and "checked" in t.meta and t.map
    ]
    assert [(s.line, s.checked) for s in tf.steps] == oracle
    nxt = tf.next_step()
    open_leaf = [s for s in tf.steps if s.runnable and all(tf.steps[c].checked for c in s.children)]
    assert nxt == (open_leaf[0] if open_leaf else None)
    if nxt is not None:
        assert all(tf.steps[i].line < nxt.line for i in ancestors(tf, nxt.index))
