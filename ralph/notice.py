"""What a notification says, and whether it is news.

`compose()` turns a run's summary (the `ralph run --json` object) into the notification:
the same keys plus a title line, a one-line summary, the text form, and each pending
approval with its call (shortened, redacted) and the exact command that approves it. The
fields are documented in the README ("Notifications"); `SCHEMA` numbers that layout.

`is_news()` and `remember()` keep a cron tick from saying again what was already said:
the last notification sent for each task file is kept in `.ralph/notified/`, and a run
that took no step and ends the way the last notification said (same end, exit code and
pending approvals) is not news. A run that took no step and did not fail is never news.
"""

from __future__ import annotations

import contextlib
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ralph import humanize
from ralph.errors import RalphError
from ralph.fsutil import atomic_write_text, read_json_object
from ralph.guard.approvals import Approval, ApprovalStore, describe_call
from ralph.humanize import duration, money, tally
from ralph.redact import redact
from ralph.taskfile import one_line
from ralph.workspace import (
    cache_dir,
    chosen_state_dir,
    keep_out_of_git,
    notified_dir,
    plan_key,
    state_dir,
)

SCHEMA = 1
"""The notification layout's version: raised when a key changes meaning or goes away."""
_CALL_CHARS = 160
_WHY_CHARS = 240
_HEADLINES = {
    "awaiting_approval": "waiting for approval",
    "failed": "failed",
    "budget": "budget spent",
    "provider_error": "provider error",
    "interrupted": "interrupted",
    "error": "error",
    "crashed": "crashed",
}


def compose(summary: dict[str, Any], workspace: Path, task_path: Path) -> dict[str, Any]:
    """The notification for a run: `summary` (kept whole) plus the fields people read."""
    pending = pending_approvals(workspace, task_path, summary)
    steps = summary.get("steps", [])
    note = dict(summary)
    note["schema"] = SCHEMA
    note["workspace"] = str(workspace)
    note["steps_done"] = sum(s["outcome"] == "done" for s in steps)
    note["steps_failed"] = sum(s["outcome"] in ("failed", "blocked") for s in steps)
    note["approvals"] = [_approval(a, line, workspace) for a, line in pending]
    note["title"] = f"ralph: {_shown(task_path, workspace)} — {_headline(note)}"
    note["summary"] = _summary_line(note)
    note["text"] = "\n".join([note["title"], note["summary"], *_approval_lines(note)]) + "\n"
    return note


def pending_approvals(
    workspace: Path, task_path: Path, summary: dict[str, Any]
) -> list[tuple[Approval, int | None]]:
    """The still-pending approvals this run asked for or the task file waits on, with the
    line of the step that waits (None when unknown), oldest first."""
    from ralph import taskfile

    lines: dict[str, int | None] = {}
    for step in summary.get("steps", []):
        for approval_id in step.get("approval_ids", []):
            lines[approval_id] = step.get("line")
    with contextlib.suppress(RalphError, OSError):  # being edited? this run's ids only
        for step in taskfile.load(task_path, cache=cache_dir(workspace)).steps:
            if step.state == "awaiting_approval" and step.approval_id:
                lines[step.approval_id] = step.line
    store = ApprovalStore(workspace)
    found = []
    for approval_id, line in lines.items():
        if store.status_of(approval_id) != "pending":
            continue
        with contextlib.suppress(RalphError):  # one that is not valid never runs: not shown
            found.append((store.get(approval_id), line))
    return sorted(found, key=lambda pair: (pair[0].created, pair[0].id))


def approve_command(approval_id: str, workspace: Path) -> str:
    """The command that approves `approval_id`, from any folder (with `--state-dir` when
    the state is not in the workspace's `.ralph/`)."""
    command = f"ralph approvals approve {approval_id} --workspace {shlex.quote(str(workspace))}"
    chosen = chosen_state_dir()
    return command if chosen is None else f"{command} --state-dir {shlex.quote(str(chosen))}"


def is_news(note: dict[str, Any], workspace: Path, task_path: Path) -> bool:
    """Whether `note` tells a person something the last one sent for this task file did not."""
    took_steps = any(s["outcome"] != "deferred" for s in note.get("steps", []))
    if took_steps:
        return True
    if note.get("exit_code") == 0:
        return False  # nothing done, nothing wrong
    return _last_sent(workspace, task_path) != _fingerprint(note)


def remember(note: dict[str, Any], workspace: Path, task_path: Path) -> None:
    """Record `note` as the last one sent for this task file (atomically)."""
    folder = notified_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    keep_out_of_git(state_dir(workspace))
    sent = _fingerprint(note) | {
        "run_id": note.get("run_id"),
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(_memory(workspace, task_path), json.dumps(sent) + "\n", durable=False)


def _fingerprint(note: dict[str, Any]) -> dict[str, Any]:
    """What makes two ends the same news: how it ended and which approvals wait."""
    return {
        "schema": SCHEMA,
        "end": note.get("end"),
        "exit_code": note.get("exit_code"),
        "approvals": sorted(a["id"] for a in note.get("approvals", [])),
    }


def _last_sent(workspace: Path, task_path: Path) -> dict[str, Any] | None:
    sent = read_json_object(_memory(workspace, task_path))
    if sent is None:
        return None  # never sent, or unreadable: then it is news
    return {k: sent.get(k) for k in ("schema", "end", "exit_code", "approvals")}


def _memory(workspace: Path, task_path: Path) -> Path:
    return notified_dir(workspace) / f"{plan_key(task_path)}.json"


def _headline(note: dict[str, Any]) -> str:
    end = note.get("end") or "failed"
    if end == "done":
        done = note["steps_done"]
        return f"{humanize.steps(done)} done" if done else "done"
    return _HEADLINES.get(end, end.replace("_", " "))


def _summary_line(note: dict[str, Any]) -> str:
    """`2 steps: 1 done, 1 failed · $0.12 · 4m05s · stopped: why`."""
    steps = note.get("steps", [])
    counts = tally([s["outcome"] for s in steps])
    taken = f"{humanize.steps(len(steps))}: {counts}" if steps else "no step taken"
    parts = [taken, money(note.get("cost_usd")), duration(note.get("seconds") or 0.0)]
    why = one_line(redact(str(note.get("stopped") or "")), _WHY_CHARS)
    if why:
        parts.append(f"stopped: {why}")
    return " · ".join(parts)


def _approval(approval: Approval, line: int | None, workspace: Path) -> dict[str, Any]:
    call = approval.call
    shown = describe_call(call, newline=" ")
    if call.get("tool") == "run_command":
        shown = f"run_command: {shown}"
    return {
        "id": approval.id,
        "line": line,
        "step": one_line(redact(approval.step or ""), _CALL_CHARS),
        "tool": str(call.get("tool")),
        "call": one_line(redact(shown), _CALL_CHARS),
        "rule": approval.rule,
        "reason": one_line(redact(approval.reason), _CALL_CHARS),
        "approve": approve_command(approval.id, workspace),
    }


def _approval_lines(note: dict[str, Any]) -> list[str]:
    lines = []
    for a in note["approvals"]:
        where = f" (line {a['line']})" if a["line"] is not None else ""
        lines.append(f"approval {a['id']}{where}: {a['call']}")
        lines.append(f"  approve: {a['approve']}")
    return lines


def _shown(task_path: Path, workspace: Path) -> str:
    """The task file as the person knows it: relative to the workspace when inside it."""
    with contextlib.suppress(ValueError):
        return str(task_path.absolute().relative_to(workspace.absolute()))
    return str(task_path)
