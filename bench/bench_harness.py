"""Harness overhead and context size (issues 4 and 17).

1. Overhead: a ten-turn step (nine read_file calls, then finish_step) through `run_task`
   (guard, tools, task-file write-back, run log) against a zero-latency fake Anthropic
   server (TCP_NODELAY, one write a response), next to a bare SDK loop that makes the same
   ten streamed requests. Both sides build their SDK client inside the timer.
2. Context: estimated input tokens (characters / 4; no tokenizer offline) of the first
   request for the example plan, and for the same plan with 500 finished steps above it.

Run: python bench/bench_harness.py   (RALPH_BENCH_ROUNDS=61 for more rounds)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ralph import taskfile  # noqa: E402
from ralph.agent.prompts import (  # noqa: E402
    SYSTEM_PROMPT,
    build_prompt,
    estimate_tokens,
)
from ralph.agent.run import RunRequest, run_task  # noqa: E402
from ralph.config import Config  # noqa: E402
from ralph.guard.gate import shipped_policy  # noqa: E402
from ralph.providers import get_provider  # noqa: E402
from ralph.tools import TOOL_SPECS  # noqa: E402
from tests.fakeserver import FakeModelServer, Turn  # noqa: E402

TURNS = 10
ROUNDS = int(os.environ.get("RALPH_BENCH_ROUNDS", "21"))
"""Interleaved rounds of each side (env RALPH_BENCH_ROUNDS: more on a noisy machine)."""


def script() -> list[Turn]:
    reads = [Turn(tool_calls=[("read_file", {"path": "README.md"})]) for _ in range(TURNS - 1)]
    return [*reads, Turn(tool_calls=[("finish_step", {"outcome": "done", "summary": "ok"})])]


def ralph_once(server: FakeModelServer, ws: Path) -> float:
    plan = ws / "plan.md"
    plan.write_text("# Bench\n\n- [ ] read the readme ten times\n")
    server.add(*script())
    req = RunRequest(plan, ws, shipped_policy("default"), "unattended", Config(), 1)
    start = time.perf_counter()
    report = run_task(
        req,
        lambda on_wait: get_provider(
            "anthropic:claude-sonnet-4-6", base_url=server.url, on_wait=on_wait
        ),
    )
    elapsed = time.perf_counter() - start
    assert report.steps[0].outcome == "done", report
    return elapsed


def bare_once(server: FakeModelServer, ws: Path) -> float:
    import anthropic

    server.add(*script())
    start = time.perf_counter()  # like ralph's side: the client is built inside the timer
    client = anthropic.Anthropic(api_key="x", base_url=server.url, max_retries=0)
    messages: list[dict] = [{"role": "user", "content": "read the readme ten times"}]
    tools = [
        {"name": t.name, "description": t.description, "input_schema": t.parameters}
        for t in TOOL_SPECS
    ]
    for _ in range(TURNS):
        with client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=16000,
            system=SYSTEM_PROMPT,
            messages=messages,
            tools=tools,
        ) as s:
            final = s.get_final_message()
        call = next(b for b in final.content if b.type == "tool_use")
        messages.append({"role": "assistant", "content": [b.model_dump() for b in final.content]})
        text = (ws / "README.md").read_text() if call.name == "read_file" else "ok"
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": text}],
            }
        )
    return time.perf_counter() - start


def overhead() -> None:
    os.environ.setdefault("ANTHROPIC_API_KEY", "x")
    with tempfile.TemporaryDirectory() as tmp, FakeModelServer() as server:
        ws = Path(tmp)
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
        (ws / "README.md").write_text("# demo\n" * 50)
        ralph_once(server, ws), bare_once(server, ws)  # warm up imports and caches
        ralph_t, bare_t = [], []
        for _ in range(ROUNDS):  # interleaved, so a busy machine slows both sides alike
            ralph_t.append(ralph_once(server, ws))
            bare_t.append(bare_once(server, ws))
    for label, pick in (("median", statistics.median), ("best", min)):
        r, b = pick(ralph_t), pick(bare_t)
        print(
            f"ten-turn step, {label} of {ROUNDS}: ralph run_task {r * 1000:.1f} ms, "
            f"bare SDK loop {b * 1000:.1f} ms: {r / b:.2f}x (target <= 1.10x)"
        )


def context() -> None:
    example = ROOT / "tasks" / "prototype.md"
    text = example.read_text()
    done = "".join(
        f"- [x] finished step number {i} of the earlier phase\n"
        f"  - ralph: done · 2026-11-28 0{i % 10}:00 UTC · 7 turns · 12.3k tok · $0.07 · 2m10s"
        f" · did step {i} and its tests\n"
        for i in range(500)
    )
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
        sizes = []
        for name, body in (("example", text), ("example + 500 done", _prepend(text, done))):
            path = ws / "plan.md"
            path.write_text(body)
            tf = taskfile.load(path)
            step = tf.next_step()
            assert step is not None
            prompt = build_prompt(tf, step, ws, path)
            sizes.append(estimate_tokens(SYSTEM_PROMPT, prompt, TOOL_SPECS))
            print(f"first request, {name}: ~{sizes[-1]:,} tokens (tool schemas included)")
    print(
        f"growth with 500 finished steps: x{sizes[1] / sizes[0]:.2f} (target <= 1.5; "
        f"first request target < 3,000)"
    )


def _prepend(plan: str, done: str) -> str:
    """Put the finished steps under their own heading after the title."""
    title, _, rest = plan.partition("\n")
    return f"{title}\n\n## Done earlier\n\n{done}\n{rest}"


if __name__ == "__main__":
    overhead()
    context()
