"""The block verify (re-parse only the edited top-level blocks) against the full verify.

For every edit ralph would make (each step, each outcome, every place a note may go) over
the corpora and the generated checklists of the property tests:

- the edit with the block verify gives the same bytes, or the same refusal, as the edit
  with only the full re-parse verify, and
- every splice the block path builds equals a fresh full parse of the new bytes, field
  for field (so what it caches for the next read is what a parse would give).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import fields
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from ralph.errors import ConflictError
from ralph.taskfile import TaskFile, block, edit_bytes, parse, reader
from tests.test_taskfile import CASES
from tests.test_taskfile_props import SETTINGS, WILD_MARKERS, checklists

OUTCOMES = ("done", "failed", "blocked", "interrupted", "awaiting_approval")


def fresh(data: bytes, name: str) -> TaskFile:
    """A full parse that no cache (nor a splice put into one) answers."""
    reader._CACHE.clear()
    return parse(data, name)


def same_parse(got: TaskFile, want: TaskFile) -> None:
    for f in fields(TaskFile):
        assert getattr(got, f.name) == getattr(want, f.name), f.name


@contextlib.contextmanager
def recorded_splices(used: list[int]) -> Iterator[None]:
    """Check every splice against a full parse; count the edits that used one."""
    real = block.splice

    def checked(old: TaskFile, lines, data, lo, hi, shift):  # type: ignore[no-untyped-def]
        got = real(old, lines, data, lo, hi, shift)
        if got is not None:
            used.append(1)
            same_parse(got.tf, fresh(data, old.name))
            assert all(
                got.tf.steps[k] is old.steps[k] or k in got.span or shift
                for k in range(len(old.steps))
            )
        return got

    with mock.patch.object(block, "splice", checked):
        yield


def outcome_of(tf: TaskFile, index: int, outcome: str, details: str | None) -> object:
    """The new bytes, or the refusal's message."""
    reader._CACHE.clear()
    try:
        return edit_bytes(tf, tf.steps[index], outcome, details, approval_id="ab12")  # type: ignore[arg-type]
    except ConflictError as e:
        return f"refused: {e}"


def compare_all_edits(
    data: bytes, name: str, used: list[int], pick: st.DataObject | None = None
) -> int:
    """Both verifiers on every edit of every step of `data` (with `pick`: of a few steps
    and outcomes it draws); return how many edits."""
    tf = fresh(data, name)
    edits = 0
    indices: list[int] = list(range(len(tf.steps)))
    if pick is not None and indices:
        indices = pick.draw(st.lists(st.sampled_from(indices), max_size=3, unique=True))
    for index in indices:
        outcomes = (
            OUTCOMES if pick is None else pick.draw(st.sampled_from([OUTCOMES[:2], OUTCOMES[2:]]))
        )
        for outcome in outcomes:
            for details in ("x", None) if outcome == "done" else ("x",):
                with mock.patch.object(block, "splice", lambda *args: None):
                    full = outcome_of(tf, index, outcome, details)
                with recorded_splices(used):
                    blocky = outcome_of(tf, index, outcome, details)
                assert blocky == full, (name, tf.steps[index].line, outcome)
                edits += 1
    return edits


def test_block_verify_agrees_with_the_full_verify_on_the_corpora() -> None:
    used: list[int] = []
    edits = sum(compare_all_edits(c.read_bytes(), c.name, used) for c in CASES)
    assert len(used) >= 0.8 * edits, (len(used), edits)  # the block path really ran


FEWER = settings(SETTINGS, max_examples=60)  # each example tries every edit of every step


@FEWER
@given(data=checklists(), pick=st.data())
def test_block_verify_agrees_on_generated_checklists(data: bytes, pick: st.DataObject) -> None:
    compare_all_edits(data, "gen.md", [], pick)


@FEWER
@given(data=checklists(WILD_MARKERS), pick=st.data())
def test_block_verify_agrees_on_wild_markdown(data: bytes, pick: st.DataObject) -> None:
    compare_all_edits(data, "gen.md", [], pick)


@settings(FEWER, max_examples=30)
@given(
    sections=st.lists(checklists(WILD_MARKERS), min_size=2, max_size=5),
    glue=st.sampled_from(["\n", "\n\n", "\n## Part\n\n", "\n```\n", "\n<div>\n", "\n> quote\n"]),
    pick=st.data(),
)
def test_block_verify_agrees_on_plans_of_many_blocks(
    sections: list[bytes], glue: str, pick: st.DataObject
) -> None:
    """Big enough that regions are a part of the file, with joins that run blocks together
    (an unclosed fence or HTML block swallows what follows)."""
    parts = [s.decode("utf-8").removeprefix("\ufeff") for s in sections]
    data = glue.join(parts).encode("utf-8")
    compare_all_edits(data, "gen.md", [], pick)


def test_a_changed_parse_of_a_big_plan_needs_only_its_block() -> None:
    body = "".join(f"## Part {p}\n\n- [ ] step {p}.{i}\n" for p in range(300) for i in range(3))
    data = ("# Plan\n\n" + body).encode()
    tf = fresh(data, "big.md")
    step = tf.steps[450]
    used: list[int] = []
    with recorded_splices(used):
        new = edit_bytes(tf, step, "failed", "tests failed")
    assert used == [1]
    after = reader._CACHE[("big.md", hashlib.sha256(new).hexdigest())]  # kept for the next read
    assert after.steps[450].note is not None and after.steps[450].state == "failed"
