"""One lane of `ralph run --parallel`: a step run by its own `ralph run --step` process in
its own worktree, and what the parent reads back from it.

A lane is a process of its own (the same stateless CLI call CI makes), so it has its own
main thread for the deadlines (SIGALRM), its own sandbox confined to its worktree, and a
crash in one lane cannot take the others down. It is forked from the run's fork server
(`ralph.lanes.forkserver`: the SDK already imported), or started as a fresh `python -m
ralph` when there is none. It dies with the parent (PR_SET_PDEATHSIG, through the server):
a kill -9 of the parent stops the lanes as SIGTERM does (their work stays in the worktrees).

What the parent keeps about a lane lives in the lane's worktree, under `.ralph/lane/`:
`lane.json` (the plan, the step, the branch, and `done` once the step was done there),
`out.json` (the lane's `--json` summary) and `lane.log` (its live view).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ralph import taskfile
from ralph.agent.report import StepReport
from ralph.config import Config
from ralph.errors import RalphError
from ralph.fsutil import atomic_write_bytes, atomic_write_text, read_json_object
from ralph.lanes.forkserver import Forked, ForkServer, die_with_parent, with_ralph_on_path
from ralph.record.log import LANE_ENV
from ralph.taskfile import Step, TaskFile
from ralph.workspace import LANE_HOME_ENV, STATE_DIR, STATE_DIR_ENV

LANE_FILES = f"{STATE_DIR}/lane"
"""The lane's own files inside its worktree (ignored by git, like all of `.ralph/`)."""
_NOT_PASSED = frozenset({"pricing", "plan", "max_cost", "max_time", "notify_cmd", "notify_url"})
"""Settings the parent does not hand to its lanes: budgets are the parent's (each lane gets
what is left), notifications are sent once, by the parent."""


@dataclass
class Lane:
    """A lane as the parent sees it while it runs and after."""

    name: str  # the folder under .ralph/worktrees/, and the `lane` tag on its record
    branch: str
    path: Path  # the worktree
    plan_rel: str  # the plan, relative to the workspace (the same inside the worktree)
    step: Step  # the step, as read from the main checkout's plan when the lane started
    proc: subprocess.Popen[bytes] | Forked | None = None
    started: float = 0.0  # time.time() of the launch
    record: Path | None = None  # the lane run's JSONL record, once found
    offset: int = 0  # how far the record has been read
    cost: float | None = 0.0  # the lane's cost so far (its step's, from the record)
    turn: int = 0
    tokens: int = 0
    resumed: bool = False
    lock_retries: int = 0  # starts refused because the lane's old process still ran
    seen: set[str] = field(default_factory=set)  # record files that are not this lane's

    @property
    def plan(self) -> Path:
        return self.path / self.plan_rel

    @property
    def files(self) -> Path:
        return self.path / LANE_FILES

    def info(self) -> dict[str, Any]:
        return read_json_object(self.files / "lane.json") or {}

    def save(self, **changes: Any) -> None:
        data = self.info() or {
            "plan": self.plan_rel,
            "step": self.step.text,
            "parents": list(self.step.parents),
            "branch": self.branch,
        }
        data.update(changes)
        self.files.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.files / "lane.json", json.dumps(data, indent=1) + "\n")

    def summary(self) -> dict[str, Any] | None:
        """The lane's `--json` summary, or None when it ended without one (a crash)."""
        return read_json_object(self.files / "out.json")

    def log_tail(self) -> str:
        """The last line the lane's process wrote on stderr (why it crashed)."""
        try:
            text = (self.files / "lane.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1][-300:] if lines else ""


def lane_env(
    config: Config,
    policy: Path,
    lane: str,
    state: Path,
    home: Path,
    *,
    max_cost: float | None,
    max_time: float | None,
) -> dict[str, str]:
    """The lane's environment: the parent's settings as `RALPH_*` variables (over the
    worktree's project config), what is left of the run's budgets, the shared state
    folder, the main checkout (the lane's approvals are its: `workspace.lane_home`), the
    lane's tag, and ralph's own code first on the import path."""
    env = dict(os.environ)
    for f in fields(Config):
        name = f"RALPH_{f.name.upper()}"
        value = getattr(config, f.name)
        if f.name in _NOT_PASSED or value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    env["RALPH_POLICY"] = str(policy)
    if max_cost is not None:
        env["RALPH_MAX_COST"] = repr(max(max_cost, 0.0))
    if max_time is not None:
        env["RALPH_MAX_TIME"] = repr(max(max_time, 0.001))
    env[STATE_DIR_ENV] = str(state)
    env[LANE_HOME_ENV] = str(home)
    env[LANE_ENV] = lane
    return with_ralph_on_path(env)


def start(
    lane: Lane, plan_bytes: bytes, env: dict[str, str], server: ForkServer | None = None
) -> None:
    """Put the main checkout's plan (with its notes) into the worktree and start the lane's
    `ralph run --step LINE` there: forked by `server` (warm: the SDK is imported), else as
    a fresh process. Raises OSError when the server is gone (the caller may start the
    lane again without it)."""
    atomic_write_bytes(lane.plan, plan_bytes)
    lane.files.mkdir(parents=True, exist_ok=True)
    (lane.files / "out.json").unlink(missing_ok=True)
    args = [
        "run", str(lane.plan),
        "--step", str(lane.step.line), "--workspace", str(lane.path),
        "--unattended", "--json", "--notify-cmd", "", "--notify-url", "",
    ]  # fmt: skip
    out, log = lane.files / "out.json", lane.files / "lane.log"
    if server is not None:  # what `python -m ralph ARGS` runs, as it would see it
        argv = [str(Path(__file__).resolve().parents[1] / "__main__.py"), *args]
        lane.proc = server.spawn(
            "ralph.cli:main", argv, cwd=lane.path, env=env, stdout=out, stderr=log
        )
    else:
        with open(out, "wb") as stdout, open(log, "ab") as stderr:
            lane.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "ralph", *args],  # -P: not the worktree's own
                cwd=lane.path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # the terminal's Ctrl-C is the parent's: it stops lanes
                preexec_fn=die_with_parent,
            )
    lane.started = time.time()
    lane.record, lane.offset, lane.cost, lane.turn, lane.tokens = None, 0, 0.0, 0, 0


def stop(lanes: list[Lane], grace_s: float = 30.0) -> None:
    """SIGTERM the running lanes (each ends its step as interrupted), wait for them."""
    running = [lane.proc for lane in lanes if lane.proc is not None and lane.proc.poll() is None]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in running:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            if proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def read_events(lane: Lane, folders: list[Path]) -> list[dict[str, Any]]:
    """The lane run's record events written since the last call (whole lines only). The
    record is found in `folders` by its first event's `lane` tag and time."""
    if lane.record is None:
        lane.record = _find_record(lane, folders)
        if lane.record is None:
            return []
    try:
        with open(lane.record, "rb") as f:
            f.seek(lane.offset)
            chunk = f.read()
    except OSError:
        return []
    whole = chunk[: chunk.rfind(b"\n") + 1]
    lane.offset += len(whole)
    events = []
    for line in whole.splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    for event in events:
        _count(lane, event)
    return events


def _count(lane: Lane, event: dict[str, Any]) -> None:
    if event.get("event") == "model":
        lane.turn = int(event.get("turn") or 0)
        lane.tokens += sum(v for v in (event.get("usage") or {}).values() if isinstance(v, int))
        lane.cost = event.get("cost") if isinstance(event.get("cost"), (int, float)) else None
    elif event.get("event") == "step_end":
        lane.cost = event.get("cost_usd")


def _find_record(lane: Lane, folders: list[Path]) -> Path | None:
    for folder in folders:
        try:
            candidates = sorted(folder.glob("*.jsonl"), reverse=True)
        except OSError:
            continue
        for path in candidates:
            if str(path) in lane.seen:
                continue
            try:
                if path.stat().st_mtime < lane.started - 2:
                    break  # sorted newest first by name (the run id starts with the time)
                with open(path, "rb") as f:
                    line = f.readline()
                if not line.endswith(b"\n"):
                    continue  # its first event is not written yet: look again later
                first = json.loads(line)
            except (OSError, ValueError):
                continue
            if first.get("lane") == lane.name and first.get("ts", 0) >= lane.started - 2:
                return path
            lane.seen.add(str(path))
    return None


def find_step(tf: TaskFile, text: str, parents: tuple[str, ...]) -> Step | None:
    """The step with this text in `tf` (under these parents, if several have it)."""
    same = [s for s in tf.steps if s.text == text]
    return next((s for s in same if s.parents == parents), same[0] if same else None)


def same_step(a: Step, b: Step) -> bool:
    """The same step of a plan, read at two times."""
    return a.text == b.text and a.parents == b.parents


def done_in_copy(lane: Lane) -> bool:
    """The lane's copy of the plan shows its step done (it ended before it was merged)."""
    try:
        copy = taskfile.load(lane.plan, require_steps=False)
    except (RalphError, OSError):  # a copy the agent broke is no sign of anything
        return False
    found = find_step(copy, lane.step.text, lane.step.parents)
    return found is not None and found.checked


def step_report(lane: Lane) -> StepReport | None:
    """The lane's one step from its `--json` summary; for a lane whose step was done in an
    earlier run that stopped before reading it, a report saying so."""
    summary = lane.summary() or {}
    steps = summary.get("steps") or []
    if steps and isinstance(steps[0], dict):
        try:
            return StepReport(**steps[0])
        except TypeError:
            return None
    if lane.info().get("done") or done_in_copy(lane):
        s = lane.step
        return StepReport(s.line, s.text, "done", "done in its lane (resumed)", 0, 0, None, 0, [])
    return None
