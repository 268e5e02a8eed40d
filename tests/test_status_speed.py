"""The fast paths of `ralph status` print what the plain ones printed: the step lines
(against the row-by-row rendering they replaced) and the --json text (against
json.dumps with indent=2), on generated plans and values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ralph.cli.jsontext import indented
from ralph.cli.render import STATE_STYLES, paint, printable
from ralph.cli.status import _steps_lines
from ralph.taskfile import TaskFile, parse


def _steps_lines_before(tf: TaskFile, on: bool) -> list[str]:
    """The rendering before it was made fast (one f-string and paint per row)."""
    states = {s: s.replace("_", " ") for s in STATE_STYLES}
    line_w = max(4, len(str(tf.steps[-1].line)) if tf.steps else 0)
    state_w = max([5, *(len(states[s.state]) for s in tf.steps)])
    rows = [
        ("  " * s.depth + ("[x] " if s.checked else "[ ] ") + printable(s.text), s)
        for s in tf.steps
    ]
    step_w = min(max([4, *(len(text) for text, _ in rows)]), 60)
    head = f"{'line':>{line_w}}  {'state':<{state_w}}  {'step':<{step_w}}  last note"
    out = [printable(f"{tf.title}  ({tf.name})"), paint(head, "bold", on)]
    dim = "\x1b[2m" if on else ""
    undim = "\x1b[0m" if on else ""
    for text, s in rows:
        state = paint(f"{states[s.state]:<{state_w}}", STATE_STYLES[s.state], on)
        note = f"  {dim}{printable(s.note)}{undim}" if s.note else ""
        out.append(f"{dim}{s.line:>{line_w}}{undim}  {state}  {text:<{step_w}}{note}".rstrip())
    return out


NOTES = [
    "",
    "  - ralph: done · added it",
    "  - ralph: failed (attempt 1/3) · tests\x1b[31m red\x07",
    "  - ralph: blocked after 3 attempts · needs a key",
    "  - ralph: awaiting approval ab12cd · rm -rf build",
    "  - ralph: interrupted",
]
TEXT = st.text(
    alphabet=st.sampled_from("abc xyz é✓[]`*\x1b\x01\x7f\u0085\u00a0\u2028\u3000"),
    min_size=1,
    max_size=80,
).map(lambda t: "T" + t.replace("\n", " "))
STEP = st.tuples(st.integers(0, 3), st.booleans(), TEXT, st.sampled_from(NOTES))


def _plan(steps: list[tuple[int, bool, str, str]]) -> str:
    out, depth = ["# A \x1b[2Jplan\n\n"], 0
    for level, checked, text, note in steps:
        depth = min(level, depth + 1)
        pad = "  " * depth
        out.append(f"{pad}- [{'x' if checked else ' '}] {text}\n")
        if note:
            out.append(pad + note + "\n")
    return "".join(out)


@settings(max_examples=50, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=30), st.booleans())
def test_step_lines_are_what_they_were(steps: list[Any], on: bool) -> None:
    tf = parse(_plan(steps).encode(), "plans/p.md")
    assert _steps_lines(tf, on) == _steps_lines_before(tf, on)


def test_step_lines_of_a_big_generated_plan() -> None:
    steps = [(i % 4, i % 5 == 0, f"step {i} " + "x" * (i % 70), NOTES[i % 6]) for i in range(3000)]
    tf = parse(_plan(steps).encode(), "p.md")
    assert {s.state for s in tf.steps} == set(STATE_STYLES)
    for on in (False, True):
        assert _steps_lines(tf, on) == _steps_lines_before(tf, on)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=st.sampled_from('a"\\\n}{],[: é\x00\u2028'), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
        | st.dictionaries(st.integers() | st.floats() | st.booleans() | st.none(), inner)
        | st.lists(st.dictionaries(st.text(max_size=3), inner, min_size=1, max_size=3))
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_indented_json_is_json_dumps(value: Any, ensure_ascii: bool) -> None:
    assert indented(value, ensure_ascii=ensure_ascii) == json.dumps(
        value, indent=2, ensure_ascii=ensure_ascii
    )


class Number(int):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {"steps": [{"a": "}},\n    {"}, {"b": 1}]},  # the step separator inside a string
        [{"a": 1}, {}],
        [{"a": 1}, {"b": [1]}],
        {"n": Number(3)},
        {"x": [float("nan"), float("inf"), -0.0, 10**30]},
    ],
)
def test_indented_json_edge_cases(value: Any) -> None:
    assert indented(value) == json.dumps(value, indent=2, ensure_ascii=False)


def test_indented_json_refuses_what_json_dumps_refuses() -> None:
    loop: list[Any] = []
    loop.append(loop)
    for bad in (loop, {"x": object()}, {(1, 2): 3}):
        with pytest.raises((ValueError, TypeError)):
            indented(bad)


def test_status_json_of_a_plan_is_json_dumps_of_its_shape() -> None:
    steps = [(i % 3, i % 2 == 0, f"s{i} \x1b é", NOTES[i % 6]) for i in range(200)]
    tf = parse(_plan(steps).encode(), "p.md")
    data = tf.to_json()
    assert indented(data) == json.dumps(data, indent=2, ensure_ascii=False)
