"""Program names: the one table of shells, awks and other names for the same program.

Both the walker (which shells' `-c` strings it reads as bash) and the guard's program
knowledge (ralph.guard.programs) use it, so the two never disagree about a name.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELLS = _words("sh bash zsh dash ksh ash mksh yash posh rbash rzsh lksh oksh pdksh")
"""Shells whose code is read as bash: their `-c` strings and scripts on stdin are analysed."""
OTHER_SHELLS = _words("fish csh tcsh nu elvish xonsh rc es")
"""Shells with a language of their own: their code is never read as bash."""
ALL_SHELLS = SHELLS | OTHER_SHELLS

AWKS = _words("awk gawk mawk nawk goawk bawk")

ALIASES = {
    "nodejs": "node",
    "podman": "docker",
    "gmake": "make",
    "egrep": "grep",
    "fgrep": "grep",
    "tofu": "terraform",
    "flyctl": "fly",
    "mariadb": "mysql",
    **dict.fromkeys(AWKS - {"awk"}, "awk"),
}
"""One program under another name (the options and the effects are the same)."""

_VERSIONED = re.compile(
    r"(python|pypy|pip|perl|ruby|node|nodejs|deno|bun|php|lua|luajit|Rscript|julia|pwsh"
    r"|powershell|osascript|tclsh|jshell)[0-9][0-9.]*"
)


_VERSION_ENDS = frozenset("0123456789.")  # every name _VERSIONED matches ends so


def canonical(program: str) -> str:
    """The one name of a program: python3.12 -> python, pip3 -> pip, podman -> docker."""
    match = _VERSIONED.fullmatch(program) if program[-1:] in _VERSION_ENDS else None
    name = match.group(1) if match else program
    return ALIASES.get(name, name)
