"""The approvals store: one JSON file per approval under `.ralph/approvals/`.

An approval is for one exact tool call (the whole call dict, compared for equality, never
as a prefix). Unattended runs record refused calls as `pending`; a person approves or
rejects them (`ralph approvals approve|reject ID`); an approved call runs once when the
model makes it again (`used`). "Always" answers from interactive mode are stored approved
and stay approved when used. Every write is atomic and made under a lock on the folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock

from ralph.errors import UsageError
from ralph.fsutil import atomic_write_text
from ralph.workspace import approvals_dir

Status = Literal["pending", "approved", "rejected", "used"]
_ID = re.compile(r"^[0-9a-f]{8}$")


@dataclass(frozen=True)
class Approval:
    """A person's say on one exact tool call."""

    id: str
    step: str | None
    """The task-file step the call was made for, as text."""
    call: dict[str, Any]
    """The exact call: {"tool": name, **arguments}."""
    rule: str | None
    reason: str
    created: str
    """ISO 8601 UTC."""
    status: Status
    decided_at: str | None = None
    used_at: str | None = None
    always: bool = False
    """Reusable: stays approved when used (interactive "always")."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class ApprovalStore:
    """Approvals of one workspace."""

    def __init__(self, workspace: Path) -> None:
        self.folder = approvals_dir(Path(workspace))

    # -- reading -------------------------------------------------------------------------

    def list(self) -> list[Approval]:
        """Every readable approval, oldest first. Unreadable files are skipped (never approved)."""
        if not self.folder.is_dir():
            return []
        found = [a for p in self.folder.glob("*.json") if (a := _read(p)) is not None]
        return sorted(found, key=lambda a: (a.created, a.id))

    def get(self, approval_id: str) -> Approval:
        """The approval with this id; UsageError if there is none."""
        key = approval_id.strip().lower()
        approval = _read(self.folder / f"{key}.json") if _ID.match(key) else None
        if approval is None:
            raise UsageError(f"no approval {approval_id!r}; `ralph approvals` lists them")
        return approval

    def find(self, call: dict[str, Any], *statuses: Status) -> Approval | None:
        """The oldest approval of exactly this call with one of these statuses."""
        key = _canonical(call)
        return next(
            (a for a in self.list() if a.status in statuses and _canonical(a.call) == key), None
        )

    def find_approved(self, call: dict[str, Any]) -> Approval | None:
        """An approved approval of exactly this call (equality, never prefix), or None."""
        return self.find(call, "approved")

    # -- writing -------------------------------------------------------------------------

    def add_pending(
        self, call: dict[str, Any], rule: str | None, reason: str, step: str | None = None
    ) -> Approval:
        """Record a refused call for a person to decide; reuse a pending/approved one."""
        with self._locked():
            existing = self.find(call, "pending", "approved")
            return existing or self._add(call, rule, reason, step, "pending")

    def add_always(
        self, call: dict[str, Any], rule: str | None, reason: str, step: str | None = None
    ) -> Approval:
        """Record an "always" answer: this exact call is approved and stays approved."""
        with self._locked():
            existing = self.find(call, "approved")
            if existing is not None and existing.always:
                return existing
            return self._add(call, rule, reason, step, "approved", always=True)

    def approve(self, approval_id: str) -> Approval:
        """Approve a pending (or earlier rejected) call; it runs once when next made."""
        return self._decide(approval_id, "approved", ("pending", "rejected"))

    def reject(self, approval_id: str) -> Approval:
        """Reject a pending (or approved, not yet used) call."""
        return self._decide(approval_id, "rejected", ("pending", "approved"))

    def mark_used(self, approval_id: str) -> Approval:
        """Record that the approved call ran: `used`, or still approved if it is an "always"."""
        with self._locked():
            approval = self.get(approval_id)
            if approval.status != "approved":
                raise UsageError(f"approval {approval.id} is {approval.status}, not approved")
            status: Status = "approved" if approval.always else "used"
            return self._write(dataclasses.replace(approval, status=status, used_at=_now()))

    def _decide(self, approval_id: str, status: Status, allowed_from: tuple[str, ...]) -> Approval:
        with self._locked():
            approval = self.get(approval_id)
            if approval.status == status:
                return approval
            if approval.status not in allowed_from:
                raise UsageError(f"approval {approval.id} is already {approval.status}")
            return self._write(dataclasses.replace(approval, status=status, decided_at=_now()))

    def _add(
        self,
        call: dict[str, Any],
        rule: str | None,
        reason: str,
        step: str | None,
        status: Status,
        *,
        always: bool = False,
    ) -> Approval:
        approval_id = secrets.token_hex(4)
        while (self.folder / f"{approval_id}.json").exists():
            approval_id = secrets.token_hex(4)
        decided = _now() if status == "approved" else None
        approval = Approval(
            approval_id, step, call, rule, reason, _now(), status, decided, always=always
        )
        return self._write(approval)

    def _write(self, approval: Approval) -> Approval:
        text = json.dumps(approval.to_dict(), indent=2, ensure_ascii=False) + "\n"
        atomic_write_text(self.folder / f"{approval.id}.json", text)
        return approval

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(self.folder / ".lock", timeout=30):
            yield


def describe_call(call: dict[str, Any], newline: str = "\\n") -> str:
    """A person's view of an exact call: the command, or the tool and path with content sizes.
    Control characters are escaped so a command cannot hide itself (ANSI codes, \\r)."""
    if call.get("tool") == "run_command":
        return printable(str(call.get("command", "")), newline)
    rest = [f"{k}: {len(str(v))} chars" for k, v in call.items() if k not in ("tool", "path")]
    path = f" {call['path']}" if "path" in call else ""
    text = f"{call.get('tool')}{path}" + (f" ({', '.join(rest)})" if rest else "")
    return printable(text, newline)


def printable(text: str, newline: str = "\\n") -> str:
    """`text` with control characters escaped (`\\x1b`); newlines become `newline`."""
    out = []
    for c in text:
        if c == "\n":
            out.append(newline)
        elif c.isprintable() or c == "\t":
            out.append(c)
        else:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
    return "".join(out)


def _read(path: Path) -> Approval | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        approval = Approval(**data)
    except (OSError, ValueError, TypeError):
        return None
    valid = approval.status in ("pending", "approved", "rejected", "used")
    return (
        approval if valid and approval.id == path.stem and isinstance(approval.call, dict) else None
    )


def _canonical(call: Any) -> str:
    """Exact comparison of calls: 1 and 1.0, or "a" and ["a"], are different calls."""
    return json.dumps(call, sort_keys=True, ensure_ascii=False)
