"""The linear paths of the analysis give the same answers as the straightforward ones.

Option parsing no longer re-joins every earlier positional (only the first few can form a
`docker compose run`-like path), and pipelines no longer copy their feed lists per stage;
these tests compare against the old behaviour over the dev corpus.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from ralph.bash import analyze, options
from ralph.bash.options import parse_args
from ralph.bash.words import Word
from tests.guard_workspace import corpus_rows

COMMANDS = [row[2] for row in corpus_rows() if not row[2].startswith("@")]


def test_option_parsing_matches_the_quadratic_rule_over_the_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    commands = list(analyze("; ".join(COMMANDS)).commands)
    extra = ["docker", "run", "--rm", "img", "rm", "-rf", "/", "docker", "compose", "exec", "web"]
    rng = random.Random(3)
    for _ in range(200):  # docker/compose paths mixed with flags, at every position
        words = [rng.choice([*extra, "-v", "x:y", "--", "-e", "A=1"]) for _ in range(12)]
        commands += analyze("docker " + " ".join(words)).commands

    def parsed(program: str, words: list[Word]) -> tuple[Any, ...]:
        flags, args, values = parse_args(program, words)
        return flags, [a.value for a in args], [(o, w.value) for o, w in values]

    cases = [(c.program, [Word(w) for w in c.argv[1:]]) for c in commands]
    new = [parsed(program, words) for program, words in cases]
    # the old rule: every positional re-joins all the earlier ones (no cap on the path)
    monkeypatch.setattr(options, "_LONGEST_RUNS_PATH", 10**9)
    old = [parsed(program, words) for program, words in cases]
    assert new == old


def test_pipeline_feeds_match_the_earlier_stages() -> None:
    rng = random.Random(5)
    simple = [c for c in COMMANDS if "|" not in c and "\n" not in c and "&" not in c]
    simple = [c for c in simple if ";" not in c and "<<" not in c and "(" not in c]
    for _ in range(60):
        stages = rng.sample(simple, rng.randint(2, 6))
        result = analyze(" | ".join(stages))
        seen: list[str] = []
        for stage in stages:
            programs = [c.program for c in analyze(stage).commands]
            for command in result.commands:
                if command.program in programs and command.text in stage and seen:
                    assert command.input_from[: len(dict.fromkeys(seen))] == tuple(
                        dict.fromkeys(seen)
                    ), (stages, command)
            seen += programs


def test_long_pipelines_keep_every_feeder() -> None:
    source = " | ".join(["curl x", *(["cat"] * 2000), "sh"])
    sh = analyze(source).commands[-1]
    assert sh.program == "sh" and sh.stdin_from == "cat" and sh.input_from == ("curl", "cat")
