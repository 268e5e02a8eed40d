"""The parse cache on disk: an unchanged plan is read back instead of parsed; a changed
byte, a corrupt entry or another parser's entry is ignored and rebuilt."""

from __future__ import annotations

import marshal
from dataclasses import fields
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ralph.taskfile import Step, TaskFile, cache, keep, load, reader, record_outcome
from tests.test_taskfile import CASES
from tests.test_taskfile_props import WILD_MARKERS, checklists

PLAN = (
    "---\ntitle: x\n---\n# Launch\n\n## Build\n- [x] scaffold\n- [ ] add login\n"
    "  - returns 200\n  - verify: `pytest -q`\n  - ralph: failed (attempt 1/3) · tests\n"
    "  - [ ] write the form\n\n    indented detail\n- [-] maybe\n"
)


def same(a: TaskFile, b: TaskFile) -> None:
    for f in fields(TaskFile):
        assert getattr(a, f.name) == getattr(b, f.name), f.name


class Parses:
    """Counts full parses (a new process is simulated by clearing the memory cache)."""

    def __init__(self) -> None:
        self.count = 0
        self.real = reader._Builder

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.count += 1
        return self.real(*args, **kwargs)


def cold_load(path: Path, folder: Path) -> tuple[TaskFile, int]:
    reader._CACHE.clear()
    parses = Parses()
    with mock.patch.object(reader, "_Builder", parses):
        tf = load(path, cache=folder)
    return tf, parses.count


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.md"
    path.write_text(PLAN)
    return path


def test_an_unchanged_plan_is_read_back_not_parsed(plan: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    first, n1 = cold_load(plan, folder)
    again, n2 = cold_load(plan, folder)
    assert (n1, n2) == (1, 0)
    same(again, first)
    reader._CACHE.clear()
    same(again, reader.parse(plan.read_bytes(), str(plan)))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_the_cache_reads_back_exactly_the_parse(case: Path, tmp_path: Path) -> None:
    path = tmp_path / case.name
    path.write_bytes(case.read_bytes())
    first, _ = cold_load(path, tmp_path / "c")
    again, n = cold_load(path, tmp_path / "c")
    assert n == 0
    same(again, first)


def test_a_changed_byte_invalidates(plan: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cold_load(plan, folder)
    plan.write_bytes(plan.read_bytes().replace(b"- [ ] add login", b"- [x] add login"))
    tf, _ = cold_load(plan, folder)
    assert tf.steps[1].checked
    reader._CACHE.clear()
    same(tf, reader.parse(plan.read_bytes(), str(plan)))
    _, n = cold_load(plan, folder)  # and the new parse is what is kept now
    assert n == 0


def _damaged(plan: Path, folder: Path, damage) -> None:  # type: ignore[no-untyped-def]
    """Damage the entry of `plan` (`damage(head, body)` gives the new bytes); then check it
    is not used (a full parse) and the parse is kept again."""
    want, _ = cold_load(plan, folder)
    entry = cache.entry_path(folder, plan)
    head, _, body = entry.read_bytes().partition(b"\n")
    entry.write_bytes(damage(head, body))
    tf, n = cold_load(plan, folder)
    assert n == 1
    same(tf, want)
    _, n = cold_load(plan, folder)
    assert n == 0  # rebuilt


@pytest.mark.parametrize(
    "damage",
    [
        lambda head, body: b"garbage",
        lambda head, body: head + b"\n" + body[: len(body) // 2],  # torn
        lambda head, body: head + b"\n" + body[:40] + bytes([body[40] ^ 1]) + body[41:],
        lambda head, body: head + b"\n",
        lambda head, body: b"x" + head + b"\n" + body,  # another parser's key
        lambda head, body: head.replace(b" ", b"  ", 1) + b"\n" + body,
    ],
)
def test_a_damaged_or_foreign_entry_is_ignored_and_rebuilt(
    plan: Path, tmp_path: Path, damage
) -> None:  # type: ignore[no-untyped-def]
    _damaged(plan, tmp_path / "cache", damage)


def _row(body: tuple, k: int, **changes: object) -> tuple:
    names = [f.name for f in fields(Step)]
    rows = list(body[6])
    rows[k] = tuple(changes.get(n, v) for n, v in zip(names, rows[k], strict=True))
    return (*body[:6], tuple(rows), *body[7:])


@pytest.mark.parametrize(
    "damage",
    [
        lambda body: _row(body, 0, line="7"),
        lambda body: _row(body, 0, line=body[6][0][0] + 1),
        lambda body: _row(body, 0, line=0),
        lambda body: _row(body, 0, text="rm -rf ~"),
        lambda body: _row(body, 0, checked=not body[6][0][1]),
        lambda body: _row(body, 1, index=0),
        lambda body: (*body[:6], (body[6][0][:5],), *body[7:]),  # a step with too few fields
        lambda body: (9, *body[1:]),  # another format
        lambda body: (*body[:6], list(body[6]), *body[7:]),
        lambda body: body[:6],
        lambda body: "a string",
    ],
)
def test_an_entry_that_is_no_sane_parse_is_ignored_and_rebuilt(
    plan: Path, tmp_path: Path, damage
) -> None:  # type: ignore[no-untyped-def]
    """Even with a digest that checks out (as if ralph had written it)."""

    def sealed(head: bytes, body: bytes) -> bytes:
        key, sha, _ = head.decode().split(" ")
        bad = marshal.dumps(damage(marshal.loads(body)))
        return f"{key} {sha} {cache._digest(bad)}\n".encode() + bad

    _damaged(plan, tmp_path / "cache", sealed)


def test_an_entry_from_another_ralph_version_is_ignored(plan: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cold_load(plan, folder)
    with mock.patch.object(cache, "parser_key", lambda: "another-version"):
        _, n = cold_load(plan, folder)
    assert n == 1


def test_the_key_follows_the_parser_source() -> None:
    key = cache.parser_key()
    assert len(key) == 32
    cache.parser_key.cache_clear()
    with mock.patch("ralph.__version__", "9.9.9"):
        assert cache.parser_key() != key
    cache.parser_key.cache_clear()
    assert cache.parser_key() == key


def test_keep_stores_the_parse_after_an_edit(plan: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    tf, _ = cold_load(plan, folder)
    record_outcome(plan, tf.steps[1], "failed", "still failing")
    keep(plan, folder)
    after, n = cold_load(plan, folder)
    assert n == 0 and after.steps[1].note is not None and "still failing" in after.steps[1].note
    assert marshal.loads(cache.entry_path(folder, plan).read_bytes().partition(b"\n")[2])


def test_status_caches_in_the_workspace_state_folder(tmp_path: Path) -> None:
    from ralph.cli import cli

    (tmp_path / ".git").mkdir()
    plan = tmp_path / "tasks" / "plan.md"
    plan.parent.mkdir()
    plan.write_text(PLAN)
    outs = []
    for _ in range(2):
        reader._CACHE.clear()
        result = CliRunner().invoke(cli, ["status", str(plan), "--json"])
        assert result.exit_code == 0, result.output
        outs.append(result.output)
    assert outs[0] == outs[1]
    assert list((tmp_path / ".ralph" / "cache").glob("plan.md-*.parse"))
    assert (tmp_path / ".ralph" / ".gitignore").read_text() == "*\n"


def test_an_unwritable_cache_folder_is_no_error(plan: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    tf, n = cold_load(plan, blocker / "cache")  # cannot be created: parse, keep nothing
    assert n == 1 and tf.steps


def _human_edit(lines: list[str], pick: st.DataObject) -> list[str]:
    """One edit a person makes between runs, at a line `pick` draws."""
    out = list(lines)
    i = pick.draw(st.integers(0, len(out) - 1))
    line = out[i]
    kind = pick.draw(st.sampled_from(EDITS))
    if kind == "tick":
        out[i] = line.replace("[ ]", "[x]", 1)
    elif kind == "untick":
        out[i] = line.replace("[x]", "[ ]", 1)
    elif kind == "delete":
        del out[i]
    elif kind == "word":
        out[i] = line.replace(" ", " new ", 1)
    elif kind == "indent":
        out[i] = "  " + line
    else:
        out.insert(i, kind)
    return out


EDITS = [
    *("tick", "untick", "delete", "word", "indent"),
    *("\n", "- [ ] a new step\n", "  - ralph: failed (attempt 1/3) · x\n", "## New part\n"),
    *("```\n", "<div>\n", "> quote\n", "[ref]: /x\n", "---\n", "    - [ ] code\n"),
]


def _load_kept(path: Path, folder: Path) -> TaskFile:
    reader._CACHE.clear()
    return load(path, cache=folder, require_steps=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sections=st.lists(checklists(WILD_MARKERS), min_size=1, max_size=4),
    glue=st.sampled_from(["\n", "\n\n", "\n## Part\n\n", "\n```\n", "\n> quote\n"]),
    pick=st.data(),
)
def test_a_parse_updated_from_the_kept_one_is_the_full_parse(
    tmp_path_factory: pytest.TempPathFactory, sections: list[bytes], glue: str, pick: st.DataObject
) -> None:
    """A person edits the plan between two commands: the parse built from the kept parse
    of the old bytes (when the edit allows it) is the full parse of the new bytes."""
    folder = tmp_path_factory.mktemp("c")
    path = folder / "plan.md"
    parts = [s.decode("utf-8").removeprefix("\ufeff") for s in sections]
    path.write_bytes(glue.join(parts).encode())
    _load_kept(path, folder / "cache")
    lines = path.read_bytes().decode().splitlines(keepends=True)
    path.write_bytes("".join(_human_edit(lines, pick)).encode())
    got = _load_kept(path, folder / "cache")
    reader._CACHE.clear()
    same(got, reader.parse(path.read_bytes(), str(path)))


def test_a_ticked_box_or_a_deleted_note_in_a_big_plan_is_no_full_parse(tmp_path: Path) -> None:
    body = "".join(f"## Part {p}\n\n- [ ] step {p}.{i}\n" for p in range(300) for i in range(3))
    note = "  - ralph: blocked after 3 attempts · no key\n"
    path = tmp_path / "plan.md"
    path.write_text("# Plan\n\n" + body.replace("step 9.2\n", "step 9.2\n" + note))
    folder = tmp_path / "cache"
    _load_kept(path, folder)
    for edit in [
        ("- [ ] step 7.1", "- [x] step 7.1"),
        ("- [x] step 7.1", "- [ ] step 7.1"),
        (note, ""),
    ]:
        path.write_text(path.read_text().replace(*edit))
        reader._CACHE.clear()
        updated = cache.update(folder, path, str(path), path.read_bytes())
        assert updated is not None, edit
        same(updated, reader.parse(path.read_bytes(), str(path)))
        _load_kept(path, folder)
    assert updated.steps[3 * 9 + 2].state == "todo"
    path.write_text(path.read_text() + "- [ ] one more\n")  # a new step: parsed whole
    assert cache.update(folder, path, str(path), path.read_bytes()) is None
