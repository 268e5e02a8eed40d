"""Prompt-cache reads over a 10-step plan (issue 16).

A 10-step plan runs through `run_task` (`ralph run --all`) against the fake model server
in token-counting mode, once per provider. Each step takes two turns (read_file, then
finish_step). The fake reads from its cache the longest prefix of a request whose bytes
equal a prefix cached by an earlier request (Anthropic: at `cache_control` breakpoints,
with writes; OpenAI: any prefix), from 1,024 tokens up, a token being 4 bytes of JSON
(see tests/fakeapi.py). So the numbers say how much of what ralph sends is byte-stable
from turn to turn and from step to step; they are not a real API's bill.

Prints, per provider: the first request's input tokens, the cache-read share of input
tokens per step and for the run; once with the APIs' 1,024-token minimum, once without
(how much is byte-stable at all).

Run: python bench/bench_cache.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ralph.agent.run import RunRequest, run_task  # noqa: E402
from ralph.config import Config, shipped_policy  # noqa: E402
from ralph.messages import Usage  # noqa: E402
from ralph.providers import get_provider  # noqa: E402
from tests.fakeserver import FakeModelServer, Turn  # noqa: E402

STEPS = 10
MODELS = {
    "anthropic": "anthropic:claude-sonnet-4-6",
    "openai": "openai:gpt-5",
    "openai-chat": "openai-chat:qwen3-coder",
}


def plan() -> str:
    steps = "".join(
        f"- [ ] Step {i}: add function f{i} to lib.py with a test\n" for i in range(1, 11)
    )
    return f"# Library\n\nSmall functions, one a step.\n\n## Work\n\n{steps}"


def script() -> list[Turn]:
    turns = []
    for i in range(1, STEPS + 1):
        turns.append(Turn(tool_calls=[("read_file", {"path": "README.md"})]))
        turns.append(Turn(tool_calls=[("finish_step", {"outcome": "done", "summary": f"f{i}"})]))
    return turns


def run(provider: str, min_tokens: int) -> list[list[Usage]]:
    """Usage of every model turn, grouped by step."""
    fake = FakeModelServer(count_tokens=True, min_cache_tokens=min_tokens)
    with tempfile.TemporaryDirectory() as tmp, fake as server:
        ws = Path(tmp)
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
        (ws / "README.md").write_text("# lib\n\nA small library.\n" * 20)
        (ws / "plan.md").write_text(plan())
        server.add(*script())
        base_url = server.base_url(provider)
        policy = shipped_policy("default")
        req = RunRequest(ws / "plan.md", ws, policy, "unattended", Config(), max_steps=None)
        report = run_task(
            req,
            lambda on_wait: get_provider(MODELS[provider], base_url=base_url, on_wait=on_wait),
        )
        assert [s.outcome for s in report.steps] == ["done"] * STEPS, report
        server.assert_complete()
        (record,) = (ws / ".ralph" / "runs").glob("*.jsonl")
        steps: list[list[Usage]] = []
        for line in record.read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "step_start":
                steps.append([])
            elif event["event"] == "model":
                steps[-1].append(Usage(**event["usage"]))
        return steps


def share(usage: Usage) -> str:
    value = usage.cache_read_share
    return "n/a" if value is None else f"{value:.0%}"


def main() -> None:
    os.environ.setdefault("ANTHROPIC_API_KEY", "x")
    os.environ.setdefault("OPENAI_API_KEY", "x")
    for min_tokens, label in ((1024, "cached from 1,024 tokens, as the APIs"), (0, "no minimum")):
        print(f"-- {label}")
        for provider in MODELS:
            steps = run(provider, min_tokens)
            first = steps[0][0]
            per_step = [sum(turns, Usage()) for turns in steps]
            total = sum(per_step, Usage())
            print(f"{provider}: first request {first.prompt_tokens:,} input tokens")
            print("  cache-read share per step: " + " ".join(share(u) for u in per_step))
            print(
                f"  run: {total.prompt_tokens:,} input tokens, {total.cache_read_tokens:,} cache "
                f"reads ({share(total)}), {total.cache_write_tokens:,} cache writes"
            )


if __name__ == "__main__":
    main()
