"""A command's path words as the paths they touch on disk right now: globs expanded (up to
a limit), `$HOME`/`$TMPDIR` known, symlinks resolved, each path classed, and the secrets a
recursive read would include. The disk-reading half of `ralph.guard.units`.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from collections.abc import Callable
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from ralph.guard import gitstate, scripts, targets
from ralph.guard.pathclass import SCRATCH_NAMES, Places, is_harmless_device
from ralph.guard.rules import Touch

if TYPE_CHECKING:
    from ralph.bash import Command

_GLOB_CHARS = re.compile(r"[*?\[]")
_MATCH_ALL = re.compile(r"\.?[*?]*\*[*?]*|\.[*?]+")


def resolve_targets(
    cmd: Command, targets: tuple[targets.Target, ...], places: Places
) -> tuple[list[Touch], list[str]]:
    touches: list[Touch] = []
    unknown: list[str] = []
    cwd = command_cwd(cmd, places)
    for target in targets:
        word = target.word
        if word.startswith(("<(", ">(")) and word.endswith(")"):
            continue  # a process substitution: a pipe, its command is checked on its own
        if not target.dynamic and word in cmd.dynamic_args:
            known = _known_variables(word, places)
            target = replace(target, word=known or word, dynamic=known is None)
            word = target.word
        if target.dynamic:
            unknown.append(word)
            continue
        if is_harmless_device(word):
            continue
        if cwd is None and not word.startswith(("/", "~")):
            unknown.append(f"{word} (in a folder only known at run time)")
            continue
        try:
            expanded = _expand(word, cwd or places.workspace, places, target)
        except (ValueError, OSError):  # a NUL byte, an unencodable name: not a real path
            unknown.append(f"{word!r} (not a usable path)")
            continue
        if expanded is None:
            unknown.append(f"{word} (matches more than {_GLOB_LIMIT} files)")
            continue
        for path, whole in expanded:
            if is_harmless_device(path):
                continue
            access = target.access
            if access == "truncate" and not _nonempty_file(path):
                access = "write"
            cls = places.classify(path)
            state = ""
            link = access == "delete" and os.path.islink(path)  # only the link goes
            if access in ("delete", "truncate") and cls == "workspace" and not link:
                state = gitstate.path_state(places.workspace, path)
            touches.append(Touch(path, cls, access, whole, state))
            touches.extend(ci_config_alias(touches[-1], places))
            if target.recursive and cls not in ("secret", "device"):
                found = secret_below(path, places, hidden=target.recursive == "all")
                touches.extend(Touch(f, "secret", "read", True) for f in found)
    return touches, unknown


_DYNAMIC = re.compile(r"[$`{}*?\[\]\\'\"]|<\(|>\(")
_KNOWN_VARIABLE = re.compile(r"\$(?:\{(HOME|TMPDIR)\}|(HOME|TMPDIR)\b)")


def _known_variables(word: str, places: Places) -> str | None:
    """`$HOME`/`$TMPDIR` in a path, expanded as bash will (an unset TMPDIR is empty, so
    "$TMPDIR/x" is "/x"); None if the word has other expansions."""
    if not _KNOWN_VARIABLE.search(word):
        return None
    values = {"HOME": places.home or "", "TMPDIR": os.environ.get("TMPDIR", "")}
    out = _KNOWN_VARIABLE.sub(lambda m: values[m.group(1) or m.group(2)], word)
    return None if _DYNAMIC.search(out) else out


_WALK_LIMIT = 3000


def secret_below(
    folder: str, places: Places, *, hidden: bool, skip: Callable[[str], bool] = lambda _: False
) -> list[str]:
    """Secrets a recursive read of `folder` includes (the first one found; none for a file).

    The walk skips .git and build/cache folders and stops after a few thousand entries;
    past that only the folder's own entries are looked at."""
    if not os.path.isdir(folder):
        return []
    seen = 0
    for top, dirs, files in os.walk(folder):
        dirs[:] = [
            d
            for d in dirs
            if d not in SCRATCH_NAMES and d != ".git" and (hidden or not d.startswith("."))
        ]
        for name in files if hidden else [f for f in files if not f.startswith(".")]:
            full = os.path.join(top, name)
            if places.classify(full) == "secret" and not skip(full):
                return [full]
        seen += len(files) + len(dirs)
        if seen > _WALK_LIMIT:
            break
    return []


def command_cwd(cmd: Command, places: Places) -> str | None:
    cwd = cmd.cwd
    if cwd is None:
        return None
    if cwd == ".":
        return places.workspace
    return places.resolve(cwd, places.workspace)


def _expand(
    word: str, cwd: str, places: Places, target: targets.Target
) -> list[tuple[str, bool]] | None:
    """(resolved path, whole) pairs for a path word, None if a glob matches too many files.

    A glob stands for its folder (whole if it matches everything in it, like `*` or `.*`,
    and `..` too when it can match that) and for each file it matches right now.
    """
    follow = target.follow or target.access != "delete"
    if not _GLOB_CHARS.search(word):
        return [(places.resolve(word, cwd, follow=follow), not target.filtered)]
    pattern = os.path.join(cwd, places.expand_home(word))
    matches = list(itertools.islice(glob.iglob(pattern), _GLOB_LIMIT + 1))
    if len(matches) > _GLOB_LIMIT:
        return None
    found = [(places.resolve(m, cwd, follow=follow), not target.filtered) for m in matches]
    parts = word.split("/")
    index = next(i for i, p in enumerate(parts) if _GLOB_CHARS.search(p))
    folder = "/".join(parts[:index]) or ("/" if word.startswith("/") else ".")
    pattern = parts[index]
    last = index == len(parts) - 1 or all(p == "" for p in parts[index + 1 :])
    if last and _MATCH_ALL.fullmatch(pattern):  # everything in the folder: the folder itself
        out = [(places.resolve(folder, cwd), not target.filtered), *found]
    else:  # a file that may appear before it runs: the pattern without its wildcards
        literal = os.path.join(folder, _WILDCARDS.sub("", pattern), *parts[index + 1 :])
        out = [(places.resolve(literal, cwd, follow=follow), False), *found]
    if pattern.startswith(".") and fnmatchcase("..", pattern):  # `.*` matches `..`
        out.append((places.resolve(folder + "/..", cwd), True))
    return out


_WILDCARDS = re.compile(r"\[[^\]]*\]|[*?]")
_GLOB_LIMIT = 1000


def _nonempty_file(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def ci_config_alias(touch: Touch, places: Places) -> list[Touch]:
    """Changing a file `.gitlab-ci.yml` includes changes the CI configuration: the same
    access to `.gitlab-ci.yml` itself, so the rules that guard it guard its includes."""
    if touch.access not in ("write", "truncate", "delete") or touch.cls != "workspace":
        return []
    if not touch.path.endswith((".yml", ".yaml")):  # GitLab includes only YAML files
        return []
    workspace = os.fspath(places.workspace)
    if os.path.realpath(touch.path) not in scripts.ci_includes(workspace):
        return []
    ci = os.path.join(workspace, scripts.GITLAB_CI)
    return [Touch(ci, places.classify(ci), touch.access, True)]
