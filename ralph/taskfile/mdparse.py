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
called. Checked against markdown-it-py 3.0 to 4.3 and mdit-py-plugins' front matter.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

from ralph.taskfile.lines import _LIST_LINE_RE

if TYPE_CHECKING:
    from collections.abc import Callable

    from markdown_it import MarkdownIt
    from markdown_it.rules_block import StateBlock

    Rule = Callable[[StateBlock, int, int, bool], bool]

MAX_NESTING = 100
"""markdown-it's block nesting limit: a list item and its list are two levels. Past it,
markdown-it silently drops the rest of the file, so a plan that deep is refused instead."""

_DELIMITER_ROW = re.compile(r"(?!-[ \t])[-|:][-|: \t]+")
_HR = {m: re.compile(rf"(?:{re.escape(m)}[ \t]*){{3,}}") for m in "*-_"}


@cache
def markdown(front_matter: bool = True) -> MarkdownIt:
    """The block parser; without the front-matter rule for text that does not start the file."""
    md = configured(front_matter)
    dispatch(md)
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


def dispatch(md: MarkdownIt) -> None:
    """Make `md`'s block rule chains dispatch on each line's first character."""
    from markdown_it.ruler import Ruler

    class _Dispatching(Ruler):  # type: ignore[type-arg]
        def __compile__(self) -> None:
            super().__compile__()
            needs = _needs()
            chains: dict[str, list[Any]] = self.__cache__  # type: ignore[assignment]
            for name, fns in chains.items():
                chains[name] = [_chain([(fn, needs.get(fn)) for fn in fns])]

    ruler = md.block.ruler
    ruler.__class__ = _Dispatching
    ruler.__cache__ = None  # compiled again on first use


@cache
def _needs() -> dict[Any, str]:
    """What each stock rule needs before it can match: the first characters it accepts at
    the line's first non-space position (`bMarks + tShift`, as each rule reads it), or a
    test named by a word: "table" (its delimiter row below starts with `|`, `-` or `:`),
    "hr" (the line is three or more of one marker and blanks), "top" (the first line).
    Each mirrors the rule's own first test (markdown_it/rules_block/*.py)."""
    from markdown_it import rules_block as rb
    from mdit_py_plugins.front_matter.index import _front_matter_rule

    return {
        rb.fence: "`~",  # fence(): `marker not in markers`
        rb.blockquote: ">",  # blockquote(): `state.src[pos] != ">"`
        rb.hr: "hr",  # hr(): `marker not in ("*", "-", "_")`, then the rest of the line
        rb.list_block: "*-+0123456789",  # skipOrderedListMarker / skipBulletListMarker
        rb.reference: "[",  # reference(): `state.src[pos] != "["`
        rb.html_block: "<",  # html_block(): `state.src[pos] != "<"`
        rb.heading: "#",  # heading(): `ch != "#"`
        table_rule: "table",  # table(): the checks of first_ch, second_ch, ch on startLine + 1
        _front_matter_rule: "top",  # _front_matter_rule(): `startLine != 0`
    }


def _chain(rules: list[tuple[Rule, str | None]]) -> Rule:
    """One function for a whole chain: the rules a line's first character leaves possible,
    tried in the chain's order, exactly as markdown-it's loops over a chain try them."""
    full = tuple(fn for fn, _ in rules)
    keys = frozenset("".join(need for _, need in rules if need and need not in _TESTS))
    picked: dict[tuple[str, bool, bool], tuple[Rule, ...]] = {}

    def pick(key: tuple[str, bool, bool]) -> tuple[Rule, ...]:
        c, table, hr = key
        fns = tuple(fn for fn, need in rules if _possible(need, c, table, hr))
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
                at = bmarks[line + 1] + tshift[line + 1]
                table = _DELIMITER_ROW.fullmatch(src, at, state.eMarks[line + 1]) is not None
                hr = c in "*-_" and _HR[c].fullmatch(src, pos, state.eMarks[line]) is not None
                key = (c if c in keys else "", table, hr)
                fns = picked.get(key)
                if fns is None:
                    fns = pick(key)
        for fn in fns:  # noqa: SIM110 (a generator in any() costs more, on every line)
            if fn(state, line, end, silent):
                return True
        return False

    return chain


_TESTS = ("table", "hr", "top")


def _possible(need: str | None, c: str, table: bool, hr: bool) -> bool:
    if need is None:
        return True
    if need == "table":
        return table
    if need == "hr":
        return hr
    if need == "top":
        return False  # `chain` takes the full chain on line 0
    return c != "" and c in need
