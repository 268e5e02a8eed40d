"""Task-file engine: the shared corpus, context, notes and attempts, bad input, concurrent edits."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ralph import taskfile
from ralph.errors import ConflictError, TaskFileError
from ralph.taskfile import edit_bytes, load, parse, reader, record_outcome

CORPUS = Path(__file__).resolve().parent / "corpus" / "taskfiles"
EXTRA = Path(__file__).resolve().parent / "taskfiles_extra"  # our own cases, same format
CASES = sorted(CORPUS.glob("*.md")) + sorted(EXTRA.glob("*.md"))
LINE_RE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def split_lines(data: bytes) -> list[bytes]:
    return LINE_RE.findall(data)


def _step_at(tf: taskfile.TaskFile, line: int) -> taskfile.Step:
    return next(s for s in tf.steps if s.line == line)


def write(tmp_path: Path, text: str | bytes, name: str = "plan.md") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# --------------------------------------------------------------------------- corpus


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_corpus_steps_next_and_warnings(case: Path) -> None:
    expected = json.loads(case.with_suffix(".expected.json").read_text())
    tf = parse(case.read_bytes(), case.name)
    got = [{k: s.to_json()[k] for k in ("line", "checked", "text", "depth")} for s in tf.steps]
    assert got == expected["steps"]
    nxt = tf.next_step()
    assert (nxt.line if nxt else None) == expected["extras"]["first_unchecked_leaf_line"]
    extras = expected["extras"]
    want = sorted(extras["ignored_in_blockquote_lines"] + extras["other_marker_lines"])
    assert sorted(w.line for w in tf.warnings) == want


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_corpus_check_changes_one_character(case: Path) -> None:
    expected = json.loads(case.with_suffix(".expected.json").read_text())
    data = case.read_bytes()
    tf = parse(data, case.name)
    first = next((s for s in tf.steps if not s.checked), None)
    if expected["after_first_check"] is None:
        assert first is None
        return
    assert first is not None
    new = edit_bytes(tf, first, "done")
    assert new.decode("utf-8") == expected["after_first_check"]
    assert len(new) == len(data)
    assert sum(a != b for a, b in zip(new, data, strict=True)) == 1


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_corpus_note_only_inserts_lines(case: Path) -> None:
    expected = json.loads(case.with_suffix(".expected.json").read_text())
    with_note = expected["extras"].get("after_first_check_with_note")
    if with_note is None:
        return
    tf = parse(case.read_bytes(), case.name)
    first = next(s for s in tf.steps if not s.checked)
    new = edit_bytes(tf, first, "done", "added the thing")
    checked = split_lines(expected["after_first_check"].encode())
    got = split_lines(new)
    inserted = [line for line in got if b"- ralph: done \xc2\xb7 added the thing" in line]
    assert len(inserted) == 1
    rest = [line for line in got if line not in inserted]
    if not inserted[0].endswith((b"\n", b"\r")):  # the note ends a file without a final EOL
        assert got[-1] == inserted[0] and not checked[-1].endswith((b"\n", b"\r"))
        assert rest[-1].rstrip(b"\r\n") == checked[-1]  # the old last line only gains an EOL
        rest[-1] = checked[-1]
    assert rest == checked
    # Same place and indent as the corpus's own example of a note.
    theirs = split_lines(with_note.encode())
    pos = got.index(inserted[0])
    assert got[pos].split(b"- ralph:")[0] == theirs[pos].split(b"- ralph:")[0]


# --------------------------------------------------------------------------- parsing


PLAN = """\
---
title: demo
steps:
- [ ] not a step (front matter)
---
# Ship the app

Intro paragraph.

## Backend

- [x] Create the project
- [ ] Add login
  - returns 200 for a good password
  - verify: `pytest -q tests/test_login.py`
  - model: anthropic:claude-sonnet
  - [ ] Write the form
    - uses the existing CSS
  - [ ] Wire the route

  The route lives in `app/routes.py`.

### Deploy

1. [ ] Deploy
   - verify: ``fly deploy --dry-run``

```md
- [ ] inside a fence
```

    - [ ] indented code
<!--
- [ ] in a comment
-->
> - [ ] quoted
"""


def test_parse_context_headings_parents_hints_settings() -> None:
    tf = parse(PLAN.encode(), "plan.md")
    assert tf.title == "Ship the app"
    assert tf.front_matter is not None and "not a step" in tf.front_matter
    texts = [s.text for s in tf.steps]
    assert texts == [
        "Create the project",
        "Add login",
        "Write the form",
        "Wire the route",
        "Deploy",
    ]
    login, form, route, deploy = tf.steps[1:]
    assert login.headings == ("Ship the app", "Backend")
    assert login.hints == ("returns 200 for a good password",)
    assert login.verify == ("pytest -q tests/test_login.py",)
    assert login.settings == {
        "verify": "pytest -q tests/test_login.py",
        "model": "anthropic:claude-sonnet",
    }
    assert login.details == ("The route lives in `app/routes.py`.",)
    assert login.children == (form.index, route.index)
    assert form.parents == ("Add login",) and form.depth == 1 and form.parent == login.index
    assert form.hints == ("uses the existing CSS",)
    assert deploy.headings == ("Ship the app", "Backend", "Deploy")
    assert deploy.verify == ("fly deploy --dry-run",)
    assert [w.line for w in tf.warnings] == [PLAN.splitlines().index("> - [ ] quoted") + 1]
    assert tf.next_step() == form


def test_title_falls_back_to_file_name() -> None:
    assert parse(b"## Only h2\n- [ ] a\n", "dir/plan.md").title == "plan.md"


def test_text_is_first_paragraph_as_written() -> None:
    tf = parse(b"- [ ]  *Bold* `code` [link](x)  \n  continues here\n- [ ]\tafter tab\n", "p")
    assert [s.text for s in tf.steps] == ["*Bold* `code` [link](x)  \ncontinues here", "after tab"]


def test_setext_heading_as_first_block_and_marker_on_marker() -> None:
    tf = parse(b"- [ ] setext\n  ---\n- - [ ] inner\n1) [X] ordered\n", "p")
    assert [(s.line, s.text, s.depth, s.checked) for s in tf.steps] == [
        (1, "setext", 0, False),
        (3, "inner", 1, False),
        (4, "ordered", 0, True),
    ]


def test_lookalikes_warn_with_line_numbers() -> None:
    src = "- [-] a\n- [/] b\n- [~] c\n- [!] d\n- [ ]* e\n- [] f\n- [ ] real\n- [x](url) link\n"
    tf = parse(src.encode(), "p")
    assert [s.text for s in tf.steps] == ["real"]
    assert [w.line for w in tf.warnings] == [1, 2, 3, 4, 5, 6]
    assert str(tf.warnings[0]).startswith("line 1: `[-]` is not a task box")


def test_a_box_glued_to_its_text_says_what_follows_it() -> None:
    tf = parse("- [ ]*e\n- [x]\u00a0f\n> - [ ]x g\n- [ ] ok\n".encode(), "p")
    assert [s.line for s in tf.steps] == [4]
    assert [str(w) for w in tf.warnings] == [
        "line 1: `[ ]` is followed by `*`, not a space; ralph ignores it",
        "line 2: `[x]` is followed by U+00A0 NO-BREAK SPACE, not a space; ralph ignores it",
        "line 3: `[ ]` inside a blockquote is not a step; ralph ignores it",
    ]


def test_next_step_skips_blocked_steps_and_a_waiting_step_holds_the_rest() -> None:
    src = """\
- [ ] parent
  - [x] done child
  - [ ] blocked child
    - ralph: blocked after 3 attempts · broke
- [ ] waits
  - ralph: awaiting approval a1b2c3 · rm -rf build
- [ ] retry me
  - ralph: failed (attempt 2/3) · tests failed
"""
    tf = parse(src.encode(), "p")
    states = [(s.text, s.state, s.attempts) for s in tf.steps]
    assert states == [
        ("parent", "todo", 0),
        ("done child", "done", 0),
        ("blocked child", "blocked", 3),
        ("waits", "awaiting_approval", 0),
        ("retry me", "failed", 2),
    ]
    assert tf.steps[3].approval_id == "a1b2c3"
    then = tf.what_next()  # a blocked step is passed over; a pending approval holds the plan
    assert then.step is None and then.waiting is tf.steps[3] and not then.missing
    nxt = tf.next_step(skip_waiting=True)
    assert nxt is not None and nxt.text == "retry me"


def test_step_awaiting_a_decided_approval_runs_again() -> None:
    src = "- [ ] deploy\n  - ralph: awaiting approval a1b2c3 · fly deploy\n- [ ] later\n"
    tf = parse(src.encode(), "p")
    assert tf.next_step() is None  # pending: deploy holds "later"
    assert tf.next_step(decided=lambda i: False) is None
    assert tf.next_step(decided=lambda i: False, skip_waiting=True).text == "later"
    seen = []
    assert tf.next_step(decided=lambda i: seen.append(i) or True).text == "deploy"
    assert seen == ["a1b2c3"]
    statuses = {"approved": "deploy", "rejected": "deploy", "used": "deploy"}
    for status, text in statuses.items():
        assert tf.what_next(lambda i, s=status: s).step.text == text
    missing = tf.what_next(lambda i: None)
    assert (
        missing.step is None
        and missing.missing
        and "not in this machine" in (missing.waiting_reason)
    )


def test_note_is_never_a_step_or_hint_and_only_counts_under_a_step() -> None:
    src = "- ralph: done · top level is just an item\n- [ ] a\n  - ralph: interrupted\n  - hint\n"
    tf = parse(src.encode(), "p")
    (a,) = tf.steps
    assert a.note == "interrupted" and a.hints == ("hint",) and a.state == "todo"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("folder", "is a folder"),
        (b"- [ ] caf\xe9\n", "not UTF-8"),
        (b"- [ ] a\x00b\n", "binary"),
        (b"", "has no steps"),
        (b"# Plan\n\njust prose\n- [-] look-alike\n", "has no steps"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "plan.md"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(TaskFileError) as err:
        load(path)
    text = str(err.value)
    assert message in text and "\n" not in text and str(path) in text
    assert err.value.exit_code == 2
    if isinstance(content, bytes):
        assert path.read_bytes() == content


# --------------------------------------------------------------------------- outcomes


def test_failed_attempts_update_one_note_then_block(tmp_path: Path) -> None:
    path = write(tmp_path, "# P\n- [ ] flaky step\n- [ ] next one\n")
    step = load(path).steps[0]
    for attempt in (1, 2):
        step = record_outcome(path, step, "failed", f"try {attempt}\nfailed")
        assert (step.state, step.attempts, step.checked) == ("failed", attempt, False)
        assert path.read_text().count("- ralph:") == 1
    assert "- ralph: failed (attempt 2/3) · try 2 failed\n" in path.read_text()
    step = record_outcome(path, step, "failed", "try 3")
    assert (step.state, step.attempts) == ("blocked", 3)
    assert path.read_text() == (
        "# P\n- [ ] flaky step\n  - ralph: blocked after 3 attempts · try 3\n- [ ] next one\n"
    )
    tf = load(path)
    assert tf.next_step() == tf.steps[1]
    # A person removes the note: the step runs again from scratch.
    path.write_text(path.read_text().replace("  - ralph: blocked after 3 attempts · try 3\n", ""))
    fresh = load(path).steps[0]
    assert (fresh.state, fresh.attempts) == ("todo", 0)
    assert load(path).next_step() == fresh


def test_max_attempts_and_other_outcomes(tmp_path: Path) -> None:
    path = write(tmp_path, "- [ ] a\n")
    step = load(path).steps[0]
    step = record_outcome(path, step, "failed", "x", max_attempts=1)
    assert step.state == "blocked" and step.attempts == 1
    path.write_text("- [ ] a\n  - ralph: failed (attempt 1/3) · x\n")
    step = record_outcome(path, load(path).steps[0], "interrupted", "ctrl-c")
    assert (step.state, step.attempts, step.note) == (
        "todo",
        1,
        "interrupted (attempt 1/3) · ctrl-c",
    )
    step = record_outcome(path, step, "awaiting_approval", "rm -rf build", approval_id="a1b2c3")
    assert (step.state, step.attempts, step.approval_id) == ("awaiting_approval", 1, "a1b2c3")
    step = record_outcome(path, step, "blocked", "the model gave up")
    assert (step.state, step.attempts) == ("blocked", 2)
    with pytest.raises(ValueError):
        record_outcome(path, step, "awaiting_approval", "x", approval_id="has space")


def test_done_checks_box_replaces_failed_note_and_closes_parents(tmp_path: Path) -> None:
    src = (
        "- [ ] top\n"
        "  - [ ] mid\n"
        "    - [x] first\n"
        "    - [ ] last\n"
        "      - ralph: failed (attempt 1/3) · oops\n"
        "  - [ ] sibling\n"
    )
    path = write(tmp_path, src)
    last = _step_at(load(path), 4)
    step = record_outcome(path, last, "done", "fixed")
    assert step.checked and step.state == "done" and step.note == "done · fixed"
    assert path.read_text() == (
        "- [ ] top\n"
        "  - [x] mid\n"
        "    - [x] first\n"
        "    - [x] last\n"
        "      - ralph: done · fixed\n"
        "  - [ ] sibling\n"
    )
    record_outcome(path, _step_at(load(path), 6), "done")
    assert path.read_text().startswith("- [x] top\n")


def test_done_on_a_box_the_agent_already_checked_only_adds_the_note(tmp_path: Path) -> None:
    path = write(tmp_path, "- [ ] a\n- [ ] b\n")
    step = load(path).steps[0]
    path.write_text("- [X] a\n- [ ] b\n")
    record_outcome(path, step, "done", "ok")
    assert path.read_text() == "- [X] a\n  - ralph: done · ok\n- [ ] b\n"


def test_note_keeps_eols_bom_and_missing_final_newline(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf- [ ] a\r\n- [ ] b\r  trailing \t")
    tf = load(path)
    record_outcome(path, tf.steps[1], "failed", "no")
    assert path.read_bytes() == (
        b"\xef\xbb\xbf- [ ] a\r\n- [ ] b\r  trailing \t\r\n"
        b"  - ralph: failed (attempt 1/3) \xc2\xb7 no"
    )


def test_note_text_is_one_line_and_capped() -> None:
    tf = parse(b"- [ ] a\n", "p")
    new = edit_bytes(tf, tf.steps[0], "failed", "line1\nline2\r\x00\u2028" + "y" * 1000)
    note = new.decode().splitlines()[1]
    assert note.startswith("  - ralph: failed (attempt 1/3) · line1 line2 \\x00 y")
    assert len(note) < taskfile.NOTE_MAX_CHARS + 50 and note.endswith("…")


def test_note_details_format() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 29, 4, 40, tzinfo=UTC)
    got = taskfile.note_details(
        "added /login\nand its tests",
        when=when,
        turns=7,
        tokens=12_345,
        cost_usd=0.071,
        seconds=130,
    )
    assert (
        got
        == "2026-11-29 04:40 UTC · 7 turns · 12.3k tok · $0.07 · 2m10s · added /login and its tests"
    )


def test_note_goes_after_indented_code_it_would_otherwise_adopt(tmp_path: Path) -> None:
    # Right under the box, the note item would adopt the indented code below it (the code
    # would become its paragraph); the next place that keeps the plan is after the code.
    src = "- [ ] step\n\n        code for the step\n- [ ] next\n"
    path = write(tmp_path, src)
    tf = load(path)
    assert tf.steps[0].details == ("      code for the step",)
    record_outcome(path, tf.steps[0], "failed", "x")
    lines = path.read_text().splitlines()
    assert lines[:3] == src.splitlines()[:3] and lines[4:] == ["- [ ] next"]
    assert lines[3].startswith("  - ralph: failed (attempt 1/3)")
    assert load(path).steps[0].details == tf.steps[0].details


def test_note_that_would_change_structure_everywhere_is_refused(tmp_path: Path) -> None:
    # Under the box it adopts the code; after the code the paragraph below joins it lazily.
    src = "- [ ] step\n\n        code for the step\ntext after the list\n"
    path = write(tmp_path, src)
    tf = load(path)
    with pytest.raises(ConflictError, match="refusing"):
        record_outcome(path, tf.steps[0], "failed", "x")
    assert path.read_text() == src


# --------------------------------------------------------------------------- concurrent edits


def test_edit_made_during_the_run_is_merged(tmp_path: Path) -> None:
    path = write(tmp_path, "# Plan\n- [ ] a\n- [ ] b\n")
    step = load(path).steps[1]
    # A person adds steps above and edits another step while the model works.
    path.write_text("# Plan\n\n- [ ] new first\n- [ ] a (renamed)\n- [ ] b\n")
    got = record_outcome(path, step, "done", "ok")
    assert got.line == 5
    assert path.read_text() == (
        "# Plan\n\n- [ ] new first\n- [ ] a (renamed)\n- [x] b\n  - ralph: done · ok\n"
    )


def test_step_whose_text_changed_is_a_conflict_and_nothing_is_written(tmp_path: Path) -> None:
    path = write(tmp_path, "- [ ] a\n- [ ] b\n")
    step = load(path).steps[0]
    path.write_text("- [ ] a, reworded\n- [ ] b\n")
    with pytest.raises(ConflictError, match="removed or its text changed"):
        record_outcome(path, step, "done", "ok")
    assert path.read_text() == "- [ ] a, reworded\n- [ ] b\n"


def test_same_text_twice_picks_the_nearest_to_the_old_line(tmp_path: Path) -> None:
    path = write(tmp_path, "- [ ] test\n- [ ] x\n- [ ] test\n")
    step = load(path).steps[2]
    path.write_text("- [ ] test\n- [ ] x\n- [ ] y\n- [ ] test\n")
    record_outcome(path, step, "done")
    assert path.read_text() == "- [ ] test\n- [ ] x\n- [ ] y\n- [x] test\n"


def test_write_in_the_compare_and_swap_window_is_merged(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, "- [ ] a\n- [ ] b\n")
    step = load(path).steps[1]
    real_read = reader._read_bytes
    calls = {"n": 0}

    def racing_read(p: Path, name: str) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:  # the re-read just before the write: someone else wrote first
            p.write_text("- [x] a\n  - ralph: done · other writer\n- [ ] b\n")
        return real_read(p, name)

    monkeypatch.setattr(reader, "_read_bytes", racing_read)
    record_outcome(path, step, "done", "mine")
    assert path.read_text() == (
        "- [x] a\n  - ralph: done · other writer\n- [x] b\n  - ralph: done · mine\n"
    )


def test_file_that_keeps_changing_is_refused(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, "- [ ] a\n")
    step = load(path).steps[0]
    real_read = reader._read_bytes
    calls = {"n": 0}

    def churning_read(p: Path, name: str) -> bytes:
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            p.write_text(f"- [ ] a\n<!-- edit {calls['n']} -->\n")
        return real_read(p, name)

    monkeypatch.setattr(reader, "_read_bytes", churning_read)
    with pytest.raises(ConflictError, match="kept changing"):
        record_outcome(path, step, "done", "x")
    assert "[x]" not in path.read_text()


def test_symlinked_task_file_stays_a_symlink(tmp_path: Path) -> None:
    target = write(tmp_path, "- [ ] a\n", "real.md")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    target.chmod(0o640)
    record_outcome(link, load(link).steps[0], "done")
    assert link.is_symlink() and target.read_text() == "- [x] a\n"
    assert target.stat().st_mode & 0o777 == 0o640


# --------------------------------------------------------------------------- crash safety

WRITER = """
import sys
from ralph.taskfile import load, record_outcome
path = sys.argv[1]
step = load(path).steps[0]
i = 0
print("ready", flush=True)
while True:
    i += 1
    step = record_outcome(path, step, "failed", f"round {i}", max_attempts=10**9)
"""


@pytest.mark.slow
def test_killed_writer_leaves_old_or_new_file_never_a_mix(tmp_path: Path) -> None:
    body = "".join(f"- [ ] step {n} with some text to make the file bigger\n" for n in range(400))
    path = write(tmp_path, body)
    note_re = re.compile(r"  - ralph: failed \(attempt (\d+)/1000000000\) · round (\d+)\n")
    for kill_after in (0.05, 0.13, 0.21, 0.34, 0.55, 0.71, 0.89, 1.3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(kill_after)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        text = path.read_text()
        first, rest = text.split("\n", 1)
        assert first == "- [ ] step 0 with some text to make the file bigger"
        if rest != body.split("\n", 1)[1]:
            m = note_re.match(rest)
            assert m is not None and int(m.group(1)) >= int(m.group(2))  # attempts carry over
            assert rest[m.end() :] == body.split("\n", 1)[1]
        assert len(load(path).steps) == 400
