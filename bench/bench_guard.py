"""Benchmark: policy checks per second over the dev corpus, next to a bare tree-sitter parse,
and the cost of an unchanged policy's reload check as a share of one check.

Run: python3 bench/bench_guard.py [--seconds N]
Uses policies/default.toml and a workspace laid out as the corpus README says (built in a
temporary folder, with $HOME pointed at a fake home). Targets (issue 3): at least 2,000
shell-command checks a second; a reload check of an unchanged policy under 5% of a check.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ralph.bash.walker import analyze, clear_cache, parser  # noqa: E402
from ralph.guard.policy import check, clear_caches, load_policy_cached  # noqa: E402
from tests.guard_workspace import DEFAULT_POLICY, corpus_rows, make_workspace  # noqa: E402


def rate(work: Callable[[Any], object], items: list[Any], seconds: float) -> float:
    """Run `work` over `items` repeatedly for about `seconds`; return items per second."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for item in items:
            work(item)
        done += len(items)
    return done / (time.perf_counter() - start)


def median_us(
    work: Callable[[Any], object], items: list[Any], forget: Callable[[], None] | None
) -> float:
    """Median CPU microseconds of `work(item)`; `forget` (if given) empties caches first.

    CPU time of this process (not wall time), so a busy shared machine does not inflate it.
    """
    times = []
    for _ in range(3):
        for item in items:
            if forget is not None:
                forget()
            start = time.process_time()
            work(item)
            times.append(time.process_time() - start)
    return 1e6 * statistics.median(times)


def growth() -> None:
    """Analysis time of one command with N arguments and of a pipeline of N stages."""
    print("growth (CPU time, best of 5, cache emptied): rm -f with N args, an N-stage pipeline")
    for n in (10, 100, 1_000, 10_000):
        args = "rm -f " + " ".join(f"f{i}" for i in range(n))
        pipe = "|".join(["wc"] * n)  # 10k stages stay under the 64 KiB input limit
        row = []
        for source in (args, pipe):
            best = math.inf
            for _ in range(5):
                clear_cache()
                start = time.process_time()
                analyze(source)
                best = min(best, time.process_time() - start)
            row.append(best)
        per = [1e6 * t / n for t in row]
        print(
            f"  {n:>6}: args {1e3 * row[0]:9.2f} ms ({per[0]:6.1f} us each)"
            f"   stages {1e3 * row[1]:9.2f} ms ({per[1]:6.1f} us each)"
        )


def big_policy(tmp: Path, ws: Path, calls: list[dict[str, Any]], n: int = 10_000) -> None:
    """Per-check cost of a policy of the default rules plus N rules without program
    conditions (file-tool rules, effect rules, access rules: what the index skips)."""
    extra = []
    for i in range(n):
        kind = i % 3
        cond = (
            f'tool = "read_file"\npath_glob = "data/{i}/**"'
            if kind == 0
            else f'effect = "write"\npath_glob = "gen/{i}.txt"'
            if kind == 1
            else f'access = "delete"\npath_glob = "keep/{i}"'
        )
        extra.append(f'[[rule]]\nid = "x{i}"\ndecision = "confirm"\nreason = "r"\n{cond}\n')
    path = tmp / "big.toml"
    path.write_text(DEFAULT_POLICY.read_text() + "\n" + "\n".join(extra))
    start = time.perf_counter()
    policy = load_policy_cached(path)
    loaded = time.perf_counter() - start
    new_us = median_us(lambda call: check(call, policy, ws, "interactive"), calls, clear_caches)
    for call in calls:
        check(call, policy, ws, "interactive")
    hit_us = median_us(lambda call: check(call, policy, ws, "interactive"), calls, None)
    print(
        f"{len(policy.rules):,} rules ({n:,} without program conditions): load {loaded:.2f} s,"
        f" check {new_us:.1f} us median new, {hit_us:.1f} us repeated (target < 1 ms)"
    )


def main() -> None:
    options = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    options.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = options.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ralph-bench-"))
    ws, home = make_workspace(tmp)
    os.environ["HOME"] = str(home)
    commands = [row[2] for row in corpus_rows() if not row[2].startswith("@")]
    calls = [{"tool": "run_command", "command": c} for c in commands]
    encoded = [c.encode() for c in commands]

    policy_path = tmp / "policy.toml"
    policy_path.write_bytes(DEFAULT_POLICY.read_bytes())
    old = time.time_ns() - 60_000_000_000  # an unchanged file, not one written a moment ago
    os.utime(policy_path, ns=(old, old))
    policy = load_policy_cached(policy_path)

    ts = parser()
    parse_rate = rate(ts.parse, encoded, args.seconds)
    analyze_rate = rate(analyze, commands, args.seconds)
    check_rate = rate(lambda call: check(call, policy, ws, "interactive"), calls, args.seconds)
    reload_rate = rate(load_policy_cached, [policy_path] * 100, args.seconds)
    guard_rate = rate(
        lambda call: check(call, load_policy_cached(policy_path), ws, "interactive"),
        calls,
        args.seconds,
    )
    fresh = time.time_ns()  # a file written in the last 2 s is re-hashed on every reload check
    os.utime(policy_path, ns=(fresh, fresh))
    racy_rate = rate(load_policy_cached, [policy_path] * 100, min(args.seconds, 1.0))

    new_analyze = median_us(analyze, commands, clear_cache)
    for command in commands:
        analyze(command)
    hit_analyze = median_us(analyze, commands, None)
    # a new command: no analysis, static command part or decision remembered for it
    check_fresh = median_us(
        lambda call: check(call, policy, ws, "interactive"), calls, clear_caches
    )
    for call in calls:  # a repeated command is one checked before
        check(call, policy, ws, "interactive")
    check_hit = median_us(lambda call: check(call, policy, ws, "interactive"), calls, None)
    check_us = 1e6 / check_rate
    print(f"corpus shell commands   : {len(commands)}  (default policy, {len(policy.rules)} rules)")
    print(f"bare tree-sitter parse  : {parse_rate:10,.0f} /s  {1e6 / parse_rate:8.1f} us")
    print(f"shell.analyze()         : {analyze_rate:10,.0f} /s  {1e6 / analyze_rate:8.1f} us")
    print(
        f"policy.check()          : {check_rate:10,.0f} /s  {check_us:8.1f} us  (target >= 2,000/s)"
    )
    print(f"check / bare parse cost : {parse_rate / check_rate:10.1f} x")
    print(f"analyze, new command    : {new_analyze:10.1f} us median")
    print(f"analyze, repeated       : {hit_analyze:10.1f} us median")
    print(f"check, new command      : {check_fresh:10.1f} us median (target < 150 us)")
    print(f"check, repeated command : {check_hit:10.1f} us median (target < 30 us)")
    print(f"reload + check          : {guard_rate:10,.0f} /s  {1e6 / guard_rate:8.1f} us")
    reload_us = 1e6 / reload_rate
    print(
        f"reload check, unchanged : {reload_us:10.2f} us"
        f" = {100 * reload_us / check_us:.1f}% of a check (target < 5%)"
    )
    racy_us = 1e6 / racy_rate
    print(
        f"reload check, just written (re-hashed): {racy_us:.2f} us"
        f" = {100 * racy_us / check_us:.1f}% of a check"
    )
    growth()
    big_policy(tmp, ws, calls)


if __name__ == "__main__":
    main()
