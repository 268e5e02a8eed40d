"""The parse cache on disk, so the next ralph process does not parse an unchanged plan again.

One JSON file per task file (named by a hash of its real path) in the folder the caller
gives (`.ralph/cache/` of the workspace). It holds the sha256 of the bytes it was parsed
from and a key of the parser that wrote it (ralph's version and the source of the parser
and markdown-it): an entry whose sha256 is not that of the file's bytes now, whose key is
another parser's, or that does not read back as a sane parse (bad JSON, wrong shapes, a
step whose box is not where it says) is ignored, and the file is parsed and the entry
rewritten. Entries are written atomically but not fsynced: losing one costs a parse.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from ralph.fsutil import atomic_write_text
from ralph.taskfile.model import ParseWarning, Step, TaskFile
from ralph.workspace import keep_out_of_git

FORMAT = 1


def entry_path(folder: Path, path: str | Path) -> Path:
    """The cache file for the task file at `path`: the same for every path that reaches it."""
    real = os.path.realpath(path)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return folder / f"{Path(real).name}-{digest}.json"


def read(folder: Path, path: str | Path, tf_name: str, data: bytes, sha: str) -> TaskFile | None:
    """The cached parse of `data` (the bytes of `path` now), or None."""
    try:
        raw = entry_path(folder, path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    head, _, body = raw.partition("\n")
    if head != f"{parser_key()} {sha}":
        return None  # another parser, or other bytes: cheap to tell without reading on
    try:
        return _decode(json.loads(body), tf_name, data, sha)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None  # corrupt: parse again (and overwrite it)


def write(folder: Path, path: str | Path, tf: TaskFile) -> None:
    """Keep `tf` (the parse of the bytes of `path`) for the next process; errors are ignored."""
    headings: dict[tuple[str, ...], int] = {}
    rows = [_row(s, headings) for s in tf.steps]
    body = {
        "format": FORMAT,
        "bom": tf.bom,
        "heading_title": tf.heading_title,
        "front_matter": tf.front_matter,
        "cuts": tf.cuts,
        "warnings": [[w.line, w.message] for w in tf.warnings],
        "headings": list(headings),
        "steps": rows,
    }
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        keep_out_of_git(folder.parent)
        atomic_write_text(
            entry_path(folder, path), f"{parser_key()} {tf.sha256}\n{text}", durable=False
        )
    except OSError:
        pass


@cache
def parser_key() -> str:
    """Who parsed: ralph's version and the source of the parser and of markdown-it."""
    from importlib.util import find_spec

    from ralph import __version__

    digest = hashlib.sha256(f"{FORMAT} {__version__}".encode())
    here = Path(__file__).parent
    sources = [here / f"{m}.py" for m in ("reader", "model", "notes", "lines", "cache")]
    for package in ("markdown_it", "mdit_py_plugins"):
        spec = find_spec(package)
        if spec is not None and spec.origin:
            sources.append(Path(spec.origin))
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:32]


def _row(s: Step, headings: dict[tuple[str, ...], int]) -> list[Any]:
    h = headings.setdefault(s.headings, len(headings))
    return [
        s.line, s.checked, s.text, s.depth, s.state, s.attempts, s.note, s.approval_id, h,
        s.parents, s.hints, s.settings, s.verify, s.details, s.index, s.parent, s.children,
        s.column, s.note_line, s.note_end, s.note_at, s.note_indent, s.note_alts,
    ]  # fmt: skip


def _decode(body: dict[str, Any], name: str, data: bytes, sha: str) -> TaskFile | None:
    from ralph.taskfile.reader import _decode as decode_text
    from ralph.taskfile.reader import split_lines

    if body["format"] != FORMAT:
        return None
    text = decode_text(data, name)
    bom = bool(body["bom"])
    lines = split_lines(text[1:] if bom else text)
    headings = [tuple(h) for h in body["headings"]]
    steps = tuple(_step(r, headings) for r in body["steps"])
    for k, s in enumerate(steps):  # a sane parse of these bytes, or none at all
        if not 0 < s.line <= len(lines) or s.column < 0:
            return None
        line = lines[s.line - 1].rstrip("\r\n")
        box, rest = line[s.column : s.column + 3], line[s.column + 3 :].lstrip(" \t")
        if s.index != k or box[0] != "[" or box[2] != "]" or (box[1] != " ") != s.checked:
            return None
        if rest.rstrip() != s.text.partition("\n")[0].rstrip():
            return None  # the step's text is not on its line
    return TaskFile(
        name=name,
        title=body["heading_title"] or Path(name).name,
        steps=steps,
        warnings=tuple(ParseWarning(int(line), str(m)) for line, m in body["warnings"]),
        front_matter=body["front_matter"],
        data=data,
        sha256=sha,
        lines=lines,
        bom=bom,
        cuts=tuple(int(c) for c in body["cuts"]),
        heading_title=body["heading_title"],
    )


def _step(r: list[Any], headings: list[tuple[str, ...]]) -> Step:
    return Step(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], headings[r[8]], tuple(r[9]),
        tuple(r[10]), dict(r[11]), tuple(r[12]), tuple(r[13]), r[14], r[15], tuple(r[16]),
        r[17], r[18], r[19], r[20], r[21], tuple((at, ind) for at, ind in r[22]),
    )  # fmt: skip
