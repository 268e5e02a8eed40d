"""Reading a task file: bytes to steps (markdown-it-py's block parse, ralph's `builder`),
with the few recent parses kept in memory and, given a folder, on disk (`cache`)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import stat
from pathlib import Path

from ralph.errors import TaskFileError
from ralph.gcpause import gc_paused
from ralph.taskfile import halves
from ralph.taskfile.builder import _Builder
from ralph.taskfile.lines import split_lines
from ralph.taskfile.model import BOM, TaskFile

_FRONT_MATTER_RE = re.compile(r"---[ \t]*(?:\r\n|\r|\n)")
"""YAML front matter starts with a line of exactly three dashes (Jekyll's and GitHub's rule;
markdown-it's plugin also takes `----` or `--- text`, which GitHub shows as markdown)."""


def load(path: str | Path, *, require_steps: bool = True, cache: Path | None = None) -> TaskFile:
    """Read and parse a task file; TaskFileError (one clear line) for anything unusable.

    With `cache` (a folder), an unchanged file is read back from the parse kept there by
    an earlier process instead of parsed again, and a new parse is kept there.
    """
    name = str(path)
    data = _read_bytes(Path(path), name)
    sha = hashlib.sha256(data).hexdigest()
    tf = _CACHE.get((name, sha))
    if tf is None and cache is not None:
        from ralph.taskfile import cache as disk

        tf = disk.read(cache, path, name, data, sha)
        if tf is None:
            tf = disk.update(cache, path, name, data) or _parse(data, name, sha)
            disk.write(cache, path, tf)
        remember(tf)
    if tf is None:
        tf = _parse(data, name, sha)
    if require_steps and not tf.steps:
        raise TaskFileError(_no_steps_message(tf))
    return tf


def keep(path: str | Path, cache: Path) -> None:
    """Put the parse of the file at `path` now, if this process has it, into `cache`
    (after a run's edits, so the next process need not parse it)."""
    from ralph.taskfile import cache as disk

    with contextlib.suppress(TaskFileError):
        data = _read_bytes(Path(path), str(path))
        tf = _CACHE.get((str(path), hashlib.sha256(data).hexdigest()))
        if tf is not None:
            disk.write(cache, path, tf)


def parse(data: bytes, name: str = "<string>") -> TaskFile:
    """Parse task-file bytes. Raises TaskFileError for binary or non-UTF-8 data."""
    return _parse(data, name, hashlib.sha256(data).hexdigest())


def _parse(data: bytes, name: str, sha: str) -> TaskFile:
    hit = _CACHE.get((name, sha))
    if hit is not None:
        return hit
    text = _decode(data, name)
    bom = text.startswith(BOM)
    with gc_paused():
        body = text[1:] if bom else text
        front_matter = _FRONT_MATTER_RE.match(body) is not None
        lines = split_lines(body)
        who = (name, data, sha, bom)
        tf = halves.parse(body, lines, front_matter, who)  # a big one, in two processes
        if tf is None:
            tf = _Builder(body, front_matter=front_matter, lines=lines).build(*who)
    remember(tf)
    return tf


_CACHE: dict[tuple[str, str], TaskFile] = {}  # a few recent parses, keyed by name and sha256


def remember(tf: TaskFile) -> None:
    """Keep `tf` as the parse of its bytes (an edit that built its new parse itself)."""
    if len(_CACHE) >= 4:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[(tf.name, tf.sha256)] = tf


MAX_BYTES = 20_000_000
"""Task files larger than this are refused (a plan, not a data file)."""


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise TaskFileError(f"{name} is a folder; give the path of a markdown task file")
        if not stat.S_ISREG(st.st_mode):
            raise TaskFileError(f"{name} is not a regular file; give a markdown task file")
        if st.st_size > MAX_BYTES:
            raise TaskFileError(
                f"{name} is {st.st_size / 1e6:.0f} MB; a task file may be at most "
                f"{MAX_BYTES // 1_000_000} MB (split the plan, or move data out of it)"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise TaskFileError(
            f"{name}: no such file; give the path of a markdown task file"
        ) from None
    except PermissionError:
        raise TaskFileError(f"{name}: permission denied; ralph needs to read it") from None
    except IsADirectoryError:
        raise TaskFileError(f"{name} is a folder; give the path of a markdown task file") from None


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data:
        raise TaskFileError(f"{name} looks binary (it contains NUL bytes); a task file is markdown")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TaskFileError(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8 and try again"
        ) from None


def _no_steps_message(tf: TaskFile) -> str:
    msg = f"{tf.name} has no steps; write each step as a list item with a box: `- [ ] do X`"
    if tf.warnings:
        msg += f" ({len(tf.warnings)} look-alike(s) ignored, first: {tf.warnings[0]})"
    return msg
