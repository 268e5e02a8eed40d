"""Effects: whether one command only reads, changes local files with a known file tool
("write"), or can do anything else ("exec": builds, tests, network, databases, unknown
programs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ralph.guard.families import (
    AWKS,
    CLOUD_VERBS_READ,
    CLOUD_VERBS_WRITE,
    CREATORS,
    DRY_RUN_FLAGS,
    DRY_RUN_SHORT,
    FILE_WRITERS,
    INLINE_FLAGS,
    KNOWN_TOOLS,
    NO_SUBCOMMAND_READ,
    READ_ONLY,
    READ_SUBCOMMANDS,
    base_program,
    is_help,
    option_values,
)
from ralph.guard.programs import inline_code, inline_source
from ralph.guard.sql import DB_CLIENTS, db_reads_only
from ralph.guard.targets import Target, targets
from ralph.guard.tooltargets import keygen_reads

if TYPE_CHECKING:
    from ralph.bash import Command

EFFECTS = ("read", "write", "exec")


# ---------------------------------------------------------------------------------------------
# Effects.


def effect(cmd: Command, touched: Iterable[Target] | None = None) -> str:
    """read, write or exec: what running this one command can do."""
    touched = targets(cmd) if touched is None else touched
    writes = any(t.access in ("write", "truncate", "delete") for t in touched)
    base = _base_effect(cmd)
    if base == "read" and writes:
        return "write"
    return base


def _base_effect(cmd: Command) -> str:
    program = base_program(cmd.program)
    if is_help(cmd):
        return "read"
    if inline_code(cmd):
        return "exec"
    if program in INLINE_FLAGS:  # python -c 'print(1)' is a read; scripts run code
        return "read" if inline_source(cmd) is not None else "exec"
    if program == "find" and "-delete" in cmd.flags and not {"-ok", "-okdir"} & cmd.flags:
        return "write"
    if program in READ_ONLY:
        return "read" if _reads_only(cmd, program) else "exec"
    if program in DB_CLIENTS:
        return "read" if db_reads_only(cmd) else "exec"
    if _is_dry_run(cmd, program):
        return "read"
    if program in READ_SUBCOMMANDS:
        return "read" if _read_subcommand(cmd, program) else _fallback_effect(program)
    if program in ("aws", "gcloud", "az"):
        return "read" if _cloud_reads(cmd, program) else "exec"
    if program == "rsync" and any(re.match(r"^[^/]*:", a) for a in cmd.args):
        return "exec"  # copies to or from another machine
    if program in FILE_WRITERS or program in CREATORS:
        return "write"
    return "exec"


def _fallback_effect(program: str) -> str:
    return "write" if program in FILE_WRITERS else "exec"


def _reads_only(cmd: Command, program: str) -> bool:
    """Vet the options of read-only programs that can also run or write things."""
    flags = cmd.flags
    if program == "find":
        return not ({"-ok", "-okdir", "-delete"} & flags)
    if program == "rg":
        return not ({"--pre", "-z", "--search-zip", "--hostname-bin"} & flags)
    if program == "sed":
        scripts = option_values(cmd, "-e", "--expression") or list(cmd.args[:1])
        return not any(_SED_RUNS.search(s) for s in scripts)
    if program in AWKS:
        script = cmd.args[:1]
        return not any(re.search(r"system\s*\(|\||>|getline", s) for s in script)
    if program == "date":
        return not ({"-s", "--set"} & flags)
    if program == "hostname":
        return not cmd.args
    if program in ("env", "command"):
        return True
    if program in ("export", "declare", "local", "readonly", "typeset", "set", "unset"):
        return True
    if program == "mount":
        return not cmd.args
    if program in ("ip", "ifconfig"):
        return not set(cmd.args) & {"add", "del", "delete", "set", "flush", "change", "up"}
    if program in ("top", "htop"):
        return True
    return True


_SED_RUNS = re.compile(r"(^|[;{}\n])\s*[0-9$,/!^.*\\a-z]*\s*[ewW]\s|/[gpiIm0-9]*[ew]\b|\be\s*$")


_GLOBAL_VALUES = {"restic": ("-r", "--repo", "-p", "--password-file"), "borg": ("--remote-path",)}
"""Global options whose value comes before the subcommand (the option tables do not know)."""


def _read_subcommand(cmd: Command, program: str) -> bool:
    table = READ_SUBCOMMANDS[program]
    sub = cmd.subcommand
    values = set(option_values(cmd, *_GLOBAL_VALUES.get(program, ())))
    if sub in values:  # `restic -r REPO snapshots`: the subcommand is the next word
        sub = next((a for a in cmd.args if a not in values), None)
    if program == "ssh-keygen":
        return keygen_reads(cmd)
    if program in NO_SUBCOMMAND_READ:
        return not ({"--vacuum-size", "--vacuum-time", "--rotate", "--flush"} & cmd.flags)
    if program == "git":
        return _git_reads(cmd, table)
    if program == "terraform" and sub == "fmt":
        return bool({"-check", "-diff"} & cmd.flags) and "-write" not in cmd.flags
    if program == "terraform" and sub == "plan" and option_values(cmd, "-out"):
        return False
    if program == "go" and sub == "env":
        return not ({"-w", "-u"} & cmd.flags)
    if program in ("npm", "yarn", "pnpm") and sub == "audit":
        return "fix" not in cmd.args
    if sub is None or sub not in table:
        return False
    allowed = table[sub]
    return allowed is None or (len(cmd.args) > 1 and cmd.args[1] in allowed)


def _git_reads(cmd: Command, table: dict[str, frozenset[str] | None]) -> bool:
    flags = cmd.flags
    if {"--config-env", "--exec-path", "--ext-diff", "--textconv", "--exec"} & flags:
        return False
    if implied_assignments(cmd):
        return False
    sub = cmd.subcommand
    rest = cmd.args[1:]
    if sub == "branch":
        changing = {"-d", "-D", "-m", "-M", "-c", "-C", "--delete", "--move", "--copy", "-f"}
        changing |= {"--set-upstream-to", "-u", "--unset-upstream", "--edit-description"}
        listing = {"-l", "--list"} & flags
        return not (changing & flags) and (not rest or bool(listing))
    if sub == "tag":
        return not ({"-d", "-a", "-s", "-f", "-m", "-F", "--delete"} & flags) and (
            not rest or bool({"-l", "--list"} & flags)
        )
    if sub == "config":
        changing = {"--unset", "--unset-all", "--add", "--replace-all", "--rename-section"}
        if (changing | {"--remove-section", "--edit", "-e"}) & flags:
            return False
        reading = {"--get", "--get-all", "--get-regexp", "--list", "-l", "--show-origin"}
        return bool(reading & flags) or (len(rest) == 1 and "." in rest[0] and "=" not in rest[0])
    if sub == "remote":
        return not rest or rest[0] in ("show", "get-url", "-v")
    if sub == "reflog":
        return not rest or rest[0] == "show"
    if sub == "stash" and not rest:
        return False
    if sub not in table:
        return False
    allowed = table[sub]
    return allowed is None or (bool(rest) and rest[0] in allowed)


_GIT_GLOBAL_VALUES = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})


def implied_assignments(cmd: Command) -> tuple[str, ...]:
    """Variables a program sets for itself from its options: `git -c k=v` (before the
    subcommand) is passed on as GIT_CONFIG_PARAMETERS; `git switch -c NAME` is not."""
    if cmd.program != "git":
        return ()
    words = iter(cmd.argv[1:])
    for word in words:
        if not word.startswith("-") or word == "--":
            break
        if word.startswith("-c") or word.startswith("--config-env"):
            return ("GIT_CONFIG_PARAMETERS",)
        if word in _GIT_GLOBAL_VALUES:
            next(words, None)
    return ()


def _is_dry_run(cmd: Command, program: str) -> bool:
    if DRY_RUN_FLAGS & cmd.flags:
        if program == "kubectl":
            values = option_values(cmd, "--dry-run")
            return not values or all(v != "none" for v in values)
        return program in KNOWN_TOOLS or program in READ_SUBCOMMANDS
    if program in DRY_RUN_SHORT and {"-n", "--dry-run"} & cmd.flags:
        subs = DRY_RUN_SHORT[program]
        return subs is None or cmd.subcommand in subs
    return program in ("terraform",) and cmd.subcommand == "plan" and not option_values(cmd, "-out")


def _cloud_reads(cmd: Command, program: str) -> bool:
    args = cmd.args
    if program == "aws":
        if len(args) >= 2:
            verb = args[1]
            if args[0] == "s3":
                return verb == "ls"
            return bool(re.match(r"(describe|list|get)-", verb)) or args[:2] == (
                "sts",
                "get-caller-identity",
            )
        return args[:1] == ("help",)
    for word in reversed(args):  # the verb is the last verb-like word: resource names follow it
        if word in CLOUD_VERBS_READ:
            return True
        if CLOUD_VERBS_WRITE.fullmatch(word):
            return False
    return False
