"""Added latency of the sandbox per command: `true` and `ls -R` of a 1,000-file tree, run
through the Toolbox with and without bubblewrap (median of N runs; target: < 10 ms added).

    python bench/bench_sandbox.py [N]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ralph.sandbox import confine
from ralph.tools import Toolbox


def _tree(root: Path, files: int = 1_000) -> None:
    for i in range(files):
        folder = root / "src" / f"pkg{i // 50}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i}.py").write_text("x = 1\n")


def _median_ms(tb: Toolbox, command: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        code, out = tb.run_command(command)
        times.append(time.perf_counter() - start)
        assert code == 0, out
    return statistics.median(times) * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        _tree(ws)
        os.chdir(ws)
        confinement = confine("auto", "unattended", ws)
        if confinement.sandbox is None:
            print(f"no sandbox here: {confinement.problem}")
            return
        started = time.perf_counter()
        confinement.sandbox.rescan()
        scan_ms = (time.perf_counter() - started) * 1000
        plain, boxed = Toolbox(ws), Toolbox(ws, confinement=confinement)
        print(f"workspace scan once per step (1,000 files): {scan_ms:.1f} ms")
        for command in ("true", "ls -R"):
            a, b = _median_ms(plain, command, runs), _median_ms(boxed, command, runs)
            print(f"{command:<6} plain {a:6.1f} ms  sandboxed {b:6.1f} ms  added {b - a:5.1f} ms")


if __name__ == "__main__":
    main()
