"""A big task file parsed by two processes (ralph/taskfile/halves.py) reads exactly as one
process reads it: at every possible cut of the corpora and of generated plans, through a
real fork, and when the cut or the child fails."""

from __future__ import annotations

import dataclasses
import pickle
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ralph.errors import TaskFileError
from ralph.taskfile import TaskFile, builder, halves, reader
from tests.test_taskfile import CASES

WHO = ("plan.md", b"", "", False)


def fields_of(tf: TaskFile) -> dict[str, object]:
    return {f.name: getattr(tf, f.name) for f in dataclasses.fields(tf) if f.name != "data"}


def alone(text: str) -> TaskFile:
    front_matter = reader._FRONT_MATTER_RE.match(text) is not None
    return builder._Builder(text, front_matter=front_matter).build(*WHO)


def joined_at(text: str, cut: int) -> TaskFile | None:
    """The two halves made and joined in this process (the fork is only their transport)."""
    lines = reader.split_lines(text)
    front_matter = reader._FRONT_MATTER_RE.match(text) is not None
    tf, stack = halves.above(text, lines, cut, front_matter, WHO)
    return None if tf is None else halves.join(tf, stack, halves.below(lines, cut))


def check_every_cut(text: str) -> tuple[int, int]:
    """(cuts tried, cuts where a top-level block starts): each of the latter must join into
    the one-process parse, or fail the same way."""
    lines = reader.split_lines(text)
    try:
        whole: dict[str, object] | TaskFileError = fields_of(alone(text))
    except TaskFileError as e:
        whole = e
    tried = used = 0
    for cut in range(1, len(lines)):
        if not halves._may_cut(lines, cut):
            continue
        tried += 1
        try:
            got = joined_at(text, cut)
        except TaskFileError as e:
            assert isinstance(whole, TaskFileError) and str(e) == str(whole), (cut, text)
            continue
        if got is not None:
            used += 1
            assert fields_of(got) == whole, (cut, text)
    return tried, used


def test_every_cut_of_the_corpora() -> None:
    used = 0
    for case in CASES:
        used += check_every_cut(case.read_text(encoding="utf-8"))[1]
    assert used > 30  # the test is not vacuous


_LINES = [
    "# Title", "## Section", "### Sub", "#### Deep", "Setext", "===", "---", "", "", "", "",
    "- [ ] a", "- [x] b", "  - [ ] c", "  - verify: `pytest`", "  - hint", "2. [ ] e",
    "1. [ ] f", "[r]: /url", "text", "> - [ ] q", "| a | b |", "|---|---|", "```", "~~~",
    "    code", "<div>", "</div>", "<!--", "-->", "* [ ] h", "  - ralph: failed (attempt 1/3)",
    "- [ ] x | y", "3) [ ] g", "- a", "  1. [ ] sub", "\t- [ ] tab", "---\ntitle: x\n---",
]  # fmt: skip


def test_every_cut_of_generated_plans() -> None:
    rng = random.Random(20261201)
    used = 0
    for _ in range(1000):
        text = "\n".join(rng.choice(_LINES) for _ in range(rng.randint(2, 40))) + "\n"
        used += check_every_cut(text)[1]
    assert used > 500


def big_plan(sections: int) -> str:
    out = ["---\nowner: me\n---\n# Plan\n\nIntro.\n"]
    for n in range(sections):
        level = "#" * (2 + n % 3)
        out.append(f"\n{level} Part {n}\n\n")
        for k in range(12):
            box = "x" if n < sections // 2 else " "
            out.append(f"- [{box}] step {n}.{k}\n  - verify: `pytest -k t{k}`\n")
            if k % 4 == 0:
                out.append(f"  - [ ] sub {k}\n  - ralph: failed (attempt 1/3) · x\n")
    return "".join(out)


# A fork is only made in a process with no other thread (pytest-xdist's workers have some),
# so these run ralph in a fresh process, which tells what it did.
ISOLATED = """
import pickle, sys
from ralph.taskfile import halves, reader
joins = []
real_join = halves.join
halves.join = lambda *a: joins.append(1) or real_join(*a)
if sys.argv[2] == "child dies":
    halves.below = lambda *a: 1 / 0
try:
    tf = reader.parse(open(sys.argv[1], "rb").read(), "plan.md")
except Exception as e:
    fields = repr(e)
else:
    fields = {f: getattr(tf, f) for f in tf.__dataclass_fields__ if f not in ("data", "sha256")}
sys.stdout.buffer.write(pickle.dumps((len(joins), fields)))
"""


def parsed_isolated(tmp_path: Path, text: str, how: str = "") -> tuple[int, object]:
    plan = tmp_path / "plan.md"
    plan.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", ISOLATED, str(plan), how], capture_output=True, check=True
    )
    assert out.stderr == b""
    return pickle.loads(out.stdout)


def test_a_big_plan_is_parsed_by_two_processes_as_by_one(tmp_path: Path) -> None:
    text = big_plan(700)
    assert len(reader.split_lines(text)) > halves.MIN_LINES
    joins, got = parsed_isolated(tmp_path, text)
    assert joins == 1  # it did go through a child
    whole = fields_of(alone(text))
    del whole["sha256"]
    assert got == whole


def test_a_child_that_fails_means_one_process(tmp_path: Path) -> None:
    text = big_plan(700)
    joins, got = parsed_isolated(tmp_path, text, "child dies")
    assert joins == 0
    whole = fields_of(alone(text))
    del whole["sha256"]
    assert got == whole


def test_a_cut_inside_a_fence_means_one_process() -> None:
    fenced = big_plan(700).replace("# Plan\n", "# Plan\n```\n", 1)  # all below is code
    lines = reader.split_lines(fenced)
    cut = halves.cut_line(lines)
    assert cut is not None
    assert halves.above(fenced, lines, cut, True, WHO)[0] is None
    assert halves.parse(fenced, lines, True, WHO) is None
    assert reader.parse(fenced.encode(), "fenced.md").steps == ()


@pytest.mark.parametrize("where", ["top", "bottom"])
def test_too_deep_in_either_half_is_the_same_error(tmp_path: Path, where: str) -> None:
    deep = "".join("  " * i + "- [ ] level\n" for i in range(60))
    plan = big_plan(700)
    text = deep + "\n" + plan if where == "top" else plan + "\n" + deep
    with pytest.raises(TaskFileError) as one:
        alone(text)
    joins, got = parsed_isolated(tmp_path, text)
    assert joins == 0 and got == repr(one.value)


def test_no_fork_beside_other_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    text = big_plan(700)
    gate = threading.Event()
    thread = threading.Thread(target=gate.wait)
    thread.start()
    try:
        assert halves.parse(text, reader.split_lines(text), True, WHO) is None
    finally:
        gate.set()
        thread.join()


def test_cut_line_follows_a_blank_line_at_column_zero() -> None:
    lines = ["a\n", "\n", "  b\n", "\n", "c\n", "d\n"] * 10
    cut = halves.cut_line(lines)
    assert cut is not None and lines[cut] == "c\n" and lines[cut - 1] == "\n"
    assert halves.cut_line(["a\n"] * 100) is None
    assert Path(halves.__file__).name == "halves.py"


KILLED = """
import os, signal, sys, time
from ralph.taskfile import halves, reader
halves.below = lambda *a: time.sleep(60)  # a child that would outlive its parent
real_fork = os.fork
def fork():
    pid = real_fork()
    if pid:
        open(sys.argv[2], "w").write(str(pid))
    return pid
os.fork = fork
def above(*a):
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)
halves.above = above
reader.parse(open(sys.argv[1], "rb").read(), "plan.md")
"""


def test_the_child_dies_with_its_parent(tmp_path: Path) -> None:
    plan, pid_file = tmp_path / "plan.md", tmp_path / "child.pid"
    plan.write_text(big_plan(700), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", KILLED, str(plan), str(pid_file)], check=False)
    assert done.returncode == -9
    child = int(pid_file.read_text())
    for _ in range(100):
        stat = Path(f"/proc/{child}/stat")
        if not stat.exists() or stat.read_text().split(") ")[1][:1] in "ZX":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"child {child} outlived its parent")
