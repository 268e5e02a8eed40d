"""ralph's builder: one pass over markdown-it's block tokens of a task file, collecting
steps, their context (headings, parent steps, hints, settings, details, notes) and warnings."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ralph.errors import TaskFileError
from ralph.taskfile.lines import (
    _LIST_LINE_RE,
    _MARKERS_RE,
    _dedent,
    _leading_ws,
    _strip_eol,
    _visual_col,
    split_lines,
)
from ralph.taskfile.mdparse import MAX_NESTING, markdown
from ralph.taskfile.model import ParseWarning, Step, TaskFile
from ralph.taskfile.notes import NOTE_PREFIX, note_state

if TYPE_CHECKING:
    from markdown_it.token import Token

_BOX_RE = re.compile(r"\[([^\]]?)\]")


_SETTING_RE = re.compile(r"([a-z][a-z0-9_]*(?:-[a-z0-9_]+)*):[ \t]+(\S.*)")


_CODE_SPAN_RE = re.compile(r"(`+)[ ]?(.*?)[ ]?\1")


_LIST_OPENS = frozenset({"bullet_list_open", "ordered_list_open"})


_DEEPEST = MAX_NESTING - 2  # a container this deep may have content markdown-it drops


def _too_deep(name: str, tok: Token) -> None:
    line = (tok.map[0] + 1) if tok.map else 0
    raise TaskFileError(
        f"{name}: lists or quotes nested about {_DEEPEST // 2} deep at line {line}; ralph "
        "cannot read the plan whole past that, so it refuses it: flatten the nesting"
    )


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

    def __init__(
        self,
        src: str,
        *,
        front_matter: bool = True,
        lines: tuple[str, ...] | None = None,
        tokens: list[Token] | None = None,
    ) -> None:
        """Parse `src` (or take its `lines` and `tokens` from the caller, who parsed it)."""
        self.lines = split_lines(src) if lines is None else lines
        self.tokens = markdown(front_matter).parse(src) if tokens is None else tokens
        self.cuts: list[int] = []  # see TaskFile.cuts
        self.heads: list[tuple[int, int, str]] = []  # top-level headings: line, level, text
        self.stack: list[_Frame] = []
        self.items = 0  # list items on the stack
        self.quotes = 0  # blockquotes on the stack
        self.drafts: list[_Draft] = []
        self.warnings: list[ParseWarning] = []
        self.heading_stack: list[tuple[int, str]] = []
        self.headings: tuple[str, ...] = ()
        self.title: str | None = None
        self.front_matter: str | None = None
        self.text_list: tuple[int, int] | None = None  # see _continuation
        self.cont_ends: set[tuple[int, int]] = set()  # (level, line) a paragraph goes on at

    def build(self, name: str, data: bytes, sha: str, bom: bool) -> TaskFile:
        stack = self.stack
        detail_level = -1  # tokens at this level sit directly inside the innermost step item
        cuts = self.cuts
        for i, tok in enumerate(self.tokens):
            if tok.nesting >= 0:
                level = tok.level
                if level == detail_level:
                    self._detail(tok)
                if level < 2 and tok.map:
                    _cut(cuts, tok)
            kind = tok.type
            if kind not in _HANDLED:
                continue  # most tokens: paragraphs, their text, lists
            if kind in ("list_item_open", "blockquote_open") and tok.level >= _DEEPEST:
                _too_deep(name, tok)
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
                line = tok.map[0] if tok.map else 0
                self._heading(int(tok.tag[1:]), self.tokens[i + 1].content, line)
            elif kind == "front_matter":
                self.front_matter = tok.content
            elif kind in _MAY_CONTINUE and _may_continue(tok, self.lines):
                self._continuation(i, tok)
            elif kind == "table_open":
                self._table(tok)
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
            cuts=tuple(cuts),
            heading_title=self.title,
        )

    def _heading(self, level: int, content: str, line: int) -> None:
        text = " ".join(content.split())
        self.heads.append((line, level, text))
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
        if kind is not None and self._is_text(tok, line):
            if kind in ("step", "lookalike", "glued"):
                self._warn(
                    line,
                    f"`[{box[0]}]` goes on with the paragraph of a link reference definition above "
                    "it on GitHub (only a bullet or a list starting at 1 may cut in), so it is "
                    "text; ralph ignores it: put a blank line above the list",
                )
        elif kind in ("step", "lookalike", "glued") and self.quotes:
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

    def _continuation(self, i: int, tok: Token) -> None:
        """A block CommonMark reads as text continuing a paragraph that markdown-it ended.

        markdown-it makes no token for a link reference definition and ends it at its last
        line; CommonMark (and GitHub) keep the paragraph it starts open, so the lines right
        below it are text up to a blank line or a block that may interrupt a paragraph.
        Those `_may_continue` names may not: their lines are text there, and a list of them
        holds no steps up to its first blank line.
        """
        start, end = tok.map if tok.map else (0, 0)
        if start == 0 or not _has_text(self.lines[start - 1]):
            return
        if (tok.level, start) not in self.cont_ends and not self._reference_above(i, tok):
            return
        self.cont_ends.add((tok.level, end))
        if tok.type == "ordered_list_open":
            self.text_list = (tok.level + 1, end)

    def _reference_above(self, i: int, tok: Token) -> bool:
        """Whether the line above `tok` belongs to no block: a link reference definition."""
        for prev in reversed(self.tokens[:i]):  # the block before it, or its container
            if prev.map and prev.nesting >= 0 and prev.level <= tok.level:
                covered = prev.map[1] if prev.level == tok.level else prev.map[0]
                break
        else:
            covered = 0
        return covered < tok.map[0] if tok.map else False

    def _is_text(self, tok: Token, line: int) -> bool:
        """Whether this list item is paragraph text (see `_continuation`)."""
        if self.text_list is None:
            return False
        level, end = self.text_list
        if tok.level != level:  # inside a text item: at 4 columns, text or code to GitHub
            return tok.level > level and line < end and _indent(self.lines[line]) >= 4
        if line < end and _has_text(self.lines[line - 1]):
            return True
        self.cont_ends.discard((level - 1, end))  # a blank line ended the paragraph
        self.text_list = None
        return False

    def _table(self, tok: Token) -> None:
        """A box line read as a table's header row (the line below it is a delimiter row):
        GitHub shows a box there with a table for its text, ralph has no step to run."""
        line = tok.map[0] if tok.map else 0
        raw = _strip_eol(self.lines[line])
        m = _MARKERS_RE.match(raw)
        if m is None:
            return
        kind, box = _classify(raw[m.end() :])
        if kind in ("step", "lookalike", "glued"):
            self._warn(
                line,
                f"`[{box[0]}]` starts a table's header row (the next line is a table "
                "delimiter row), so ralph does not read it as a step: give the step its "
                "own text and put the table on the lines below it",
            )

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
            _Draft(  # positional, in _Draft's field order
                line,
                content[1] != " ",
                content[3:].lstrip(" \t"),
                self.items,
                col,
                self.headings,
                owner,
                (*up.parents, up.text) if up else (),
                end,
                indent,
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
                Step(  # positional, in Step's field order: a third cheaper than by name
                    d.line + 1,
                    d.checked,
                    d.text,
                    d.depth,
                    state,
                    attempts,
                    d.note,
                    approval,
                    d.headings,
                    d.parents,
                    tuple(d.hints),
                    d.settings,
                    tuple(d.verify),
                    tuple(d.details),
                    index,
                    d.parent,
                    tuple(d.children),
                    d.column,
                    None if d.note_line is None else d.note_line + 1,
                    d.note_end,
                    d.note_at,
                    d.note_indent,
                    tuple(d.note_alts) if d.note_alts else (),
                )
            )
        return tuple(steps)


def _cut(cuts: list[int], tok: Token) -> None:
    """Note where a top-level block or a later top-level list item starts (TaskFile.cuts)."""
    line = tok.map[0]  # type: ignore[index]
    if tok.level == 0:
        if not cuts or cuts[-1] >> 1 != line:
            cuts.append(2 * line)
    elif tok.type == "list_item_open" and (not cuts or cuts[-1] >> 1 != line):
        cuts.append(2 * line + 1)  # a first item shares its line with the list: kind 0


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


_MAY_CONTINUE = frozenset({"code_block", "ordered_list_open", "hr"})
_HANDLED = (
    _MAY_CONTINUE
    | {"list_item_open", "list_item_close", "blockquote_open"}
    | {"blockquote_close", "heading_open", "front_matter", "table_open"}
)  # the token types `_Builder.build` acts on
_UNDERLINE_RE = re.compile(r" {0,3}-+[ \t]*[\r\n]*")


def _may_continue(tok: Token, lines: tuple[str, ...]) -> bool:
    """Whether CommonMark may read `tok`'s first line as text going on from the line above:
    indented code, an ordered list not starting at 1, or a `---` that would underline a
    heading (markdown-it reads it as a rule when all above is a link definition)."""
    if tok.type == "ordered_list_open":
        return tok.attrs.get("start", 1) != 1
    if tok.type == "hr":
        return tok.map is not None and _UNDERLINE_RE.fullmatch(lines[tok.map[0]]) is not None
    return True


def _indent(line: str) -> int:
    return _visual_col(_leading_ws(line))


def _has_text(line: str) -> bool:
    """Whether a line is not blank (a blockquote's `>` markers aside)."""
    return bool(line.strip(" \t\r\n>"))


def _shown(ch: str) -> str:
    """A character for a message: `x`, or its code point and name if it is invisible."""
    if ch.isprintable() and not ch.isspace():
        return f"`{ch}`"
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'character')}"


def _unquote(value: str) -> str:
    """`pytest -q` -> pytest -q (one code span around the whole value)."""
    m = _CODE_SPAN_RE.fullmatch(value)
    return m.group(2) if m else value
