"""The live view of `ralph run --parallel`: lines prefixed with their lane, and one status
line per running lane on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from ralph.cli.live import LanesView


def view(terminal: bool) -> tuple[LanesView, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=200, highlight=False)
    return LanesView(console), out


def start(v: LanesView, lane: str, line: int, text: str) -> None:
    v("lane_start", lane=lane, line=line, text=text, branch=f"ralph/p/{lane}", resumed=False)


def test_off_a_terminal_every_line_names_its_lane() -> None:
    v, out = view(terminal=False)
    v("run_start", run_id="R1")
    start(v, "plan-home", 5, "Home page")
    start(v, "plan-about", 7, "About page")
    v("lane_turn", lane="plan-about", turn=1, tokens=120, cost=0.01)
    v("lane_end", lane="plan-home", outcome="done", summary="wrote it", turns=2, tokens=300,
      cost_usd=0.02, seconds=3.0)  # fmt: skip
    v("merge", lane="plan-home", outcome="merged", detail="merged into main as abc")
    v("merge", lane="plan-about", outcome="conflict", detail="conflict in a.txt")
    v("run_end", stopped="every step is done", raised=False)
    lines = out.getvalue().splitlines()
    assert all(" R1 " in line for line in lines)
    assert [line.split(" R1 ", 1)[1] for line in lines] == [
        "plan-home ▶ line 5: Home page",
        "plan-about ▶ line 7: About page",
        "plan-about turn 1 · 120 tok · $0.010",
        "plan-home ■ done · 2 turns · 300 tok · $0.020 · 3s · wrote it",
        "plan-home merged: merged into main as abc",
        "plan-about conflict: conflict in a.txt",
        "ralph: every step is done",
    ]


def test_on_a_terminal_one_status_line_per_running_lane() -> None:
    v, _ = view(terminal=True)
    start(v, "plan-home", 5, "Home page")
    start(v, "plan-about", 7, "About page")
    v("lane_turn", lane="plan-home", turn=3, tokens=1234, cost=0.5)
    assert str(v.__rich__()).splitlines() == [
        "  plan-home: turn 3 · 1,234 tok · $0.500",
        "  plan-about: starting",
    ]
    v("lane_end", lane="plan-home", outcome="failed", summary="no", turns=3, tokens=1234,
      cost_usd=0.5, seconds=9.0)  # fmt: skip
    assert str(v.__rich__()).splitlines() == ["  plan-about: starting"]
    v("run_end", stopped="done", raised=False)
    assert v._live is None
