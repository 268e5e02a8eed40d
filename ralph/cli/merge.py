"""`ralph merge [PLAN]`: merge the plan's lane branches back in plan order (CI's finish job)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ralph.cli.app import cli, state_dir_option
from ralph.errors import EXIT_FAILED, EXIT_OK


@cli.command("merge")
@click.argument("taskfile", required=False, type=click.Path(path_type=Path))
@click.option(
    "--branch",
    "branches",
    multiple=True,
    metavar="BRANCH",
    help="Merge this lane branch (repeatable) [every lane branch of an open step].",
)
@click.option(
    "--merge",
    "how",
    type=click.Choice(["ff", "merge"]),
    default="merge",
    show_default=True,
    help="ff: fast-forward only; merge: a merge commit each.",
)
@click.option("--policy", type=click.Path(dir_okay=False, path_type=Path), help="Policy file.")
@click.option("--json", "as_json", is_flag=True, help='Print {"plan", "base", "lanes": [...]}.')
@state_dir_option
def merge(
    taskfile: Path | None,
    branches: tuple[str, ...],
    how: str,
    policy: Path | None,
    as_json: bool,
) -> int:
    """Merge the lane branches ralph/<plan>/<step-slug> into the checked-out branch.

    \b
    For each open step with a lane branch, in plan order: read the step's outcome from
    the branch's copy of the plan; merge a done step's branch (never its copy of the
    plan), run the step's verify again on the merged result (through the guard,
    unattended, in the sandbox), then check the box and write the lane's note in this
    plan and commit it. A conflict or a failed verify puts the branch back as it was
    and leaves the step open with a note naming the kept branch; a lane that did not
    finish has its note carried over, its branch not merged.
    Exit 0: every lane merged; 1: some were kept; 2: bad input.
    """
    from ralph.cli.render import printable
    from ralph.git import Git
    from ralph.lanes.plan_merge import merge_plan
    from ralph.workspace import workspace_for
    from ralph.worktrees import base_branch

    workspace = workspace_for(None, taskfile)
    req = _request(workspace, taskfile, policy)
    base = base_branch(Git(workspace))
    results = merge_plan(
        workspace,
        req.task_path,
        base=base,
        branches=branches,
        how=how,
        verify_for=_verifier(req),
        max_attempts=req.config.max_attempts,
    )
    if as_json:
        lanes = [r.to_json() for r in results]
        shown: dict[str, Any] = {"plan": str(req.task_path), "base": base, "lanes": lanes}
        click.echo(json.dumps(shown, ensure_ascii=False))
    else:
        for r in results:
            click.echo(printable(f"line {r.line}: {r.outcome.replace('_', ' ')}: {r.branch}"))
            click.echo(printable(f"  {r.detail}"))
        merged = sum(r.merged for r in results)
        kept = len(results) - merged
        if not results:
            click.echo(f"ralph: no lane branches for open steps of {printable(str(req.task_path))}")
        else:
            click.echo(f"ralph: merged {merged} of {len(results)} lanes into {base}; {kept} kept")
    return EXIT_OK if all(r.merged for r in results) else EXIT_FAILED


def _request(workspace: Path, taskfile: Path | None, policy: Path | None) -> Any:
    """What the post-merge verify needs, checked as `ralph run` checks it (exit 2)."""
    from ralph import taskfile as tasks
    from ralph.agent.run import RunRequest
    from ralph.config import default_plan, find_policy, load_config
    from ralph.errors import UsageError
    from ralph.guard.policy import load_policy_cached
    from ralph.trust import require_trust

    config = load_config(workspace)
    plan = taskfile or default_plan(workspace, config)
    tasks.load(plan)  # a missing or broken plan is exit 2, first
    policy_path = find_policy(workspace, policy)
    if not policy_path.is_file():
        raise UsageError(f"policy file not found: {policy_path}")
    load_policy_cached(policy_path)
    require_trust(workspace, "unattended")
    return RunRequest(plan, workspace, policy_path, "unattended", config)


def _verifier(req: Any) -> Any:
    from ralph.lanes.checks import verifier

    return verifier(req, lambda event, **fields: None)
