"""Targets: the paths a command touches through its arguments and redirections, each with
an access kind: read (content), list (metadata only: ls, stat, wc, find), write, truncate
(empties an existing file), delete.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from ralph.guard import gittargets, tooltargets
from ralph.guard.families import (
    AWKS,
    COMPRESSORS,
    CONTENT_READERS,
    CREATORS,
    DELETERS,
    INLINE_FLAGS,
    METADATA,
    MODE_FIRST,
    PATTERN_FIRST,
    QUIET_READERS,
    SCRIPT_FIRST,
    SHELLS,
    Target,
    base_program,
    option_values,
    words,
)
from ralph.guard.programs import script_file
from ralph.guard.sql import SQL_FILE_OPTS, db_reads_only

if TYPE_CHECKING:
    from ralph.bash import Command


# ---------------------------------------------------------------------------------------------
# Targets: the paths a command touches.


def targets(cmd: Command) -> list[Target]:
    """Every path `cmd` touches through its arguments and redirections."""
    out = _redirect_targets(cmd)
    program = base_program(cmd.program)
    handler = _HANDLERS.get(program)
    if handler is not None:
        out.extend(handler(cmd))
    elif program in CONTENT_READERS:
        out.extend(Target(a, "read") for a in cmd.args)
    elif program in METADATA:
        out.extend(Target(a, "list") for a in cmd.args)
    elif program in CREATORS:
        out.extend(Target(a, "write") for a in cmd.args)
    elif program in DELETERS:
        out.extend(Target(a, "delete", follow=False) for a in cmd.args)
    elif program in MODE_FIRST:
        skip = 0 if any(f.startswith("--reference") for f in cmd.flags) else 1
        out.extend(Target(a, "write") for a in cmd.args[skip:])
    elif program in COMPRESSORS:
        keep = {"-c", "-k", "--stdout", "--keep", "-t", "--test", "-l", "--list"} & cmd.flags
        out.extend(Target(a, "read" if keep else "write") for a in cmd.args)
    elif program in INLINE_FLAGS or program in SHELLS:
        script = script_file(cmd)
        if script is not None:
            out.append(Target(script, "read"))
        out.extend(tooltargets.module_targets(cmd))
    out.extend(tooltargets.output_targets(cmd, program))
    if program not in _NO_SECRET_SCAN and base_program(cmd.program) not in _NO_SECRET_SCAN:
        known = {t.word for t in out}
        out.extend(t for t in tooltargets.secret_words(cmd) if t.word not in known)
    if cmd.implicit_args and "xargs" in cmd.wrappers and takes_paths(program):
        out.append(Target("(arguments from xargs)", _main_access(program), dynamic=True))
    return out


def _no_secret_scan() -> frozenset[str]:
    precise = PATTERN_FIRST | SCRIPT_FIRST | METADATA | QUIET_READERS | CREATORS | DELETERS
    return precise | MODE_FIRST | frozenset({"git", "echo", "printf", "tee", "cd"})


_NO_SECRET_SCAN = _no_secret_scan()
"""Programs whose path arguments are known exactly, or that only print their words."""


def takes_paths(program: str) -> bool:
    """True if the program's positional arguments are (mostly) paths."""
    program = base_program(program)
    return (
        program in _HANDLERS
        or program in CONTENT_READERS
        or program in METADATA
        or program in CREATORS
        or program in DELETERS
        or program in MODE_FIRST
        or program in COMPRESSORS
    )


def _main_access(program: str) -> str:
    if program in DELETERS or program == "mv":
        return "delete"
    if program in METADATA:
        return "list"
    if program in CONTENT_READERS or program in PATTERN_FIRST or program in SCRIPT_FIRST:
        return "read"
    return "write"


def _redirect_targets(cmd: Command) -> list[Target]:
    out: list[Target] = []
    if not cmd.redirects:
        return out
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
    """grep -r and ripgrep read whole trees (rg and ag skip dotfiles unless told not to)."""
    files = _first_operand_is_code(cmd, ("-e", "--regexp", "-f", "--file"))
    program = base_program(cmd.program)
    recursive = ""
    if program in ("rg", "ag"):
        hidden = {"--hidden", "-.", "-u", "--unrestricted", "-a", "--all-types"} & cmd.flags
        recursive = "all" if hidden else "visible"
    elif program == "ack" or {"-r", "-R", "--recursive", "-d"} & cmd.flags:
        recursive = "all" if program != "zgrep" else ""
    out = [Target(a, "read", recursive=recursive) for a in files]
    out += [Target(f, "read") for f in option_values(cmd, "-f", "--file")]
    if not files and recursive:
        out.append(Target(".", "read", recursive=recursive))
    return out


_SED_WIPES = re.compile(r"\s*(1\s*,\s*\$\s*|\$?\s*)d\s*;?\s*")
"""A sed script that deletes every line: `d`, `1,$d`."""


def _sed(cmd: Command) -> list[Target]:
    files = _first_operand_is_code(cmd, ("-e", "--expression", "-f", "--file"))
    in_place = "-i" in cmd.flags or "--in-place" in cmd.flags
    scripts = option_values(cmd, "-e", "--expression") or list(cmd.args[:1])
    wipes = in_place and any(_SED_WIPES.fullmatch(s) for s in scripts)
    out = [Target(a, ("truncate" if wipes else "write") if in_place else "read") for a in files]
    out += [Target(f, "read") for f in option_values(cmd, "-f", "--file")]
    return out


def _awk(cmd: Command) -> list[Target]:
    files = _first_operand_is_code(cmd, ("-f", "--file"))
    files = tuple(a for a in files if "=" not in a)  # var=value assignments
    out = [Target(a, "read") for a in files]
    out += [Target(f, "read") for f in option_values(cmd, "-f", "--file")]
    code = cmd.args[:1] if files == cmd.args[1:] else ()
    return out + tooltargets.environment_reads(code, r"\bENVIRON\b")


def _jq(cmd: Command) -> list[Target]:
    files = _first_operand_is_code(cmd, ("-f", "--from-file"))
    in_place = "-i" in cmd.flags or "--inplace" in cmd.flags
    out = [Target(a, "write" if in_place else "read") for a in files]
    code = cmd.args[:1] if files == cmd.args[1:] else ()
    return out + tooltargets.environment_reads(code, r"\$ENV\b|(^|[^$\w.])env\b")


def _sort(cmd: Command) -> list[Target]:
    out = [Target(a, "read") for a in cmd.args]
    empty = set(cmd.args) <= {"/dev/null"} and (bool(cmd.args) or _empty_stdin(cmd))
    access = "truncate" if empty else "write"
    return out + [Target(f, access) for f in option_values(cmd, "-o", "--output")]


def _empty_stdin(cmd: Command) -> bool:
    """Standard input that is empty: `< /dev/null`, or piped from `:`/true/false."""
    redirected = any(r.op.lstrip("0") == "<" and r.target == "/dev/null" for r in cmd.redirects)
    return redirected or cmd.stdin_from in (":", "true", "false")


def _tee(cmd: Command) -> list[Target]:
    access = "truncate" if _empty_stdin(cmd) and not {"-a", "--append"} & cmd.flags else "write"
    return [Target(a, access) for a in cmd.args]


def _input_then_output(cmd: Command) -> list[Target]:
    """`uniq IN OUT`, `xxd IN OUT`: reads the first argument, writes the second."""
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
    out = _copy(cmd, "read")
    if {"-r", "-R", "-a", "--recursive", "--archive"} & cmd.flags:
        out = [replace(t, recursive="all") if t.access == "read" else t for t in out]
    return out


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
        elif eq and key == "of":  # dd truncates its output file unless conv=notrunc
            keeps = any(a.startswith("conv=") and "notrunc" in a for a in cmd.args)
            out.append(Target(value, "write" if keeps else "truncate"))
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
    whole = "all" if creating else ""
    extracting = bool({"-x", "--extract", "--get"} & flags)
    out = [Target(f, "write" if creating else "read") for f in files if f != "-"]
    if creating:
        out += [Target(a, "read", recursive=whole) for a in args]
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
    whole = "all" if {"-r", "--recurse-paths", "-R"} & cmd.flags else ""
    out = [Target(a, "write") for a in cmd.args[:1]]
    return out + [Target(a, "read", recursive=whole) for a in cmd.args[1:]]


def _rsync(cmd: Command) -> list[Target]:
    """Sources are read, the destination written; any --del* option (rsync takes unique
    prefixes: --del is --delete-during) deletes there. A dry run (-n) touches nothing."""
    local = [a for a in cmd.args if not re.match(r"^[^/]*:", a)]
    if len(cmd.args) < 2 or not local:
        return []
    dest = cmd.args[-1]
    whole = "all" if {"-r", "-a", "--recursive", "--archive"} & cmd.flags else ""
    out = [Target(a, "read", recursive=whole) for a in local if a != dest]
    if {"-n", "--dry-run"} & cmd.flags:
        return out
    removes = "--remove-source-files" in cmd.flags
    out += [Target(a, "delete") for a in local if a != dest and removes]
    if dest in local:
        out.append(Target(dest, "write"))
        if any(f.startswith("--del") for f in cmd.flags):
            out.append(Target(dest, "delete"))
    return out


def _patch(cmd: Command) -> list[Target]:
    out = [Target(f, "read") for f in option_values(cmd, "-i", "--input")]
    return out + [Target(a, "write") for a in cmd.args[:1]] or [*out, Target(".", "write")]


_FIND_PLAIN = words("-delete -depth -print -print0 -xdev -mount")
_FIND_SELECTORS = words("-name -type -maxdepth -mindepth -prune -a -and -exec -execdir")


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
    return [Target(cmd.args[0], "read" if db_reads_only(cmd) else "write")]


def _psql(cmd: Command) -> list[Target]:
    out = [Target(f, "read") for f in option_values(cmd, *SQL_FILE_OPTS)]
    return out + [Target(f, "write") for f in option_values(cmd, "-o", "--output", "-L")]


def _source(cmd: Command) -> list[Target]:
    return [Target(a, "read") for a in cmd.args[:1]]


def _ssh(cmd: Command) -> list[Target]:
    return [Target(v, "read") for v in option_values(cmd, "-i", "-F")]


_HANDLERS = {
    **tooltargets.HANDLERS,
    **dict.fromkeys(PATTERN_FIRST, _grep),
    "sed": _sed,
    **dict.fromkeys(AWKS, _awk),
    "jq": _jq,
    "yq": _jq,
    "sort": _sort,
    "uniq": _input_then_output,
    "xxd": _input_then_output,
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
    "git": gittargets.git,
    "docker": _docker,
    "sqlite3": _sqlite,
    "psql": _psql,
    "source": _source,
    ".": _source,
    "ssh": _ssh,
    "scp": _ssh,
    "tee": _tee,
}
