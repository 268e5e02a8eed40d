"""The commands that read or decide without a model: status, next, check, policy lint,
approvals, runs, log and init.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ralph.cli.app import (
    _MODES,
    _WORKSPACE_DIR,
    _workspace,
    cli,
    state_dir_option,
    task_workspace_option,
)


@cli.command()
@click.argument("taskfile", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@task_workspace_option
@state_dir_option
def status(taskfile: Path | None, as_json: bool, workspace: Path | None) -> int:
    """Show every step of TASKFILE: line, state, text and ralph's last note.

    TASKFILE defaults to the project's plan, as for `ralph run`.

    \b
    Examples:
      ralph status tasks/plan.md
      ralph status tasks/plan.md --json | jq '.steps[] | select(.state == "failed")'
    """
    from ralph.cli import status as taskview

    return taskview.status(*_plan(taskfile, workspace), as_json=as_json)


@cli.command("next")
@click.argument("taskfile", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the step's context).")
@click.option("--prompt", is_flag=True, help="Print the exact first request the step would send.")
@task_workspace_option
@state_dir_option
def next_cmd(taskfile: Path | None, as_json: bool, prompt: bool, workspace: Path | None) -> int:
    """Show the step the next run of TASKFILE takes, with its context.

    \b
    Examples:
      ralph next tasks/plan.md
      ralph next tasks/plan.md --prompt        # the exact first request to the model
    """
    if prompt:
        from ralph.agent.prompts import first_request

        click.echo(first_request(*_plan(taskfile, workspace), as_json=as_json))
        return 0
    from ralph.cli import status as taskview

    return taskview.next_step(*_plan(taskfile, workspace), as_json=as_json)


def _plan(taskfile: Path | None, workspace: Path | None = None) -> tuple[Path, Path]:
    """TASKFILE, or the project's plan (`plan` in the config, else tasks/plan.md), and its
    workspace (`ralph.config.locate_plan`, as for every command that takes TASKFILE)."""
    from ralph.config import locate_plan

    return locate_plan(taskfile, workspace)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--policy", type=click.Path(dir_okay=False, path_type=Path), help="Policy file.")
@click.option("--mode", type=_MODES, default="interactive", show_default=True)
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option("--jsonl", is_flag=True, help="Check JSON calls read one a line from stdin.")
@state_dir_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def check(
    policy: Path | None,
    mode: str,
    workspace: Path | None,
    as_json: bool,
    jsonl: bool,
    command: tuple[str, ...],
) -> int:
    """Show the policy's decision for a shell command: ralph check -- COMMAND...

    \b
    Prints the decision (allow, confirm, deny), the rule id, the reason, and the commands
    and paths the guard saw inside the input. The words of COMMAND are joined with spaces
    (as ssh does); quote the whole command to give it exactly. Exit 0 whatever the decision.

    \b
    --jsonl reads {"tool": "run_command", "command": "..."} or {"tool": "write_file",
    "path": "..."} (also edit_file, read_file) one a line, and prints one line each:
    {"decision": ..., "rule": ..., "reason": ...}. A bad input line gets a "deny" line
    with reason "bad input: ..." (so lines stay aligned) and makes the exit code 2.

    \b
    Examples:
      ralph check -- rm -rf build
      ralph check --mode unattended -- git push --force origin main
      echo '{"tool": "write_file", "path": ".env"}' | ralph check --jsonl
    """
    from ralph.cli import check as guardview
    from ralph.config import find_policy
    from ralph.errors import UsageError

    ws = _workspace(workspace)
    policy_path = find_policy(ws, policy)
    if jsonl:
        if command:
            raise UsageError("give either --jsonl (calls on stdin) or a COMMAND, not both")
        return guardview.check_jsonl(sys.stdin, sys.stdout, policy_path, ws, mode)
    if not command:
        raise UsageError("give a command to check after --, e.g. ralph check -- rm -rf build")
    return guardview.check_command(" ".join(command), policy_path, ws, mode, as_json=as_json)


@cli.group()
def policy() -> None:
    """Work with policy files."""


@policy.command("lint")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
def policy_lint(file: Path | None, workspace: Path | None) -> int:
    """Validate a policy file and run its examples (default: the policy ralph would use)."""
    from ralph.cli import check as guardview
    from ralph.config import find_policy

    return guardview.lint(find_policy(_workspace(workspace), file))


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"approvals": [...]}.')
@state_dir_option
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.pass_context
def approvals(ctx: click.Context, as_json: bool, workspace: Path | None) -> int | None:
    """List approvals (pending, approved, rejected, used); approve or reject one by ID.

    \b
    Examples:
      ralph approvals
      ralph approvals approve 3f9a1c2e   # the next run makes that exact call once
      ralph approvals reject 3f9a1c2e                # it never runs; the agent is told
    """
    ctx.obj = workspace
    if ctx.invoked_subcommand is not None:
        return None
    from ralph.cli import approvals as guardview

    return guardview.list_approvals(_workspace(workspace), as_json=as_json)


@approvals.command("approve")
@state_dir_option
@click.argument("approval_id", metavar="ID")
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.pass_context
def approvals_approve(ctx: click.Context, approval_id: str, workspace: Path | None) -> int:
    """Approve a pending call: it runs once, when the agent next makes that exact call."""
    return _decide(ctx, approval_id, workspace, approve=True)


@approvals.command("reject")
@state_dir_option
@click.argument("approval_id", metavar="ID")
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.pass_context
def approvals_reject(ctx: click.Context, approval_id: str, workspace: Path | None) -> int:
    """Reject a call: it never runs, and the agent is told so if it tries again."""
    return _decide(ctx, approval_id, workspace, approve=False)


def _decide(ctx: click.Context, approval_id: str, workspace: Path | None, *, approve: bool) -> int:
    from ralph.cli import approvals as guardview

    return guardview.decide(_workspace(workspace or ctx.obj), approval_id, approve=approve)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help='Print {"runs": [...]}.')
@state_dir_option
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
def runs(as_json: bool, workspace: Path | None) -> int:
    """List recorded runs, newest first: when, task file, model, steps, cost, how it stopped."""
    from ralph.cli import runs as records

    return records.show_runs(_workspace(workspace), as_json=as_json)


@cli.command("log")
@click.argument("run_id", required=False)
@click.option("--json", "as_json", is_flag=True, help='Print {"run_id": ..., "events": [...]}.')
@state_dir_option
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
def log_cmd(run_id: str | None, as_json: bool, workspace: Path | None) -> int:
    """Show one run's record in order (default: the newest run). RUN_ID may be a prefix."""
    from ralph.cli import runs as records

    return records.show_log(_workspace(workspace), run_id, as_json=as_json)


@cli.group("config", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"settings": {KEY: {value, source}}}.')
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.pass_context
def config(ctx: click.Context, as_json: bool, workspace: Path | None) -> int | None:
    """Show the effective settings and where each came from.

    \b
    A source is a flag, a RALPH_* environment variable, the project config
    (pyproject.toml [tool.ralph] or ralph.toml, with the key as spelled there) or the
    default.

    \b
    Examples:
      ralph config
      RALPH_MAX_TURNS=20 ralph config --json
    """
    ctx.obj = workspace
    if ctx.invoked_subcommand is not None:
        return None
    from ralph.cli.settings import show_config

    return show_config(_workspace(workspace), as_json=as_json)


@config.command("trust")
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.pass_context
def config_trust(ctx: click.Context, workspace: Path | None) -> int:
    """Trust the settings that decide what the guard does, as they are now.

    \b
    These are the policy, mode, sandbox and network settings, notify-cmd, notify-url and
    base-url in the project config, and the content of the policy file it names. When
    they change, unattended runs refuse to start (exit 2) and interactive runs ask, until
    a person has looked at them and runs this.
    """
    from ralph.trust import changes, trust

    ws = _workspace(workspace or ctx.obj)
    changed = changes(ws)
    items = trust(ws)
    for line in changed:
        click.echo(f"  {line}")
    if not items:
        click.echo(f"ralph: {ws} sets none of the guard's settings (the shipped defaults)")
    click.echo(f"ralph: trusted the guard's settings in {ws} ({len(items)} item(s))")
    return 0


@cli.command()
@click.argument("folder", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@click.option(
    "--example",
    type=click.Choice(["prototype", "audit"]),
    help="Also write a worked example plan to tasks/NAME.md.",
)
def init(folder: Path | None, example: str | None) -> int:
    """Set DIR (default: here; created if missing) up for ralph.

    \b
    Creates tasks/plan.md (a starter plan), policies/policy.toml (the default policy to
    edit), the .ralph/ state folder with a line for it in .gitignore, and the config:
    [tool.ralph] appended to pyproject.toml when there is one, else ralph.toml. Never
    overwrites a file.

    \b
    Examples:
      ralph init
      ralph init ../demo --example prototype   # idea to deployed prototype
      ralph init --example audit               # then: ralph audit tasks/audit.md
    """
    from ralph.cli import init as scaffold

    return scaffold.run_init(folder, example)


@cli.command()
@click.argument("taskfile", required=False, type=click.Path(path_type=Path))
@task_workspace_option
@state_dir_option
def matrix(taskfile: Path | None, workspace: Path | None) -> int:
    """Print the open steps that may run at the same time, as a GitHub Actions matrix.

    \b
    The next step, and with it its open siblings when their parent step has the setting
    `parallel: yes`. Each entry has the step's line (for `ralph run --step LINE`), its
    text and a slug. Example, in a workflow:
      matrix: ${{ fromJson(needs.plan.outputs.matrix) }}
      run: ralph run --step ${{ matrix.line }} --unattended
    """
    import json

    from ralph import taskfile as tasks
    from ralph.agent.draft import slug

    tf = tasks.load(_plan(taskfile, workspace)[0])
    include = [
        {"line": s.line, "step": s.text, "slug": slug(s.text)} for s in tf.independent_steps()
    ]
    click.echo(json.dumps({"include": include}, ensure_ascii=False))
    return 0


@cli.group()
def ci() -> None:
    """Write workflows that run the plan's steps on CI machines."""


@ci.command("github")
@click.argument("taskfile", required=False, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing .github/workflows/ralph.yml.")
def ci_github(taskfile: Path | None, force: bool) -> int:
    """Write .github/workflows/ralph.yml: TASKFILE's next steps, on a schedule and on demand.

    \b
    A `plan` job prints `ralph matrix`; one `lane` job per independent step runs
    `ralph run --step LINE --unattended` and pushes branch ralph/<plan>/<slug> (ralph's
    state in RALPH_STATE_DIR, kept in the Actions cache); `finish` runs `ralph merge` on
    ralph-progress/<plan> (the lanes in plan order, each step's verify run again on the
    merged result) and opens or updates one pull request with gh.
    Secrets: ANTHROPIC_API_KEY or OPENAI_API_KEY, and RALPH_SECRET_KEY (base64 of 32
    random bytes) so approvals made in one job are valid in the next. The model comes
    from the project config.
    """
    from ralph.ci.github import write

    plan, workspace = _plan(taskfile)
    target = write(workspace, plan.resolve(), force=force)
    click.echo(f"ralph: wrote {target}")
    return 0


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"base": ..., "worktrees": [...]}.')
@state_dir_option
@click.option("--base", help="The branch lanes merge into [the main checkout's branch].")
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.pass_context
def worktrees(
    ctx: click.Context, as_json: bool, base: str | None, workspace: Path | None
) -> int | None:
    """List the lanes under .ralph/worktrees/: path, branch and state.

    \b
    States: merged (its branch is in the base and its tree is clean: `clean` may remove
    it), unmerged (commits the base lacks), dirty (uncommitted, untracked or ignored
    files), detached (no branch), missing (its folder is gone).

    \b
    Examples:
      ralph worktrees --json
      ralph worktrees clean        # removes merged lanes only
    """
    ctx.obj = (workspace, base)
    if ctx.invoked_subcommand is not None:
        return None
    from ralph.cli.render import printable
    from ralph.worktrees import list_lanes

    found_base, lanes = list_lanes(_workspace(workspace), base)
    if as_json:
        import json

        shown = {"base": found_base, "worktrees": [lane.to_json() for lane in lanes]}
        click.echo(json.dumps(shown, indent=2))
        return 0
    for lane in lanes:
        where = printable(f"{lane.path}  {lane.branch or '(detached)'}")
        click.echo(f"{lane.state:<9} {where}  {lane.head[:10]}")
    click.echo(f"{len(lanes)} lane(s); base {printable(found_base)}" if lanes else "No lanes.")
    return 0


@worktrees.command("clean")
@state_dir_option
@click.option("--json", "as_json", is_flag=True, help='Print {"removed": [...], "kept": [...]}.')
@click.pass_context
def worktrees_clean(ctx: click.Context, as_json: bool) -> int:
    """Remove the lanes whose branch is merged into the base and whose tree is clean.

    A lane with commits the base lacks, or with uncommitted, untracked or ignored files,
    is never removed.
    """
    from ralph.worktrees import clean

    workspace, base = ctx.obj
    removed, kept = clean(_workspace(workspace), base)
    if as_json:
        import json

        shown = {
            "removed": [lane.to_json() for lane in removed],
            "kept": [lane.to_json() for lane in kept],
        }
        click.echo(json.dumps(shown, indent=2))
        return 0
    from ralph.cli.render import printable

    for lane in removed:
        click.echo(printable(f"removed  {lane.path}  ({lane.branch}, merged)"))
    for lane in kept:
        click.echo(printable(f"kept     {lane.path}  ({lane.branch or 'detached'}, {lane.state})"))
    if not removed and not kept:
        click.echo("No lanes.")
    return 0


@cli.command()
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.option("--json", "as_json", is_flag=True, help='Print {"checks": [{name, status, detail}]}.')
@state_dir_option
def doctor(workspace: Path | None, as_json: bool) -> int:
    """Check that runs can work here: config, model, key, base URL, policy, sandbox, state.

    \b
    The key is named, never shown. The base URL gets a TCP connect with a short timeout.
    Exit 1 when a check fails, else 0 (warnings included).
    """
    from ralph.cli.doctor import doctor as run_doctor

    return run_doctor(_workspace(workspace), as_json=as_json)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--network", is_flag=True, help="Give the command the network, as a rule can.")
@click.option("--read-only", is_flag=True, help="The workspace read-only too, as in an audit.")
@state_dir_option
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def sandbox(
    network: bool, read_only: bool, workspace: Path | None, command: tuple[str, ...]
) -> int:
    """Run COMMAND in the sandbox the agent's commands get: ralph sandbox -- CMD...

    \b
    Examples:
      ralph sandbox -- cat ~/.ssh/id_rsa        # hidden: fails
      ralph sandbox --network -- pip install -r requirements.txt
    Exit: the command's exit code; 2 when no sandbox can be made here (with the reason).
    """
    from ralph.cli.doctor import sandbox_command

    return sandbox_command(_workspace(workspace), command, network=network, read_only=read_only)
