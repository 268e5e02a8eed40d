"""Path globs as regexes: one translation for the guard's path classes and the file tools."""

from __future__ import annotations

import re

import pytest

from ralph.globs import glob_regex
from ralph.guard.pathclass import compile_glob
from ralph.tools import toolbox


@pytest.mark.parametrize(
    ("glob", "yes", "no"),
    [
        ("*.py", ["a.py", ".py"], ["a/b.py", "a.pyc"]),
        ("**/x", ["x", "a/b/x"], ["ax"]),
        ("file[0-9].txt", ["file1.txt"], ["filea.txt", "file[0-9].txt"]),
        ("[!a]b", ["cb"], ["ab"]),
        ("a[", ["a["], ["a"]),
        ("?.md", ["a.md"], ["ab.md", "/.md"]),
    ],
)
def test_glob_regex(glob: str, yes: list[str], no: list[str]) -> None:
    regex = re.compile(glob_regex(glob))
    assert all(regex.fullmatch(y) for y in yes), glob
    assert not any(regex.fullmatch(n) for n in no), glob


def test_the_guard_and_the_file_tools_read_brackets_alike() -> None:
    _, regex = compile_glob("secrets/key[0-9].pem")
    assert regex.match("secrets/key1.pem") and not regex.match("secrets/keyx.pem")
    matcher = toolbox._glob_matcher("key[0-9].pem")
    assert matcher("a/key1.pem") and not matcher("a/keyx.pem")
