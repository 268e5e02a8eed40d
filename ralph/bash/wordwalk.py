"""Words of a syntax tree resolved to their values; the substitutions inside are walked.

The base of the walker: `WordWalker` (words) <- `CommandWalker` (simple commands) <-
the statement walker in ralph.bash.walker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ralph.bash import evaluated
from ralph.bash.model import Analysis, Command, Redirect
from ralph.bash.words import UNESCAPE, Word, ansi_c, decode, dq_unescape, unquoted

MAX_DEPTH = 128  # syntax-tree levels walked, counted across re-parsed -c strings
MAX_REPARSE = 8  # nested shell strings (bash -c 'bash -c ...'), eval, watch ...
_LITERAL_KINDS = frozenset(
    {"variable_name", "special_variable_name", "extglob_pattern", "regex", "test_operator"}
)
_SCANNED_KINDS = frozenset(
    {
        "arithmetic_expansion",
        "array",
        "subscript",
        "binary_expression",
        "unary_expression",
        "ternary_expression",
        "postfix_expression",
        "parenthesized_expression",
        "brace_expression",
    }
)


_HEREDOC_UNSEEN = re.compile(r"(?<!\\)(`|\$\()")  # `..` / $(..) tree-sitter left as text
_BRACES = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")


class _Ctx(NamedTuple):
    """What a command inherits from the constructs around it."""

    depth: int = 0
    reparse: int = 0
    redirects: tuple[Redirect, ...] = ()
    stdin_from: str | None = None
    input_from: tuple[str, ...] = ()
    wrappers: tuple[str, ...] = ()
    assignments: tuple[str, ...] = ()
    implicit_args: bool = False


@dataclass(slots=True)
class _Redirs:
    """What the redirections of one statement amount to."""

    redirects: list[Redirect] = field(default_factory=list)
    extra: list[Any] = field(default_factory=list)  # words after a target: really arguments
    followers: list[tuple[str, Any]] = field(default_factory=list)  # statements in a here-doc
    stdin: _Stdin | None = None


@dataclass(slots=True)
class _Stdin:
    """A here-doc or here-string on a command."""

    text: str | None  # static content, None if it has expansions


class WordWalker:
    """Walks syntax trees, collecting commands and problems."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.problems: list[str] = []
        self.assignments: list[str] = []
        self.cwd: str | None = "."

    def result(self) -> Analysis:
        problems = tuple(dict.fromkeys(self.problems))
        return Analysis(tuple(self.commands), problems, tuple(self.assignments))

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def isolated(self, walk: Any) -> None:
        """Run `walk` as a child process: a `cd` inside it does not leak out."""
        saved = self.cwd
        walk()
        self.cwd = saved

    # -- provided by the statement walker ------------------------------------------------------

    def script(self, data: bytes, ctx: _Ctx) -> None:
        raise NotImplementedError

    def stmt(self, node: Any, ctx: _Ctx) -> None:
        raise NotImplementedError

    def sequence(self, node: Any, ctx: _Ctx) -> None:
        raise NotImplementedError

    def redirect(self, node: Any, ctx: _Ctx, sink: _Redirs) -> None:
        raise NotImplementedError

    # -- words --------------------------------------------------------------------------------

    def word(self, node: Any, ctx: _Ctx) -> Word:
        """Resolve one word node; substitutions inside it are analysed as commands."""
        kind = node.type
        if kind == "word":
            return unquoted(_text(node))
        if kind == "raw_string":
            return Word(_text(node)[1:-1])
        if kind == "number" or kind in _LITERAL_KINDS:
            return Word(_text(node))
        if kind == "string" or kind == "translated_string":
            return self.pieces(node, ctx, "dq", dynamic=kind == "translated_string")
        if kind == "concatenation":
            return self.pieces(node, ctx, "word")
        if kind == "simple_expansion" or kind == "expansion":
            return self.expansion(node, ctx)
        if kind == "command_substitution" or kind == "process_substitution":
            return self.substitution(node, ctx)
        if kind == "ansi_c_string":
            return Word(ansi_c(_text(node)[2:-1]), plain=False)
        if kind == "string_content":
            return Word(dq_unescape(_text(node)))
        if kind in _SCANNED_KINDS:
            self.parts(node, ctx)
            return Word(_text(node), dynamic=True, plain=False)
        if kind in ("comment", "heredoc_start", "heredoc_body", "heredoc_end", "file_descriptor"):
            return Word(_text(node))
        self.stmt(node, ctx)  # unknown or statement kinds: walk (or report) them
        return Word(_text(node), dynamic=True, plain=False)

    def pieces(self, node: Any, ctx: _Ctx, mode: str, dynamic: bool = False) -> Word:
        """Join the parts of a string, concatenation or here-doc body.

        Text between named children (and string/here-doc content) is literal, unescaped
        as `mode` says: "word" (unquoted), "dq" (inside double quotes) or "heredoc".
        """
        data = node.text or b""
        base = node.start_byte
        pos, end = (0, len(data)) if mode != "dq" else (1, len(data) - 1)
        if mode == "dq" and data[:1] == b"$":  # $"translated"
            pos = 2
        out: list[str] = []
        plain = True
        braces = False
        for child in node.named_children:
            if child.type in ("string_content", "heredoc_content"):
                continue  # literal: read from the gaps below
            lo, hi = child.start_byte - base, child.end_byte - base
            lo += len(data[lo:hi]) - len(data[lo:hi].lstrip())  # tree-sitter puts " $x" in $x
            if lo > pos:
                text, seen = self.literal(data[pos:lo], mode)
                out.append(text)
                dynamic = dynamic or not seen
            part = self.word(child, ctx)
            if mode == "word" and child.type == "word":
                braces = braces or part.value in ("{", "}")
            out.append(part.value)
            dynamic = dynamic or part.dynamic
            plain = plain and part.plain
            pos = max(pos, hi)
        if end > pos:
            text, seen = self.literal(data[pos:end], mode)
            out.append(text)
            dynamic = dynamic or not seen
        value = "".join(out)
        if braces and _BRACES.search(value):  # brace expansion: it makes several words
            dynamic, plain = True, False
        return Word(value, dynamic, plain and not dynamic)

    def literal(self, data: bytes, mode: str) -> tuple[str, bool]:
        """Text between the parts of a word, string or here-doc, unescaped, and whether it
        is really literal (False: it holds a substitution the parser left as text)."""
        text = decode(data)
        if _HEREDOC_UNSEEN.search(text.replace("\\\\", "")):
            where = "here-document" if mode == "heredoc" else "word"
            self.problem(f"{where} has a substitution the parser did not see")
            return text, False
        return UNESCAPE[mode](text), True

    def expansion(self, node: Any, ctx: _Ctx) -> Word:
        text = _text(node).lstrip()
        known = _KNOWN_VARIABLES.get(text)
        if known is not None:
            return Word(known)
        if node.type == "expansion":
            self.parts(node, ctx)
            if text.endswith("@P}"):
                self.problem("${var@P} expands a value as a prompt (it runs substitutions)")
        return Word(text, dynamic=True, plain=False)

    def parts(self, node: Any, ctx: _Ctx) -> None:
        """Walk the parts of an expansion or expression for the substitutions inside."""
        if ctx.depth > MAX_DEPTH:
            self.problem(f"nesting deeper than {MAX_DEPTH} syntax levels")
            return
        deeper = ctx._replace(depth=ctx.depth + 1)
        for child in node.named_children:
            self.word(child, deeper)

    def substitution(self, node: Any, ctx: _Ctx) -> Word:
        sub = ctx._replace(redirects=(), assignments=(), implicit_args=False)
        text = _text(node).lstrip()
        if node.children and node.children[0].type == "`":
            self.backquoted(node, sub, text)
        else:
            self.isolated(lambda: self.sequence(node, sub._replace(depth=ctx.depth + 1)))
        return Word(text, dynamic=True, plain=False)

    def backquoted(self, node: Any, ctx: _Ctx, text: str) -> None:
        """`..`: bash unescapes the text and parses it again (escaped backquotes nest)."""
        parent = node.parent
        body = evaluated.backquote_body(text, parent is not None and parent.type == "string")
        if body is None:
            self.problem("backquoted substitution that bash may split differently")
            self.isolated(lambda: self.sequence(node, ctx._replace(depth=ctx.depth + 1)))
        elif ctx.reparse >= MAX_REPARSE:
            self.problem(f"backquotes nested more than {MAX_REPARSE} levels")
        else:
            data = body.encode("utf-8", "surrogatepass")
            inner = ctx._replace(reparse=ctx.reparse + 1, depth=ctx.depth + 1)
            self.isolated(lambda: self.script(data, inner))


# ---------------------------------------------------------------------------------------------
# Helpers on nodes and text.

_KNOWN_VARIABLES = {"$HOME": "~", "${HOME}": "~", "$PWD": ".", "${PWD}": "."}


def _text(node: Any) -> str:
    return decode(node.text or b"")


def _flatten(node: Any) -> list[Any]:
    """Children of a sequence, with nested `list` nodes flattened (they nest left-deep)."""
    out: list[Any] = []
    stack = list(reversed(node.children))
    while stack:
        child = stack.pop()
        if child.type == "list":
            stack.extend(reversed(child.children))
        else:
            out.append(child)
    return out
