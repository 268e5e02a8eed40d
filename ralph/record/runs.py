"""Run summaries read back from the records under .ralph/runs/."""

from __future__ import annotations

import calendar
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ralph.errors import UsageError
from ralph.messages import Usage
from ralph.record.log import not_by_ralph, read_record
from ralph.workspace import runs_dir

UNFINISHED = "interrupted/unfinished"


FAILED_OUTCOMES = frozenset({"failed", "blocked"})


@dataclass(frozen=True)
class RunInfo:
    """One run as `ralph runs` lists it."""

    run_id: str
    path: str
    started: str | None  # ISO 8601 UTC
    seconds: float | None  # first to last event
    task_file: str | None
    model: str | None
    mode: str | None
    steps: int  # attempts that ended (step_end)
    steps_done: int
    steps_failed: int  # failed or blocked
    outcomes: dict[str, int]  # step outcome -> how many, in order of first appearance
    unfinished_step: str | None  # text of a step that started but never ended
    cost_usd: float | None  # None when some model's price is unknown
    prompt_tokens: int  # input tokens of every model turn, cache reads and writes included
    cache_read_tokens: int
    cache_read_share: float | None  # cache_read_tokens / prompt_tokens; None with no input
    stopped: str  # why the run stopped, or UNFINISHED
    exit_code: int | None
    finished: bool
    not_by_ralph: int = 0
    """Events whose MAC does not check out: edited, forged, or from an older ralph."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize(path: Path, events: list[dict[str, Any]], forged: list[int] | None = None) -> RunInfo:
    """Summarize one run record (its events as `read_run` returns them); `forged` is
    `not_by_ralph` of them when the caller has it already."""
    start = _first(events, "run_start") or {}
    end = _first(events, "run_end")
    outcomes = [e.get("outcome") for e in events if e.get("event") == "step_end"]
    stamps = [ts for ts in map(event_time, events) if ts is not None]
    usage = _usage(events)
    share = usage.cache_read_share
    return RunInfo(
        run_id=str(start.get("run_id") or path.stem),
        path=str(path),
        started=_iso(stamps[0]) if stamps else None,
        seconds=round(stamps[-1] - stamps[0], 1) if stamps else None,
        task_file=start.get("task_file"),
        model=start.get("model"),
        mode=start.get("mode"),
        steps=len(outcomes),
        steps_done=outcomes.count("done"),
        steps_failed=sum(o in FAILED_OUTCOMES for o in outcomes),
        outcomes={o: outcomes.count(o) for o in dict.fromkeys(map(str, outcomes))},
        unfinished_step=_unfinished_step(events),
        cost_usd=end["cost_usd"] if end and "cost_usd" in end else _cost(events),
        prompt_tokens=usage.prompt_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_read_share=None if share is None else round(share, 3),
        stopped=str(end.get("stopped") or "stopped") if end else UNFINISHED,
        exit_code=end.get("exit_code") if end else None,
        finished=end is not None,
        not_by_ralph=len(not_by_ralph(path, events) if forged is None else forged),
    )


def list_runs(workspace: Path) -> list[RunInfo]:
    """Every recorded run in the workspace, newest first."""
    infos = []
    for path in _record_paths(workspace):
        events, lines = read_record(path)
        info = summarize(path, events, not_by_ralph(path, events, lines))
        infos.append((_start_ts(events, path), info.run_id, info))
    infos.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [info for _, _, info in infos]


def find_run(workspace: Path, run_id: str | None) -> Path:
    """The record of `run_id` (or of a unique prefix of one); the newest run when None."""
    paths = _record_paths(workspace)
    if not paths:
        raise UsageError(f"no runs recorded yet in {runs_dir(workspace)}")
    if run_id is None:
        return Path(list_runs(workspace)[0].path)
    exact = [p for p in paths if p.stem == run_id]
    matches = exact or [p for p in paths if p.stem.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no run {run_id!r} in {runs_dir(workspace)}; `ralph runs` lists the ids")
    names = ", ".join(sorted(p.stem for p in matches)[:5])
    raise UsageError(f"run id {run_id!r} is ambiguous ({names}...); give more of it")


def _record_paths(workspace: Path) -> list[Path]:
    folder = runs_dir(workspace)
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


_LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z: later than any record, and gmtime's range


def event_time(event: dict[str, Any]) -> float | None:
    """An event's `ts` as seconds since the epoch, or None when it is none a clock could
    show (missing, not a number, infinite, or centuries away: an edited record)."""
    ts = event.get("ts")
    if isinstance(ts, (int, float)) and -_LATEST <= ts <= _LATEST:
        return ts
    return None


def _first(events: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((e for e in events if e.get("event") == name), None)


def _start_ts(events: list[dict[str, Any]], path: Path) -> float:
    stamps = [ts for ts in map(event_time, events) if ts is not None]
    if stamps:
        return float(stamps[0])
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _unfinished_step(events: list[dict[str, Any]]) -> str | None:
    """The step that started last, if it never ended."""
    open_step = None
    for e in events:
        if e.get("event") == "step_start":
            open_step = f"{e.get('line')}: {e.get('text')}"
        elif e.get("event") == "step_end":
            open_step = None
    return open_step


def _cost(events: list[dict[str, Any]]) -> float | None:
    """A run's cost without a run_end: ended steps, plus the last step's cost so far."""
    total: float | None = 0.0
    so_far: Any = 0.0  # the open step's running total, from its last model event
    for e in events:
        kind = e.get("event")
        if kind == "step_start":
            so_far = 0.0
        elif kind == "model":
            so_far = e.get("cost")
        elif kind == "step_end":
            total, so_far = _add(total, e.get("cost_usd")), 0.0
    return _add(total, so_far)


def _usage(events: list[dict[str, Any]]) -> Usage:
    """Tokens of every model turn in the record."""
    total = Usage()
    names = [f.name for f in fields(Usage)]
    for e in events:
        usage = e.get("usage") if e.get("event") == "model" else None
        if isinstance(usage, dict):
            counts = {n: usage[n] for n in names if isinstance(usage.get(n), int)}
            total = total + Usage(**counts)
    return total


def _add(total: float | None, cost: Any) -> float | None:
    if total is None or not isinstance(cost, (int, float)):
        return None
    return total + cost


_ISO = "%Y-%m-%dT%H:%M:%SZ"


def _iso(ts: float) -> str:
    return time.strftime(_ISO, time.gmtime(ts))


def _epoch(iso: str | None) -> float | None:
    return calendar.timegm(time.strptime(iso, _ISO)) if iso else None
