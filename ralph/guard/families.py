"""Program families: which programs read, write, list, delete, run code or talk to the
network, their read-only subcommands, and small helpers on a `ralph.bash.Command`.

This is built-in knowledge that ships with ralph (tested, versioned); policy files only
decide what to do with it. One table per fact: the other guard modules import it from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ralph.bash import names

if TYPE_CHECKING:
    from ralph.bash import Command


ACCESS = ("read", "list", "write", "truncate", "delete")


@dataclass(frozen=True, slots=True)
class Target:
    """One path a command touches: the word as written, and how it is touched."""

    word: str
    access: str
    follow: bool = True  # resolve a final symlink (deleting a link removes only the link)
    filtered: bool = False  # only some entries below the path (find with tests)
    dynamic: bool = False  # not known before it runs (an expansion, xargs input)
    recursive: str = ""  # a read of everything below: "all" files, or "visible" (no dotfiles)


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def subs(text: str) -> dict[str, frozenset[str] | None]:
    """Read-only subcommands: "status log stash:list,show" (after ':' the allowed next words)."""
    out: dict[str, frozenset[str] | None] = {}
    for item in text.split():
        name, _, verbs = item.partition(":")
        out[name] = frozenset(verbs.split(",")) if verbs else None
    return out


SHELLS = names.ALL_SHELLS
DOWNLOADERS = words("curl wget fetch aria2c http https xh lwp-request nc ncat")
INTERPRETERS = words(
    "python pypy node deno bun perl ruby php lua luajit Rscript julia pwsh powershell osascript"
    " tclsh jshell"
)
INLINE_FLAGS = {
    "python": ("-c",),
    "pypy": ("-c",),
    "node": ("-e", "--eval", "-p", "--print"),
    "deno": ("-e", "--eval"),
    "bun": ("-e", "--eval", "-p", "--print"),
    "perl": ("-e", "-E"),
    "ruby": ("-e",),
    "php": ("-r",),
    "lua": ("-e",),
    "luajit": ("-e",),
    "Rscript": ("-e",),
    "julia": ("-e", "--eval"),
    "pwsh": ("-c", "-Command", "-command"),
    "powershell": ("-c", "-Command", "-command"),
    "osascript": ("-e",),
    "tclsh": (),
    "jshell": (),
}
AWKS = names.AWKS
MKFS = re.compile(r"mkfs(\..+)?|mke2fs|mkswap|mkdosfs|mkntfs|wipefs|blkdiscard")
PARTITIONERS = words("fdisk sfdisk gdisk sgdisk cgdisk cfdisk parted")

# Programs whose positional arguments are paths, and how they are touched.
CONTENT_READERS = words(
    "cat tac nl head tail less more zcat bzcat xzcat zless strings od hexdump base64 base32 cut"
    " paste diff cmp comm join fold fmt column rev expand unexpand iconv bat colordiff sdiff"
    " diff3 look tsort shuf pr"
)
PATTERN_FIRST = words("grep egrep fgrep zgrep rg ag ack")
SCRIPT_FIRST = words("sed jq yq") | AWKS
METADATA = words(
    "ls tree stat file du wc md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum cksum"
    " sum realpath readlink test [ find exa eza lsattr getfacl namei"
)
CREATORS = words("touch mkdir tee")
DELETERS = words("rm unlink rmdir shred srm")
MODE_FIRST = words("chmod chown chgrp chattr setfacl")
COMPRESSORS = words("gzip gunzip bzip2 bunzip2 xz unxz zstd unzstd lz4 compress")
# Commands that never touch paths through their arguments and only read.
QUIET_READERS = words(
    "echo printf pwd id whoami groups uname hostname date env printenv ps pgrep df free uptime"
    " which type whereis true false : sleep seq expr nproc tty locale cal basename dirname cd"
    " pushd popd lsblk lscpu lsof lsusb lspci w who last arch getconf tr sort uniq xxd man help"
    " info apropos command hash jobs wait history export declare local readonly typeset unset"
    " set shopt umask ulimit read shift return break continue exit times dirs bc dc numfmt"
    " factor pstree top htop vmstat iostat netstat ss ip ifconfig dig nslookup host getent tput"
    " stty yes logname users mount"
)
READ_ONLY = CONTENT_READERS | PATTERN_FIRST | SCRIPT_FIRST | METADATA | QUIET_READERS
FILE_WRITERS = (
    CREATORS
    | DELETERS
    | MODE_FIRST
    | COMPRESSORS
    | words("cp mv ln install truncate dd tar unzip zip rsync patch mktemp split csplit")
    | words("dos2unix unix2dos")
)

# Read-only subcommands of tools that do much more.
READ_SUBCOMMANDS: dict[str, dict[str, frozenset[str] | None]] = {
    "git": subs(
        "status log diff show rev-parse ls-files ls-tree ls-remote blame shortlog describe"
        " cat-file grep whatchanged count-objects name-rev merge-base for-each-ref show-ref var"
        " version help rev-list check-ignore check-attr show-branch cherry range-diff annotate"
        " verify-commit verify-tag fsck diff-tree diff-files diff-index get-tar-commit-id"
        " stash:list,show worktree:list submodule:status,summary reflog:show"
        " remote:show,get-url,-v notes:list,show"
    ),
    "kubectl": subs(
        "get describe logs diff explain version api-resources top api-versions cluster-info"
        " events wait config:view,get-contexts,current-context,get-clusters auth:can-i,whoami"
        " rollout:status,history"
    ),
    "helm": subs(
        "template lint list ls status show inspect get history version search env verify"
        " dependency:list repo:list"
    ),
    "terraform": subs(
        "plan validate show version output providers graph state:list,show,pull workspace:list,show"
    ),
    "docker": subs(
        "images ps inspect logs version info history top search image:ls,list,inspect,history"
        " container:ls,list,inspect,logs,top volume:ls,list,inspect network:ls,list,inspect"
        " compose:ps,logs,config,ls,images,top,version context:ls,list,show,inspect"
        " system:df,info buildx:ls,inspect,version"
    ),
    "gh": subs(
        "pr:view,list,status,diff,checks issue:view,list,status release:view,list,download"
        " repo:view,list run:view,list,watch workflow:view,list auth:status search status help"
        " version"
    ),
    "npm": subs(
        "ls list ll la view info show outdated why explain search prefix root help fund doctor"
        " query config:get,list,ls audit"
    ),
    "pip": subs("list show freeze check help inspect debug index config:list,get"),
    "cargo": subs("tree metadata search version locate-project pkgid help"),
    "go": subs("env list version doc help"),
    "systemctl": subs(
        "status list-units list-unit-files list-timers list-sockets is-active is-enabled"
        " is-failed show cat help list-dependencies"
    ),
    "journalctl": {},
    "apt": subs("list search show policy depends rdepends"),
    "apt-cache": {},
    "apt-get": {},
    "brew": subs("list ls info search outdated deps leaves"),
    "vercel": subs("ls list inspect logs whoami help"),
    "netlify": subs("status sites:list logs help whoami"),
    "fly": subs("status logs version releases info help apps:list auth:whoami"),
    "heroku": subs("apps logs ps info releases whoami help"),
    "railway": subs("status logs whoami list help"),
    "twine": subs("check"),
    "alembic": subs("current history heads branches show"),
    "pulumi": subs("preview whoami about version stack:ls,history config:get"),
    "rclone": subs(
        "ls lsd lsl lsf lsjson size check cat tree about listremotes version md5sum sha1sum"
        " hashsum cryptcheck help config:file,paths,providers,redacted"
    ),
    "restic": subs("snapshots check ls stats diff find version cat:config key:list list"),
    "borg": subs("list info diff version check extract:--dry-run"),
    "glab": subs(
        "mr:list,view,diff,checkout issue:list,view ci:status,view,list,trace,get pipeline:list,"
        "status release:list,view repo:view,list label:list auth:status version help"
    ),
    "vault": subs(
        "status version list kv:list,metadata secrets:list auth:list policy:list,read"
        " token:lookup audit:list path-help"
    ),
    "gsutil": subs("ls cat stat du hash version help"),
    "mc": subs("ls cat stat du tree find diff head ping version alias:list admin:info"),
    "ssh-keygen": {},
}
for _alias, _name in (
    ("yarn", "npm"),
    ("pnpm", "npm"),
    ("podman", "docker"),
    ("tofu", "terraform"),
):
    READ_SUBCOMMANDS[_alias] = READ_SUBCOMMANDS[_name]
NO_SUBCOMMAND_READ = words("journalctl apt-cache")  # read-only as a whole

CLOUD_VERBS_READ = words(
    "list describe show info version get-value get-iam-policy help ls cat du hash stat exists"
    " download"
)
CLOUD_VERBS_WRITE = re.compile(
    r"create|delete|deploy|update|set|remove|destroy|apply|start|stop|restart|reset|resize"
    r"|patch|import|export|ssh|scp|sync|cp|mv|rm|rb|mb|attach|detach|enable|disable|login"
    r"|logout|revoke|activate|submit|run|execute|purge|move|add-.*|put-.*|invoke|publish"
)
DRY_RUN_FLAGS = words("--dry-run --dryrun --what-if --check")
DRY_RUN_SHORT = {"git": ("clean", "push"), "rsync": None, "make": None}
INFO_FLAGS = frozenset({"--help", "--version", "-h", "-V", "-version"})


# ---------------------------------------------------------------------------------------------
# Small helpers on a Command.


def base_program(program: str) -> str:
    """python3.11 -> python, nodejs -> node, podman -> docker; other names unchanged."""
    return names.canonical(program)


def option_values(cmd: Command, *names: str) -> list[str]:
    """Values given to any of the options `names` (from the option table, else from argv)."""
    found = [value for opt, value in cmd.option_values if opt in names]
    if found or cmd.flags.isdisjoint(names):
        return found
    argv = cmd.argv  # the option table does not know these options take a value
    for i, word in enumerate(argv[1:-1], 1):
        if word in names:
            found.append(argv[i + 1])
    return found


def is_help(cmd: Command) -> bool:
    """`--help`/`--version` on a program ralph knows exits right after printing."""
    program = base_program(cmd.program)
    known = (
        program in READ_ONLY
        or program in FILE_WRITERS
        or program in READ_SUBCOMMANDS
        or program in INLINE_FLAGS
        or program in KNOWN_TOOLS
    )
    help_word = cmd.argv[1:2] == ("help",) and program in READ_SUBCOMMANDS
    return known and (info_form(cmd) or help_word)


def info_form(cmd: Command) -> bool:
    """The program's own info forms: `prog --version`, `prog -h`, `git commit --help`.

    An info flag anywhere else is not one: `helm upgrade x ./chart --version 2.0.0` installs.
    """
    words = cmd.argv[1:]
    if len(words) == 1:
        return words[0] in INFO_FLAGS
    subcommands = words[:-1]
    return (
        words[-1:] == ("--help",)
        and len(subcommands) <= 2
        and not cmd.dynamic_args
        and all(w.isidentifier() or w.replace("-", "").isalnum() for w in subcommands)
    )


KNOWN_TOOLS = words(
    "make cmake pytest npm npx yarn pnpm node cargo go rustc gcc g++ clang javac java mvn gradle"
    " dotnet ruff black mypy pyright eslint prettier tsc jest vitest uv poetry pipenv tox nox"
    " kubectl helm terraform docker gh aws gcloud az vercel netlify fly railway heroku twine"
    " alembic psql mysql sqlite3 redis-cli systemctl apt apt-get brew curl wget git ssh scp kill"
    " pkill rsync"
)
