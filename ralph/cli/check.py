"""`ralph check` and `ralph policy lint`: what the guard decides, printed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import click

from ralph.errors import EXIT_OK, EXIT_USAGE
from ralph.tools.specs import PATH_TOOLS


def check_command(
    command: str, policy_path: Path, workspace: Path, mode: str, *, as_json: bool = False
) -> int:
    """`ralph check -- COMMAND`: the decision for one shell command. Exit 0 whatever it is."""
    from ralph.guard.policy import check, load_policy_cached

    policy = load_policy_cached(policy_path)
    d = check({"tool": "run_command", "command": command}, policy, workspace, mode)  # type: ignore[arg-type]
    if as_json:
        fields = {"decision": d.decision, "rule": d.rule, "reason": d.reason}
        fields |= {"commands": list(d.commands), "paths": list(d.paths), "effect": d.effect}
        fields |= {"network": d.network}
        fields |= {"policy": str(policy_path), "policy_sha256": d.policy_sha256}
        click.echo(json.dumps(fields, ensure_ascii=False))
        return EXIT_OK
    rows = [("decision", d.decision), ("rule", d.rule or "(none)"), ("reason", d.reason)]
    rows += [("command", c) for c in d.commands] or [("command", "(none)")]
    rows += [("path", p) for p in d.paths]
    rows.append(("network", "yes (a rule grants it in the sandbox)" if d.network else "no"))
    rows.append(("policy", f"{policy_path} (sha256 {d.policy_sha256[:12]})"))
    for label, value in rows:
        click.echo(f"{label + ':':<10}{value}")
    return EXIT_OK


def check_jsonl(
    lines: Iterable[str], out: IO[str], policy_path: Path, workspace: Path, mode: str
) -> int:
    """`ralph check --jsonl`: one decision line per input line, in order.

    A line that is not a valid call gets `{"decision": "deny", "rule": null, "reason":
    "bad input: ..."}` so the output stays aligned; the exit code is then 2 (else 0).
    """
    from ralph.guard.policy import check, load_policy_cached

    status = EXIT_OK
    for line in lines:
        try:
            call = parse_call(line)
        except ValueError as e:
            answer: dict[str, Any] = {"decision": "deny", "rule": None, "reason": f"bad input: {e}"}
            status = EXIT_USAGE
        else:
            d = check(call, load_policy_cached(policy_path), workspace, mode)  # type: ignore[arg-type]
            answer = {"decision": d.decision, "rule": d.rule, "reason": d.reason}
        out.write(json.dumps(answer, ensure_ascii=False) + "\n")
        out.flush()
    return status


def parse_call(line: str) -> dict[str, Any]:
    """One `--jsonl` input line -> the call dict for `policy.check`; ValueError saying why not."""
    try:
        call = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(call, dict):
        raise ValueError("not a JSON object")
    tool = call.get("tool")
    if not isinstance(tool, str):
        raise ValueError('"tool" must be a string')
    if tool == "run_command" and not isinstance(call.get("command"), str):
        raise ValueError('run_command needs "command" (a string)')
    if tool in PATH_TOOLS and not isinstance(call.get("path"), str):
        raise ValueError(f'{tool} needs "path" (a string)')
    return call


def lint(policy_path: Path) -> int:
    """`ralph policy lint`: every problem (file:line: problem) on stderr and exit 2, or a
    summary line: rules and examples (all passed)."""
    from ralph.guard import policy

    problems = policy.lint(policy_path)
    for problem in problems:
        click.echo(f"ralph: {problem}", err=True)
    if problems:
        return EXIT_USAGE
    loaded = policy.load_policy(policy_path)
    examples = sum(len(r.match) + len(r.not_match) for r in loaded.rules)
    click.echo(
        f"{policy_path}: OK, {len(loaded.rules)} rules, {examples} examples pass "
        f"(sha256 {loaded.sha256[:12]})"
    )
    return EXIT_OK
