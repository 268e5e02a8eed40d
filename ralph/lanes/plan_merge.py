"""`ralph merge PLAN`: merge a plan's lane branches back in plan order (the CI finish job).

A lane branch (`ralph/<plan>/<step-slug>`, see `ralph.worktrees.lane_names`) holds one
step's work and, in its copy of the plan, that step's outcome (box and note), as a CI
lane job committed it. For each lane, in plan order, under the plan's run lock:

1. the outcome is read from the branch's copy of the plan (`git cat-file`, parsed with
   `ralph.taskfile`, the step found by text and depth);
2. a step the lane did not finish (failed, blocked, awaiting approval, interrupted) gets
   that note in the base's plan; its branch is not merged;
3. a done step's branch is merged with `merge_lane` (the lane's plan never merged), its
   verify run again on the merged result; merged: the box and the lane's note go into
   the base's plan; a conflict or a failed verify: the base is restored, the step stays
   open with a note naming the kept branch (a failed attempt, as `ralph run --parallel`
   counts it);
4. the plan is committed.

Sibling steps on adjacent lines never conflict: only the base's plan is ever edited, one
byte-exact edit per lane (`ralph.taskfile.record_outcome`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ralph import taskfile
from ralph.errors import TaskFileError, UsageError
from ralph.git import Git
from ralph.lanes.merge import Verify, merge_lane
from ralph.lock import run_lock
from ralph.taskfile import Step


@dataclass(frozen=True)
class LaneMerge:
    """What became of one lane."""

    line: int
    step: str
    branch: str
    outcome: str
    """merged | conflict | verify_failed (done in the lane, not merged back) | failed |
    blocked | awaiting_approval | interrupted (the lane's own outcome, carried over) |
    no_outcome (the lane's plan records nothing for the step)"""
    detail: str
    sha: str | None = None
    """The base's tip after the merge (and the plan's commit), when merged."""

    @property
    def merged(self) -> bool:
        return self.outcome == "merged"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def merge_plan(
    workspace: Path,
    plan: Path,
    *,
    base: str,
    branches: Sequence[str] = (),
    how: str = "merge",
    verify_for: Callable[[Step], Verify | None] = lambda step: None,
    max_attempts: int = taskfile.MAX_ATTEMPTS,
) -> list[LaneMerge]:
    """Merge the lanes of `plan`'s open steps (or just `branches`), in plan order."""
    if how not in ("ff", "merge"):
        raise UsageError(f"ralph merge: --merge {how} is not one of: ff, merge")
    try:
        plan_rel = plan.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        raise UsageError(f"the plan {plan} is not inside the repository {workspace}") from None
    with run_lock(plan, workspace):
        tf = taskfile.load(plan)
        lanes = lane_branches(Git(workspace), tf, plan_rel, branches)
        merger = _Merger(workspace, plan, plan_rel, base, how, verify_for, max_attempts)
        return [merger.one(step, branch) for step, branch in lanes]


def lane_branches(
    git: Git, tf: taskfile.TaskFile, plan_rel: str, wanted: Sequence[str] = ()
) -> list[tuple[Step, str]]:
    """(open step, its lane branch) in plan order: every lane branch that exists, or the
    `wanted` ones (UsageError for one that is no open step's lane)."""
    from ralph.worktrees import lane_names

    lanes: dict[str, Step] = {}
    for step in tf.steps:
        branch = lane_names(plan_rel, step.text)[1]
        if not step.checked and branch not in lanes:
            lanes[branch] = step
    for branch in wanted:
        if branch not in lanes:
            raise UsageError(
                f"{branch} is not the lane branch of an open step of {tf.name} "
                "(lane branches are ralph/<plan>/<step-slug>; see `ralph matrix`)"
            )
    chosen = [b for b in lanes if b in wanted] if wanted else [b for b in lanes if _exists(git, b)]
    for branch in chosen:
        if not _exists(git, branch):
            raise UsageError(f"no branch {branch!r} in {git.workspace}")
    return [(lanes[b], b) for b in chosen]


@dataclass
class _Merger:
    workspace: Path
    plan: Path
    plan_rel: str
    base: str
    how: str
    verify_for: Callable[[Step], Verify | None]
    max_attempts: int

    def one(self, step: Step, branch: str) -> LaneMerge:
        recorded = self.lane_outcome(step, branch)
        if isinstance(recorded, str):
            return LaneMerge(step.line, step.text, branch, "no_outcome", recorded)
        outcome, details, approval = recorded
        if outcome != "done":
            self.write(step, outcome, details, approval, f"{outcome}: {step.text}")
            why = f"the lane's step is {outcome.replace('_', ' ')}: not merged, branch kept"
            return LaneMerge(step.line, step.text, branch, outcome, why)
        result = merge_lane(
            self.workspace,
            base=self.base,
            branch=branch,
            plan_rel=self.plan_rel,
            message=f"ralph: merge {branch} ({taskfile.one_line(step.text, 60)})",
            how=self.how,
            verify=self.verify_for(step),
        )
        if result.merged:
            sha = self.write(step, "done", details, None, f"done: {step.text}")
            return LaneMerge(step.line, step.text, branch, "merged", result.detail, sha)
        why = f"kept on branch {branch}: {result.detail}"
        note = why + (taskfile.NOTE_SEP + details if details else "")
        self.write(step, "failed", note, None, f"kept {branch}: {step.text}")
        return LaneMerge(step.line, step.text, branch, result.outcome, result.detail)

    def lane_outcome(
        self, step: Step, branch: str
    ) -> tuple[taskfile.Outcome, str | None, str | None] | str:
        """What the lane's copy of the plan records for `step`, or why there is nothing."""
        git = Git(self.workspace)
        shown = git.run("cat-file", "blob", f"refs/heads/{branch}:{self.plan_rel}", check=False)
        if shown.returncode:
            return f"{branch} has no {self.plan_rel}; branch kept"
        try:
            lane_tf = taskfile.parse(shown.stdout, f"{branch}:{self.plan_rel}")
        except TaskFileError as e:
            return f"the lane's plan does not parse ({e}); branch kept"
        lane_step = lane_tf.locate(step)
        recorded = taskfile.note_outcome(lane_step) if lane_step is not None else None
        if recorded is None:
            return "the lane's plan records no outcome for the step; branch kept"
        return recorded

    def write(
        self,
        step: Step,
        outcome: taskfile.Outcome,
        details: str | None,
        approval: str | None,
        what: str,
    ) -> str | None:
        """Record the outcome in the base's plan and commit it; the new tip (None if the
        plan is not tracked, so not committed)."""
        taskfile.record_outcome(
            self.plan, step, outcome, details, max_attempts=self.max_attempts, approval_id=approval
        )
        git = Git(self.workspace)
        path = f":(literal){self.plan_rel}"
        if git.run("ls-files", "--error-unmatch", "--", path, check=False).returncode:
            return None
        if git.run(
            "diff", "--quiet", "--no-ext-diff", "--no-textconv", "HEAD", "--", path, check=False
        ).returncode:
            message = f"ralph: {self.plan_rel}: {taskfile.one_line(what, 60)}"
            git.run("commit", "--quiet", "--no-verify", "-m", message, "--", path)
        return git.text("rev-parse", "HEAD").strip()


def _exists(git: Git, branch: str) -> bool:
    ref = f"refs/heads/{branch}"
    return git.run("rev-parse", "--verify", "--quiet", ref, check=False).returncode == 0
