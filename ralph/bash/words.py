"""Shell words: unquoting, escapes in double quotes and here-docs, $'..' strings."""

from __future__ import annotations

import re
from dataclasses import dataclass

GLOB_CHARS = frozenset("*?[")


@dataclass(slots=True)
class Word:
    """One resolved word: its unquoted value, and whether it is literal."""

    value: str
    dynamic: bool = False  # contains an expansion we cannot resolve
    plain: bool = True  # static, no unquoted glob, no $'..': usable as a command name


def program_name(word: str) -> str:
    """The program name of a command word: its basename, without a Windows `.exe`."""
    name = re.split(r"[/\\]", word)[-1]
    return name[:-4] if name.lower().endswith(".exe") and len(name) > 4 else name


def unquoted(raw: str) -> Word:
    """An unquoted word: backslash escapes removed; unescaped glob characters noted."""
    if "\\" not in raw:
        return Word(raw, plain=bool(raw) and not GLOB_CHARS & set(raw))
    out: list[str] = []
    glob = False
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            if raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
            continue
        glob = glob or char in GLOB_CHARS
        out.append(char)
        i += 1
    value = "".join(out)
    return Word(value, plain=bool(value) and not glob)


def decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")  # a node may split a multi-byte character


def dq_unescape(text: str) -> str:
    """Backslash escapes inside double quotes: only $ ` " \\ and newline are special."""
    if "\\" not in text:
        return text
    return re.sub(r'\\([$`"\\])|\\\n', lambda m: m.group(1) or "", text)


def heredoc_unescape(text: str) -> str:
    """Backslash escapes in an unquoted here-doc: only $ ` \\ and newline are special."""
    if "\\" not in text:
        return text
    return re.sub(r"\\([$`\\])|\\\n", lambda m: m.group(1) or "", text)


UNESCAPE = {
    "word": lambda text: unquoted(text).value,
    "dq": dq_unescape,
    "heredoc": heredoc_unescape,
}


_ANSI_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_ANSI_RE = re.compile(
    r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|c.|.)", re.S
)


def ansi_c(body: str) -> str:
    """Decode the body of a $'...' string."""

    def one(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc[0] in "xuU" and len(esc) > 1:
            return chr(min(int(esc[1:], 16), 0x10FFFF))
        if esc[0].isdigit():
            return chr(int(esc, 8) & 0xFF)
        if esc[0] == "c" and len(esc) == 2:
            return chr(ord(esc[1]) & 0x1F)
        return _ANSI_ESCAPES.get(esc, "\\" + esc)

    return _ANSI_RE.sub(one, body)
