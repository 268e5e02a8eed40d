"""The live view: a spinner while the model thinks or a command runs (terminals only), the
model's own words dimmed, and stamped lines when stderr is a file (cron.log)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from rich.console import Console

from ralph.cli.live import LiveView
from ralph.tools import Toolbox
from tests.fakeserver import Turn
from tests.harness import Ralph, finish

STEP = {"line": 3, "text": "add a test", "attempts": 0}
MODEL = {"turn": 1, "usage": {"input_tokens": 10, "output_tokens": 5}, "cost": 0.01}


def _view(terminal: bool) -> tuple[LiveView, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120, highlight=False)
    return LiveView(console), out


def test_a_spinner_with_elapsed_time_while_thinking_and_running() -> None:
    view, out = _view(terminal=True)
    view("run_start", run_id="20261201T000000Z-abcdef")
    view("step_start", **STEP)
    view("request", turn=1)
    assert view._live is not None and view._activity is not None
    assert re.fullmatch(r"thinking \(turn 1\) \d+s", view._activity.__rich__().plain)
    view("model", **MODEL, text="I will look at the tests first.")
    assert view._live is None  # a printed line ends the spinner
    view("decision", tool="run_command", allowed=True)
    view("output", line="collected 12 items")
    view("output", line="tests/test_a.py ....   [ 40%]")
    assert view._activity is not None
    assert view._activity.__rich__().plain.endswith("· tests/test_a.py .... [ 40%]")
    view("tool", name="run_command", arguments={"command": "pytest"}, decision="allow",
         allowed=True, is_error=False)  # fmt: skip
    view("run_end", stopped="done", raised=False)
    assert view._live is None
    text = out.getvalue()
    assert "I will look at the tests first." in text
    assert "\x1b[2m  │ I will look at the tests first." in text  # dimmed


def test_no_spinner_and_stamped_lines_when_not_a_terminal() -> None:
    view, out = _view(terminal=False)
    view("run_start", run_id="20261201T000000Z-abcdef")
    view("step_start", **STEP)
    view("request", turn=1)
    assert view._live is None
    view("model", **MODEL, text="Looking.")
    view("run_end", stopped="attempted 1 step as asked (1 done)", raised=False)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 20261201T000000Z-abcdef ")
    assert all(stamp.match(line) for line in lines), lines
    assert lines[-1].endswith("ralph: attempted 1 step as asked (1 done)")


def test_an_error_that_the_cli_prints_is_not_printed_by_the_view() -> None:
    view, out = _view(terminal=False)
    view("run_start", run_id="r1")
    view("run_end", stopped="error: anthropic: HTTP 400", raised=True)
    assert out.getvalue() == ""


def test_a_running_command_reports_its_latest_output_line(tmp_path: Path) -> None:
    box = Toolbox(tmp_path)
    seen: list[str] = []
    box.on_output = seen.append
    code, output = box.run_command("printf 'one\\ntwo\\n'; sleep 0.2; echo three")
    assert code == 0 and output == "one\ntwo\nthree"
    assert seen[-1] == "three" and "two" in seen


def test_the_record_holds_each_request_and_the_reply_text_redacted(
    ralph_anthropic: Ralph, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text("- [ ] look around\n")
    key = "sk-ant-" + "a1" * 20
    ralph_anthropic.server.add(
        Turn(text=f"Let me list the files. My key is {key}.", tool_calls=[("list_files", {})]),
        Turn(text="All there.", tool_calls=[finish("looked")]),
    )
    code, summary, err = ralph_anthropic.run(plan, "--workspace", str(tmp_path))
    assert code == 0, err
    record = tmp_path / ".ralph" / "runs" / f"{summary['run_id']}.jsonl"
    raw = record.read_text()
    assert key not in raw and key not in err
    events = [json.loads(line) for line in raw.splitlines()]
    requests = [e for e in events if e["event"] == "request"]
    models = [e for e in events if e["event"] == "model"]
    assert [r["turn"] for r in requests] == [1, 2]
    assert "careful software engineer" in requests[0]["system"]
    assert "finish_step" in requests[0]["tools"]
    assert "look around" in requests[0]["messages"][0]["text"]
    assert "system" not in requests[1]  # sent once; later requests add only what is new
    assert requests[1]["messages"][0]["tool_results"][0]["content"].startswith("plan.md")
    assert models[0]["text"] == "Let me list the files. My key is [REDACTED]."
    assert models[0]["tool_calls"] == [{"name": "list_files", "arguments": "{}"}]
    assert not [e for e in events if e["event"] == "output"]  # live only

    code, out, err = ralph_anthropic("log", "--workspace", str(tmp_path))
    assert code == 0, err
    assert "│ Let me list the files. My key is [REDACTED]." in out
    assert "│ All there." in out and "request turn 2" in out
