"""Targets of git commands: what `checkout`/`restore` overwrite, what `rm`/`mv` remove,
what `add` stages, and the files whose contents `show`/`diff`/`log`/`blame` print."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ralph.guard.families import Target, option_values

if TYPE_CHECKING:
    from ralph.bash import Command


def git(cmd: Command) -> list[Target]:
    out = [Target(v, "write") for v in option_values(cmd, "--output", "-o") if v != "-"]
    sub = cmd.subcommand
    argv = cmd.argv
    if sub in ("checkout", "restore"):
        after_dashes = "--" in argv and argv.index("--") < len(argv) - 1
        paths = (
            [a for a in cmd.args[1:] if a in argv[argv.index("--") + 1 :]] if after_dashes else []
        )
        if sub == "restore" and not after_dashes:
            paths = list(cmd.args[1:])
        unstage_only = {"--staged", "-S"} & cmd.flags and not {"--worktree", "-W"} & cmd.flags
        if sub == "restore" and unstage_only:
            paths = []  # only unstages
        if not after_dashes and sub == "checkout":
            paths = [a for a in cmd.args[1:] if a in (".", "./", ":/") or "*" in a]
            creating = {"-b", "-B", "--orphan", "--detach"} & cmd.flags
            if not creating:  # `git checkout REF PATH...` overwrites the paths
                paths += [a for a in cmd.args[2:] if a not in paths]
        out += [Target(p, "write") for p in paths]
    elif sub in ("show", "cat-file", "log", "diff", "blame", "annotate", "whatchanged"):
        out += _read_paths(cmd)
    elif sub == "rm":
        out += [Target(a, "delete", follow=False) for a in cmd.args[1:]]
    elif sub in ("add", "stage"):  # staged contents go into history (and out with a push)
        out += [Target(a, "read") for a in cmd.args[1:] if not a.startswith(":")]
    elif sub == "mv":
        out += [Target(a, "delete", follow=False) for a in cmd.args[1:-1]]
        out += [Target(a, "write", follow=False) for a in cmd.args[-1:] if len(cmd.args) > 2]
    return out


def _read_paths(cmd: Command) -> list[Target]:
    """Files whose contents a git read prints: `REV:path`, paths after `--`, blame's file,
    and both sides of `diff --no-index` (files outside the repository)."""
    rest = list(cmd.args[1:])
    argv = cmd.argv
    dashes = argv.index("--") if "--" in argv else len(argv)
    after = set(argv[dashes + 1 :])
    out = [Target(a, "read") for a in rest if a in after]
    for word in rest:
        rev, colon, path = word.partition(":")
        if colon and path and "//" not in word and not rev.startswith(("/", ".")):
            out.append(Target(path, "read"))
    if cmd.subcommand in ("blame", "annotate") or "--no-index" in cmd.flags:
        out += [Target(a, "read") for a in rest if a not in after and ":" not in a]
    return out
