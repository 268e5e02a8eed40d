"""What the analysis returns: the commands a shell string runs, and why it may be incomplete."""

from __future__ import annotations

from dataclasses import dataclass


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
