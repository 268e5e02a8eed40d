"""What the guard knows about programs: which arguments are paths and how they are touched,
whether a command only reads, and whether it runs inline code.

This is built-in knowledge that ships with ralph (tested, versioned); policy files only
decide what to do with it. Everything here works on one `shell.Command` at a time:

- `targets(cmd)` -> the paths a command touches, each with an access kind:
  read (content), list (metadata only: ls, stat, wc, find), write, truncate (empties an
  existing file), delete. Redirections count too (`>` write, `<` read).
- `effect(cmd)` -> "read" (only reads), "write" (changes files with a known file tool:
  cp, mv, rm, mkdir, sed -i, a redirect ...) or "exec" (anything else: builds, tests,
  network, databases, unknown programs).
- `inline_code(cmd)` -> True for `python -c`, `node -e`, `perl -e`, ... (except Python
  that only prints literals), and interpreters reading their program from stdin.
- `downloads_into_executor(cmd)`, `makes_filesystem(cmd)` -> hard-floor facts.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ralph.bash import names

if TYPE_CHECKING:
    from ralph.bash import Command

ACCESS = ("read", "list", "write", "truncate", "delete")
EFFECTS = ("read", "write", "exec")


@dataclass(frozen=True, slots=True)
class Target:
    """One path a command touches: the word as written, and how it is touched."""

    word: str
    access: str
    follow: bool = True  # resolve a final symlink (deleting a link removes only the link)
    filtered: bool = False  # only some entries below the path (find with tests)
    dynamic: bool = False  # not known before it runs (an expansion, xargs input)


# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# Program families.


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _subs(text: str) -> dict[str, frozenset[str] | None]:
    """Read-only subcommands: "status log stash:list,show" (after ':' the allowed next words)."""
    out: dict[str, frozenset[str] | None] = {}
    for item in text.split():
        name, _, verbs = item.partition(":")
        out[name] = frozenset(verbs.split(",")) if verbs else None
    return out


SHELLS = names.ALL_SHELLS
DOWNLOADERS = _words("curl wget fetch aria2c http https xh lwp-request nc ncat")
INTERPRETERS = _words(
    "python pypy node deno bun perl ruby php lua luajit Rscript julia pwsh powershell osascript"
    " tclsh jshell"
)
_INLINE_FLAGS = {
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
_AWKS = names.AWKS
_MKFS = re.compile(r"mkfs(\..+)?|mke2fs|mkswap|mkdosfs|mkntfs|wipefs|blkdiscard")
_PARTITIONERS = _words("fdisk sfdisk gdisk sgdisk cgdisk cfdisk parted")

# Programs whose positional arguments are paths, and how they are touched.
_CONTENT_READERS = _words(
    "cat tac nl head tail less more zcat bzcat xzcat zless strings od hexdump base64 base32 cut"
    " paste diff cmp comm join fold fmt column rev expand unexpand iconv bat colordiff sdiff"
    " diff3 look tsort shuf pr"
)
_PATTERN_FIRST = _words("grep egrep fgrep zgrep rg ag ack")
_SCRIPT_FIRST = _words("sed jq yq") | _AWKS
_METADATA = _words(
    "ls tree stat file du wc md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum cksum"
    " sum realpath readlink test [ find exa eza lsattr getfacl namei"
)
_CREATORS = _words("touch mkdir tee")
_DELETERS = _words("rm unlink rmdir shred srm")
_MODE_FIRST = _words("chmod chown chgrp chattr setfacl")
_COMPRESSORS = _words("gzip gunzip bzip2 bunzip2 xz unxz zstd unzstd lz4 compress")
# Commands that never touch paths through their arguments and only read.
_QUIET_READERS = _words(
    "echo printf pwd id whoami groups uname hostname date env printenv ps pgrep df free uptime"
    " which type whereis true false : sleep seq expr nproc tty locale cal basename dirname cd"
    " pushd popd lsblk lscpu lsof lsusb lspci w who last arch getconf tr sort uniq xxd man help"
    " info apropos command hash jobs wait history export declare local readonly typeset unset"
    " set shopt umask ulimit read shift return break continue exit times dirs bc dc numfmt"
    " factor pstree top htop vmstat iostat netstat ss ip ifconfig dig nslookup host getent tput"
    " stty yes logname users mount"
)
_READ_ONLY = _CONTENT_READERS | _PATTERN_FIRST | _SCRIPT_FIRST | _METADATA | _QUIET_READERS
_FILE_WRITERS = (
    _CREATORS
    | _DELETERS
    | _MODE_FIRST
    | _COMPRESSORS
    | _words("cp mv ln install truncate dd tar unzip zip rsync patch mktemp split csplit")
    | _words("dos2unix unix2dos")
)

# Read-only subcommands of tools that do much more.
_READ_SUBCOMMANDS: dict[str, dict[str, frozenset[str] | None]] = {
    "git": _subs(
        "status log diff show rev-parse ls-files ls-tree ls-remote blame shortlog describe"
        " cat-file grep whatchanged count-objects name-rev merge-base for-each-ref show-ref var"
        " version help rev-list check-ignore check-attr show-branch cherry range-diff annotate"
        " verify-commit verify-tag fsck diff-tree diff-files diff-index get-tar-commit-id"
        " stash:list,show worktree:list submodule:status,summary reflog:show"
        " remote:show,get-url,-v notes:list,show"
    ),
    "kubectl": _subs(
        "get describe logs diff explain version api-resources top api-versions cluster-info"
        " events wait config:view,get-contexts,current-context,get-clusters auth:can-i,whoami"
        " rollout:status,history"
    ),
    "helm": _subs(
        "template lint list ls status show inspect get history version search env verify"
        " dependency:list repo:list"
    ),
    "terraform": _subs(
        "plan validate show version output providers graph state:list,show,pull workspace:list,show"
    ),
    "docker": _subs(
        "images ps inspect logs version info history top search image:ls,list,inspect,history"
        " container:ls,list,inspect,logs,top volume:ls,list,inspect network:ls,list,inspect"
        " compose:ps,logs,config,ls,images,top,version context:ls,list,show,inspect"
        " system:df,info buildx:ls,inspect,version"
    ),
    "gh": _subs(
        "pr:view,list,status,diff,checks issue:view,list,status release:view,list,download"
        " repo:view,list run:view,list,watch workflow:view,list auth:status search status help"
        " version"
    ),
    "npm": _subs(
        "ls list ll la view info show outdated why explain search prefix root help fund doctor"
        " query config:get,list,ls audit"
    ),
    "pip": _subs("list show freeze check help inspect debug index config:list,get"),
    "cargo": _subs("tree metadata search version locate-project pkgid help"),
    "go": _subs("env list version doc help"),
    "systemctl": _subs(
        "status list-units list-unit-files list-timers list-sockets is-active is-enabled"
        " is-failed show cat help list-dependencies"
    ),
    "journalctl": {},
    "apt": _subs("list search show policy depends rdepends"),
    "apt-cache": {},
    "apt-get": {},
    "brew": _subs("list ls info search outdated deps leaves"),
    "vercel": _subs("ls list inspect logs whoami help"),
    "netlify": _subs("status sites:list logs help whoami"),
    "fly": _subs("status logs version releases info help apps:list auth:whoami"),
    "heroku": _subs("apps logs ps info releases whoami help"),
    "railway": _subs("status logs whoami list help"),
    "twine": _subs("check"),
    "alembic": _subs("current history heads branches show"),
    "pulumi": _subs("preview whoami about version stack:ls,output,history config:get"),
}
for _alias, _name in (
    ("yarn", "npm"),
    ("pnpm", "npm"),
    ("podman", "docker"),
    ("tofu", "terraform"),
):
    _READ_SUBCOMMANDS[_alias] = _READ_SUBCOMMANDS[_name]
_NO_SUBCOMMAND_READ = _words("journalctl apt-cache")  # read-only as a whole

_CLOUD_VERBS_READ = _words("list describe show info version get-value get-iam-policy help")
_CLOUD_VERBS_WRITE = re.compile(
    r"create|delete|deploy|update|set|remove|destroy|apply|start|stop|restart|reset|resize"
    r"|patch|import|export|ssh|scp|sync|cp|mv|rm|rb|mb|attach|detach|enable|disable|login"
    r"|logout|revoke|activate|submit|run|execute|purge|move|add-.*|put-.*|invoke|publish"
)
_DRY_RUN_FLAGS = _words("--dry-run --dryrun --what-if --check")
_DRY_RUN_SHORT = {"git": ("clean", "push"), "rsync": None, "make": None}
_INFO_FLAGS = frozenset({"--help", "--version", "-h", "-V", "-version"})

_DB_CLIENTS = _words("psql mysql mariadb sqlite3 redis-cli clickhouse-client cqlsh duckdb")
_SQL_READ = re.compile(r"(select|explain|show|describe|desc|pragma|values|table|with)\b", re.I)
_SQL_WRITE_WORD = re.compile(
    r"\b(insert|update|delete|drop|alter|create|truncate|grant|revoke|merge|replace|attach"
    r"|detach|vacuum|reindex|copy|call|lock|into|rename|comment|cluster|refresh|load)\b",
    re.I,
)
_SQL_META_READ = re.compile(
    r"(\.(schema|tables|indexes|indices|databases|help|show|mode|headers|width|timer|dbinfo"
    r"|fullschema|lint)|\\(d[a-zA-Z+]*|l\+?|\?|conninfo|x|dt\+?|timing))\b.*"
)
_REDIS_READ = _words(
    "get mget keys scan info ping ttl pttl type exists hget hgetall hkeys hvals hlen lrange llen"
    " smembers scard zrange zcard zscore dbsize strlen echo time sscan hscan zscan memory slowlog"
    " lastsave role object getrange hmget lindex"
)
_SQL_OPTS = {
    "psql": ("-c", "--command"),
    "mysql": ("-e", "--execute"),
    "mariadb": ("-e", "--execute"),
    "clickhouse-client": ("-q", "--query"),
    "cqlsh": ("-e", "--execute"),
    "duckdb": ("-c",),
    "sqlite3": ("-cmd",),
}
_SQL_FILE_OPTS = ("-f", "--file")

_LITERAL_CALLS = frozenset(
    {"print", "len", "str", "int", "float", "sum", "min", "max", "range", "sorted", "abs"}
    | {"round", "repr", "bool", "list", "tuple", "dict", "set", "chr", "ord", "hex", "format"}
)
_LITERAL_NODES = tuple(
    getattr(ast, name)
    for name in _words(
        "Module Expr Pass Call Constant JoinedStr FormattedValue BinOp UnaryOp BoolOp Compare"
        " Tuple List Dict Set keyword Name Load Subscript Slice IfExp operator unaryop boolop"
        " cmpop expr_context"
    )
)


# ---------------------------------------------------------------------------------------------
# Small helpers on a Command.


def base_program(program: str) -> str:
    """python3.11 -> python, nodejs -> node, podman -> docker; other names unchanged."""
    return names.canonical(program)


def option_values(cmd: Command, *names: str) -> list[str]:
    """Values given to any of the options `names` (from the option table, else from argv)."""
    found = [value for opt, value in cmd.option_values if opt in names]
    if found or not any(n in cmd.flags for n in names):
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
        program in _READ_ONLY
        or program in _FILE_WRITERS
        or program in _READ_SUBCOMMANDS
        or program in _INLINE_FLAGS
        or program in KNOWN_TOOLS
    )
    help_word = cmd.argv[1:2] == ("help",) and program in _READ_SUBCOMMANDS
    return known and (info_form(cmd) or help_word)


def info_form(cmd: Command) -> bool:
    """The program's own info forms: `prog --version`, `prog -h`, `git commit --help`.

    An info flag anywhere else is not one: `helm upgrade x ./chart --version 2.0.0` installs.
    """
    words = cmd.argv[1:]
    if len(words) == 1:
        return words[0] in _INFO_FLAGS
    subcommands = words[:-1]
    return (
        words[-1:] == ("--help",)
        and len(subcommands) <= 2
        and not cmd.dynamic_args
        and all(w.isidentifier() or w.replace("-", "").isalnum() for w in subcommands)
    )


KNOWN_TOOLS = _words(
    "make cmake pytest npm npx yarn pnpm node cargo go rustc gcc g++ clang javac java mvn gradle"
    " dotnet ruff black mypy pyright eslint prettier tsc jest vitest uv poetry pipenv tox nox"
    " kubectl helm terraform docker gh aws gcloud az vercel netlify fly railway heroku twine"
    " alembic psql mysql sqlite3 redis-cli systemctl apt apt-get brew curl wget git ssh scp kill"
    " pkill rsync"
)


# ---------------------------------------------------------------------------------------------
# Targets: the paths a command touches.


def targets(cmd: Command) -> list[Target]:
    """Every path `cmd` touches through its arguments and redirections."""
    out = _redirect_targets(cmd)
    program = base_program(cmd.program)
    handler = _HANDLERS.get(program)
    if handler is not None:
        out.extend(handler(cmd))
    elif program in _CONTENT_READERS:
        out.extend(Target(a, "read") for a in cmd.args)
    elif program in _METADATA:
        out.extend(Target(a, "list") for a in cmd.args)
    elif program in _CREATORS:
        out.extend(Target(a, "write") for a in cmd.args)
    elif program in _DELETERS:
        out.extend(Target(a, "delete", follow=False) for a in cmd.args)
    elif program in _MODE_FIRST:
        skip = 0 if any(f.startswith("--reference") for f in cmd.flags) else 1
        out.extend(Target(a, "write") for a in cmd.args[skip:])
    elif program in _COMPRESSORS:
        keep = {"-c", "-k", "--stdout", "--keep", "-t", "--test", "-l", "--list"} & cmd.flags
        out.extend(Target(a, "read" if keep else "write") for a in cmd.args)
    elif program in _INLINE_FLAGS or program in SHELLS:
        script = script_file(cmd)
        if script is not None:
            out.append(Target(script, "read"))
    if cmd.implicit_args and "xargs" in cmd.wrappers and takes_paths(program):
        out.append(Target("(arguments from xargs)", _main_access(program), dynamic=True))
    return out


def takes_paths(program: str) -> bool:
    """True if the program's positional arguments are (mostly) paths."""
    program = base_program(program)
    return (
        program in _HANDLERS
        or program in _CONTENT_READERS
        or program in _METADATA
        or program in _CREATORS
        or program in _DELETERS
        or program in _MODE_FIRST
        or program in _COMPRESSORS
    )


def _main_access(program: str) -> str:
    if program in _DELETERS or program == "mv":
        return "delete"
    if program in _METADATA:
        return "list"
    if program in _CONTENT_READERS or program in _PATTERN_FIRST or program in _SCRIPT_FIRST:
        return "read"
    return "write"


def _redirect_targets(cmd: Command) -> list[Target]:
    out: list[Target] = []
    truncating = _outputs_nothing(cmd)
    for redirect in cmd.redirects:
        op = redirect.op.lstrip("0123456789")
        target = redirect.target
        if op in ("<<", "<<<", "<<-"):
            continue
        if "&" in op and op not in ("&>", "&>>") and (target is None or _fd_word(target)):
            continue  # >&2, <&0, >&-: duplicates a file descriptor
        if target is None:
            out.append(Target("(redirect target)", "write", dynamic=True))
            continue
        if op == "<":
            out.append(Target(target, "read"))
        elif op == "<>":
            out.extend((Target(target, "read"), Target(target, "write")))
        elif op.endswith(">>"):
            out.append(Target(target, "write"))
        else:
            out.append(Target(target, "truncate" if truncating else "write"))
    return out


def _fd_word(word: str) -> bool:
    return word.isdigit() or word == "-"


def _outputs_nothing(cmd: Command) -> bool:
    """Commands whose `>` redirect leaves the file empty (`: > f`, `cat /dev/null > f`)."""
    program = cmd.program
    if program in (":", "true", "false"):
        return True
    if program == "cat":
        return cmd.args == ("/dev/null",)
    if program == "echo":
        return not cmd.args and "-n" in cmd.flags
    if program == "printf":
        return cmd.args in ((), ("",))
    return False


def _first_operand_is_code(cmd: Command, code_opts: tuple[str, ...]) -> tuple[str, ...]:
    """Positional args after the pattern/script operand (unless it was given by an option)."""
    if any(opt in code_opts for opt, _ in cmd.option_values) or set(code_opts) & cmd.flags:
        return cmd.args
    return cmd.args[1:]


def _grep(cmd: Command) -> list[Target]:
    files = _first_operand_is_code(cmd, ("-e", "--regexp", "-f", "--file"))
    out = [Target(a, "read") for a in files]
    out += [Target(f, "read") for f in option_values(cmd, "-f", "--file")]
    if not files and {"-r", "-R", "--recursive"} & cmd.flags:
        out.append(Target(".", "read"))
    return out


def _sed(cmd: Command) -> list[Target]:
    files = _first_operand_is_code(cmd, ("-e", "--expression", "-f", "--file"))
    in_place = "-i" in cmd.flags or "--in-place" in cmd.flags
    out = [Target(a, "write" if in_place else "read") for a in files]
    out += [Target(f, "read") for f in option_values(cmd, "-f", "--file")]
    return out


def _awk(cmd: Command) -> list[Target]:
    files = _first_operand_is_code(cmd, ("-f", "--file"))
    files = tuple(a for a in files if "=" not in a)  # var=value assignments
    return [Target(a, "read") for a in files] + [
        Target(f, "read") for f in option_values(cmd, "-f", "--file")
    ]


def _jq(cmd: Command) -> list[Target]:
    files = _first_operand_is_code(cmd, ("-f", "--from-file"))
    in_place = "-i" in cmd.flags or "--inplace" in cmd.flags
    return [Target(a, "write" if in_place else "read") for a in files]


def _sort(cmd: Command) -> list[Target]:
    out = [Target(a, "read") for a in cmd.args]
    return out + [Target(f, "write") for f in option_values(cmd, "-o", "--output")]


def _uniq(cmd: Command) -> list[Target]:
    out = [Target(a, "read") for a in cmd.args[:1]]
    return out + [Target(a, "write") for a in cmd.args[1:2]]


def _xxd(cmd: Command) -> list[Target]:
    out = [Target(a, "read") for a in cmd.args[:1]]
    return out + [Target(a, "write") for a in cmd.args[1:2]]


def _tree(cmd: Command) -> list[Target]:
    return [Target(a, "list") for a in cmd.args] + [
        Target(f, "write") for f in option_values(cmd, "-o")
    ]


def _copy(cmd: Command, source_access: str) -> list[Target]:
    into = option_values(cmd, "-t", "--target-directory")
    sources, dest = (cmd.args, into) if into else (cmd.args[:-1], cmd.args[-1:])
    follow = source_access != "delete"
    out = [Target(s, source_access, follow=follow) for s in sources]
    empties = sources == ("/dev/null",)
    return out + [Target(d, "truncate" if empties else "write", follow=False) for d in dest]


def _cp(cmd: Command) -> list[Target]:
    return _copy(cmd, "read")


def _mv(cmd: Command) -> list[Target]:
    return _copy(cmd, "delete")


def _ln(cmd: Command) -> list[Target]:
    """The link is written (a link to /dev/null empties it); what it points at is exposed,
    so it counts as read (a relative symlink target is relative to the link's folder)."""
    into = option_values(cmd, "-t", "--target-directory")
    sources, dest = (cmd.args, into) if into else (cmd.args[:-1], cmd.args[-1:])
    if not sources:
        sources, dest = dest, ["."]
    access = "truncate" if sources == ("/dev/null",) else "write"
    out = [Target(d, access, follow=False) for d in dest]
    symbolic = {"-s", "--symbolic"} & cmd.flags
    for source in sources:
        if symbolic and not source.startswith(("/", "~")):
            folder = dest[0] if into or dest[0].endswith("/") else posixpath.dirname(dest[0])
            source = posixpath.join(folder, source) if folder else source
        out.append(Target(source, "read"))
    return out


def _truncate(cmd: Command) -> list[Target]:
    return [Target(a, "truncate") for a in cmd.args]


def _dd(cmd: Command) -> list[Target]:
    out: list[Target] = []
    for arg in cmd.args:
        key, eq, value = arg.partition("=")
        if eq and key == "if":
            out.append(Target(value, "read"))
        elif eq and key == "of":
            out.append(Target(value, "write"))
    return out


def _tar(cmd: Command) -> list[Target]:
    letters = set()
    first = cmd.argv[1] if len(cmd.argv) > 1 else ""
    if first and not first.startswith("-"):  # old style: tar xzf file
        letters = set(first)
    flags = cmd.flags | {f"-{c}" for c in letters}
    files = option_values(cmd, "-f", "--file")
    if letters and "f" in letters and not files and len(cmd.args) > 1:
        files = [cmd.args[1]]
    args = [a for a in cmd.args if a not in files and a != first]
    creating = bool({"-c", "--create", "-r", "--append", "-u", "--update"} & flags)
    extracting = bool({"-x", "--extract", "--get"} & flags)
    out = [Target(f, "write" if creating else "read") for f in files if f != "-"]
    if creating:
        out += [Target(a, "read") for a in args]
    if extracting:
        dest = option_values(cmd, "-C", "--directory") or ["."]
        out += [Target(d, "write") for d in dest]
    return out


def _unzip(cmd: Command) -> list[Target]:
    out = [Target(a, "read") for a in cmd.args[:1]]
    listing = {"-l", "-t", "-v", "-Z"} & cmd.flags
    dest = option_values(cmd, "-d") or ["."]
    return out if listing else out + [Target(d, "write") for d in dest]


def _zip(cmd: Command) -> list[Target]:
    return [Target(a, "write") for a in cmd.args[:1]] + [Target(a, "read") for a in cmd.args[1:]]


def _rsync(cmd: Command) -> list[Target]:
    local = [a for a in cmd.args if not re.match(r"^[^/]*:", a)]
    if len(cmd.args) < 2 or not local:
        return []
    dest = cmd.args[-1]
    out = [Target(a, "read") for a in local if a != dest]
    if dest in local:
        out.append(Target(dest, "write"))
        if any(f.startswith("--delete") or f == "--remove-source-files" for f in cmd.flags):
            out.append(Target(dest, "delete"))
    return out


def _patch(cmd: Command) -> list[Target]:
    out = [Target(f, "read") for f in option_values(cmd, "-i", "--input")]
    return out + [Target(a, "write") for a in cmd.args[:1]] or [*out, Target(".", "write")]


_FIND_PLAIN = _words("-delete -depth -print -print0 -xdev -mount")
_FIND_SELECTORS = _words("-name -type -maxdepth -mindepth -prune -a -and -exec -execdir")


def find_names(cmd: Command) -> list[str] | None:
    """The -name patterns when they alone choose what find acts on (tests joined by "and"
    only: no -o/-not/-path); None otherwise. `find . -name '*.pyc' -delete` -> ["*.pyc"]."""
    if cmd.flags - _FIND_PLAIN - _FIND_SELECTORS:
        return None
    names = option_values(cmd, "-name")
    return names if len(names) == 1 and "/" not in names[0] else None


def _find(cmd: Command) -> list[Target]:
    starts = list(cmd.args) or ["."]
    filtered = bool(cmd.flags - _FIND_PLAIN)
    access = "delete" if "-delete" in cmd.flags else "list"
    names = find_names(cmd) if access == "delete" else None
    if names:  # what is deleted is each `start/**/NAME`; stand for it by `start/NAME`
        starts = [posixpath.join(s, names[0]) for s in starts]
    out = [Target(s, access, follow=access != "delete", filtered=filtered) for s in starts]
    for opt in ("-fprint", "-fprint0", "-fprintf", "-fls"):
        out += [Target(v, "write") for v in option_values(cmd, opt)]
    return out


def _curl(cmd: Command) -> list[Target]:
    out: list[Target] = []
    for opt in ("-o", "--output", "-c", "--cookie-jar", "-D", "--dump-header"):
        out += [Target(v, "write") for v in option_values(cmd, opt) if v != "-"]
    for opt in ("--output-dir",):
        out += [Target(v, "write") for v in option_values(cmd, opt)]
    if {"-O", "--remote-name", "--remote-name-all", "-J"} & cmd.flags:
        out.append(Target(".", "write"))
    data = ("-d", "--data", "--data-binary", "--data-urlencode", "--data-ascii", "--json")
    for opt in (*data, "-F", "--form"):
        for value in option_values(cmd, opt):
            at = value.find("@")
            if at != -1 and (opt in ("-F", "--form") or at == 0 or opt == "--data-urlencode"):
                path = value[at + 1 :].split(";")[0]
                if path and path != "-":
                    out.append(Target(path, "read"))
    for opt in ("-T", "--upload-file", "-K", "--config", "--cert", "--key", "-E"):
        out += [Target(v, "read") for v in option_values(cmd, opt) if v not in ("-", ".")]
    return out


def _wget(cmd: Command) -> list[Target]:
    out: list[Target] = []
    documents = option_values(cmd, "-O", "--output-document")
    out += [Target(v, "write") for v in documents if v != "-"]
    for opt in ("-o", "--output-file", "-a", "--append-output", "-P", "--directory-prefix"):
        out += [Target(v, "write") for v in option_values(cmd, opt)]
    for opt in ("-i", "--input-file", "--post-file", "--body-file"):
        out += [Target(v, "read") for v in option_values(cmd, opt) if v != "-"]
    if not documents and not option_values(cmd, "-P", "--directory-prefix"):
        out.append(Target(".", "write"))
        # the file is named after the URL: `wget URL/p.py` writes ./p.py
        names = [posixpath.basename(a.split("?")[0]) for a in cmd.args if "://" in a]
        out += [Target(n, "write") for n in names if n not in ("", ".", "..")]
    return out


def _git(cmd: Command) -> list[Target]:
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
        out += [Target(p, "write") for p in paths]
    elif sub == "rm":
        out += [Target(a, "delete", follow=False) for a in cmd.args[1:]]
    elif sub in ("add", "stage"):  # staged contents go into history (and out with a push)
        out += [Target(a, "read") for a in cmd.args[1:] if not a.startswith(":")]
    elif sub == "mv":
        out += [Target(a, "delete", follow=False) for a in cmd.args[1:-1]]
        out += [Target(a, "write", follow=False) for a in cmd.args[-1:] if len(cmd.args) > 2]
    return out


def _docker(cmd: Command) -> list[Target]:
    if cmd.subcommand not in ("run", "create") and cmd.args[:2] not in (
        ("container", "run"),
        ("container", "create"),
    ):
        return []
    out: list[Target] = []
    for value in option_values(cmd, "-v", "--volume"):
        host = value.split(":", 1)[0]
        if host.startswith(("/", ".", "~")):
            out.append(Target(host, "write"))
    for value in option_values(cmd, "--mount"):
        fields = dict(f.partition("=")[::2] for f in value.split(","))
        host = fields.get("source") or fields.get("src")
        if host and fields.get("type", "volume") == "bind":
            out.append(Target(host, "write"))
    return out + [Target(v, "read") for v in option_values(cmd, "--env-file")]


def _sqlite(cmd: Command) -> list[Target]:
    if not cmd.args or cmd.args[0].startswith(":"):
        return []
    return [Target(cmd.args[0], "read" if _db_reads_only(cmd) else "write")]


def _psql(cmd: Command) -> list[Target]:
    out = [Target(f, "read") for f in option_values(cmd, *_SQL_FILE_OPTS)]
    return out + [Target(f, "write") for f in option_values(cmd, "-o", "--output", "-L")]


def _source(cmd: Command) -> list[Target]:
    return [Target(a, "read") for a in cmd.args[:1]]


def _ssh(cmd: Command) -> list[Target]:
    return [Target(v, "read") for v in option_values(cmd, "-i", "-F")]


_HANDLERS = {
    **dict.fromkeys(_PATTERN_FIRST, _grep),
    "sed": _sed,
    **dict.fromkeys(_AWKS, _awk),
    "jq": _jq,
    "yq": _jq,
    "sort": _sort,
    "uniq": _uniq,
    "xxd": _xxd,
    "tree": _tree,
    "cp": _cp,
    "install": _cp,
    "mv": _mv,
    "ln": _ln,
    "truncate": _truncate,
    "dd": _dd,
    "tar": _tar,
    "unzip": _unzip,
    "zip": _zip,
    "rsync": _rsync,
    "patch": _patch,
    "find": _find,
    "curl": _curl,
    "wget": _wget,
    "git": _git,
    "docker": _docker,
    "sqlite3": _sqlite,
    "psql": _psql,
    "source": _source,
    ".": _source,
    "ssh": _ssh,
    "scp": _ssh,
}


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
    if program in _INLINE_FLAGS:  # python -c 'print(1)' is a read; scripts run code
        return "read" if _inline_source(cmd) is not None else "exec"
    if program == "find" and "-delete" in cmd.flags and not {"-ok", "-okdir"} & cmd.flags:
        return "write"
    if program in _READ_ONLY:
        return "read" if _reads_only(cmd, program) else "exec"
    if program in _DB_CLIENTS:
        return "read" if _db_reads_only(cmd) else "exec"
    if _is_dry_run(cmd, program):
        return "read"
    if program in _READ_SUBCOMMANDS:
        return "read" if _read_subcommand(cmd, program) else _fallback_effect(program)
    if program in ("aws", "gcloud", "az"):
        return "read" if _cloud_reads(cmd, program) else "exec"
    if program == "rsync" and any(re.match(r"^[^/]*:", a) for a in cmd.args):
        return "exec"  # copies to or from another machine
    if program in _FILE_WRITERS or program in _CREATORS:
        return "write"
    return "exec"


def _fallback_effect(program: str) -> str:
    return "write" if program in _FILE_WRITERS else "exec"


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
    if program in _AWKS:
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


def _read_subcommand(cmd: Command, program: str) -> bool:
    table = _READ_SUBCOMMANDS[program]
    sub = cmd.subcommand
    if program in _NO_SUBCOMMAND_READ:
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
    if _DRY_RUN_FLAGS & cmd.flags:
        if program == "kubectl":
            values = option_values(cmd, "--dry-run")
            return not values or all(v != "none" for v in values)
        return program in KNOWN_TOOLS or program in _READ_SUBCOMMANDS
    if program in _DRY_RUN_SHORT and {"-n", "--dry-run"} & cmd.flags:
        subs = _DRY_RUN_SHORT[program]
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
        if word in _CLOUD_VERBS_READ:
            return True
        if _CLOUD_VERBS_WRITE.fullmatch(word):
            return False
    return False


def _db_reads_only(cmd: Command) -> bool:
    """True when a database client only runs statements that read."""
    program = cmd.program
    if program == "redis-cli":
        words = cmd.args
        return bool(words) and words[0].lower() in _REDIS_READ and not cmd.stdin_from
    if option_values(cmd, *_SQL_FILE_OPTS) or cmd.stdin_from:
        return False
    if any(r.op.lstrip("0123456789") == "<" for r in cmd.redirects):
        return False
    sql = option_values(cmd, *_SQL_OPTS.get(program, ()))
    if program in ("sqlite3", "duckdb"):
        sql += list(cmd.args[1:])
    if cmd.stdin_text is not None:
        sql.append(cmd.stdin_text)
    if not sql:
        return False  # an interactive session or a script from somewhere else
    return all(sql_reads_only(s) for s in sql)


def sql_reads_only(text: str) -> bool:
    """True if every statement in `text` only reads (SELECT, SHOW, .schema, \\d ...)."""
    text = re.sub(r"--[^\n]*|/\*.*?\*/", " ", text, flags=re.S)
    statements = [s.strip() for s in re.split(r";|\n(?=\s*[.\\])", text) if s.strip()]
    if not statements:
        return False
    for statement in statements:
        if statement[0] in ".\\":
            if not _SQL_META_READ.fullmatch(statement):
                return False
            continue
        if not _SQL_READ.match(statement) or _SQL_WRITE_WORD.search(statement):
            return False
        if statement.lower().startswith("pragma") and "=" in statement:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Inline code and hard-floor facts.


def _inline_source(cmd: Command) -> str | None:
    """The literal-only Python of `python -c CODE`, if that is all it runs."""
    if base_program(cmd.program) != "python":
        return None
    codes = option_values(cmd, "-c")
    if len(codes) != 1 or codes[0] in cmd.dynamic_args or cmd.args:
        return None
    return codes[0] if literal_python(codes[0]) else None


def inline_code(cmd: Command) -> bool:
    """True if the command runs program text given inline or on stdin (python -c, node -e)."""
    program = base_program(cmd.program)
    flags = _INLINE_FLAGS.get(program)
    if flags is None:
        return False
    if _inline_source(cmd) is not None:
        return False
    if any(f in cmd.flags for f in flags) or (program == "deno" and cmd.subcommand == "eval"):
        return True
    script = _script_operand(cmd, program)
    return script is None or script == "-"


def run_path(cmd: Command) -> str | None:
    """The file a command runs as a program: its script (`bash s.sh`, `python3 x.py`) or the
    program itself when named by a path (`./build/tool`)."""
    if cmd.argv and "/" in cmd.argv[0]:
        return cmd.argv[0]
    return script_file(cmd)


def script_file(cmd: Command) -> str | None:
    """The script file a shell or interpreter runs, if it runs one (not -c, -m or stdin)."""
    program = base_program(cmd.program)
    if program in SHELLS:
        if "-c" in cmd.flags or "-s" in cmd.flags or is_help(cmd):
            return None
    elif program not in _INLINE_FLAGS or inline_code(cmd) or _inline_source(cmd) is not None:
        return None
    script = _script_operand(cmd, program)
    return None if script in (None, "-", "(module)", "(help)") else script


def _script_operand(cmd: Command, program: str) -> str | None:
    """The script file an interpreter runs (None when it reads its program from stdin)."""
    if program == "python" and ("-m" in cmd.flags or option_values(cmd, "-m")):
        return "(module)"
    if is_help(cmd):
        return "(help)"
    return cmd.args[0] if cmd.args else None


def literal_python(code: str) -> bool:
    """True for Python that only prints/evaluates literals: no imports, names or attributes."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if not isinstance(node, _LITERAL_NODES):
            return False
        if isinstance(node, ast.Name) and node.id not in _LITERAL_CALLS:
            return False
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            return False
    return True


def downloads_into_executor(cmd: Command) -> bool:
    """True if downloaded content reaches a shell/interpreter as code (`curl | sh`)."""
    fed = set(cmd.input_from)
    if cmd.stdin_from:
        fed.add(cmd.stdin_from)
    if not fed & DOWNLOADERS:
        return False
    program = base_program(cmd.program)
    if program in SHELLS or program in ("source", ".", "eval", "exec"):
        return True
    if program in _INLINE_FLAGS:
        codes = [v for f in _INLINE_FLAGS[program] for v in option_values(cmd, f)]
        if any(c in cmd.dynamic_args or "$(" in c or "`" in c for c in codes):
            return True
        script = _script_operand(cmd, program)
        return not codes and (script is None or script == "-" or script in cmd.dynamic_args)
    return False


def makes_filesystem(cmd: Command) -> bool:
    """mkfs*, wipefs, and partition editors (except their list/print forms)."""
    program = cmd.program
    if _MKFS.fullmatch(program):
        return not info_form(cmd)
    if program not in _PARTITIONERS:
        return False
    if info_form(cmd) or {"-l", "--list", "-d", "--dump", "-s", "--show-size"} & cmd.flags:
        return False
    words = [a.lower() for a in cmd.args[1:]]
    return not (program == "parted" and words and set(words) <= {"print", "unit", "help"})
