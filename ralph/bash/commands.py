"""Simple commands of a syntax tree: their words resolved, wrappers removed, recorded.

The statement walker (ralph.bash.walker) builds on `CommandWalker`; both only read nodes.
"""

from __future__ import annotations

import re
from typing import Any

from ralph.bash import evaluated, names, runners
from ralph.bash.model import Command
from ralph.bash.options import parse_args
from ralph.bash.runners import FIND_EXEC
from ralph.bash.words import Word, program_name
from ralph.bash.wordwalk import (
    MAX_REPARSE,
    WordWalker,
    _Ctx,
    _Redirs,
    _Stdin,
    _text,
)
from ralph.bash.wrappers import ASSIGNMENT, WRAPPERS, shell_mode, skip_wrapper

_RESERVED = frozenset(
    {"{", "}", "!", "[[", "]]", "if", "then", "elif", "else", "fi", "case", "esac", "for"}
    | {"select", "while", "until", "do", "done", "in", "function"}
)  # only a mis-parse (or a wrapper in front of a compound statement) makes these a command
_AWK_EXEC = re.compile(r"system\s*\(|(?<!\|)\|(?!\|)")


_CODE_CHARS = frozenset("`$")
"""Characters that mean code to a reader of a command name, even when escaped: ask."""


class CommandWalker(WordWalker):
    """Simple commands: resolved, unwrapped, recorded."""

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
            if head.dynamic or not head.plain or not program or _CODE_CHARS & set(program):
                why = "an expansion, a glob, $'..', $ or a backquote" if program else "no name"
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
        if program in names.OTHER_SHELLS and len(words) > 1:
            self.problem(f"{program} runs code in a language other than bash (not analysed)")
        if program in ("source", ".") and len(words) > 1:
            self.sourced(words[1], ctx, text, stdin)
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

    def sourced(self, script: Word, ctx: _Ctx, text: str, stdin: _Stdin | None) -> None:
        """`source FILE`: a file from stdin or a substitution is code the guard must read."""
        if script.dynamic and script.value.startswith(("<(", "$(", "`")):
            self.problem("source runs the output of a command as shell code")
        elif script.value in ("/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"):
            if stdin is not None and stdin.text is not None:
                self.reparse(Word(stdin.text), ctx, "source", text)
            else:
                self.problem("source runs shell code it reads from stdin")

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
