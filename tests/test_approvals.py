"""The approvals store on a real folder: life cycle, exact-call matching, dedup, bad ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ralph.errors import UsageError
from ralph.guard.approvals import ApprovalStore

RM = {"tool": "run_command", "command": "rm -rf build"}


@pytest.fixture
def store(tmp_path: Path) -> ApprovalStore:
    return ApprovalStore(tmp_path)


def test_pending_approval_is_one_json_file(store: ApprovalStore, tmp_path: Path) -> None:
    a = store.add_pending(RM, "rm.recursive", "deletes a tree", step="tasks.md: clean up")
    assert len(a.id) == 8 and int(a.id, 16) >= 0
    assert a.status == "pending" and a.decided_at is None and a.used_at is None
    files = sorted(p.name for p in (tmp_path / ".ralph" / "approvals").glob("*.json"))
    assert files == [f"{a.id}.json"]
    data = json.loads((tmp_path / ".ralph" / "approvals" / f"{a.id}.json").read_text())
    assert data["call"] == RM and data["rule"] == "rm.recursive"
    assert data["reason"] == "deletes a tree" and data["step"] == "tasks.md: clean up"
    assert data["created"].endswith("+00:00")
    assert store.get(a.id) == a
    assert store.list() == [a]


def test_the_same_call_is_not_queued_twice(store: ApprovalStore) -> None:
    first = store.add_pending(RM, "r", "why")
    assert store.add_pending(dict(RM), "r", "why") == first
    store.approve(first.id)
    assert store.add_pending(RM, "r", "why").id == first.id  # approved, not yet used
    other = store.add_pending({**RM, "command": "rm -rf build2"}, "r", "why")
    assert other.id != first.id
    assert len(store.list()) == 2


def test_approve_then_use_runs_once(store: ApprovalStore) -> None:
    a = store.add_pending(RM, "r", "why")
    assert store.find_approved(RM, "r") is None
    approved = store.approve(a.id)
    assert approved.status == "approved" and approved.decided_at
    assert store.find_approved(RM, "r") == approved
    used = store.mark_used(a.id)
    assert used.status == "used" and used.used_at
    assert store.find_approved(RM, "r") is None
    with pytest.raises(UsageError, match="is used, not approved"):
        store.mark_used(a.id)
    with pytest.raises(UsageError, match="already used"):
        store.approve(a.id)
    # After use, the same call made again is a new pending approval.
    assert store.add_pending(RM, "r", "why").id != a.id


def test_matching_is_exact_never_a_prefix(store: ApprovalStore) -> None:
    store.approve(store.add_pending({"tool": "run_command", "command": "git push"}, "r", "").id)
    for near in [
        {"tool": "run_command", "command": "git push --force"},
        {"tool": "run_command", "command": "git push; curl x | sh"},
        {"tool": "run_command", "command": "git pus"},
        {"tool": "write_file", "command": "git push"},
        {"tool": "run_command", "command": "git push", "extra": 1},
    ]:
        assert store.find_approved(near, "r") is None, near
    assert store.find_approved({"command": "git push", "tool": "run_command"}, "r") is not None


def test_exact_means_exact_types(store: ApprovalStore) -> None:
    call = {"tool": "write_file", "path": "a", "content": "1"}
    store.approve(store.add_pending(call, "r", "").id)
    assert store.find_approved({**call, "content": 1}, "r") is None


def test_reject_and_change_of_mind(store: ApprovalStore) -> None:
    a = store.add_pending(RM, "r", "why")
    rejected = store.reject(a.id)
    assert rejected.status == "rejected" and rejected.decided_at
    assert store.reject(a.id).status == "rejected"  # idempotent
    assert store.find_approved(RM, "r") is None
    assert store.find(RM, "rejected") == [rejected]
    assert store.approve(a.id).status == "approved"
    assert store.reject(a.id).status == "rejected"  # approved but unused can be withdrawn


def test_always_approvals_stay_approved_when_used(store: ApprovalStore) -> None:
    a = store.add_always(RM, "r", "why", step="s")
    assert a.status == "approved" and a.always
    assert store.add_always(RM, "r", "why") == a
    store.mark_used(a.id)
    again = store.find_approved(RM, "r")
    assert again is not None and again.id == a.id and again.used_at
    store.mark_used(a.id)
    assert store.get(a.id).status == "approved"


@pytest.mark.parametrize("bad", ["nope", "../../etc/passwd", "", "0123456789"])
def test_unknown_ids_are_usage_errors(store: ApprovalStore, bad: str) -> None:
    store.add_pending(RM, "r", "why")
    for action in (store.get, store.approve, store.reject, store.mark_used):
        with pytest.raises(UsageError, match="no approval"):
            action(bad)


def test_ids_are_case_insensitive(store: ApprovalStore) -> None:
    a = store.add_pending(RM, "r", "why")
    assert store.get(a.id.upper()) == a


def test_broken_files_are_never_approvals(store: ApprovalStore) -> None:
    a = store.approve(store.add_pending(RM, "r", "why").id)
    folder = store.folder
    (folder / "deadbeef.json").write_text("{not json")
    (folder / "cafebabe.json").write_text(json.dumps({**a.to_dict(), "id": "cafebabe", "x": 1}))
    (folder / "0badf00d.json").write_text(json.dumps({**a.to_dict(), "status": "yes"}))
    (folder / "feedface.json").write_text(json.dumps({**a.to_dict()}))  # id differs from name
    assert [x.id for x in store.list()] == [a.id]
    with pytest.raises(UsageError):
        store.get("deadbeef")


def test_empty_store(store: ApprovalStore) -> None:
    assert store.list() == []
    assert store.find_approved(RM, "r") is None
