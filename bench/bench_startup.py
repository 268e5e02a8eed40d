"""Benchmark: `ralph status` cold start next to `python -c pass` and a bare import of
click, rich and markdown-it (the libraries status needs).

Run: python bench/bench_startup.py [--runs 15]

Each command runs --runs times in a fresh interpreter; the median and best wall times are
printed. "ralph status" runs `python -m ralph status PLAN` on a 50-step plan, so it
includes parsing and drawing the table; "ralph --version" is the CLI without a task file.

With PYTHONDONTWRITEBYTECODE set (as in some sandboxes) every run compiles every module
from source; --bytecode unsets it for the children (after one warm-up run writes the
.pyc files), which is what an installed ralph sees.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def plan_text(n_steps: int = 50) -> str:
    lines = ["# Startup bench\n", "\n", "## Work\n"]
    for i in range(n_steps):
        lines.append(f"- [{'x' if i < n_steps // 2 else ' '}] step {i}\n")
        if i % 5 == 0:
            lines.append(f"  - verify: `pytest -q tests/test_{i}.py`\n")
    return "".join(lines)


def time_command(argv: list[str], runs: int, env: dict[str, str], cwd: str) -> tuple[float, float]:
    run = {"check": True, "capture_output": True, "env": env, "cwd": cwd}
    subprocess.run(argv, **run)  # warm-up (disk cache, .pyc)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, **run)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bytecode", action="store_true", help="let children use .pyc files")
    args = parser.parse_args()
    py = sys.executable
    env = dict(os.environ)
    if args.bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    print(f"PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE', '(unset)')}")
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plan.md"
        plan.write_text(plan_text())
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "import click, rich, markdown_it": [
                py,
                "-c",
                "import click, rich.console, rich.table, markdown_it, mdit_py_plugins.front_matter",
            ],
            "ralph --version": [py, "-m", "ralph", "--version"],
            "ralph --help": [py, "-m", "ralph", "--help"],
            "ralph check -- ls": [py, "-m", "ralph", "check", "--", "ls"],
            "ralph status PLAN": [py, "-m", "ralph", "status", str(plan)],
            "ralph status PLAN --json": [py, "-m", "ralph", "status", str(plan), "--json"],
        }
        print(f"{'command':<34} {'median':>9} {'best':>9} {'x python':>9}")
        base = None
        for label, argv in commands.items():
            median, best = time_command(argv, args.runs, env, cwd=tmp)
            base = base or median
            print(
                f"{label:<34} {median * 1000:>7.1f}ms {best * 1000:>7.1f}ms {median / base:>8.1f}x",
                flush=True,
            )
        print("targets (issue 17): --help within 4x python -c pass, check -- ls within 10x")


if __name__ == "__main__":
    main()
