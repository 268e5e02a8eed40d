"""The command line: parses flags, calls into the loop and engines, and is the one place
where harness errors become a message on stderr and an exit code.

Heavy modules (model SDKs, the shell parser) are imported inside the commands that use
them, so `ralph --help`, `ralph --version` and `ralph status` start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ralph import __version__
from ralph.errors import RalphError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ralph")
def cli() -> None:
    """Drive a coding agent through a markdown plan, one step per fresh session.

    \b
    Exit codes:
      0   step done, or every step is done
      1   the attempt failed, or only blocked steps are left
      2   usage, input or configuration error
      3   stopped: a step waits for a person's approval
      75  another run holds the lock (try again later)
      130 interrupted with Ctrl-C (the running call finished; the attempt is noted)
    """


@cli.command()
@click.argument("taskfile", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(taskfile: Path, as_json: bool) -> int:
    """Show every step of TASKFILE: line, state, text and ralph's last note."""
    from ralph import taskview

    return taskview.status(taskfile, as_json=as_json)


@cli.command("next")
@click.argument("taskfile", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the step's context).")
@click.option("--prompt", is_flag=True, help="Print the exact first request the step would send.")
def next_cmd(taskfile: Path, as_json: bool, prompt: bool) -> int:
    """Show the step the next run of TASKFILE takes, with its context."""
    if prompt:
        from ralph.context import first_request

        click.echo(first_request(taskfile, as_json=as_json))
        return 0
    from ralph import taskview

    return taskview.next_step(taskfile, as_json=as_json)


def _workspace(option: Path | None) -> Path:
    from ralph.workspace import find_workspace

    return option.resolve() if option else find_workspace(Path.cwd())


_MODES = click.Choice(["interactive", "unattended", "audit"])
_WORKSPACE_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--policy", type=click.Path(dir_okay=False, path_type=Path), help="Policy file.")
@click.option("--mode", type=_MODES, default="interactive", show_default=True)
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option("--jsonl", is_flag=True, help="Check JSON calls read one a line from stdin.")
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
    """
    from ralph import guardview
    from ralph.errors import UsageError
    from ralph.guard import find_policy

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
    from ralph import guardview
    from ralph.guard import find_policy

    return guardview.lint(find_policy(_workspace(workspace), file))


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"approvals": [...]}.')
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.pass_context
def approvals(ctx: click.Context, as_json: bool, workspace: Path | None) -> int | None:
    """List approvals (pending, approved, rejected, used); approve or reject one by ID."""
    ctx.obj = workspace
    if ctx.invoked_subcommand is not None:
        return None
    from ralph import guardview

    return guardview.list_approvals(_workspace(workspace), as_json=as_json)


@approvals.command("approve")
@click.argument("approval_id", metavar="ID")
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.pass_context
def approvals_approve(ctx: click.Context, approval_id: str, workspace: Path | None) -> int:
    """Approve a pending call: it runs once, when the agent next makes that exact call."""
    from ralph import guardview

    ws = _workspace(workspace or ctx.obj)
    return guardview.decide(ws, approval_id, approve=True)


@approvals.command("reject")
@click.argument("approval_id", metavar="ID")
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.pass_context
def approvals_reject(ctx: click.Context, approval_id: str, workspace: Path | None) -> int:
    """Reject a call: it never runs, and the agent is told so if it tries again."""
    from ralph import guardview

    ws = _workspace(workspace or ctx.obj)
    return guardview.decide(ws, approval_id, approve=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help='Print {"runs": [...]}.')
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
def runs(as_json: bool, workspace: Path | None) -> int:
    """List recorded runs, newest first: when, task file, model, steps, cost, how it stopped."""
    from ralph import runs as records

    return records.show_runs(_workspace(workspace), as_json=as_json)


@cli.command("log")
@click.argument("run_id", required=False)
@click.option("--json", "as_json", is_flag=True, help='Print {"run_id": ..., "events": [...]}.')
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
def log_cmd(run_id: str | None, as_json: bool, workspace: Path | None) -> int:
    """Show one run's record in order (default: the newest run). RUN_ID may be a prefix."""
    from ralph import runs as records

    return records.show_log(_workspace(workspace), run_id, as_json=as_json)


def main() -> None:
    """Console entry point: a RalphError becomes one line on stderr and an exit code."""
    try:
        rv = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except RalphError as e:
        if os.environ.get("RALPH_DEBUG"):
            raise
        click.echo(f"ralph: {e}", err=True)
        sys.exit(e.exit_code)
    # Commands return their exit code (an int) or None for success.
    sys.exit(rv if isinstance(rv, int) else 0)


def _model_options(f: Any) -> Any:
    """The model and budget options shared by `run`, `audit` and `plan`."""
    options = [
        click.option(
            "--model",
            help="PROVIDER:MODEL, e.g. anthropic:claude-sonnet-4-5 "
            "[env RALPH_MODEL or project config]",
        ),
        click.option("--base-url", help="Model server URL (OpenAI-compatible servers, proxies)."),
        click.option("--max-turns", type=int, help="Model turns per step [50]."),
        click.option("--max-step-tokens", type=int, help="Tokens per step."),
        click.option("--max-step-cost", type=float, help="USD per step."),
        click.option("--max-step-time", help="Wall time per step, e.g. 30m [1h]."),
        click.option("--max-wait", help="Longest provider back-off to wait out, e.g. 15m [15m]."),
        click.option(
            "--workspace",
            type=_WORKSPACE_DIR,
            help="Default: git root above TASKFILE, else the ralph.toml folder, else its folder.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout."),
        click.option(
            "--notify-cmd", help="Command that gets the JSON summary on stdin at the end."
        ),
        click.option("--notify-url", help="URL that gets the JSON summary as a POST at the end."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@cli.command()
@click.argument("taskfile", type=click.Path(path_type=Path))
@_model_options
@click.option(
    "--policy",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Policy file [project config, else the shipped default]",
)
@click.option(
    "--unattended",
    is_flag=True,
    help="Never ask: calls that need a person are refused and queued for approval "
    "(automatic when stdin is not a terminal).",
)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Steps to take [1].")
@click.option("--all", "all_steps", is_flag=True, help="Take steps until the plan is done.")
@click.option("--max-cost", type=float, help="USD for the whole run.")
@click.option("--max-time", help="Wall time for the whole run, e.g. 8h.")
@click.option("--max-failures", type=int, help="Failed attempts in a row that stop the run [3].")
@click.option("--max-attempts", type=int, help="Failed attempts before a step is blocked [3].")
@click.option("--commit", is_flag=True, help="Commit the workspace after each done step.")
def run(
    taskfile: Path,
    policy: Path | None,
    unattended: bool,
    steps: int | None,
    all_steps: bool,
    **options: Any,
) -> int:
    """Take the next step of TASKFILE in a fresh model session and record the outcome."""
    mode = "unattended" if unattended or not sys.stdin.isatty() else "interactive"
    steps = None if all_steps else (steps or 1)
    return _run(taskfile, mode, policy, steps, options)


@cli.command()
@click.argument("taskfile", type=click.Path(path_type=Path), required=False)
@click.option("--goal", help="Audit this instead of a task file's steps.")
@_model_options
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Steps to take [all].")
@click.option("--max-cost", type=float, help="USD for the whole run.")
@click.option("--max-time", help="Wall time for the whole run, e.g. 8h.")
def audit(taskfile: Path | None, goal: str | None, steps: int | None, **options: Any) -> int:
    """Read-only audit of TASKFILE's steps (or of --goal) under policies/readonly.toml.

    Nothing that writes runs, whatever else is configured. Findings go to a markdown report
    under .ralph/audits/ and into the step notes.
    """
    import time

    from ralph.errors import UsageError
    from ralph.fsutil import atomic_write_text
    from ralph.workspace import audits_dir, find_workspace

    if (taskfile is None) == (goal is None):
        raise UsageError("give a task file or --goal TEXT (one of them)")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if goal is not None:
        ws = options["workspace"] or find_workspace(Path.cwd())
        options["workspace"] = ws
        taskfile = audits_dir(ws) / f"{stamp}-goal.md"
        taskfile.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(taskfile, f"# Audit\n\n- [ ] {' '.join(goal.split())}\n")
    assert taskfile is not None
    return _run(taskfile, "audit", None, steps, options, report_name=f"{stamp}.md")


@cli.command()
@click.argument("folder", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
def init(folder: Path | None) -> int:
    """Set DIR (default: here; created if missing) up for ralph.

    \b
    Creates tasks/plan.md (a starter plan), policies/policy.toml (the default policy to
    edit), a .ralph/ line in .gitignore, and the config: [tool.ralph] appended to
    pyproject.toml when there is one, else ralph.toml. Never overwrites a file.
    """
    from ralph import scaffold

    return scaffold.main(folder)


@cli.command()
@click.argument("idea")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save the plan [tasks/SLUG-OF-IDEA.md in the workspace].",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@_model_options
def plan(idea: str, output: Path | None, force: bool, **options: Any) -> int:
    """Draft a task file for IDEA in one read-only model session.

    \b
    The model may look at the workspace (reads, and commands under policies/readonly.toml)
    but cannot change it. Its reply is saved only if it parses as a task file with a
    title and steps; otherwise exit 1 with the reason, and nothing is written.
    --max-turns defaults to 30 here.
    """
    from ralph import plan as planner

    return planner.make_plan(idea, output, force=force, options=options)


def _run(
    taskfile: Path,
    mode: str,
    policy: Path | None,
    steps: int | None,
    options: dict[str, Any],
    *,
    report_name: str | None = None,
) -> int:
    """Shared by `run` and `audit`: validate everything, then hand over to the loop."""
    import json
    import signal

    from ralph import taskfile as tasks
    from ralph.checkpoint import preflight
    from ralph.config import load_config
    from ralph.errors import UsageError
    from ralph.guard import find_policy, shipped_policy
    from ralph.loop import RunRequest, run_task
    from ralph.notify import check_url, notify
    from ralph.providers import check_credentials, get_provider
    from ralph.runview import LiveView
    from ralph.workspace import audits_dir, find_workspace

    as_json = options.pop("as_json")
    ws_option = options.pop("workspace")
    commit = options.pop("commit", False)
    tasks.load(taskfile)  # bad input is exit 2 before anything else happens
    workspace = ws_option.resolve() if ws_option else find_workspace(taskfile)
    config = load_config(workspace, options)
    if not config.model:
        raise UsageError(
            "no model: pass --model PROVIDER:MODEL, set RALPH_MODEL, "
            "or set model in [tool.ralph] / ralph.toml"
        )
    policy_path = shipped_policy("readonly") if mode == "audit" else find_policy(workspace, policy)
    if not policy_path.is_file():
        raise UsageError(f"policy file not found: {policy_path}")
    check_credentials(config.model, config.base_url)  # a missing key is exit 2, now
    if config.notify_url:
        check_url(config.notify_url)
    if commit:
        preflight(workspace)  # a merge or rebase in progress is exit 2 before any work

    def make_provider(on_wait: Any) -> Any:
        return get_provider(
            config.model or "", base_url=config.base_url, max_wait=config.max_wait, on_wait=on_wait
        )

    presses: list[int] = []

    def on_sigint(signum: int, frame: Any) -> None:
        presses.append(signum)
        if len(presses) > 1:
            raise KeyboardInterrupt
        click.echo("\nralph: finishing the current call; Ctrl-C again to abort", err=True)

    report_path = audits_dir(workspace) / report_name if report_name else None
    request = RunRequest(
        taskfile,
        workspace,
        policy_path,
        mode,
        config,
        steps,
        report_path,
        commit,  # type: ignore[arg-type]
    )
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        report = run_task(
            request, make_provider, emit=LiveView(), interrupted=lambda: bool(presses)
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    summary = report.to_json()
    if report_path is not None:
        summary["report"] = str(report_path)
        click.echo(f"ralph: audit report: {report_path}", err=True)
    for problem in notify(summary, command=config.notify_cmd, url=config.notify_url):
        click.echo(f"ralph: notification failed: {problem}", err=True)
    if as_json:
        click.echo(json.dumps(summary))
    return report.exit_code
