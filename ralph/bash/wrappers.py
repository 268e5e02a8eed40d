"""Wrappers: programs that run the rest of their arguments as a command (sudo, env, xargs ...)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from ralph.bash.options import fs
from ralph.bash.words import Word

ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Wrap:
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
    starts: frozenset[str] = frozenset()  # nix shell -c: the command follows this option
    shell_mode: frozenset[str] = frozenset()  # pnpm exec -c: the command words are shell code
    dashdash: bool = False  # mise exec TOOLS -- CMD: with a `--`, the command follows it
    strings: bool = False  # hyperfine 'a' 'b': every positional is a shell string of its own
    scan: bool = False  # nix-shell PKGS --run CODE: options may follow positional words
    until: frozenset[str] = frozenset()  # parallel CMD ::: ARGS: the command ends at these


WRAPPERS: dict[str, Wrap] = {
    "sudo": Wrap(
        chdir=fs("-D", "--chdir"),
        value=fs("-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-T", "-U", "--user", "--group")
        | fs("--close-from", "--chdir", "--host", "--prompt", "--role", "--type", "--other-user")
        | fs("--command-timeout"),
        stop=fs("-l", "-v", "-K", "-e", "-V", "--list", "--validate", "--edit", "--version")
        | fs("--remove-timestamp", "--help"),
        assignments=True,
    ),
    "doas": Wrap(value=fs("-u", "-C"), stop=fs("-C", "-L")),
    "env": Wrap(
        value=fs("-u", "--unset", "-C", "--chdir", "-P", "-a", "--argv0"),
        split=fs("-S", "--split-string"),
        chdir=fs("-C", "--chdir"),
        stop=fs("--help", "--version"),
        assignments=True,
    ),
    "nice": Wrap(value=fs("-n", "--adjustment")),
    "nohup": Wrap(),
    "timeout": Wrap(value=fs("-s", "--signal", "-k", "--kill-after"), operands=1),
    "time": Wrap(value=fs("-o", "--output", "-f", "--format")),
    "stdbuf": Wrap(value=fs("-i", "-o", "-e", "--input", "--output", "--error")),
    "xargs": Wrap(
        value=fs("-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s", "--arg-file", "--delimiter")
        | fs("--eof", "--replace", "--max-lines", "--max-args", "--max-procs", "--max-chars")
        | fs("--process-slot-var"),
        attached=fs("-e", "-i", "-l"),
        stop=fs("--help", "--version"),
        implicit_args=True,
    ),
    "command": Wrap(stop=fs("-v", "-V")),
    "exec": Wrap(value=fs("-a")),
    "builtin": Wrap(),
    "noglob": Wrap(),
    "nocorrect": Wrap(),
    "coproc": Wrap(),
    "watch": Wrap(
        value=fs("-n", "--interval", "-q", "--equexit", "-s", "--shotsdir"),
        attached=fs("-d"),
        exec_=fs("-x", "--exec"),
        joined=True,
    ),
    "flock": Wrap(
        value=fs("-E", "--conflict-exit-code", "-w", "--wait", "--timeout"),
        shell=fs("-c", "--command"),
        operands=1,
    ),
    "chroot": Wrap(value=fs("--userspec", "--groups"), operands=1),
    "ionice": Wrap(
        value=fs("-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u"),
        stop=fs("-p", "--pid", "-P", "--pgid", "-u", "--uid"),
    ),
    "setsid": Wrap(),
    "caffeinate": Wrap(value=fs("-t", "-w")),
    "taskset": Wrap(operands=1, stop=fs("-p", "--pid")),
    "chrt": Wrap(value=fs("-T", "-P", "-D"), operands=1, stop=fs("-p", "--pid", "-m")),
    "unbuffer": Wrap(),
    "busybox": Wrap(),
    "toybox": Wrap(),
    "pkexec": Wrap(value=fs("--user")),
    "su": Wrap(
        value=fs("-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w"),
        shell=fs("-c", "--command", "--session-command"),
        no_command=True,
    ),
}


@dataclass(slots=True)
class Unwrapped:
    rest: list[Word]  # the wrapped command's words (empty: the wrapper is the command)
    shells: list[Word] = field(default_factory=list)  # shell code the wrapper runs instead
    assignments: tuple[str, ...] = ()
    problem: str | None = None
    chdir: Word | None = None  # directory the command runs in (env -C)


def skip_wrapper(spec: Wrap, words: list[Word]) -> Unwrapped:
    """Skip a wrapper's own options and operands; return what it runs."""
    return _Reader(spec, words).read()


class _Reader:
    """Reads a wrapper's arguments left to right (words[0] is the wrapper itself)."""

    def __init__(self, spec: Wrap, words: list[Word]) -> None:
        self.spec = spec
        self.words = list(words)
        self.i = 1
        self.found = Unwrapped(rest=[])
        self.assignments: list[str] = []
        self.operands = spec.operands
        self.stop = self.direct = self.started = self.joined = self.by_option = False
        self.skipped: list[int] = []  # positions of words passed over (scan, dashdash)

    def read(self) -> Unwrapped:
        words, spec = self.words, self.spec
        while self.i < len(words) and not self.started:
            word = words[self.i]
            if word.value == "--":
                self.i += 1
                self.skipped.clear()  # mise exec TOOLS -- CMD: the tools are not the command
                break
            if not self.positional(word):
                self.i += 1
                self.options(word)
        if spec.dashdash and not self.started and self.skipped:
            self.i = self.skipped[0]  # no `--`: the words after the options are the command
        return self.finish(words[self.i :])

    def positional(self, word: Word) -> bool:
        """Handle a word that is not an option; True if it was consumed or ends the options."""
        text, spec = word.value, self.spec
        if spec.assignments and not word.dynamic and ASSIGNMENT.match(text):
            self.assignments.append(text)
            self.i += 1
            return True
        if len(text) >= 2 and text[0] == "-" and not word.dynamic:
            return False
        if self.operands and not word.dynamic:
            self.operands -= 1
        elif spec.scan or spec.dashdash:
            self.skipped.append(self.i)
        else:
            self.started = True  # the command starts here
            return True
        self.i += 1
        return True

    def options(self, word: Word) -> None:
        words, spec = self.words, self.spec
        for opt, attached in _wrapper_options(spec, word.value, self.i < len(words)):
            value = None
            if attached is _NEXT:
                value = words[self.i]
                self.i += 1
            elif attached is not None:
                value = Word(attached, word.dynamic)
            self.stop = self.stop or opt in spec.stop
            self.direct = self.direct or opt in spec.exec_
            self.joined = self.joined or opt in spec.shell_mode
            if opt in spec.starts:
                self.started = self.by_option = True
            if value is not None:
                self.value(opt, value)

    def value(self, opt: str, value: Word) -> None:
        spec, found = self.spec, self.found
        if opt in spec.shell:
            found.shells.append(value)
        if opt in spec.chdir:
            found.chdir = value
        if opt in spec.split:
            split = _split_string(value)
            if split is None:
                found.problem = f"cannot split {opt} string {value.value!r}"
                self.stop = True
            else:
                self.words[self.i : self.i] = split

    def finish(self, rest: list[Word]) -> Unwrapped:
        spec, found = self.spec, self.found
        found.assignments = tuple(self.assignments)
        if spec.until:
            rest = rest[: next((k for k, w in enumerate(rest) if w.value in spec.until), None)]
        if self.operands and rest and not found.shells:
            rest = rest[self.operands :]
        if self.stop:
            found.shells = []
        elif spec.strings and not found.shells:
            found.shells = rest
        elif found.shells or (spec.no_command and not self.by_option):
            pass
        elif ((spec.joined and not self.direct) or self.joined) and rest:
            found.shells = [Word(" ".join(w.value for w in rest), any(w.dynamic for w in rest))]
        else:
            found.rest = rest
        return found


_NEXT = object()  # the option takes the next word as its value


def _wrapper_options(spec: Wrap, text: str, more: bool) -> list[tuple[str, Any]]:
    """The options in one wrapper word, each with None, `_NEXT` or its attached value."""
    takes = spec.value | spec.shell | spec.split | spec.chdir
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


def _split_string(word: Word) -> list[Word] | None:
    """Split an `env -S` string into words (no expansions allowed)."""
    if word.dynamic or "$" in word.value or "\\c" in word.value:
        return None
    try:
        return [Word(part) for part in shlex.split(word.value)]
    except ValueError:
        return None


def shell_mode(words: list[Word]) -> tuple[str, Word | None]:
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
