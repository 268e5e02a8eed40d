"""Benchmark: shell analyses per second over the dev corpus, next to a bare tree-sitter parse.

Run: python3 bench/bench_shell_parse.py [--seconds N]
Prints analyses/sec of `ralph.shell.analyze` and parses/sec of `parser().parse()` on the
same shell commands (the corpus rows that are not @read/@write/@edit/@delete file-tool rows).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ralph.shell import analyze, parser

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "guard_dev.tsv"


def corpus_commands(path: Path = CORPUS) -> list[str]:
    """The shell commands of the corpus, newlines decoded."""
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    commands = [row.split("\t")[2] for row in rows if row.count("\t") >= 3]
    decoded = [bytes(c, "ascii").decode("unicode_escape") for c in commands]
    return [c for c in decoded if not c.startswith("@")]


def rate(work, items: list, seconds: float) -> tuple[float, int]:
    """Run `work` over `items` repeatedly for about `seconds`; return (items/sec, total)."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for item in items:
            work(item)
        done += len(items)
    return done / (time.perf_counter() - start), done


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    options.add_argument("--corpus", type=Path, default=CORPUS)
    args = options.parse_args()
    commands = corpus_commands(args.corpus)
    encoded = [c.encode() for c in commands]
    ts_parser = parser()
    analyze(commands[0])  # build the parser before timing
    parse_rate, parses = rate(ts_parser.parse, encoded, args.seconds)
    analyze_rate, analyses = rate(analyze, commands, args.seconds)
    problems = sum(1 for c in commands if analyze(c).problems)
    print(f"corpus shell commands: {len(commands)} ({problems} with problems)")
    print(f"bare tree-sitter parse : {parse_rate:10,.0f} /s  ({parses:,} parses)")
    print(f"analyze()              : {analyze_rate:10,.0f} /s  ({analyses:,} analyses)")
    print(f"analyze / parse cost   : {parse_rate / analyze_rate:10.1f} x")
    print(f"mean analyze time      : {1e6 / analyze_rate:10.1f} us")


if __name__ == "__main__":
    main()
