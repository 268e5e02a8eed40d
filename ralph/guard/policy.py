"""Deciding one tool call: `check(call, policy, workspace, mode)`.

A policy is a TOML file of `[[rule]]` tables (see policies/default.toml for the documented
format), loaded and validated by `ralph.guard.load` (re-exported here). The rule vocabulary
is `ralph.guard.rules`; turning a call into units is `ralph.guard.units` (`observe`, the
part that reads the disk); `decide` is pure over what was observed. `check` does both:

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

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ralph.guard import MODES, Mode, families, programs, units
from ralph.guard.load import example_call, lint, load_policy, load_policy_cached
from ralph.guard.pathclass import Places
from ralph.guard.rules import (
    DECISIONS,
    TOOLS,
    Decision,
    Policy,
    Rule,
    Touch,
    Unit,
)
from ralph.guard.units import Observation, units_for_call
from ralph.workspace import chosen_state_dir

__all__ = [
    "DECISIONS",
    "MODES",
    "TOOLS",
    "Decision",
    "Mode",
    "Policy",
    "Rule",
    "Touch",
    "Unit",
    "check",
    "clear_caches",
    "decide",
    "example_call",
    "lint",
    "load_policy",
    "load_policy_cached",
    "observe",
]
_SEVERITY = {"allow": 0, "confirm": 1, "deny": 2}
_EFFECT_ORDER = {"read": 0, "write": 1, "exec": 2}


@dataclass
class _Verdict:
    decision: str
    rule: str | None
    reason: str
    network: bool = False  # a matching rule grants the network (for a rule's verdict)
    audit_in_sandbox: bool = False  # the winning allow rule may run in the audit sandbox


# ---------------------------------------------------------------------------------------------
# Deciding.


def check(call: dict[str, Any], policy: Policy, workspace: Path, mode: Mode) -> Decision:
    """Decide one tool call under `policy`. No prompts, no writes. Never raises.

    Two steps: `observe` reads what the call would touch (resolves paths and globs against
    the disk, reads git state and project scripts); `decide` is pure over that observation.
    """
    sha = getattr(policy, "sha256", "")
    try:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        places = _places(policy, workspace)
        return _decide_remembered(observe(call, places), policy, places, mode)
    except Exception as exc:  # fail closed
        reason = f"the guard failed while checking this call ({type(exc).__name__}: {exc})"
        return Decision("deny", "guard:error", reason, (), (), sha, "exec")


def observe(call: dict[str, Any], places: Places) -> Observation:
    """The units of a call with their paths resolved and classed (this reads the disk)."""
    units, problems = units_for_call(call, places)
    return Observation(tuple(units), tuple(problems))


_decided: dict[tuple[Any, ...], tuple[Policy, Decision]] = {}
_DECIDED_MAX = 1024
_DECIDED_MAX_UNITS = 64  # a bigger call is decided afresh each time (and not kept)


def _decide_remembered(seen: Observation, policy: Policy, places: Places, mode: Mode) -> Decision:
    """`decide`, remembered. It is pure, so the same observation (compared whole: every path
    as resolved and classed right now, every git state, every script read) under the same
    policy object, places and mode gets the same decision. Only deciding is skipped: the
    observation is made afresh for every check, and a changed policy file is a new object."""
    if len(seen.units) > _DECIDED_MAX_UNITS:
        return decide(seen, policy, places, mode)
    key = (seen, places, mode, id(policy))
    hit = _decided.get(key)
    if hit is not None and hit[0] is policy:  # the policy is kept, so its id stays its own
        return hit[1]
    decision = decide(seen, policy, places, mode)
    if len(_decided) >= _DECIDED_MAX:
        _decided.clear()
    _decided[key] = (policy, decision)
    return decision


def clear_caches() -> None:
    """Forget every remembered analysis, static command part and decision (benchmarks use
    this to time a command the guard has never seen)."""
    from ralph.bash import walker

    walker.clear_cache()
    units.clear_cache()
    _decided.clear()


def decide(seen: Observation, policy: Policy, places: Places, mode: Mode) -> Decision:
    """The decision for an observed call: pure (no disk, no environment)."""
    units = seen.units
    verdicts = _floors(units, places) + _runs_downloads(units)
    verdicts += [
        _Verdict("confirm", "builtin:unparsed", f"the guard cannot fully analyse it: {p}")
        for p in seen.problems
    ]
    rule_verdicts = []
    for unit in units:
        verdicts += _unit_verdicts(unit, policy, places, mode)
        rule_verdicts.append((unit, verdicts[-1]))  # the last one is the rule's
    final = _strictest(verdicts) or _Verdict("allow", "builtin:no-op", "the input runs no command")
    effect = max((u.effect for u in units), key=_EFFECT_ORDER.__getitem__, default="read")
    decision, rule, reason = final.decision, final.rule, final.reason
    network, needs_sandbox = _sandbox_grants(rule_verdicts)
    if mode == "audit" and effect != "read" and not (decision == "allow" and needs_sandbox):
        reason = f"audit mode: read-only; this would have been: {decision} ({rule}): {reason}"
        decision = "deny"
    commands = tuple(dict.fromkeys(u.text for u in units))
    paths = tuple(
        dict.fromkeys(
            [t.show() for u in units for t in u.touches]
            + [f"{w} (unknown)" for u in units for w in u.unknown_paths]
        )
    )
    return Decision(
        decision,  # type: ignore[arg-type]
        rule,
        reason,
        commands,
        paths,
        policy.sha256,
        effect,  # type: ignore[arg-type]
        network=network and decision != "deny",
        needs_sandbox=needs_sandbox and mode == "audit" and effect != "read",
    )


def _sandbox_grants(rule_verdicts: list[tuple[Unit, _Verdict]]) -> tuple[bool, bool]:
    """(network, audit_in_sandbox) for a call. The network: some command is granted it and
    every command that runs code is (`pip install x && python y.py` gets none). The audit
    sandbox: every command that does more than read is allowed by such a rule."""
    running = [v for u, v in rule_verdicts if u.effect == "exec"]
    network = any(v.network for _, v in rule_verdicts) and all(v.network for v in running)
    acting = [v for u, v in rule_verdicts if u.effect != "read"]
    return network, bool(acting) and all(v.audit_in_sandbox for v in acting)


def _strictest(verdicts: list[_Verdict]) -> _Verdict | None:
    best: _Verdict | None = None
    for verdict in verdicts:
        if best is None or _SEVERITY[verdict.decision] > _SEVERITY[best.decision]:
            best = verdict
    return best


def _unit_verdicts(unit: Unit, policy: Policy, places: Places, mode: str) -> list[_Verdict]:
    """The strictest matching rule for one unit (or default:uncovered), plus built-in checks.
    Rules with `audit_in_sandbox` count in audit mode only."""
    audit = mode == "audit"
    matched = [
        r
        for r in policy.candidates(unit)
        if (audit or not r.audit_in_sandbox) and r.matches_candidate(unit, places)
    ]
    best = max(matched, key=lambda r: _SEVERITY[r.decision], default=None)
    if best is None:
        what = f"`{unit.program}`" if unit.command is not None else unit.tool
        verdict = _Verdict("confirm", "default:uncovered", f"no policy rule covers {what}")
    else:
        verdict = _Verdict(best.decision, best.id, best.reason)
        verdict.network = any(bool(r.network) for r in matched if r.decision != "deny")
        verdict.audit_in_sandbox = best.decision == "allow" and any(
            bool(r.audit_in_sandbox) for r in matched if r.decision == "allow"
        )
    out = [_Verdict("confirm", rule, reason) for rule, reason in unit.concerns]
    if unit.unknown_paths:
        shown = ", ".join(unit.unknown_paths[:3])
        reason = f"a path is only known when the command runs: {shown}"
        out.append(_Verdict("confirm", "builtin:dynamic-path", reason))
    if unit.inline and not any(r.decision == "allow" and r.inline_code for r in matched):
        reason = f"`{unit.program}` runs inline code the guard cannot check"
        out.append(_Verdict("confirm", "builtin:inline-code", reason))
    return [*out, verdict]  # on a tie the built-in reason is the more specific one


def _runs_downloads(units: tuple[Unit, ...]) -> list[_Verdict]:
    """Ask when a file downloaded earlier in the same input is then run (remote code):
    `curl -o s.sh URL && bash s.sh`, `wget -O build/tool URL && ./build/tool`."""
    fetched: set[str] = set()
    out: list[_Verdict] = []
    for unit in units:
        if unit.runs is not None and unit.runs[1] in fetched:
            reason = f"runs {unit.runs[0]}, which this command downloads first"
            out.append(_Verdict("confirm", "builtin:runs-download", reason))
        if unit.program is not None and families.base_program(unit.program) in families.DOWNLOADERS:
            fetched.update(t.path for t in unit.touches if t.access in ("write", "truncate"))
    return out


def _floors(units: tuple[Unit, ...], places: Places) -> list[_Verdict]:
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
    state = chosen_state_dir()
    key = (os.fspath(workspace), home, os.environ.get("TMPDIR"), state, policy.path, policy.sha256)
    places = _places_cache.get(key)
    if places is None:
        if len(_places_cache) > 64:
            _places_cache.clear()
        places = Places.make(
            workspace, home=home, protected_files=[os.fspath(policy.path)], extra=policy.extra_paths
        )
        _places_cache[key] = places
    return places
