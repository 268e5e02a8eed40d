"""Re-judge recorded tool calls under a policy: what a policy change would have changed.

Sources are ralph's own run records (each `tool` event with the decision it got, and each
`verify` command) and other agents' transcripts (Claude Code's JSONL sessions), whose
tool calls are mapped onto ralph's calls the way the hooks map them. Each call whose
decision or rule changes is bucketed: `stricter` (allow → confirm/deny, confirm → deny),
`looser` (the other way) or `reclassified` (same decision, another rule). Calls recorded
with secrets redacted are judged as recorded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEVERITY = {"allow": 0, "confirm": 1, "deny": 2}


@dataclass(frozen=True)
class Recorded:
    """One recorded call: where it came from, ralph's view of it, and its old decision."""

    source: str
    call: dict[str, Any]
    decision: str | None = None
    rule: str | None = None


@dataclass(frozen=True)
class Change:
    recorded: Recorded
    decision: str
    rule: str | None
    bucket: str

    def to_json(self) -> dict[str, Any]:
        r = self.recorded
        return {
            "source": r.source,
            "call": r.call,
            "bucket": self.bucket,
            "before": {"decision": r.decision, "rule": r.rule},
            "after": {"decision": self.decision, "rule": self.rule},
        }


@dataclass
class Report:
    calls: int = 0
    changes: list[Change] = field(default_factory=list)
    decisions: Counter[str] = field(default_factory=Counter)
    """For sources without recorded decisions: how many calls got each decision now."""

    @property
    def looser(self) -> bool:
        return any(c.bucket == "looser" for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        buckets = Counter(c.bucket for c in self.changes)
        per_rule = Counter(f"{c.bucket} {c.rule or c.recorded.rule}" for c in self.changes)
        return {
            "calls": self.calls,
            "changed": len(self.changes),
            "buckets": {b: buckets.get(b, 0) for b in ("stricter", "looser", "reclassified")},
            "per_rule": dict(sorted(per_rule.items())),
            "decisions": dict(self.decisions),
            "changes": [c.to_json() for c in self.changes],
        }


def replay(recorded: Iterable[Recorded], policy_path: Path, workspace: Path) -> Report:
    """Judge each recorded call under the policy at `policy_path` and compare."""
    from ralph.guard.policy import check, load_policy
    from ralph.tools.specs import POLICY_TOOLS

    policy = load_policy(policy_path)
    report = Report()
    for r in recorded:
        report.calls += 1
        if r.call.get("tool") in POLICY_TOOLS:
            d = check(r.call, policy, workspace, "unattended")
            decision, rule = d.decision, d.rule
        else:  # a host tool ralph does not know: its hook blocks it
            decision, rule = "deny", "hook:unknown-tool"
        if r.decision is None:
            report.decisions[decision] += 1
            continue
        bucket = _bucket(r.decision, r.rule, decision, rule)
        if bucket:
            report.changes.append(Change(r, decision, rule, bucket))
    return report


def _bucket(old: str, old_rule: str | None, new: str, new_rule: str | None) -> str | None:
    if SEVERITY.get(new, 2) > SEVERITY.get(old, 2):
        return "stricter"
    if SEVERITY.get(new, 2) < SEVERITY.get(old, 2):
        return "looser"
    return "reclassified" if (old_rule or None) != (new_rule or None) else None


def from_runs(paths: Iterable[Path]) -> Iterator[Recorded]:
    """The judged calls of ralph run records: tool calls and verify commands."""
    from ralph.messages import ToolCall
    from ralph.record.log import read_run
    from ralph.tools.specs import guard_call

    for path in paths:
        verify_decision: dict[str, Any] = {}
        for e in read_run(path):
            kind = e.get("event")
            if kind == "decision" and e.get("call_id") == "verify":
                verify_decision = e
            elif kind == "verify" and isinstance(e.get("command"), str):
                call = {"tool": "run_command", "command": e["command"]}
                d, rule = verify_decision.get("decision"), verify_decision.get("rule")
                yield Recorded(f"{path.stem} verify", call, d, rule)
            elif kind == "tool" and e.get("decision") and isinstance(e.get("arguments"), dict):
                call = guard_call(ToolCall("r", str(e.get("name")), e["arguments"]))
                yield Recorded(f"{path.stem} {e.get('name')}", call, e["decision"], e.get("rule"))


def from_claude(path: Path) -> Iterator[Recorded]:
    """The tool calls of a Claude Code session transcript (JSONL), as the hook sees them."""
    from ralph.hooks.hosts import CLAUDE
    from ralph.messages import ToolCall
    from ralph.tools.specs import guard_call

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        content = (entry.get("message") or {}).get("content") if isinstance(entry, dict) else None
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict) or block.get("type") != "tool_use":
                continue
            name = str(block.get("name"))
            try:
                calls = CLAUDE.calls(name, block.get("input"))
            except ValueError:
                calls = None
            source = f"{path.name}:{number} {name}"
            if calls is None:  # a tool the hook would block: the policy cannot judge it
                yield Recorded(source, {"tool": name})
            for tool, args in calls or []:
                yield Recorded(source, guard_call(ToolCall("r", tool, args)))
