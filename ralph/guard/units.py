"""A tool call as units: what each command would run, with the paths it touches resolved
and classed. This is the part of a check that reads the disk (globs, symlinks, the git
HEAD, file sizes); deciding from the units is pure (`ralph.guard.policy`).
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from ralph.guard import effects, families, gitstate, programs, scripts, targets
from ralph.guard.pathclass import Places
from ralph.guard.resolve import ci_config_alias, command_cwd, resolve_targets, secret_below
from ralph.guard.rules import Touch, Unit
from ralph.tools.specs import FILE_TOOL_ACCESS as _FILE_TOOL_ACCESS

if TYPE_CHECKING:
    from ralph.bash import Command

_NO_EFFECT_TOOLS = frozenset({"finish_step"})


@dataclass(frozen=True)
class Observation:
    """What the guard saw in one call: its units, and why the shell analysis fell short."""

    units: tuple[Unit, ...]
    problems: tuple[str, ...]


def units_for_call(call: dict[str, Any], places: Places) -> tuple[list[Unit], list[str]]:
    """The units of a call, and the analysis problems (shell commands only)."""
    tool = call.get("tool")
    if not isinstance(tool, str):
        raise ValueError("the call has no tool name")
    if tool == "run_command":
        command = call.get("command")
        if not isinstance(command, str):
            raise ValueError("run_command call without a command string")
        return _shell_units(command, places)
    if tool == "delete":
        return _shell_units(_delete_command(call, places), places)
    if tool in _FILE_TOOL_ACCESS:
        path = call.get("path")
        if path is None or path == "":
            if tool in ("list_files", "search"):
                path = "."
            else:
                raise ValueError(f"{tool} call without a path")
        if not isinstance(path, str):
            raise ValueError(f"{tool} call with a path that is not a string")
        if "\0" in path:  # no file has such a name; fail closed rather than raise
            return [Unit(tool=tool, text=f"{tool} {path!r}", effect="exec")], ["NUL byte in a path"]
        return [_file_unit(tool, path, places)], []
    effect = "read" if tool in _NO_EFFECT_TOOLS else "exec"
    return [Unit(tool=tool, text=tool, effect=effect)], []


def _delete_command(call: dict[str, Any], places: Places) -> str:
    path = call.get("path")
    if not isinstance(path, str) or not path:
        raise ValueError("delete call without a path")
    full = places.resolve(path, places.workspace, follow=False)
    recursive = "-r " if os.path.isdir(full) and not os.path.islink(full) else ""
    return f"rm {recursive}-- {shlex.quote(path)}"


def _file_unit(tool: str, path: str, places: Places) -> Unit:
    access = _FILE_TOOL_ACCESS[tool]
    resolved = places.resolve(path, places.workspace)
    touch = Touch(resolved, places.classify(resolved), access, True)
    effect = "read" if access in ("read", "list") else "write"
    touches = (touch, *ci_config_alias(touch, places))
    return Unit(tool=tool, text=f"{tool} {path}", touches=touches, effect=effect)


def _shell_units(source: str, places: Places, depth: int = 0) -> tuple[list[Unit], list[str]]:
    from ralph.bash.walker import CACHE_MAX_CHARS, analyze

    analysis = analyze(source)
    plan = _plan(analysis, keep=len(source) <= CACHE_MAX_CHARS)  # kept as long as analyses
    units = [_command_unit(part, places) for part in plan]
    problems = list(analysis.problems)
    for part in plan:
        more, trouble = _script_units(part.cmd, places, depth)
        units += more
        problems += trouble
    problems += _writes_then_runs(units)
    return units, problems


@dataclass(frozen=True, eq=False)
class _Static:
    """What one command of an analysis gives its unit without looking at the disk: its
    targets and every Unit field but the ones `_command_unit` fills from the disk."""

    cmd: Command
    targets: tuple[targets.Target, ...]
    fields: dict[str, Any]
    run: str | None  # the file it runs as a program, as written


_STATIC_FIELDS = frozenset(
    {"tool", "text", "command", "program", "subcommand", "flags", "words", "redirects"}
    | {"assigns", "wrappers", "effect", "inline"}
)
_DISK_FIELDS = frozenset({"args", "touches", "unknown_paths", "runs", "concerns"})
"""Every Unit field of a command is one or the other (a test holds this)."""
_plans: dict[int, tuple[Any, tuple[_Static, ...]]] = {}
_PLANS_MAX = 1024


def _plan(analysis: Any, *, keep: bool = True) -> tuple[_Static, ...]:
    """The static parts of an analysis's commands, computed once per analysis object (the
    analysis cache hands back the same object for the same source)."""
    hit = _plans.get(id(analysis))
    if hit is not None and hit[0] is analysis:
        return hit[1]
    standalone = tuple(_assign_name(a) for a in analysis.assignments)
    commands = analysis.commands
    plan = tuple(_static(cmd, standalone, commands, i) for i, cmd in enumerate(commands))
    if not keep:
        return plan
    if len(_plans) >= _PLANS_MAX:
        _plans.clear()
    _plans[id(analysis)] = (analysis, plan)  # the analysis is kept: its id stays its own
    return plan


def clear_cache() -> None:
    """Forget the static parts kept per analysis."""
    _plans.clear()


def _static(
    cmd: Command, standalone: tuple[str, ...], commands: tuple[Command, ...], index: int
) -> _Static:
    found = tuple(_targets_with_find(cmd, commands, index))
    fields = {
        "tool": "run_command",
        "text": cmd.text,
        "command": cmd,
        "program": cmd.program,
        "subcommand": cmd.subcommand,
        "flags": cmd.flags,
        "words": cmd.argv[1:],
        "redirects": tuple(r.target for r in cmd.redirects if r.target is not None),
        "assigns": tuple(_assign_name(a) for a in cmd.assignments)
        + standalone
        + effects.implied_assignments(cmd),
        "wrappers": cmd.wrappers,
        "effect": effects.effect(cmd, found),
        "inline": programs.inline_code(cmd),
    }
    return _Static(cmd, found, fields, programs.run_path(cmd))


_SCRIPT_DEPTH = 4


def _script_units(cmd: Command, places: Places, depth: int) -> tuple[list[Unit], list[str]]:
    """The units of the project scripts a command runs (`npm run x`, `make y`)."""
    cwd = command_cwd(cmd, places)
    if cmd.program not in scripts.RUNNERS:
        return [], []
    if cwd is None:
        return [], [f"`{cmd.text}` runs a project script from a folder known only at run time"]
    found = scripts.lookup(cmd, cwd)
    if found is None:
        return [], []
    problems = [f"`{cmd.text}`: {found.problem}"] if found.problem else []
    if found.sources and depth >= _SCRIPT_DEPTH:
        return [], [f"`{cmd.text}`: project scripts nest too deeply"]
    units: list[Unit] = []
    for label, source in found.sources:
        inner, trouble = _shell_units(source, places, depth + 1)
        units += [replace(u, text=f"{label}: {u.text}") for u in inner if u.program != "cd"]
        problems += [f"{label}: {t}" for t in trouble]
    return units, problems


def _writes_then_runs(units: list[Unit]) -> list[str]:
    """A command line that writes a build or test config and then runs the tool that reads
    it: the guard judged the file as it was, not as it will be."""
    out: list[str] = []
    written: set[str] = set()
    for unit in units:
        for tool in sorted(written & _tools_of(unit)):
            out.append(f"it writes a file `{tool}` reads, then runs `{unit.program}`")
        for touch in unit.touches:
            if touch.access in ("write", "truncate"):
                written.update(scripts.readers_of(touch.path))
        if unit.program in ("npm", "pnpm", "yarn", "bun") and unit.subcommand == "pkg":
            written.add("node")
    return out


def _tools_of(unit: Unit) -> set[str]:
    if unit.program is None:
        return set()
    return scripts.tool_family(unit.program, unit.command)


def _push_target(cmd: Command, places: Places) -> str | None:
    """`git push URL|PATH|NAME` where NAME is no configured remote sends the repository to a
    place nobody set up (git takes an unknown name for a path)."""
    if cmd.program != "git" or cmd.subcommand != "push":
        return None
    if {"-C", "--git-dir", "--work-tree"} & cmd.flags or cmd.cwd != ".":
        return None
    repos = families.option_values(cmd, "--repo") or list(cmd.args[1:2])
    if not repos:
        return None
    repo = repos[0]
    if repo in cmd.dynamic_args or repo.startswith("-"):
        return None  # a dynamic path is judged as one
    known = gitstate.remotes(places.workspace)
    if known is not None and repo in known:
        return None
    place = re.match(r"[a-z][a-z0-9+.-]*://|[^/]*@[^/]*:|[^/:]+:|[/.~]", repo) is not None
    if not place and not os.path.exists(os.path.join(places.workspace, repo)):
        return None  # git fails: no such remote or repository
    return f"git push to {repo!r}, which is not a configured remote (the whole repository leaves)"


def _assign_name(assignment: str) -> str:
    return re.split(r"\+?=", assignment, maxsplit=1)[0]


def _command_unit(part: _Static, places: Places) -> Unit:
    """A command's unit: its static part, and what the disk says now (paths resolved and
    classed, the branch a push sends, a pushed-to remote, the file it runs)."""
    cmd = part.cmd
    touches, unknown = resolve_targets(cmd, part.targets, places)
    return Unit(
        **part.fields,
        args=_git_push_args(cmd, places),
        touches=tuple(touches) + tuple(_docker_copies(cmd, places)),
        unknown_paths=tuple(unknown),
        runs=_runs(part.run, cmd, places),
        concerns=_concerns(cmd, places),
    )


def _concerns(cmd: Command, places: Places) -> tuple[tuple[str, str], ...]:
    """Built-in confirmations that come from what is on disk (not liftable by rules)."""
    push = _push_target(cmd, places)
    return (("builtin:push-target", push),) if push else ()


_COPY = re.compile(r"^\s*(?:COPY|ADD)\s+(.*)$", re.I | re.M)


def _docker_copies(cmd: Command, places: Places) -> list[Touch]:
    """Secrets a `docker build` copies into the image (`COPY . .` with a .env in the
    context and no .dockerignore entry for it; `COPY .env /app/`)."""
    if families.base_program(cmd.program) != "docker" or "build" not in cmd.args[:2]:
        return []
    cwd = command_cwd(cmd, places)
    rest = [a for a in cmd.args if a not in ("build", "buildx", "image")]
    if cwd is None or len(rest) > 1 or any(a in cmd.dynamic_args for a in rest):
        return []
    context = places.resolve(rest[0] if rest else ".", cwd)
    named = families.option_values(cmd, "-f", "--file")
    dockerfile = places.resolve(named[0], cwd) if named else os.path.join(context, "Dockerfile")
    try:
        with open(dockerfile, encoding="utf-8", errors="replace") as f:
            text = f.read(1_000_000)
    except OSError:
        return []
    ignored = _dockerignore(context)
    found: list[str] = []
    for line in _COPY.findall(text):
        sources = [w for w in line.split() if not w.startswith("--")][:-1]
        for source in sources:
            path = os.path.normpath(os.path.join(context, source))
            if os.path.isdir(path):
                found += secret_below(path, places, hidden=True, skip=ignored)
            elif places.classify(path) == "secret" and not ignored(path):
                found.append(path)
    return [Touch(p, "secret", "read", True) for p in dict.fromkeys(found)]


def _dockerignore(context: str) -> Callable[[str], bool]:
    try:
        with open(os.path.join(context, ".dockerignore"), encoding="utf-8") as f:
            lines = [x.strip() for x in f if x.strip() and not x.startswith(("#", "!"))]
    except OSError:
        lines = []

    def ignored(path: str) -> bool:
        rel = os.path.relpath(path, context)
        name = os.path.basename(rel)
        return any(fnmatchcase(rel, p.strip("/")) or fnmatchcase(name, p.strip("/")) for p in lines)

    return ignored


def _runs(run: str | None, cmd: Command, places: Places) -> tuple[str, str] | None:
    if run is None:
        return None
    cwd = command_cwd(cmd, places)
    if cwd is None:
        return None
    try:
        return run, places.resolve(run, cwd)
    except (ValueError, OSError):  # a NUL byte, an unencodable name
        return None


def _targets_with_find(
    cmd: Command, commands: tuple[Command, ...], index: int
) -> list[targets.Target]:
    """Targets of a command; for `find ... -exec CMD {}`, `{}` stands for find's paths."""
    if not (cmd.implicit_args and "find" in cmd.wrappers and "{}" in cmd.args):
        return targets.targets(cmd)
    owner = next((c for c in commands[index + 1 :] if c.program == "find"), None)
    if owner is None:
        return [*targets.targets(cmd), targets.Target("{}", "read", dynamic=True)]
    starts = owner.args or (".",)
    only = targets.find_names(owner)
    if only:  # `find . -name __pycache__ -exec rm -rf {} +`: {} is each ./**/__pycache__
        starts = tuple(posixpath.join(s, only[0]) for s in starts)
    filtered = bool(owner.flags - {"-depth", "-xdev", "-mount", "-print", "-print0"})
    names = [v for o, v in owner.option_values if o in _FIND_NAME_TESTS]
    out: list[targets.Target] = []
    for start in starts:
        # `{}` is each file found: the start folder, and a secret if the name tests allow one
        words = [start] + [f"{start}/{n}" for n in _SECRET_EXAMPLES if _may_match(names, n)]
        for word in words:
            args = tuple(word if a == "{}" else a for a in cmd.args)
            argv = tuple(word if a == "{}" else a for a in cmd.argv)
            for target in targets.targets(replace(cmd, args=args, argv=argv)):
                found = target.word == word
                out.append(replace(target, filtered=filtered) if found else target)
    if families.base_program(cmd.program) in families.SHELLS | families.INTERPRETERS:
        out.append(targets.Target("{} (each file found is run)", "read", dynamic=True))
    return out


_FIND_NAME_TESTS = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename"})
_SECRET_EXAMPLES = (".env", ".env.local", "id_rsa", "server.key", "cert.pem", ".netrc")


def _may_match(patterns: list[str], name: str) -> bool:
    """True if a find name test could select `name` (only when there are name tests)."""
    return any(fnmatchcase(name, p.rsplit("/", 1)[-1]) for p in patterns)


def _git_push_args(cmd: Command, places: Places) -> tuple[str, ...]:
    """`git push [remote]` pushes the current branch: count it as a pushed argument."""
    args = cmd.args
    if cmd.program != "git" or cmd.subcommand != "push" or len(args) > 2:
        return args
    if {"--all", "--mirror", "--tags", "-C", "--git-dir", "--work-tree"} & cmd.flags:
        return args
    if cmd.cwd != ".":
        return args
    branch = _current_branch(places.workspace)
    return (*args, branch) if branch else args


def _current_branch(workspace: str) -> str | None:
    git = os.path.join(workspace, ".git")
    try:
        if os.path.isfile(git):  # a worktree: "gitdir: PATH"
            with open(git, encoding="utf-8") as f:
                git = os.path.join(workspace, f.read().partition("gitdir:")[2].strip())
        with open(os.path.join(git, "HEAD"), encoding="utf-8") as f:
            head = f.read().strip()
    except OSError:
        return None
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: ") else None
