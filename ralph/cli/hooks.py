"""`ralph hook HOST` (the guard as a pre-tool hook), `ralph hook install`, and
`ralph replay` (recorded calls re-judged under a policy)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ralph.cli.app import _WORKSPACE_DIR, _workspace, cli, state_dir_option

_HOSTS = click.Choice(["claude", "codex", "gemini"])
_POLICY = click.Path(dir_okay=False, path_type=Path)


@cli.group()
def hook() -> None:
    """Guard Claude Code, Codex or Gemini CLI with this project's policy.

    \b
    Examples:
      ralph hook install claude            # .claude/settings.json of this project
      ralph hook install codex --user      # ~/.codex/hooks.json
      echo '{"tool_name": "Bash", ...}' | ralph hook claude
    """


def _answer_hook(host: str, headless: bool, policy: Path | None) -> None:
    from ralph.hooks.answer import answer
    from ralph.hooks.hosts import HOSTS

    try:
        raw = sys.stdin.read()
    except Exception as e:  # undecodable input is still an answer: blocked
        raw = f"\0{e}"
    out = answer(HOSTS[host], raw, headless=headless, policy=policy)
    if out.stdout:
        sys.stdout.write(out.stdout + "\n")
    if out.stderr:
        sys.stderr.write(out.stderr + "\n")
    sys.stdout.flush()
    sys.exit(out.exit_code)


def _host_command(host: str, doc: str) -> None:
    @hook.command(host, help=doc)
    @click.option("--headless", is_flag=True, help="No person at the host: queue approvals.")
    @click.option("--policy", type=_POLICY, help="Policy file [the project's].")
    @state_dir_option
    def run(headless: bool, policy: Path | None) -> None:
        _answer_hook(host, headless, policy)


_host_command(
    "claude",
    "Answer a Claude Code PreToolUse hook on stdin. confirm asks the person in Claude; "
    "with --headless (claude -p) it defers the call and queues a ralph approval.",
)
_host_command(
    "codex",
    "Answer a Codex PreToolUse hook on stdin. Codex cannot ask: confirm is a deny that "
    "names the ralph approval to approve.",
)
_host_command(
    "gemini",
    "Answer a Gemini CLI BeforeTool hook on stdin. Gemini cannot ask: confirm is a deny "
    "that names the ralph approval to approve.",
)


@hook.command("install")
@click.argument("host", type=_HOSTS)
@click.option("--project", "scope", flag_value="project", default=True, help="This project.")
@click.option("--user", "scope", flag_value="user", help="The user's settings, every project.")
@click.option("--uninstall", is_flag=True, help="Take ralph's hook out again.")
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
def hook_install(host: str, scope: str, uninstall: bool, workspace: Path | None) -> int:
    """Add ralph's hook to HOST's settings (idempotent; other hooks are kept)."""
    from ralph.hooks.install import install, settings_path

    path = settings_path(host, user=scope == "user", workspace=_workspace(workspace))
    click.echo(install(host, path, uninstall=uninstall))
    if host == "codex" and not uninstall:
        click.echo("codex: review and trust the new hook with /hooks before it runs")
    return 0


@cli.command()
@click.argument("run_ids", nargs=-1, metavar="[RUN_ID]...")
@click.option("--all", "all_runs", is_flag=True, help="Every recorded run.")
@click.option(
    "--claude",
    "transcripts",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Claude Code session transcript (JSONL).",
)
@click.option("--policy", type=_POLICY, help="Policy to judge with [the current one].")
@click.option("--workspace", type=_WORKSPACE_DIR, help="Default: the git root above here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@state_dir_option
def replay(
    run_ids: tuple[str, ...],
    all_runs: bool,
    transcripts: tuple[Path, ...],
    policy: Path | None,
    workspace: Path | None,
    as_json: bool,
) -> int:
    """Re-judge recorded tool calls under a policy and show what would change.

    \b
    Exit 1 when any call became looser (gate policy changes in CI), else 0.
    Examples:
      ralph replay --all --policy policies/new.toml
      ralph replay --claude ~/.claude/projects/x/session.jsonl
    """
    from ralph.cli.replay import show

    ws = _workspace(workspace)
    return show(ws, run_ids, all_runs, transcripts, policy, as_json=as_json)
