"""Approvals cannot be forged: signed records bound to the workspace, the rule and the
resolved targets; forged, edited, copied, hard-linked or symlinked files never run; the
index answers like a full scan; old used approvals are archived."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ralph import integrity
from ralph.errors import UsageError
from ralph.guard.approvals import RETENTION_DAYS, ApprovalStore
from ralph.guard.gate import Guard, shipped_policy
from ralph.messages import ToolCall

DELETE = "rm -rf data/x"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "data" / "x").mkdir(parents=True)
    (root / "keep" / "x").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def guard(ws: Path) -> Guard:
    return Guard(shipped_policy("default"), ws, "unattended", step="tasks.md: tidy")


def call(command: str) -> ToolCall:
    return ToolCall("c1", "run_command", {"command": command}, "")


def approved_delete(ws: Path) -> str:
    """The agent asks for DELETE, a person approves it: its approval id."""
    first = guard(ws).review(call(DELETE))
    assert not first.allowed and first.approval_id
    ApprovalStore(ws).approve(first.approval_id)
    return first.approval_id


def test_a_person_approved_call_runs_once(ws: Path) -> None:
    approval_id = approved_delete(ws)
    assert guard(ws).review(call(DELETE)).allowed
    assert ApprovalStore(ws).get(approval_id).status == "used"


def test_a_forged_approval_never_runs(ws: Path) -> None:
    record = {
        "id": "abcdef01",
        "step": None,
        "call": {"tool": "run_command", "command": DELETE},
        "rule": "files.delete-tree",
        "reason": "",
        "created": "2026-01-01T00:00:00+00:00",
        "status": "approved",
        "decided_at": None,
        "used_at": None,
        "always": True,
        "paths": [f"{ws}/data/x (workspace)"],
        "mac": "0" * 64,
    }
    folder = ws / ".ralph" / "approvals"
    folder.mkdir(parents=True)
    (folder / "abcdef01.json").write_text(json.dumps(record))
    (folder / "abcdef02.json").write_text(json.dumps({**record, "id": "abcdef02"} | {"mac": None}))
    verdict = guard(ws).review(call(DELETE))
    assert not verdict.allowed and verdict.approval_id not in ("abcdef01", "abcdef02")
    reasons = {Path(p.file).name: p.reason for p in ApprovalStore(ws).problems()}
    assert "signature does not match" in reasons["abcdef01.json"]
    assert reasons["abcdef02.json"] == "not signed by ralph"
    with pytest.raises(UsageError, match="not valid"):
        ApprovalStore(ws).approve("abcdef01")


def test_an_edited_approval_never_runs(ws: Path) -> None:
    pending = guard(ws).review(call(DELETE)).approval_id
    path = ws / ".ralph" / "approvals" / f"{pending}.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"status": "approved"}))  # the MAC is kept, content not
    assert not guard(ws).review(call(DELETE)).allowed
    assert [Path(p.file).stem for p in ApprovalStore(ws).problems()] == [pending]


def test_a_hard_linked_approval_never_runs(ws: Path) -> None:
    approval_id = approved_delete(ws)
    os.link(ws / ".ralph" / "approvals" / f"{approval_id}.json", ws / "mine.json")
    verdict = guard(ws).review(call(DELETE))
    assert not verdict.allowed
    assert "hard-linked" in ApprovalStore(ws).problems()[0].reason


def test_a_symlinked_approval_never_runs(ws: Path, tmp_path: Path) -> None:
    approval_id = approved_delete(ws)
    path = ws / ".ralph" / "approvals" / f"{approval_id}.json"
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(elsewhere)
    assert not guard(ws).review(call(DELETE)).allowed
    assert ApprovalStore(ws).problems()[0].reason == "a symlink"
    assert elsewhere.read_bytes().startswith(b"{")  # ralph never wrote through the link


def test_an_approval_copied_from_another_workspace_never_runs(ws: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "data" / "x").mkdir(parents=True)
    pending = guard(other).review(call(DELETE)).approval_id
    ApprovalStore(other).approve(pending)
    (ws / ".ralph" / "approvals").mkdir(parents=True)
    src = other / ".ralph" / "approvals" / f"{pending}.json"
    (ws / ".ralph" / "approvals" / src.name).write_bytes(src.read_bytes())
    assert not guard(ws).review(call(DELETE)).allowed
    assert "another workspace" in ApprovalStore(ws).problems()[0].reason


def test_a_swapped_target_makes_a_new_approval(ws: Path) -> None:
    """Approved while data/ was a folder; data swapped for a symlink: asked again."""
    approval_id = approved_delete(ws)
    (ws / "data" / "x").rmdir()
    (ws / "data").rmdir()
    (ws / "data").symlink_to(ws / "keep")
    verdict = guard(ws).review(call(DELETE))
    assert not verdict.allowed and verdict.approval_id not in (None, approval_id)
    assert "other targets" in verdict.message
    store = ApprovalStore(ws)
    assert store.get(approval_id).status == "approved"  # not spent on the other target
    fresh = store.get(verdict.approval_id)
    assert fresh.status == "pending" and fresh.paths == (f"{ws}/keep/x (workspace)",)
    # Swapped back: the targets are what the person saw again, and the approval runs.
    (ws / "data").unlink()
    (ws / "data" / "x").mkdir(parents=True)
    assert guard(ws).review(call(DELETE)).allowed
    assert store.get(approval_id).status == "used"


def test_records_are_signed_with_a_private_per_user_secret(ws: Path) -> None:
    approved_delete(ws)
    secret = integrity.secret_path()
    assert secret.is_file() and not secret.is_relative_to(ws)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert integrity.hidden_paths() == (secret,)
    record = json.loads(next((ws / ".ralph" / "approvals").glob("*.json")).read_text())
    assert len(record["mac"]) == 64


def test_a_symlinked_approvals_folder_is_refused(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "theirs").mkdir()
    (ws / ".ralph").mkdir()
    (ws / ".ralph" / "approvals").symlink_to(tmp_path / "theirs")
    with pytest.raises(UsageError, match="symlink"):
        ApprovalStore(ws).add_pending({"tool": "run_command", "command": "x"}, "r", "why")
    assert not any((tmp_path / "theirs").iterdir())


# -- the index ------------------------------------------------------------------------------


def _random_store(ws: Path, rng: random.Random, n: int) -> ApprovalStore:
    store = ApprovalStore(ws)
    commands = [f"cmd {i}" for i in range(n // 3 + 1)]
    for _ in range(n):
        c = {"tool": "run_command", "command": rng.choice(commands)}
        rule = rng.choice(["r1", "r2"])
        paths = rng.choice([(), ("/ws/a (workspace)",), ("/ws/b (workspace)",)])
        if rng.random() < 0.3:
            a = store.add_always(c, rule, "why", paths=paths)
        else:
            a = store.add_pending(c, rule, "why", paths=paths)
        roll = rng.random()
        if roll < 0.3:
            store.approve(a.id)
        elif roll < 0.5:
            store.reject(a.id)
        elif roll < 0.7 and store.get(a.id).status == "approved":
            store.mark_used(a.id)
    return store


@pytest.mark.parametrize("seed", range(4))
def test_the_index_answers_like_a_full_scan(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = _random_store(tmp_path, rng, 60)
    everything = store.list()
    statuses_sets: list[tuple[Any, ...]] = [
        ("pending",),
        ("approved",),
        ("rejected",),
        ("used",),
        ("pending", "approved"),
    ]
    for i in range(25):
        c = {"tool": "run_command", "command": f"cmd {i}"}
        for statuses in statuses_sets:
            scan = [a for a in everything if a.call == c and a.status in statuses]
            assert store.find(c, *statuses) == scan
            # a fresh store object (index read from disk) agrees too
            assert ApprovalStore(tmp_path).find(c, *statuses) == scan
        for rule in ("r1", "r2"):
            for paths in [(), ("/ws/a (workspace)",)]:
                scan_hit = next(
                    (
                        a
                        for a in everything
                        if a.call == c
                        and a.status == "approved"
                        and a.rule == rule
                        and a.paths == paths
                    ),
                    None,
                )
                assert store.find_approved(c, rule, paths) == scan_hit


def test_a_stale_or_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path)
    c = {"tool": "run_command", "command": "make deploy"}
    a = store.approve(store.add_pending(c, "r", "why").id)
    assert store.find(c, "approved") == [a]
    (store.folder / f"{a.id}.json").unlink()  # a person deletes the file by hand
    assert store.find(c, "approved") == []
    b = store.approve(store.add_pending(c, "r", "why").id)
    for f in store.index_dir.glob("*.json"):
        f.write_text("{broken")
    assert ApprovalStore(tmp_path).find(c, "approved") == [b]


def test_used_approvals_past_the_retention_window_are_archived(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path)
    old_call = {"tool": "run_command", "command": "old"}
    old = store.mark_used(store.approve(store.add_pending(old_call, "r", "why").id).id)
    new = store.mark_used(
        store.approve(store.add_pending({**old_call, "command": "n"}, "r", "").id).id
    )
    waiting = store.add_pending({**old_call, "command": "w"}, "r", "why")
    # Age the first one past the window, re-signed as ralph would have written it back then.
    long_ago = f"{2000 + RETENTION_DAYS % 10}-01-01T00:00:00+00:00"
    store._write(type(old)(**{**old.to_dict(), "paths": (), "used_at": long_ago}))
    meta = store.index_dir / "meta.json"
    meta.write_text(json.dumps(json.loads(meta.read_text()) | {"pruned": ""}))
    store.add_pending({**old_call, "command": "another"}, "r", "why")  # a write prunes
    ids = {a.id for a in store.list()}
    assert old.id not in ids and {new.id, waiting.id} <= ids
    archived = [json.loads(line) for line in store.archive_path.read_text().splitlines()]
    assert [r["id"] for r in archived] == [old.id]
    assert store.find(old_call, "used") == []


def test_a_symlinked_index_folder_is_refused_and_its_target_untouched(
    ws: Path, tmp_path: Path
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "meta.json").write_text("precious")
    (ws / ".ralph").mkdir()
    (ws / ".ralph" / "approvals-index").symlink_to(theirs)
    with pytest.raises(UsageError, match="symlink"):
        ApprovalStore(ws).add_pending({"tool": "run_command", "command": "x"}, "r", "why")
    assert [p.name for p in theirs.iterdir()] == ["meta.json"]
    assert (theirs / "meta.json").read_text() == "precious"


def test_ralph_approvals_shows_targets_and_ignored_files(ws: Path, capsys) -> None:
    from ralph.cli.approvals import list_approvals

    pending = guard(ws).review(call(DELETE)).approval_id
    (ws / ".ralph" / "approvals" / "0000beef.json").write_text("{}")
    list_approvals(ws)
    out = capsys.readouterr().out
    assert f"{pending}  pending" in out and f"target: {ws}/data/x (workspace)" in out
    assert "ignored" in out and "0000beef.json: not an approval record" in out
    list_approvals(ws, as_json=True)
    shown = json.loads(capsys.readouterr().out)
    assert shown["approvals"][0]["paths"] == [f"{ws}/data/x (workspace)"]
    assert [Path(i["file"]).name for i in shown["ignored"]] == ["0000beef.json"]


@pytest.fixture
def lane(ws: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A lane's worktree of `ws` as `ralph run --parallel` sets one up: under the state's
    `worktrees/`, with the main checkout's state chosen and named as the lane's home."""
    from ralph.workspace import LANE_HOME_ENV, choose_state_dir

    path = ws / ".ralph" / "worktrees" / "plan-tidy"
    (path / "data" / "x").mkdir(parents=True)
    (path / "keep" / "x").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    choose_state_dir(ws / ".ralph")
    monkeypatch.setenv(LANE_HOME_ENV, str(ws))
    try:
        yield path
    finally:
        choose_state_dir(None)


def test_a_lanes_approval_is_the_main_checkouts_bound_to_the_same_relative_paths(
    ws: Path, lane: Path
) -> None:
    verdict = guard(lane).review(call(DELETE))
    assert verdict.outcome == "pending"
    main = ApprovalStore(ws)
    (pending,) = main.list()  # signed for the main checkout: listed there, not "ignored"
    assert main.problems() == []
    assert pending.paths == (f"{ws / 'data' / 'x'} (workspace)",)
    main.approve(pending.id)
    assert guard(lane).review(call("rm -rf keep/x")).outcome == "pending"  # another call
    assert guard(lane).review(call(DELETE)).outcome == "approval-used"
    assert (lane / "data" / "x").exists()  # the guard only decides; nothing ran here

    # approved in the main checkout: the same call on the same relative path in a lane
    again = guard(ws).review(call(DELETE))
    main.approve(again.approval or "")
    assert guard(lane).review(call(DELETE)).outcome == "approval-used"


def test_an_absolute_path_into_the_main_checkout_is_not_a_lanes_own_path(
    ws: Path, lane: Path
) -> None:
    absolute = f"rm -rf {ws / 'data' / 'x'}"
    made = guard(ws).review(call(absolute))  # in the main checkout: its own workspace
    ApprovalStore(ws).approve(made.approval or "")
    seen = guard(lane).review(call(absolute))  # from a lane: outside its workspace
    assert seen.outcome != "approval-used"


def test_the_lane_home_counts_only_for_a_lanes_worktree(
    ws: Path, lane: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    (other / "data" / "x").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    assert ApprovalStore(other).identity == other.resolve()
    assert ApprovalStore(lane).identity == ws.resolve()
    pending = guard(other).review(call(DELETE))
    main = ApprovalStore(ws)
    assert pending.approval not in {a.id for a in main.list()}  # signed for `other`
