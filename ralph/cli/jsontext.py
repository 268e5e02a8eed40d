"""JSON text for the commands' --json output."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def indented(data: object, *, ensure_ascii: bool = False) -> str:
    """`json.dumps(data, indent=2, ensure_ascii=...)`, the same text several times faster:
    the standard library indents in pure Python, a generator per value; here a container
    of plain values (a step, a list of strings) is written by the C encoder in one call,
    with the indented separators, and only the containers around it are walked. Anything
    but plain JSON values is left to json.dumps, so the text is always its text."""
    try:
        return _Indented(ensure_ascii).text(data)
    except (_NotPlain, RecursionError, TypeError, ValueError):
        return json.dumps(data, indent=2, ensure_ascii=ensure_ascii)


class _NotPlain(Exception):
    """A value indented leaves to json.dumps."""


_PLAIN = frozenset({str, int, float, bool, type(None)})


class _Indented:
    """One indented text: the pieces so far, and a C encoder per indentation."""

    def __init__(self, ensure_ascii: bool) -> None:
        from json import encoder

        if encoder.c_make_encoder is None:
            raise _NotPlain
        self._make = encoder.c_make_encoder
        self._enc = encoder.encode_basestring_ascii if ensure_ascii else encoder.encode_basestring
        self._flat: dict[str, Callable[[object, int], Any]] = {}
        self.out: list[str] = []

    def text(self, data: object) -> str:
        self._value(data, "\n")
        return "".join(self.out)

    def _value(self, value: object, nl: str) -> None:
        kind = type(value)
        if kind is dict or kind is list or kind is tuple:
            if not value:
                self.out.append("{}" if kind is dict else "[]")
            elif all(type(v) in _PLAIN for v in (value.values() if kind is dict else value)):
                flat = "".join(self._encoder(nl + "  ")(value, 0))
                self.out.append(f"{flat[0]}{nl}  {flat[1:-1]}{nl}{flat[-1]}")
            elif kind is dict:
                self._dict(value, nl)  # type: ignore[arg-type]
            elif not self._records(value, nl):  # type: ignore[arg-type]
                self._list(value, nl)  # type: ignore[arg-type]
        elif kind in _PLAIN:
            self.out.append("".join(self._encoder(nl)([value], 0))[1:-1])
        else:
            raise _NotPlain

    def _dict(self, value: dict[object, object], nl: str) -> None:
        inner, sep = nl + "  ", "{"
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            self.out.append(f"{sep}{inner}{self._enc(key)}: ")
            self._value(item, inner)
            sep = ","
        self.out.append(nl + "}")

    def _list(self, value: list[object] | tuple[object, ...], nl: str) -> None:
        inner, sep = nl + "  ", "["
        for item in value:
            self.out.append(sep + inner)
            self._value(item, inner)
            sep = ","
        self.out.append(nl + "]")

    def _records(self, value: list[object] | tuple[object, ...], nl: str) -> bool:
        """A list of non-empty dicts of plain values (the steps) in one C encoder call, if
        it is one. Between two such dicts the encoder writes `},` and a line end: nowhere
        else (a line end in a string is escaped, and a key follows a separator in a dict),
        so that is where a step ends and the next begins."""
        if not all(type(d) is dict and d for d in value):
            return False
        if not {type(v) for d in value for v in d.values()} <= _PLAIN:  # type: ignore[attr-defined]
            return False
        item, field = nl + "  ", nl + "    "
        flat = "".join(self._encoder(field)(value, 0))[2:-2]
        body = flat.replace(f"}},{field}{{", f"{item}}},{item}{{{field}")
        self.out.append(f"[{item}{{{field}{body}{item}}}{nl}]")
        return True

    def _encoder(self, inner: str) -> Callable[[object, int], Any]:
        """The C encoder of a flat container at this indentation."""
        found = self._flat.get(inner)
        if found is None:
            found = self._make(None, None, self._enc, None, ": ", "," + inner, False, False, True)
            self._flat[inner] = found
        return found
