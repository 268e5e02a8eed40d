"""What git could restore: the state of a workspace path before a delete or truncation,
the configured remotes, and the local branches.

A clean tracked file is recoverable (`git checkout -- f`); an untracked, ignored or changed
one is not. The index listing (`git ls-files -s`) is read once per change of the index file
and cached; a file's content is hashed as a git blob to tell clean from changed. When git
cannot be asked, the state is "unknown" (rules treat it like a loss: fail closed).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from dataclasses import dataclass

_WALK_LIMIT = 2000  # files looked at below a folder before its state is "unknown"
_HASH_LIMIT = 16 * 1024 * 1024  # bigger files are not hashed: "changed" unless git says so


@dataclass(frozen=True)
class _Index:
    key: tuple[int, ...] | None
    entries: dict[str, str] | None  # path relative to the workspace -> blob id; None: no git
    remotes: frozenset[str]


_cache: dict[str, _Index] = {}
_lock = threading.Lock()


def path_state(workspace: str, path: str) -> str:
    """clean, changed, untracked, missing or unknown (see rules.PATH_STATES)."""
    if not os.path.lexists(path):
        return "missing"
    index = _index(workspace)
    if index is None:
        return "unknown"
    if index.entries is None:
        return "untracked"  # not a git repository: nothing can be restored
    rel = os.path.relpath(path, workspace)
    if os.path.isdir(path) and not os.path.islink(path):
        return _folder_state(path, rel, index.entries)
    return _file_state(path, rel, index.entries)


def remotes(workspace: str) -> frozenset[str] | None:
    """The configured remote names, None if git cannot tell."""
    index = _index(workspace)
    return None if index is None else index.remotes


def _folder_state(path: str, rel: str, entries: dict[str, str]) -> str:
    seen = 0
    worst = "clean"
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            seen += 1
            if seen > _WALK_LIMIT:
                return "unknown"
            full = os.path.join(folder, name)
            state = _file_state(full, os.path.join(rel, os.path.relpath(full, path)), entries)
            if state == "untracked":
                return state
            if state != "clean":
                worst = state
    return worst


def _file_state(path: str, rel: str, entries: dict[str, str]) -> str:
    blob = entries.get(os.path.normpath(rel))
    if blob is None:
        return "untracked"
    try:
        if os.path.islink(path):
            data = os.readlink(path).encode()
        elif os.path.getsize(path) > _HASH_LIMIT:
            return "changed"
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError:
        return "unknown"
    digest = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
    return "clean" if digest == blob else "changed"


def _index(workspace: str) -> _Index | None:
    """The cached index listing of the workspace's repository (re-read when it changes)."""
    with _lock:
        hit = _cache.get(workspace)
    key = _index_key(workspace)
    if hit is not None and hit.key == key and key is not None:
        return hit
    fresh = _read_index(workspace, key)
    if fresh is not None:
        with _lock:
            _cache[workspace] = fresh
    return fresh


def _index_key(workspace: str) -> tuple[int, ...] | None:
    key: list[int] = []
    git = os.path.join(workspace, ".git")
    for name in ("index", "config"):
        try:
            st = os.stat(os.path.join(_git_dir(git), name))
        except OSError:
            return None
        key += [st.st_mtime_ns, st.st_size, st.st_ino]
    return tuple(key)


def _git_dir(git: str) -> str:
    if os.path.isfile(git):  # a worktree: "gitdir: PATH"
        try:
            with open(git, encoding="utf-8") as f:
                return os.path.join(os.path.dirname(git), f.read().partition("gitdir:")[2].strip())
        except OSError:
            return git
    return git


def _read_index(workspace: str, key: tuple[int, ...] | None) -> _Index | None:
    try:
        listing = _git(workspace, "ls-files", "-s", "-z")
        names = _git(workspace, "remote")
    except FileNotFoundError:
        return None  # no git program
    if listing is None:
        inside = _git(workspace, "rev-parse", "--is-inside-work-tree")
        return _Index(key, None, frozenset()) if inside is None else None
    entries: dict[str, str] = {}
    for record in listing.split("\0"):
        meta, tab, name = record.partition("\t")
        if tab:
            entries[os.path.normpath(name)] = meta.split()[1]
    return _Index(key, entries, frozenset((names or "").split()))


def _git(workspace: str, *args: str) -> str | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        done = subprocess.run(
            ["git", "-C", workspace, *args],
            capture_output=True,
            text=True,
            timeout=5,
            env={**env, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except subprocess.TimeoutExpired:
        return None
    return done.stdout if done.returncode == 0 else None
