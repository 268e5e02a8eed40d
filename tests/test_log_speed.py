"""The fast paths of `ralph log` give what the plain ones give: the MAC check from the
line as written (against the event serialized again), and markup to plain text in C-level
passes (against rich's reading, one tag at a time)."""

from __future__ import annotations

import hmac
import json
import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.markup import RE_TAGS

from ralph import integrity
from ralph.cli.render import _plain_tag, from_markup
from ralph.integrity import _hmac_sha256
from ralph.record.log import RunLog, not_by_ralph, read_record, read_run

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def _record(tmp_path: Path, events: list[dict[str, Any]]) -> Path:
    with RunLog(tmp_path / "20260101T000000Z-abcdef.jsonl", "abcdef") as log:
        for fields in events:
            log.emit("tool", **fields)
    return log.path


def _tamper(lines: list[str], rng: random.Random) -> list[str]:
    """Edits a person or a command could make: some keep the MAC valid (the "mac" key
    moved, spacing changed), most do not."""
    out = list(lines)
    for _ in range(rng.randint(0, 3)):
        i = rng.randrange(len(out))
        event = json.loads(out[i])
        kind = rng.choice(["move", "compact", "edit", "insert", "delete", "strip", "swap"])
        if kind == "move":  # the same fields and MAC, the MAC first
            out[i] = json.dumps({"mac": event.pop("mac", None), **event}, ensure_ascii=False)
        elif kind == "compact":
            out[i] = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        elif kind == "edit":
            out[i] = json.dumps({**event, "ts": 1.0}, ensure_ascii=False)
        elif kind == "insert":
            out.insert(i, out[rng.randrange(len(out))])
        elif kind == "delete" and len(out) > 1:
            del out[i]
        elif kind == "strip":
            event.pop("mac", None)
            out[i] = json.dumps(event, ensure_ascii=False)
        elif kind == "swap" and i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.dictionaries(st.sampled_from("abcxyz"), _VALUES), min_size=1, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_mac_check_from_lines_finds_what_the_check_of_events_finds(
    tmp_path_factory: Any, events: list[dict[str, Any]], seed: int
) -> None:
    path = _record(tmp_path_factory.mktemp("r"), events)
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    assert not_by_ralph(path, *read_record(path)) == []
    path.write_text("\n".join(_tamper(lines, random.Random(seed))) + "\n", encoding="utf-8")
    events_read, lines_read = read_record(path)
    assert events_read == read_run(path)
    assert not_by_ralph(path, events_read, lines_read) == not_by_ralph(path, events_read)


def test_a_moved_mac_still_checks_out_and_an_edit_does_not(tmp_path: Path) -> None:
    path = _record(tmp_path, [{"n": 1}, {"n": 2}, {"n": 3}])
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    first = json.loads(lines[0])
    lines[0] = json.dumps({"mac": first.pop("mac"), **first})  # same fields, mac first
    lines[2] = lines[2].replace('"n": 3', '"n": 4')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not_by_ralph(path, *read_record(path)) == [2]


def test_a_mac_that_is_not_ascii_is_not_ralphs_and_no_crash(tmp_path: Path) -> None:
    path = _record(tmp_path, [{"n": 1}, {"n": 2}])
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    event = json.loads(lines[0])
    lines[0] = json.dumps({**event, "mac": "é" * 64}, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not_by_ralph(path, *read_record(path)) == [0, 1]
    assert not_by_ralph(path, read_run(path)) == [0, 1]


def test_lines_that_are_no_event_are_skipped(tmp_path: Path) -> None:
    path = _record(tmp_path, [{"n": 1}])
    path.write_text(path.read_text() + "5\n[1]\n{torn", encoding="utf-8")
    events, lines = read_record(path)
    assert [e["n"] for e in events] == [1] and len(lines) == 1
    assert not_by_ralph(path, events, lines) == []


_MARKUP = st.lists(
    st.sampled_from(
        ["[", "]", "\\", "/", "a", "dim", "bold", "[/]", "[dim]", "[bold red]", "\n", " ", "x"]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(_MARKUP)
def test_markup_to_plain_text_is_rich_reading_tag_by_tag(text: str) -> None:
    assert from_markup(text, False) == RE_TAGS.sub(_plain_tag, text)


def test_markup_to_plain_text_with_escapes_on_some_lines() -> None:
    text = "[dim]a[/] \\[b] c\n[bold]d[/]\n\\\\[dim]e[/]\\[f]\n[1] [z]"
    plain = "a [b] c\nd\n\\e[f]\n[1] "
    assert from_markup(text, False) == RE_TAGS.sub(_plain_tag, text) == plain
    spanning = text + " [x\ny]"  # a tag across a line end (rich reads it as one)
    assert from_markup(spanning, False) == "a [b] c\nd\n\\e[f]\n[1]  "


@settings(max_examples=100, deadline=None)
@given(key=st.binary(max_size=150), prefix=st.binary(max_size=20), data=st.binary(max_size=300))
def test_the_signer_is_hmac_sha256(key: bytes, prefix: bytes, data: bytes) -> None:
    assert _hmac_sha256(key, prefix)(data) == hmac.new(key, prefix + data, "sha256").hexdigest()


def test_mac_and_signer_agree_with_the_secret() -> None:
    data = b"run\0prev\0{}"
    assert integrity.mac("run-record-v1", data) == integrity.signer("run-record-v1")(data)
    assert (
        integrity.mac("run-record-v1", data)
        == hmac.new(integrity._key(), b"run-record-v1\0" + data, "sha256").hexdigest()
    )
