"""Benchmark: the redactor's cost per KB of text, on the kinds of text a run records.

Run: python3 bench/bench_redact.py [--seconds N]

It runs on every string of every record line (and again in `ralph log` and the live view),
so it must stay cheap: one compiled regex anchored on rare characters, one pass. Prints the
best of several rounds, in microseconds per KB, for `redact` alone and for `for_display`
(redaction, control-character escaping), plus the cost of one short string (a record
field) and of `RunLog.emit` per event.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ralph.record.log import RunLog  # noqa: E402
from ralph.redact import for_display, redact, refresh  # noqa: E402


def samples() -> dict[str, str]:
    source = (ROOT / "ralph" / "agent" / "session.py").read_text()
    readme = (ROOT / "README.md").read_text()[:30_000]
    pytest_out = "".join(
        f"tests/test_{i}.py::test_case_{j} PASSED  [{j}%]\n" for i in range(40) for j in range(10)
    )
    record = json.dumps(
        {"event": "tool", "name": "run_command", "arguments": {"command": "pytest -q"},
         "result": pytest_out[:2000], "decision": "allow", "rule": "tests"}
    )  # fmt: skip
    secrets = (
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEk3\n"
        "curl -H 'Authorization: Bearer abcdEFGH1234ijklMNOP5678' https://api\n"
        "token: ghp_" + "A1b2C3d4E5" * 4 + "\npassword=hunter2hunter2\n"
    ) * 20
    prose = "The quick brown fox jumps over the lazy dog; nothing to redact here. " * 150
    return {
        "python source": source,
        "README (markdown)": readme,
        "pytest output": pytest_out,
        "a record line (JSON)": record,
        "English prose": prose,
        "text full of secrets": secrets,
    }


def per_call(work: Callable[[str], object], text: str, seconds: float) -> float:
    """Best seconds per call of `work(text)` over five rounds of about `seconds` / 5."""
    best = float("inf")
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            work(text)
            n += 1
        best = min(best, (time.perf_counter() - start) / n)
    return best


def main() -> None:
    options = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    options.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    args = options.parse_args()
    t0 = time.perf_counter()
    refresh()
    print(f"{'build (compile, env scan)':<26} {1e3 * (time.perf_counter() - t0):8.1f} ms")
    print(f"{'text':<26} {'KB':>6} {'redact us/KB':>13} {'for_display us/KB':>18}")
    for name, text in samples().items():
        kb = len(text.encode()) / 1024
        r = per_call(redact, text, args.seconds) * 1e6 / kb
        d = per_call(for_display, text, args.seconds) * 1e6 / kb
        print(f"{name:<26} {kb:6.1f} {r:13.1f} {d:18.1f}")
    short = "pytest -q tests/test_api.py"
    print(f"{'one short string':<26} {per_call(redact, short, args.seconds) * 1e6:8.2f} us")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")  # the MAC key, not ~'s
        with RunLog(Path(tmp) / "bench.jsonl", "bench") as log:
            fields = json.loads(samples()["a record line (JSON)"])
            del fields["event"]
            emit = per_call(lambda _: log.emit("tool", **fields), "", args.seconds)
    print(f"{'RunLog.emit (tool event)':<26} {emit * 1e6:8.1f} us per event")


if __name__ == "__main__":
    main()
