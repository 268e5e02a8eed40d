"""Targets of build and run tools whose options touch files: `cmake -E rm`, `python -m venv
--clear`, `python -m zipfile -e`, `pytest --basetemp` (deleted before the run), and output
options (`go build -o ~/bin/x`, `cc -o /usr/local/bin/x`, `tsc --outDir`).

Allowed tools stay allowed; the paths they touch are judged like any other write or delete.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ralph.guard.families import Target, option_values, words
from ralph.guard.pathclass import looks_secret

if TYPE_CHECKING:
    from collections.abc import Callable

    from ralph.bash import Command

_CMAKE_DELETE = words("rm remove remove_directory")
_CMAKE_WRITE_LAST = words(
    "copy copy_directory copy_if_different copy_directory_if_different create_symlink"
    " create_hardlink"
)
_CMAKE_WRITE_ALL = words("touch touch_nocreate make_directory")
_COMPILERS = words(
    "cc c++ gcc g++ clang clang++ go rustc zig swiftc nim ld as nasm tcc icc icx gfortran"
    " pyinstaller nuitka pandoc esbuild webpack rollup uglifyjs terser babel sass lessc"
)
"""Programs whose -o/--output/--out option names the file or folder they write."""
_OUTPUT_OPTIONS = (
    "--outdir",
    "--out-dir",
    "--output-dir",
    "--outfile",
    "--out-file",
    "--outDir",
    "--outFile",
    "--target-dir",
    "--distpath",
    "--workpath",
    "--dist-dir",
    "--pack-destination",
)
"""Long options that name an output place whatever the program."""


def _cmake(cmd: Command) -> list[Target]:
    argv = list(cmd.argv)
    if "-E" not in argv:
        return [Target(v, "write") for v in option_values(cmd, "-B")]
    rest = argv[argv.index("-E") + 1 :]
    tool, operands = (rest[0], [w for w in rest[1:] if not w.startswith("-")]) if rest else ("", [])
    if tool in _CMAKE_DELETE:
        return [Target(w, "delete", follow=False) for w in operands]
    if tool == "rename" and len(operands) == 2:
        return [Target(operands[0], "delete", follow=False), Target(operands[1], "write")]
    if tool in _CMAKE_WRITE_LAST and operands:
        return [Target(w, "read") for w in operands[:-1]] + [Target(operands[-1], "write")]
    if tool in _CMAKE_WRITE_ALL:
        return [Target(w, "write") for w in operands]
    return []


def _pytest(cmd: Command) -> list[Target]:
    """pytest empties --basetemp before the run."""
    return [Target(v, "delete", follow=False) for v in option_values(cmd, "--basetemp")]


def module_targets(cmd: Command) -> list[Target]:
    """`python -m MODULE ...`: what the standard modules that touch files do."""
    modules = option_values(cmd, "-m")
    if not modules:
        return []
    module, args = modules[0], cmd.args
    if module == "venv":
        access = "delete" if "--clear" in cmd.flags else "write"
        return [Target(a, access, follow=access != "delete") for a in args]
    if module == "pytest":
        return _pytest(cmd)
    if module in ("zipfile", "tarfile"):
        extract = option_values(cmd, "-e", "--extract") or (
            list(args[:1]) if {"-e", "--extract"} & cmd.flags else []
        )
        if extract:
            rest = [a for a in args if a not in extract]
            return [Target(extract[0], "read")] + [Target(a, "write") for a in rest[:1]]
        if {"-c", "--create"} & cmd.flags and args:
            return [Target(args[0], "write")] + [Target(a, "read") for a in args[1:]]
    return [Target(a, "read") for a in args if not a.startswith("-")]


def output_targets(cmd: Command, program: str) -> list[Target]:
    """Output options: written, wherever they point."""
    names = list(_OUTPUT_OPTIONS)
    if program in _COMPILERS or (program == "go" and cmd.subcommand in ("build", "test")):
        names += ["-o", "--output", "--out"]
    found = option_values(cmd, *names)
    return [Target(v, "write") for v in found if v not in ("-", "/dev/stdout")]


ENVIRON = "/proc/self/environ"
"""What a command that prints the environment reads (a secret, see pathclass)."""


def environment_reads(code: tuple[str, ...], pattern: str) -> list[Target]:
    """The environment, if program text (a jq filter, an awk script) reads it."""
    return [Target(ENVIRON, "read")] if any(re.search(pattern, c) for c in code) else []


def _ps(cmd: Command) -> list[Target]:
    """BSD-style `ps e`, `ps auxe`, `ps eww` print every process's environment."""
    bsd = [a for a in cmd.args[:1] if re.fullmatch(r"[a-zA-Z]+", a) and "e" in a]
    return [Target(ENVIRON, "read")] if bsd or "-E" in cmd.flags else []


def secret_words(cmd: Command) -> list[Target]:
    """Words that name a secret file, in any argument or option value (`--in=.env`,
    `file=@.env`, `@key.pem`): a program the guard does not model reads them."""
    out: list[Target] = []
    for word in cmd.argv[1:]:
        for part in (word, word.partition("=")[2], word.rpartition("@")[2]):
            if part and looks_secret(part):
                out.append(Target(part, "read"))
                break
    return out


def keygen_reads(cmd: Command) -> bool:
    """ssh-keygen's reading forms: fingerprints (-l), lookups (-F), the public half (-y)."""
    changes = {"-R", "-p", "-c", "-t", "-N", "-b", "-s", "-A", "-u", "-H"} & cmd.flags
    return bool({"-l", "-F", "-y", "-B", "-Q"} & cmd.flags) and not changes


def _keygen(cmd: Command) -> list[Target]:
    access = "read" if keygen_reads(cmd) else "write"
    return [Target(v, access) for v in option_values(cmd, "-f")]


def _cloud(cmd: Command) -> list[Target]:
    """Cloud CLIs that download write the local file they are given."""
    if "download" not in cmd.args and "download-batch" not in cmd.args:
        return []
    return [Target(v, "write") for v in option_values(cmd, "--file", "-f", "--destination", "-d")]


HANDLERS: dict[str, Callable[[Command], list[Target]]] = {
    "cmake": _cmake,
    "pytest": _pytest,
    "py.test": _pytest,
    "ps": _ps,
    "ssh-keygen": _keygen,
    "az": _cloud,
}
