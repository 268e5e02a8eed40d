"""Benchmark: `ralph run --all --parallel N` (issue 14).

1. Lanes at once: with a fake model that takes --latency seconds per turn (default 1 s),
   the wall time of `ralph run PLAN --all --parallel 4` on four independent five-turn
   steps, next to `ralph run` of one such step (both the real CLI, in a fresh process,
   against the fake server; --repeat times each, alternating). Target: at most 1.3x.
2. Overhead per lane on a repository of --files files (default 10k, committed): creating
   the lane's worktree (`create_lane`), committing its one-file change (`commit_lane`),
   merging it back with a merge commit (`merge_lane`, no verify) and removing the lane
   (`remove_lane`). Target: under 1 s in all.

Run: python bench/bench_parallel.py [--latency 1] [--files 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ralph.lanes.merge import commit_lane, merge_lane  # noqa: E402
from ralph.worktrees import create_lane, remove_lane  # noqa: E402
from tests.fakeserver import FakeModelServer, Request, Turn  # noqa: E402

MODEL = "anthropic:claude-sonnet-4-6"
TURNS = 5
STEPS = ("one", "two", "three", "four")


def git(cwd: Path, *args: str) -> str:
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    done = subprocess.run(["git", *ident, *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"git {args[0]} failed: {done.stderr}")
    return done.stdout


def plan(steps: tuple[str, ...]) -> str:
    lines = ["# Bench", "", "- [ ] Steps", "  - parallel: yes"]
    lines += [f"  - [ ] Write {name}" for name in steps]
    return "\n".join(lines) + "\n"


def script(steps: tuple[str, ...], latency: float) -> list:
    """Five turns a step (four file writes, then finish_step), answered per step."""
    lock, taken = threading.Lock(), {}

    def answer(request: Request) -> Turn:
        first = request.body["messages"][0]["content"]
        text = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
        step = text.split("## Your step\n", 1)[1].split("\n", 1)[0]
        with lock:
            n = taken[step] = taken.get(step, -1) + 1
        name = step.removeprefix("Write ")
        if n < TURNS - 1:
            call = ("write_file", {"path": f"{name}-{n}.txt", "content": f"{n}\n"})
        else:
            call = ("finish_step", {"outcome": "done", "summary": f"wrote {name}"})
        return Turn(tool_calls=[call], delay_s=latency)

    return [answer] * (TURNS * len(steps))


def run_cli(server: FakeModelServer, root: Path, steps: tuple[str, ...], *args: str) -> float:
    ws = root / f"ws-{len(steps)}"
    ws.mkdir()
    git(ws, "init", "-q", "-b", "main")
    (ws / "plan.md").write_text(plan(steps))
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "base")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ANTHROPIC_API_KEY": "bench",
        "ANTHROPIC_BASE_URL": server.base_url("anthropic"),
        "HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "xdg"),
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@localhost",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@localhost",
    }
    argv = [sys.executable, "-m", "ralph", "run", str(ws / "plan.md"), "--model", MODEL, *args]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ws, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"ralph run failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def lanes_at_once(latency: float, repeat: int) -> None:
    ones, fours = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="ralph-bench-") as tmp:
            root = Path(tmp)
            with FakeModelServer(script(STEPS[:1], latency)) as server:
                ones.append(run_cli(server, root, STEPS[:1], "--all"))
            with FakeModelServer(script(STEPS, latency)) as server:
                fours.append(run_cli(server, root, STEPS, "--all", "--parallel", "4"))
    one, four = statistics.median(ones), statistics.median(fours)
    print(f"1. {TURNS}-turn steps, {latency:g} s a turn (median of {repeat}; min in brackets):")
    print(f"   one step, ralph run --all:            {one:6.2f} s  [{min(ones):.2f}]")
    ratio = f"({four / one:.2f}x, min/min {min(fours) / min(ones):.2f}x; target 1.3x)"
    print(f"   four steps, ralph run --parallel 4:   {four:6.2f} s  [{min(fours):.2f}]  {ratio}")


def overhead(files: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ralph-bench-") as tmp:
        ws = Path(tmp) / "repo"
        ws.mkdir()
        git(ws, "init", "-q", "-b", "main")
        for i in range(files):
            folder = ws / f"pkg{i % 100}"
            folder.mkdir(exist_ok=True)
            (folder / f"mod{i}.py").write_text(f"# module {i}\nVALUE = {i}\n")
        (ws / "plan.md").write_text(plan(("x",)))
        git(ws, "add", "-A")
        git(ws, "commit", "-qm", "files")
        os.environ.update(
            GIT_AUTHOR_NAME="bench",
            GIT_AUTHOR_EMAIL="bench@localhost",
            GIT_COMMITTER_NAME="bench",
            GIT_COMMITTER_EMAIL="bench@localhost",
        )
        times: dict[str, list[float]] = {"create": [], "commit": [], "merge": [], "remove": []}
        for r in range(repeat):
            t0 = time.perf_counter()
            head = git(ws, "rev-parse", "HEAD").strip()
            lane = create_lane(ws, f"plan-lane-{r}", f"ralph/plan/lane-{r}", head)
            t1 = time.perf_counter()
            (lane / f"pkg{r}" / f"lane{r}.py").write_text("x = 1\n")
            commit_lane(lane, "plan.md", f"lane {r}")
            t2 = time.perf_counter()
            result = merge_lane(
                ws, base="main", branch=f"ralph/plan/lane-{r}", plan_rel="plan.md",
                message=f"merge lane {r}",
            )  # fmt: skip
            assert result.outcome == "merged", result
            t3 = time.perf_counter()
            assert remove_lane(ws, lane, "main")
            t4 = time.perf_counter()
            for key, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                times[key].append(seconds)
        plain = []  # git's own cost, the floor: the same checkout without ralph
        for r in range(repeat):
            t0 = time.perf_counter()
            git(ws, "worktree", "add", "-q", "-b", f"plain-{r}", str(ws.parent / f"p{r}"), "main")
            plain.append(time.perf_counter() - t0)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"2. overhead per lane, {files:,} files (median of {repeat}):")
    for key, seconds in medians.items():
        print(f"   {key:7} {seconds:6.3f} s")
    print(f"   total   {sum(medians.values()):6.3f} s  (target < 1 s)")
    print(f"   plain `git worktree add` of the same tree: {statistics.median(plain):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lanes_at_once(args.latency, args.repeat)
    overhead(args.files, args.repeat)


if __name__ == "__main__":
    main()
