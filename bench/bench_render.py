"""Benchmark: `ralph status` and `ralph log` on big inputs, each in a fresh process.

Run: python bench/bench_render.py [--steps 10000,100000] [--events 200000] [--runs 3]

- `ralph status PLAN` (the table) and `ralph status PLAN --json` on generated plans (the
  "plan" shape of bench_taskfile.py), cold (no parse cache yet) and warm (the parse cache
  from the previous command), output to a pipe.
- `ralph log` on a generated run record of --events events (model turns, guard decisions
  and tool calls, a step start and end every 20 events).
Targets (issues 12 and 17): status on 10k steps under 1 s, --json of an unchanged 10k plan
under 0.3 s, status on 100k steps under 3 s, log of 200k events under 3 s.

Each number is the median of --runs runs: wall-clock seconds, and in brackets the CPU
seconds (user + system) of the ralph process, which a loaded machine inflates far less.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_taskfile import generate

from ralph.record.log import RunLog


def events(n: int) -> list[dict]:
    out: list[dict] = [
        {"ts": 1.7e9, "event": "run_start", "run_id": "bench", "version": "0", "task_file": "p"}
    ]
    ts = 1.7e9
    while len(out) < n - 1:
        ts += 1
        k = len(out) % 20
        if k == 1:
            out.append({"ts": ts, "event": "step_start", "line": k, "text": "add the endpoint"})
        elif k == 19:
            out.append(
                {"ts": ts, "event": "step_end", "outcome": "done", "turns": 6, "tokens": 12345,
                 "cost_usd": 0.07, "seconds": 130.0, "summary": "added /login and its tests"}
            )  # fmt: skip
        elif k % 3 == 0:
            usage = {"input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 5000}
            out.append({"ts": ts, "event": "model", "turn": k, "usage": usage, "cost": 0.01})
        elif k % 3 == 1:
            out.append(
                {"ts": ts, "event": "decision", "tool": "run_command", "decision": "allow",
                 "outcome": "ran", "rule": "tests", "reason": "runs the test suite"}
            )  # fmt: skip
        else:
            out.append(
                {"ts": ts, "event": "tool", "name": "run_command", "allowed": True,
                 "decision": "allow", "arguments": {"command": "pytest -q tests/test_api.py"},
                 "result": "12 passed in 0.5s [ok]", "is_error": False}
            )  # fmt: skip
    out.append({"ts": ts + 1, "event": "run_end", "stopped": "done", "exit_code": 0, "steps": 1})
    return out


def timed(argv: list[str], cwd: Path, runs: int, setup: Callable[[], object] = list) -> str:
    """Median wall-clock and CPU seconds of `runs` runs of `argv` (each after `setup()`),
    as "1.23 s (cpu 0.45)"."""
    walls, cpus = [], []
    for _ in range(runs):
        setup()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.PIPE, cwd=cwd)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return f"{statistics.median(walls):6.2f} s (cpu {statistics.median(cpus):5.2f})"


def main() -> None:
    options = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    options.add_argument("--steps", default="10000,100000")
    options.add_argument("--events", type=int, default=200_000)
    options.add_argument("--runs", type=int, default=5)
    args = options.parse_args()
    py = [sys.executable, "-m", "ralph"]
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        (ws / ".git").mkdir()  # a workspace root, so the cache goes to ws/.ralph
        for n in (int(s) for s in args.steps.split(",")):
            plan = ws / f"plan-{n}.md"
            plan.write_text(generate(n))
            for flag in ([], ["--json"]):
                argv = [*py, "status", str(plan), *flag]
                no_cache = timed(
                    argv, ws, args.runs, lambda: shutil.rmtree(ws / ".ralph", ignore_errors=True)
                )
                cached = timed(argv, ws, args.runs)
                label = f"status {'--json ' if flag else ''}{n:,} steps"
                print(f"{label:<28} cold {no_cache}   cached parse {cached}")
        runs = ws / ".ralph" / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        os.environ["XDG_CONFIG_HOME"] = str(ws / "config")  # the record's MAC key, not ~'s
        record = runs / "20261201T000000Z-bench.jsonl"
        with RunLog(record, "bench") as log:  # signed, as ralph writes its records
            for e in events(args.events):
                log.emit(e.pop("event"), **{k: v for k, v in e.items() if k != "ts"})
        t = timed([*py, "log", record.stem, "--workspace", str(ws)], ws, args.runs)
        print(f"{'log ' + format(args.events, ',') + ' events':<28} {t}")


if __name__ == "__main__":
    main()
