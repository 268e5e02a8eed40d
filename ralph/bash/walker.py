"""What a shell command string would execute: a tree-sitter-bash analysis for the guard.

`analyze(source)` parses the string and returns every simple command that would run anywhere
in it (lists, pipelines, subshells, groups, loops, conditionals, function bodies, command and
process substitutions, `bash -c` strings, here-docs fed to shells, `find -exec`, `xargs`,
`watch`, `eval` ...), each described as a `Command`, plus `problems`: the reasons the analysis
cannot be trusted (the policy fails closed on any of them). It never raises.

The model of a command:
- Words are unquoted ('rm' -> rm, r''m -> rm, "a b" -> a b, g\\it -> git). `$HOME`/`${HOME}`
  become `~`, `$PWD`/`${PWD}` become `.`; `~` and globs are kept as written for the policy to
  expand. Any other expansion (`$X`, `$(..)`, `${X:-y}`, `$((..))`, brace expansion) leaves
  the text as written and lists the word in `dynamic_args`; substitutions inside are analysed
  as commands of their own (they run first).
- The command name must be a plain literal after unquoting; otherwise (`$X`, `$(echo rm)`,
  `$'\\x72m'`, `rm${IFS}-rf`, globs) the command is kept, with the name as resolved as the
  program, and a problem is added.
- Wrappers (`sudo`, `env`, `timeout`, `xargs`, `nice`, ... see `_WRAPPERS`) are removed with
  their own options and recorded in `wrappers` (`env VAR=x` and `sudo VAR=x` add to
  `assignments`; `env -C DIR`/`sudo -D DIR` set `cwd`). `bash|sh|... -c STRING`, shells fed
  a static here-doc/here-string, `watch`, `eval`, `su -c`, `flock -c`, `git submodule
  foreach`, `git rebase --exec`, tar's exec actions and `find -exec` have their command text
  analysed recursively: the inner commands carry the outer wrappers plus the program that
  ran them. A shell with a script file, reading a pipe, or whose string runs nothing is
  recorded itself (program "bash", `stdin_from` naming what feeds it).
- Redirections are recorded on the command they apply to; words after a redirect target
  (`cmd > f arg`) are arguments. Redirections of a compound statement (`{ }`, `( )`, loops,
  `if`, a pipeline, and a list: tree-sitter attaches `a && b > f` to the whole list) are added
  to every command inside it, so every write target is visible on a concrete command (an
  over-approximation). Here-docs and here-strings are data (`stdin_text`), not redirect
  targets, unless fed to a shell, which parses them as code.
- `cwd` follows literal `cd`/`pushd` within one shell: "." is where the input starts, None
  means unknown (a dynamic `cd`, or a `cd` that may have failed before `;`, `||`, newline).
- Flags: short clusters are split (`-rf` -> -r, -f), long flags keep their name (`--x=v` ->
  --x), `-9` stays whole; a small per-program table (`_OPTIONS`) says which options take a
  value: that value goes to `option_values`, not `args`. Unknown programs count every
  non-flag word as positional. `subcommand` is the first positional.
"""

from __future__ import annotations

import re
import shlex
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

MAX_SOURCE_BYTES = 64 * 1024
MAX_DEPTH = 128  # syntax-tree levels walked, counted across re-parsed -c strings
MAX_REPARSE = 8  # nested shell strings (bash -c 'bash -c ...'), eval, watch ...


@dataclass(frozen=True)
class Redirect:
    """One redirection. For `>&`/`<&` a numeric target is a file descriptor, `-` closes it."""

    op: str  # ">", ">>", ">|", "&>", "&>>", "<", ">&", "2>", "2>&" ... as written, fd kept
    target: str | None  # the target word after unquoting; None if not a static word


@dataclass(frozen=True)
class Command:
    """One simple command that would execute, after unwrapping wrappers."""

    program: str  # basename of the real program ("rm" for "/bin/rm", "sudo rm", "env X=1 rm")
    argv: tuple[str, ...]  # words after unquoting; argv[0] is the program word as written
    flags: frozenset[str]  # "-rf" -> {"-r", "-f"}; "--force"; "--x=v" -> "--x"
    args: tuple[str, ...]  # positional words (all after "--"); known option values excluded
    subcommand: str | None  # first positional after global options (git "reset", kubectl "apply")
    redirects: tuple[Redirect, ...]
    wrappers: tuple[str, ...]  # wrappers removed, outermost first: ("sudo", "timeout")
    dynamic_args: tuple[str, ...]  # argv words with unresolvable expansions, text as written
    stdin_from: str | None  # program feeding this command's stdin through a pipe, if any
    assignments: tuple[str, ...]  # leading VAR=value words (also from `env VAR=value`)
    text: str  # source text of this command
    option_values: tuple[tuple[str, str], ...] = ()  # ("--output", "f"), ("-c", "code"), ...
    input_from: tuple[str, ...] = ()  # programs whose output reaches it: pipe, $(..), <(..)
    stdin_text: str | None = None  # static here-doc / here-string content fed to stdin
    implicit_args: bool = False  # gets more arguments at run time (xargs, find -exec {})
    cwd: str | None = "."  # directory it runs in, relative to the start; None if unknown


@dataclass(frozen=True)
class Analysis:
    """Everything that would execute in one input, and why the analysis may be incomplete."""

    commands: tuple[Command, ...]  # every command that would execute, in execution order:
    # substitutions before the command using them, a `find -exec` command right before its find
    problems: tuple[str, ...]  # fail-closed reasons -> the policy returns at least "confirm"
    assignments: tuple[str, ...] = ()  # standalone VAR=value statements (PATH=..., BASH_ENV=...)


def analyze(source: str) -> Analysis:
    """Analyse a shell command string. Never raises: failures become `problems`."""
    try:
        data = source.encode("utf-8", "surrogatepass")
        if len(data) > MAX_SOURCE_BYTES:
            return Analysis((), (f"input longer than {MAX_SOURCE_BYTES} bytes",))
        walker = _Walker()
        if b"\0" in data:
            walker.problem("NUL byte in input")
        walker.script(data, _Ctx())
        return walker.result()
    except Exception as exc:  # the guard fails closed, never open
        return Analysis((), (f"internal error: {type(exc).__name__}: {exc}",))


# ---------------------------------------------------------------------------------------------
# The parser: built on first use, one per thread (tree-sitter parsers are not thread-safe).

_local = threading.local()


def parser() -> Any:
    """The tree-sitter-bash parser for this thread (imported and built on first use)."""
    parser_ = getattr(_local, "parser", None)
    if parser_ is None:
        import tree_sitter
        import tree_sitter_bash

        parser_ = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
        _local.parser = parser_
    return parser_


# ---------------------------------------------------------------------------------------------
# Node kinds the walker understands. Anything else is a problem (fail closed).

_SEQUENCES = frozenset({"program", "compound_statement", "do_group", "else_clause", "case_item"})
_CONDITIONALS = frozenset(
    {
        "if_statement",
        "elif_clause",
        "while_statement",
        "for_statement",
        "c_style_for_statement",
        "case_statement",
    }
)
_WORDS = frozenset(
    {
        "word",
        "number",
        "string",
        "raw_string",
        "ansi_c_string",
        "translated_string",
        "concatenation",
        "simple_expansion",
        "expansion",
        "command_substitution",
        "process_substitution",
        "arithmetic_expansion",
        "brace_expression",
        "array",
        "variable_name",
        "special_variable_name",
        "extglob_pattern",
        "regex",
        "test_operator",
        "subscript",
        "binary_expression",
        "unary_expression",
        "ternary_expression",
        "postfix_expression",
        "parenthesized_expression",
        "string_content",
    }
)
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

_STATEMENTS = frozenset(
    {
        "command",
        "redirected_statement",
        "list",
        "pipeline",
        "subshell",
        "negated_command",
        "function_definition",
        "declaration_command",
        "unset_command",
        "variable_assignments",
        "variable_assignment",
        "test_command",
        "ERROR",  # walked for what it shows, after the parse error is reported
    }
)
_PARTS = frozenset(  # handled by their parent statement
    {
        "command_name",
        "file_redirect",
        "heredoc_redirect",
        "herestring_redirect",
        "heredoc_start",
        "heredoc_body",
        "heredoc_content",
        "heredoc_end",
        "file_descriptor",
        "comment",
    }
)
_IGNORED = frozenset({"comment", "heredoc_start", "heredoc_body", "heredoc_content", "heredoc_end"})
UNDERSTOOD_KINDS = _SEQUENCES | _CONDITIONALS | _STATEMENTS | _WORDS | _PARTS
"""Every named tree-sitter-bash node kind the analysis handles; any other kind is a problem."""

_RESERVED = frozenset(
    {"{", "}", "!", "[[", "]]", "if", "then", "elif", "else", "fi", "case", "esac", "for"}
    | {"select", "while", "until", "do", "done", "in", "function"}
)  # only a mis-parse (or a wrapper in front of a compound statement) makes these a command
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "yash", "posh", "rbash"})
_AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk"})
_AWK_EXEC = re.compile(r"system\s*\(|(?<!\|)\|(?!\|)")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_GLOB_CHARS = frozenset("*?[")
_HEREDOC_UNSEEN = re.compile(r"(?<!\\)(`|\$\()")  # `..` / $(..) tree-sitter left as text
# tree-sitter-bash 0.25.1 passes the character after `{` (or after `{N..`) to the narrow
# isdigit(), which reads far outside its table for non-ASCII code points and can segfault
# (tree-sitter/tree-sitter-bash#337, fix in PR #348). Such input is never parsed.
_SCANNER_CRASH = re.compile(rb"\{[0-9]*(?:\.\.[0-9]*)?[\x80-\xff]")
_UNSEEN = "\0unseen\0"  # a sentinel object (compared with `is`)
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
class _Word:
    """One resolved word: its unquoted value, and whether it is literal."""

    value: str
    dynamic: bool = False  # contains an expansion we cannot resolve
    plain: bool = True  # static, no unquoted glob, no $'..': usable as a command name


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


class _Walker:
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

    # -- statements ---------------------------------------------------------------------------

    def script(self, data: bytes, ctx: _Ctx) -> None:
        """Parse and walk one shell source text (the input, or a re-parsed -c string)."""
        if _SCANNER_CRASH.search(data):
            self.problem("'{' before a non-ASCII character: not parsed (tree-sitter-bash#337)")
            return
        root = parser().parse(data).root_node
        if root.has_error:
            self.problem("parse error: the shell syntax is incomplete or not understood")
        self.stmt(root, ctx)

    def stmt(self, node: Any, ctx: _Ctx) -> None:
        kind = node.type
        if ctx.depth > MAX_DEPTH:
            self.problem(f"nesting deeper than {MAX_DEPTH} syntax levels")
            return
        ctx = ctx._replace(depth=ctx.depth + 1)
        if kind == "command":
            self.command(node, ctx)
        elif kind == "redirected_statement":
            self.redirected(node, ctx)
        elif kind == "list" or kind in _SEQUENCES or kind == "ERROR":
            self.sequence(node, ctx)
        elif kind == "pipeline":
            self.pipeline(node, ctx, None)
        elif kind in _CONDITIONALS:
            before = self.cwd
            self.sequence(node, ctx)
            if self.cwd != before:  # the body may not have run
                self.cwd = None
        elif kind == "subshell":
            self.isolated(lambda: self.sequence(node, ctx))
        elif kind == "negated_command":
            self.sequence(node, ctx)
        elif kind == "function_definition":
            self.problem("function definition (it can rebind command names)")
            body = node.child_by_field_name("body")
            if body is not None:
                self.isolated(lambda: self.stmt(body, ctx))
        elif kind == "declaration_command" or kind == "unset_command":
            self.declaration(node, ctx)
        elif kind == "variable_assignments":
            for child in node.named_children:
                self.stmt(child, ctx)
        elif kind == "variable_assignment":
            self.assignments.append(self.assignment(node, ctx).value)
        elif kind == "test_command":
            for child in node.named_children:
                self.word(child, ctx)
        elif kind in _WORDS:
            self.word(node, ctx)
        elif kind in _IGNORED:
            pass
        else:
            self.problem(f"unsupported shell syntax: {kind}")

    def sequence(self, node: Any, ctx: _Ctx) -> None:
        """Walk statements run one after another, tracking `cd` between them.

        A `cd` is known to have worked only for the statements joined to it by `&&`; after
        any other separator the directory is unknown if it changed. `&` puts the whole
        and-or list before it in the background, so its `cd` does not count.
        """
        op: str | None = None
        first = True
        chain_start = list_start = self.cwd
        for child in _flatten(node):
            if not child.is_named:
                op = child.type
                if op == "&":
                    self.cwd = list_start
                continue
            if not first and op != "&&":
                if self.cwd != chain_start:
                    self.cwd = None  # the cd may have failed before this statement
                chain_start = self.cwd
                if op != "||":
                    list_start = self.cwd
            self.stmt(child, ctx)
            op, first = None, False

    def isolated(self, walk: Any) -> None:
        """Run `walk` as a child process: a `cd` inside it does not leak out."""
        saved = self.cwd
        walk()
        self.cwd = saved

    def pipeline(self, node: Any, ctx: _Ctx, first: str | None) -> None:
        """Walk pipeline stages; each reads what the stages before it produced.

        `stdin_from` is the last program of the previous stage; `input_from` gathers every
        program of the earlier stages (`curl x | tee f | sh`: sh runs what curl fetched).
        """
        feeder = first
        fed: tuple[str, ...] = (first,) if first else ()
        for child in node.named_children:
            start = len(self.commands)
            stage = ctx
            if feeder is not None:
                stage = ctx._replace(stdin_from=feeder, input_from=ctx.input_from + fed)
            self.isolated(lambda child=child, stage=stage: self.stmt(child, stage))
            programs = _programs(self.commands[start:])
            fed += programs
            feeder = programs[-1] if programs else None

    def redirected(self, node: Any, ctx: _Ctx) -> None:
        """A statement with redirections: they apply to every command inside the body."""
        body = node.child_by_field_name("body")
        sink = _Redirs()
        for child in node.children:
            if child != body:
                self.redirect(child, ctx, sink)
        start = len(self.commands)
        if body is None:
            self.problem("redirection without a command")
        elif body.type == "command":
            self.command(body, ctx, sink, text=node)
        else:
            if sink.extra:
                self.problem("words after the redirection of a compound statement")
            self.stmt(body, ctx._replace(redirects=ctx.redirects + tuple(sink.redirects)))
        self.follow(sink.followers, ctx, start)

    def follow(self, followers: list[tuple[str, Any]], ctx: _Ctx, start: int) -> None:
        """Statements tree-sitter nests inside a here-doc redirect (`cat <<EOF | sh`, `&& x`)."""
        for how, node in followers:
            if how == "pipe":
                programs = [c.program for c in self.commands[start:]]
                self.pipeline(node, ctx, programs[-1] if programs else None)
            else:
                self.stmt(node, ctx)

    # -- redirections -------------------------------------------------------------------------

    def redirect(self, node: Any, ctx: _Ctx, sink: _Redirs) -> None:
        """Read one redirect node into `sink`."""
        kind = node.type
        sub = ctx._replace(redirects=(), assignments=(), implicit_args=False)
        if kind == "file_redirect":
            self.file_redirect(node, sub, sink)
        elif kind == "herestring_redirect":
            text: str | None = ""
            for child in node.named_children:
                word = self.word(child, sub)
                text = None if word.dynamic else word.value + "\n"
            sink.stdin = _Stdin(text)
        elif kind == "heredoc_redirect":
            self.heredoc(node, sub, sink)
        elif kind != "comment":
            self.stmt(node, ctx)

    def file_redirect(self, node: Any, ctx: _Ctx, sink: _Redirs) -> None:
        """`[fd]OP target [more words]`: words after the target are command arguments."""
        op = ""
        target: str | None = None
        seen = False
        for i, child in enumerate(node.children):
            if node.field_name_for_child(i) == "destination":
                if seen:
                    sink.extra.append(child)
                    continue
                seen = True
                word = self.word(child, ctx)
                target = None if word.dynamic else word.value
            elif child.type == "file_descriptor" or not child.is_named:
                op += _text(child)
            else:
                self.stmt(child, ctx)
        sink.redirects.append(Redirect(op, target))

    def heredoc(self, node: Any, ctx: _Ctx, sink: _Redirs) -> None:
        """A here-document: its body is stdin data; expansions in an unquoted body still run."""
        quoted = strip_tabs = False
        text: str | None = ""
        for i, child in enumerate(node.children):
            kind = child.type
            if kind == "<<-":
                strip_tabs = True
            elif kind == "heredoc_start":
                quoted = any(c in _text(child) for c in "'\"\\")
            elif kind == "heredoc_body":
                text = _text(child) if quoted else self.heredoc_text(child, ctx)
            elif kind == "file_redirect":
                self.file_redirect(child, ctx, sink)
            elif kind == "pipeline":
                sink.followers.append(("pipe", child))
            elif node.field_name_for_child(i) == "right":
                sink.followers.append(("then", child))
            elif child.is_named and kind != "heredoc_end":
                self.stmt(child, ctx)
        if text is not None and strip_tabs:
            text = "\n".join(line.lstrip("\t") for line in text.split("\n"))
        sink.stdin = _Stdin(text)

    def heredoc_text(self, body: Any, ctx: _Ctx) -> str | None:
        """The content of an unquoted here-doc: None if it has expansions (which still run)."""
        word = self.pieces(body, ctx, "heredoc")
        return None if word.dynamic else word.value

    # -- simple commands ----------------------------------------------------------------------

    def command(self, node: Any, ctx: _Ctx, sink: _Redirs | None = None, text: Any = None) -> None:
        """One `command` node: resolve its words, then unwrap and record it."""
        start = len(self.commands)
        sink = sink or _Redirs()
        sub = ctx._replace(redirects=(), assignments=(), implicit_args=False)
        assignments: list[str] = []
        words: list[_Word] = []
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

    def argument(self, node: Any, ctx: _Ctx) -> _Word:
        """A command name or argument node."""
        if not node.is_named:  # e.g. the `$` of $"..." comes out as a bare token
            self.problem(f"unsupported word syntax: {_text(node)!r}")
            return _Word(_text(node), dynamic=True, plain=False)
        if node.type != "command_name":
            return self.word(node, ctx)
        if node.named_child_count != 1:
            self.problem("unsupported command name syntax")
            return _Word(_text(node), dynamic=True, plain=False)
        return self.word(node.named_children[0], ctx)

    def assignment(self, node: Any, ctx: _Ctx) -> _Word:
        """`NAME=value` with the value resolved (its substitutions are analysed)."""
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        word = _Word("") if value is None else self.word(value, ctx)
        op = "+=" if any(c.type == "+=" for c in node.children) else "="
        return _Word(f"{_text(name) if name else ''}{op}{word.value}", word.dynamic)

    def declaration(self, node: Any, ctx: _Ctx) -> None:
        """`export/local/declare/readonly/typeset/unset ...`: a builtin command of its own."""
        start = len(self.commands)
        words = [_Word(_text(node.children[0]))]
        for child in node.named_children:
            if child.type == "variable_assignment":
                word = self.assignment(child, ctx)
                self.assignments.append(word.value)
            else:
                word = self.word(child, ctx)
            words.append(word)
        ctx = ctx._replace(input_from=ctx.input_from + _programs(self.commands[start:]))
        self.record(words, ctx, _text(node), None)

    # -- unwrapping ---------------------------------------------------------------------------

    def execute(
        self, words: list[_Word], ctx: _Ctx, text: str, stdin: _Stdin | None, in_shell: bool
    ) -> None:
        """Unwrap wrappers around `words`, then record the real command (or recurse into it)."""
        outer = len(ctx.wrappers)
        start = self.cwd
        real, ctx, shell = self.unwrap(words, ctx, text, stdin)
        moved = self.cwd != start  # env -C DIR / sudo -D DIR
        if shell is not None:
            runner = ctx.wrappers[-1]
            self.isolated(lambda: self.reparse(shell, ctx, runner, text, add_wrapper=False))
        elif real:
            program = _program(real[0].value)
            if program in _RESERVED:
                self.problem(f"shell keyword used as a command name: {program!r}")
            elif _ASSIGNMENT.match(real[0].value):
                self.problem(f"command name looks like an assignment: {real[0].value!r}")
            direct = set(ctx.wrappers[outer:]) <= {"builtin", "command"}
            self.special(program, real, ctx, text, stdin, in_shell and direct and not moved)
        if moved:
            self.cwd = start

    def unwrap(
        self, words: list[_Word], ctx: _Ctx, text: str, stdin: _Stdin | None
    ) -> tuple[list[_Word], _Ctx, _Word | None]:
        """Remove wrappers: (the real command's words, its context, or shell code to run).

        An opaque command name is recorded here, with a problem, and gives no words.
        """
        while True:
            head = words[0]
            program = _program(head.value)
            if head.dynamic or not head.plain or not program:
                why = "an expansion, a glob or $'..'" if program else "no program name"
                self.problem(f"command name is not a plain word ({why}): {head.value!r}")
                self.record(words, ctx, text, stdin, program=head.value)
                return [], ctx, None
            spec = _WRAPPERS.get(program)
            if spec is None:
                return words, ctx, None
            unwrapped = _unwrap(spec, words)
            if unwrapped.problem:
                self.problem(f"{program}: {unwrapped.problem}")
            if unwrapped.shell is None and not unwrapped.rest:
                return words, ctx, None  # no command follows: the wrapper is the command
            if unwrapped.chdir is not None:
                self.cwd = _cd(self.cwd, [_Word("cd"), unwrapped.chdir])
            ctx = ctx._replace(
                wrappers=(*ctx.wrappers, program),
                assignments=ctx.assignments + unwrapped.assignments,
                implicit_args=ctx.implicit_args or spec.implicit_args,
            )
            if unwrapped.shell is not None:
                return [], ctx, unwrapped.shell
            words = unwrapped.rest

    def special(
        self,
        program: str,
        words: list[_Word],
        ctx: _Ctx,
        text: str,
        stdin: _Stdin | None,
        tracks_cd: bool,
    ) -> None:
        """Record the real command; look inside the ones that run other commands."""
        if program in _SHELLS:
            self.shell(program, words, ctx, text, stdin)
            return
        own = words
        if program == "eval":
            self.problem("eval runs a string as shell code")
        elif program == "alias" and any("=" in w.value for w in words[1:]):
            self.problem("alias definition (it rebinds command names)")
        elif program in _AWKS and any(_AWK_EXEC.search(w.value) for w in words[1:]):
            self.problem("awk program runs commands (system() or a pipe)")
        elif program == "find":
            own = self.find_exec(words, ctx)
        self.record(words, ctx, text, stdin, parse=own)
        if tracks_cd and program in ("cd", "pushd", "popd"):
            self.cwd = _cd(self.cwd, words)
        if program == "eval" and len(words) > 1:
            joined = _Word(" ".join(w.value for w in words[1:]), any(w.dynamic for w in words))
            self.reparse(joined, ctx, "eval", text)
        for source in _embedded_shell(program, words):
            self.reparse(source, ctx, program, text)
        inner = _embedded_command(program, words)
        if inner:
            self.execute(inner, ctx._replace(wrappers=(*ctx.wrappers, program)), text, None, False)

    def shell(
        self, program: str, words: list[_Word], ctx: _Ctx, text: str, stdin: _Stdin | None
    ) -> None:
        """`bash [opts] -c STRING`, `bash script`, or a shell reading its stdin."""
        mode, operand = _shell_mode(words)
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
                self.reparse(_Word(stdin.text), ctx, program, text, fallback=(words, stdin))
        else:  # a script file, a stdin pipe, an interactive shell, --help ...
            self.record(words, ctx, text, stdin)

    def reparse(
        self,
        source: _Word,
        ctx: _Ctx,
        runner: str,
        text: str,
        fallback: tuple[list[_Word], _Stdin | None] | None = None,
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

    def find_exec(self, words: list[_Word], ctx: _Ctx) -> list[_Word]:
        """Record the commands of `find ... -exec CMD ... ;|+`; return find's own words."""
        own: list[_Word] = []
        i = 0
        while i < len(words):
            word = words[i]
            own.append(word)
            i += 1
            if word.value not in _FIND_EXEC or len(own) == 1:
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
        words: list[_Word],
        ctx: _Ctx,
        text: str,
        stdin: _Stdin | None,
        program: str | None = None,
        parse: list[_Word] | None = None,
    ) -> None:
        """Append the command `words` (argv) to the result."""
        argv = tuple(w.value for w in words)
        name = program if program is not None else _program(argv[0])
        flags, args, values = _parse_args(name, (parse or words)[1:])
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

    def word(self, node: Any, ctx: _Ctx) -> _Word:
        """Resolve one word node; substitutions inside it are analysed as commands."""
        kind = node.type
        if kind == "word":
            return _unquoted(_text(node))
        if kind == "raw_string":
            return _Word(_text(node)[1:-1])
        if kind == "number" or kind in _LITERAL_KINDS:
            return _Word(_text(node))
        if kind == "string" or kind == "translated_string":
            return self.pieces(node, ctx, "dq", dynamic=kind == "translated_string")
        if kind == "concatenation":
            return self.pieces(node, ctx, "word")
        if kind == "simple_expansion" or kind == "expansion":
            return self.expansion(node, ctx)
        if kind == "command_substitution" or kind == "process_substitution":
            return self.substitution(node, ctx)
        if kind == "ansi_c_string":
            return _Word(_ansi_c(_text(node)[2:-1]), plain=False)
        if kind == "string_content":
            return _Word(_dq_unescape(_text(node)))
        if kind in _SCANNED_KINDS:
            self.parts(node, ctx)
            return _Word(_text(node), dynamic=True, plain=False)
        if kind in ("comment", "heredoc_start", "heredoc_body", "heredoc_end", "file_descriptor"):
            return _Word(_text(node))
        self.stmt(node, ctx)  # unknown or statement kinds: walk (or report) them
        return _Word(_text(node), dynamic=True, plain=False)

    def pieces(self, node: Any, ctx: _Ctx, mode: str, dynamic: bool = False) -> _Word:
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
                out.append(self.literal(data[pos:lo], mode))
                dynamic = dynamic or out[-1] is _UNSEEN
            part = self.word(child, ctx)
            if mode == "word" and child.type == "word":
                braces = braces or part.value in ("{", "}")
            out.append(part.value)
            dynamic = dynamic or part.dynamic
            plain = plain and part.plain
            pos = max(pos, hi)
        if end > pos:
            out.append(self.literal(data[pos:end], mode))
            dynamic = dynamic or out[-1] is _UNSEEN
        value = "".join(out)
        if braces and _BRACES.search(value):  # brace expansion: it makes several words
            dynamic, plain = True, False
        return _Word(value, dynamic, plain and not dynamic)

    def literal(self, data: bytes, mode: str) -> str:
        """Literal text of a word, string or here-doc, unescaped (`_UNSEEN`: not literal)."""
        text = _decode(data)
        if mode == "heredoc" and _HEREDOC_UNSEEN.search(text.replace("\\\\", "")):
            self.problem("here-document has a substitution the parser did not see")
            return _UNSEEN
        return _UNESCAPE[mode](text)

    def expansion(self, node: Any, ctx: _Ctx) -> _Word:
        text = _text(node).lstrip()
        known = _KNOWN_VARIABLES.get(text)
        if known is not None:
            return _Word(known)
        if node.type == "expansion":
            self.parts(node, ctx)
        return _Word(text, dynamic=True, plain=False)

    def parts(self, node: Any, ctx: _Ctx) -> None:
        """Walk the parts of an expansion or expression for the substitutions inside."""
        if ctx.depth > MAX_DEPTH:
            self.problem(f"nesting deeper than {MAX_DEPTH} syntax levels")
            return
        deeper = ctx._replace(depth=ctx.depth + 1)
        for child in node.named_children:
            self.word(child, deeper)

    def substitution(self, node: Any, ctx: _Ctx) -> _Word:
        sub = ctx._replace(redirects=(), assignments=(), implicit_args=False)
        self.isolated(lambda: self.sequence(node, sub._replace(depth=ctx.depth + 1)))
        return _Word(_text(node).lstrip(), dynamic=True, plain=False)


# ---------------------------------------------------------------------------------------------
# Helpers on nodes and text.

_KNOWN_VARIABLES = {"$HOME": "~", "${HOME}": "~", "$PWD": ".", "${PWD}": "."}


def _text(node: Any) -> str:
    return _decode(node.text or b"")


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


def _program(word: str) -> str:
    """The program name of a command word: its basename, without a Windows `.exe`."""
    name = re.split(r"[/\\]", word)[-1]
    return name[:-4] if name.lower().endswith(".exe") and len(name) > 4 else name


def _unquoted(raw: str) -> _Word:
    """An unquoted word: backslash escapes removed; unescaped glob characters noted."""
    if "\\" not in raw:
        return _Word(raw, plain=bool(raw) and not _GLOB_CHARS & set(raw))
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
        glob = glob or char in _GLOB_CHARS
        out.append(char)
        i += 1
    value = "".join(out)
    return _Word(value, plain=bool(value) and not glob)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")  # a node may split a multi-byte character


def _dq_unescape(text: str) -> str:
    """Backslash escapes inside double quotes: only $ ` " \\ and newline are special."""
    if "\\" not in text:
        return text
    return re.sub(r'\\([$`"\\])|\\\n', lambda m: m.group(1) or "", text)


def _heredoc_unescape(text: str) -> str:
    """Backslash escapes in an unquoted here-doc: only $ ` \\ and newline are special."""
    if "\\" not in text:
        return text
    return re.sub(r"\\([$`\\])|\\\n", lambda m: m.group(1) or "", text)


_UNESCAPE = {
    "word": lambda text: _unquoted(text).value,
    "dq": _dq_unescape,
    "heredoc": _heredoc_unescape,
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


def _ansi_c(body: str) -> str:
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


def _cd(cwd: str | None, words: list[_Word]) -> str | None:
    """The directory after `cd`/`pushd`/`popd` with these words, None if unknown."""
    if _program(words[0].value) == "popd":
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


# ---------------------------------------------------------------------------------------------
# Wrappers: programs that run the rest of their arguments as a command.


def _fs(*items: str) -> frozenset[str]:
    return frozenset(items)


@dataclass(frozen=True)
class _Wrap:
    """How a wrapper's own arguments look, so the wrapped command can be found."""

    value: frozenset[str] = frozenset()  # options that take a value (next word or attached)
    attached: frozenset[str] = frozenset()  # options with an optional attached value (-i.bak)
    stop: frozenset[str] = frozenset()  # options meaning no command runs (command -v, sudo -l)
    shell: frozenset[str] = frozenset()  # options whose value is shell code (su -c, flock -c)
    split: frozenset[str] = frozenset()  # env -S: the value is split into more arguments
    exec_: frozenset[str] = frozenset()  # watch -x: run the words directly, not through sh -c
    chdir: frozenset[str] = frozenset()  # env -C DIR: the command runs in DIR
    operands: int = 0  # words between the options and the command (timeout DURATION)
    assignments: bool = False  # env: NAME=value words before the command
    joined: bool = False  # watch: the remaining words are joined and run by sh -c
    no_command: bool = False  # su: positional words are not a command
    implicit_args: bool = False  # xargs: appends arguments read from stdin


_WRAPPERS: dict[str, _Wrap] = {
    "sudo": _Wrap(
        chdir=_fs("-D", "--chdir"),
        value=_fs("-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-T", "-U", "--user", "--group")
        | _fs("--close-from", "--chdir", "--host", "--prompt", "--role", "--type", "--other-user")
        | _fs("--command-timeout"),
        stop=_fs("-l", "-v", "-K", "-e", "-V", "--list", "--validate", "--edit", "--version")
        | _fs("--remove-timestamp", "--help"),
        assignments=True,
    ),
    "doas": _Wrap(value=_fs("-u", "-C"), stop=_fs("-C", "-L")),
    "env": _Wrap(
        value=_fs("-u", "--unset", "-C", "--chdir", "-P", "-a", "--argv0"),
        split=_fs("-S", "--split-string"),
        chdir=_fs("-C", "--chdir"),
        stop=_fs("--help", "--version"),
        assignments=True,
    ),
    "nice": _Wrap(value=_fs("-n", "--adjustment")),
    "nohup": _Wrap(),
    "timeout": _Wrap(value=_fs("-s", "--signal", "-k", "--kill-after"), operands=1),
    "time": _Wrap(value=_fs("-o", "--output", "-f", "--format")),
    "stdbuf": _Wrap(value=_fs("-i", "-o", "-e", "--input", "--output", "--error")),
    "xargs": _Wrap(
        value=_fs("-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s", "--arg-file", "--delimiter")
        | _fs("--eof", "--replace", "--max-lines", "--max-args", "--max-procs", "--max-chars")
        | _fs("--process-slot-var"),
        attached=_fs("-e", "-i", "-l"),
        stop=_fs("--help", "--version"),
        implicit_args=True,
    ),
    "command": _Wrap(stop=_fs("-v", "-V")),
    "exec": _Wrap(value=_fs("-a")),
    "builtin": _Wrap(),
    "noglob": _Wrap(),
    "nocorrect": _Wrap(),
    "coproc": _Wrap(),
    "watch": _Wrap(
        value=_fs("-n", "--interval", "-q", "--equexit", "-s", "--shotsdir"),
        attached=_fs("-d"),
        exec_=_fs("-x", "--exec"),
        joined=True,
    ),
    "flock": _Wrap(
        value=_fs("-E", "--conflict-exit-code", "-w", "--wait", "--timeout"),
        shell=_fs("-c", "--command"),
        operands=1,
    ),
    "chroot": _Wrap(value=_fs("--userspec", "--groups"), operands=1),
    "ionice": _Wrap(
        value=_fs("-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u"),
        stop=_fs("-p", "--pid", "-P", "--pgid", "-u", "--uid"),
    ),
    "setsid": _Wrap(),
    "caffeinate": _Wrap(value=_fs("-t", "-w")),
    "taskset": _Wrap(operands=1, stop=_fs("-p", "--pid")),
    "chrt": _Wrap(value=_fs("-T", "-P", "-D"), operands=1, stop=_fs("-p", "--pid", "-m")),
    "unbuffer": _Wrap(),
    "busybox": _Wrap(),
    "pkexec": _Wrap(value=_fs("--user")),
    "su": _Wrap(
        value=_fs("-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w"),
        shell=_fs("-c", "--command", "--session-command"),
        no_command=True,
    ),
}


@dataclass(slots=True)
class _Unwrapped:
    rest: list[_Word]  # the wrapped command's words (empty: the wrapper is the command)
    shell: _Word | None = None  # shell code the wrapper runs instead
    assignments: tuple[str, ...] = ()
    problem: str | None = None
    chdir: _Word | None = None  # directory the command runs in (env -C)


def _unwrap(spec: _Wrap, words: list[_Word]) -> _Unwrapped:
    """Skip a wrapper's own options and operands; return what it runs."""
    words = list(words)
    found = _Unwrapped(rest=[])
    assignments: list[str] = []
    operands, stop, direct = spec.operands, False, False
    i = 1
    while i < len(words):
        word = words[i]
        text = word.value
        if text == "--" and not found.rest:
            i += 1
            break
        if spec.assignments and not word.dynamic and _ASSIGNMENT.match(text):
            assignments.append(text)
            i += 1
            continue
        if len(text) < 2 or text[0] != "-" or word.dynamic:
            if operands and not word.dynamic:
                operands -= 1
                i += 1
                continue
            break
        i += 1
        for opt, attached in _wrapper_options(spec, text, i < len(words)):
            value = None
            if attached is _NEXT:
                value = words[i]
                i += 1
            elif attached is not None:
                value = _Word(attached, word.dynamic)
            stop = stop or opt in spec.stop
            direct = direct or opt in spec.exec_
            if opt in spec.shell and isinstance(value, _Word):
                found.shell = value
            if opt in spec.chdir and isinstance(value, _Word):
                found.chdir = value
            if opt in spec.split and isinstance(value, _Word):
                split = _split_string(value)
                if split is None:
                    found.problem = f"cannot split {opt} string {value.value!r}"
                    stop = True
                else:
                    words[i:i] = split
    found.assignments = tuple(assignments)
    rest = words[i:]
    if operands and rest and found.shell is None:
        rest = rest[operands:]
    if stop:
        found.shell = None
    elif found.shell is None and spec.joined and not direct and rest:
        found.shell = _Word(" ".join(w.value for w in rest), any(w.dynamic for w in rest))
    elif found.shell is None and not spec.no_command:
        found.rest = rest
    return found


_NEXT = object()  # the option takes the next word as its value


def _wrapper_options(spec: _Wrap, text: str, more: bool) -> list[tuple[str, Any]]:
    """The options in one wrapper word, each with None, `_NEXT` or its attached value."""
    takes = spec.value | spec.shell | spec.split
    if text.startswith("--"):
        name, eq, value = text.partition("=")
        if eq:
            return [(name, value)]
        return [(name, _NEXT if name in takes and more else None)]
    if text[1:].isdigit():  # nice -19
        return [(text, None)]
    out: list[tuple[str, Any]] = []
    for j in range(1, len(text)):
        opt = "-" + text[j]
        if opt in takes or opt in spec.attached:
            if j + 1 < len(text):
                return [*out, (opt, text[j + 1 :])]
            return [*out, (opt, _NEXT if opt in takes and more else None)]
        out.append((opt, None))
    return out


def _split_string(word: _Word) -> list[_Word] | None:
    """Split an `env -S` string into words (no expansions allowed)."""
    if word.dynamic or "$" in word.value or "\\c" in word.value:
        return None
    try:
        return [_Word(part) for part in shlex.split(word.value)]
    except ValueError:
        return None


def _shell_mode(words: list[_Word]) -> tuple[str, _Word | None]:
    """How a shell runs: ("-c", STRING), ("script", FILE), ("stdin", None) or ("other", None)."""
    i, command, stdin = 1, False, False
    while i < len(words):
        text = words[i].value
        i += 1
        if text in ("--", "-"):
            break
        if text.startswith("--"):
            if text in ("--rcfile", "--init-file"):
                i += 1
            elif text in ("--help", "--version"):
                return "other", None
            continue
        if len(text) > 1 and text[0] in "-+" and not words[i - 1].dynamic:
            command = command or "c" in text
            stdin = stdin or "s" in text
            i += text.count("o") + text.count("O")  # -o OPTION / -O SHOPT
            continue
        i -= 1
        break
    rest = words[i:]
    if command:
        return ("-c", rest[0]) if rest else ("other", None)
    if rest and not stdin:
        return "script", rest[0]
    return "stdin", None


_FIND_EXEC = _fs("-exec", "-execdir", "-ok", "-okdir")
_EMBEDDED_OPTIONS = {  # options whose value the program runs as a command
    "tar": _fs("--to-command", "--info-script", "--new-volume-script", "-F", "-I")
    | _fs("--use-compress-program"),
    "rsync": _fs("-e", "--rsh"),
    "script": _fs("-c", "--command"),
}


def _embedded_command(program: str, words: list[_Word]) -> list[_Word]:
    """The words of a command that a (non-wrapper) program runs: `git bisect run CMD ...`,
    `docker run IMAGE CMD ...` (judged as if it ran here: container paths count as local ones).
    """
    if program == "git":
        _, args, _ = _parse_args(program, words[1:])
        if [a.value for a in args[:2]] == ["bisect", "run"]:
            return words[words.index(args[1]) + 1 :]
    if _table_name(program) == "docker":
        _, args, values = _parse_args(program, words[1:])
        runs = _OPTIONS["docker"].runs_command
        for n in range(1, min(len(args), 3)):
            if " ".join(a.value for a in args[:n]) in runs and len(args) > n:
                start = next(i for i, w in enumerate(words) if w is args[n]) + 1
                entry = [v for o, v in values if o == "--entrypoint"]
                return entry[-1:] + words[start:] if entry or words[start:] else []
    return []


def _embedded_shell(program: str, words: list[_Word]) -> list[_Word]:
    """Shell code that a (non-wrapper) program runs from its arguments."""
    if program == "trap":  # trap ACTION SIGNAL...: ACTION runs later, as shell code
        rest = words[2:] if words[1:2] and words[1].value == "--" else words[1:]
        action = rest[0] if len(rest) > 1 else None
        return [action] if action and action.value not in ("-", "") else []
    if program not in ("git", "tar", "rsync", "ssh", "script"):
        return []
    _, args, values = _parse_args(program, words[1:])
    out: list[_Word] = []
    if program == "git" and [a.value for a in args[:2]] == ["submodule", "foreach"]:
        rest = words[words.index(args[1]) + 1 :]
        while rest and rest[0].value in ("--recursive", "--quiet", "-q"):
            rest = rest[1:]
        if rest:
            out.append(_Word(" ".join(w.value for w in rest), any(w.dynamic for w in rest)))
    for opt, value in values:
        if program == "git" and args and args[0].value == "rebase" and opt in ("-x", "--exec"):
            out.append(value)
        elif program == "tar" and opt == "--checkpoint-action":
            if value.value.startswith("exec="):
                out.append(_Word(value.value[5:], value.dynamic))
        elif opt in _EMBEDDED_OPTIONS.get(program, ()):
            out.append(value)
        elif program == "ssh" and opt == "-o":
            key, _, command = value.value.replace("=", " ", 1).partition(" ")
            if key.lower() in ("proxycommand", "localcommand"):
                out.append(_Word(command, value.dynamic))
    return out


# ---------------------------------------------------------------------------------------------
# Flags and options of the real command.


@dataclass(frozen=True)
class _Opts:
    """A program's option grammar, as far as the guard needs it."""

    value: frozenset[str] = frozenset()  # options that take the next word as their value
    attached: frozenset[str] = frozenset()  # options whose value can only be attached (-i.bak)
    long_single_dash: bool = False  # "-name" is one option (find, terraform, go)
    operators: frozenset[str] = frozenset()  # words that are neither flags nor positional
    pairs: frozenset[str] = frozenset()  # options that take the next two words (jq --arg N V)
    subcommands: dict[str, frozenset[str]] | None = None  # value options after the subcommand
    # subcommand paths whose next positional (image, container, service) is followed by a
    # command the program runs: `docker run [opts] IMAGE CMD...`, `docker compose exec SVC CMD`
    runs_command: frozenset[str] = frozenset()


_NO_OPTS = _Opts()
_DOCKER_RUN = _fs("-v", "--volume", "-e", "--env", "-p", "--publish", "-w", "--workdir", "-u")
_DOCKER_RUN |= _fs("--user", "--name", "--network", "--net", "--entrypoint", "--mount", "-h")
_DOCKER_RUN |= _fs("--env-file", "--platform", "-l", "--label", "--hostname", "--add-host")
_DOCKER_RUN |= _fs("--cap-add", "--cap-drop", "--device", "-m", "--memory", "--cpus", "--pull")
_DOCKER_RUN |= _fs("--restart", "--security-opt", "--ulimit", "--tmpfs", "--volumes-from")
_DOCKER_RUN |= _fs("--gpus", "--shm-size", "--ipc", "--pid", "--dns", "-a", "--attach")
_FIND_VALUES = _fs("-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-regex")
_FIND_VALUES |= _fs("-iregex", "-type", "-xtype", "-newer", "-anewer", "-cnewer", "-user")
_FIND_VALUES |= _fs("-group", "-perm", "-size", "-mtime", "-mmin", "-atime", "-amin", "-ctime")
_FIND_VALUES |= _fs("-cmin", "-maxdepth", "-mindepth", "-printf", "-fprint", "-fprint0")
_FIND_VALUES |= _fs("-fprintf", "-fls", "-samefile", "-links", "-inum", "-uid", "-gid", "-lname")
_FIND_VALUES |= _fs("-ilname", "-fstype", "-used", "-regextype", "-context", "-files0-from")

_OPTIONS: dict[str, _Opts] = {
    "git": _Opts(
        value=_fs("-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env"),
        subcommands={
            "commit": _fs("-m", "-F", "--message", "--file", "--author", "--date", "-C", "-c"),
            "tag": _fs("-m", "-F", "--message", "--file", "-u"),
            "rebase": _fs("-x", "--exec", "--onto", "-s", "--strategy", "-X"),
            "merge": _fs("-m", "-F", "-s", "--strategy", "-X", "--strategy-option"),
            "checkout": _fs("-b", "-B", "--orphan"),
            "switch": _fs("-c", "-C", "--create", "--force-create", "--orphan"),
            "stash": _fs("-m", "--message"),
            "log": _fs("-n", "--max-count", "--author", "--grep", "--since", "--until")
            | _fs("--output"),
            "diff": _fs("--output"),
            "show": _fs("--output"),
            "format-patch": _fs("-o", "--output-directory", "--output"),
            "push": _fs("-o", "--push-option", "--repo"),
            "clone": _fs("-b", "--branch", "-o", "--origin", "--depth", "-c", "--config"),
            "config": _fs("-f", "--file", "--blob", "--type", "--default"),
            "grep": _fs("-e", "-f"),
            "fetch": _fs("--depth"),
            "pull": _fs("--depth"),
        },
    ),
    "kubectl": _Opts(
        value=_fs("-n", "--namespace", "--context", "--cluster", "--user", "--kubeconfig", "-f")
        | _fs("--filename", "-l", "--selector", "-o", "--output", "-c", "--container", "-k")
        | _fs("--kustomize", "--field-selector", "-s", "--server", "--token", "--as"),
    ),
    "helm": _Opts(
        value=_fs("-n", "--namespace", "--kube-context", "--kubeconfig", "-f", "--values")
        | _fs("--set", "--set-string", "--set-file", "--version", "-o", "--output", "--repo"),
    ),
    "docker": _Opts(
        value=_fs("-H", "--host", "--context", "-c", "--config", "-l", "--log-level"),
        subcommands={
            "run": _DOCKER_RUN,
            "create": _DOCKER_RUN,
            "exec": _fs("-e", "--env", "-u", "--user", "-w", "--workdir", "--env-file"),
            "build": _fs("-t", "--tag", "-f", "--file", "--build-arg", "--target", "--platform"),
            "compose": _fs("-f", "--file", "-p", "--project-name", "--profile", "--env-file")
            | _fs("-e", "--env", "-v", "--volume", "-w", "--workdir", "-u", "--user", "--name")
            | _fs("--entrypoint", "-l", "--label", "--publish", "--index"),
            "container": _DOCKER_RUN,
        },
        runs_command=_fs("run", "exec", "compose run", "compose exec", "container run")
        | _fs("container exec"),
    ),
    "npm": _Opts(value=_fs("--prefix", "-w", "--workspace", "--registry", "--tag", "--otp")),
    "npx": _Opts(value=_fs("-p", "--package", "-c", "--call")),
    "terraform": _Opts(
        value=_fs("-var", "-var-file", "-target", "-replace", "-out", "-state", "-state-out")
        | _fs("-backup", "-parallelism", "-lock-timeout"),
        long_single_dash=True,
    ),
    "go": _Opts(
        value=_fs("-o", "-run", "-tags", "-ldflags", "-gcflags", "-C", "-count", "-timeout")
        | _fs("-bench", "-p", "-exec", "-mod", "-modfile", "-coverprofile", "-cpu"),
        long_single_dash=True,
    ),
    "find": _Opts(value=_FIND_VALUES, long_single_dash=True, operators=_fs("!", "(", ")", ",")),
    "tar": _Opts(
        value=_fs("-f", "--file", "-C", "--directory", "-T", "--files-from", "-X", "-I", "-F")
        | _fs("--exclude-from", "--use-compress-program", "--info-script", "--new-volume-script")
        | _fs("-g", "--listed-incremental", "-b", "--blocking-factor", "-H", "--format", "-K")
        | _fs("-N", "-V", "--label", "--owner", "--group", "--mode", "--mtime", "--transform")
        | _fs("--exclude", "--to-command", "--checkpoint-action"),
    ),
    "curl": _Opts(
        value=_fs("-X", "--request", "-H", "--header", "-d", "--data", "--data-binary", "-F")
        | _fs("--data-raw", "--data-urlencode", "--data-ascii", "--form", "--form-string", "-o")
        | _fs("--output", "-T", "--upload-file", "-u", "--user", "-A", "--user-agent", "-e")
        | _fs("--referer", "-b", "--cookie", "-c", "--cookie-jar", "--connect-timeout", "-m")
        | _fs("--max-time", "--retry", "-w", "--write-out", "--url", "-K", "--config", "-x")
        | _fs("--proxy", "--cacert", "--cert", "--key", "-r", "--range", "-E", "-D", "--json")
        | _fs("--dump-header", "--resolve", "-z", "--time-cond", "--output-dir", "-U", "-C")
        | _fs("--retry-delay", "--retry-max-time", "--limit-rate", "--max-filesize", "-Y", "-y"),
    ),
    "wget": _Opts(
        value=_fs("-O", "--output-document", "-o", "--output-file", "-a", "--append-output")
        | _fs("-P", "--directory-prefix", "-U", "--user-agent", "--header", "-e", "--execute")
        | _fs("-t", "--tries", "-T", "--timeout", "-i", "--input-file", "--post-data", "-w")
        | _fs("--post-file", "--method", "--body-data", "--body-file", "--user", "--password")
        | _fs("--wait", "-l", "--level", "-A", "--accept", "-R", "--reject", "-D", "--domains"),
    ),
    "sed": _Opts(value=_fs("-e", "--expression", "-f", "--file", "-l"), attached=_fs("-i")),
    "grep": _Opts(
        value=_fs("-e", "--regexp", "-f", "--file", "-m", "--max-count", "-A", "-B", "-C")
        | _fs("--include", "--exclude", "--exclude-dir", "--label", "-d", "-D"),
    ),
    "rg": _Opts(
        value=_fs("-e", "--regexp", "-f", "--file", "-g", "--glob", "--iglob", "-t", "--type")
        | _fs("-T", "--type-not", "-m", "--max-count", "-A", "-B", "-C", "-j", "--threads")
        | _fs("--pre", "--pre-glob", "-E", "--encoding", "-M", "--max-depth", "-r", "--replace"),
    ),
    "python": _Opts(value=_fs("-c", "-m", "-W", "-X")),
    "node": _Opts(value=_fs("-e", "--eval", "-p", "--print", "-r", "--require", "--import")),
    "perl": _Opts(value=_fs("-e", "-E", "-I", "-M", "-m"), attached=_fs("-i")),
    "ruby": _Opts(value=_fs("-e", "-r", "-I", "-C", "-E"), attached=_fs("-i")),
    "php": _Opts(value=_fs("-r", "-f", "-d", "-c")),
    "lua": _Opts(value=_fs("-e", "-l")),
    "psql": _Opts(
        value=_fs("-c", "--command", "-f", "--file", "-d", "--dbname", "-h", "--host", "-U")
        | _fs("--username", "-p", "--port", "-o", "--output", "-v", "--set", "--variable")
        | _fs("-L", "--log-file", "-P", "--pset", "-F", "-R", "-T"),
    ),
    "mysql": _Opts(
        value=_fs("-e", "--execute", "-u", "--user", "-h", "--host", "-P", "--port", "-D")
        | _fs("--database", "-S", "--socket"),
        attached=_fs("-p"),
    ),
    "sqlite3": _Opts(value=_fs("-cmd", "-separator", "-nullvalue"), long_single_dash=True),
    "mongosh": _Opts(value=_fs("--eval", "-f", "--file", "--host", "--port", "-u", "-p")),
    "redis-cli": _Opts(value=_fs("-h", "-p", "-a", "-n", "-u", "-s", "--user", "--pass")),
    "ssh": _Opts(
        value=_fs("-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O")
        | _fs("-o", "-p", "-Q", "-R", "-S", "-W", "-w", "-B"),
    ),
    "scp": _Opts(value=_fs("-c", "-F", "-i", "-J", "-l", "-o", "-P", "-S")),
    "rsync": _Opts(
        value=_fs("-e", "--rsh", "--exclude", "--include", "--filter", "-f", "--exclude-from")
        | _fs("--include-from", "--files-from", "--rsync-path", "--log-file", "--chmod", "-T")
        | _fs("--chown", "--temp-dir", "--backup-dir", "--suffix", "--port", "--timeout")
        | _fs("--partial-dir", "--compare-dest", "--copy-dest", "--link-dest", "--password-file"),
    ),
    "script": _Opts(value=_fs("-c", "--command", "-E", "--echo", "-T", "--log-timing")),
    "make": _Opts(value=_fs("-C", "--directory", "-f", "--file", "--makefile", "-I", "-o", "-W")),
    "cmake": _Opts(
        value=_fs("-S", "-B", "-G", "-C", "-T", "-A", "-D", "-U", "--build", "--install", "-t")
        | _fs("--target", "--config", "-j", "--parallel", "--preset"),
    ),
    "head": _Opts(value=_fs("-n", "-c", "--lines", "--bytes")),
    "tail": _Opts(value=_fs("-n", "-c", "--lines", "--bytes", "--pid", "-s")),
    "cut": _Opts(value=_fs("-d", "-f", "-c", "-b", "--delimiter", "--fields")),
    "sort": _Opts(value=_fs("-k", "-t", "-o", "--output", "-S", "-T", "--key")),
    "jq": _Opts(
        value=_fs("-f", "--from-file", "--indent", "-L"),
        pairs=_fs("--arg", "--argjson", "--slurpfile", "--rawfile"),
    ),
    "awk": _Opts(value=_fs("-f", "--file", "-v", "--assign", "-F", "--field-separator", "-i")),
    "tree": _Opts(value=_fs("-o", "-L", "-P", "-I", "--filelimit", "--timefmt", "--charset")),
    "unzip": _Opts(value=_fs("-d", "-P")),
    "patch": _Opts(
        value=_fs("-i", "--input", "-o", "--output", "-d", "--directory", "-B", "--prefix")
        | _fs("-r", "--reject-file", "-D", "--ifdef", "-F", "--fuzz", "-V", "-z", "--suffix"),
        attached=_fs("-p"),
    ),
    "truncate": _Opts(value=_fs("-s", "--size", "-r", "--reference")),
    "xxd": _Opts(value=_fs("-s", "-l", "-c", "-g", "-o", "-n", "--seek", "--len", "--cols")),
    "uniq": _Opts(value=_fs("-f", "-s", "-w", "--skip-fields", "--skip-chars", "--check-chars")),
    "julia": _Opts(value=_fs("-e", "--eval", "-E", "--print", "-L", "--load", "-p", "--procs")),
    "Rscript": _Opts(value=_fs("-e")),
    "osascript": _Opts(value=_fs("-e", "-l")),
    "pwsh": _Opts(
        value=_fs("-c", "-Command", "-command", "-File", "-file", "-f", "-EncodedCommand", "-e"),
        long_single_dash=True,
    ),
    "duckdb": _Opts(value=_fs("-c", "-cmd", "-s"), long_single_dash=True),
    "clickhouse-client": _Opts(
        value=_fs("-q", "--query", "-h", "--host", "--port", "-u", "--user", "-d", "--database")
    ),
    "cqlsh": _Opts(value=_fs("-e", "--execute", "-f", "--file", "-u", "-p", "-k", "--keyspace")),
    "cp": _Opts(value=_fs("-t", "--target-directory", "-S", "--suffix")),
    "mv": _Opts(value=_fs("-t", "--target-directory", "-S", "--suffix")),
    "ln": _Opts(value=_fs("-t", "--target-directory", "-S", "--suffix")),
    "install": _Opts(value=_fs("-m", "--mode", "-o", "--owner", "-g", "--group", "-t", "-S")),
    "mkdir": _Opts(value=_fs("-m", "--mode")),
    "touch": _Opts(value=_fs("-d", "--date", "-t", "-r", "--reference")),
    "kill": _Opts(value=_fs("-s", "-n")),
    "shred": _Opts(value=_fs("-n", "--iterations", "-s", "--size")),
    "ls": _Opts(value=_fs("-I", "--ignore", "-T", "--tabsize", "-w", "--width", "--hide")),
    "du": _Opts(value=_fs("-d", "--max-depth", "-B", "--block-size", "-t", "--exclude", "-X")),
    "df": _Opts(value=_fs("-B", "--block-size", "-t", "--type", "-x", "--exclude-type")),
    "systemctl": _Opts(value=_fs("-H", "--host", "-M", "--machine", "-t", "--type", "-p", "-s")),
    "apt-get": _Opts(value=_fs("-o", "-c", "-t", "--target-release")),
    "pip": _Opts(
        value=_fs("-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-t")
        | _fs("-i", "--index-url", "--extra-index-url", "--target", "--prefix", "--root", "-f"),
    ),
    "gh": _Opts(
        value=_fs("-R", "--repo", "-t", "--title", "-b", "--body", "-F", "--body-file", "-n")
        | _fs("--notes", "--notes-file", "-a", "--assignee", "-l", "--label", "-B", "--base")
        | _fs("-H", "--head", "-m", "--milestone", "--json", "-q", "--jq", "-L", "--limit"),
    ),
    "aws": _Opts(value=_fs("--profile", "--region", "--output", "--endpoint-url", "--query")),
    "gcloud": _Opts(value=_fs("--project", "--region", "--zone", "--format", "--account")),
    "az": _Opts(
        value=_fs("-g", "--resource-group", "-n", "--name", "--subscription", "-l")
        | _fs("--location", "-o", "--output", "--query"),
    ),
    "fly": _Opts(value=_fs("-a", "--app", "-c", "--config", "-r", "--region")),
    "cargo": _Opts(
        value=_fs("-p", "--package", "--manifest-path", "--target", "--target-dir", "-F")
        | _fs("--features", "-j", "--jobs", "--bin", "--example", "--test", "--bench", "-Z"),
    ),
    "pytest": _Opts(
        value=_fs("-k", "-m", "-p", "-c", "--rootdir", "--basetemp", "-o", "--junitxml", "-n")
        | _fs("--maxfail", "--deselect", "--ignore", "--numprocesses", "--override-ini"),
    ),
    "alembic": _Opts(value=_fs("-c", "--config", "-n", "--name", "-x")),
}
_OPTIONS["apt"] = _OPTIONS["apt-get"]
_ALIASES = {
    "podman": "docker",
    "nodejs": "node",
    "gmake": "make",
    "egrep": "grep",
    "fgrep": "grep",
    "tofu": "terraform",
    "flyctl": "fly",
    "mariadb": "mysql",
    "pnpm": "npm",
    "yarn": "npm",
    "pypy": "python",
    "deno": "node",
    "bun": "node",
    "luajit": "lua",
    "powershell": "pwsh",
    "gawk": "awk",
    "mawk": "awk",
    "nawk": "awk",
}
_VERSIONED = re.compile(r"(python|pip|pypy|perl|ruby|node|php|lua)[0-9.]*")


def _table_name(program: str) -> str:
    """The options-table name of a program: pip3.11 -> pip, podman -> docker."""
    if program in _OPTIONS:
        return program
    match = _VERSIONED.fullmatch(program)
    name = match.group(1) if match else program
    return _ALIASES.get(name, name)


def _parse_args(
    program: str, words: list[_Word]
) -> tuple[set[str], list[_Word], list[tuple[str, _Word]]]:
    """Split a command's words (after argv[0]) into flags, positionals and option values."""
    opts = _OPTIONS.get(_table_name(program), _NO_OPTS)
    takes = opts.value
    flags: set[str] = set()
    args: list[_Word] = []
    values: list[tuple[str, _Word]] = []
    ended = False
    i, n = 0, len(words)
    while i < n:
        word = words[i]
        text = word.value
        i += 1
        if ended or len(text) < 2 or text[0] != "-":
            if not ended and text in opts.operators:
                continue
            args.append(word)
            if opts.subcommands is not None and len(args) == 1:
                takes = opts.subcommands.get(text, frozenset())
            path = " ".join(a.value for a in args[:-1])
            ended = ended or (len(args) > 1 and path in opts.runs_command)
            continue
        if text == "--":
            ended = True
        elif word.dynamic:
            flags.add(text)
        elif text[1] == "-" or opts.long_single_dash:
            name, eq, value = text.partition("=")
            flags.add(name)
            if eq:
                values.append((name, _Word(value)))
            elif name in opts.pairs:
                values.extend((name, word) for word in words[i : i + 2])
                i += 2
            elif name in takes and i < n:
                values.append((name, words[i]))
                i += 1
        elif text[1:].isdigit():  # kill -9, head -20
            flags.add(text)
        else:
            i = _short_cluster(text, words, i, takes, opts.attached, flags, values)
    return flags, args, values


def _short_cluster(
    text: str,
    words: list[_Word],
    i: int,
    takes: frozenset[str],
    attached: frozenset[str],
    flags: set[str],
    values: list[tuple[str, _Word]],
) -> int:
    """Split "-xzf" into flags; an option that takes a value ends the cluster."""
    for j in range(1, len(text)):
        opt = "-" + text[j]
        flags.add(opt)
        if opt in takes or opt in attached:
            if j + 1 < len(text):
                values.append((opt, _Word(text[j + 1 :])))
            elif opt in takes and i < len(words):
                values.append((opt, words[i]))
                i += 1
            break
    return i


def split_flags(
    program: str, words: list[str]
) -> tuple[frozenset[str], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Split literal words (after the program) into (flags, positional args, option values).

    Uses the same per-program option table as `analyze`, e.g.
    `split_flags("git", ["-C", "x", "reset", "--hard"])` ->
    `({"-C", "--hard"}, ("reset",), (("-C", "x"),))`.
    """
    flags, args, values = _parse_args(program, [_Word(w) for w in words])
    return frozenset(flags), tuple(a.value for a in args), tuple((o, w.value) for o, w in values)
