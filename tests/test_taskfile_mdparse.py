"""The dispatching rule chains (ralph/taskfile/mdparse.py) against stock markdown-it-py.

Every token field and the env (link references) must be what markdown-it-py's own rule
chains give, over the task-file corpora, every markdown file of the repository, generated
markdown and hand-written edge cases.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ralph.taskfile import mdparse
from tests.test_taskfile import CASES

ROOT = Path(__file__).resolve().parent.parent
_FIELDS = tuple(f.name for f in dataclasses.fields(mdparse.configured().parse("x")[0]))


def tokens(md: Any, text: str) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    env: dict[str, Any] = {}
    toks = md.parse(text, env)
    return [tuple(getattr(t, f) for f in _FIELDS) for t in toks], env


def assert_same(text: str) -> None:
    for front_matter in (True, False):
        stock = tokens(mdparse.configured(front_matter), text)
        fast = tokens(mdparse.markdown(front_matter), text)
        assert fast == stock, (front_matter, text[:200])


def repo_markdown() -> list[Path]:
    skip = {".git", ".ralph", "node_modules", ".venv"}
    return sorted(
        p for p in ROOT.rglob("*.md") if not skip & set(p.relative_to(ROOT).parts) and p.is_file()
    )


def test_the_fast_chains_are_installed() -> None:
    ruler = mdparse.markdown().block.ruler
    assert all(len(ruler.getRules(name)) == 1 for name in ("", "paragraph", "list"))
    assert len(mdparse.configured().block.ruler.getRules("")) > 5
    assert "parse" in vars(mdparse.markdown().block)  # tokens built by quick_tokens' state
    assert "parse" not in vars(mdparse.configured().block)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_corpora(case: Path) -> None:
    assert_same(case.read_text(encoding="utf-8"))


def test_every_markdown_file_of_the_repository() -> None:
    files = repo_markdown()
    assert any(p.parent.name == "tasks" for p in files)
    for path in files:
        assert_same(path.read_text(encoding="utf-8", errors="replace"))


EDGE_CASES = [
    "",
    "\n",
    "\n\n\n",
    "a",
    "- [ ] no final newline",
    "- [ ] crlf\r\n  - [x] sub\r\n\r\n# h\r\n",
    "- [ ] lone cr\r  - sub\r\r> q\r",
    "\t- [ ] tab\n\t\t- [ ] tabs\n  \t- [x] mixed\n    code\n\tcode\n",
    "- [ ] nul \x00 here\n\x00\n- \x00\n",
    "\u00a0- [ ] nbsp\n\u2003# em space\n\u3000> ideographic\n\u2028- x\n\ufeff- [ ] bom\n",
    "   ",
    "- [ ] a\n   ",
    "-",
    "-\n",
    "1.",
    "1. ",
    "- \n  \n  x\n",
    "x" * 100_000 + "\n- [ ] " + "y" * 100_000,
    "- " * 3_000 + "[ ] deep\n",
    "".join("  " * i + "- [ ] level\n" for i in range(60)),
    "---\ntitle: x\n---\n- [ ] after front matter\n",
    "---\nunclosed front matter\n- [ ] x\n",
    "--- x\n- [ ] not front matter\n---\n",
    "----\n- [ ] x\n----\n",
    "text\n---\n- [ ] setext\n===\ntext\n=\n",
    "* * *\n- - -\n_ _ _\n***\n-_-\n--\n-- -\n  ---  \n*\t*\t*\n",
    "- [ ] a | b\n|---|---|\n| c | d |\n- x\n",
    "| a | b |\n|---|---|\n| c | d |\n\n|-|\n-|-\n:-:|:-:\n- | -\n--|\n",
    "a | b\n- | -\n",
    "a | b\n-- | --\nc | d\n> e\n- f\n",
    "```\n- [ ] in fence\n```\n~~~ info\n- [ ] x\n~~~\n```unclosed\n- [ ] x\n",
    "- ```\n  - [ ] fenced in item\n- [ ] after\n",
    "<div>\n- [ ] html\n</div>\n\n<!--\n- [ ] comment\n-->\n<pre>\n- [ ] x\n</pre>\n",
    "<?php\n- [ ] x\n?>\n<!DOCTYPE html>\n<![CDATA[\n]]>\n<a href='x'>\n- [ ] y\n",
    "> - [ ] quote\n> > - [ ] nested\nlazy\n>\n> # h\n>\t- [ ] tab\n",
    "[ref]: /url\n- [ ] after ref\n[ref2]: /u 'title'\n2. [ ] x\n[bad]: \n[a\nb]: /c\n",
    "[x]: <a b> \"t\n\nx\"\n[y]:\n/url\n'multi\nline'\n- [ ] z\n",
    "# h1\n## h2 ##\n####### seven\n#no space\n#\n# \n   # indented\n    # code\n",
    "1. [ ] one\n2) [ ] paren\n10. [ ] ten\n1234567890. [ ] too long\n0. zero\n",
    "+ [ ] plus\n* [ ] star\n- [ ] dash\n+\n*\n",
    "- a\n\n\n- b\n\n      code in item\n- c\n  > quote in item\n  ```\n  fence\n  ```\n",
    "para\n    lazy code\n- [ ] interrupts\n2. does not\n1. does\n# h\n> q\n",
    "  - [ ] a\n   - [ ] b\n    - [ ] c\n     - [ ] d\n      - [ ] e\n",
    "- [ ] a\n-\n\n  foo\n",
    "- [ ] a\n  | b |\n  |---|\n",
    "\r\n\r\n- [ ] \r\n\r- x\n",
    "\n[a\\]]: /u\n[a]b]: /u\n[a\\\n b]: /u\n[[a]]: /u\n[a]:\n/u\n[a] : /u\n\\[a]: /u\n",
    "\n[a]:/u\n[ ]: /u\n[]: /u\n[a]\n: /u\n- [r]: /u\n  [s]: /v\n> [q]: /w\n[x\\",
    "- item\n      code in item\n  - sub\n          code\n    not code\n\t\tcode\n",
]


@pytest.mark.parametrize("text", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases(text: str) -> None:
    assert_same(text)


_PIECES = [
    "- ", "* ", "+ ", "1. ", "2) ", "10. ", "[ ] ", "[x] ", "[-] ", "> ", ">", "# ", "## ",
    "#", "```", "~~~", "    ", "  ", "\t", " ", "---", "***", "___", "- - -", "===", "|",
    "| a | b |", "|---|", "-|-", ":-:", "--- | ---", "[r]: /u", "[r]:", "<div>", "</div>",
    "<!--", "-->", "<pre>", "<x>", "text", "a | b", "`code`", "\\", "\u00a0", "é", "\x00",
    "[", "]", ":", "'t'", "(", "<", "0", "9", "_", "=", "[a]", "]:", "\\]", "[a\\]", "[a]: ",
]  # fmt: skip
_EOLS = ["\n", "\n", "\n", "\r\n", "\r", ""]


@st.composite
def markdown_text(draw: st.DrawFn) -> str:
    lines = draw(
        st.lists(
            st.tuples(
                st.lists(st.sampled_from(_PIECES), max_size=5).map("".join),
                st.sampled_from(_EOLS),
            ),
            max_size=14,
        )
    )
    return "".join(body + eol for body, eol in lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdown_text())
def test_generated_markdown(text: str) -> None:
    assert_same(text)


def test_generated_plans() -> None:
    import random

    rng = random.Random(12)
    for _ in range(300):
        text = "".join(
            rng.choice(_PIECES) + rng.choice(_PIECES) + rng.choice(("", "x y", "[ ] s"))
            + rng.choice(_EOLS)
            for _ in range(rng.randint(1, 30))
        )  # fmt: skip
        assert_same(text)


def test_an_unknown_token_shape_keeps_the_stock_push(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mdparse, "_TOKEN_FIELDS", (*mdparse._TOKEN_FIELDS, "new_field"))
    md = mdparse.configured()
    mdparse.quick_tokens(md)
    assert "parse" not in vars(md.block)
    mdparse.dispatch(md)
    assert tokens(md, EDGE_CASES[-5]) == tokens(mdparse.configured(), EDGE_CASES[-5])
