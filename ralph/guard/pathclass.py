"""Path classes: where a path the guard sees really points, and what kind of place that is.

A path is made absolute against the folder a command runs in, `~` is expanded, `..` and
symlinks are resolved (`os.path.realpath`, which also works when the tail does not exist),
and the result gets exactly one class, checked in this order:

  device     /dev/... except the harmless ones (/dev/null, /dev/stdout, /dev/zero ...)
  root       / itself
  home       the home folder itself
  protected  .git/ internals, .ralph/ (approvals, logs), the state folder `--state-dir`
             chose wherever it is, the workspace's policies/ folder, the policy file
             in use, and any extra `[paths] protected` globs
  secret     .env files (not .env.example/.sample/.template), keys, SSH/cloud credentials
  scratch    build outputs and caches inside the workspace (build/, node_modules/, *.pyc,
             *.o ...), and /tmp/ralph-*
  workspace  anything else inside the workspace
  temp       /tmp, /var/tmp, $TMPDIR (below them, not the folders themselves; when the
             workspace itself lives under one, the folder holding it there is outside)
  outside    everything else (including the rest of the home folder)

Globs (`path_glob` in rules, `[paths]` lists) follow .gitignore habits: a pattern without
`/` matches a file or folder name at any depth; with `/` it is anchored at the workspace
(or at `/`, or at `~/`); `*` stays inside one name, `**` crosses folders; a pattern that
matches a folder matches everything below it.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ralph.globs import glob_regex

CLASSES = (
    "workspace",
    "scratch",
    "temp",
    "protected",
    "secret",
    "outside",
    "device",
    "root",
    "home",
)

HARMLESS_DEVICES = frozenset(
    {
        "/dev/null",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/tty",
        "/dev/zero",
        "/dev/random",
        "/dev/urandom",
        "/dev/full",
    }
)

SCRATCH_NAMES = frozenset(
    {
        "build",
        "dist",
        "node_modules",
        "target",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".eggs",
        "coverage",
        "htmlcov",
        ".coverage",
        ".next",
        ".nuxt",
        ".parcel-cache",
        ".turbo",
        ".gradle",
        ".cache",
    }
)
SCRATCH_SUFFIXES = (
    ".pyc",
    ".pyo",
    ".o",
    ".obj",
    ".class",
    ".tmp",
    ".temp",
    ".swp",
    ".orig",
    ".rej",
)
"""Compiled files a build remakes, and leftovers (editor swap files, patch rejects, *.tmp)."""
SCRATCH_TEMP_PREFIX = "ralph-"  # /tmp/ralph-* is scratch temp space

SECRET_DIRS = frozenset({".ssh", ".gnupg", ".aws", ".azure", ".kube", ".password-store"})
SECRET_PAIRS = frozenset(
    {(".config", "gcloud"), (".config", "gh"), (".docker", "config.json"), (".gem", "credentials")}
)
_SECRET_NAMES = re.compile(
    r"""\.env | \.env\..+ | .+\.(pem|key|p12|pfx|jks|keystore) | id_(rsa|dsa|ecdsa|ed25519)(_sk)?
      | \.netrc | _netrc | \.npmrc | \.pypirc | \.git-credentials | \.pgpass | \.my\.cnf
      | \.envrc | \.vault-token | \.dev\.vars | \.htpasswd""",
    re.X,
)
NOT_SECRET = frozenset({".env.example", ".env.sample", ".env.template", ".env.dist"})

PROTECTED_NAMES = frozenset({".git", ".ralph"})


_GLOB_TAIL = r"(?:/.*)?\Z"  # a pattern that matches a folder matches everything below it


def compile_glob(pattern: str) -> tuple[str, re.Pattern[str]]:
    """Compile one path glob to (anchor, regex). Anchors: name, workspace, home, absolute."""
    pattern = pattern.strip()
    if pattern.startswith("~/"):
        anchor, body = "home", pattern[2:]
    elif pattern.startswith("/"):
        anchor, body = "absolute", pattern[1:]
    elif "/" in pattern.rstrip("/"):
        anchor, body = "workspace", pattern.removeprefix("./")
    else:
        anchor, body = "name", pattern
    body = body.rstrip("/")
    return anchor, re.compile(glob_regex(body) + _GLOB_TAIL, re.S)


def _merge(regexes: list[re.Pattern[str]], flags: int) -> re.Pattern[str]:
    """One regex that matches where any of `regexes` (globs compiled alike) matches."""
    return re.compile("|".join(f"(?:{r.pattern})" for r in regexes), flags)


@dataclass(frozen=True)
class GlobSet:
    """A list of compiled path globs, matched against resolved absolute paths.

    For speed the globs are also kept merged: the literal names (`.env`, `.claude`) as a
    set, and the rest as one regex per anchor; `matches` answers exactly as trying each
    glob in turn would (a test compares the two)."""

    globs: tuple[tuple[str, re.Pattern[str]], ...] = ()
    _names: frozenset[str] = field(init=False, compare=False, repr=False)
    _merged: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        names: set[str] = set()
        bodies: dict[tuple[str, int], list[re.Pattern[str]]] = {}
        kept: list[tuple[str, re.Pattern[str]]] = []
        for anchor, regex in self.globs:
            body = regex.pattern.removesuffix(_GLOB_TAIL)
            literal = re.sub(r"\\(.)", r"\1", body, flags=re.S)
            if body == regex.pattern:  # not made by compile_glob: tried on its own
                kept.append((anchor, regex))
            elif anchor == "name" and literal and re.escape(literal) == body:
                names.add(literal)  # the regex matches exactly this name
            else:
                bodies.setdefault((anchor, regex.flags), []).append(regex)
        merged = [
            (anchor, group[0] if len(group) == 1 else _merge(group, flags))
            for (anchor, flags), group in bodies.items()
        ]
        object.__setattr__(self, "_names", frozenset(names))
        object.__setattr__(self, "_merged", (*merged, *kept))

    @classmethod
    def of(cls, patterns: Iterable[str]) -> GlobSet:
        return cls(tuple(compile_glob(p) for p in patterns))

    def matches(self, path: str, places: Places) -> bool:
        parts = path.split("/") if self._names else ()
        if parts and not self._names.isdisjoint(parts):
            return True
        for anchor, regex in self._merged:
            if anchor == "name":
                parts = parts or path.split("/")
                if any(regex.match(part) for part in parts if part):
                    return True
                continue
            base = {"workspace": places.workspace, "home": places.home, "absolute": "/"}[anchor]
            rel = _relative(path, base) if base else None
            if rel is not None and rel != "" and regex.match(rel):
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.globs)


@dataclass(frozen=True)
class Places:
    """The fixed points paths are classed against, all resolved: workspace, home, temp, policy."""

    workspace: str
    home: str | None
    temp_roots: tuple[str, ...]
    protected_files: frozenset[str] = frozenset()
    state: str | None = None
    """ralph's state folder when it is not `.ralph/` in the workspace (`--state-dir`)."""
    lanes: str | None = None
    """Where lanes' worktrees live in that folder: a workspace there is not state."""
    extra_scratch: GlobSet = field(default_factory=GlobSet)
    extra_secret: GlobSet = field(default_factory=GlobSet)
    extra_protected: GlobSet = field(default_factory=GlobSet)

    @classmethod
    def make(
        cls,
        workspace: str | os.PathLike[str],
        *,
        home: str | None = None,
        protected_files: Iterable[str] = (),
        extra: dict[str, GlobSet] | None = None,
    ) -> Places:
        """Places for one check. `home` defaults to the current $HOME (expanded `~`); the
        state folder is the one `ralph.workspace.state_dir` gives."""
        from ralph.workspace import chosen_state_dir, worktrees_dir

        home_dir = home if home is not None else os.path.expanduser("~")
        ws = _real(os.path.abspath(os.fspath(workspace)))
        extra = extra or {}
        state = chosen_state_dir()
        return cls(
            workspace=ws,
            home=_real(home_dir) if home_dir and home_dir != "~" else None,
            temp_roots=_temp_roots(),
            protected_files=frozenset(_real(p) for p in protected_files),
            state=_real(os.fspath(state)) if state is not None else None,
            lanes=_real(os.fspath(worktrees_dir(state))) if state is not None else None,
            extra_scratch=extra.get("scratch", GlobSet()),
            extra_secret=extra.get("secret", GlobSet()),
            extra_protected=extra.get("protected", GlobSet()),
        )

    def expand_home(self, word: str) -> str:
        """`~` and `~/...` -> this home folder; `~user` -> that user's home."""
        if word == "~" or word.startswith("~/"):
            return (self.home or "/nonexistent-home") + word[1:]
        if word.startswith("~"):
            return os.path.expanduser(word)
        return word

    def resolve(self, word: str, cwd: str, *, follow: bool = True) -> str:
        """The absolute, resolved path `word` names when used in folder `cwd` (absolute).

        With follow=False the last component is not resolved (deleting a symlink removes the
        link, not its target); a trailing slash always follows it.
        """
        word = self.expand_home(word)
        path = os.path.normpath(os.path.join(cwd, word))
        if follow or word.endswith("/") or path == "/":
            return _real(path)
        parent, name = os.path.split(path)
        if name in ("", ".", ".."):
            return _real(path)
        return os.path.join(_real(parent), name)

    def classify(self, path: str) -> str:
        """The class of an absolute, resolved path (see the module docstring for the order)."""
        if path.startswith("/dev/"):
            return "device"
        if path.startswith("/proc/") and path.endswith("/environ"):
            return "secret"  # a process's environment: tokens and keys
        if path == "/":
            return "root"
        if path == self.home:
            return "home"
        if path in self.protected_files or self.extra_protected.matches(path, self):
            return "protected"
        rel = _relative(path, self.workspace)
        if self.in_state(path, rel):
            return "protected"
        parts = rel.split("/") if rel else ()
        if rel is None:
            parts = tuple(p for p in path.split("/") if p)
        if PROTECTED_NAMES.intersection(parts) or (rel is not None and parts[:1] == ["policies"]):
            return "protected"
        if _is_secret(parts) or self.extra_secret.matches(path, self):
            return "secret"
        if rel is not None:
            if SCRATCH_NAMES.intersection(parts) or self.extra_scratch.matches(path, self):
                return "scratch"
            if parts and parts[-1].endswith(SCRATCH_SUFFIXES):
                return "scratch"
            return "workspace"
        if self.home is not None and _relative(path, self.home) is not None:
            return "outside"
        for root in self.temp_roots:
            below = _relative(path, root)
            if below and not self._beside_workspace(root, below):
                return "scratch" if below.startswith(SCRATCH_TEMP_PREFIX) else "temp"
        return "outside"

    def in_state(self, path: str, rel: str | None) -> bool:
        """True for a path in the chosen state folder, but for the workspace when it is a
        lane's worktree there (under `<state>/worktrees/`)."""
        if self.state is None or _relative(path, self.state) is None:
            return False
        return rel is None or not _relative(self.workspace, self.lanes)

    def _beside_workspace(self, root: str, below: str) -> bool:
        """True for a temp path in the folder that holds a workspace living under the temp
        root: `..` from /tmp/x/ws is /tmp/x, the project's surroundings, not scratch space."""
        inside = _relative(self.workspace, root)
        if not inside:
            return False
        return below.split("/", 1)[0] == inside.split("/", 1)[0]

    def contains_workspace(self, path: str) -> bool:
        """True if `path` is the workspace or a folder above it."""
        return _relative(self.workspace, path) is not None


def looks_secret(word: str) -> bool:
    """True if a path as written names a secret (`.env`, `~/.ssh/id_rsa`, `prod.key`)."""
    return _is_secret([p for p in word.split("/") if p not in ("", ".")])


def is_harmless_device(word: str) -> bool:
    return word in HARMLESS_DEVICES or word.startswith(("/dev/fd/", "/proc/self/fd/"))


def _is_secret(parts: tuple[str, ...] | list[str]) -> bool:
    if not parts:
        return False
    if parts[-1].endswith(".pub") or parts[-1] in ("known_hosts", "known_hosts.old"):
        return False  # public keys and host fingerprints
    if SECRET_DIRS.intersection(parts):
        return True
    if any(pair in SECRET_PAIRS for pair in itertools.pairwise(parts)):
        return True
    name = parts[-1]
    if name in NOT_SECRET or name.endswith(".pub"):
        return False
    return _SECRET_NAMES.fullmatch(name) is not None or (
        len(parts) > 1 and parts[-2] == ".aws" and name == "credentials"
    )


def _relative(path: str, base: str | None) -> str | None:
    """`path` relative to `base` ("" when equal), or None when it is not inside it."""
    if base is None:
        return None
    if path == base:
        return ""
    prefix = base if base.endswith("/") else base + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def _real(path: str) -> str:
    return os.path.realpath(path)


def _temp_roots() -> tuple[str, ...]:
    roots = ["/tmp", "/var/tmp"]
    tmpdir = os.environ.get("TMPDIR")
    if tmpdir:
        roots.append(tmpdir)
    return tuple(dict.fromkeys(_real(r) for r in roots))
