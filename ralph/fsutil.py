"""Atomic file writes: temp file in the same folder, fsync, os.replace; mode and symlinks kept.

The temp file is `.NAME.XXXXXXXX.tmp` (TEMP_GLOB): removed on every way out of the write
that Python sees; only a kill -9 can leave one, and `--commit` never stages them.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from ralph.errors import EXIT_USAGE, storage_error

TEMP_GLOB = ".*.tmp"
"""The names of atomic writes' temp files (a git pathspec glob, too)."""


def atomic_write_bytes(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int | None = None,
    durable: bool = True,
    follow_symlinks: bool = True,
) -> None:
    """Replace the file at `path` with `data` so readers see the old or the new bytes, never a mix.

    A symlink is followed and its target replaced (the link stays a link), unless
    `follow_symlinks` is False: then the link itself is replaced by the file. The file keeps
    its permission bits; a new file gets `mode` (default 0o644 less the umask).
    `durable=False` skips the fsyncs (for files a crash may lose, such as a pid file or a
    cache): still atomic for readers, but not guaranteed to survive a power cut.
    """
    real = Path(os.path.realpath(path) if follow_symlinks else os.path.abspath(path))
    folder = real.parent
    try:
        st = real.stat(follow_symlinks=follow_symlinks)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError
        keep_mode = stat.S_IMODE(st.st_mode)
    except FileNotFoundError:
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o644 & ~umask
        keep_mode = mode
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, keep_mode)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(folder)


def atomic_write_text(
    path: str | os.PathLike[str],
    text: str,
    *,
    mode: int | None = None,
    durable: bool = True,
    follow_symlinks: bool = True,
) -> None:
    """`atomic_write_bytes` for UTF-8 text (no newline translation)."""
    atomic_write_bytes(
        path, text.encode("utf-8"), mode=mode, durable=durable, follow_symlinks=follow_symlinks
    )


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in the file at `path`; None when it is missing, unreadable, not JSON
    or not an object (state ralph wrote itself, which it can always rebuild or ignore)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temps(path: str | os.PathLike[str]) -> None:
    """Remove temp files a killed write of `path` left beside it (call under a lock)."""
    real = Path(os.path.realpath(path))
    for stale in real.parent.glob(f".{glob.escape(real.name)}.{'?' * 8}.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


RESERVE_BYTES = 64 * 1024
"""Space a run holds back so it can still close its record and note its step on a full disk."""


class Reserve:
    """A file of `size` bytes kept on a file system and given back when a write there fails
    for lack of space, so the few writes that end a run (the step's note, `run_end`) can
    still land. Random bytes, so a compressing file system cannot make it smaller."""

    def __init__(self, path: Path, size: int = RESERVE_BYTES) -> None:
        self.path = path
        self.size = size
        self.held = False

    def hold(self) -> None:
        """Take the space (again); OSError (disk full, read-only) if it cannot be had."""
        if self.held:
            return
        atomic_write_bytes(self.path, os.urandom(self.size), durable=False, follow_symlinks=False)
        self.held = True

    def release(self) -> bool:
        """Give the space back; True if there was any to give."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        was, self.held = self.held, False
        return was


def require_writable(path: Path, then: str = "the run did not start") -> None:
    """StorageError (exit 2) unless ralph can write `path`: an existing file or folder
    (a folder to make files in), else the nearest folder above that exists. No side
    effects: nothing is opened or created."""
    target = path
    while not os.path.lexists(target) and target.parent != target:
        target = target.parent
    kind = os.W_OK | (os.X_OK if os.path.isdir(target) else 0)
    if os.access(target, kind):
        return
    try:
        read_only = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    code = errno.EROFS if read_only else errno.EACCES
    error = OSError(code, os.strerror(code), os.fspath(target))
    raise storage_error(error, target, then, exit_code=EXIT_USAGE)
