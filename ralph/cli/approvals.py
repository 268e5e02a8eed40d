"""`ralph approvals`: list, approve and reject pending approvals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ralph.errors import EXIT_OK
from ralph.guard.approvals import Approval, ApprovalStore, describe_call
from ralph.redact import escape_controls as printable


def approval_json(a: Approval) -> dict[str, Any]:
    """One approval as `ralph approvals --json` shows it."""
    return {
        "id": a.id,
        "step": a.step,
        "call": a.call,
        "rule": a.rule,
        "reason": a.reason,
        "when": a.created,
        "status": a.status,
        "decided_at": a.decided_at,
        "used_at": a.used_at,
        "always": a.always,
        "paths": list(a.paths),
    }


def list_approvals(workspace: Path, *, as_json: bool = False) -> int:
    """`ralph approvals`: every approval, oldest first, then the files that are not valid
    approvals (forged, edited, hard-linked, unsigned): those are ignored."""
    store = ApprovalStore(workspace)
    approvals, ignored = store.list(), store.problems()
    if as_json:
        shown = {"approvals": [approval_json(a) for a in approvals]}
        shown["ignored"] = [{"file": p.file, "reason": p.reason} for p in ignored]
        click.echo(json.dumps(shown, indent=2))
        return EXIT_OK
    if not approvals and not ignored:
        click.echo("No approvals.")
        return EXIT_OK
    for a in approvals:
        status = f"{a.status} (always)" if a.always else a.status
        click.echo(f"{a.id}  {status:<18}{a.created}  {describe_call(a.call)}")
        click.echo(f"          rule {a.rule or '(none)'}: {printable(a.reason)}")
        for target in a.paths:
            click.echo(f"          target: {printable(target)}")
        if a.step:
            click.echo(f"          step: {printable(a.step)}")
    for p in ignored:
        click.echo(f"ignored   {printable(p.file)}: {p.reason}; it never runs anything")
    pending = sum(a.status == "pending" for a in approvals)
    if pending:
        click.echo(
            f"{pending} pending: `ralph approvals approve ID` or `ralph approvals reject ID`"
        )
    return EXIT_OK


def decide(workspace: Path, approval_id: str, *, approve: bool) -> int:
    """`ralph approvals approve|reject ID`."""
    store = ApprovalStore(workspace)
    a = store.approve(approval_id) if approve else store.reject(approval_id)
    after = (
        "it runs once, the next time the agent makes this exact call"
        if approve
        else "the agent will be told a person rejected it"
    )
    click.echo(f"{a.status} {a.id}: {describe_call(a.call)}; {after}.")
    return EXIT_OK
