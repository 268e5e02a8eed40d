"""Project scripts: the shell text `npm run NAME`, `make TARGET`, `just NAME`, `task NAME` or
`composer run NAME` would run, read from package.json, the Makefile, the justfile,
Taskfile.yml or composer.json, so the guard judges the commands inside like any others.

`lookup(cmd, folder)` returns a `Scripts`: the sources (shell text, to be analysed by
`ralph.bash`) and a problem when the guard cannot tell what would run (no such file, no such
script, a script in another language): the guard then asks (fail closed). Parsed files are
cached by the SHA-256 of their bytes.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ralph.guard import makefile
from ralph.guard.families import option_values

if TYPE_CHECKING:
    from ralph.bash import Command

_NPM_ALIASES = {"run-script": "run", "rum": "run", "urn": "run", "t": "test", "tst": "test"}
_NPM_DIRECT = frozenset({"test", "start", "stop", "restart"})
_INSTALL_HOOKS = ("preinstall", "install", "postinstall", "prepublish", "preprepare", "prepare")
_YARN_BUILTINS = frozenset(
    [
        "add",
        "audit",
        "autoclean",
        "bin",
        "cache",
        "check",
        "config",
        "constraints",
        "create",
        "dedupe",
        "dlx",
        "exec",
        "explain",
        "generate-lock-entry",
        "global",
        "help",
        "import",
        "info",
        "init",
        "install",
        "licenses",
        "link",
        "list",
        "login",
        "logout",
        "node",
        "npm",
        "outdated",
        "owner",
        "pack",
        "patch",
        "plugin",
        "policy",
        "publish",
        "rebuild",
        "remove",
        "search",
        "set",
        "stage",
        "tag",
        "team",
        "unlink",
        "unplug",
        "up",
        "upgrade",
        "upgrade-interactive",
        "version",
        "versions",
        "why",
        "workspace",
        "workspaces",
    ]
)
_PNPM_BUILTINS = _YARN_BUILTINS | frozenset(
    [
        "i",
        "ci",
        "fetch",
        "prune",
        "rm",
        "uninstall",
        "update",
        "ls",
        "ll",
        "la",
        "root",
        "store",
        "server",
        "deploy",
        "env",
        "import",
        "dlx",
        "approve-builds",
    ]
)

_BUN_BUILTINS = frozenset(["test", "build", "x", "pm", "upgrade", "repl"])


@dataclass(frozen=True)
class Scripts:
    """What a project-script command runs: (label, shell source) pairs, and a problem."""

    sources: tuple[tuple[str, str], ...] = ()
    problem: str | None = None
    files: tuple[str, ...] = field(default=())  # the files read


_cache: dict[str, tuple[str, Any]] = {}
_lock = threading.Lock()


def parsed(path: str, parse: Callable[[str], Any]) -> Any:
    """`parse(text)` of a file, cached by the hash of its bytes; raises OSError/ValueError."""
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    key = f"{path}\0{getattr(parse, '__qualname__', '')}"
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == digest:
        return hit[1]
    value = parse(data.decode("utf-8"))
    with _lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = (digest, value)
    return value


def lookup(cmd: Command, folder: str) -> Scripts | None:
    """The scripts `cmd` runs from the project in `folder`, None if it runs none."""
    runner = _RUNNERS.get(cmd.program)
    return None if runner is None else runner(cmd, folder)


def _find_up(folder: str, names: tuple[str, ...]) -> str | None:
    while True:
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _package_scripts(folder: str) -> tuple[str | None, dict[str, Any] | None]:
    path = _find_up(folder, ("package.json",))
    if path is None:
        return None, None
    try:
        data = parsed(path, json.loads)
    except (OSError, ValueError):
        return path, None
    scripts = data.get("scripts", {}) if isinstance(data, dict) else None
    return path, scripts if isinstance(scripts, dict) else None


def _node(cmd: Command, folder: str) -> Scripts | None:
    program, args = cmd.program, list(cmd.args)
    sub = _NPM_ALIASES.get(args[0], args[0]) if args else "install"
    names: tuple[str, ...]
    explicit = sub == "run" or program == "npm"
    if sub == "run":
        if len(args) < 2:
            return None  # lists the scripts
        names = (args[1],)
    elif sub in _NPM_DIRECT:
        names = (sub,)
    elif sub in ("install", "i", "ci") and len(args) <= 1:
        names = ()
    elif program in ("yarn", "pnpm", "bun") and sub not in _PNPM_BUILTINS | _BUN_BUILTINS:
        names = (sub,)  # `yarn build` runs the build script (or a binary of that name)
    else:
        return None
    path, scripts = _package_scripts(folder)
    if path is None:
        return None  # npm finds no project: nothing runs
    if scripts is None:
        return Scripts(problem=f"{path} cannot be read as a package.json", files=(path,))
    hooks = _INSTALL_HOOKS if not names else ()
    wanted = [n for name in names for n in (f"pre{name}", name, f"post{name}")] + list(hooks)
    found = [(f"{program} script {n!r}", scripts[n]) for n in wanted if n in scripts]
    if names and names[0] not in scripts and explicit and not os.path.isfile(names[0]):
        return Scripts(problem=f"no script {names[0]!r} in {path}", files=(path,))
    bad = [label for label, text in found if not isinstance(text, str)]
    if bad:
        return Scripts(problem=f"{bad[0]} in {path} is not a string", files=(path,))
    return _in(os.path.dirname(path), found, path)


def _in(folder: str, found: list[tuple[str, Any]], path: str, lines: bool = False) -> Scripts:
    """Sources that run in `folder`; with `lines`, each line in a shell of its own (make)."""
    quoted = "'" + folder.replace("'", "'\\''") + "'"
    pieces = [(label, p) for label, text in found for p in (text.split("\n") if lines else [text])]
    return Scripts(tuple((label, f"cd {quoted} && {p}") for label, p in pieces), None, (path,))


def _make(cmd: Command, folder: str) -> Scripts | None:
    if {"-n", "--dry-run", "--just-print", "--recon", "-q", "--question", "-p"} & cmd.flags:
        return None
    for value in reversed(option_values(cmd, "-C", "--directory")):
        folder = os.path.join(folder, value)
    files = option_values(cmd, "-f", "--file", "--makefile")
    names = ("GNUmakefile", "makefile", "Makefile")
    path = os.path.join(folder, files[0]) if files else _first(folder, names)
    if path is None or not os.path.isfile(path):
        return None  # make stops: no makefile
    goals = [a for a in cmd.args if "=" not in a]
    try:
        recipes = parsed(path, makefile.parse_make).recipes(goals)
    except (OSError, ValueError) as e:
        return Scripts(problem=f"{path}: {e}", files=(path,))
    return _in(folder, [(f"make {t}", text) for t, text in recipes], path, lines=True)


def _just(cmd: Command, folder: str) -> Scripts | None:
    path = _find_up(folder, ("justfile", "Justfile", ".justfile"))
    if path is None:
        return None  # just stops: no justfile
    names = [a for a in cmd.args if "=" not in a][:1]
    try:
        recipes = parsed(path, makefile.parse_just).recipes(names)
    except (OSError, ValueError) as e:
        return Scripts(problem=f"{path}: {e}", files=(path,))
    return _in(os.path.dirname(path), [(f"just {t}", t2) for t, t2 in recipes], path, lines=True)


def _task(cmd: Command, folder: str) -> Scripts | None:
    names = ("Taskfile.yml", "Taskfile.yaml", "taskfile.yml", "taskfile.yaml", "Taskfile.dist.yml")
    path = _find_up(folder, names)
    if path is None:
        return None  # task stops: no Taskfile
    goals = [a for a in cmd.args if "=" not in a and not a.startswith("-")]
    try:
        recipes = parsed(path, makefile.parse_taskfile).recipes(goals)
    except (OSError, ValueError) as e:
        return Scripts(problem=f"{path}: {e}", files=(path,))
    return _in(os.path.dirname(path), [(f"task {t}", t2) for t, t2 in recipes], path, lines=True)


def _composer(cmd: Command, folder: str) -> Scripts | None:
    args = list(cmd.args)
    if not args or args[0] in ("install", "update", "require", "remove", "dump-autoload"):
        return None
    name = args[1] if args[0] in ("run", "run-script") and len(args) > 1 else args[0]
    path = _find_up(folder, ("composer.json",))
    if path is None:
        return None  # composer stops: no composer.json
    try:
        scripts = parsed(path, json.loads).get("scripts", {})
    except (OSError, ValueError, AttributeError) as e:
        return Scripts(problem=f"{path}: {e}", files=(path,))
    if name not in scripts:
        explicit = args[0] in ("run", "run-script")
        return Scripts(problem=f"no script {name!r} in {path}" if explicit else None)
    found, problem = _composer_commands(scripts, name, 0)
    if problem:
        return Scripts(problem=f"{path}: {problem}", files=(path,))
    return _in(os.path.dirname(path), [(f"composer script {name!r}", t) for t in found], path)


def _composer_commands(scripts: dict[str, Any], name: str, depth: int) -> tuple[list[str], str]:
    body = scripts.get(name)
    items = [body] if isinstance(body, str) else body
    if depth > 5 or not isinstance(items, list):
        return [], f"script {name!r} cannot be read"
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or re.search(r"\w::\w", item):
            return [], f"script {name!r} calls PHP code"
        if item.startswith(("@php ", "@composer ")):
            out.append(item[1:])
        elif item.startswith("@putenv "):
            continue
        elif item.startswith("@"):
            more, problem = _composer_commands(scripts, item[1:].split()[0], depth + 1)
            if problem:
                return [], problem
            out += more
        else:
            out.append(item)
    return out, ""


def _first(folder: str, names: tuple[str, ...]) -> str | None:
    return next((os.path.join(folder, n) for n in names if os.path.isfile(f"{folder}/{n}")), None)


_CONFIG_READERS: tuple[tuple[str, str], ...] = (
    (r"(GNU)?[Mm]akefile|.*\.mk", "make"),
    (r"package\.json|\.npmrc|\.yarnrc(\.yml)?|\.pnpmfile\.cjs|bunfig\.toml", "node"),
    (r"conftest\.py|pytest\.ini|tox\.ini|setup\.cfg|pyproject\.toml|noxfile\.py", "pytest"),
    (r"test_.*\.py|.*_test\.py", "pytest"),
    (r"[Jj]ustfile|\.justfile", "just"),
    (r"[Tt]askfile(\.dist)?\.ya?ml", "task"),
    (r"composer\.json", "composer"),
    (r"build\.rs|Cargo\.toml|config\.toml", "cargo"),
    (r"(jest|vitest|vite|webpack|rollup|babel|\.babelrc|playwright)(\.config)?\..*", "node"),
    (r".*\.(test|spec)\.[cm]?[jt]sx?", "node"),
    (r"Dockerfile.*|.*\.dockerfile|(docker-)?compose\.ya?ml", "docker"),
    (r"[Rr]akefile|Gemfile", "rake"),
    (r"setup\.py|noxfile\.py", "python"),
)
_FAMILIES = {
    "make": "make",
    "gmake": "make",
    "npm": "node",
    "pnpm": "node",
    "yarn": "node",
    "bun": "node",
    "npx": "node",
    "jest": "node",
    "vitest": "node",
    "pytest": "pytest",
    "py.test": "pytest",
    "tox": "pytest",
    "nox": "pytest",
    "just": "just",
    "task": "task",
    "go-task": "task",
    "composer": "composer",
    "cargo": "cargo",
    "docker": "docker",
    "podman": "docker",
    "docker-compose": "docker",
    "rake": "rake",
    "rails": "rake",
    "bundle": "rake",
}


def readers_of(path: str) -> set[str]:
    """The tool families that read a file of this name as configuration or tests."""
    name = os.path.basename(path)
    return {tool for pattern, tool in _CONFIG_READERS if re.fullmatch(pattern, name)}


def tool_family(program: str, cmd: Command | None) -> set[str]:
    """The family of a program that reads project configuration (`python -m pytest` too)."""
    family = _FAMILIES.get(program)
    if family is None and cmd is not None and program.startswith("python"):
        modules = option_values(cmd, "-m")
        family = "pytest" if modules[:1] in (["pytest"], ["tox"]) else "python"
        return {family}
    return {family} if family else set()


RUNNERS = frozenset(
    _RUNNERS_NAMES := (
        "npm",
        "yarn",
        "pnpm",
        "bun",
        "make",
        "gmake",
        "just",
        "task",
        "go-task",
        "composer",
    )
)

_RUNNERS: dict[str, Callable[[Command, str], Scripts | None]] = {
    "npm": _node,
    "yarn": _node,
    "pnpm": _node,
    "bun": _node,
    "make": _make,
    "gmake": _make,
    "just": _just,
    "task": _task,
    "go-task": _task,
    "composer": _composer,
}
RUNNERS = frozenset(_RUNNERS)


GITLAB_CI = ".gitlab-ci.yml"
_MAX_INCLUDE_DEPTH = 3


def ci_includes(workspace: str) -> frozenset[str]:
    """The workspace files `.gitlab-ci.yml` includes (`include:` as a path, `local:`, or a
    list of them, globs expanded, followed 3 levels deep): CI configuration as much as the
    file itself. A file that cannot be read or parsed includes nothing it can show."""
    found: set[str] = set()
    todo = [(os.path.join(workspace, GITLAB_CI), 0)]
    while todo:
        path, depth = todo.pop()
        if depth > _MAX_INCLUDE_DEPTH or not os.path.isfile(path):
            continue
        try:
            doc = parsed(path, _yaml)
        except (OSError, ValueError):
            continue
        for local in _local_includes(doc.get("include") if isinstance(doc, dict) else None):
            pattern = os.path.join(workspace, local.lstrip("/"))
            for hit in glob.glob(pattern, recursive=True) or [pattern]:
                real = os.path.realpath(hit)
                if real not in found:
                    found.add(real)
                    todo.append((real, depth + 1))
    return frozenset(found)


def _local_includes(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("local")
        if isinstance(item, str) and item and "://" not in item:
            out.append(item)
    return out


def _yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(str(e)) from None
