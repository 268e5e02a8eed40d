"""The rule vocabulary: a policy's rules, the units they judge, and the decision they give.

A `Rule` is one validated `[[rule]]` table; `Unit` is one thing a rule judges (a command
that would run, or a file-tool call) with the paths it touches (`Touch`). `Policy` holds
the rules and indexes them by program, so a check looks only at rules that can match.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ralph.guard.pathclass import GlobSet, Places
from ralph.tools.specs import POLICY_TOOLS

if TYPE_CHECKING:
    from ralph.bash import Command

DECISIONS = ("allow", "confirm", "deny")
_SEVERITY = {"allow": 0, "confirm": 1, "deny": 2}
_EFFECT_ORDER = {"read": 0, "write": 1, "exec": 2}

PATH_STATES = ("clean", "changed", "untracked", "missing", "unknown")
"""What git could restore of a deleted or emptied workspace path: clean (tracked, unchanged),
changed (tracked, with uncommitted changes), untracked (or ignored), missing (nothing there),
unknown (git state could not be read)."""
TOOLS = POLICY_TOOLS  # the names a rule may give in `tool = ...`
_RESERVED_PREFIXES = ("floor:", "builtin:", "default:", "guard:", "audit:")
_GLOB_CHARS = re.compile(r"[*?\[]")

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
    network: bool = False
    """The sandbox gives this call the network: rules with `network = true` cover it."""
    needs_sandbox: bool = False
    """Allowed in audit mode only inside the read-only sandbox (`audit_in_sandbox = true`)."""


@dataclass(frozen=True)
class ArgPattern:
    """A glob (fnmatch, `*` matches anything) or, with a `re:` prefix, a regex (search)."""

    text: str
    regex: re.Pattern[str] | None

    def matches(self, value: str) -> bool:
        return self.test(value) is not None

    @cached_property
    def test(self) -> Callable[[str], re.Match[str] | None]:
        """The compiled test (compiled on first use): regex search, or the glob's
        `fnmatchcase` regex matched whole."""
        if self.regex is not None:
            return self.regex.search
        return re.compile(fnmatch.translate(self.text)).match


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
        return name in self.exact or (self._glob is not None and self._glob(name) is not None)

    @cached_property
    def _glob(self) -> Callable[[str], re.Match[str] | None] | None:
        """The globs as one regex (`fnmatchcase` of any of them), compiled on first use."""
        if not self.globs:
            return None
        return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in self.globs)).match


@dataclass(frozen=True)
class Rule:
    """One validated `[[rule]]`. Unset conditions are None (they do not constrain)."""

    id: str
    decision: str
    reason: str
    line: int
    tools: frozenset[str] | None = None
    programs: Names | None = None
    not_programs: Names | None = None
    subcommands: Names | None = None
    not_subcommands: Names | None = None
    flags_any: frozenset[str] | None = None
    flags_all: tuple[frozenset[str], ...] | None = None
    flags_none: frozenset[str] | None = None
    args_any: tuple[ArgPattern, ...] | None = None
    args_none: tuple[ArgPattern, ...] | None = None
    words_any: tuple[ArgPattern, ...] | None = None
    redirect: tuple[ArgPattern, ...] | None = None
    assigns: Names | None = None
    wrappers: frozenset[str] | None = None
    effects: frozenset[str] | None = None
    inline_code: bool | None = None
    access: frozenset[str] | None = None
    path_class: frozenset[str] | None = None
    path_glob: GlobSet | None = None
    path_state: frozenset[str] | None = None
    network: bool | None = None
    """Sandbox field: the calls the rule covers get the network."""
    audit_in_sandbox: bool | None = None
    """Sandbox field (allow rules): counts in audit mode only, inside the read-only box."""
    match: tuple[str, ...] = ()
    not_match: tuple[str, ...] = ()

    for_commands: bool = field(init=False, repr=False, compare=False)
    """True if the rule has conditions only shell commands can meet."""
    _command_conditions: bool = field(init=False, repr=False, compare=False)
    _path_conditions: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = (self.programs, self.not_programs, self.subcommands, self.not_subcommands)
        command = (
            self.flags_any,
            self.flags_all,
            self.flags_none,
            self.args_any,
            self.args_none,
            self.words_any,
            self.redirect,
            self.assigns,
            self.wrappers,
            self.inline_code,
        )
        paths = (self.access, self.path_class, self.path_glob, self.path_state)
        object.__setattr__(self, "for_commands", any(v is not None for v in names + command))
        object.__setattr__(self, "_command_conditions", any(v is not None for v in command))
        object.__setattr__(self, "_path_conditions", any(v is not None for v in paths))

    def could_match(
        self, tool: str, program: str | None, effect: str, accesses: frozenset[str]
    ) -> bool:
        """False if the tool, program, effect or access conditions alone rule a unit out
        (`program` is None for a unit that is no shell command)."""
        if self.tools is not None and tool not in self.tools:
            return False
        if program is None:
            if self.for_commands:
                return False
        elif not self._program_matches(program):
            return False
        if self.effects is not None and effect not in self.effects:
            return False
        return self.access is None or bool(self.access & accesses)

    def _program_matches(self, program: str | None) -> bool:
        if self.programs is not None and not self.programs.matches(program):
            return False
        return self.not_programs is None or not self.not_programs.matches(program)

    def subcommand_matches(self, subcommand: str | None) -> bool:
        """False if the subcommand conditions rule this subcommand out."""
        if self.subcommands is not None and not self.subcommands.matches(subcommand):
            return False
        return self.not_subcommands is None or not self.not_subcommands.matches(subcommand)

    def _names_match(self, program: str | None, subcommand: str | None) -> bool:
        return self._program_matches(program) and self.subcommand_matches(subcommand)

    def matches(self, unit: Unit, places: Places) -> bool:
        """True if every condition of the rule holds for the unit."""
        if self.tools is not None and unit.tool not in self.tools:
            return False
        command = unit.command is not None
        if not command and self.for_commands:
            return False
        if command and not self._names_match(unit.program, unit.subcommand):
            return False
        if command and not self._command_matches(unit):
            return False
        if self.effects is not None and unit.effect not in self.effects:
            return False
        return self._paths_match(unit, places)

    def matches_candidate(self, unit: Unit, places: Places) -> bool:
        """`matches` for a unit `could_match` and `subcommand_matches` let through (one of
        `Policy.candidates`): the tool, program, subcommand, effect and access conditions
        are known to hold."""
        command = unit.command is not None and self._command_conditions
        if command and not self._command_matches(unit):
            return False
        return not self._path_conditions or self._paths_match(unit, places)

    def _command_matches(self, unit: Unit) -> bool:
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
        if self.words_any is not None and not _any_arg(self.words_any, unit.words):
            return False
        if self.redirect is not None and not _any_arg(self.redirect, unit.redirects):
            return False
        if self.assigns is not None and not any(self.assigns.matches(n) for n in unit.assigns):
            return False
        if self.wrappers is not None and not self.wrappers.intersection(unit.wrappers):
            return False
        return self.inline_code is None or self.inline_code == unit.inline

    def _paths_match(self, unit: Unit, places: Places) -> bool:
        if (
            self.access is None
            and self.path_class is None
            and self.path_glob is None
            and self.path_state is None
        ):
            return True
        touched = [t for t in unit.touches if self.access is None or t.access in self.access]
        if not touched:
            return False
        if self.path_class is None and self.path_glob is None and self.path_state is None:
            return True
        test = all if self.decision == "allow" else any
        return test(self._path_ok(t, places) for t in touched)

    def _path_ok(self, touch: Touch, places: Places) -> bool:
        if self.path_class is not None and touch.cls not in self.path_class:
            return False
        if self.path_state is not None and touch.state not in self.path_state:
            return False
        return self.path_glob is None or self.path_glob.matches(touch.path, places)


def _any_arg(patterns: tuple[ArgPattern, ...], args: tuple[str, ...]) -> bool:
    for pattern in patterns:
        test = pattern.test
        for arg in args:
            if test(arg) is not None:
                return True
    return False


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy file."""

    path: Path
    sha256: str
    rules: tuple[Rule, ...]
    description: str = ""
    extra_paths: dict[str, GlobSet] = field(default_factory=dict)
    _index: dict[tuple[Any, ...], _Candidates] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )  # not an init field: a copy made with other rules (dataclasses.replace) starts empty

    def candidates(self, unit: Unit) -> tuple[Rule, ...]:
        """The rules that can match this unit, in file order.

        An index by what every unit has (tool, program, effect, the kinds of access of its
        paths), then by subcommand: a rule whose tool, program, subcommand, effect or access
        condition rules the unit out is never looked at. The index holds one entry per
        distinct key, so a policy of 10,000 rules costs a scan once per kind of unit, not
        once per check (and a new subcommand only a scan of that kind's few rules)."""
        command = unit.command is not None
        program = unit.program if command else None
        accesses = frozenset(t.access for t in unit.touches)
        key = (unit.tool, program, unit.effect, accesses)
        hit = self._index.get(key)
        if hit is None:
            rules = tuple(
                r for r in self.rules if r.could_match(unit.tool, program, unit.effect, accesses)
            )
            hit = _Candidates(rules, {})
            if len(self._index) > 4096:
                self._index.clear()
            self._index[key] = hit
        return hit.for_subcommand(unit.subcommand if command else None)


@dataclass(frozen=True)
class _Candidates:
    """The rules one kind of unit can match, and those of them each subcommand can."""

    rules: tuple[Rule, ...]
    by_subcommand: dict[str | None, tuple[Rule, ...]]

    def for_subcommand(self, subcommand: str | None) -> tuple[Rule, ...]:
        hit = self.by_subcommand.get(subcommand)
        if hit is None:
            hit = tuple(r for r in self.rules if r.subcommand_matches(subcommand))
            if len(self.by_subcommand) > 1024:
                self.by_subcommand.clear()
            self.by_subcommand[subcommand] = hit
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
    state: str = ""  # for deletes and truncations in the workspace: what git could restore

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
    words: tuple[str, ...] = ()  # every word after the program: flags, option values, args
    redirects: tuple[str, ...] = ()  # redirection targets as written (static ones)
    assigns: tuple[str, ...] = ()
    wrappers: tuple[str, ...] = ()
    touches: tuple[Touch, ...] = ()
    unknown_paths: tuple[str, ...] = ()  # path words that cannot be resolved before running
    effect: str = "exec"
    inline: bool = False
    runs: tuple[str, str] | None = None  # the file it runs as a program: (as written, resolved)
    concerns: tuple[tuple[str, str], ...] = ()  # (builtin rule id, reason): seen on disk
