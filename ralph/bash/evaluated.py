"""Text that bash evaluates as code although it is not written as a command.

Variables bash expands as code (`PS4` under `set -x`, `PROMPT_COMMAND`, `BASH_ENV` and `ENV`
in a new shell, exported functions), values that hold a command substitution as text (bash
runs it when the value is used in arithmetic, as an array subscript, through `${x@P}` or
an indirect `${!x}`), and builtins that rebind names or load code (`hash -p`, `enable -f`,
`mapfile -C`). The walker does not model these exactly, so each one is a problem (the
guard asks).
"""

from __future__ import annotations

import re

from ralph.bash.words import Word

_CODE_VARIABLES = frozenset(
    {"PS0", "PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND", "BASH_ENV", "ENV", "SHELLOPTS"}
    | {"BASHOPTS", "BASH_LOADABLES_PATH", "EXECIGNORE", "INPUTRC", "ZDOTDIR", "PROMPT"}
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOLDS_CODE = re.compile(r"\$\(|`|\$\{")
_NAME_BUILTINS = frozenset(
    {"declare", "typeset", "local", "export", "readonly", "unset", "read", "mapfile"}
    | {"readarray", "let", "test", "[", "wait", "getopts"}
)
_REBINDS = {
    "hash": "hash rebinds command names to files",
    "enable": "enable loads or switches builtins",
    "fc": "fc re-runs commands from the history",
    "complete": "complete runs commands while completing",
    "bind": "bind runs commands on key presses",
}


def code_variable(assignment: str) -> str | None:
    """A problem if `NAME=value` (or a bare NAME) sets a variable bash runs as code."""
    name = re.split(r"\+?=|\[", assignment, maxsplit=1)[0]
    if name in _CODE_VARIABLES or name.startswith("BASH_FUNC_"):
        return f"sets {name}, which bash expands or runs as code"
    return None


def value_holds_code(value: Word) -> str | None:
    """A problem if a static value holds a substitution as text (`x='a[$(cmd)]'`)."""
    if not value.dynamic and _HOLDS_CODE.search(value.value):
        return f"a value holds a substitution as text, which bash may run: {value.value!r}"
    return None


def builtin_problem(program: str, words: list[Word]) -> str | None:
    """Builtins that rebind names, load code, or evaluate their arguments' subscripts."""
    args = [w.value for w in words[1:]]
    if program in _REBINDS and _rebinds(program, args):
        return _REBINDS[program]
    if program in ("declare", "typeset", "local") and any(
        a.startswith("-") and "n" in a for a in args
    ):
        return f"{program} -n makes a name refer to another variable"
    if program in ("mapfile", "readarray") and any(a.startswith("-C") for a in args):
        return f"{program} -C runs a callback as shell code"
    if program in _NAME_BUILTINS and any(
        not w.dynamic and _HOLDS_CODE.search(w.value) for w in words[1:]
    ):
        return f"{program} evaluates a name or subscript that holds a substitution as text"
    for name in assigned_names(program, words):
        problem = code_variable(name)
        if problem or _HOLDS_CODE.search(name):
            return problem or f"{program} sets a name that holds a substitution: {name!r}"
    return None


def _rebinds(program: str, args: list[str]) -> bool:
    if program == "hash":
        return any(a.startswith("-") and "p" in a for a in args)
    if program == "enable":
        return any(not a.startswith("-") or "f" in a or "n" in a or "d" in a for a in args)
    if program == "complete":
        return any(a.startswith("-") and "C" in a for a in args)
    return program in ("fc", "bind") and bool(args) and args != ["-l"]


def assigned_names(program: str, words: list[Word]) -> list[str]:
    """Variables a builtin sets: `read A B`, `printf -v NAME`, `mapfile NAME`, `export NAME`."""
    args = [w.value for w in words[1:]]
    if program == "printf":
        return [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-v"]
    if program in ("read", "mapfile", "readarray", "export", "declare", "typeset", "local"):
        return [a for a in args if not a.startswith("-") and _NAME.fullmatch(a)]
    return []


def backquote_body(raw: str, in_double_quotes: bool) -> str | None:
    """The command text of a `..` substitution as bash reads it, or None if unsure.

    bash ends the substitution at the first backquote not escaped by a backslash (quotes do
    not protect it), and removes the backslash before $, ` and \\ (and before " inside
    double quotes). The result is parsed again, so escaped backquotes nest.
    """
    if len(raw) < 2 or raw[0] != "`" or raw[-1] != "`":
        return None
    special = '$`\\"' if in_double_quotes else "$`\\"
    out: list[str] = []
    i, end = 1, len(raw) - 1
    while i < end:
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append(nxt if nxt in special else char + nxt)
            i += 2
            continue
        if char == "`":
            return None  # bash would end the substitution here, the parser did not
        out.append(char)
        i += 1
    return "".join(out) if i == end else None
