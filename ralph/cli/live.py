"""The live view of a run on stderr: the step, the model's words, each tool call with its
decision, and tokens and cost so far. stdout stays free for `--json`. rich honours
NO_COLOR by itself.

On a terminal a spinner with the elapsed time shows while the model thinks or a command
runs (with the command's latest output line). Elsewhere (cron, a log file) every line
starts with the time and the run id, so interleaved runs can be told apart.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ralph.cli.render import DECISION_STYLE, model_words
from ralph.humanize import money
from ralph.redact import for_display, one_line

_OUTCOME_STYLE = {"done": "bold green", "awaiting_approval": "bold yellow"}


class _Elapsed:
    """The spinner's text: what is going on, for how long, and the latest output line."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.last_line = ""

    def __rich__(self) -> Text:
        text = Text(f"{self.label} {time.monotonic() - self.started:.0f}s", style="dim")
        if self.last_line:
            text.append(f" · {one_line(self.last_line, 100)}", style="dim")
        return text


class LiveView:
    """Renders run events as short lines; pass it as the `emit` callback of `run_task`."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.tokens = 0
        self.cost: float | None = 0.0
        self.run_id = ""
        self._live: Any = None
        self._activity: _Elapsed | None = None

    def __call__(self, event: str, **f: Any) -> None:
        show = getattr(self, f"_{event}", None)
        if show is not None:
            with contextlib.suppress(OSError):  # stderr on a full disk (cron.log): go on unseen
                show(f)

    def _print(self, text: str) -> None:
        self._stop()
        if self.run_id and not self.console.is_terminal:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            text = f"{stamp} {_shown(self.run_id)} {text}"
        self.console.print(text, soft_wrap=True)

    # -- the spinner -----------------------------------------------------------------------

    def _start(self, label: str) -> None:
        """Show a spinner (terminal only) until the next line is printed."""
        self._stop()
        if not self.console.is_terminal:
            return
        from rich.live import Live
        from rich.spinner import Spinner

        self._activity = _Elapsed(label)
        self._live = Live(
            Spinner("dots", text=self._activity, style="dim"),
            console=self.console,
            transient=True,
            refresh_per_second=8,
        )
        self._live.start()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._activity = None

    def _output(self, f: dict[str, Any]) -> None:
        """A command's latest output line (from its reader thread; only the spinner shows it)."""
        activity = self._activity
        if activity is not None:
            activity.last_line = str(f.get("line", ""))

    # -- events ----------------------------------------------------------------------------

    def _run_start(self, f: dict[str, Any]) -> None:
        self.run_id = str(f.get("run_id") or "")

    def _step_start(self, f: dict[str, Any]) -> None:
        self.tokens, self.cost = 0, 0.0
        again = f" (attempt {f['attempts'] + 1})" if f.get("attempts") else ""
        self._print(f"[bold]▶ line {f['line']}: {_shown(f['text'])}[/]{again}")

    def _request(self, f: dict[str, Any]) -> None:
        self._start(f"thinking (turn {f.get('turn')})")

    def _model(self, f: dict[str, Any]) -> None:
        self.tokens += sum(f["usage"].values())
        self.cost = f.get("cost")
        cost = money(self.cost, 3)
        retries = f" · {f['retries']} retries" if f.get("retries") else ""
        self._print(f"[dim]  turn {f['turn']} · {self.tokens:,} tok · {cost}{retries}[/]")
        words = model_words(f.get("text"))
        if words:
            self._print(words)

    def _decision(self, f: dict[str, Any]) -> None:
        if f.get("allowed") and f.get("tool") == "run_command":
            self._start("running")

    def _tool(self, f: dict[str, Any]) -> None:
        if "error" in f:
            self._print(f"  [red]bad call[/] {_shown(f['name'])}: {_shown(f['error'], 160)}")
            return
        decision = f.get("decision") or "?"
        style = DECISION_STYLE.get(decision, "red")
        verb = "ran" if f.get("allowed") else "refused"
        args = f.get("arguments")
        if isinstance(args, dict):
            shown = args.get("command") or args.get("path") or args.get("pattern") or ""
        else:
            shown = str(args)
        error = " [red](error)[/]" if f.get("allowed") and f.get("is_error") else ""
        self._print(
            f"  [{style}]{decision:7}[/] {verb} {_shown(f['name'])} {_shown(shown, 120)}{error}"
            + (f" [dim]({_shown(f.get('rule'))})[/]" if decision != "allow" else "")
        )

    def _verify(self, f: dict[str, Any]) -> None:
        style = "green" if f["ok"] else "red"
        output = escape(for_display(" ".join(str(f["output"]).split()), 200, tail=True))
        self._print(f"  [{style}]verify[/] {_shown(f['command'])}: {output}")

    def _wait(self, f: dict[str, Any]) -> None:
        self._print(f"  [yellow]waiting {f['seconds']:.0f}s[/]: {_shown(f['reason'])}")
        self._start("waiting")

    def _step_end(self, f: dict[str, Any]) -> None:
        style = _OUTCOME_STYLE.get(f["outcome"], "bold red")
        cost = money(f["cost_usd"], 3)
        self._print(
            f"[{style}]■ {f['outcome']}[/] · {f['turns']} turns · {f['tokens']:,} tok · {cost}"
            f" · {f['seconds']:.0f}s · {_shown(f['summary'])}"
        )

    def _run_end(self, f: dict[str, Any]) -> None:
        self._stop()
        if not f.get("raised"):  # an error or Ctrl-C is printed once, by the CLI
            self._print(f"[bold]ralph:[/] {_shown(f['stopped'])}")


class LanesView:
    """The live view of `ralph run --parallel`: a line for each lane that starts, ends and
    merges (prefixed with the lane), and on a terminal one status line per running lane
    (its turn, tokens and cost so far) below them."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.lines = LiveView(self.console)  # the run's own lines: start, end, verify
        self.status: dict[str, str] = {}
        self._live: Any = None

    def __call__(self, event: str, **f: Any) -> None:
        show = getattr(self, f"_{event}", None)
        if show is not None:
            with contextlib.suppress(OSError):  # stderr on a full disk (cron.log): go on unseen
                show(f)
        elif event in ("run_start", "verify"):
            self.lines(event, **f)

    def __rich__(self) -> Text:
        text = Text(style="dim")
        for lane, status in self.status.items():
            text.append(f"{'' if not text else chr(10)}  {lane}: {status}")
        return text

    def _say(self, lane: str, text: str) -> None:
        self.lines._print(f"[cyan]{_shown(lane)}[/] {text}")
        self._refresh()

    def _refresh(self) -> None:
        if not self.console.is_terminal:
            return
        if self._live is None and self.status:
            from rich.live import Live

            self._live = Live(self, console=self.console, transient=True, refresh_per_second=4)
            self._live.start()
        elif self._live is not None:
            self._live.refresh()

    def _lane_start(self, f: dict[str, Any]) -> None:
        self.status[f["lane"]] = "starting"
        how = " (resumed)" if f.get("resumed") else ""
        if f.get("done"):
            how = " (done in its lane before the last run stopped: merging it)"
        self._say(f["lane"], f"[bold]▶ line {f['line']}: {_shown(f['text'])}[/]{how}")

    def _lane_turn(self, f: dict[str, Any]) -> None:
        status = f"turn {f['turn']} · {f['tokens']:,} tok · {money(f.get('cost'), 3)}"
        self.status[f["lane"]] = status
        if self.console.is_terminal:
            self._refresh()
        else:
            self._say(f["lane"], f"[dim]{status}[/]")

    def _lane_end(self, f: dict[str, Any]) -> None:
        self.status.pop(f["lane"], None)
        style = _OUTCOME_STYLE.get(f["outcome"], "bold red")
        if "turns" not in f:
            self._say(f["lane"], f"[{style}]■ {f['outcome']}[/] · {_shown(f['summary'])}")
            return
        self._say(
            f["lane"],
            f"[{style}]■ {f['outcome']}[/] · {f['turns']} turns · {f['tokens']:,} tok · "
            f"{money(f['cost_usd'], 3)} · {f['seconds']:.0f}s · {_shown(f['summary'])}",
        )

    def _merge(self, f: dict[str, Any]) -> None:
        style = "green" if f["outcome"] in ("merged", "empty", "pushed") else "bold red"
        self._say(f["lane"], f"[{style}]{f['outcome']}[/]: {_shown(f.get('detail'))}")

    def _lane_kept(self, f: dict[str, Any]) -> None:
        self.status.pop(f["lane"], None)
        self._say(f["lane"], f"[yellow]kept[/] (branch {_shown(f['branch'])}): "
                  f"{_shown(f['why'])}")  # fmt: skip

    def _lane_launcher(self, f: dict[str, Any]) -> None:
        self.lines._print(f"[yellow]lanes start as fresh processes (slower):[/] {_shown(f['why'])}")

    def _halt(self, f: dict[str, Any]) -> None:
        self.lines._print(f"[bold red]stopping every lane:[/] {_shown(f['why'])}")

    def _run_end(self, f: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self.lines("run_end", **f)


def _shown(value: object, limit: int | None = None) -> str:
    """A value from the run as markup: one line, redacted, control characters escaped."""
    return escape(one_line(value, limit))
