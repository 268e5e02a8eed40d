"""markdown-it-py set up for task files, with rule chains that skip the rules a line rules out.

markdown-it's block parser tries each rule of a chain in turn on a line (every rule of the
main chain at the start of each block, the terminator rules of a paragraph, list or quote
on each line after its first) until one matches. Most rules first look at one character
and give up at once: a fence needs `` ` `` or `~` at the line's first non-space position, a
quote `>`, a heading `#`. Trying them costs a Python call each, tens of millions on a big
plan. Here each chain is one function that looks at that character once and calls, in the
chain's order, only the rules that character leaves possible: the same rules, called the
same way, so the tokens are the same (tests/test_taskfile_mdparse.py checks that against
stock markdown-it-py). A rule is skipped only where its own first test, which has no side
effect, would make it return False; any other rule (a plugin's, a replaced one) is always
called. Written against markdown-it-py 4.3 and mdit-py-plugins 0.7 (these first tests
are those of markdown-it's JavaScript rules); the test compares with whatever version is
installed, and a markdown-it whose internals (the ruler's chain cache, Token's fields)
are not the ones used here keeps its stock parse.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from ralph.taskfile.lines import _LIST_LINE_RE

if TYPE_CHECKING:
    from collections.abc import Callable

    from markdown_it import MarkdownIt
    from markdown_it.rules_block import StateBlock
    from markdown_it.token import Token

    Rule = Callable[[StateBlock, int, int, bool], bool]

MAX_NESTING = 100
"""markdown-it's block nesting limit: a list item and its list are two levels. Past it,
markdown-it silently drops the rest of the file, so a plan that deep is refused instead."""

_ROW_STARTS = frozenset("|-:")
_DELIMITER_ROW = re.compile(r"(?!-[ \t])[-|:][-|: \t]+")
_LABEL = re.compile(r"\[(?:[^\[\]\\\n]|\\[^\n])*\]")  # a link label closed on its first line
_HR = {m: re.compile(rf"(?:{re.escape(m)}[ \t]*){{3,}}") for m in "*-_"}


@cache
def markdown(front_matter: bool = True) -> MarkdownIt:
    """The block parser; without the front-matter rule for text that does not start the file."""
    md = configured(front_matter)
    dispatch(md)
    quick_tokens(md)
    return md


def configured(front_matter: bool = True) -> MarkdownIt:
    """markdown-it-py as ralph configures it, with stock rule chains (what `markdown` must
    parse exactly like)."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.front_matter import front_matter_plugin

    md = MarkdownIt("commonmark").enable("table")
    md.block.ruler.at("table", table_rule, {"alt": ["paragraph", "reference"]})
    md.options["maxNesting"] = MAX_NESTING  # commonmark's 20 is 10 nested lists
    if front_matter:
        md.use(front_matter_plugin)
    # Only block structure and raw inline text are needed: skip inline parsing (2x faster).
    md.disable(["inline", "text_join"])
    return md


def table_rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """markdown-it's table rule, except on a line that starts a list item: GitHub reads
    `- [ ] a | b` as a list item first (with a table inside it only if the delimiter row is
    indented into the item), where markdown-it would make the whole line a header row."""
    from markdown_it.rules_block.table import table

    if _LIST_LINE_RE.match(state.src, state.bMarks[start] + state.tShift[start]):
        return False
    return table(state, start, end, silent)


def parse_until(src: str, front_matter: bool, stop: int) -> tuple[list[Token], int]:
    """`markdown(front_matter).parse(src)` cut short where a top-level block starts at line
    `stop` (0-based) or later: the tokens of the blocks above it, and the line where that
    block starts (-1 if none does). Up to there it is the whole parse, step for step."""
    md, cell = _stoppable(front_matter)
    cell[:] = [stop, -1]
    try:
        tokens = md.parse(src)
    finally:
        cell[0] = sys.maxsize
    return tokens, cell[1]


@cache
def _stoppable(front_matter: bool) -> tuple[MarkdownIt, list[int]]:
    md, cell = configured(front_matter), [sys.maxsize, -1]
    dispatch(md, cell)
    quick_tokens(md)
    return md, cell


_TOKEN_FIELDS = ("type", "tag", "nesting", "attrs", "map", "level", "children", "content")
_TOKEN_FIELDS += ("markup", "info", "meta", "block", "hidden")


def quick_tokens(md: MarkdownIt) -> None:
    """Make `md`'s block parser build its tokens without Token.__init__'s calls (a default
    factory per dict and __post_init__, which swaps the empty attrs dict for another):
    the same fields with the same values, half the cost of the 700k tokens of a big plan.
    Left alone if markdown-it's Token has other fields than those known here."""
    from dataclasses import fields

    from markdown_it.rules_block.state_block import StateBlock
    from markdown_it.token import Token

    if tuple(f.name for f in fields(Token)) != _TOKEN_FIELDS:
        return
    new = object.__new__

    class _State(StateBlock):
        def push(self, ttype: str, tag: str, nesting: Any) -> Token:
            """StateBlock.push, with Token(ttype, tag, nesting) written out."""
            token = new(Token)
            token.type = ttype
            token.tag = tag
            token.nesting = nesting
            token.attrs = {}
            token.map = None
            if nesting < 0:
                self.level -= 1  # closing tag
            token.level = self.level
            if nesting > 0:
                self.level += 1  # opening tag
            token.children = None
            token.content = ""
            token.markup = ""
            token.info = ""
            token.meta = {}
            token.block = True
            token.hidden = False
            self.tokens.append(token)
            return token

    def parse(src: str, md: MarkdownIt, env: Any, out: list[Token]) -> list[Token] | None:
        """ParserBlock.parse, with the state above."""
        if not src:
            return None
        state = _State(src, md, env, out)
        md.block.tokenize(state, state.line, state.lineMax)
        return state.tokens

    md.block.parse = parse  # type: ignore[method-assign]


def dispatch(md: MarkdownIt, stop: list[int] | None = None) -> None:
    """Make `md`'s block rule chains dispatch on each line's first character; with `stop`
    ([line, -1]), its main chain ends the parse at the first top-level block at `line` or
    later, and puts that block's line in `stop[1]`."""
    from markdown_it.ruler import Ruler

    if not callable(getattr(Ruler, "__compile__", None)):
        return  # another markdown-it: its own chains

    class _Dispatching(Ruler):  # type: ignore[type-arg]
        def __compile__(self) -> None:
            super().__compile__()
            needs = _needs()
            chains = getattr(self, "__cache__", None)
            if not isinstance(chains, dict):
                return
            for name, fns in chains.items():
                fn = _chain([(fn, needs.get(fn)) for fn in fns])
                chains[name] = [_stopping(fn, stop) if stop is not None and not name else fn]

    ruler = md.block.ruler
    ruler.__class__ = _Dispatching
    ruler.__cache__ = None  # compiled again on first use


@cache
def _needs() -> dict[Any, str]:
    """What each stock rule needs before it can match: the first characters it accepts at
    the line's first non-space position (`bMarks + tShift`, as each rule reads it), or a
    test named by a word: "table" (the line below is a delimiter row: `|`, `-`, `:` and
    blanks, not starting `- `), "hr" (the line is three or more of one marker and blanks),
    "code" (indented 4 or more past the block's indent), "ref" (a `[` whose label, if it
    closes on this line, is followed by `:`), "top" (the first line). Each mirrors the
    rule's own first tests, which have no side effect (markdown_it/rules_block/*.py)."""
    from markdown_it import rules_block as rb

    try:
        from mdit_py_plugins.front_matter.index import _front_matter_rule
    except ImportError:  # another mdit-py-plugins: its front matter rule is always tried
        _front_matter_rule = None

    return {
        rb.fence: "`~",  # fence(): `marker not in markers`
        rb.blockquote: ">",  # blockquote(): `state.src[pos] != ">"`
        rb.hr: "hr",  # hr(): `marker not in ("*", "-", "_")`, then the rest of the line
        rb.list_block: "*-+0123456789",  # skipOrderedListMarker / skipBulletListMarker
        rb.code: "code",  # code(): `not state.is_code_block(startLine)`
        rb.reference: "ref",  # reference(): `state.src[pos] != "["`, then its label's end
        rb.html_block: "<",  # html_block(): `state.src[pos] != "<"`
        rb.heading: "#",  # heading(): `ch != "#"`
        table_rule: "table",  # table(): the checks of first_ch, second_ch, ch on startLine + 1
        _front_matter_rule: "top",  # _front_matter_rule(): `startLine != 0`
    }


def _stopping(main: Rule, stop: list[int]) -> Rule:
    """The main chain (the one tokenize() tries at the start of each block), ending the
    parse at the first top-level block (level 0) that starts at line `stop[0]` or later."""

    def chain(state: StateBlock, line: int, end: int, silent: bool) -> bool:
        if line >= stop[0] and not state.level:
            stop[1] = line
            state.line = state.lineMax  # tokenize() ends: the lines left are not parsed
            return True
        return main(state, line, end, silent)

    return chain


def _chain(rules: list[tuple[Rule, str | None]]) -> Rule:
    """One function for a whole chain: the rules a line's first character leaves possible,
    tried in the chain's order, exactly as markdown-it's loops over a chain try them."""
    full = tuple(fn for fn, _ in rules)
    needs = {need for _, need in rules}
    keys = frozenset("".join(need for need in needs if need and need not in _TESTS))
    table, hr, code, ref = ("table" in needs, "hr" in needs, "code" in needs, "ref" in needs)
    picked: dict[str, tuple[Rule, ...]] = {}

    def pick(key: str) -> tuple[Rule, ...]:
        passed = {name for name, flag in _TESTS.items() if flag in key}
        fns = tuple(fn for fn, need in rules if _possible(need, key[:1].strip("\0"), passed))
        picked[key] = fns
        return fns

    def chain(state: StateBlock, line: int, end: int, silent: bool) -> bool:
        if not line:
            fns = full  # the front matter rule's line: no shortcuts
        else:
            src = state.src
            bmarks, tshift = state.bMarks, state.tShift
            try:
                pos = bmarks[line] + tshift[line]
                c = src[pos]
            except IndexError:
                fns = full  # let the rules meet the end of the text themselves
            else:
                key = c if c in keys else ""  # markdown-it turned every NUL into U+FFFD
                if table:
                    at = bmarks[line + 1] + tshift[line + 1]
                    if src[at : at + 1] in _ROW_STARTS and _DELIMITER_ROW.fullmatch(
                        src, at, state.eMarks[line + 1]
                    ):
                        key += "\0t"
                if hr and c in _HR and _HR[c].fullmatch(src, pos, state.eMarks[line]):
                    key += "\0h"
                if code and state.sCount[line] - state.blkIndent >= 4:
                    key += "\0c"
                if ref and c == "[":
                    label = _LABEL.match(src, pos, state.eMarks[line])
                    if label is None or src[label.end() : label.end() + 1] == ":":
                        key += "\0r"
                fns = picked.get(key)
                if fns is None:
                    fns = pick(key)
        for fn in fns:  # noqa: SIM110 (a generator in any() costs more, on every line)
            if fn(state, line, end, silent):
                return True
        return False

    return chain


_TESTS = {"table": "\0t", "hr": "\0h", "code": "\0c", "ref": "\0r", "top": "\0-"}


def _possible(need: str | None, c: str, passed: set[str]) -> bool:
    if need is None:
        return True
    if need in _TESTS:
        return need in passed  # "top" never: `chain` takes the full chain on line 0
    return c != "" and c in need
