"""Path globs as regular expressions: the one translation the guard and the file tools share."""

from __future__ import annotations

import re


def glob_regex(glob: str) -> str:
    """Translate a glob to a regex body (no anchors).

    `**/` is any folders (or none), `**` anything, `*` and `?` stay within one name,
    `[abc]`/`[a-z]`/`[!x]` is one character of a set; an unclosed `[` is literal.
    """
    out: list[str] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := glob.find("]", i + 2)) != -1:
            inner = glob[i + 1 : end].replace("\\", "\\\\")
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            out.append(f"[{inner}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
