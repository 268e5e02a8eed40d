"""The approvals store: one signed JSON file per approval under `.ralph/approvals/`.

An approval is for one exact tool call (the whole call dict, compared for equality, never
as a prefix) and for what the guard resolved it to when the person saw it: the rule and
the target paths. Unattended runs record refused calls as `pending`; a person approves or
rejects them (`ralph approvals approve|reject ID`); an approved call runs once when the
model makes it again (`used`). "Always" answers from interactive mode are stored approved
and stay approved when used. Used approvals older than `RETENTION_DAYS` are moved to
`.ralph/approvals-archive.jsonl`.

Every record carries a MAC keyed with the per-user secret (`ralph.integrity`) and bound to
the workspace. A lane of `ralph run --parallel` (a worktree under `<state>/worktrees/`)
keeps its approvals as the main checkout's (`workspace.lane_home`): signed for the main
checkout, with the targets in the lane's worktree written as the same paths in the main
checkout, so a person lists and approves them there, and an approval binds a call in a
lane only when it is the same exact call on the same paths relative to the checkout. A
file that is not a regular file, is hard-linked, or fails the check is never an approval:
`problems()` reports it and nothing it says runs. Lookups go through an index by the
call's key (`approvals-index.json` next to the folder), rebuilt from a full scan whenever
the folder changed behind the store's back; the index is only a hint, so a damaged one can
hide an approval but never grant one. Every write is atomic, never follows a symlink, and
is made under a lock on the folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from ralph import integrity
from ralph.errors import UsageError, storage_error
from ralph.fsutil import atomic_write_text, read_json_object
from ralph.redact import escape_controls
from ralph.workspace import approvals_dir, lane_home, state_dir

Status = Literal["pending", "approved", "rejected", "used"]
STATUSES = ("pending", "approved", "rejected", "used")
RETENTION_DAYS = 30
"""Used approvals older than this are archived (they can never run again anyway)."""
INDEX_VERSION = 1
_ID = re.compile(r"^[0-9a-f]{8}$")
_MAC_PURPOSE = "approval-v1"
_PRUNE_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class Approval:
    """A person's say on one exact tool call, as the guard resolved it."""

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
    paths: tuple[str, ...] = ()
    """The targets the guard resolved, with their class, when the approval was asked for."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"paths": list(self.paths)}

    def binds(self, rule: str | None, paths: Iterable[str]) -> bool:
        """Whether a fresh check (`rule`, resolved `paths`) is what the person saw."""
        return self.rule == rule and self.paths == tuple(paths)


@dataclass(frozen=True)
class Problem:
    """A file in the approvals folder that is not a valid approval, and why."""

    file: str
    reason: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class ApprovalStore:
    """Approvals of one workspace."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = Path(os.path.realpath(workspace))
        self.identity = lane_home(self.workspace) or self.workspace
        """The checkout the approvals are signed for and their targets written in."""
        self.folder = approvals_dir(self.workspace)
        self.index_dir = state_dir(self.workspace) / "approvals-index"
        self.archive_path = state_dir(self.workspace) / "approvals-archive.jsonl"
        self._depth = 0

    # -- reading -------------------------------------------------------------------------

    def list(self) -> list[Approval]:
        """Every valid approval, oldest first (a full scan; invalid files are skipped)."""
        return self._scan()[0]

    def problems(self) -> list[Problem]:
        """Files in the folder that are not valid approvals (forged, edited, linked...)."""
        return self._scan()[1]

    def status_of(self, approval_id: str) -> str | None:
        """The approval's status, or None when there is no such approval. One that is not
        valid counts as pending: it holds its step and never runs."""
        key = approval_id.strip().lower()
        if not _ID.match(key) or not (self.folder / f"{key}.json").exists():
            return None
        try:
            return self.get(key).status
        except UsageError:
            return "pending"

    def get(self, approval_id: str) -> Approval:
        """The valid approval with this id; UsageError if there is none."""
        key = approval_id.strip().lower()
        if not _ID.match(key) or not (self.folder / f"{key}.json").exists():
            raise UsageError(f"no approval {approval_id!r}; `ralph approvals` lists them")
        approval, problem = self._read(self.folder / f"{key}.json")
        if approval is None:
            raise UsageError(
                f"approval {key} is not valid ({problem}): it was not written by ralph or was "
                f"changed since, so it can never run; delete {self.folder / (key + '.json')}"
            )
        return approval

    def find(self, call: dict[str, Any], *statuses: Status) -> list[Approval]:
        """The valid approvals of exactly this call with one of these statuses, oldest first."""
        entries = self._entries(_key(call))
        exact = _canonical(call)
        found = []
        for approval_id, (status, _stamp) in entries.items():
            if status not in statuses:
                continue
            approval, _ = self._read(self.folder / f"{approval_id}.json")
            if approval and approval.status in statuses and _canonical(approval.call) == exact:
                found.append(approval)
        return sorted(found, key=lambda a: (a.created, a.id))

    def find_approved(
        self, call: dict[str, Any], rule: str | None = None, paths: Iterable[str] = ()
    ) -> Approval | None:
        """An approved approval of exactly this call, rule and targets, or None."""
        paths = self.targets(paths)
        return next((a for a in self.find(call, "approved") if a.binds(rule, paths)), None)

    def targets(self, paths: Iterable[str]) -> tuple[str, ...]:
        """The guard's resolved targets ("PATH (class)") as approvals bind them: in a lane,
        a path in the lane's worktree is written as the same path in the main checkout (the
        class stays the lane's; any other path, even one into the main checkout, is kept)."""
        paths = tuple(paths)
        if self.identity == self.workspace:
            return paths
        root, home = str(self.workspace), str(self.identity)
        mapped = []
        for target in paths:
            path, sep, cls = target.rpartition(" (")
            if sep and (path == root or path.startswith(root + "/")):
                target = f"{home}{path[len(root) :]} ({cls}"
            mapped.append(target)
        return tuple(mapped)

    # -- writing -------------------------------------------------------------------------

    def add_pending(
        self,
        call: dict[str, Any],
        rule: str | None,
        reason: str,
        step: str | None = None,
        paths: Iterable[str] = (),
    ) -> Approval:
        """Record a refused call for a person to decide; reuse a pending/approved one that
        is bound to the same rule and targets."""
        paths = self.targets(paths)
        with self._locked():
            same = [a for a in self.find(call, "pending", "approved") if a.binds(rule, paths)]
            return same[0] if same else self._add(call, rule, reason, step, "pending", paths)

    def add_always(
        self,
        call: dict[str, Any],
        rule: str | None,
        reason: str,
        step: str | None = None,
        paths: Iterable[str] = (),
    ) -> Approval:
        """Record an "always" answer: this exact call (rule, targets) stays approved."""
        paths = self.targets(paths)
        with self._locked():
            for a in self.find(call, "approved"):
                if a.always and a.binds(rule, paths):
                    return a
            return self._add(call, rule, reason, step, "approved", paths, always=True)

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
        paths: tuple[str, ...],
        *,
        always: bool = False,
    ) -> Approval:
        approval_id = secrets.token_hex(4)
        while os.path.lexists(self.folder / f"{approval_id}.json"):
            approval_id = secrets.token_hex(4)
        decided = _now() if status == "approved" else None
        approval = Approval(
            approval_id, step, call, rule, reason, _now(), status, decided, None, always, paths
        )
        return self._write(approval)

    def _write(self, approval: Approval) -> Approval:
        data = approval.to_dict()
        data["mac"] = integrity.mac(_MAC_PURPOSE, self._signed_bytes(data))
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        self._ensure_index()  # fresh before the write, so the write can be added to it
        path = self.folder / f"{approval.id}.json"
        try:
            atomic_write_text(path, text, follow_symlinks=False)
        except OSError as e:
            raise storage_error(e, path, f"approval {approval.id} was not recorded") from None
        key = _key(approval.call)
        entries = self._entries(key, check=False)
        entries[approval.id] = _entry(approval)
        self._save_index({key: entries}, self._meta() | {"folder_mtime_ns": _mtime(self.folder)})
        return approval

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The store's lock (re-entrant within this object); prunes when it is due."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        from filelock import FileLock

        self._check_folder()
        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(state_dir(self.workspace) / "approvals.lock", timeout=30):
            self._depth = 1
            try:
                yield
                self._prune_if_due()
            finally:
                self._depth = 0

    # -- integrity -----------------------------------------------------------------------

    def _signed_bytes(self, data: dict[str, Any]) -> bytes:
        body = {k: v for k, v in data.items() if k != "mac"}
        return (str(self.identity) + "\0" + _canonical(body)).encode("utf-8", "surrogatepass")

    def _read(self, path: Path) -> tuple[Approval | None, str]:
        """The approval in `path` if it is a valid, signed record of this store."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as e:
            return None, "a symlink" if os.path.islink(path) else f"unreadable ({e.strerror})"
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None, "not a regular file"
            if st.st_nlink != 1:
                return None, f"hard-linked ({st.st_nlink} names for one file)"
            raw = f.read()
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError
            tag = data.get("mac")
            approval = Approval(**{k: v for k, v in data.items() if k != "mac"})
            approval = dataclasses.replace(approval, paths=tuple(approval.paths))
        except (ValueError, TypeError):
            return None, "not an approval record"
        if tag is None:
            return None, "not signed by ralph"
        if not integrity.verify(_MAC_PURPOSE, self._signed_bytes(data), tag):
            return None, "signature does not match (edited, forged, or from another workspace)"
        valid = approval.status in STATUSES and isinstance(approval.call, dict)
        if not valid or approval.id != path.stem:
            return None, "not an approval record"
        return approval, ""

    def _check_folder(self) -> None:
        for folder in (state_dir(self.workspace), self.folder, self.index_dir):
            if folder.is_symlink():
                raise UsageError(
                    f"{folder} is a symlink; ralph keeps its approvals in a real folder "
                    "(remove the link)"
                )

    def _scan(self) -> tuple[list[Approval], list[Problem]]:
        if not self.folder.is_dir() or self.folder.is_symlink() or self.folder.parent.is_symlink():
            return [], []
        found, problems = [], []
        for path in self.folder.glob("*.json"):
            approval, problem = self._read(path)
            if approval is None:
                problems.append(Problem(str(path), problem))
            else:
                found.append(approval)
        return sorted(found, key=lambda a: (a.created, a.id)), sorted(problems, key=str)

    # -- the index -----------------------------------------------------------------------
    # One small file per call key (`approvals-index/KEY.json`: {id: [status, stamp]}) and
    # `meta.json` with the folder's mtime when the index last matched it.

    def _meta(self) -> dict[str, Any]:
        return read_json_object(self.index_dir / "meta.json") or {}

    def _fresh(self) -> bool:
        meta = self._meta()
        return meta.get("version") == INDEX_VERSION and meta.get("folder_mtime_ns") == _mtime(
            self.folder
        )

    def _entries(self, key: str, *, check: bool = True) -> dict[str, list[str]]:
        if check:
            self._ensure_index()
        entries = read_json_object(self.index_dir / f"{key}.json") or {}
        ok = all(isinstance(v, list) and len(v) == 2 for v in entries.values())
        return entries if ok else {}

    def _ensure_index(self) -> None:
        """Rebuild the index from a full scan unless it matches the folder."""
        if self._fresh() or not self.folder.is_dir():
            return
        with self._locked():
            if self._fresh():
                return
            stamp = _mtime(self.folder)
            keys: dict[str, dict[str, list[str]]] = {}
            for a in self.list():
                keys.setdefault(_key(a.call), {})[a.id] = _entry(a)
            if self.index_dir.is_dir():
                for old in self.index_dir.glob("*.json"):
                    old.unlink()
            meta = {"version": INDEX_VERSION, "pruned": self._meta().get("pruned", "")}
            self._save_index(keys, meta | {"folder_mtime_ns": stamp})

    def _save_index(self, keys: dict[str, dict[str, list[str]]], meta: dict[str, Any]) -> None:
        """Write index files; one that cannot be written (a full disk) only costs a scan:
        without its `meta.json` the index is not trusted and is built again."""
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            for key, entries in keys.items():
                _write_hint(self.index_dir / f"{key}.json", entries)
            _write_hint(self.index_dir / "meta.json", meta | {"version": INDEX_VERSION})
        except OSError:
            with contextlib.suppress(OSError):
                (self.index_dir / "meta.json").unlink()

    def _prune_if_due(self) -> None:
        """Archive used approvals older than the retention window (at most once a day)."""
        now = datetime.now(UTC)
        if self._meta().get("pruned", "") > (now - _PRUNE_EVERY).isoformat():
            return
        cutoff = (now - timedelta(days=RETENTION_DAYS)).isoformat()
        old = [a.id for a in self.list() if a.status == "used" and (a.used_at or "") < cutoff]
        with contextlib.suppress(OSError):  # housekeeping: a full disk puts it off
            self.archive(old)
            self._ensure_index()
            _write_hint(self.index_dir / "meta.json", self._meta() | {"pruned": now.isoformat()})

    def archive(self, approval_ids: Iterable[str]) -> int:
        """Move these approvals (valid ones) to the archive file; return how many moved."""
        moved = 0
        with self._locked():
            for approval_id in approval_ids:
                path = self.folder / f"{approval_id}.json"
                approval, _ = self._read(path)
                if approval is None:
                    continue
                with self.archive_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(approval.to_dict(), ensure_ascii=False) + "\n")
                path.unlink()
                moved += 1
        return moved


def _write_hint(path: Path, data: Any) -> None:
    """Write an index file atomically, without fsync: the index is only a hint."""
    text = json.dumps(data, separators=(",", ":"))
    atomic_write_text(path, text, durable=False, follow_symlinks=False)


def _entry(a: Approval) -> list[str]:
    return [a.status, a.used_at or a.created]


def _mtime(folder: Path) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return 0


def _key(call: Any) -> str:
    return hashlib.sha256(_canonical(call).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def describe_call(call: dict[str, Any], newline: str = "\\n") -> str:
    """A person's view of an exact call: the command, or the tool and path with content sizes.
    Control characters are escaped so a command cannot hide itself (ANSI codes, \\r)."""
    if call.get("tool") == "run_command":
        return escape_controls(str(call.get("command", "")), newline)
    rest = [f"{k}: {len(str(v))} chars" for k, v in call.items() if k not in ("tool", "path")]
    path = f" {call['path']}" if "path" in call else ""
    text = f"{call.get('tool')}{path}" + (f" ({', '.join(rest)})" if rest else "")
    return escape_controls(text, newline)


def _canonical(call: Any) -> str:
    """Exact comparison of calls: 1 and 1.0, or "a" and ["a"], are different calls."""
    return json.dumps(call, sort_keys=True, ensure_ascii=False)
