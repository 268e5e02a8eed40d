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
- Wrappers (`sudo`, `env`, `timeout`, `xargs`, `nice`, ... see `WRAPPERS`) are removed with
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
  --x), `-9` stays whole; a small per-program table (`OPTIONS`) says which options take a
  value: that value goes to `option_values`, not `args`. Unknown programs count every
  non-flag word as positional. `subcommand` is the first positional.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

from ralph.bash import evaluated
from ralph.bash.commands import CommandWalker, _programs
from ralph.bash.model import Analysis, Redirect
from ralph.bash.words import Word
from ralph.bash.wordwalk import (
    _LITERAL_KINDS,
    _SCANNED_KINDS,
    MAX_DEPTH,
    _Ctx,
    _flatten,
    _Redirs,
    _Stdin,
    _text,
)

MAX_SOURCE_BYTES = 64 * 1024
# tree-sitter-bash 0.25.1 passes the character after `{` (or after `{N..`) to the narrow
# isdigit(), which reads far outside its table for non-ASCII code points and can segfault
# (tree-sitter/tree-sitter-bash#337, fix in PR #348). Such input is never parsed.
_SCANNER_CRASH = re.compile(rb"\{[0-9]*(?:\.\.[0-9]*)?[\x80-\xff]")


def analyze(source: str) -> Analysis:
    """Analyse a shell command string. Never raises: failures become `problems`.

    An analysis depends only on its input and is immutable, so results are kept in a
    bounded least-recently-used cache (verify commands and test runs repeat every turn).
    """
    cacheable = isinstance(source, str) and len(source) <= CACHE_MAX_CHARS
    if cacheable:
        with _cache_lock:
            hit = _cache.get(source)
            if hit is not None:
                _cache.move_to_end(source)
                return hit
    result = _analyze(source)
    if cacheable and not any(p.startswith("internal error") for p in result.problems):
        with _cache_lock:
            _cache[source] = result
            if len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return result


def clear_cache() -> None:
    """Forget every cached analysis."""
    with _cache_lock:
        _cache.clear()


CACHE_SIZE = 4096
CACHE_MAX_CHARS = 8192  # longer inputs are analysed every time
_cache: OrderedDict[str, Analysis] = OrderedDict()
_cache_lock = threading.Lock()


def _analyze(source: str) -> Analysis:
    try:
        data = source.encode("utf-8", "surrogatepass")
        if len(data) > MAX_SOURCE_BYTES:
            return Analysis((), (f"input longer than {MAX_SOURCE_BYTES} bytes",))
        if b"\0" in data:  # bash cannot be given it: the command would end there
            return Analysis((), ("NUL byte in input",))
        walker = _Walker()
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
_WORDS = (
    frozenset(
        {"word", "number", "string", "raw_string", "ansi_c_string", "translated_string"}
        | {"concatenation", "simple_expansion", "expansion", "command_substitution"}
        | {"process_substitution", "string_content"}
    )
    | _LITERAL_KINDS
    | _SCANNED_KINDS
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


class _Walker(CommandWalker):
    """Walks syntax trees, collecting commands and problems."""

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
            if _quoted_code(node):
                self.problem("a test evaluates a name that holds a substitution as text")
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

    def pipeline(self, node: Any, ctx: _Ctx, first: str | None) -> None:
        """Walk pipeline stages; each reads what the stages before it produced.

        `stdin_from` is the last program of the previous stage; `input_from` gathers every
        program of the earlier stages (`curl x | tee f | sh`: sh runs what curl fetched).
        """
        feeder = first
        fed: dict[str, None] = dict.fromkeys(ctx.input_from)  # ordered, without repeats
        if first:
            fed[first] = None
        inputs = tuple(fed)
        for child in node.named_children:
            start = len(self.commands)
            stage = ctx
            if feeder is not None:
                stage = ctx._replace(stdin_from=feeder, input_from=inputs)
            self.isolated(lambda child=child, stage=stage: self.stmt(child, stage))
            programs = _programs(self.commands[start:])
            if any(p not in fed for p in programs):  # a new program: copy once, not per stage
                fed.update(dict.fromkeys(programs))
                inputs = tuple(fed)
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


def _quoted_code(node: Any) -> bool:
    """True if a quoted string below `node` holds a substitution as text (`[[ -v 'a[$(x)]' ]]`)."""
    stack = [node]
    while stack:
        child = stack.pop()
        if child.type in ("raw_string", "string_content", "ansi_c_string"):
            if evaluated.value_holds_code(Word(_text(child))):
                return True
        else:
            stack.extend(child.named_children)
    return False
