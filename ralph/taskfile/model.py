"""The task file's data model: steps, warnings, and the parsed file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ralph.errors import TaskFileError

if TYPE_CHECKING:
    from collections.abc import Mapping

from ralph.taskfile.lines import _eol

State = Literal["todo", "done", "failed", "blocked", "awaiting_approval"]


Outcome = Literal["done", "failed", "blocked", "awaiting_approval", "interrupted"]


OUTCOMES: tuple[str, ...] = ("done", "failed", "blocked", "awaiting_approval", "interrupted")


BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """Something in the file that looks like a step but is not one (never run)."""

    line: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class Step:
    """One checklist step and the context a model session needs to work on it.

    Read-only by convention (parses are cached and shared): use `dataclasses.replace`.
    Not frozen because frozen dataclasses cost 4x more to build, which shows at 100k steps.
    """

    line: int  # 1-based line of the box
    checked: bool
    text: str  # the first paragraph after the box, as written
    depth: int  # list items enclosing the step, steps or not
    state: State
    attempts: int  # failed attempts so far, read from ralph's note
    note: str | None  # ralph's note without the "ralph: " prefix
    approval_id: str | None  # set while awaiting approval
    headings: tuple[str, ...]  # heading path above the step, outermost first
    parents: tuple[str, ...]  # texts of the enclosing steps, outermost first
    hints: tuple[str, ...]  # non-step sub-bullets (acceptance criteria, hints)
    settings: Mapping[str, str]  # `key: value` sub-bullets, backticks stripped
    verify: tuple[str, ...]  # every `verify:` command, in order
    details: tuple[str, ...]  # other blocks inside the step (paragraphs, code), dedented
    index: int  # position in TaskFile.steps
    parent: int | None  # index of the enclosing step
    children: tuple[int, ...]  # indices of the direct sub-steps
    column: int = field(repr=False)  # 0-based offset of "[" in the line (BOM excluded)
    note_line: int | None = field(default=None, repr=False)  # 1-based first line of the note
    note_end: int = field(default=0, repr=False)  # 0-based end (exclusive) of the note's lines
    note_at: int = field(default=0, repr=False)  # 0-based line index where a new note goes
    note_indent: str = field(default="", repr=False)
    # Other places for a new note, tried in order when the first would change the plan:
    # (0-based line index, indent) after each later block of the step (e.g. indented code
    # after a blank line, which a note right under the box would pull into itself).
    note_alts: tuple[tuple[int, str], ...] = field(default=(), repr=False)

    @property
    def runnable(self) -> bool:
        """Open, and not waiting for a person (blocked or awaiting approval)."""
        return not self.checked and self.state not in ("blocked", "awaiting_approval")

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape of a step (`ralph status --json`)."""
        return {
            "line": self.line,
            "checked": self.checked,
            "state": self.state,
            "text": self.text,
            "depth": self.depth,
            "attempts": self.attempts,
            "note": self.note,
        }

    def context(self) -> dict[str, Any]:
        """Everything around the step a model session should see (`ralph next --json`)."""
        return {
            "headings": list(self.headings),
            "parents": list(self.parents),
            "hints": list(self.hints),
            "settings": dict(self.settings),
            "verify": list(self.verify),
            "details": list(self.details),
            "note": self.note,
        }


@dataclass(frozen=True)
class Next:
    """What a run takes next (`TaskFile.what_next`): a step, or none and why."""

    step: Step | None
    waiting: Step | None = None
    """The step awaiting a pending approval that holds the rest of the plan."""
    missing: bool = False
    """The approval `waiting` awaits is not in the approvals store (a fresh machine?)."""

    @property
    def waiting_reason(self) -> str:
        """What the step holding the plan waits for, and what to do about it."""
        step = self.waiting
        if step is None:
            return ""
        if self.missing:
            return (
                f"line {step.line} waits for approval {step.approval_id}, which is not in this "
                "machine's approvals (a fresh CI runner?): keep ralph's state between runs with "
                "--state-dir DIR or RALPH_STATE_DIR (e.g. in a CI cache), or delete the step's "
                "`- ralph:` note to retry it"
            )
        return (
            f"line {step.line} waits for approval {step.approval_id} and holds the steps after "
            f"it: `ralph approvals approve {step.approval_id}` (or run with --skip-waiting)"
        )


PARALLEL_YES = frozenset({"yes", "true", "on"})
"""Values of a step's `parallel:` setting that make its sub-steps independent."""


@dataclass(frozen=True, eq=False)
class TaskFile:
    """A parsed task file: its steps, warnings, and the exact bytes they came from."""

    name: str  # the path as the user gave it
    title: str  # the first level-1 heading, else the file name
    steps: tuple[Step, ...]
    warnings: tuple[ParseWarning, ...]
    front_matter: str | None
    data: bytes = field(repr=False)
    sha256: str = field(repr=False)
    lines: tuple[str, ...] = field(repr=False)  # BOM-less text split with EOLs kept
    bom: bool = field(repr=False)
    # Where parsing can start afresh, sorted: 2 * (0-based line) + kind, kind 0 for a
    # top-level block, 1 for a top-level list item that continues its list (`block`).
    cuts: tuple[int, ...] = field(default=(), repr=False)
    heading_title: str | None = field(default=None, repr=False)  # the first `# ` heading

    def what_next(
        self, status: Callable[[str], str | None] | None = None, *, skip_waiting: bool = False
    ) -> Next:
        """What a run takes next: the first open leaf in document order that is not blocked.

        A plan is ordered: a step awaiting an approval that is still pending holds every
        step after it (`skip_waiting=True` passes over it instead). `status(approval_id)`
        is the approval's status ("pending", "approved", "rejected", "used") or None when
        there is no such approval; without it every awaited approval counts as pending. A
        step whose approval was decided is tried again. `status`, `next` and `run` all ask
        this one function, so they cannot disagree.
        """
        steps = self.steps
        for s in steps:
            if s.checked or s.state == "blocked":
                continue
            if s.state == "awaiting_approval":
                found = status(s.approval_id) if status and s.approval_id else "pending"
                if found in (None, "pending"):
                    if skip_waiting:
                        continue
                    return Next(None, waiting=s, missing=found is None)
            if all(steps[c].checked for c in s.children):
                return Next(s)
        return Next(None)

    def next_step(
        self, decided: Callable[[str], bool] | None = None, *, skip_waiting: bool = False
    ) -> Step | None:
        """`what_next().step`, with `decided(approval_id)` telling whether a person has
        approved or rejected the approval a step waits for."""
        status = None if decided is None else (lambda i: "approved" if decided(i) else "pending")
        return self.what_next(status, skip_waiting=skip_waiting).step

    def find_step(self, spec: str) -> Step:
        """The open step `--step SPEC` names: the line of its box, or its text (exactly, else
        one step containing it). TaskFileError saying what to fix when there is none."""
        spec = spec.strip()
        if spec.isdigit():
            found = [s for s in self.steps if s.line == int(spec)]
            what = f"line {spec}"
        else:
            found = [s for s in self.steps if s.text == spec] or [
                s for s in self.steps if spec.lower() in s.text.lower()
            ]
            what = repr(spec)
        if not found:
            raise TaskFileError(f"{self.name}: no step at {what}; see `ralph status {self.name}`")
        if len(found) > 1:
            lines = ", ".join(str(s.line) for s in found[:5])
            raise TaskFileError(
                f"{self.name}: {what} names {len(found)} steps (lines {lines}); give the line"
            )
        step = found[0]
        if step.checked:
            raise TaskFileError(f"{self.name}: the step at line {step.line} is already done")
        if any(not self.steps[c].checked for c in step.children):
            raise TaskFileError(
                f"{self.name}: the step at line {step.line} has open sub-steps; name one of them"
            )
        return step

    def stuck(self) -> list[Step]:
        """Open steps a run does not take by itself: blocked, or awaiting approval (not the
        open parents above them, which only wait for them)."""
        return [s for s in self.steps if s.state in ("blocked", "awaiting_approval")]

    def independent_steps(self, decided: Callable[[str], bool] | None = None) -> list[Step]:
        """The open steps that may run at the same time, in plan order: the next step and,
        when its parent step says `parallel: yes`, the parent's other open sub-steps that are
        ready too (a waiting one once `decided(approval_id)`). Without that setting, just the
        next step (a plan is ordered)."""
        first = self.next_step(decided)
        if first is None:
            return []
        parent = self.steps[first.parent] if first.parent is not None else None
        if parent is None or parent.settings.get("parallel", "").lower() not in PARALLEL_YES:
            return [first]
        steps = self.steps

        def ready(s: Step) -> bool:  # a step whose approval was decided is tried again
            again = s.state == "awaiting_approval" and decided and s.approval_id
            return s.runnable or bool(again and decided(s.approval_id))

        return [
            steps[c]
            for c in parent.children
            if ready(steps[c]) and all(steps[g].checked for g in steps[c].children)
        ]

    def locate(self, step: Step) -> Step | None:
        """Find `step` (from an earlier read) here: same text and depth, nearest its old line."""
        same = [s for s in self.steps if s.text == step.text and s.depth == step.depth]
        if not same:
            return None
        return min(same, key=lambda s: (s.parents != step.parents, abs(s.line - step.line)))

    def counts(self) -> dict[str, int]:
        """How many steps are in each state."""
        return dict(Counter(s.state for s in self.steps))

    def to_json(self, *, with_context: bool = False, then: Next | None = None) -> dict[str, Any]:
        """The public JSON shape of `ralph status --json` (and `ralph next --json`); `then`
        is `what_next()` with the approvals known (default: without them)."""
        then = then or self.what_next()
        nxt = then.step
        out: dict[str, Any] = {
            "file": self.name,
            "steps": [s.to_json() for s in self.steps],
            "next": nxt.to_json() if nxt else None,
            "warnings": [str(w) for w in self.warnings],
        }
        if then.waiting is not None:
            out["waiting"] = then.waiting.to_json() | {
                "approval_id": then.waiting.approval_id,
                "approval_missing": then.missing,
            }
        if with_context:
            out["context"] = nxt.context() if nxt else None
        return out

    @property
    def eol(self) -> str:
        """The file's most common line ending ("\\n" when it has none)."""
        counts = Counter(_eol(line) for line in self.lines[:1000])
        counts.pop("", None)
        return counts.most_common(1)[0][0] if counts else "\n"
