"""The run record: one JSON object per line in `.ralph/runs/<run-id>.jsonl`, flushed per event.

Secrets are redacted (`ralph.redact`) before anything is written, then long strings are
shortened. Each line ends with `"mac"`: an HMAC (keyed with the per-user secret,
`ralph.integrity`) over the run id, the previous line's MAC and the line, so `not_by_ralph`
finds lines ralph did not write.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from hmac import compare_digest
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ralph.errors import storage_error
from ralph.gcpause import gc_paused
from ralph.redact import clip, redact_all

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_FIELD_CHARS = 2_000
LANE_ENV = "RALPH_LANE"
"""Set by `ralph run --parallel` for each lane's run: its events carry `lane`."""
_PURPOSE = "run-record-v1"  # what the records' MACs are for (ralph.integrity)


def _cut(text: str) -> str:
    """A long string shortened (after redaction: a cut never leaves part of a secret)."""
    if len(text) <= MAX_FIELD_CHARS:
        return text
    mark = f"…[{len(text) - MAX_FIELD_CHARS} more chars]"
    return clip(text, MAX_FIELD_CHARS + len(mark), mark=mark)


def new_run_id() -> str:
    """A sortable, readable run id: UTC time plus a short random suffix."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


class RunLog:
    """Append-only JSONL record of one run. Each event is written whole and at once.

    A line is one `write` to the file (opened O_APPEND); if the disk fills halfway, what
    was written of it is cut off again, so the record never ends in a torn line that
    ralph made, and the next event (`run_end`, once space is freed) lands on a line of
    its own. A failed write raises StorageError and the event is not in the record.
    """

    def __init__(self, path: Path, run_id: str, lane: str | None = None) -> None:
        self.path = path
        self.run_id = run_id
        self.lane = lane
        """The lane of a parallel run this run is (`RALPH_LANE`): a `lane` field on each event."""
        self._mac = ""  # the previous line's MAC: each line's MAC covers the one before
        self._sign: Callable[[bytes], str] | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._size = os.fstat(self._fd).st_size
        except OSError as e:
            raise storage_error(e, path, "the run did not start") from None

    @classmethod
    def create(cls, runs_dir: Path) -> RunLog:
        """A new record; a lane of `ralph run --parallel` (env RALPH_LANE) tags its events."""
        run_id = new_run_id()
        lane = os.environ.get(LANE_ENV) or None
        return cls(runs_dir / f"{run_id}.jsonl", run_id, lane)

    def emit(self, event: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 3), "event": event, **redact_all(fields, _cut)}
        record.pop("mac", None)
        if self.lane is not None:
            record["lane"] = redact_all(self.lane, _cut)
        body = json.dumps(record, ensure_ascii=False, default=str)
        if self._sign is None:  # the secret read and the HMAC keyed once per record
            from ralph.integrity import signer

            self._sign = signer(_PURPOSE)
        line_mac = self._sign(_signed(self.path.stem, self._mac, body))
        line = (body[:-1] + f', "mac": "{line_mac}"}}\n').encode("utf-8")
        try:
            _write_all(self._fd, line)
        except OSError as e:
            with contextlib.suppress(OSError):  # cut a part-written line off again
                os.ftruncate(self._fd, self._size)
            raise storage_error(e, self.path) from None
        self._size += len(line)
        self._mac = line_mac  # survives a kill -9 of ralph; fsync per event would cost more

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _signed(run_id: str, previous: str, body: str) -> bytes:
    """What a line's MAC covers: the run id, the previous line's MAC and the line's body."""
    return f"{run_id}\0{previous}\0{body}".encode("utf-8", "surrogatepass")


def not_by_ralph(
    path: Path, events: list[dict[str, Any]], lines: list[str] | None = None
) -> list[int]:
    """Indexes of the events (as `read_run` returns them) whose MAC does not check out:
    lines ralph did not write (edited, inserted, reordered, removed before them, or from an
    older ralph that did not sign its records).

    With `lines` (the line each event was read from, `read_record`), a line that ends as
    `emit` ends it is checked as it stands, without serializing its event again; any other
    line is checked against its event serialized the way `emit` does it."""
    from ralph.integrity import signer

    sign, run_id, dumps = signer(_PURPOSE), path.stem, json.dumps
    bad, previous = [], ""
    for i, event in enumerate(events):
        tag = event.get("mac")
        if not isinstance(tag, str) or not tag.isascii():  # no MAC ralph makes
            bad.append(i)
            previous = tag if isinstance(tag, str) else ""
            continue
        line = lines[i] if lines is not None else ""
        if line.endswith(f', "mac": "{tag}"}}'):
            body = line[: -len(tag) - 12] + "}"
            if compare_digest(sign(_signed(run_id, previous, body)), tag):
                previous = tag
                continue
        fields = dict(event)
        del fields["mac"]
        body = dumps(fields, ensure_ascii=False, default=str)
        if not compare_digest(sign(_signed(run_id, previous, body)), tag):
            bad.append(i)
        previous = tag
    return bad


def read_run(path: Path) -> list[dict[str, Any]]:
    """Read a run record, skipping a torn last line (a run killed mid-write)."""
    return read_record(path)[0]


def read_record(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """A run record's events (as `read_run`) and the line each was read from."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")  # not splitlines(): U+2028 inside a string is no line end
    full = [line for line in lines if line.strip()]
    with gc_paused():
        with contextlib.suppress(json.JSONDecodeError):  # all whole (the usual case): one parse
            whole = json.loads("[" + ",".join(full) + "]")
            if len(whole) == len(full) and all(isinstance(e, dict) for e in whole):
                return whole, full
        events, kept = [], []
        for line in full:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):  # a line that is no event at all shows nothing
                events.append(event)
                kept.append(line)
        return events, kept
