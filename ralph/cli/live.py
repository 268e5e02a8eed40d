"""The live view of a run on stderr: the step, each tool call with its decision, and tokens
and cost so far. stdout stays free for `--json`. rich honours NO_COLOR by itself.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from ralph.cli.render import DECISION_STYLE
from ralph.humanize import money

_OUTCOME_STYLE = {"done": "bold green", "awaiting_approval": "bold yellow"}


class LiveView:
    """Renders run events as short lines; pass it as the `emit` callback of `run_task`."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.tokens = 0
        self.cost: float | None = 0.0

    def __call__(self, event: str, **f: Any) -> None:
        show = getattr(self, f"_{event}", None)
        if show is not None:
            show(f)

    def _print(self, text: str) -> None:
        self.console.print(text, soft_wrap=True)

    def _step_start(self, f: dict[str, Any]) -> None:
        self.tokens, self.cost = 0, 0.0
        again = f" (attempt {f['attempts'] + 1})" if f.get("attempts") else ""
        self._print(f"[bold]▶ line {f['line']}: {escape(f['text'])}[/]{again}")

    def _model(self, f: dict[str, Any]) -> None:
        self.tokens += sum(f["usage"].values())
        self.cost = f.get("cost")
        cost = money(self.cost, 3)
        retries = f" · {f['retries']} retries" if f.get("retries") else ""
        self._print(f"[dim]  turn {f['turn']} · {self.tokens:,} tok · {cost}{retries}[/]")

    def _tool(self, f: dict[str, Any]) -> None:
        if "error" in f:
            self._print(f"  [red]bad call[/] {f['name']}: {escape(f['error'][:160])}")
            return
        decision = f.get("decision") or "?"
        style = DECISION_STYLE.get(decision, "red")
        verb = "ran" if f.get("allowed") else "refused"
        args = f.get("arguments")
        if isinstance(args, dict):
            shown = args.get("command") or args.get("path") or args.get("pattern") or ""
        else:
            shown = str(args)
        shown = " ".join(str(shown).split())[:120]
        error = " [red](error)[/]" if f.get("allowed") and f.get("is_error") else ""
        self._print(
            f"  [{style}]{decision:7}[/] {verb} {f['name']} {escape(shown)}{error}"
            + (f" [dim]({escape(str(f.get('rule')))})[/]" if decision != "allow" else "")
        )

    def _verify(self, f: dict[str, Any]) -> None:
        style = "green" if f["ok"] else "red"
        self._print(f"  [{style}]verify[/] {escape(f['command'])}: {escape(f['output'][-200:])}")

    def _wait(self, f: dict[str, Any]) -> None:
        self._print(f"  [yellow]waiting {f['seconds']:.0f}s[/]: {escape(f['reason'])}")

    def _step_end(self, f: dict[str, Any]) -> None:
        style = _OUTCOME_STYLE.get(f["outcome"], "bold red")
        cost = money(f["cost_usd"], 3)
        self._print(
            f"[{style}]■ {f['outcome']}[/] · {f['turns']} turns · {f['tokens']:,} tok · {cost}"
            f" · {f['seconds']:.0f}s · {escape(f['summary'])}"
        )

    def _run_end(self, f: dict[str, Any]) -> None:
        self._print(f"[bold]ralph:[/] {escape(f['stopped'])}")
