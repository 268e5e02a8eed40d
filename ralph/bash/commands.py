"""Simple commands and words of a syntax tree: resolved, unwrapped and recorded.

The statement walker (ralph.bash.walker) builds on `CommandWalker`; both only read nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ralph.bash import evaluated, names, runners
from ralph.bash.model import Analysis, Command, Redirect
from ralph.bash.options import parse_args
from ralph.bash.runners import FIND_EXEC
from ralph.bash.words import UNESCAPE, Word, ansi_c, decode, dq_unescape, program_name, unquoted
from ralph.bash.wrappers import ASSIGNMENT, WRAPPERS, shell_mode, skip_wrapper

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


_RESERVED = frozenset(
    {"{", "}", "!", "[[", "]]", "if", "then", "elif", "else", "fi", "case", "esac", "for"}
    | {"select", "while", "until", "do", "done", "in", "function"}
)  # only a mis-parse (or a wrapper in front of a compound statement) makes these a command
_AWK_EXEC = re.compile(r"system\s*\(|(?<!\|)\|(?!\|)")
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


class CommandWalker:
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

    # -- simple commands ----------------------------------------------------------------------

    def command(self, node: Any, ctx: _Ctx, sink: _Redirs | None = None, text: Any = None) -> None:
        """One `command` node: resolve its words, then unwrap and record it."""
        start = len(self.commands)
        sink = sink or _Redirs()
        sub = ctx._replace(redirects=(), assignments=(), implicit_args=False)
        assignments: list[str] = []
        words: list[Word] = []
        for i, child in enumerate(node.children):
            fieldname = node.field_name_for_child(i)
            kind = child.type
            if kind == "variable_assignment":
                assignments.append(self.assignment(child, sub).value)
            elif fieldname == "name" or fieldname == "argument":
                words.append(self.argument(child, sub))
            elif fieldname == "redirect" or kind.endswith("redirect"):
                self.redirect(child, sub, sink)
            elif kind != "comment":
                self.problem(f"unsupported shell syntax in a command: {kind}")
        words.extend(self.word(child, sub) for child in sink.extra)
        cmd_ctx = ctx._replace(
            redirects=ctx.redirects + tuple(sink.redirects),
            assignments=ctx.assignments + tuple(assignments),
            input_from=ctx.input_from + _programs(self.commands[start:]),
        )
        if words and (words[0].value or words[0].dynamic):
            source = _text(text if text is not None else node)
            self.execute(words, cmd_ctx, source, sink.stdin, in_shell=True)
        elif words:
            self.problem("empty command name")
        elif sink.redirects:
            self.problem("redirection without a command")
        else:
            self.assignments.extend(assignments)

    def argument(self, node: Any, ctx: _Ctx) -> Word:
        """A command name or argument node."""
        if not node.is_named:  # e.g. the `$` of $"..." comes out as a bare token
            self.problem(f"unsupported word syntax: {_text(node)!r}")
            return Word(_text(node), dynamic=True, plain=False)
        if node.type != "command_name":
            return self.word(node, ctx)
        if node.named_child_count != 1:
            self.problem("unsupported command name syntax")
            return Word(_text(node), dynamic=True, plain=False)
        return self.word(node.named_children[0], ctx)

    def assignment(self, node: Any, ctx: _Ctx) -> Word:
        """`NAME=value` with the value resolved (its substitutions are analysed)."""
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name is not None and name.type == "subscript":
            self.word(name, ctx)  # a[$(cmd)]=x: the subscript is expanded
        word = Word("") if value is None else self.word(value, ctx)
        op = "+=" if any(c.type == "+=" for c in node.children) else "="
        text = f"{_text(name) if name else ''}{op}{word.value}"
        for problem in (evaluated.code_variable(text), evaluated.value_holds_code(word)):
            if problem:
                self.problem(problem)
        return Word(text, word.dynamic)

    def declaration(self, node: Any, ctx: _Ctx) -> None:
        """`export/local/declare/readonly/typeset/unset ...`: a builtin command of its own."""
        start = len(self.commands)
        words = [Word(_text(node.children[0]))]
        for child in node.named_children:
            if child.type == "variable_assignment":
                word = self.assignment(child, ctx)
                self.assignments.append(word.value)
            else:
                word = self.word(child, ctx)
            words.append(word)
        ctx = ctx._replace(input_from=ctx.input_from + _programs(self.commands[start:]))
        problem = evaluated.builtin_problem(words[0].value, words)
        if problem:
            self.problem(problem)
        self.record(words, ctx, _text(node), None)

    # -- unwrapping ---------------------------------------------------------------------------

    def execute(
        self, words: list[Word], ctx: _Ctx, text: str, stdin: _Stdin | None, in_shell: bool
    ) -> None:
        """Unwrap wrappers around `words`, then record the real command (or recurse into it)."""
        outer = len(ctx.wrappers)
        start = self.cwd
        real, ctx, shells = self.unwrap(words, ctx, text, stdin)
        moved = self.cwd != start  # env -C DIR / sudo -D DIR
        for shell in shells:
            self.reparse(shell, ctx, ctx.wrappers[-1], text, add_wrapper=False)
        if real and not shells:
            program = program_name(real[0].value)
            if program in _RESERVED:
                self.problem(f"shell keyword used as a command name: {program!r}")
            elif ASSIGNMENT.match(real[0].value):
                self.problem(f"command name looks like an assignment: {real[0].value!r}")
            direct = set(ctx.wrappers[outer:]) <= {"builtin", "command"}
            self.special(program, real, ctx, text, stdin, in_shell and direct and not moved)
        if moved:
            self.cwd = start

    def unwrap(
        self, words: list[Word], ctx: _Ctx, text: str, stdin: _Stdin | None
    ) -> tuple[list[Word], _Ctx, list[Word]]:
        """Remove wrappers: (the real command's words, its context, or shell code to run).

        An opaque command name is recorded here, with a problem, and gives no words.
        """
        while True:
            head = words[0]
            program = program_name(head.value)
            if head.dynamic or not head.plain or not program:
                why = "an expansion, a glob or $'..'" if program else "no program name"
                self.problem(f"command name is not a plain word ({why}): {head.value!r}")
                self.record(words, ctx, text, stdin, program=head.value)
                return [], ctx, []
            spec = WRAPPERS.get(program)
            if spec is None:
                return words, ctx, []
            unwrapped = skip_wrapper(spec, words)
            if unwrapped.problem:
                self.problem(f"{program}: {unwrapped.problem}")
            if not unwrapped.shells and not unwrapped.rest:
                return words, ctx, []  # no command follows: the wrapper is the command
            if unwrapped.chdir is not None:
                self.cwd = _cd(self.cwd, [Word("cd"), unwrapped.chdir])
            self.check_assignments(unwrapped.assignments)
            ctx = ctx._replace(
                wrappers=(*ctx.wrappers, program),
                assignments=ctx.assignments + unwrapped.assignments,
                implicit_args=ctx.implicit_args or spec.implicit_args,
            )
            if unwrapped.shells:
                return [], ctx, unwrapped.shells
            words = unwrapped.rest

    def special(
        self,
        program: str,
        words: list[Word],
        ctx: _Ctx,
        text: str,
        stdin: _Stdin | None,
        tracks_cd: bool,
    ) -> None:
        """Record the real command; look inside the ones that run other commands."""
        if program in names.SHELLS:
            self.shell(program, words, ctx, text, stdin)
            return
        own = words
        if program == "eval":
            self.problem("eval runs a string as shell code")
        elif program == "alias" and any("=" in w.value for w in words[1:]):
            self.problem("alias definition (it rebinds command names)")
        elif program in names.AWKS and any(_AWK_EXEC.search(w.value) for w in words[1:]):
            self.problem("awk program runs commands (system() or a pipe)")
        elif program == "find":
            own = self.find_exec(words, ctx)
        problem = evaluated.builtin_problem(program, words)
        if problem:
            self.problem(problem)
        self.record(words, ctx, text, stdin, parse=own)
        if tracks_cd and program in ("cd", "pushd", "popd"):
            self.cwd = _cd(self.cwd, words)
        if program == "eval" and len(words) > 1:
            joined = Word(" ".join(w.value for w in words[1:]), any(w.dynamic for w in words))
            self.reparse(joined, ctx, "eval", text)
        self.inside(program, words, ctx, text)

    def check_assignments(self, assignments: tuple[str, ...]) -> None:
        """`env PS4=... bash -x`, `sudo BASH_ENV=...`: variables bash runs as code."""
        for assignment in assignments:
            problem = evaluated.code_variable(assignment)
            if problem:
                self.problem(problem)

    def inside(self, program: str, words: list[Word], ctx: _Ctx, text: str) -> None:
        """Walk what a program runs from its arguments: shell code, or a command (runners)."""
        found = runners.inside(program, words)
        self.check_assignments(found.assignments)
        for problem in found.problems:
            self.problem(f"{program}: {problem}")
        for source in found.shells:
            self.reparse(source, ctx, program, text)
        if found.command:
            inner = ctx._replace(
                wrappers=(*ctx.wrappers, program),
                assignments=ctx.assignments + found.assignments,
                implicit_args=ctx.implicit_args or found.implicit_args,
            )
            start = self.cwd
            if found.chdir is not None:
                self.cwd = _cd(self.cwd, [Word("cd"), found.chdir])
            self.execute(found.command, inner, text, None, False)
            self.cwd = start

    def shell(
        self, program: str, words: list[Word], ctx: _Ctx, text: str, stdin: _Stdin | None
    ) -> None:
        """`bash [opts] -c STRING`, `bash script`, or a shell reading its stdin."""
        mode, operand = shell_mode(words)
        if any(a.startswith(("BASH_ENV=", "ENV=")) for a in ctx.assignments):
            self.problem("shell started with BASH_ENV/ENV set (it sources an unseen script)")
        if mode == "-c" and operand is not None and ctx.implicit_args and "{}" in operand.value:
            self.problem(f"{program} -c code has {{}} filled in at run time (xargs -I, find -exec)")
            self.record(words, ctx, text, stdin)
        elif mode == "-c" and operand is not None:
            self.reparse(operand, ctx, program, text, fallback=(words, stdin))
        elif mode == "stdin" and stdin is not None:  # here-doc / here-string: runs its content
            if stdin.text is None:
                self.problem(f"{program} reads a here-document with expansions")
                self.record(words, ctx, text, stdin)
            else:
                self.reparse(Word(stdin.text), ctx, program, text, fallback=(words, stdin))
        else:  # a script file, a stdin pipe, an interactive shell, --help ...
            if mode == "stdin" and ctx.stdin_from is not None:
                self.problem(f"{program} runs code it reads from a pipe ({ctx.stdin_from})")
            self.record(words, ctx, text, stdin)

    def reparse(
        self,
        source: Word,
        ctx: _Ctx,
        runner: str,
        text: str,
        fallback: tuple[list[Word], _Stdin | None] | None = None,
        add_wrapper: bool = True,
    ) -> None:
        """Analyse a string that `runner` executes as shell code.

        Its commands carry `runner` as a wrapper. If the string cannot be analysed or runs
        nothing, the `fallback` command (the shell itself) is recorded instead.
        """
        start = len(self.commands)
        if source.dynamic:
            self.problem(f"{runner} runs a shell string that is not static: {source.value!r}")
        elif ctx.reparse >= MAX_REPARSE:
            self.problem(f"shell strings nested more than {MAX_REPARSE} levels")
        else:
            inner = ctx._replace(reparse=ctx.reparse + 1)
            if add_wrapper:
                inner = inner._replace(wrappers=(*ctx.wrappers, runner))
            data = source.value.encode("utf-8", "surrogatepass")
            self.isolated(lambda: self.script(data, inner))
        if fallback is not None and len(self.commands) == start:
            self.record(fallback[0], ctx, text, fallback[1])

    def find_exec(self, words: list[Word], ctx: _Ctx) -> list[Word]:
        """Record the commands of `find ... -exec CMD ... ;|+`; return find's own words."""
        own: list[Word] = []
        i = 0
        while i < len(words):
            word = words[i]
            own.append(word)
            i += 1
            if word.value not in FIND_EXEC or len(own) == 1:
                continue
            end = i
            while end < len(words) and words[end].value not in (";", "+"):
                end += 1
            if end >= len(words):
                self.problem(f"find {word.value} without a terminating ';' or '+'")
            if end > i:
                inner = ctx._replace(wrappers=(*ctx.wrappers, "find"), implicit_args=True)
                text = " ".join(w.value for w in words[i - 1 : end + 1])
                self.execute(words[i:end], inner, text, None, in_shell=False)
            i = end + 1
        return own

    # -- recording ----------------------------------------------------------------------------

    def record(
        self,
        words: list[Word],
        ctx: _Ctx,
        text: str,
        stdin: _Stdin | None,
        program: str | None = None,
        parse: list[Word] | None = None,
    ) -> None:
        """Append the command `words` (argv) to the result."""
        argv = tuple(w.value for w in words)
        name = program if program is not None else program_name(argv[0])
        flags, args, values = parse_args(name, (parse or words)[1:])
        self.commands.append(
            Command(
                program=name,
                argv=argv,
                flags=frozenset(flags),
                args=tuple(a.value for a in args),
                subcommand=args[0].value if args else None,
                redirects=ctx.redirects,
                wrappers=ctx.wrappers,
                dynamic_args=tuple(w.value for w in words[1:] if w.dynamic),
                stdin_from=ctx.stdin_from,
                assignments=ctx.assignments,
                text=text,
                option_values=tuple((opt, w.value) for opt, w in values),
                input_from=tuple(dict.fromkeys(ctx.input_from)),
                stdin_text=stdin.text if stdin is not None else None,
                implicit_args=ctx.implicit_args,
                cwd=self.cwd,
            )
        )

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


def _programs(commands: list[Command]) -> tuple[str, ...]:
    return tuple(c.program for c in commands)


def _cd(cwd: str | None, words: list[Word]) -> str | None:
    """The directory after `cd`/`pushd`/`popd` with these words, None if unknown."""
    if program_name(words[0].value) == "popd":
        return None
    targets = [w for w in words[1:] if not w.value.startswith("-") or w.value == "-"]
    if not targets:
        return "~"
    target = targets[0]
    if target.dynamic or target.value == "-" or cwd is None:
        return None
    value = target.value
    if value.startswith(("/", "~")) or cwd == ".":
        return value
    return f"{cwd.rstrip('/')}/{value}"
