"""Programs that run a command or shell code given in their arguments.

`git bisect run CMD`, `docker run IMAGE CMD`, `trap CODE SIG`, `tar --to-command=CMD` ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ralph.bash.options import OPTIONS, fs, parse_args, table_name
from ralph.bash.words import Word
from ralph.bash.wrappers import Wrap, skip_wrapper

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


# ---------------------------------------------------------------------------------------------
# Runners: tools whose subcommand runs another command (`uv run CMD`, `npx PKG`, `ssh HOST CMD`).
# The runner is recorded as itself and the command it runs is judged too.

_NPX = Wrap(
    value=fs("-p", "--package", "--node-options", "-n", "--cache"), shell=fs("-c", "--call")
)
_UV_VALUES = fs("--with", "--with-editable", "--with-requirements", "-p", "--python", "--from")
_UV_VALUES |= fs("--index", "--default-index", "-i", "--index-url", "--extra-index-url", "-f")
_UV_VALUES |= fs("--find-links", "--index-strategy", "--keyring-provider", "--resolution")
_UV_VALUES |= fs("--prerelease", "--exclude-newer", "--link-mode", "-C", "--config-setting")
_UV_VALUES |= fs("--refresh-package", "-P", "--upgrade-package", "--reinstall-package")
_UV_VALUES |= fs("--no-build-package", "--no-binary-package", "--python-platform", "--env-file")
_UV_VALUES |= fs("--package", "--extra", "--group", "--no-group", "--only-group", "--color")
_UV_VALUES |= fs(
    "--directory", "--project", "--cache-dir", "--config-file", "--allow-insecure-host"
)
_UV_VALUES |= fs("--python-preference", "--build-constraint", "-b", "--overrides", "--constraints")
_UV = Wrap(value=_UV_VALUES, stop=fs("--help", "-h"))
_PLAIN = Wrap()
_TOX = Wrap(
    value=fs("-e", "--env", "-c", "--conf", "--root", "--workdir", "-x", "--override", "-m", "-f")
    | fs("--result-json", "--hashseed", "--discover", "--installpkg", "--runner"),
    dashdash=True,
)
_NIX_SHELL = Wrap(
    starts=fs("-c", "--command"),
    value=fs("--override-input", "--inputs-from", "-f", "--file", "--expr", "-k", "--keep")
    | fs("-u", "--unset", "--arg", "--argstr", "-I", "--include", "--option", "--profile"),
    scan=True,
    no_command=True,
)
_CONDA = Wrap(value=fs("-n", "--name", "-p", "--prefix", "--cwd", "-r", "--root-prefix"))
_MISE = Wrap(value=fs("-C", "--cd", "-j", "--jobs"), shell=fs("-c", "--command"), dashdash=True)
_SECRETS_RUN = Wrap(  # op run, doppler run, infisical run, dotenvx run: `-- CMD`
    value=fs("--env-file", "-f", "-e", "--env", "-p", "--project", "-c", "--config", "--token")
    | fs("--path", "--projectId", "--environment", "--mount", "--preserve-env"),
    shell=fs("--command"),
    dashdash=True,
)
_SUBSHELL = fs("new-session", "new", "new-window", "neww", "split-window", "splitw")
_TMUX = Wrap(
    value=fs("-s", "-n", "-t", "-c", "-x", "-y", "-e", "-F", "-f", "-l", "-p", "-L", "-S"),
    joined=True,
)
_SHELL_STRINGS = fs("-p", "--prepare", "-c", "--cleanup", "-s", "--setup", "--conclude")

_RUNNERS: dict[str, list[tuple[tuple[str, ...], Wrap]]] = {
    "npx": [((), _NPX)],
    "pnpx": [((), _NPX)],
    "npm": [(("exec",), _NPX), (("x",), _NPX)],
    "pnpm": [
        (("exec",), Wrap(value=fs("--filter", "-F", "-C", "--dir"), shell_mode=fs("-c"))),
        (("dlx",), Wrap(value=fs("--package", "--allow-build"), shell_mode=fs("-c"))),
    ],
    "yarn": [(("exec",), Wrap(joined=True)), (("dlx",), Wrap(value=fs("-p", "--package")))],
    "bun": [(("x",), Wrap(value=fs("-p", "--package")))],
    "bunx": [((), Wrap(value=fs("-p", "--package")))],
    "uv": [(("run",), _UV), (("tool", "run"), _UV)],
    "uvx": [((), _UV)],
    "pipx": [(("run",), Wrap(value=fs("--spec", "--python", "--pip-args", "--index-url")))],
    "poetry": [(("run",), _PLAIN)],
    "pipenv": [(("run",), _PLAIN)],
    "pdm": [(("run",), Wrap(value=fs("-p", "--project")))],
    "hatch": [(("run",), _PLAIN)],
    "pixi": [(("run",), Wrap(value=fs("-e", "--environment", "--manifest-path")))],
    "rye": [(("run",), _PLAIN)],
    "bundle": [(("exec",), Wrap(value=fs("--gemfile")))],
    "tox": [(("exec",), _TOX)],
    "nix": [(("shell",), _NIX_SHELL), (("develop",), _NIX_SHELL)],
    "nix-shell": [((), Wrap(shell=fs("--run", "--command"), scan=True, no_command=True))],
    "conda": [(("run",), _CONDA)],
    "mamba": [(("run",), _CONDA)],
    "micromamba": [(("run",), _CONDA)],
    "mise": [(("exec",), _MISE), (("x",), _MISE)],
    "asdf": [(("exec",), _PLAIN)],
    "rbenv": [(("exec",), _PLAIN)],
    "pyenv": [(("exec",), _PLAIN)],
    "nodenv": [(("exec",), _PLAIN)],
    "nvm": [(("exec",), Wrap(operands=1))],
    "direnv": [(("exec",), Wrap(operands=1))],
    "dotenv": [(("run",), Wrap(value=fs("-f", "--file"))), ((), Wrap(value=fs("-e", "-v", "-c")))],
    "dotenvx": [(("run",), _SECRETS_RUN)],
    "op": [(("run",), _SECRETS_RUN)],
    "doppler": [(("run",), _SECRETS_RUN)],
    "infisical": [(("run",), _SECRETS_RUN)],
    "aws-vault": [(("exec",), Wrap(value=fs("-d", "--duration", "-r", "--region"), operands=1))],
    "kubectl": [(("exec",), Wrap(value=fs("-c", "--container", "-f", "--filename"), operands=1))],
    "lxc": [(("exec",), Wrap(value=fs("--env", "--cwd", "--user", "--group"), operands=1))],
    "toolbox": [(("run",), Wrap(value=fs("-c", "--container", "-d", "--distro", "-r")))],
    "distrobox": [(("enter",), Wrap(value=fs("-n", "--name", "-a"), dashdash=True))],
    "scl": [(("enable",), Wrap(operands=1, joined=True))],
    "runuser": [((), Wrap(value=fs("-u", "--user", "-g", "--group", "-G", "-s", "--shell", "-w")))],
    "unshare": [
        ((), Wrap(value=fs("-S", "--setuid", "-G", "--setgid", "-R", "--root", "-w", "--wd")))
    ],
    "nsenter": [((), Wrap(value=fs("-t", "--target", "-S", "--setuid", "-G", "--setgid")))],
    "firejail": [((), _PLAIN)],
    "systemd-run": [
        (
            (),
            Wrap(
                value=fs("-p", "--property", "-u", "--unit", "--description", "-E", "--setenv")
                | fs("--uid", "--gid", "--nice", "-M", "--machine", "-H", "--host", "--slice")
                | fs("--on-active", "--on-boot", "--on-calendar", "--timer-property"),
                chdir=fs("--working-directory"),
            ),
        )
    ],
    "ssh": [((), Wrap(value=OPTIONS["ssh"].value, operands=1, joined=True))],
    "strace": [
        ((), Wrap(value=fs("-o", "-e", "-s", "-a", "-b", "-E", "-I", "-O", "-P", "-S", "-u")))
    ],
    "ltrace": [((), Wrap(value=fs("-o", "-e", "-s", "-a", "-A", "-D", "-F", "-l", "-n", "-u")))],
    "valgrind": [((), _PLAIN)],
    "perf": [
        (("stat",), Wrap(value=fs("-e", "-o", "-r", "-C", "-G", "-x", "-I"))),
        (("record",), Wrap(value=fs("-e", "-o", "-F", "-C", "-c"))),
    ],
    "hyperfine": [
        (
            (),
            Wrap(
                value=fs("-w", "--warmup", "-r", "--runs", "-m", "--min-runs", "-M", "--max-runs")
                | fs("-P", "--parameter-scan", "-L", "--parameter-list", "-S", "--shell", "-n")
                | fs("--export-json", "--export-markdown", "--export-csv", "--command-name")
                | fs("-u", "--time-unit", "--style", "--output", "-D"),
                shell=_SHELL_STRINGS,
                strings=True,
            ),
        )
    ],
    "concurrently": [
        (
            (),
            Wrap(
                value=fs("-n", "--names", "-c", "--prefix-colors", "-p", "--prefix"), strings=True
            ),
        )
    ],
    "parallel": [
        (
            (),
            Wrap(
                value=fs("-j", "--jobs", "-S", "--sshlogin", "-a", "--arg-file", "-d", "-E", "-I")
                | fs("--joblog", "--results", "--tmpdir", "-n", "-N", "-L", "--colsep", "--timeout")
                | fs("--delimiter", "--retries", "--workdir", "--env", "--tag-string"),
                joined=True,
                until=fs(":::", "::::", ":::+", "::::+"),
                implicit_args=True,
            ),
        )
    ],
    "entr": [((), Wrap(shell_mode=fs("-s")))],
    "watchexec": [
        (
            (),
            Wrap(
                value=fs("-e", "--exts", "-w", "--watch", "-i", "--ignore", "-d", "--debounce")
                | fs("-s", "--signal", "--shell", "-f", "--filter", "--delay-run", "--workdir")
                | fs("--poll", "--project-origin", "--env", "-E", "--stop-signal", "--color"),
                joined=True,
                exec_=fs("-n", "--no-shell"),
            ),
        )
    ],
    "nodemon": [
        ((), Wrap(shell=fs("-x", "--exec"), value=fs("-w", "--watch", "-e", "--ext", "-i")))
    ],
    "cross-env": [((), Wrap(assignments=True))],
    "cross-env-shell": [((), Wrap(assignments=True, joined=True))],
    "xvfb-run": [
        ((), Wrap(value=fs("-n", "--server-num", "-s", "--server-args", "-f", "-e", "-p")))
    ],
    "dbus-run-session": [((), Wrap(value=fs("--config-file", "--dbus-daemon")))],
    "fakeroot": [((), Wrap(value=fs("-l", "--lib", "--faked", "-s", "-i")))],
    "faketime": [((), Wrap(operands=1))],
    "torsocks": [((), Wrap(value=fs("-u", "-p", "-a", "-P", "--user", "--pass", "--address")))],
    "proxychains": [((), Wrap(value=fs("-f")))],
    "proxychains4": [((), Wrap(value=fs("-f")))],
    "numactl": [
        ((), Wrap(value=fs("-C", "--physcpubind", "-N", "--cpunodebind", "-m", "-p", "-i")))
    ],
    "cpulimit": [((), Wrap(value=fs("-l", "--limit", "-p", "--pid", "-e", "--exe")))],
    "prlimit": [((), Wrap(value=fs("-p", "--pid", "-o", "--output")))],
    "chpst": [((), Wrap(value=fs("-u", "-U", "-b", "-e", "-/", "-n", "-l", "-L", "-m", "-o")))],
    "sg": [((), Wrap(operands=1, joined=True, shell=fs("-c")))],
    "setpriv": [((), Wrap(value=fs("--reuid", "--regid", "--groups", "--inh-caps")))],
    "flatpak-spawn": [((), Wrap(value=fs("--directory", "--env")))],
    "screen": [((), Wrap(value=fs("-S", "-c", "-e", "-h", "-p", "-T", "-t", "-Logfile")))],
    "tmux": [((name,), _TMUX) for name in sorted(_SUBSHELL)],
}
_GLOBALS = {  # options before a runner's subcommand that take a value
    "npm": OPTIONS["npm"].value,
    "pnpm": fs("-C", "--dir", "--filter", "-F", "-w", "--workspace-root"),
    "yarn": fs("--cwd"),
    "uv": _UV_VALUES,
    "poetry": fs("-C", "--directory", "-P", "--project"),
    "hatch": fs("-e", "--env", "-p", "--project", "--data-dir", "--cache-dir"),
    "tox": _TOX.value,
    "nix": fs("--option", "--extra-experimental-features", "--experimental-features"),
    "conda": fs("--prefix", "-p"),
    "kubectl": OPTIONS["kubectl"].value,
    "dotenv": fs("-f", "--file", "-e", "-v", "-c"),
    "tmux": fs("-L", "-S", "-f", "-T"),
}
_NO_WORDS: tuple[str, ...] = ()
_PROBLEMS = {  # runner subcommands the guard cannot see through
    ("nix", "run"): "nix run runs a package's own program, which the guard cannot see",
    ("tmux", "send-keys"): "tmux send-keys types commands into a terminal",
    ("tmux", "send"): "tmux send-keys types commands into a terminal",
    ("screen", "-X"): "screen -X sends commands to a running screen",
    ("at", ""): "at schedules commands for later",
    ("batch", ""): "batch schedules commands for later",
}


_PROBLEM_PROGRAMS = frozenset(p for p, _ in _PROBLEMS) | {"make", "gmake"}


@dataclass(slots=True)
class Inside:
    """What a program runs from its arguments, besides itself."""

    command: list[Word] = field(default_factory=list)  # a command it runs (words, argv[0] first)
    shells: list[Word] = field(default_factory=list)  # shell code it runs
    problems: list[str] = field(default_factory=list)  # why what it runs cannot be seen
    assignments: tuple[str, ...] = ()  # variables it sets for the command (cross-env A=1)
    implicit_args: bool = False  # the command gets more arguments at run time (parallel)
    chdir: Word | None = None


def inside(program: str, words: list[Word]) -> Inside:
    """The command or shell code `program` runs from `words` (argv, program first)."""
    found = Inside(shells=embedded_shell(program, words))
    found.command = embedded_command(program, words)
    found.problems = _problems(program, words)
    runner = _runner(program, words)
    if runner is not None:
        spec, start = runner
        unwrapped = skip_wrapper(spec, words[start:])
        if unwrapped.problem:
            found.problems.append(unwrapped.problem)
        found.shells += unwrapped.shells
        found.command = found.command or _hatch_env(program, unwrapped.rest)
        found.assignments = unwrapped.assignments
        found.implicit_args = spec.implicit_args
        found.chdir = unwrapped.chdir
        if program == "ssh" and (unwrapped.rest or unwrapped.shells):
            found.problems.append("ssh runs a command on another host")
    return found


def _runner(program: str, words: list[Word]) -> tuple[Wrap, int] | None:
    """The grammar of a runner and where its own arguments start (the word before them)."""
    entries = _RUNNERS.get(program)
    if not entries:
        return None
    start = _skip_globals(words, _GLOBALS.get(program, frozenset()))
    for path, spec in entries:
        if not path:
            return spec, 0
        end = start + len(path)
        if tuple(w.value for w in words[start:end]) == path:
            return spec, end - 1
    return None


def _skip_globals(words: list[Word], takes: frozenset[str]) -> int:
    """The index of the first word after the options that come before a subcommand."""
    i = 1
    while i < len(words) and words[i].value.startswith("-") and words[i].value != "--":
        i += 2 if words[i].value in takes else 1
    return i


def _hatch_env(program: str, rest: list[Word]) -> list[Word]:
    """`hatch run ENV:CMD` runs CMD in ENV."""
    if program != "hatch" or not rest or ":" not in rest[0].value or rest[0].dynamic:
        return rest
    env, _, name = rest[0].value.partition(":")
    return [Word(name), *rest[1:]] if "/" not in env else rest


def _problems(program: str, words: list[Word]) -> list[str]:
    """Why what a program runs cannot be seen: a makefile on stdin, `make --eval`, `nix run`."""
    if program not in _PROBLEM_PROGRAMS:
        return []
    if table_name(program) == "make":
        return _make_problems(words)
    out = []
    values = [w.value for w in words[1:]]
    start = _skip_globals(words, _GLOBALS.get(program, frozenset()))
    sub = words[start].value if start < len(words) else ""
    for key in ((program, sub), (program, ""), *((program, v) for v in values[:3])):
        if key in _PROBLEMS:
            out.append(_PROBLEMS[key])
            break
    return out


def _make_problems(words: list[Word]) -> list[str]:
    out = []
    _, _, values = parse_args("make", words[1:])
    for opt, value in values:
        if opt in ("-f", "--file", "--makefile") and (
            value.dynamic or value.value in ("-", "/dev/stdin") or value.value.startswith("/dev/fd")
        ):
            out.append("make reads a makefile the guard cannot see (stdin or a substitution)")
    for word in words[1:]:
        text = word.value
        if text.startswith(("--eval", "-E")) or text == "--eval":
            out.append("make --eval runs makefile text given on the command line")
        elif text.startswith(("SHELL=", "SHELL:=", ".SHELLFLAGS=", "MAKESHELL=", "SHELL+=")):
            out.append("make SHELL=... replaces the shell that runs every recipe")
        elif text.startswith(("--file=-", "--makefile=-", "-f-")):
            out.append("make reads a makefile from stdin")
    return out
