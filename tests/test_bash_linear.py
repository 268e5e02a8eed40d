"""The linear paths of the analysis give the same answers as the straightforward ones.

Option parsing no longer re-joins every earlier positional, and pipelines no longer copy
their feed lists per stage; these tests compare against reference implementations of the
old behaviour over the dev corpus.
"""

from __future__ import annotations

import random

from ralph.bash import analyze
from ralph.bash.options import _NO_OPTS, OPTIONS, _short_cluster, parse_args, table_name
from ralph.bash.words import Word
from tests.guard_workspace import corpus_rows

COMMANDS = [row[2] for row in corpus_rows() if not row[2].startswith("@")]


def reference_parse(program: str, words: list[Word]) -> tuple[set[str], list[str], list[str]]:
    """parse_args as it was: after each positional, re-join all earlier ones."""
    opts = OPTIONS.get(table_name(program), _NO_OPTS)
    takes = opts.value
    flags: set[str] = set()
    args: list[Word] = []
    values: list[tuple[str, Word]] = []
    ended = False
    i, n = 0, len(words)
    while i < n:
        word = words[i]
        text = word.value
        i += 1
        if ended or len(text) < 2 or text[0] != "-":
            if not ended and text in opts.operators:
                continue
            args.append(word)
            if opts.subcommands is not None and len(args) == 1:
                takes = opts.subcommands.get(text, frozenset())
            path = " ".join(a.value for a in args[:-1])
            ended = ended or (len(args) > 1 and path in opts.runs_command)
            continue
        if text == "--":
            ended = True
        elif word.dynamic:
            flags.add(text)
        elif text[1] == "-" or opts.long_single_dash:
            name, eq, value = text.partition("=")
            flags.add(name)
            if eq:
                values.append((name, Word(value)))
            elif name in opts.pairs:
                values.extend((name, word) for word in words[i : i + 2])
                i += 2
            elif name in takes and i < n:
                values.append((name, words[i]))
                i += 1
        elif text[1:].isdigit():
            flags.add(text)
        else:
            i = _short_cluster(text, words, i, takes, opts.attached, flags, values)
    return flags, [a.value for a in args], [f"{o}={w.value}" for o, w in values]


def test_option_parsing_matches_the_quadratic_rule_over_the_corpus() -> None:
    commands = list(analyze("; ".join(COMMANDS)).commands)
    extra = ["docker", "run", "--rm", "img", "rm", "-rf", "/", "docker", "compose", "exec", "web"]
    rng = random.Random(3)
    for _ in range(200):  # docker/compose paths mixed with flags, at every position
        words = [rng.choice([*extra, "-v", "x:y", "--", "-e", "A=1"]) for _ in range(12)]
        commands += analyze("docker " + " ".join(words)).commands
    for command in commands:
        words = [Word(w) for w in command.argv[1:]]
        flags, args, values = parse_args(command.program, words)
        old = reference_parse(command.program, words)
        new = (flags, [a.value for a in args], [f"{o}={w.value}" for o, w in values])
        assert new == old, command.argv


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
