"""Lines as markdown-it counts them (CRLF, CR or LF), and the list-marker text on them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")  # markdown-it's line model


# a line that starts a list item (its indent is group 1)
_LIST_LINE_RE = re.compile(r"([ \t]*)(?:[-+*]|[0-9]{1,9}[.)])(?:[ \t]|\r|\n|$)")


_MARKERS_RE = re.compile(r"(?:[ \t]*(?:[-+*]|[0-9]{1,9}[.)])[ \t]+)+")  # "- ", "1. - ", "-\t"


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


def split_lines(text: str) -> tuple[str, ...]:
    """`text` as markdown-it counts lines, each with its EOL."""
    return tuple(_LINE_RE.findall(text))
