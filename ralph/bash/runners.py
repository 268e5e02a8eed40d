"""Programs that run a command or shell code given in their arguments.

`git bisect run CMD`, `docker run IMAGE CMD`, `trap CODE SIG`, `tar --to-command=CMD` ...
"""

from __future__ import annotations

from ralph.bash.options import OPTIONS, fs, parse_args, table_name
from ralph.bash.words import Word

FIND_EXEC = fs("-exec", "-execdir", "-ok", "-okdir")
_EMBEDDED_OPTIONS = {  # options whose value the program runs as a command
    "tar": fs("--to-command", "--info-script", "--new-volume-script", "-F", "-I")
    | fs("--use-compress-program"),
    "rsync": fs("-e", "--rsh"),
    "script": fs("-c", "--command"),
}


def embedded_command(program: str, words: list[Word]) -> list[Word]:
    """The words of a command that a (non-wrapper) program runs: `git bisect run CMD ...`,
    `docker run IMAGE CMD ...` (judged as if it ran here: container paths count as local ones).
    """
    if program == "git":
        _, args, _ = parse_args(program, words[1:])
        if [a.value for a in args[:2]] == ["bisect", "run"]:
            return words[words.index(args[1]) + 1 :]
    if table_name(program) == "docker":
        _, args, values = parse_args(program, words[1:])
        runs = OPTIONS["docker"].runs_command
        for n in range(1, min(len(args), 3)):
            if " ".join(a.value for a in args[:n]) in runs and len(args) > n:
                start = next(i for i, w in enumerate(words) if w is args[n]) + 1
                entry = [v for o, v in values if o == "--entrypoint"]
                return entry[-1:] + words[start:] if entry or words[start:] else []
    return []


def embedded_shell(program: str, words: list[Word]) -> list[Word]:
    """Shell code that a (non-wrapper) program runs from its arguments."""
    if program == "trap":  # trap ACTION SIGNAL...: ACTION runs later, as shell code
        rest = words[2:] if words[1:2] and words[1].value == "--" else words[1:]
        action = rest[0] if len(rest) > 1 else None
        return [action] if action and action.value not in ("-", "") else []
    if program not in ("git", "tar", "rsync", "ssh", "script"):
        return []
    _, args, values = parse_args(program, words[1:])
    out: list[Word] = []
    if program == "git" and [a.value for a in args[:2]] == ["submodule", "foreach"]:
        rest = words[words.index(args[1]) + 1 :]
        while rest and rest[0].value in ("--recursive", "--quiet", "-q"):
            rest = rest[1:]
        if rest:
            out.append(Word(" ".join(w.value for w in rest), any(w.dynamic for w in rest)))
    for opt, value in values:
        if program == "git" and args and args[0].value == "rebase" and opt in ("-x", "--exec"):
            out.append(value)
        elif program == "tar" and opt == "--checkpoint-action":
            if value.value.startswith("exec="):
                out.append(Word(value.value[5:], value.dynamic))
        elif opt in _EMBEDDED_OPTIONS.get(program, ()):
            out.append(value)
        elif program == "ssh" and opt == "-o":
            key, _, command = value.value.replace("=", " ", 1).partition(" ")
            if key.lower() in ("proxycommand", "localcommand"):
                out.append(Word(command, value.dynamic))
    return out
