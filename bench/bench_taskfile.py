"""Benchmark: parse, select and check a step in generated task files of 1k, 10k, 100k steps.

Run: python bench/bench_taskfile.py [--sizes 1000,10000,100000] [--repeat 5]

Two shapes per size, both with the first 60% of steps checked:
  flat     one `- [ ] ...` line per step
  plan     a realistic plan: sections, nested sub-steps, hints, verify lines, ralph notes
           (about 1.4 lines per step)
Times are the best of --repeat runs, from a cold parse cache:
  parse    read + parse the file (ralph.taskfile.load)
  select   TaskFile.next_step()
  check    record_outcome(..., "done"): re-read, re-locate, one-character edit, atomic write
  total    parse + select + check (the target: 10k steps under 0.3 s)
  +note    record_outcome(..., "done", details): the same plus a note line, verified by
           re-parsing the edited block (from a cold cache)
  step     the plan's cost of one step of a run in a warm process: load (an unchanged file
           is not parsed again), next_step, record_outcome with a note (target: 10k steps
           under 50 ms)
The growth columns divide each size's time by the previous size's time: ~10x per 10x
more steps means linear.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from ralph import taskfile
from ralph.taskfile import reader


def generate_flat(n_steps: int) -> str:
    """`n_steps` top-level steps, 60% done."""
    done_until = int(n_steps * 0.6)
    return "".join(
        f"- [{'x' if i < done_until else ' '}] Step {i}: implement part {i}\n"
        for i in range(n_steps)
    )


def generate(n_steps: int) -> str:
    """A plan with `n_steps` steps; about 60% done, so the next step sits mid-file."""
    out = ["# Generated plan\n\nSome intro text.\n"]
    done_until = int(n_steps * 0.6)
    made = 0
    while made < n_steps:
        if made % 50 == 0:
            out.append(f"\n## Section {made // 50}\n\n")
        box = "x" if made < done_until else " "
        out.append(f"- [{box}] Step {made}: implement part {made} of the feature\n")
        made += 1
        if made % 5 == 0:
            out.append("  - acceptance: the endpoint returns 200\n")
            out.append(f"  - verify: `pytest -q tests/test_part_{made}.py`\n")
        if made % 7 == 0 and made < n_steps - 1:
            for _ in range(2):
                box = "x" if made < done_until else " "
                out.append(f"  - [{box}] Sub-step {made}\n")
                made += 1
        if made % 11 == 0:
            out.append("  - ralph: failed (attempt 1/3) · 2026-11-29 04:40 UTC · tests failed\n")
    return "".join(out)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


SHAPES = {"flat": generate_flat, "plan": generate}


def measure(shape: str, n_steps: int, repeat: int, folder: Path) -> dict[str, float]:
    source = folder / f"{shape}-{n_steps}.md"
    source.write_text(SHAPES[shape](n_steps))
    work = folder / "work.md"
    result: dict[str, list[float]] = {k: [] for k in ("parse", "select", "check", "+note")}
    for _ in range(repeat):
        shutil.copyfile(source, work)
        reader._CACHE.clear()
        t0 = time.perf_counter()
        tf = taskfile.load(work)
        t1 = time.perf_counter()
        step = tf.next_step()
        t2 = time.perf_counter()
        assert step is not None and len(tf.steps) == n_steps
        taskfile.record_outcome(work, step, "done")
        t3 = time.perf_counter()
        result["parse"].append(t1 - t0)
        result["select"].append(t2 - t1)
        result["check"].append(t3 - t2)
        # The note path, from a cold cache too (as after a long model session).
        shutil.copyfile(source, work)
        reader._CACHE.clear()
        tf = taskfile.load(work)
        t4 = time.perf_counter()
        taskfile.record_outcome(work, step, "done", "added the endpoint and its tests")
        result["+note"].append(time.perf_counter() - t4)
    result["step"] = [per_step(source, work) for _ in range(repeat)]
    out = {k: min(v) for k, v in result.items()}
    out["total"] = out["parse"] + out["select"] + out["check"]
    return out


def per_step(source: Path, work: Path, steps: int = 5) -> float:
    """The plan's share of one step in `ralph run --all`, averaged over `steps` steps in one
    process after the first read: read the plan, pick the step, record a note, read again."""
    shutil.copyfile(source, work)
    taskfile.load(work)
    t0 = time.perf_counter()
    for _ in range(steps):
        tf = taskfile.load(work)
        step = tf.next_step()
        assert step is not None
        taskfile.record_outcome(work, step, "done", "added the endpoint and its tests")
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cols = ("parse", "select", "check", "total", "+note", "step")
    head = f"{'shape':>5} {'steps':>7} " + " ".join(f"{c:>9}" for c in cols)
    print(head + "  growth(total) growth(+note)")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in SHAPES:
            prev: dict[str, float] | None = None
            for n in sizes:
                r = measure(shape, n, args.repeat, Path(tmp))
                row = f"{shape:>5} {n:>7} " + " ".join(f"{r[c]:>8.4f}s" for c in cols)
                if prev:
                    row += f"  {r['total'] / prev['total']:>12.1f}x"
                    row += f" {r['+note'] / prev['+note']:>12.1f}x"
                print(row, flush=True)
                prev = r


if __name__ == "__main__":
    main()
