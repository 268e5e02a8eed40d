"""What `ralph replay` prints."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import click

from ralph.errors import EXIT_FAILED, EXIT_OK, UsageError


def show(
    workspace: Path,
    run_ids: tuple[str, ...],
    all_runs: bool,
    transcripts: tuple[Path, ...],
    policy: Path | None,
    *,
    as_json: bool,
) -> int:
    from ralph.config import find_policy
    from ralph.record.replay import from_claude, from_runs, replay
    from ralph.record.runs import find_run, list_runs

    if not (run_ids or all_runs or transcripts):
        raise UsageError("give RUN_IDs, --all, or --claude TRANSCRIPT to replay")
    if all_runs:
        paths = [Path(i.path) for i in list_runs(workspace)]
    else:
        paths = [find_run(workspace, r) for r in run_ids]
    sources: Iterator = itertools.chain(from_runs(paths), *(from_claude(t) for t in transcripts))
    policy_path = find_policy(workspace, policy)
    report = replay(sources, policy_path, workspace)
    if as_json:
        click.echo(json.dumps(report.to_json() | {"policy": str(policy_path)}))
    else:
        _print(report.to_json(), policy_path)
    return EXIT_FAILED if report.looser else EXIT_OK


def _print(r: dict, policy_path: Path) -> None:
    b = r["buckets"]
    click.echo(
        f"{r['calls']} calls re-judged under {policy_path}: {r['changed']} changed "
        f"({b['stricter']} stricter, {b['looser']} looser, {b['reclassified']} reclassified)"
    )
    for c in r["changes"]:
        before, after = c["before"], c["after"]
        what = c["call"].get("command") or c["call"].get("path") or c["call"].get("tool")
        click.echo(
            f"  {c['bucket']:<12} {before['decision']} ({before['rule']}) -> "
            f"{after['decision']} ({after['rule']})  {c['source']}: {what}"
        )
    for rule_bucket, n in r["per_rule"].items():
        click.echo(f"  {n:>4}  {rule_bucket}")
    if r["decisions"]:
        shown = ", ".join(f"{n} {d}" for d, n in sorted(r["decisions"].items()))
        click.echo(f"transcript calls, as ralph would decide now: {shown}")
