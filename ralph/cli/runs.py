"""`ralph runs` and `ralph log`: the records, rendered."""

from __future__ import annotations

import json
import math
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ralph.cli.render import DECISION_STYLE, color, from_markup, model_words
from ralph.errors import EXIT_OK
from ralph.humanize import money
from ralph.record.log import not_by_ralph, read_record
from ralph.record.runs import (
    UNFINISHED,
    RunInfo,
    _epoch,
    event_time,
    find_run,
    list_runs,
    summarize,
)
from ralph.redact import one_line
from ralph.workspace import runs_dir

if TYPE_CHECKING:
    from collections.abc import Collection


def show_runs(workspace: Path, *, as_json: bool = False) -> int:
    """`ralph runs`: a table of runs, newest first, or `{"runs": [...]}`."""
    infos = list_runs(workspace)
    if as_json:
        click.echo(json.dumps({"runs": [i.to_json() for i in infos]}, indent=2))
        return EXIT_OK
    if not infos:
        click.echo(f"No runs recorded in {runs_dir(workspace)}.")
        return EXIT_OK
    console = _console()
    console.print(_runs_table(infos, workspace))
    for info in infos:
        if info.not_by_ralph:
            console.print(
                f"[bold red]warning[/]: run {_esc(info.run_id)}: {info.not_by_ralph} event(s) "
                "not written by ralph (edited, forged, or from an older ralph)"
            )
    return EXIT_OK


def show_log(workspace: Path, run_id: str | None = None, *, as_json: bool = False) -> int:
    """`ralph log [RUN_ID]`: one run's events in order (default: the newest run)."""
    path = find_run(workspace, run_id)
    events, lines = read_record(path)
    forged = not_by_ralph(path, events, lines)  # once: the summary and the view use it
    info = summarize(path, events, forged)
    if as_json:
        shown = {"run_id": info.run_id, "events": events, "not_by_ralph": forged}
        click.echo(json.dumps(shown, ensure_ascii=False))
        return EXIT_OK
    on = color()
    click.echo(from_markup("\n".join(render_log(info, events, forged)), on), color=on)
    return EXIT_OK


def render_log(
    info: RunInfo, events: list[dict[str, Any]], forged: Collection[int] | None = None
) -> list[str]:
    """Rich-markup lines, one or more per event, then a line for an unfinished run;
    `forged` is `not_by_ralph` of the events when the caller has it already."""
    lines: list[str] = []
    if forged is None:
        forged = not_by_ralph(Path(info.path), events) if info.not_by_ralph else ()
    forged = set(forged)
    for i, event in enumerate(events):
        render = _RENDERERS.get(str(event.get("event")), _render_other)
        if i in forged:
            lines.append("[bold red]! the next event was not written by ralph[/]")
        lines.extend(render(event))
    if not info.finished:
        open_step = (
            f" · open step: line {_esc(info.unfinished_step)}" if info.unfinished_step else ""
        )
        lines.append(
            f"[bold red]■ {UNFINISHED}[/]: no run_end in the record "
            f"(killed, crashed, or still running){open_step}"
        )
    return lines


def _render_run_start(e: dict[str, Any]) -> list[str]:
    policy_sha = str(e.get("policy_sha256") or "")[:12]
    return [
        f"[bold]run {_f(e, 'run_id')}[/] · {_local(e.get('ts'))} · ralph {_f(e, 'version')}",
        f"  task file {_f(e, 'task_file')} · mode {_f(e, 'mode')}",
        f"  model {_f(e, 'model')} · policy {_f(e, 'policy')} (sha256 {policy_sha})",
    ]


def _render_step_start(e: dict[str, Any]) -> list[str]:
    again = f" (attempt {e['attempts'] + 1})" if isinstance(e.get("attempts"), int) else ""
    return [f"{_clock(e)}[bold]▶ line {e.get('line')}: {_f(e, 'text')}[/]{again}"]


def _render_model(e: dict[str, Any]) -> list[str]:
    tokens = _usage(e.get("usage"))
    parts = [f"turn {e.get('turn')}"]
    parts.append(" · ".join(f"{n:,} {k}" for k, n in tokens.items() if n) or "tokens unknown")
    parts.append(money(e.get("cost"), 4) + " so far")
    if e.get("retries"):
        parts.append(f"{e['retries']} retries")
    if isinstance(e.get("latency_s"), (int, float)):
        parts.append(f"{e['latency_s']:.1f}s")
    lines = [f"{_clock(e)}[dim]  model  {' · '.join(parts)}[/]"]
    thought = model_words(e.get("reasoning"), limit=2_000)  # thinking, reasoning_content
    words = model_words(e.get("text"), limit=2_000)
    lines += [f"         {said}" for said in (thought, words) if said]
    private = e.get("private") if isinstance(e.get("private"), list) else []
    if private:  # opaque parts kept for the model: what they were, never their content
        lines.append(f"         [dim]  kept for the model: {_esc(', '.join(map(str, private)))}[/]")
    return lines


def _render_request(e: dict[str, Any]) -> list[str]:
    messages = e.get("messages") if isinstance(e.get("messages"), list) else []
    chars = len(json.dumps(messages, ensure_ascii=False))
    first = " · with the system prompt and tools" if e.get("system") else ""
    return [
        f"{_clock(e)}[dim]  request turn {e.get('turn')} · "
        f"{_plural(len(messages), 'new message')} ({chars:,} chars){first}[/]"
    ]


def _render_decision(e: dict[str, Any]) -> list[str]:
    decision = str(e.get("decision"))
    style = DECISION_STYLE.get(decision, "red")
    approval = f" · approval {_esc(e['approval_id'])}" if e.get("approval_id") else ""
    return [
        f"{_clock(e)}  [{style}]guard  {decision}[/] {_f(e, 'tool')} → {_f(e, 'outcome')}"
        f" [dim]({_esc(e.get('rule') or '(no rule)')}: {_f(e, 'reason')})[/]{approval}"
    ]


def _render_tool(e: dict[str, Any]) -> list[str]:
    verb = "ran" if e.get("allowed") else "refused"
    error = " [red](error)[/]" if e.get("allowed") and e.get("is_error") else ""
    style = DECISION_STYLE.get(str(e.get("decision")), "red")
    shown = _esc(_shown_args(e), 160)
    return [
        f"{_clock(e)}  [{style}]tool   {verb}[/] {_f(e, 'name')} {shown}{error}",
        f"           [dim]→ {_esc(e.get('result') or '', 160)}[/]",
    ]


def _render_verify(e: dict[str, Any]) -> list[str]:
    ok = bool(e.get("ok"))
    word = "[green]passed[/]" if ok else "[red]failed[/]"
    return [f"{_clock(e)}  verify {word} {_f(e, 'command')}: {_f(e, 'output')}"]


def _render_wait(e: dict[str, Any]) -> list[str]:
    seconds = e.get("seconds")
    shown = f"{seconds:.0f}s" if isinstance(seconds, (int, float)) else "?"
    return [f"{_clock(e)}  [yellow]waited {shown}[/]: {_f(e, 'reason')}"]


def _render_step_end(e: dict[str, Any]) -> list[str]:
    outcome = str(e.get("outcome"))
    style = "bold green" if outcome == "done" else "bold red"
    tokens = e.get("tokens")
    parts = [f"[{style}]■ {outcome}[/]", _plural(e.get("turns"), "turn")]
    parts.append(f"{tokens:,} tok" if isinstance(tokens, int) else "? tok")
    parts.append(money(e.get("cost_usd"), 4))
    if isinstance(e.get("seconds"), (int, float)):
        parts.append(f"{e['seconds']:.0f}s")
    lines = [f"{_clock(e)}{' · '.join(parts)} · {_f(e, 'summary')}"]
    if e.get("approval_ids"):
        lines.append(f"  waiting for approval: {_esc(', '.join(map(str, e['approval_ids'])))}")
    return lines


def _render_run_end(e: dict[str, Any]) -> list[str]:
    steps = e.get("steps")
    return [
        f"{_clock(e)}[bold]stopped: {_f(e, 'stopped')}[/] · exit code {e.get('exit_code')}"
        f" · {_plural(steps, 'step')} · {money(e.get('cost_usd'), 4)}"
    ]


def _render_other(e: dict[str, Any]) -> list[str]:
    fields = {k: v for k, v in e.items() if k not in ("ts", "event")}
    shown = json.dumps(fields, ensure_ascii=False, default=str)
    return [f"{_clock(e)}  {_f(e, 'event')} {_esc(shown, 300)}"]


_RENDERERS = {
    "run_start": _render_run_start,
    "step_start": _render_step_start,
    "request": _render_request,
    "model": _render_model,
    "decision": _render_decision,
    "tool": _render_tool,
    "verify": _render_verify,
    "wait": _render_wait,
    "step_end": _render_step_end,
    "run_end": _render_run_end,
}


_USAGE_FIELD = re.compile(r"(\w+)=(\d+)")


_USAGE_LABELS = {
    "input_tokens": "in",
    "output_tokens": "out",
    "cache_read_tokens": "cache read",
    "cache_write_tokens": "cache write",
}


def _usage(usage: Any) -> dict[str, int]:
    """Token counts from a usage field: a dict, or the dataclass repr `Usage(input_tokens=..)`."""
    if isinstance(usage, str):
        usage = {k: int(v) for k, v in _USAGE_FIELD.findall(usage)}
    if not isinstance(usage, dict):
        return {}
    return {
        label: usage[name]
        for name, label in _USAGE_LABELS.items()
        if isinstance(usage.get(name), int)
    }


def _shown_args(e: dict[str, Any]) -> str:
    args = e.get("arguments")
    if isinstance(args, dict):
        shown = args.get("command") or args.get("path") or args.get("pattern") or ""
        shown = shown or json.dumps(args, ensure_ascii=False)
    else:
        shown = str(args or "")
    return str(shown)


def _plural(n: Any, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _local(ts: Any, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
    ts = event_time({"ts": ts})
    if ts is None:
        return "time unknown"
    return time.strftime(fmt, time.localtime(ts))


def _clock(e: dict[str, Any]) -> str:
    ts = event_time(e)
    if ts is None:
        return "         "
    return _clock_at(math.floor(ts))


@lru_cache(maxsize=1024)
def _clock_at(second: int) -> str:
    """The clock column of an event in this second (the events of a step share seconds)."""
    return f"[dim]{time.strftime('%H:%M:%S', time.localtime(second))}[/] "


def _f(e: dict[str, Any], key: str) -> str:
    return _esc(e.get(key))


def _esc(value: Any, limit: int | None = None) -> str:
    """A value from the record as markup: one line, redacted again (a record from an older
    ralph, or edited), control characters escaped, cut to `limit` characters."""
    text = one_line(value, limit)
    if "[" not in text and not text.endswith("\\"):
        return text  # nothing markup could read (most values): skip rich's escape
    from rich.markup import escape

    return escape(text)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _cached(share: float | None) -> str:
    return "" if share is None else f" · {share:.0%} cached"


def _runs_table(infos: list[RunInfo], workspace: Path) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Runs, newest first", title_justify="left", box=box.SIMPLE_HEAD, leading=1)
    table.add_column("run / started", no_wrap=True)
    table.add_column("task file / model", overflow="fold", min_width=12)
    table.add_column("steps / cost", min_width=10)
    table.add_column("stopped", overflow="fold", min_width=12)
    for i in infos:
        table.add_row(
            Text(f"{one_line(i.run_id)}\n{_local(_epoch(i.started), '%Y-%m-%d %H:%M')}"),
            Text(f"{one_line(_relative(i.task_file, workspace))}\n{one_line(i.model or '?')}"),
            f"{_steps_cell(i)}\n{money(i.cost_usd, 4)}{_cached(i.cache_read_share)}",
            Text(one_line(i.stopped), style="" if i.finished else "bold red"),
        )
    return table


def _steps_cell(i: RunInfo) -> str:
    parts = [f"{n} {outcome.replace('_', ' ')}" for outcome, n in i.outcomes.items()]
    if i.unfinished_step:
        parts.append("1 cut short")
    return ", ".join(parts) or "none"


def _relative(path: str | None, workspace: Path) -> str:
    if not path:
        return "?"
    try:
        return str(Path(path).relative_to(workspace))
    except ValueError:
        return path
