"""What a sandboxed command sees: which places inside the writable workspace are read-only,
and which places anywhere are hidden.

Both come from the guard's path classes (`ralph.guard.pathclass`), the one home of what is
"protected" (.git, .ralph or the `--state-dir` folder, policies/, the policy file, `[paths]
protected` globs) and what is
"secret" (.env but not .env.example, keys, ~/.ssh, cloud and registry credentials, netrc,
`[paths] secret` globs). The workspace is walked once per step (build and dependency folders
such as node_modules and .venv are skipped); the home folder two levels deep.
"""

from __future__ import annotations

import contextlib
import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ralph import integrity
from ralph.guard.pathclass import SCRATCH_NAMES, GlobSet, Places
from ralph.workspace import package_cache_dir

HOST_SOCKETS = (
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/podman",
    "/run/containerd",
    "/run/dbus",
    "/run/snapd.socket",
)
"""Sockets that would let a command act outside the box (docker runs anything as root; the
session bus starts programs). The user's /run/user/UID is hidden too."""

MAX_WALK = 200_000


@dataclass(frozen=True)
class Layout:
    """Real paths: read-only ones inside writable places, and hidden ones (folders become an
    empty read-only tmpfs, files read as empty). Only those that exist when a command starts
    are mounted: ralph's per-user secret may be made after the scan."""

    workspace: str
    read_only: tuple[str, ...]
    hidden: tuple[str, ...]
    cache: str
    homes: tuple[str, ...]


def scan(
    workspace: Path,
    *,
    protect: Iterable[Path] = (),
    extra: dict[str, GlobSet] | None = None,
    git_writable: bool = False,
) -> Layout:
    """The layout for one workspace; `protect` adds files (policy, task file, config)."""
    ws = os.path.realpath(workspace)
    protect_real = [os.path.realpath(p) for p in protect]
    places = Places.make(ws, protected_files=protect_real, extra=extra or {})
    read_only, hidden = _walk_workspace(places, ws, git_writable)
    read_only += [p for p in protect_real if os.path.lexists(p)]
    if places.state is not None and not places.contains_workspace(places.state):
        read_only.append(places.state)  # `--state-dir` outside the workspace: read-only too
    homes = _homes()
    for home in homes:
        hidden += _home_secrets(places, home, skip=ws)
    hidden += [os.path.realpath(p) for p in _host_sockets() if os.path.lexists(p)]
    hidden += [os.path.realpath(p) for p in integrity.hidden_paths()]  # even before it exists
    cache = os.path.realpath(package_cache_dir(Path(ws)))
    return Layout(ws, _unique(read_only), _unique(hidden), cache, homes)


def _walk_workspace(places: Places, ws: str, git_writable: bool) -> tuple[list[str], list[str]]:
    """Protected places (whole, not walked into) and secret places of the workspace."""
    read_only: list[str] = []
    hidden: list[str] = []
    stack, seen = [ws], 0
    while stack and seen < MAX_WALK:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            is_dir = entry.is_dir(follow_symlinks=False)
            cls = places.classify(entry.path)
            if cls == "secret":
                hidden.append(os.path.realpath(entry.path))
            elif cls == "protected":
                read_only += _protected(entry.path, entry.name, git_writable)
            elif is_dir and entry.name not in SCRATCH_NAMES:
                stack.append(entry.path)
    return read_only, hidden


def _protected(path: str, name: str, git_writable: bool) -> list[str]:
    """A protected place stays read-only; a writable .git keeps its hooks and config read-only."""
    if name == ".git" and git_writable and os.path.isdir(path):
        return [p for p in (f"{path}/hooks", f"{path}/config") if os.path.lexists(p)]
    return [path]


def _homes() -> tuple[str, ...]:
    """$HOME and the account's home folder (they differ under sudo or in tests)."""
    found = [os.path.expanduser("~")]
    with contextlib.suppress(KeyError):
        found.append(pwd.getpwuid(os.getuid()).pw_dir)
    return tuple(dict.fromkeys(os.path.realpath(h) for h in found if h and h != "~"))


def _home_secrets(places: Places, home: str, *, skip: str) -> list[str]:
    """Secret places in the home folder, two levels deep (~/.netrc, ~/.ssh, ~/.config/gh)."""
    out: list[str] = []
    level = [home]
    for _depth in range(2):
        below: list[str] = []
        for folder in level:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.path == skip:
                    continue
                if places.classify(entry.path) == "secret":
                    out.append(os.path.realpath(entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    below.append(entry.path)
        level = below
    return out


def _host_sockets() -> list[str]:
    return [*HOST_SOCKETS, f"/run/user/{os.getuid()}"]


def _unique(paths: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(paths))
