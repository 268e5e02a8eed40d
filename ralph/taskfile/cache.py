"""The parse cache on disk, so the next ralph process does not parse an unchanged plan again.

One file per task file (named by a hash of its real path) in the folder the caller gives
(`.ralph/cache/` of the workspace): a header line, then the parse as `marshal` data of
plain tuples (several times faster to read back than JSON). The header holds a key of the
parser that wrote it (ralph's version, the source of the parser and of markdown-it, the
Python and marshal versions), the sha256 of the task file's bytes it was parsed from and a
blake2b digest of the data. An entry whose key is another parser's, whose sha256 is not
that of the file's bytes now, whose digest does not match (torn, damaged) or that does
not read back as a sane parse (wrong shapes, a step whose box is not where it says) is
ignored, and the file is parsed and the entry rewritten. marshal data is only loaded
after its digest checks out, so damaged bytes never reach it. Entries are written
atomically but not fsynced: losing one costs a parse.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from bisect import bisect_left
from dataclasses import fields
from functools import cache
from operator import attrgetter
from pathlib import Path
from typing import Any

from ralph.errors import TaskFileError
from ralph.fsutil import atomic_write_bytes
from ralph.gcpause import gc_paused
from ralph.taskfile.model import BOM, ParseWarning, Step, TaskFile
from ralph.workspace import keep_out_of_git

FORMAT = 2
_STEP_FIELDS = tuple(f.name for f in fields(Step))


def entry_path(folder: Path, path: str | Path) -> Path:
    """The cache file for the task file at `path`: the same for every path that reaches it."""
    real = os.path.realpath(path)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return folder / f"{Path(real).name}-{digest}.parse"


def read(folder: Path, path: str | Path, tf_name: str, data: bytes, sha: str) -> TaskFile | None:
    """The cached parse of `data` (the bytes of `path` now), or None."""
    entry = _entry(folder, path)
    if entry is None or entry[0] != sha:
        return None  # none, another parser's, damaged, or of other bytes
    try:
        with gc_paused():
            return _decode(marshal.loads(entry[1]), tf_name, data, sha)
    except _NOT_SANE:
        return None  # not a sane parse: parse again (and overwrite it)


def update(folder: Path, path: str | Path, tf_name: str, data: bytes) -> TaskFile | None:
    """The parse of `data` from the kept parse of the file's earlier bytes, when what
    changed between them is one stretch of lines that `block.splice` re-parses alone (a
    box ticked, a note deleted to retry a step); None when it cannot."""
    from ralph.taskfile import block

    entry = _entry(folder, path)
    if entry is None:
        return None
    try:
        with gc_paused():
            body = marshal.loads(entry[1])
            old_data = body[7]
            if type(old_data) is not bytes or hashlib.sha256(old_data).hexdigest() != entry[0]:
                return None
            old = _decode(body, tf_name, old_data, entry[0])
            edit = _changed_lines(old, data) if old is not None else None
            got = block.splice(old, *edit) if old is not None and edit is not None else None
    except (*_NOT_SANE, TaskFileError):
        return None
    return None if got is None else got.tf


_NOT_SANE = (ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError)


def _entry(folder: Path, path: str | Path) -> tuple[str, bytes] | None:
    """The sha256 of the bytes the kept parse is of, and its marshal data: when the entry
    is this parser's and its digest checks out."""
    try:
        raw = entry_path(folder, path).read_bytes()
    except OSError:
        return None
    head, _, body = raw.partition(b"\n")
    key, _, rest = head.decode("ascii", "replace").partition(" ")
    sha, _, digest = rest.partition(" ")
    if key != parser_key() or digest != _digest(body):
        return None  # another parser, or damaged: cheap to tell
    return sha, body


def _changed_lines(old: TaskFile, data: bytes) -> tuple[list[str], bytes, int, int, int] | None:
    """How `data` differs from `old`'s bytes, as `block.splice` takes it: the new lines,
    the data, and the old lines [lo, hi) that became the new lines [lo, hi + shift)."""
    from ralph.taskfile.reader import _decode as decode_text
    from ralph.taskfile.reader import split_lines

    text = decode_text(data, old.name)
    bom = text.startswith(BOM)
    if bom != old.bom:
        return None
    new, was = list(split_lines(text[1:] if bom else text)), old.lines
    lo, most = 0, min(len(new), len(was))
    while lo < most and new[lo] == was[lo]:
        lo += 1
    same = 0  # lines alike at the end, after the first `lo`
    while same < most - lo and new[-1 - same] == was[-1 - same]:
        same += 1
    hi, shift = len(was) - same, len(new) - len(was)
    # A changed first line of a top-level block may join the block above it (indented
    # into a list item, say), which a parse of the blocks from there cannot see; only a
    # box ticked or cleared by hand keeps the line what it was.
    ticked = not shift and hi == lo + 1 and _box_only(was[lo], new[lo])
    if 0 < lo < len(was) and _starts_block(old.cuts, lo) and not ticked:
        return None
    return new, data, lo, hi, shift


def _starts_block(cuts: tuple[int, ...], line: int) -> bool:
    """Whether parsing starts afresh at 0-based `line` (`TaskFile.cuts`)."""
    k = bisect_left(cuts, 2 * line)
    return k < len(cuts) and cuts[k] >> 1 == line


def _box_only(old: str, new: str) -> bool:
    """Whether `new` is `old` with just the character inside one `[.]` changed."""
    if len(old) != len(new):
        return False
    diff = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    at = diff[0] if len(diff) == 1 else 0
    return 0 < at < len(old) - 1 and old[at - 1] + old[at + 1] == "[]"


def write(folder: Path, path: str | Path, tf: TaskFile) -> None:
    """Keep `tf` (the parse of the bytes of `path`) for the next process; errors are ignored."""
    try:
        with gc_paused():
            body = marshal.dumps(_encode(tf))
    except ValueError:
        return  # something marshal cannot keep: the next process parses
    head = f"{parser_key()} {tf.sha256} {_digest(body)}\n".encode()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        keep_out_of_git(folder.parent)
        atomic_write_bytes(entry_path(folder, path), head + body, durable=False)
    except OSError:
        pass


def _digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


@cache
def parser_key() -> str:
    """Who parsed: ralph's version and the source of the parser and of markdown-it."""
    from importlib.util import find_spec

    from ralph import __version__

    python = f"{sys.version_info[:3]} {sys.implementation.name} {marshal.version}"
    digest = hashlib.sha256(f"{FORMAT} {__version__} {python}".encode())
    here = Path(__file__).parent
    sources = [
        here / f"{m}.py"
        for m in ("reader", "builder", "mdparse", "halves", "model", "notes", "lines", "cache")
    ]
    for package in ("markdown_it", "mdit_py_plugins"):
        spec = find_spec(package)
        if spec is not None and spec.origin:
            sources.append(Path(spec.origin))
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:32]


def _encode(tf: TaskFile) -> tuple[Any, ...]:
    """The parse as plain tuples: marshal keeps tuples tuples, and shared objects (a
    section's headings) shared."""
    steps = tuple(map(attrgetter(*_STEP_FIELDS), tf.steps))
    warnings = tuple((w.line, w.message) for w in tf.warnings)
    return (FORMAT, tf.bom, tf.heading_title, tf.front_matter, tf.cuts, warnings, steps, tf.data)


def _decode(body: tuple[Any, ...], name: str, data: bytes, sha: str) -> TaskFile | None:
    from ralph.taskfile.reader import _decode as decode_text
    from ralph.taskfile.reader import split_lines

    form, bom, heading_title, front_matter, cuts, warnings, rows, _ = body
    if form != FORMAT or not isinstance(rows, tuple):
        return None
    text = decode_text(data, name)
    lines = split_lines(text[1:] if bom else text)
    steps = tuple(Step(*r) for r in rows)
    if not _sane(steps, lines):
        return None
    return TaskFile(
        name=name,
        title=heading_title or Path(name).name,
        steps=steps,
        warnings=tuple(ParseWarning(int(line), str(m)) for line, m in warnings),
        front_matter=front_matter,
        data=data,
        sha256=sha,
        lines=lines,
        bom=bool(bom),
        cuts=tuple(int(c) for c in cuts),
        heading_title=heading_title,
    )


def _sane(steps: tuple[Step, ...], lines: tuple[str, ...]) -> bool:
    """Whether each step's box and first line of text are where the step says, in order:
    a sane parse of these bytes, or none at all."""
    for k, s in enumerate(steps):
        if s.index != k or not 0 < s.line <= len(lines) or s.column < 0:
            return False
        line = lines[s.line - 1].rstrip("\r\n")
        box, rest = line[s.column : s.column + 3], line[s.column + 3 :].lstrip(" \t")
        if box[0] != "[" or box[2] != "]" or (box[1] != " ") != s.checked:
            return False
        if rest.rstrip() != s.text.partition("\n")[0].rstrip():
            return False  # the step's text is not on its line
    return True
