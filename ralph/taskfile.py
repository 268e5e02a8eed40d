"""Task files: parse a markdown checklist plan, pick the next step, and write progress back.

This module owns the task-file format:

- A *step* is a list item whose marker line starts with a GitHub task box `[ ]`, `[x]` or
  `[X]`, then a space or tab, then text. Boxes in blockquotes, code, HTML blocks and front
  matter are not steps; look-alikes (`[-]`, `[/]`, `[~]`, `[ ]*`, ...) become warnings.
- Under a step, ralph keeps one note: a sub-bullet `- ralph: <state> · <details>`. The
  parser reads the step's state and attempt count back from it; it is never a step or a hint.
- Other sub-bullets are context for the model: `key: value` settings (`verify: \\`pytest\\``)
  and free-text hints (acceptance criteria).
- Edits never re-render: checking a box changes one character, a note is one inserted (or
  replaced) line. The BOM, each line's EOL, trailing whitespace, tabs and a missing final
  newline all survive. `record_outcome` re-reads the file, finds the step again by its text
  and depth, and writes atomically with a compare-and-swap on the bytes it read.

Lines are counted like markdown-it counts them (`\\r\\n`, `\\r` or `\\n`), 1-based in the API.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import re
import stat
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ralph.errors import ConflictError, TaskFileError
from ralph.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from markdown_it import MarkdownIt
    from markdown_it.token import Token

State = Literal["todo", "done", "failed", "blocked", "awaiting_approval"]
Outcome = Literal["done", "failed", "blocked", "awaiting_approval", "interrupted"]
OUTCOMES: tuple[str, ...] = ("done", "failed", "blocked", "awaiting_approval", "interrupted")

MAX_ATTEMPTS = 3  # failed attempts before a step is blocked
NOTE_PREFIX = "ralph: "  # a note line is "<indent>- ralph: <state> · <details>"
NOTE_SEP = " · "
NOTE_MAX_CHARS = 300  # a note is one line; longer details are cut with "…"
SUMMARY_MAX_CHARS = 200

BOM = "\ufeff"
_CAS_TRIES = 3  # re-read/re-apply rounds when the file keeps changing under us

_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")  # markdown-it's line model
_MARKERS_RE = re.compile(r"(?:[ \t]*(?:[-+*]|[0-9]{1,9}[.)])[ \t]+)+")  # "- ", "1. - ", "-\t"
_BOX_RE = re.compile(r"\[([^\]]?)\]")
_SETTING_RE = re.compile(r"([a-z][a-z0-9_]*(?:-[a-z0-9_]+)*):[ \t]+(\S.*)")
_CODE_SPAN_RE = re.compile(r"(`+)[ ]?(.*?)[ ]?\1")
_ATTEMPTS_RE = re.compile(r"\battempt (\d+)|\bafter (\d+) attempts?\b")
_APPROVAL_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_LIST_LINE_RE = re.compile(r"([ \t]*)(?:[-+*]|[0-9]{1,9}[.)])(?:[ \t]|\r|\n|$)")
_LIST_OPENS = frozenset({"bullet_list_open", "ordered_list_open"})


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """Something in the file that looks like a step but is not one (never run)."""

    line: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class Step:
    """One checklist step and the context a model session needs to work on it.

    Read-only by convention (parses are cached and shared): use `dataclasses.replace`.
    Not frozen because frozen dataclasses cost 4x more to build, which shows at 100k steps.
    """

    line: int  # 1-based line of the box
    checked: bool
    text: str  # the first paragraph after the box, as written
    depth: int  # list items enclosing the step, steps or not
    state: State
    attempts: int  # failed attempts so far, read from ralph's note
    note: str | None  # ralph's note without the "ralph: " prefix
    approval_id: str | None  # set while awaiting approval
    headings: tuple[str, ...]  # heading path above the step, outermost first
    parents: tuple[str, ...]  # texts of the enclosing steps, outermost first
    hints: tuple[str, ...]  # non-step sub-bullets (acceptance criteria, hints)
    settings: Mapping[str, str]  # `key: value` sub-bullets, backticks stripped
    verify: tuple[str, ...]  # every `verify:` command, in order
    details: tuple[str, ...]  # other blocks inside the step (paragraphs, code), dedented
    index: int  # position in TaskFile.steps
    parent: int | None  # index of the enclosing step
    children: tuple[int, ...]  # indices of the direct sub-steps
    column: int = field(repr=False)  # 0-based offset of "[" in the line (BOM excluded)
    note_line: int | None = field(default=None, repr=False)  # 1-based first line of the note
    note_end: int = field(default=0, repr=False)  # 0-based end (exclusive) of the note's lines
    note_at: int = field(default=0, repr=False)  # 0-based line index where a new note goes
    note_indent: str = field(default="", repr=False)
    # Other places for a new note, tried in order when the first would change the plan:
    # (0-based line index, indent) after each later block of the step (e.g. indented code
    # after a blank line, which a note right under the box would pull into itself).
    note_alts: tuple[tuple[int, str], ...] = field(default=(), repr=False)

    @property
    def runnable(self) -> bool:
        """Open, and not waiting for a person (blocked or awaiting approval)."""
        return not self.checked and self.state not in ("blocked", "awaiting_approval")

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape of a step (`ralph status --json`)."""
        return {
            "line": self.line,
            "checked": self.checked,
            "state": self.state,
            "text": self.text,
            "depth": self.depth,
            "attempts": self.attempts,
        }

    def context(self) -> dict[str, Any]:
        """Everything around the step a model session should see (`ralph next --json`)."""
        return {
            "headings": list(self.headings),
            "parents": list(self.parents),
            "hints": list(self.hints),
            "settings": dict(self.settings),
            "verify": list(self.verify),
            "details": list(self.details),
            "note": self.note,
        }


@dataclass(frozen=True, eq=False)
class TaskFile:
    """A parsed task file: its steps, warnings, and the exact bytes they came from."""

    name: str  # the path as the user gave it
    title: str  # the first level-1 heading, else the file name
    steps: tuple[Step, ...]
    warnings: tuple[ParseWarning, ...]
    front_matter: str | None
    data: bytes = field(repr=False)
    sha256: str = field(repr=False)
    lines: tuple[str, ...] = field(repr=False)  # BOM-less text split with EOLs kept
    bom: bool = field(repr=False)

    def next_step(self, decided: Callable[[str], bool] | None = None) -> Step | None:
        """The first open leaf in document order that is not blocked or awaiting approval.

        `decided(approval_id)` tells whether a person has approved or rejected the approval a
        step waits for; such a step is tried again.
        """
        steps = self.steps
        for s in steps:
            ready = s.runnable or (
                s.state == "awaiting_approval"
                and not s.checked
                and decided is not None
                and s.approval_id is not None
                and decided(s.approval_id)
            )
            if ready and all(steps[c].checked for c in s.children):
                return s
        return None

    def locate(self, step: Step) -> Step | None:
        """Find `step` (from an earlier read) here: same text and depth, nearest its old line."""
        same = [s for s in self.steps if s.text == step.text and s.depth == step.depth]
        if not same:
            return None
        return min(same, key=lambda s: (s.parents != step.parents, abs(s.line - step.line)))

    def step_at(self, line: int) -> Step:
        """The step whose box is on `line` (1-based); KeyError if none."""
        for s in self.steps:
            if s.line == line:
                return s
        raise KeyError(f"{self.name}: no step on line {line}")

    def counts(self) -> dict[str, int]:
        """How many steps are in each state."""
        return dict(Counter(s.state for s in self.steps))

    def to_json(self, *, with_context: bool = False) -> dict[str, Any]:
        """The public JSON shape of `ralph status --json` (and `ralph next --json`)."""
        nxt = self.next_step()
        out: dict[str, Any] = {
            "file": self.name,
            "steps": [s.to_json() for s in self.steps],
            "next": nxt.to_json() if nxt else None,
            "warnings": [str(w) for w in self.warnings],
        }
        if with_context:
            out["context"] = nxt.context() if nxt else None
        return out

    @property
    def eol(self) -> str:
        """The file's most common line ending ("\\n" when it has none)."""
        counts = Counter(_eol(line) for line in self.lines[:1000])
        counts.pop("", None)
        return counts.most_common(1)[0][0] if counts else "\n"


# --------------------------------------------------------------------------- reading


def load(path: str | Path, *, require_steps: bool = True) -> TaskFile:
    """Read and parse a task file; TaskFileError (one clear line) for anything unusable."""
    name = str(path)
    tf = parse(_read_bytes(Path(path), name), name)
    if require_steps and not tf.steps:
        raise TaskFileError(_no_steps_message(tf))
    return tf


def parse(data: bytes, name: str = "<string>") -> TaskFile:
    """Parse task-file bytes. Raises TaskFileError for binary or non-UTF-8 data."""
    sha = hashlib.sha256(data).hexdigest()
    hit = _CACHE.get((name, sha))
    if hit is not None:
        return hit
    text = _decode(data, name)
    bom = text.startswith(BOM)
    with _gc_paused():
        tf = _Builder(text[1:] if bom else text).build(name, data, sha, bom)
    _remember(tf)
    return tf


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing makes many small objects and no cycles; the cycle collector would otherwise
    rescan them again and again (a third of the parse time for big files)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_CACHE: dict[tuple[str, str], TaskFile] = {}  # a few recent parses, keyed by name and sha256


def _remember(tf: TaskFile) -> None:
    if len(_CACHE) >= 4:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[(tf.name, tf.sha256)] = tf


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise TaskFileError(f"{name} is a folder; give the path of a markdown task file")
        if not stat.S_ISREG(st.st_mode):
            raise TaskFileError(f"{name} is not a regular file; give a markdown task file")
        return path.read_bytes()
    except FileNotFoundError:
        raise TaskFileError(
            f"{name}: no such file; give the path of a markdown task file"
        ) from None
    except PermissionError:
        raise TaskFileError(f"{name}: permission denied; ralph needs to read it") from None
    except IsADirectoryError:
        raise TaskFileError(f"{name} is a folder; give the path of a markdown task file") from None


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data:
        raise TaskFileError(f"{name} looks binary (it contains NUL bytes); a task file is markdown")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TaskFileError(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8 and try again"
        ) from None


def _no_steps_message(tf: TaskFile) -> str:
    msg = f"{tf.name} has no steps; write each step as a list item with a box: `- [ ] do X`"
    if tf.warnings:
        msg += f" ({len(tf.warnings)} look-alike(s) ignored, first: {tf.warnings[0]})"
    return msg


# --------------------------------------------------------------------------- parsing


@cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.front_matter import front_matter_plugin

    md = MarkdownIt("commonmark").use(front_matter_plugin).enable("table")
    # Only block structure and raw inline text are needed: skip inline parsing (2x faster).
    md.disable(["inline", "text_join"])
    return md


@dataclass(slots=True)
class _Frame:
    """An open container while walking the tokens: a list item or a blockquote."""

    quote: bool
    level: int
    line: int  # 0-based first line
    owner: int | None  # nearest enclosing step (draft index), including this item itself
    near_item: _Frame | None = None  # nearest list item: this one, or the one around a quote
    step: int | None = None  # draft index if this item is a step


@dataclass(slots=True)
class _Draft:
    """A step while its sub-items are still being read."""

    line: int  # 0-based
    checked: bool
    text: str
    depth: int
    column: int
    headings: tuple[str, ...]
    parent: int | None
    parents: tuple[str, ...]
    note_at: int
    note_indent: str
    children: list[int] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    verify: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    note: str | None = None
    note_line: int | None = None  # 0-based
    note_end: int = 0
    note_alts: list[tuple[int, str]] | None = None


class _Builder:
    """One pass over markdown-it's block tokens, collecting steps, context and warnings."""

    def __init__(self, src: str) -> None:
        self.lines = tuple(_LINE_RE.findall(src))
        self.tokens: list[Token] = _markdown().parse(src)
        self.stack: list[_Frame] = []
        self.items = 0  # list items on the stack
        self.quotes = 0  # blockquotes on the stack
        self.drafts: list[_Draft] = []
        self.warnings: list[ParseWarning] = []
        self.heading_stack: list[tuple[int, str]] = []
        self.headings: tuple[str, ...] = ()
        self.title: str | None = None
        self.front_matter: str | None = None

    def build(self, name: str, data: bytes, sha: str, bom: bool) -> TaskFile:
        stack = self.stack
        detail_level = -1  # tokens at this level sit directly inside the innermost step item
        for i, tok in enumerate(self.tokens):
            if tok.level == detail_level and tok.nesting >= 0:
                self._detail(tok)
            kind = tok.type
            if kind == "list_item_open":
                self._item(i, tok)
            elif kind == "blockquote_open":
                near = stack[-1].near_item if stack else None
                stack.append(_Frame(True, tok.level, tok.map[0] if tok.map else 0, None, near))
                self.quotes += 1
            elif kind in ("list_item_close", "blockquote_close"):
                if stack.pop().quote:
                    self.quotes -= 1
                else:
                    self.items -= 1
            elif kind == "heading_open" and not stack:
                self._heading(int(tok.tag[1:]), self.tokens[i + 1].content)
            elif kind == "front_matter":
                self.front_matter = tok.content
            else:
                continue
            top = stack[-1] if stack else None
            detail_level = top.level + 1 if top is not None and top.step is not None else -1
        return TaskFile(
            name=name,
            title=self.title or Path(name).name,
            steps=self._freeze(),
            warnings=tuple(self.warnings),
            front_matter=self.front_matter,
            data=data,
            sha256=sha,
            lines=self.lines,
            bom=bom,
        )

    def _heading(self, level: int, content: str) -> None:
        text = " ".join(content.split())
        while self.heading_stack and self.heading_stack[-1][0] >= level:
            self.heading_stack.pop()
        self.heading_stack.append((level, text))
        self.headings = tuple(t for _, t in self.heading_stack)
        if level == 1 and self.title is None:
            self.title = text

    def _item(self, i: int, tok: Token) -> None:
        line = tok.map[0] if tok.map else 0
        first = self.tokens[i + 1]
        content = None
        if first.type in ("paragraph_open", "heading_open") and first.map and first.map[0] == line:
            content = self.tokens[i + 2].content
        parent = self.stack[-1].near_item if self.stack else None
        owner = parent.owner if parent else None
        frame = _Frame(False, tok.level, line, owner)
        frame.near_item = frame
        kind, box = _classify(content) if content is not None else (None, "")
        if kind in ("step", "lookalike", "glued") and self.quotes:
            self._warn(line, f"`[{box[0]}]` inside a blockquote is not a step; ralph ignores it")
        elif kind == "lookalike":
            self._warn(line, f"`[{box}]` is not a task box (use `[ ]` or `[x]`); ralph ignores it")
        elif kind == "glued":
            after = _shown(box[1])
            self._warn(line, f"`[{box[0]}]` is followed by {after}, not a space; ralph ignores it")
        elif kind == "step":
            index = self._step(i, line, first, content or "", owner)
            if index is not None:
                frame.step = frame.owner = index
        elif parent is not None and owner is not None and content is not None and not self.quotes:
            self._sub_item(self.drafts[owner], content, first, direct=parent.step == owner)
        self.stack.append(frame)
        self.items += 1

    def _step(self, i: int, line: int, first: Token, content: str, owner: int | None) -> int | None:
        raw = _strip_eol(self.lines[line])
        m = _MARKERS_RE.match(raw)
        col = m.end() if m else -1
        if col < 0 or raw[col:].rstrip() != content.partition("\n")[0].rstrip():
            self._warn(line, "ralph cannot find this box on its line, so it will not run it")
            return None
        after = self.tokens[i + 4] if i + 4 < len(self.tokens) else None
        end = first.map[1] if first.map else line + 1
        if after is not None and after.type in _LIST_OPENS and after.map and after.map[0] == end:
            indent = _leading_ws(self.lines[end])  # join the sub-list that follows
        else:
            indent = " " * _visual_col(raw[:col])
        up = self.drafts[owner] if owner is not None else None
        self.drafts.append(
            _Draft(
                line=line,
                checked=content[1] != " ",
                text=content[3:].lstrip(" \t"),
                depth=self.items,
                column=col,
                headings=self.headings,
                parent=owner,
                parents=(*up.parents, up.text) if up else (),
                note_at=end,
                note_indent=indent,
            )
        )
        index = len(self.drafts) - 1
        if up is not None:
            up.children.append(index)
        return index

    def _sub_item(self, draft: _Draft, content: str, first: Token, *, direct: bool) -> None:
        if direct and (content == NOTE_PREFIX.strip() or content.startswith(NOTE_PREFIX)):
            draft.note = " ".join(content[len(NOTE_PREFIX) :].split())
            draft.note_line = first.map[0] if first.map else None
            draft.note_end = first.map[1] if first.map else 0
            return
        m = _SETTING_RE.fullmatch(content) if direct else None
        if m:
            key, value = m.group(1), _unquote(m.group(2).strip())
            draft.settings[key] = value
            if key == "verify":
                draft.verify.append(value)
            return
        draft.hints.append(content)

    def _detail(self, tok: Token) -> None:
        """Blocks directly inside a step item, after its first paragraph: extra context."""
        frame = self.stack[-1]
        if frame.step is None or tok.type in _LIST_OPENS or not tok.map:
            return
        start, end = tok.map
        if start == frame.line:
            return
        draft = self.drafts[frame.step]
        text = "".join(_dedent(self.lines[n], draft.column) for n in range(start, end)).rstrip()
        if text:
            draft.details.append(text)
        if draft.note_alts is None:
            draft.note_alts = []
        draft.note_alts.append((end, self._alt_indent(draft, end)))

    def _alt_indent(self, draft: _Draft, at: int) -> str:
        """Indent for a note inserted before line `at` inside `draft`'s item: a list that
        starts there (and sits inside the step) sets it, else the box's column."""
        box = _visual_col(self.lines[draft.line][: draft.column])
        m = _LIST_LINE_RE.match(self.lines[at]) if at < len(self.lines) else None
        if m and _visual_col(m.group(1)) >= box:
            return m.group(1)
        return " " * box

    def _warn(self, line: int, message: str) -> None:
        self.warnings.append(ParseWarning(line + 1, message))

    def _freeze(self) -> tuple[Step, ...]:
        steps = []
        for index, d in enumerate(self.drafts):
            state, attempts, approval = note_state(d.note, d.checked)
            steps.append(
                Step(
                    line=d.line + 1,
                    checked=d.checked,
                    text=d.text,
                    depth=d.depth,
                    state=state,
                    attempts=attempts,
                    note=d.note,
                    approval_id=approval,
                    headings=d.headings,
                    parents=d.parents,
                    hints=tuple(d.hints),
                    settings=d.settings,
                    verify=tuple(d.verify),
                    details=tuple(d.details),
                    index=index,
                    parent=d.parent,
                    children=tuple(d.children),
                    column=d.column,
                    note_line=None if d.note_line is None else d.note_line + 1,
                    note_end=d.note_end,
                    note_at=d.note_at,
                    note_indent=d.note_indent,
                    note_alts=tuple(d.note_alts) if d.note_alts else (),
                )
            )
        return tuple(steps)


def _classify(content: str) -> tuple[str | None, str]:
    """("step" | "lookalike" | "glued" | "empty" | None, the box's character) for an item's
    text; for "glued" (`[ ]*`, `[ ]x`, a no-break space after `]`) also the character after."""
    m = _BOX_RE.match(content)
    if m is None:
        return None, ""
    box = m.group(1)
    rest = content[m.end() :].partition("\n")[0]
    if rest[:1] in ("(", "[", ":"):  # a link such as [a](url) or [#][ref], not a box
        return None, box
    if box in (" ", "x", "X"):
        if not rest.strip():
            return "empty", box  # `- [ ]` with nothing to do: not a step, not worth a warning
        return ("step", box) if rest[0] in " \t" else ("glued", box + rest[0])
    return "lookalike", box


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


# --------------------------------------------------------------------------- editing


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
        return _encode(tf, lines)
    note = note_head(step, outcome, max_attempts=max_attempts, approval_id=approval_id)
    if details:
        note += NOTE_SEP + one_line(details, NOTE_MAX_CHARS)
    spots: Sequence[tuple[int, str] | None] = (
        [None]
        if step.note_line is not None
        else [(step.note_at, step.note_indent), *step.note_alts]
    )
    refused: ConflictError | None = None
    for spot in spots:  # the first place where the note leaves the plan as it was
        attempt = list(lines)
        shift_at, shift = _put_note(tf, step, attempt, note, spot)
        new = _encode(tf, attempt)
        try:
            _verify(tf, parse(new, tf.name), step, {s.index for s in boxes}, shift_at, shift, note)
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
        tf = load(path, require_steps=False)
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
        if _read_bytes(Path(path), tf.name) != tf.data:
            continue  # changed since we read it: locate and apply again on the fresh bytes
        atomic_write_bytes(path, new)
        if outcome == "done" and details is None:  # box only: no re-parse needed
            return replace(target, checked=True, state="done")
        return parse(new, tf.name).locate(target) or target
    raise ConflictError(
        f"{path}: the file kept changing while ralph tried to record step "
        f"{_short(step.text)!r}; nothing written"
    )


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
    cost_usd: float | None = None,
    seconds: float | None = None,
) -> str:
    """The details part of a note.

    For example "2026-11-29 04:40 UTC · 7 turns · 12.3k tok · $0.07 · 2m10s · added /login".
    """
    when = (when or datetime.now(UTC)).astimezone(UTC)
    parts = [when.strftime("%Y-%m-%d %H:%M UTC")]
    if turns is not None:
        parts.append(f"{turns} turn{'' if turns == 1 else 's'}")
    if tokens is not None:
        parts.append(f"{_human_count(tokens)} tok")
    if cost_usd is not None:
        parts.append(f"${cost_usd:.2f}")
    if seconds is not None:
        parts.append(_duration(seconds))
    if summary.strip():
        parts.append(one_line(summary, SUMMARY_MAX_CHARS))
    return NOTE_SEP.join(parts)


def one_line(text: str, limit: int) -> str:
    """`text` as one line: control characters and runs of whitespace become one space, capped."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text)
    flat = " ".join(clean.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


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


def _verify(
    old: TaskFile,
    new: TaskFile,
    target: Step,
    checked: set[int],
    shift_at: int,
    shift: int,
    note: str,
) -> None:
    """Refuse the edit unless the re-parsed file has the same steps, moved by the note only."""

    def refuse(why: str) -> ConflictError:
        return ConflictError(
            f"{old.name}: refusing to write ralph's note under line {target.line}: it would "
            f"change the plan ({why}); nothing written"
        )

    if len(new.steps) != len(old.steps) or len(new.warnings) != len(old.warnings):
        raise refuse(f"{len(old.steps)} steps became {len(new.steps)}")
    for o, n in zip(old.steps, new.steps, strict=True):
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


# --------------------------------------------------------------------------- small helpers


def _eol(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _visual_col(prefix: str) -> int:
    col = 0
    for ch in prefix:
        col = col + 4 - col % 4 if ch == "\t" else col + 1
    return col


def _dedent(line: str, width: int) -> str:
    ws = _leading_ws(line)
    return line[min(len(ws), width) :]


def _shown(ch: str) -> str:
    """A character for a message: `x`, or its code point and name if it is invisible."""
    if ch.isprintable() and not ch.isspace():
        return f"`{ch}`"
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'character')}"


def _unquote(value: str) -> str:
    """`pytest -q` -> pytest -q (one code span around the whole value)."""
    m = _CODE_SPAN_RE.fullmatch(value)
    return m.group(2) if m else value


def _short(text: str, limit: int = 60) -> str:
    return one_line(text, limit)


def _human_count(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
