"""Benchmark: the snapshot ralph takes before each step, on a workspace of 10k files.

Run: python bench/bench_snapshot.py [--files 10000] [--repeat 5]

A throwaway git repository with --files files in 100 folders (committed), plus 1% untracked
files. Times (median of --repeat) of `Snapshots.take` (copy the index, hardened `git add
--all`, write-tree, commit-tree, update-ref):
  first      the first snapshot (nothing cached yet)
  unchanged  nothing changed since the last snapshot
  10 edited  10 files changed and 1 new since the last snapshot
  1% edited  100 files changed
  captured   10 files changed, as the run loop takes it (`PendingSnapshot`): how long the
             step waits (until `git add` has the content), next to the whole snapshot
and of `plan_restore` + `restore` after a step that edited 10 files (undo). The target:
a snapshot when little changed under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ralph.snapshot import PendingSnapshot, Snapshots


def make_repo(root: Path, files: int) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for i in range(files):
        folder = root / f"pkg{i % 100}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{i}.py").write_text(f"# module {i}\nVALUE = {i}\n" * 20)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", *ident, "commit", "-qm", "files"], cwd=root, check=True)
    for i in range(files // 100):
        (root / f"pkg{i % 100}" / f"new{i}.txt").write_text("untracked\n")


def edit(root: Path, n: int, round_: int) -> None:
    for i in range(n):
        path = root / f"pkg{i % 100}" / f"mod{i}.py"
        path.write_text(path.read_text() + f"# edit {round_}\n")
    (root / f"added{round_}.py").write_text("x = 1\n")


def timed(fn, repeat: int, before=lambda r: None) -> float:
    times = []
    for r in range(repeat):
        before(r)
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        root = Path(tmp) / "ws"
        make_repo(root, args.files)
        snaps = Snapshots(root)
        t = time.perf_counter()
        snaps.take("first")
        first = time.perf_counter() - t
        unchanged = timed(lambda: snaps.take("again"), args.repeat)
        ten = timed(lambda: snaps.take("ten"), args.repeat, lambda r: edit(root, 10, r))
        hundred = timed(
            lambda: snaps.take("1%"), args.repeat, lambda r: edit(root, args.files // 100, 100 + r)
        )
        waits, wholes = [], []
        for r in range(args.repeat):
            edit(root, 10, 200 + r)
            t = time.perf_counter()
            pending = PendingSnapshot(root, "pending").start()
            pending.captured()
            waits.append(time.perf_counter() - t)
            assert pending.result()[0] is not None
            wholes.append(time.perf_counter() - t)
        target = snaps.take("before the step")
        edit(root, 10, 999)
        t = time.perf_counter()
        left = snaps.restore(snaps.plan_restore(target))
        undo = time.perf_counter() - t
        assert left == []
    print(f"workspace: {args.files} tracked files + {args.files // 100} untracked")
    for label, seconds in (
        ("first", first),
        ("unchanged", unchanged),
        ("10 edited", ten),
        ("1% edited", hundred),
        ("captured", statistics.median(waits)),
        ("(whole)", statistics.median(wholes)),
        ("undo 10", undo),
    ):
        print(f"  {label:<10} {seconds * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
