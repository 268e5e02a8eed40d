"""A big task file parsed by two processes: the lines above a cut by this one, the rest by
a forked child at the same time, joined into exactly the parse one process makes.

Why the join is exact:

- The cut is a line after a blank line. This process parses the whole text with
  markdown-it's main rule chain stopped at the first top-level block that starts at the
  cut or later (`mdparse.parse_until`): up to there that is the whole parse, step for
  step. If that block does not start exactly at the cut (the cut is inside a fence, an
  HTML block...), the halves are thrown away and the caller parses the file alone.
- From the start of a top-level block, what markdown-it makes of the text depends only on
  the text from there (block.py leans on the same fact): the state it carries across is
  the line, the nesting level (0), the list indents (none) and `parentType`, which is
  only read by a list rule that its caller just set it for. So the child parses the lines
  from the cut alone, without the front-matter rule (which only matches line 0).
- ralph's builder carries nothing across a blank line at level 0 but the heading path and
  the title: the child sends, per step, the lowest heading level above it in its part, and
  the join puts the outer headings back (those of this part with a lower level), moves
  step indices past this part's steps and takes the title from the first half that has one.

The child writes its steps as marshal data to a pipe and leaves with os._exit (no
cleanup, no output of its own); if it fails in any way, the caller parses the file
alone. tests/test_taskfile_halves.py checks the join against the one-process parse at
every possible cut of the corpora.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import threading
from dataclasses import fields, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ralph.taskfile.model import ParseWarning, Step, TaskFile

if TYPE_CHECKING:
    from collections.abc import Sequence

MIN_LINES = 16_384
"""Below this a second process does not pay for itself."""
_SHARE = 0.52  # of the lines this process parses (the child also moves and sends its steps)
_REACH = 2_000  # lines searched either way for a cut (a flat list has none: not split)
_FIELDS = tuple(f.name for f in fields(Step))
Who = tuple[str, bytes, str, bool]  # name, data, sha256, bom: as _Builder.build takes them
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def parse(body: str, lines: tuple[str, ...], front_matter: bool, who: Who) -> TaskFile | None:
    """The parse of `body` (the text after a BOM, split into `lines`) made by two processes,
    or None when that is not worth it or not possible here: the caller then parses it."""
    if len(lines) < MIN_LINES or not _can_fork():
        return None
    cut = cut_line(lines)
    if cut is None:
        return None
    return _forked(body, lines, cut, front_matter, who)


def cut_line(lines: Sequence[str], share: float = _SHARE) -> int | None:
    """A line near `share` of the way down that follows a blank line and starts at column 0
    (where a top-level block most likely starts), or None if none is near."""
    target = int(len(lines) * share)
    for k in range(min(len(lines) // 10, _REACH)):
        for at in (target + k, target - k):
            if 0 < at < len(lines) and _may_cut(lines, at):
                return at
    return None


def _may_cut(lines: Sequence[str], at: int) -> bool:
    return not lines[at - 1].strip(" \t\r\n") and lines[at][:1] not in ("", " ", "\t", "\r", "\n")


def _can_fork() -> bool:
    if not hasattr(os, "fork") or not hasattr(signal, "pthread_sigmask"):
        return False
    if threading.active_count() > 1:
        return False  # a fork copies no other thread, whatever locks they hold
    cpus = (
        os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    )
    return len(cpus) >= 2


def _forked(
    body: str,
    lines: tuple[str, ...],
    cut: int,
    front_matter: bool,
    who: Who,
) -> TaskFile | None:
    from ralph.taskfile import mdparse

    mdparse.markdown(False)  # set up before the fork, so neither process does it twice
    read_end, write_end = os.pipe()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # held until the child is ready
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    if pid == 0:
        _child(lines, cut, (read_end, write_end, parent), mask)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.close(write_end)
    if pid < 0:
        os.close(read_end)
        return None
    try:
        tf, stack = above(body, lines, cut, front_matter, who)
        if tf is None:
            return None  # no top-level block starts at the cut: parse the file alone
        with os.fdopen(read_end, "rb", closefd=False) as pipe:
            payload = pipe.read()
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped by someone else: how it ended is unknown
            status = -1
        pid = 0
        return join(tf, stack, payload) if status == 0 and payload else None
    finally:
        os.close(read_end)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def _child(lines: tuple[str, ...], cut: int, how: tuple[int, int, int], mask: Any) -> None:
    """The forked process: parse the lines from the cut, send them, leave. Never returns.
    It dies with this process, however that ends (Linux's parent-death signal)."""
    read_end, write_end, parent = how
    code = 1
    try:
        os.close(read_end)
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_DFL)  # not the parent's handlers: just stop
        _die_with_parent()
        if os.getppid() != parent:
            return  # the parent is already gone
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        payload = below(lines, cut)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        code = 0
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):  # not Linux: the child ends when its work does
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def above(
    body: str,
    lines: tuple[str, ...],
    cut: int,
    front_matter: bool,
    who: Who,
) -> tuple[TaskFile | None, list[tuple[int, str]]]:
    """This process's half: the parse of the blocks above the cut (None if no top-level
    block starts at the cut), and the heading path (level, text) at its end."""
    from ralph.taskfile import mdparse
    from ralph.taskfile.builder import _Builder

    tokens, stopped = mdparse.parse_until(body, front_matter, cut)
    if stopped != cut:
        return None, []
    builder = _Builder(body, front_matter=front_matter, lines=lines, tokens=tokens)
    return builder.build(*who), builder.heading_stack


def below(lines: tuple[str, ...], cut: int) -> bytes:
    """The child's half: the steps of the lines from the cut parsed alone, with the line
    numbers of the whole file, each with the lowest heading level above it in this half."""
    from ralph.taskfile.block import _moved
    from ralph.taskfile.builder import _Builder

    part = lines[cut:]
    builder = _Builder("".join(part), front_matter=False, lines=part)
    tf = builder.build("<below>", b"", "", False)
    rows = tuple(map(attrgetter(*_FIELDS), (_moved(s, cut) for s in tf.steps)))
    lows, k, low, heads = [], 0, 7, builder.heads
    for s in tf.steps:
        while k < len(heads) and heads[k][0] < s.line - 1:
            low = min(low, heads[k][1])
            k += 1
        lows.append(low)
    warnings = tuple((w.line + cut, w.message) for w in tf.warnings)
    cuts = tuple(c + 2 * cut for c in tf.cuts)
    return marshal.dumps((rows, tuple(lows), warnings, cuts, tf.heading_title))


def join(tf: TaskFile, stack: list[tuple[int, str]], payload: bytes) -> TaskFile:
    """The whole parse: this half's `tf` (ending with heading path `stack`) and the child's."""
    rows, lows, warnings, cuts, title = marshal.loads(payload)
    base = len(tf.steps)
    paths: dict[tuple[int, tuple[str, ...]], tuple[str, ...]] = {}
    steps = list(tf.steps)
    for row, low in zip(rows, lows, strict=True):
        headings = paths.get((low, row[8]))
        if headings is None:
            outer = tuple(text for level, text in stack if level < low)
            headings = paths[(low, row[8])] = (*outer, *row[8])
        parent = row[15]
        steps.append(
            Step(
                *row[:8],
                headings,
                *row[9:14],
                row[14] + base,
                None if parent is None else parent + base,
                tuple(c + base for c in row[16]),
                *row[17:],
            )
        )
    heading_title = tf.heading_title if tf.heading_title is not None else title
    return replace(
        tf,
        steps=tuple(steps),
        warnings=(*tf.warnings, *(ParseWarning(line, m) for line, m in warnings)),
        cuts=(*tf.cuts, *cuts),
        heading_title=heading_title,
        title=heading_title or tf.title,
    )
