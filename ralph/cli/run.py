"""`ralph run`, `ralph audit` and `ralph plan`: the commands that start model sessions."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ralph.cli.app import cli, stamped, state_dir_option, task_workspace_option
from ralph.humanize import money

if TYPE_CHECKING:
    from ralph.agent.report import RunReport
    from ralph.agent.run import RunRequest
    from ralph.config import Config
    from ralph.lanes.forkserver import ForkServer
    from ralph.providers import Provider


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
            "--thinking",
            type=click.IntRange(min=0),
            metavar="TOKENS",
            help="Extended thinking with this budget (anthropic models, at least 1024; 0: off).",
        ),
        task_workspace_option,
        click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout."),
        click.option(
            "--notify-cmd", help="Command that gets the notification on stdin at the end."
        ),
        click.option("--notify-url", help="URL that gets the notification as a POST at the end."),
        click.option(
            "--notify-format",
            type=click.Choice(["json", "text"]),
            help="What --notify-cmd and --notify-url get: JSON, or title, summary and "
            "approvals as text [json].",
        ),
        click.option(
            "--sandbox",
            type=click.Choice(["auto", "required", "off"]),
            help="Run commands in bubblewrap: auto (where it works), required, off [auto].",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return state_dir_option(f)


@cli.command()
@click.argument("taskfile", type=click.Path(path_type=Path), required=False)
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
@click.option(
    "--confirm-timeout",
    help="How long a question on the terminal waits; then the call waits for approval [10m].",
)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Steps to attempt [1].")
@click.option("--all", "all_steps", is_flag=True, help="Take steps until the plan is done.")
@click.option(
    "--step",
    "only_step",
    metavar="LINE|TEXT",
    help="Take exactly this open step (its box's line, or its text), e.g. for a CI matrix.",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    metavar="N",
    help="Run up to N independent steps at once, each in its own git worktree (with --all "
    "or --steps), merged back in plan order.",
)
@click.option(
    "--merge",
    "merge_how",
    type=click.Choice(["merge", "ff", "pr"]),
    help="How --parallel lanes go back: a merge commit, fast-forward only, or a pull "
    "request [merge].",
)
@click.option("--max-cost", type=float, help="USD for the whole run.")
@click.option("--max-time", help="Wall time for the whole run, e.g. 8h.")
@click.option("--max-failures", type=int, help="Failed attempts in a row that stop the run [3].")
@click.option("--max-attempts", type=int, help="Failed attempts before a step is blocked [3].")
@click.option("--commit", is_flag=True, help="Commit the workspace after each done step.")
@click.option(
    "--skip-waiting",
    is_flag=True,
    help="Pass over a step awaiting approval; by default it holds every step after it.",
)
def run(
    taskfile: Path | None,
    policy: Path | None,
    unattended: bool,
    steps: int | None,
    all_steps: bool,
    **options: Any,
) -> int:
    """Take the next step of TASKFILE in a fresh model session and record the outcome.

    \b
    TASKFILE defaults to the project's plan: `plan` in the config, else tasks/plan.md.
    --steps N attempts N steps (done or not); the summary says how each went.

    \b
    Examples:
      ralph run                                  # the next step of tasks/plan.md
      ralph run tasks/plan.md --steps 3 --max-step-cost 0.50
      ralph run --all --unattended --max-cost 5  # overnight: questions become approvals
    """
    from ralph.errors import UsageError

    if all_steps and steps is not None:
        raise UsageError("give --steps N or --all, not both")
    if options.get("only_step") is not None and (all_steps or steps is not None):
        raise UsageError("give --step LINE alone: it takes exactly one step")
    parallel, merge_how = options.pop("parallel"), options.pop("merge_how")
    if parallel is not None and options.get("only_step") is not None:
        raise UsageError("--parallel runs several steps; --step takes exactly one: give one")
    if parallel is not None and not all_steps and steps is None:
        raise UsageError("--parallel N needs --all or --steps N (how many steps to take)")
    if parallel is not None and (options.get("commit") or options.get("skip_waiting")):
        raise UsageError("--commit and --skip-waiting do not apply to --parallel: drop them")
    if merge_how is not None and parallel is None:
        raise UsageError("--merge is how --parallel lanes go back; give --parallel N too")
    mode = "unattended" if unattended or not sys.stdin.isatty() else "interactive"
    steps = None if all_steps else (steps or 1)
    lanes = None if parallel is None else (parallel, merge_how or "merge")
    return _run(taskfile, mode, policy, steps, options, lanes=lanes)


@cli.command()
@click.argument("taskfile", type=click.Path(path_type=Path), required=False)
@click.option("--goal", help="Audit this instead of a task file's steps.")
@click.option("--resume", "resume_id", metavar="ID", help="Go on with an earlier audit.")
@_model_options
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Steps to take [all].")
@click.option("--max-cost", type=float, help="USD for the whole run.")
@click.option("--max-time", help="Wall time for the whole run, e.g. 8h.")
def audit(
    taskfile: Path | None,
    goal: str | None,
    resume_id: str | None,
    steps: int | None,
    **options: Any,
) -> int:
    """Read-only audit of TASKFILE's steps (or of --goal) under policies/readonly.toml.

    \b
    Nothing that writes runs, whatever else is configured, and TASKFILE itself is left
    alone: each audit works on its own copy in .ralph/audits/ID/ (plan.md, with ralph's
    notes) and writes its findings to .ralph/audits/ID/report.md.

    \b
    Examples:
      ralph audit tasks/audit.md
      ralph audit --goal "Is user input escaped before it reaches SQL?"
      ralph audit --resume 20261201T040000Z-1a2b   # go on where that audit stopped
    """
    from ralph.agent import audit as audits
    from ralph.errors import UsageError
    from ralph.workspace import workspace_for

    if sum(x is not None for x in (taskfile, goal, resume_id)) != 1:
        raise UsageError("give a task file, --goal TEXT or --resume ID (one of them)")
    if taskfile is not None:
        from ralph import taskfile as tasks

        tasks.load(taskfile)  # bad input is exit 2 before a copy is made
    workspace = workspace_for(options["workspace"], taskfile)
    options["workspace"] = workspace
    if resume_id is not None:
        files = audits.resume(workspace, resume_id)
    else:
        files = audits.start(workspace, taskfile, goal)
    source = str(taskfile) if taskfile is not None else None
    return _run(files.plan, "audit", None, steps, options, audit=(files.report, source))


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

    \b
    Examples:
      ralph plan "a link shortener in Flask with a deploy to Fly.io"
      ralph plan "add CSV export to the reports page" -o tasks/export.md --max-step-cost 1
    """
    return _plan(idea, output, force=force, options=options)


def _run(
    taskfile: Path | None,
    mode: str,
    policy: Path | None,
    steps: int | None,
    options: dict[str, Any],
    *,
    audit: tuple[Path, str | None] | None = None,
    lanes: tuple[int, str] | None = None,
) -> int:
    """Shared by `run` and `audit`: validate everything, then hand over to the loop (or,
    with `lanes` = (N, how to merge), to the parallel scheduler)."""
    import json

    from ralph.agent.run import run_task
    from ralph.cli.live import LiveView
    from ralph.cli.signals import stop_signals
    from ralph.guard.gate import tty_prompt

    as_json = options.pop("as_json")
    server = _lane_server(options) if lanes is not None else None
    try:
        prepared = _prepare(taskfile, mode, policy, steps, options, audit)
        timeout = prepared.config.confirm_timeout
        if lanes is not None:
            report = _run_lanes(prepared, lanes, server)
        else:
            with stop_signals() as stop:
                report = run_task(
                    prepared.request,
                    prepared.make_provider,
                    emit=LiveView(),
                    stop=stop,
                    prompt=lambda text: tty_prompt(text, timeout=timeout),
                    on_end=prepared.notify,
                )
    finally:
        if server is not None:
            server.close()
    summary = prepared.summary(report)
    if "report" in summary:
        click.echo(stamped(f"ralph: audit report: {summary['report']}"), err=True)
    if as_json:
        click.echo(json.dumps(summary))
    return report.exit_code


def _lane_server(options: dict[str, Any]) -> ForkServer | None:
    """`--parallel`: the lanes' fork server, started first, so that it imports the SDK
    while the run is checked (for the model of --model or RALPH_MODEL, which no config
    file overrides; the scheduler adds the configured one). None when it cannot start:
    the scheduler tries again, and says so."""
    from ralph.lanes.forkserver import start_for

    try:
        return start_for(options.get("model") or os.environ.get("RALPH_MODEL"))
    except OSError:
        return None


def _run_lanes(prepared: _Prepared, lanes: tuple[int, str], server: ForkServer | None) -> RunReport:
    from ralph.cli.live import LanesView
    from ralph.cli.signals import stop_signals
    from ralph.lanes.checks import require_parallel_ok
    from ralph.lanes.run import ParallelRequest, run_parallel

    request = prepared.request
    require_parallel_ok(request.workspace, request.task_path)  # exit 2 before any lane
    with stop_signals() as stop:
        return run_parallel(
            ParallelRequest(request, *lanes),
            emit=LanesView(),
            stop=stop,
            on_end=prepared.notify,
            server=server,
        )


@dataclass(frozen=True)
class _Prepared:
    """A run checked and ready: nothing here has talked to the model yet."""

    request: RunRequest
    config: Config

    def make_provider(self, on_wait: Any) -> Provider:
        from ralph.providers import get_provider

        cfg = self.config
        return get_provider(
            cfg.model or "",
            base_url=cfg.base_url,
            max_wait=cfg.max_wait,
            on_wait=on_wait,
            thinking=cfg.thinking,
            timeout=cfg.idle_timeout,
        )

    def summary(self, report: RunReport) -> dict[str, Any]:
        summary = report.to_json()
        path = self.request.audit_report
        if path is not None and path.is_file():
            summary["report"] = str(path)
        return summary

    def notify(self, report: RunReport) -> None:
        """Tell a person how the run ended, unless the last notification said so already.
        Never raises: a broken notifier is a line on stderr, not a failed run."""
        cfg, req = self.config, self.request
        if not (cfg.notify_cmd or cfg.notify_url):
            return
        try:
            problems = _send(self.summary(report), req.workspace, req.task_path, cfg)
        except Exception as e:  # a notification must never break the run
            problems = [f"{type(e).__name__}: {e}"]
        for problem in problems:
            click.echo(stamped(f"ralph: notification failed: {problem}"), err=True)


def _send(summary: dict[str, Any], workspace: Path, task_path: Path, cfg: Config) -> list[str]:
    """Compose the notification and send it if it is news; remember it once delivered."""
    from ralph import notice
    from ralph.notify import notify

    note = notice.compose(summary, workspace, task_path)
    if not notice.is_news(note, workspace, task_path):
        return []
    problems = notify(note, command=cfg.notify_cmd, url=cfg.notify_url, form=cfg.notify_format)
    if len(problems) < bool(cfg.notify_cmd) + bool(cfg.notify_url):  # one channel got it
        try:
            notice.remember(note, workspace, task_path)
        except OSError as e:
            problems.append(f"sent, but not remembered ({e}): the next run may send it again")
    return problems


def _prepare(
    taskfile: Path | None,
    mode: str,
    policy: Path | None,
    steps: int | None,
    options: dict[str, Any],
    audit: tuple[Path, str | None] | None,
) -> _Prepared:
    """Check the task file, config, policy, trust, key and repository: bad input is exit 2
    here, before anything runs."""
    from ralph import taskfile as tasks
    from ralph.agent.run import RunRequest
    from ralph.checkpoint import preflight
    from ralph.config import find_policy, load_config, locate_plan, shipped_policy
    from ralph.errors import UsageError
    from ralph.fsutil import require_writable
    from ralph.guard.gate import tty_prompt
    from ralph.guard.policy import load_policy_cached
    from ralph.notify import check_format, check_url
    from ralph.providers import check_credentials
    from ralph.providers.pricing import require_prices
    from ralph.sandbox.setup import for_run
    from ralph.trust import require_trust
    from ralph.workspace import cache_dir, run_writes

    ws_option = options.pop("workspace")
    commit = options.pop("commit", False)
    only_step = options.pop("only_step", None)
    skip_waiting = options.pop("skip_waiting", False)
    taskfile, workspace = locate_plan(taskfile, ws_option)  # bad paths are exit 2, first
    config = load_config(workspace, options)
    tf = tasks.load(taskfile, cache=cache_dir(workspace))  # bad input is exit 2, first
    for path in run_writes(workspace, taskfile):
        require_writable(path)  # a read-only plan or .ralph/ is exit 2, before any work
    if only_step is not None:
        tf.find_step(only_step)  # a missing, done or ambiguous step is exit 2, now
    if not config.model:
        raise UsageError(
            "no model: pass --model PROVIDER:MODEL, set RALPH_MODEL, "
            "or set model in [tool.ralph] / ralph.toml"
        )
    policy_path = shipped_policy("readonly") if mode == "audit" else find_policy(workspace, policy)
    if not policy_path.is_file():
        raise UsageError(f"policy file not found: {policy_path}")
    load_policy_cached(policy_path)  # a broken policy is exit 2 before the first model call
    require_trust(workspace, mode, tty_prompt)  # a changed policy or notify-cmd asks first
    check_credentials(config.model, config.base_url, thinking=config.thinking)  # exit 2, now
    require_prices(config)  # a dollar budget for a model with no price would never stop
    if config.notify_url:
        check_url(config.notify_url)
    check_format(config.notify_format)
    if commit:
        preflight(workspace)  # a merge or rebase in progress is exit 2 before any work
    confinement = for_run(config, mode, workspace, policy_path, taskfile)
    if (warning := confinement.warning()) is not None:
        click.echo(stamped(f"ralph: {warning}"), err=True)  # once, at the start

    report_path, source = audit if audit is not None else (None, None)
    request = RunRequest(
        taskfile,
        workspace,
        policy_path,
        mode,  # type: ignore[arg-type]
        config,
        steps,
        report_path,
        commit,
        source,
        only_step,
        skip_waiting,
        confinement,
    )
    return _Prepared(request, config)


def _plan(idea: str, output: Path | None, *, force: bool, options: dict[str, Any]) -> int:
    """Check the inputs, run the drafting session, save the plan. Exit 0, else raises
    UsageError (2: bad input, missing key) or PlanError (1: no plan saved)."""
    import json

    from rich.console import Console
    from rich.markup import escape

    from ralph.agent.draft import PlanError, accept, draft, first_message, plan_session, save, slug
    from ralph.agent.draft import summary as plan_summary
    from ralph.cli.live import LiveView
    from ralph.errors import UsageError
    from ralph.workspace import workspace_for

    if not idea.strip():
        raise UsageError('give the idea to plan, e.g. ralph plan "a link shortener in Flask"')
    as_json = options.pop("as_json", False)
    ws_option = options.pop("workspace", None)
    workspace = workspace_for(ws_option)
    out = output if output is not None else workspace / "tasks" / f"{slug(idea)}.md"
    if out.is_dir():
        raise UsageError(f"{out} is a folder; give -o the path of a markdown file to write")
    if out.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to replace it, or -o another path")
    console = Console(stderr=True, highlight=False)
    view = LiveView(console)
    session = plan_session(workspace, options, view)
    console.print(f"[bold]▶ planning:[/] {escape(' '.join(idea.split()))}", soft_wrap=True)
    result = draft(session, first_message(idea, workspace))
    try:
        text, tf = accept(result.text, result.stop_reason)
    except PlanError:
        if result.text.strip():
            console.print("[dim]the model's reply (not saved):[/]")
            console.print(result.text, markup=False, highlight=False, soft_wrap=True)
        raise
    save(out, text, force=force)
    summary = plan_summary(out, tf, result)
    _print_plan_summary(console, summary)
    if as_json:
        click.echo(json.dumps(summary))
    return 0


def _print_plan_summary(console: Any, s: dict[str, Any]) -> None:
    from rich.markup import escape

    cost = money(s["cost_usd"], 3)
    console.print(
        f"[bold green]■ saved[/] {escape(s['file'])}: {escape(s['title'])} · {s['steps']} steps, "
        f"{s['steps_with_verify']} with verify · {s['turns']} turns · {s['tokens']:,} tok · {cost}",
        soft_wrap=True,
        highlight=False,
    )
    shown = escape(s["file"])
    console.print(f"Next: ralph status {shown}  ·  ralph run {shown}", soft_wrap=True)
