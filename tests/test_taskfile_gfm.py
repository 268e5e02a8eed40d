"""ralph's steps against GitHub's own renderer (cmark-gfm, through the cmarkgfm package).

A person reads the plan on GitHub; ralph must not run a box GitHub does not show, and must
not silently pass over one GitHub does show (a warning says why it is not a step). Where
ralph departs from GitHub on purpose, the departure is named here:

- an empty box (`- [ ]` with no text) is not a step: there is nothing to do;
- YAML front matter (GitHub shows it as a table) holds no steps;
- a box after two list markers (`- - [ ] x`) is a step, as the corpus says.

Known gap, left alone: a table header row that looks like a delimiter row (`--- | ---`)
right below a link reference definition or above another delimiter row, which cmark-gfm
reads as text and markdown-it as a table.
"""

from __future__ import annotations

import random
import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from ralph.taskfile import parse
from tests.test_taskfile import CASES

_BOX = re.compile(
    r'<li data-sourcepos="(\d+):\d+-\d+:\d+">(?:<p data-sourcepos="[^"]*">)?<input type="checkbox"'
)
_MARKER = r"[ \t]*(?:[-+*]|[0-9]{1,9}[.)])[ \t]+"
_TWO_MARKERS = re.compile(_MARKER * 2)
_EMPTY_BOX = re.compile(rf"(?:{_MARKER})+\[.\][ \t]*")


def github_boxes(text: str) -> set[int]:
    """Lines where GitHub shows a task box."""
    html = cmarkgfm.github_flavored_markdown_to_html(
        text.removeprefix("\ufeff"), options=Options.CMARK_OPT_SOURCEPOS
    )
    return {int(m.group(1)) for m in _BOX.finditer(html)}


def disagreements(data: bytes) -> tuple[list[int], list[int]]:
    """(lines ralph runs that GitHub shows no box on, lines GitHub shows a box on that
    ralph neither runs nor warns about)."""
    tf = parse(data)
    text = data.decode("utf-8")
    lines = text.splitlines()
    front = len(tf.front_matter.splitlines()) + 2 if tf.front_matter is not None else 0
    boxes = {n for n in github_boxes(text) if n > front and not _EMPTY_BOX.fullmatch(lines[n - 1])}
    steps = {s.line for s in tf.steps if not _TWO_MARKERS.match(lines[s.line - 1])}
    warned = {w.line for w in tf.warnings}
    return sorted(steps - boxes), sorted(boxes - {s.line for s in tf.steps} - warned)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_the_corpora_read_as_github_shows_them(case) -> None:  # type: ignore[no-untyped-def]
    assert disagreements(case.read_bytes()) == ([], [])


@pytest.mark.parametrize(
    "text",
    [
        "[docs]: /url\n2. [ ] text on GitHub\n3. [ ] text too\n\n4. [ ] a step\n",
        "[a]: /u\n    indented\n3) [ ] text\n- [ ] step\n",
        "[a]: /u 'title'\n---\n    - [ ] code or text\n3) [ ] text\n\n+ [x] step\n",
        "- [ ] header | row\n  --- | ---\n- [ ] step\n",
        "- [ ] lazy | text\n--- | ---\n- [ ] step\n",
        "- [ ] parent\n  - [ ] child | x\n    --|--\n",
        "--- not front matter\n- [ ] step\n---\n",
        "----\n- [ ] step\n----\n",
        "- [docs]: /u\n  2. [ ] text\n",
    ],
)
def test_reference_definitions_tables_and_rules(text: str) -> None:
    assert disagreements(text.encode()) == ([], [])


_LINES = [
    "- [ ] a", "- [x] b", "  - [ ] c", "    - [ ] d", "2. [ ] e", "1. [ ] f", "3) [ ] g",
    "[r]: /url", "[r]: /url 'title'", "", "", "text", "# H", "> - [ ] q", "| a | b |",
    "|---|---|", "--- | ---", "```", "    code", "<div>", "</div>", "* [ ] h", "+ [X] i",
    "  text", "---", "- [ ]", "-  [ ] two spaces", "\t- [ ] tab", "   2. [ ] three",
    "10. [ ] ten", "- [ ] x | y", "  [r2]: /u", "<!-- c -->", "   - [ ] three-sp", "- a",
    "  1. [ ] sub", "  2. [ ] sub2", "> text", "- [ ]\ttab after", "1. [ ]  two",
]  # fmt: skip


def test_generated_plans_read_as_github_shows_them() -> None:
    rng = random.Random(20261201)
    bad = []
    for _ in range(3000):
        text = "\n".join(rng.choice(_LINES) for _ in range(rng.randint(1, 6))) + "\n"
        if text.startswith("---\n"):
            continue  # front matter when it closes: GitHub shows a table
        if re.search(r"^ *\[r2?\]: .*\n--- \| ---$|^--- \| ---\n\|---", text, re.M):
            continue  # the known gap above
        if disagreements(text.encode()) != ([], []):
            bad.append(text)
    assert not bad, bad[:5]
