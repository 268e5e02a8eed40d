"""`ralph run PLAN --all --parallel N`: up to N independent steps at once, each in a lane
(its own worktree, branch and `ralph run --step` process), merged back in plan order.

The parent holds the main plan's run lock. The main checkout's plan is the one source of
truth: a lane works on a copy (with the main plan's notes), and its outcome is written into
the main plan only here, with the task file's compare-and-swap edit, after the lane was
committed, merged into the base branch and its step's verify passed again on the merged
result. A conflict or a failed verify restores the base, leaves the step open with a note
naming the kept branch, and the run goes on with the other lanes. A lane's worktree is
removed only once its branch is merged; every other lane stays, and the next run resumes
it in the same worktree (or merges it, when its step was done there) or reports it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ralph import __version__, taskfile
from ralph.agent.report import RunReport, StepReport, attempted, drive, nothing_left
from ralph.agent.run import RunRequest, write_note
from ralph.agent.session import RunBudget
from ralph.errors import EXIT_FAILED, EXIT_LOCKED, EXIT_OK
from ralph.git import Git
from ralph.guard.approvals import ApprovalStore
from ralph.lanes import lane as lanes
from ralph.lanes.checks import plan_in_repo, trust_like, verifier
from ralph.lanes.forkserver import Forked, ForkServer, preload_for, start_for
from ralph.lanes.lane import Lane, done_in_copy, find_step, same_step, step_report
from ralph.lock import run_lock
from ralph.record.log import RunLog
from ralph.stop import Stop, exit_code
from ralph.taskfile import Step, TaskFile
from ralph.workspace import cache_dir, runs_dir, state_dir, worktrees_dir
from ralph.worktrees import base_branch, create_lane, lane_names, remove_lane

POLL_S = 0.1
LOCK_RETRIES = 100  # a resumed lane's old process may still be ending (0.2 s apart)
LIVE_ONLY = frozenset({"lane_turn"})
"""Parent events shown live but not recorded (each lane's record has its turns)."""
_MERGED = ("merged", "empty", "pushed")


@dataclass(frozen=True)
class ParallelRequest:
    """`ralph run --parallel N`: the run request, N, and how lanes are merged back."""

    run: RunRequest
    parallel: int
    merge: str = "merge"


def run_parallel(
    preq: ParallelRequest,
    *,
    emit: Callable[..., None] = lambda event, **fields: None,
    stop: Stop | None = None,
    on_end: Callable[[RunReport], None] | None = None,
    server: ForkServer | None = None,
) -> RunReport:
    """Run the plan's steps in lanes until done or a stop condition; the record (the
    parent's own, in the main checkout) ends with `run_end` however the run ends, no lane
    is left running, the fork server (`server`, started early by the caller, else here)
    is closed, and `on_end(report)` is called."""
    req = preq.run
    with run_lock(req.task_path, req.workspace), RunLog.create(runs_dir(req.workspace)) as log:

        def record(event: str, **fields: Any) -> None:
            if event not in LIVE_ONLY:
                log.emit(event, **fields)
            emit(event, **fields)

        report = RunReport(log.run_id, str(req.task_path))
        record(
            "run_start",
            run_id=log.run_id,
            version=__version__,
            model=req.config.model,
            policy=str(req.policy_path),
            task_file=str(req.task_path),
            mode=req.mode,
            workspace=str(req.workspace),
            parallel=preq.parallel,
            merge=preq.merge,
        )
        sched = _Scheduler(preq, report, record, stop or Stop(), server=server)

        def cleanup() -> None:
            lanes.stop(sched.running())
            sched.close_server()
            taskfile.keep(req.task_path, cache_dir(req.workspace))

        drive(report, record, sched.run, sched.started, cleanup=cleanup, on_end=on_end)
        return report


@dataclass
class _Scheduler:
    preq: ParallelRequest
    report: RunReport
    record: Callable[..., None]
    stop: Stop
    lanes: dict[str, Lane] = field(default_factory=dict)  # every lane this run knows
    queue: list[Lane] = field(default_factory=list)  # ended, waiting to merge in plan order
    restarts: list[tuple[float, Lane]] = field(default_factory=list)  # lock still held
    held: dict[str, str] = field(default_factory=dict)  # lane -> why not again this run
    spent: float | None = 0.0  # cost of the lanes that ended (None: some unknown)
    failures_in_a_row: int = 0
    launched: int = 0
    halt: tuple[str, int] | None = None
    server: ForkServer | None = None  # what lanes are forked from (None: fresh processes)
    fresh: bool = False  # lanes start as fresh processes: the record said why
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        req = self.preq.run
        self.req, self.cfg, self.ws = req, req.config, req.workspace
        self.plan_rel = plan_in_repo(req.workspace, req.task_path)
        self.base = base_branch(Git(req.workspace))
        self.folders = [runs_dir(req.workspace)]
        self.verify = verifier(req, self.record)
        self.server = self.start_server()

    # -- the fork server lanes start from ------------------------------------------------

    def start_server(self) -> ForkServer | None:
        """The fork server (it imports the SDK while the first lanes are made), the one
        the CLI started if any; without one, lanes start as fresh processes, slower, and
        the record says why."""
        try:
            if self.server is None:
                return start_for(self.cfg.model)
            self.server.preload(preload_for(self.cfg.model))  # the model the config says
            return self.server
        except OSError as e:
            self.without_server(f"the fork server did not start: {e}")
            return None

    def without_server(self, why: str) -> None:
        """From now on lanes start as fresh processes (said once a run)."""
        if self.server is not None:
            self.server.close()
        self.server = None
        if not self.fresh:
            self.fresh = True
            self.record("lane_launcher", how="subprocess", why=why)

    def close_server(self) -> None:
        if self.server is not None:
            self.server.close()

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> tuple[str, int]:
        self.resume()
        while True:
            if self.stop.requested and self.halt is None:
                self.halt = (self.stop.reason, exit_code(self.stop.signum or signal.SIGINT))
                lanes.stop(self.running())
            self.poll()
            self.merge_ready()
            if self.halt is None:
                self.fill()
            if not self.unread() and not self.restarts and not self.queue:
                break
            time.sleep(POLL_S)
        return self.why_stopped()

    @property
    def stopped(self) -> bool:
        """A person or a signal stopped the run: no merge now (the next run does it)."""
        return self.stop.requested

    def running(self) -> list[Lane]:
        return [lane for lane in self.lanes.values() if lane.proc and lane.proc.poll() is None]

    def unread(self) -> list[Lane]:
        """Lanes with a process: running, or ended and not yet read by `poll`."""
        return [lane for lane in self.lanes.values() if lane.proc is not None]

    def busy(self) -> set[str]:
        """Lanes not to start now: with a process, waiting to merge or to start again, or
        held for the rest of the run."""
        ended = {lane.name for lane in self.queue} | {lane.name for _, lane in self.restarts}
        return {lane.name for lane in self.unread()} | ended | set(self.held)

    def why_stopped(self) -> tuple[str, int]:
        failed = any(s.outcome != "done" for s in self.report.steps)
        code = EXIT_FAILED if failed or self.held_errors() else EXIT_OK
        if self.halt is not None:
            return self.halt
        limit = self.req.max_steps
        if limit is not None and self.launched >= limit and not self.held:
            return attempted(self.report.steps), code
        tf = taskfile.load(self.req.task_path, cache=cache_dir(self.ws))
        store = ApprovalStore(self.ws)
        then = tf.what_next(store.status_of)
        kept = list(self.held.values())
        if kept and (then.step is not None or (limit is not None and self.launched >= limit)):
            return f"{len(kept)} step(s) left open this run: " + "; ".join(kept), EXIT_FAILED
        return nothing_left(tf, then, code)

    def held_errors(self) -> bool:
        return any(why.startswith("lane error") for why in self.held.values())

    # -- starting lanes ----------------------------------------------------------------

    def resume(self) -> None:
        """Lanes an earlier run left (a crash, kill -9, a stop): a merged one is removed,
        one whose step is gone or done in the plan is reported and kept; the others are
        picked up by `fill` when their step's turn comes (re-run, or merged if done)."""
        tf = taskfile.load(self.req.task_path, cache=cache_dir(self.ws))
        root = worktrees_dir(self.ws)
        for info_file in sorted(root.glob(f"*/{lanes.LANE_FILES}/lane.json")):
            path = info_file.parents[2]
            lane = Lane(path.name, "", path, self.plan_rel, tf.steps[0], resumed=True)
            info = lane.info()
            if info.get("plan") != self.plan_rel:
                continue
            lane.branch = str(info.get("branch") or "")
            if remove_lane(self.ws, path, self.base):
                self.record("lane_removed", lane=lane.name, branch=lane.branch, why="merged")
                continue
            step = find_step(tf, str(info.get("step") or ""), tuple(info.get("parents") or ()))
            if step is None or step.checked:
                why = "its step is done" if step else "its step is no longer in the plan"
                self.keep(lane, f"{why}; merge or discard branch {lane.branch} by hand")
                continue
            lane.step = step
            self.lanes[lane.name] = lane

    def fill(self) -> None:
        """Start lanes for the independent steps, up to N at once (and --steps N in all)."""
        for when, lane in list(self.restarts):
            if when <= time.monotonic():
                self.restarts.remove((when, lane))
                self.launch(lane, taskfile.load(self.req.task_path))
        limit = self.req.max_steps
        if limit is not None and self.launched >= limit:
            return
        tf = taskfile.load(self.req.task_path, cache=cache_dir(self.ws))
        store = ApprovalStore(self.ws)
        steps = tf.independent_steps(lambda i: store.status_of(i) not in (None, "pending"))
        for step in steps:
            if len(self.unread()) + len(self.restarts) >= self.preq.parallel:
                return
            if limit is not None and self.launched >= limit:
                return
            lane = self.lane_for(step)
            if lane is None or lane.name in self.busy():
                continue
            if lane.info().get("done") or done_in_copy(lane):
                self.launched += 1
                self.record("lane_start", **_lane_fields(lane), resumed=True, done=True)
                self.queue.append(lane)  # done in its lane before the last run stopped
            else:
                self.launch(lane, tf)

    def lane_for(self, step: Step) -> Lane | None:
        name, branch = lane_names(self.plan_rel, step.text)
        for n in range(1, 100):  # two steps with one slug: the second gets -2, ...
            label = name if n == 1 else f"{name}-{n}"
            known = self.lanes.get(label)
            if known is not None and same_step(known.step, step):
                known.step = step
                return known
            path = worktrees_dir(self.ws) / label
            if known is None and not path.exists():
                return self.new_lane(label, branch if n == 1 else f"{branch}-{n}", step)
        return None

    def new_lane(self, name: str, branch: str, step: Step) -> Lane:
        head = Git(self.ws).text("rev-parse", "HEAD").strip()
        path = create_lane(self.ws, name, branch, head)
        trust_like(self.ws, path)
        lane = Lane(name, branch, path, self.plan_rel, step)
        lane.save(base=head)
        self.lanes[name] = lane
        return lane

    def launch(self, lane: Lane, tf: TaskFile) -> None:
        found = find_step(tf, lane.step.text, lane.step.parents)
        if found is None or found.checked:
            self.keep(lane, "its step changed in the plan while the lane waited")
            return
        lane.step = found
        cost, left = self.total_cost(), self.time_left()
        env = lanes.lane_env(
            self.cfg,
            self.req.policy_path,
            lane.name,
            state_dir(self.ws),
            self.ws,
            max_cost=None if self.cfg.max_cost is None else self.cfg.max_cost - (cost or 0.0),
            max_time=left,
        )
        try:
            lanes.start(lane, tf.data, env, self.server)
        except OSError as e:
            if self.server is None:
                raise
            self.without_server(str(e))
            lanes.start(lane, tf.data, env)
        self.launched += 1
        self.record("lane_start", **_lane_fields(lane), resumed=lane.resumed, done=False)

    # -- watching lanes ----------------------------------------------------------------

    def poll(self) -> None:
        for lane in self.unread():
            for event in lanes.read_events(lane, [*self.folders, lane.path / ".ralph" / "runs"]):
                if event.get("event") == "model":
                    fields = {"turn": lane.turn, "tokens": lane.tokens, "cost": lane.cost}
                    self.record("lane_turn", lane=lane.name, **fields)
            if lane.proc is not None and lane.proc.poll() is not None:
                self.ended(lane)
        self.check_budget()

    def ended(self, lane: Lane) -> None:
        proc, lane.proc = lane.proc, None
        assert proc is not None
        if isinstance(proc, Forked) and proc.error is not None:  # the server never forked it
            self.without_server(proc.error)
            self.launched -= 1
            self.launch(lane, taskfile.load(self.req.task_path))
            return
        if proc.returncode == EXIT_LOCKED and lane.resumed and lane.lock_retries < LOCK_RETRIES:
            lane.lock_retries += 1  # its old process (of a killed run) is still ending
            self.restarts.append((time.monotonic() + 0.2, lane))
            self.launched -= 1
            return
        self.queue.append(lane)

    def check_budget(self) -> None:
        cfg = self.cfg
        budget = RunBudget(cfg.max_cost, 0.0, cfg.max_time, self.deadline())
        why = budget.money_spent(self.total_cost() or 0.0) or budget.time_spent()
        if why is not None and self.halt is None:
            self.halt, self.report.end = (why, EXIT_FAILED), "budget"
            self.record("halt", why=why)
            lanes.stop(self.running())

    def total_cost(self) -> float | None:
        """The run's cost so far: the lanes taken (merged or noted), plus the steps of the
        lanes that run or wait their turn (from their records)."""
        costs = [self.spent] + [lane.cost for lane in self.unread() + self.queue]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    def deadline(self) -> float | None:
        max_time = self.cfg.max_time
        return None if max_time is None else self.started + max_time

    def time_left(self) -> float | None:
        deadline = self.deadline()
        return None if deadline is None else deadline - time.monotonic()

    # -- merging back, in plan order -----------------------------------------------------

    def merge_ready(self) -> None:
        """Take the ended lanes in plan order: each only once every lane of an earlier
        step has ended and been taken (a later lane that ends first waits)."""
        while self.queue:
            tf = taskfile.load(self.req.task_path, cache=cache_dir(self.ws))
            waiting = self.unread() + [lane for _, lane in self.restarts] + self.queue
            first = min(waiting, key=lambda lane: _line(tf, lane))
            if first not in self.queue:
                return
            self.queue.remove(first)
            self.take(first, tf)

    def take(self, lane: Lane, tf: TaskFile) -> None:
        step = find_step(tf, lane.step.text, lane.step.parents)
        if step is None or step.checked:
            self.keep(lane, "its step changed in the plan while the lane ran")
            return
        rep = step_report(lane)
        if rep is None:
            why = f"lane error: {lane.name} ended without a result ({lane.log_tail()})"
            self.record("lane_end", lane=lane.name, outcome="error", summary=why)
            self.keep(lane, why)
            self.failed()
            return
        if self.spent is not None:
            self.spent = None if rep.cost_usd is None else self.spent + rep.cost_usd
        if rep.outcome == "done":
            lane.save(done=True)
            if self.stopped:  # a person asked to stop: no merge (nor its verify) now
                self.keep(lane, f"line {step.line}: done in its lane; the next run merges it")
            else:
                self.merge(lane, step, rep)
        else:
            kept = f"its work is kept in {_rel(self.ws, lane.path)} (branch {lane.branch})"
            write_note(self.req.task_path, step, rep, self.cfg.max_attempts, extra=kept)
            if rep.outcome in ("failed", "blocked"):
                self.failed()
            elif rep.outcome != "deferred":
                self.held[lane.name] = f"line {step.line}: {rep.outcome.replace('_', ' ')}"
        self.report.steps.append(rep)
        self.record("lane_end", lane=lane.name, **vars(rep))

    def merge(self, lane: Lane, step: Step, rep: StepReport) -> None:
        from ralph.lanes.merge import commit_lane, merge_lane

        commit_lane(lane.path, self.plan_rel, f"ralph: {step.text}")
        result = merge_lane(
            self.ws,
            base=self.base,
            branch=lane.branch,
            plan_rel=self.plan_rel,
            message=f"ralph: merge {lane.branch} ({step.text})",
            how=self.preq.merge,
            verify=self.verify(step),
            publish=self.publisher(step) if self.preq.merge == "pr" else None,
        )
        self.record("merge", lane=lane.name, **vars(result))
        if result.outcome in _MERGED:
            write_note(self.req.task_path, step, rep, self.cfg.max_attempts, extra=result.detail)
            self.failures_in_a_row = 0
            if result.outcome != "pushed" and remove_lane(self.ws, lane.path, self.base):
                self.record("lane_removed", lane=lane.name, branch=lane.branch, why="merged")
            return
        if result.outcome == "awaiting_approval" and result.approval_id:
            self.awaits(lane, step, rep, result.approval_id, result.detail)
            return
        detail = f"kept on branch {lane.branch}: {result.detail}"
        write_note(
            self.req.task_path, step, rep, self.cfg.max_attempts, outcome="failed", extra=detail
        )
        rep.outcome, rep.summary = "failed", f"{rep.summary} · {detail}"
        self.held[lane.name] = f"line {step.line}: {detail}"
        self.failed()

    def awaits(self, lane: Lane, step: Step, rep: StepReport, approval: str, why: str) -> None:
        """`--merge pr`: the push or `gh pr create` waits for a person. The step is noted
        `awaiting approval ID` (it holds the steps after it); the next run merges again."""
        rep.outcome, rep.approval_ids = "awaiting_approval", [*rep.approval_ids, approval]
        extra = why.removeprefix(f"awaiting approval {approval}: ")
        write_note(self.req.task_path, step, rep, self.cfg.max_attempts, extra=extra)
        rep.summary = f"{rep.summary} · {why}"
        self.held[lane.name] = f"line {step.line}: awaiting approval {approval}"

    def publisher(self, step: Step) -> Any:
        """What `--merge pr` needs: the guard (unattended) that reviews push and gh."""
        from ralph.guard.gate import Guard
        from ralph.lanes.merge import Publisher

        guard = Guard(
            self.req.policy_path,
            self.ws,
            "unattended",
            step=step.text,
            log=lambda event: self.record("decision", **event),
        )
        return Publisher(guard, title=f"ralph: {step.text}")

    def failed(self) -> None:
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= self.cfg.max_failures and self.halt is None:
            self.halt = (f"{self.failures_in_a_row} failed attempts in a row", EXIT_FAILED)
            self.record("halt", why=self.halt[0])
            lanes.stop(self.running())

    def keep(self, lane: Lane, why: str) -> None:
        """Leave the lane as it is (never removed unmerged) and say so."""
        self.held[lane.name] = why
        self.lanes.setdefault(lane.name, lane)
        self.record("lane_kept", lane=lane.name, branch=lane.branch, why=why)


def _lane_fields(lane: Lane) -> dict[str, Any]:
    return {
        "lane": lane.name,
        "line": lane.step.line,
        "text": lane.step.text,
        "branch": lane.branch,
        "worktree": str(lane.path),
    }


def _line(tf: TaskFile, lane: Lane) -> int:
    found = find_step(tf, lane.step.text, lane.step.parents)
    return found.line if found is not None else 0


def _rel(workspace: Path, path: Path) -> str:
    try:
        return path.relative_to(workspace).as_posix()
    except ValueError:
        return str(path)
