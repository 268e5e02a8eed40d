"""Benchmark: one confirm decision against stores of 1k and 10k approvals.

Run: python bench/bench_approvals.py [--sizes 1000,10000] [--repeat 20]

Each store is filled through the real store (signed records, index kept): a mix of used,
rejected, approved and pending approvals of distinct calls, in a throwaway folder with a
throwaway secret. Then, median of --repeat runs, with a fresh ApprovalStore object each
time (nothing cached in memory):
  decide   what the guard does for a confirm of a call already pending: look for an
           approved one bound to the rule and targets, look for a rejected one, and
           reuse the pending one (add_pending, under the lock)
  approved the same for a call that is approved (find + mark_used on an "always"): one
           durable write (fsync of the file and folder), which is most of its time
  scan     a full scan of the folder (what every lookup cost before the index)
Constant time means `decide` does not grow from 1k to 10k while `scan` does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from ralph.guard import approvals
from ralph.guard.approvals import ApprovalStore

RULE, PATHS = "files.delete-tree", ("/ws/data (workspace)",)


def _no_fsync_write(path: Path, text: str, **_: object) -> None:
    tmp = Path(path).with_name(f".{Path(path).name}.fill.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def fill(ws: Path, n: int) -> None:
    """Real store writes, but without fsync (filling is not what is measured)."""
    durable = approvals.atomic_write_text
    approvals.atomic_write_text = _no_fsync_write  # type: ignore[assignment]
    try:
        _fill(ws, n)
    finally:
        approvals.atomic_write_text = durable


def _fill(ws: Path, n: int) -> None:
    store = ApprovalStore(ws)
    for i in range(n):
        call = {"tool": "run_command", "command": f"rm -rf data/{i}"}
        a = store.add_pending(call, RULE, "deletes a tree", paths=PATHS)
        kind = i % 4
        if kind in (0, 1):
            store.approve(a.id)
        if kind == 0:
            store.mark_used(a.id)
        if kind == 2:
            store.reject(a.id)
    store.add_always({"tool": "run_command", "command": "make deploy"}, RULE, "", paths=PATHS)


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def measure(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        ws = Path(tmp) / "ws"
        ws.mkdir()
        t = time.perf_counter()
        fill(ws, n)
        filled = time.perf_counter() - t
        pending = {"tool": "run_command", "command": f"rm -rf data/{n - 1}"}  # i%4 == 3
        deploy = {"tool": "run_command", "command": "make deploy"}

        def decide() -> None:
            store = ApprovalStore(ws)
            approved = store.find(pending, "approved")
            assert not [a for a in approved if a.binds(RULE, PATHS)]
            assert not store.find(pending, "rejected")
            store.add_pending(pending, RULE, "deletes a tree", paths=PATHS)

        def use_approved() -> None:
            store = ApprovalStore(ws)
            a = store.find_approved(deploy, RULE, PATHS)
            assert a is not None
            store.mark_used(a.id)

        d = median_ms(decide, repeat)
        u = median_ms(use_approved, repeat)
        s = median_ms(lambda: ApprovalStore(ws).list(), max(3, repeat // 10))
        print(f"{n:>8} {filled:>8.1f} {d:>10.2f} {u:>12.2f} {s:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"{'stored':>8} {'fill s':>8} {'decide ms':>10} {'approved ms':>12} {'scan ms':>9}")
    for n in (int(s) for s in args.sizes.split(",")):
        measure(n, args.repeat)


if __name__ == "__main__":
    main()
