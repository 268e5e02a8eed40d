"""One hook process per tool call: start, policy load, check, answer. Prints medians.

    python bench/bench_hook.py [N]

Compares `python -m ralph hook claude` (allow and confirm cases) and the import cost
alone against `python -c pass`, in a throwaway git workspace.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(args: list[str], stdin: str, cwd: Path, n: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(REPO)}
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(args, input=stdin, capture_output=True, text=True, cwd=cwd, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    # An installed ralph has its bytecode compiled; a checkout run with
    # PYTHONDONTWRITEBYTECODE would otherwise compile every module on every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "ralph")], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
        os.environ["XDG_CONFIG_HOME"] = str(ws / ".xdg")
        os.environ["XDG_CACHE_HOME"] = str(ws / ".cache")

        def event(command: str) -> str:
            return json.dumps(
                {
                    "cwd": str(ws),
                    "hook_event_name": "PreToolUse",
                    "tool_name": "Bash",
                    "tool_input": {"command": command},
                    "session_id": "s",
                    "tool_use_id": "t",
                }
            )

        py = [sys.executable]
        base = timed([*py, "-c", "pass"], "", ws, n)
        imports = timed([*py, "-c", "import ralph.hooks.answer, ralph.cli"], "", ws, n)
        allow = timed([*py, "-m", "ralph", "hook", "claude"], event("ls -la src"), ws, n)
        ask = timed([*py, "-m", "ralph", "hook", "claude"], event("rm -rf src"), ws, n)
        lean = timed([*py, "-m", "ralph.hooks", "claude"], event("ls -la src"), ws, n)
        queue = timed([*py, "-m", "ralph", "hook", "codex"], event("git status"), ws, n)
    print(f"python -c pass              {base:7.1f} ms")
    print(f"import ralph.cli + hooks    {imports:7.1f} ms")
    print(f"hook claude, allow (ls)     {allow:7.1f} ms")
    print(f"hook claude, ask (rm -rf)   {ask:7.1f} ms")
    print(f"hook codex, allow (git st)  {queue:7.1f} ms")
    print(f"python -m ralph.hooks, allow {lean:6.1f} ms  (what hook install writes)")
    print("(median of", n, "runs each; cc-safety-net's published figure: about 80 ms)")


if __name__ == "__main__":
    main()
