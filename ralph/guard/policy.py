"""Policy files: loading and validating them, and the pure `check()` of one tool call.

A policy is a TOML file of `[[rule]]` tables (see policies/default.toml for the documented
format). `load_policy` validates it completely, runs every rule's `match`/`not_match`
examples, and raises `PolicyError("FILE:LINE: problem")` on the first problem; it never
falls back to something more permissive. `load_policy_cached` re-reads it cheaply for every
check (keyed on size, mtime, ctime and inode; a recently written file is re-hashed).

`check(call, policy, workspace, mode)` decides one tool call:

1. The call becomes units: one per command that would execute (from `ralph.bash`), or one
   for a file tool. Each unit knows its program, subcommand, flags, positional args,
   the paths it touches (resolved and classed, see `ralph.guard.pathclass`) and its effect.
2. Hard floors (in code, not liftable by any rule) deny: writes to protected paths (.git,
   .ralph, the policy files), deleting root/home/the workspace/.git, writing raw devices,
   making filesystems, and downloads piped into a shell or interpreter.
3. Built-in checks need at least confirmation: shell analysis problems, paths that are not
   known before the command runs, and inline code (`python -c`, `node -e`, ...) unless an
   allow rule with `inline_code = true` covers it.
4. Every rule is matched against every unit; per unit the strictest matching rule wins
   (deny > confirm > allow); a unit no rule covers needs confirmation (default:uncovered).
5. The call gets the strictest result of all of the above. In audit mode anything whose
   effect is not "read" is denied.

An exception inside check() denies the call (rule "guard:error").
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import os
import posixpath
import re
import shlex
import threading
import time
import tomllib
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ralph.errors import PolicyError
from ralph.guard import MODES, Mode, programs
from ralph.guard.pathclass import CLASSES, GlobSet, Places, is_harmless_device
from ralph.tools.specs import FILE_TOOL_ACCESS as _FILE_TOOL_ACCESS
from ralph.tools.specs import POLICY_TOOLS

if TYPE_CHECKING:
    from ralph.bash import Command

DECISIONS = ("allow", "confirm", "deny")
_SEVERITY = {"allow": 0, "confirm": 1, "deny": 2}
_EFFECT_ORDER = {"read": 0, "write": 1, "exec": 2}

TOOLS = POLICY_TOOLS  # the names a rule may give in `tool = ...`
_NO_EFFECT_TOOLS = frozenset({"finish_step"})
_RESERVED_PREFIXES = ("floor:", "builtin:", "default:", "guard:", "audit:")
_GLOB_CHARS = re.compile(r"[*?\[]")
_MATCH_ALL = re.compile(r"\.?[*?]*\*[*?]*|\.[*?]+")


# ---------------------------------------------------------------------------------------------
# Public data.


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one call, with what the guard saw inside it."""

    decision: Literal["allow", "confirm", "deny"]
    rule: str | None  # rule id, or a built-in id like "floor:protected", "default:uncovered"
    reason: str
    commands: tuple[str, ...]  # the commands (or file-tool call) the guard saw
    paths: tuple[str, ...]  # resolved paths with their class: "/abs/path (workspace)"
    policy_sha256: str
    effect: Literal["read", "write", "exec"]  # "read" when the call only reads


@dataclass(frozen=True)
class ArgPattern:
    """A glob (fnmatch, `*` matches anything) or, with a `re:` prefix, a regex (search)."""

    text: str
    regex: re.Pattern[str] | None

    def matches(self, value: str) -> bool:
        if self.regex is not None:
            return self.regex.search(value) is not None
        return fnmatchcase(value, self.text)


@dataclass(frozen=True)
class Names:
    """Names matched exactly or by glob (`mkfs*`)."""

    exact: frozenset[str]
    globs: tuple[str, ...]

    @classmethod
    def of(cls, items: list[str]) -> Names:
        globs = tuple(i for i in items if _GLOB_CHARS.search(i))
        return cls(frozenset(i for i in items if i not in globs), globs)

    def matches(self, name: str | None) -> bool:
        if name is None:
            return False
        return name in self.exact or any(fnmatchcase(name, g) for g in self.globs)


@dataclass(frozen=True)
class Rule:
    """One validated `[[rule]]`. Unset conditions are None (they do not constrain)."""

    id: str
    decision: str
    reason: str
    line: int
    tools: frozenset[str] | None = None
    programs: Names | None = None
    subcommands: Names | None = None
    not_subcommands: Names | None = None
    flags_any: frozenset[str] | None = None
    flags_all: tuple[frozenset[str], ...] | None = None
    flags_none: frozenset[str] | None = None
    args_any: tuple[ArgPattern, ...] | None = None
    args_none: tuple[ArgPattern, ...] | None = None
    redirect: tuple[ArgPattern, ...] | None = None
    assigns: Names | None = None
    wrappers: frozenset[str] | None = None
    effects: frozenset[str] | None = None
    inline_code: bool | None = None
    access: frozenset[str] | None = None
    path_class: frozenset[str] | None = None
    path_glob: GlobSet | None = None
    match: tuple[str, ...] = ()
    not_match: tuple[str, ...] = ()

    for_commands: bool = field(init=False, repr=False, compare=False)
    """True if the rule has conditions only shell commands can meet."""

    def __post_init__(self) -> None:
        command_only = (
            self.programs,
            self.subcommands,
            self.not_subcommands,
            self.flags_any,
            self.flags_all,
            self.flags_none,
            self.args_any,
            self.args_none,
            self.redirect,
            self.assigns,
            self.wrappers,
            self.inline_code,
        )
        object.__setattr__(self, "for_commands", any(v is not None for v in command_only))

    def matches(self, unit: Unit, places: Places) -> bool:
        """True if every condition of the rule holds for the unit."""
        if self.tools is not None and unit.tool not in self.tools:
            return False
        if unit.command is None:
            if self.for_commands:
                return False
        elif not self._command_matches(unit):
            return False
        if self.effects is not None and unit.effect not in self.effects:
            return False
        return self._paths_match(unit, places)

    def _command_matches(self, unit: Unit) -> bool:
        if self.programs is not None and not self.programs.matches(unit.program):
            return False
        if self.subcommands is not None and not self.subcommands.matches(unit.subcommand):
            return False
        if self.not_subcommands is not None and self.not_subcommands.matches(unit.subcommand):
            return False
        flags = unit.flags
        if self.flags_any is not None and not self.flags_any & flags:
            return False
        if self.flags_all is not None and not all(group & flags for group in self.flags_all):
            return False
        if self.flags_none is not None and self.flags_none & flags:
            return False
        if self.args_any is not None and not _any_arg(self.args_any, unit.args):
            return False
        if self.args_none is not None and _any_arg(self.args_none, unit.args):
            return False
        if self.redirect is not None and not _any_arg(self.redirect, unit.redirects):
            return False
        if self.assigns is not None and not any(self.assigns.matches(n) for n in unit.assigns):
            return False
        if self.wrappers is not None and not self.wrappers.intersection(unit.wrappers):
            return False
        return self.inline_code is None or self.inline_code == unit.inline

    def _paths_match(self, unit: Unit, places: Places) -> bool:
        if self.access is None and self.path_class is None and self.path_glob is None:
            return True
        touched = [t for t in unit.touches if self.access is None or t.access in self.access]
        if not touched:
            return False
        if self.path_class is None and self.path_glob is None:
            return True
        test = all if self.decision == "allow" else any
        return test(self._path_ok(t, places) for t in touched)

    def _path_ok(self, touch: Touch, places: Places) -> bool:
        if self.path_class is not None and touch.cls not in self.path_class:
            return False
        return self.path_glob is None or self.path_glob.matches(touch.path, places)


def _any_arg(patterns: tuple[ArgPattern, ...], args: tuple[str, ...]) -> bool:
    return any(p.matches(a) for a in args for p in patterns)


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy file."""

    path: Path
    sha256: str
    rules: tuple[Rule, ...]
    description: str = ""
    extra_paths: dict[str, GlobSet] = field(default_factory=dict)
    _by_program: dict[str | None, tuple[Rule, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def candidates(self, program: str | None) -> tuple[Rule, ...]:
        """The rules that can match a unit of this program (None: a file-tool unit), in order."""
        hit = self._by_program.get(program)
        if hit is None:
            hit = tuple(
                r
                for r in self.rules
                if (program is None and not r.for_commands)
                or (program is not None and (r.programs is None or r.programs.matches(program)))
            )
            self._by_program[program] = hit
        return hit


# ---------------------------------------------------------------------------------------------
# Units: what one call consists of, as the rules see it.


@dataclass(frozen=True, slots=True)
class Touch:
    """A resolved path a unit touches."""

    path: str
    cls: str
    access: str
    whole: bool  # the path itself or everything in it (not a filtered subset)

    def show(self) -> str:
        return f"{self.path} ({self.cls})"


@dataclass(frozen=True)
class Unit:
    """One thing the rules judge: a command that would run, or a file-tool call."""

    tool: str
    text: str
    command: Command | None = None
    program: str | None = None
    subcommand: str | None = None
    flags: frozenset[str] = frozenset()
    args: tuple[str, ...] = ()
    redirects: tuple[str, ...] = ()  # redirection targets as written (static ones)
    assigns: tuple[str, ...] = ()
    wrappers: tuple[str, ...] = ()
    touches: tuple[Touch, ...] = ()
    unknown_paths: tuple[str, ...] = ()  # path words that cannot be resolved before running
    effect: str = "exec"
    inline: bool = False


@dataclass
class _Verdict:
    decision: str
    rule: str | None
    reason: str


def _units_for_call(call: dict[str, Any], places: Places) -> tuple[list[Unit], list[str]]:
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
    return Unit(tool=tool, text=f"{tool} {path}", touches=(touch,), effect=effect)


def _shell_units(source: str, places: Places) -> tuple[list[Unit], list[str]]:
    from ralph.bash import analyze

    analysis = analyze(source)
    standalone = tuple(_assign_name(a) for a in analysis.assignments)
    commands = analysis.commands
    units = [_command_unit(cmd, places, standalone, commands, i) for i, cmd in enumerate(commands)]
    return units, list(analysis.problems)


def _assign_name(assignment: str) -> str:
    return re.split(r"\+?=", assignment, maxsplit=1)[0]


def _command_unit(
    cmd: Command,
    places: Places,
    standalone: tuple[str, ...],
    commands: tuple[Command, ...],
    index: int,
) -> Unit:
    targets = _targets_with_find(cmd, commands, index)
    touches, unknown = _resolve_targets(cmd, targets, places)
    return Unit(
        tool="run_command",
        text=cmd.text,
        command=cmd,
        program=cmd.program,
        subcommand=cmd.subcommand,
        flags=cmd.flags,
        args=_git_push_args(cmd, places),
        redirects=tuple(r.target for r in cmd.redirects if r.target is not None),
        assigns=tuple(_assign_name(a) for a in cmd.assignments)
        + standalone
        + programs.implied_assignments(cmd),
        wrappers=cmd.wrappers,
        touches=tuple(touches),
        unknown_paths=tuple(unknown),
        effect=programs.effect(cmd, targets),
        inline=programs.inline_code(cmd),
    )


def _targets_with_find(
    cmd: Command, commands: tuple[Command, ...], index: int
) -> list[programs.Target]:
    """Targets of a command; for `find ... -exec CMD {}`, `{}` stands for find's paths."""
    if not (cmd.implicit_args and "find" in cmd.wrappers and "{}" in cmd.args):
        return programs.targets(cmd)
    owner = next((c for c in commands[index + 1 :] if c.program == "find"), None)
    if owner is None:
        return [*programs.targets(cmd), programs.Target("{}", "read", dynamic=True)]
    starts = owner.args or (".",)
    only = programs.find_names(owner)
    if only:  # `find . -name __pycache__ -exec rm -rf {} +`: {} is each ./**/__pycache__
        starts = tuple(posixpath.join(s, only[0]) for s in starts)
    filtered = bool(owner.flags - {"-depth", "-xdev", "-mount", "-print", "-print0"})
    names = [v for o, v in owner.option_values if o in _FIND_NAME_TESTS]
    out: list[programs.Target] = []
    for start in starts:
        # `{}` is each file found: the start folder, and a secret if the name tests allow one
        words = [start] + [f"{start}/{n}" for n in _SECRET_EXAMPLES if _may_match(names, n)]
        for word in words:
            args = tuple(word if a == "{}" else a for a in cmd.args)
            argv = tuple(word if a == "{}" else a for a in cmd.argv)
            for target in programs.targets(replace(cmd, args=args, argv=argv)):
                found = target.word == word
                out.append(replace(target, filtered=filtered) if found else target)
    if programs.base_program(cmd.program) in programs.SHELLS | programs.INTERPRETERS:
        out.append(programs.Target("{} (each file found is run)", "read", dynamic=True))
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


def _resolve_targets(
    cmd: Command, targets: list[programs.Target], places: Places
) -> tuple[list[Touch], list[str]]:
    touches: list[Touch] = []
    unknown: list[str] = []
    cwd = _command_cwd(cmd, places)
    for target in targets:
        word = target.word
        if word.startswith(("<(", ">(")) and word.endswith(")"):
            continue  # a process substitution: a pipe, its command is checked on its own
        if target.dynamic or word in cmd.dynamic_args:
            unknown.append(word)
            continue
        if is_harmless_device(word):
            continue
        if cwd is None and not word.startswith(("/", "~")):
            unknown.append(f"{word} (in a folder only known at run time)")
            continue
        try:
            expanded = _expand(word, cwd or places.workspace, places, target)
        except (ValueError, OSError):  # a NUL byte, an unencodable name: not a real path
            unknown.append(f"{word!r} (not a usable path)")
            continue
        if expanded is None:
            unknown.append(f"{word} (matches more than {_GLOB_LIMIT} files)")
            continue
        for path, whole in expanded:
            if is_harmless_device(path):
                continue
            access = target.access
            if access == "truncate" and not _nonempty_file(path):
                access = "write"
            touches.append(Touch(path, places.classify(path), access, whole))
    return touches, unknown


def _command_cwd(cmd: Command, places: Places) -> str | None:
    cwd = cmd.cwd
    if cwd is None:
        return None
    if cwd == ".":
        return places.workspace
    return places.resolve(cwd, places.workspace)


def _expand(
    word: str, cwd: str, places: Places, target: programs.Target
) -> list[tuple[str, bool]] | None:
    """(resolved path, whole) pairs for a path word, None if a glob matches too many files.

    A glob stands for its folder (whole if it matches everything in it, like `*` or `.*`,
    and `..` too when it can match that) and for each file it matches right now.
    """
    follow = target.follow or target.access != "delete"
    if not _GLOB_CHARS.search(word):
        return [(places.resolve(word, cwd, follow=follow), not target.filtered)]
    pattern = os.path.join(cwd, places.expand_home(word))
    matches = list(itertools.islice(glob.iglob(pattern), _GLOB_LIMIT + 1))
    if len(matches) > _GLOB_LIMIT:
        return None
    found = [(places.resolve(m, cwd, follow=follow), not target.filtered) for m in matches]
    parts = word.split("/")
    index = next(i for i, p in enumerate(parts) if _GLOB_CHARS.search(p))
    folder = "/".join(parts[:index]) or ("/" if word.startswith("/") else ".")
    pattern = parts[index]
    last = index == len(parts) - 1 or all(p == "" for p in parts[index + 1 :])
    if last and _MATCH_ALL.fullmatch(pattern):  # everything in the folder: the folder itself
        out = [(places.resolve(folder, cwd), not target.filtered), *found]
    else:  # a file that may appear before it runs: the pattern without its wildcards
        literal = os.path.join(folder, _WILDCARDS.sub("", pattern), *parts[index + 1 :])
        out = [(places.resolve(literal, cwd, follow=follow), False), *found]
    if pattern.startswith(".") and fnmatchcase("..", pattern):  # `.*` matches `..`
        out.append((places.resolve(folder + "/..", cwd), True))
    return out


_WILDCARDS = re.compile(r"\[[^\]]*\]|[*?]")
_GLOB_LIMIT = 1000


def _nonempty_file(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Deciding.


def check(call: dict[str, Any], policy: Policy, workspace: Path, mode: Mode) -> Decision:
    """Decide one tool call under `policy`. Pure: no prompts, no writes. Never raises."""
    sha = getattr(policy, "sha256", "")
    try:
        return _check(call, policy, workspace, mode)
    except Exception as exc:  # fail closed
        reason = f"the guard failed while checking this call ({type(exc).__name__}: {exc})"
        return Decision("deny", "guard:error", reason, (), (), sha, "exec")


def _check(call: dict[str, Any], policy: Policy, workspace: Path, mode: Mode) -> Decision:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    places = _places(policy, workspace)
    units, problems = _units_for_call(call, places)
    verdicts = _floors(units, places) + _runs_downloads(units, places)
    verdicts += [
        _Verdict("confirm", "builtin:unparsed", f"the guard cannot fully analyse it: {p}")
        for p in problems
    ]
    for unit in units:
        verdicts += _unit_verdicts(unit, policy, places)
    final = _strictest(verdicts) or _Verdict("allow", "builtin:no-op", "the input runs no command")
    effect = max((u.effect for u in units), key=_EFFECT_ORDER.__getitem__, default="read")
    decision, rule, reason = final.decision, final.rule, final.reason
    if mode == "audit" and effect != "read":
        reason = f"audit mode: read-only; this would have been: {decision} ({rule}): {reason}"
        decision = "deny"
    commands = tuple(dict.fromkeys(u.text for u in units))
    paths = tuple(
        dict.fromkeys(
            [t.show() for u in units for t in u.touches]
            + [f"{w} (unknown)" for u in units for w in u.unknown_paths]
        )
    )
    return Decision(decision, rule, reason, commands, paths, policy.sha256, effect)  # type: ignore[arg-type]


def _strictest(verdicts: list[_Verdict]) -> _Verdict | None:
    best: _Verdict | None = None
    for verdict in verdicts:
        if best is None or _SEVERITY[verdict.decision] > _SEVERITY[best.decision]:
            best = verdict
    return best


def _unit_verdicts(unit: Unit, policy: Policy, places: Places) -> list[_Verdict]:
    """The strictest matching rule for one unit (or default:uncovered), plus built-in checks."""
    program = unit.program if unit.command is not None else None
    matched = [r for r in policy.candidates(program) if r.matches(unit, places)]
    best = max(matched, key=lambda r: _SEVERITY[r.decision], default=None)
    if best is None:
        what = f"`{unit.program}`" if unit.command is not None else unit.tool
        verdict = _Verdict("confirm", "default:uncovered", f"no policy rule covers {what}")
    else:
        verdict = _Verdict(best.decision, best.id, best.reason)
    out: list[_Verdict] = []
    if unit.unknown_paths:
        shown = ", ".join(unit.unknown_paths[:3])
        reason = f"a path is only known when the command runs: {shown}"
        out.append(_Verdict("confirm", "builtin:dynamic-path", reason))
    if unit.inline and not any(r.decision == "allow" and r.inline_code for r in matched):
        reason = f"`{unit.program}` runs inline code the guard cannot check"
        out.append(_Verdict("confirm", "builtin:inline-code", reason))
    return [*out, verdict]  # on a tie the built-in reason is the more specific one


def _runs_downloads(units: list[Unit], places: Places) -> list[_Verdict]:
    """Ask when a file downloaded earlier in the same input is then run (remote code):
    `curl -o s.sh URL && bash s.sh`, `wget -O build/tool URL && ./build/tool`."""
    fetched: set[str] = set()
    out: list[_Verdict] = []
    for unit in units:
        cmd = unit.command
        if cmd is None:
            continue
        run = programs.run_path(cmd)
        cwd = _command_cwd(cmd, places)
        if run is not None and cwd is not None and places.resolve(run, cwd) in fetched:
            reason = f"runs {run}, which this command downloads first"
            out.append(_Verdict("confirm", "builtin:runs-download", reason))
        if programs.base_program(cmd.program) in programs.DOWNLOADERS:
            fetched.update(t.path for t in unit.touches if t.access in ("write", "truncate"))
    return out


def _floors(units: list[Unit], places: Places) -> list[_Verdict]:
    """The hard floor: denials no policy rule can lift."""
    out: list[_Verdict] = []
    git_dir = os.path.join(places.workspace, ".git")
    for unit in units:
        cmd = unit.command
        if cmd is not None and programs.makes_filesystem(cmd):
            out.append(_Verdict("deny", "floor:disk", f"`{cmd.program}` rewrites disks"))
        if cmd is not None and programs.downloads_into_executor(cmd):
            reason = "downloaded content would run as code (download piped into a shell)"
            out.append(_Verdict("deny", "floor:download-exec", reason))
        for touch in unit.touches:
            if touch.access not in ("write", "truncate", "delete"):
                continue
            if touch.cls == "protected":
                reason = f"{touch.path} is protected (git internals, ralph state or the policy)"
                out.append(_Verdict("deny", "floor:protected", reason))
            elif touch.cls == "device":
                out.append(_Verdict("deny", "floor:device", f"writes the device {touch.path}"))
            essential = places.contains_workspace(touch.path) or touch.path in (
                places.home,
                git_dir,
            )
            if touch.access == "delete" and touch.whole and essential:
                what = _essential_name(touch.path, places)
                out.append(_Verdict("deny", "floor:essential", f"deletes {what}"))
    return out


def _essential_name(path: str, places: Places) -> str:
    if path == "/":
        return "the root folder /"
    if path == places.home:
        return f"the home folder {path}"
    if path == places.workspace:
        return f"the workspace {path}"
    if path == os.path.join(places.workspace, ".git"):
        return "the git repository (.git)"
    return f"{path}, which contains the workspace"


_places_cache: dict[tuple[Any, ...], Places] = {}


def _places(policy: Policy, workspace: Path) -> Places:
    """Places for this workspace, $HOME and $TMPDIR (cached: resolving costs system calls)."""
    home = os.path.expanduser("~")
    key = (os.fspath(workspace), home, os.environ.get("TMPDIR"), policy.path, policy.sha256)
    places = _places_cache.get(key)
    if places is None:
        if len(_places_cache) > 64:
            _places_cache.clear()
        places = Places.make(
            workspace, home=home, protected_files=[os.fspath(policy.path)], extra=policy.extra_paths
        )
        _places_cache[key] = places
    return places


# ---------------------------------------------------------------------------------------------
# Loading and validating.

_TOP_KEYS = frozenset({"version", "description", "paths", "rule"})
_PATH_KEYS = frozenset({"scratch", "secret", "protected"})
_RULE_KEYS = (
    "id",
    "decision",
    "reason",
    "tool",
    "program",
    "subcommand",
    "not_subcommand",
    "flags_any",
    "flags_all",
    "flags_none",
    "args_any",
    "args_none",
    "redirect",
    "assigns",
    "wrappers",
    "effect",
    "inline_code",
    "access",
    "path_class",
    "path_glob",
    "match",
    "not_match",
)
EXAMPLE_WORKSPACE = "/ralph-example/workspace"
EXAMPLE_HOME = "/ralph-example/home"


class _Problems:
    """Collects located problems in one policy file."""

    def __init__(self, path: Path, text: str) -> None:
        self.name = str(path)
        self.lines = text.splitlines()
        self.items: list[str] = []
        self.rule_lines = [
            i + 1 for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*rule\s*\]\]", line)
        ]

    def add(self, line: int, message: str) -> None:
        self.items.append(f"{self.name}:{line}: {message}")

    def rule_line(self, index: int) -> int:
        return self.rule_lines[index] if index < len(self.rule_lines) else 1

    def key_line(self, start: int, key: str, needle: str | None = None) -> int:
        """The line of `key = ...` in the table starting at `start` (or of `needle` in it)."""
        for number in range(start, len(self.lines) + 1):
            line = self.lines[number - 1]
            if number > start and re.match(r"\s*\[", line):
                break
            if needle is not None and needle in line:
                return number
            if needle is None and re.match(rf"\s*{re.escape(key)}\s*=", line):
                return number
        if needle is not None:
            return self.key_line(start, key)
        return start

    def table_line(self, name: str) -> int:
        for number, line in enumerate(self.lines, 1):
            if re.match(rf"\s*\[\s*{re.escape(name)}\s*\]", line):
                return number
        return 1


def load_policy(path: Path) -> Policy:
    """Load and validate a policy file; raise PolicyError("FILE:LINE: problem") if it is bad."""
    path = Path(path)
    data = _read(path)
    policy, problems = _parse(path, data)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise PolicyError(problems[0] + more)
    assert policy is not None
    return policy


def lint(path: Path) -> list[str]:
    """Every problem in a policy file (bad TOML, schema, failing examples); [] if it is good."""
    path = Path(path)
    try:
        data = _read(path)
    except PolicyError as e:
        return [str(e)]
    return _parse(path, data)[1]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise PolicyError(f"{path}: cannot read the policy file: {e.strerror or e}") from e


def _parse(path: Path, data: bytes) -> tuple[Policy | None, list[str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, [f"{path}:1: the policy file is not UTF-8 ({e.reason})"]
    problems = _Problems(path, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(found.group(1)) if found else 1
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        problems.add(line, f"invalid TOML: {message}")
        return None, problems.items
    rules, extra, description = _validate(doc, problems)
    sha = hashlib.sha256(data).hexdigest()
    policy = Policy(Path(path), sha, tuple(rules), description, extra)
    _check_examples(policy, problems)  # of the rules that are valid
    return (policy if not problems.items else None), problems.items


def _validate(
    doc: dict[str, Any], problems: _Problems
) -> tuple[list[Rule], dict[str, GlobSet], str]:
    for key in doc:
        if key not in _TOP_KEYS:
            line = problems.key_line(1, key)
            problems.add(line, f"unknown key {key!r} (allowed: {', '.join(sorted(_TOP_KEYS))})")
    version = doc.get("version", 1)
    if version != 1:
        problems.add(problems.key_line(1, "version"), f"unsupported policy version {version!r}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        problems.add(problems.key_line(1, "description"), "description must be a string")
        description = ""
    extra = _validate_paths(doc.get("paths", {}), problems)
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list):
        problems.add(1, "`rule` must be an array of tables: write each rule as [[rule]]")
        return [], extra, description
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        line = problems.rule_line(index)
        if not isinstance(raw, dict):
            problems.add(line, f"rule #{index + 1} must be a table")
            continue
        rule = _validate_rule(raw, line, index, problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems.add(
                line, f"duplicate rule id {rule.id!r} (first defined at line {seen[rule.id]})"
            )
            continue
        seen[rule.id] = line
        rules.append(rule)
    return rules, extra, description


def _validate_paths(raw: Any, problems: _Problems) -> dict[str, GlobSet]:
    line = problems.table_line("paths")
    if not isinstance(raw, dict):
        problems.add(line, "[paths] must be a table")
        return {}
    out: dict[str, GlobSet] = {}
    for key, value in raw.items():
        if key not in _PATH_KEYS:
            allowed = ", ".join(sorted(_PATH_KEYS))
            problems.add(
                problems.key_line(line, key), f"unknown key {key!r} in [paths] (allowed: {allowed})"
            )
            continue
        items = _strings(value)
        if items is None:
            problems.add(problems.key_line(line, key), f"paths.{key} must be a list of globs")
            continue
        out[key] = GlobSet.of(items)
    return out


def _strings(value: Any) -> list[str] | None:
    """A string or a list of strings, as a list; None if it is neither."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _validate_rule(raw: dict[str, Any], line: int, index: int, problems: _Problems) -> Rule | None:
    before = len(problems.items)

    def bad(key: str, message: str) -> None:
        problems.add(problems.key_line(line, key), message)

    rule_id = raw.get("id")
    label = f"rule {rule_id!r}" if isinstance(rule_id, str) else f"rule #{index + 1}"
    for key in raw:
        if key not in _RULE_KEYS:
            bad(key, f"{label}: unknown key {key!r} (allowed: {', '.join(_RULE_KEYS)})")
    if "id" not in raw:
        problems.add(line, f"rule #{index + 1} has no id")
    elif not isinstance(rule_id, str) or not re.fullmatch(r"[A-Za-z0-9_.:/-]+", rule_id):
        bad("id", f"{label}: id must be a non-empty word (letters, digits, . _ - : /)")
    elif rule_id.startswith(_RESERVED_PREFIXES):
        bad("id", f"{label}: ids starting with {', '.join(_RESERVED_PREFIXES)} are reserved")
    decision = raw.get("decision")
    if decision not in DECISIONS:
        bad("decision", f"{label}: decision must be one of allow, confirm, deny (got {decision!r})")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        bad("reason", f"{label}: reason must be a non-empty string (it is shown to the person)")

    def names(key: str, allowed: tuple[str, ...] | None = None) -> list[str] | None:
        if key not in raw:
            return None
        items = _strings(raw[key])
        if items is None or not items:
            bad(key, f"{label}: {key} must be a string or a non-empty list of strings")
            return None
        for item in items:
            if allowed is not None and item not in allowed:
                bad(key, f"{label}: unknown {key} {item!r} (one of: {', '.join(allowed)})")
        return items

    def patterns(key: str) -> tuple[ArgPattern, ...] | None:
        items = names(key)
        if items is None:
            return None
        out = []
        for item in items:
            regex = None
            if item.startswith("re:"):
                try:
                    regex = re.compile(item[3:])
                except re.error as e:
                    bad(key, f"{label}: bad regex in {key}: {item[3:]!r}: {e}")
                    continue
            out.append(ArgPattern(item, regex))
        return tuple(out)

    def flag_set(key: str) -> frozenset[str] | None:
        items = names(key)
        if items is None:
            return None
        for item in items:
            if not item.startswith("-") or item in ("-", "--"):
                bad(key, f"{label}: {key} entries must be flags like -r or --force (got {item!r})")
        return frozenset(items)

    flags_all = None
    if "flags_all" in raw:
        value = raw["flags_all"]
        groups = []
        if not isinstance(value, list) or not value:
            bad(
                "flags_all",
                f"{label}: flags_all must be a list of flags or of lists of alternatives",
            )
        else:
            for group in value:
                items = _strings(group)
                if not items or not all(i.startswith("-") for i in items):
                    bad(
                        "flags_all",
                        f"{label}: flags_all entries must be a flag or a list of alternative flags",
                    )
                    continue
                groups.append(frozenset(items))
        flags_all = tuple(groups)
    inline = raw.get("inline_code")
    if inline is not None and not isinstance(inline, bool):
        bad("inline_code", f"{label}: inline_code must be true or false")
    examples = {k: names(k) or [] for k in ("match", "not_match")}
    globs = names("path_glob")
    tools = names("tool", TOOLS)
    rule = Rule(
        id=rule_id if isinstance(rule_id, str) else "",
        decision=decision if isinstance(decision, str) else "",
        reason=reason if isinstance(reason, str) else "",
        line=line,
        tools=frozenset(tools) if tools is not None else None,
        programs=_names(names("program")),
        subcommands=_names(names("subcommand")),
        not_subcommands=_names(names("not_subcommand")),
        flags_any=flag_set("flags_any"),
        flags_all=flags_all,
        flags_none=flag_set("flags_none"),
        args_any=patterns("args_any"),
        args_none=patterns("args_none"),
        redirect=patterns("redirect"),
        assigns=_names(names("assigns")),
        wrappers=_frozen(names("wrappers")),
        effects=_frozen(names("effect", programs.EFFECTS)),
        inline_code=inline if isinstance(inline, bool) else None,
        access=_frozen(names("access", programs.ACCESS)),
        path_class=_frozen(names("path_class", CLASSES)),
        path_glob=GlobSet.of(globs) if globs is not None else None,
        match=tuple(examples["match"]),
        not_match=tuple(examples["not_match"]),
    )
    if rule.for_commands and rule.tools is not None and "run_command" not in rule.tools:
        bad("tool", f"{label}: program/flag/argument conditions only apply to tool run_command")
    return rule if len(problems.items) == before else None


def _names(items: list[str] | None) -> Names | None:
    return Names.of(items) if items is not None else None


def _frozen(items: list[str] | None) -> frozenset[str] | None:
    return frozenset(items) if items is not None else None


def _check_examples(policy: Policy, problems: _Problems) -> None:
    """Run every rule's match/not_match examples; a failing example is a problem."""
    places = Places(
        EXAMPLE_WORKSPACE, EXAMPLE_HOME, ("/tmp", "/var/tmp"), frozenset(), **_extra(policy)
    )
    for rule in policy.rules:
        for wanted, examples in ((True, rule.match), (False, rule.not_match)):
            key = "match" if wanted else "not_match"
            for example in examples:
                try:
                    units, _ = _units_for_call(example_call(example), places)
                except Exception as e:
                    line = problems.key_line(rule.line, key, example)
                    problems.add(line, f"rule {rule.id!r}: cannot check example {example!r}: {e}")
                    continue
                hit = any(rule.matches(u, places) for u in units)
                if hit != wanted:
                    line = problems.key_line(rule.line, key, _needle(example))
                    verb = "does not match" if wanted else "matches"
                    problems.add(
                        line, f"rule {rule.id!r}: {key} example {example!r} {verb} the rule"
                    )


def _needle(example: str) -> str:
    return example.split("\n")[0][:40]


def _extra(policy: Policy) -> dict[str, GlobSet]:
    return {
        "extra_scratch": policy.extra_paths.get("scratch", GlobSet()),
        "extra_secret": policy.extra_paths.get("secret", GlobSet()),
        "extra_protected": policy.extra_paths.get("protected", GlobSet()),
    }


def example_call(example: str) -> dict[str, Any]:
    """An example string as a call: `@read|@write|@edit|@delete PATH`, else a shell command."""
    tools = {
        "@read": "read_file",
        "@write": "write_file",
        "@edit": "edit_file",
        "@delete": "delete",
    }
    head, _, rest = example.partition(" ")
    if head in tools and rest.strip():
        return {"tool": tools[head], "path": rest.strip()}
    return {"tool": "run_command", "command": example}


# ---------------------------------------------------------------------------------------------
# The reload cache.

_cache: dict[str, tuple[tuple[int, ...], Policy]] = {}
_cache_lock = threading.Lock()
_RACY_NS = 2_000_000_000  # a file written this recently may change again within one tick


def load_policy_cached(path: Path) -> Policy:
    """`load_policy`, re-validated only when the file changed.

    An unchanged file costs one stat. The key is (size, mtime, ctime, inode, device); a file
    modified in the last two seconds is re-hashed every time, since a second write within
    one timestamp tick would not change the key.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError as e:
        raise PolicyError(f"{name}: cannot read the policy file: {e.strerror or e}") from e
    key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    with _cache_lock:
        hit = _cache.get(name)
    recent = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < _RACY_NS
    if hit is not None and hit[0] == key and not recent:
        return hit[1]
    data = _read(Path(name))
    if hit is not None and hashlib.sha256(data).hexdigest() == hit[1].sha256:
        policy = hit[1]
    else:
        policy, problems = _parse(Path(name), data)
        if problems or policy is None:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise PolicyError(problems[0] + more)
    with _cache_lock:
        _cache[name] = (key, policy)
    return policy
