"""Settings and where they come from: flag > `RALPH_*` environment > project config > defaults.

The project config is `[tool.ralph]` in the workspace's `pyproject.toml` when that table
exists, else the top level of `ralph.toml`. Keys are the field names below (with `-` or `_`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ralph.errors import UsageError
from ralph.providers.pricing import Price, parse_table


@dataclass(frozen=True)
class Config:
    """Everything a run can be told. Durations are seconds; costs are USD."""

    model: str | None = None
    """PROVIDER:MODEL, e.g. anthropic:claude-sonnet-4-5, openai:gpt-5, openai-chat:qwen3-coder."""
    base_url: str | None = None
    """Model server URL (otherwise ANTHROPIC_BASE_URL / OPENAI_BASE_URL, then the SDK default)."""
    policy: str | None = None
    """Policy file; relative paths are taken from the workspace. Default: the shipped default."""
    max_turns: int = 50
    """Model turns per step before the attempt fails."""
    max_step_tokens: int | None = None
    """Tokens (input, output and cache) per step before the attempt fails."""
    max_step_cost: float | None = None
    """USD per step before the attempt fails."""
    max_step_time: float = 3600.0
    """Wall time per step before the attempt fails."""
    max_attempts: int = 3
    """Failed attempts before a step is blocked until a person edits its note."""
    max_wait: float = 900.0
    """Longest provider back-off to sit through; longer ends the attempt without failing it."""
    command_timeout: float = 600.0
    """Default timeout for one run_command call."""
    idle_timeout: float = 300.0
    """Longest silence from the model server mid-request before the request is retried."""
    max_cost: float | None = None
    """USD for a whole run (several steps) before it stops."""
    max_time: float | None = None
    """Wall time for a whole run before it stops."""
    max_failures: int = 3
    """Failed attempts in a row before a multi-step run stops (circuit breaker)."""
    notify_cmd: str | None = None
    """Command that gets the notification on stdin when a run ends or waits for a person."""
    notify_url: str | None = None
    """URL that gets the same notification as a POST."""
    notify_format: str = "json"
    """What the notify command's stdin and the URL's POST carry: json, or text (a title line,
    a summary line and the pending approvals with the command that approves each)."""
    plan: str | None = None
    """The task file `ralph run` takes when none is given; relative to the workspace.
    Default: tasks/plan.md when it exists."""
    confirm_timeout: float = 600.0
    """How long an interactive confirmation waits for an answer; then the call is treated
    as unattended (refused and queued for approval)."""
    thinking: int | None = None
    """Extended-thinking budget in tokens (anthropic models; at least 1024; 0: off)."""
    pricing: Mapping[str, Price] = field(default_factory=dict)
    """Prices the project adds or corrects, "provider:model" -> USD per million tokens;
    project config only (`[pricing."provider:model"]`)."""
    sandbox: str = "auto"
    """Commands in bubblewrap: auto (where it works; unattended runs refuse commands where it
    does not), required (no sandbox is an error), off (never)."""
    sandbox_git: str = "read-only"
    """.git inside the sandbox: read-only, or writable (its hooks and config stay read-only)."""


_TABLE_FIELDS = {"pricing"}
"""Settings that are tables in the project config, never flags or environment variables."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_DURATION_FIELDS = {
    "max_step_time",
    "max_wait",
    "command_timeout",
    "idle_timeout",
    "max_time",
    "confirm_timeout",
}
DEFAULT_PLAN = "tasks/plan.md"
"""The plan `ralph run` takes when neither TASKFILE nor `plan` in the config names one."""


def parse_duration(value: str | float | int) -> float:
    """Seconds from `90`, `90s`, `15m`, `2h` or `1d`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise UsageError(f"bad duration {value!r}: use seconds or a number with s, m, h or d")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _kind(name: str) -> str:
    """What a setting takes, as an error message says it."""
    if name in _DURATION_FIELDS:
        return "a duration (seconds, or a number with s, m, h or d, e.g. 15m)"
    kind = str(next(f for f in fields(Config) if f.name == name).type)
    if kind.startswith("int"):
        return "a whole number"
    if kind.startswith("float"):
        return "a number"
    return "a string"


def _convert(name: str, value: Any, source: str) -> Any:
    """The setting's value from a flag, variable or file; `source` is how the user spelled
    it there (`--max-turns`, `RALPH_MAX_TURNS`, `ralph.toml: max-turns`)."""
    if value is None:
        return None
    kind = _kind(name)
    try:
        if isinstance(value, bool):
            raise ValueError
        if name in _DURATION_FIELDS:
            converted: Any = parse_duration(value)
        elif kind == "a whole number":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            converted = int(value)
        elif kind == "a number":
            converted = float(str(value).lstrip("$"))
        elif isinstance(value, (dict, list)):
            raise ValueError
        else:
            return str(value)
    except (TypeError, ValueError, UsageError):
        raise UsageError(f"{source}: expected {kind}, got {value!r}") from None
    if converted < 0:
        raise UsageError(f"{source}: expected {kind} of 0 or more, got {value!r}")
    return converted


def _project_file(workspace: Path) -> tuple[dict[str, Any], str]:
    """The project's settings as the file spells its keys, and the file's path ("" when none)."""
    for path, table in ((workspace / "pyproject.toml", True), (workspace / "ralph.toml", False)):
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: not valid TOML: {e}") from None
        if table:
            data = data.get("tool", {}).get("ralph")
            if data is None:
                continue
            if not isinstance(data, dict):
                raise UsageError(f"{path}: [tool.ralph] must be a table")
        return data, str(path)
    return {}, ""


def project_settings(workspace: Path) -> tuple[dict[str, Any], str]:
    """The project config's values by field name (`max_turns`), and the file ("" if none)."""
    data, file_name = _project_file(workspace)
    return {k.replace("-", "_"): v for k, v in data.items()}, file_name


def setting_name(name: str) -> str:
    """A field name as the config file and flags spell it: max_turns -> max-turns."""
    return name.replace("_", "-")


def resolve_config(
    workspace: Path, flags: dict[str, Any] | None = None
) -> tuple[Config, dict[str, str]]:
    """The effective settings, and where each came from: `--max-turns` (a flag),
    `RALPH_MAX_TURNS` (the environment), `PATH: max-turns` (the project config) or
    `default`."""
    flags = flags or {}
    data, file_name = _project_file(workspace)
    spelled = {k.replace("-", "_"): k for k in data}
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(spelled) - known)
    if unknown:
        names = ", ".join(sorted(setting_name(n) for n in known))
        raise UsageError(f"{file_name}: unknown setting {spelled[unknown[0]]!r}; known: {names}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {name: "default" for name in _TABLE_FIELDS}
    if "pricing" in spelled:
        table = "[tool.ralph.pricing" if file_name.endswith("pyproject.toml") else "[pricing"
        values["pricing"] = parse_table(data[spelled["pricing"]], f"{file_name}: {table}")
        sources["pricing"] = f"{file_name}: {spelled['pricing']}"
    for name in (f.name for f in fields(Config) if f.name not in _TABLE_FIELDS):
        env_var = f"RALPH_{name.upper()}"
        env = os.environ.get(env_var)
        if flags.get(name) is not None:
            source, raw = f"--{setting_name(name)}", flags[name]
        elif env not in (None, ""):
            source, raw = env_var, env
        elif name in spelled:
            source, raw = f"{file_name}: {spelled[name]}", data[spelled[name]]
        else:
            sources[name] = "default"
            continue
        values[name] = _convert(name, raw, source)
        sources[name] = source
    return dataclasses.replace(Config(), **values), sources


def load_config(workspace: Path, flags: dict[str, Any] | None = None) -> Config:
    """Merge flags, `RALPH_*` environment variables, the project config and the defaults."""
    return resolve_config(workspace, flags)[0]


def find_policy(workspace: Path, flag: str | Path | None = None) -> Path:
    """The policy file to use: `--policy` (from the current folder), else the project's
    configured `policy` (from the workspace), else the shipped `policies/default.toml`."""
    if flag:
        return Path(flag).expanduser().resolve()
    configured = load_config(workspace).policy
    if configured:
        return (workspace / Path(configured).expanduser()).resolve()
    return shipped_policy("default")


def locate_plan(taskfile: Path | None, workspace: Path | None = None) -> tuple[Path, Path]:
    """The task file a command works on and its workspace, for every command that takes
    TASKFILE: the workspace is `--workspace`, else found from where TASKFILE is named (not
    where a symlink points), else from the current folder; TASKFILE defaults to the
    project's plan. Without --workspace the task file must resolve inside the workspace."""
    from ralph.workspace import require_inside, workspace_for

    root = workspace_for(workspace, taskfile)
    if taskfile is not None:
        return taskfile, root
    plan = default_plan(root, load_config(root))
    if workspace is None:
        require_inside(plan, root)
    return plan, root


def default_plan(workspace: Path, config: Config) -> Path:
    """The task file `ralph run` takes when none is given: the configured `plan` (from the
    workspace), else tasks/plan.md when it exists; UsageError saying how to name one."""
    if config.plan:
        path = workspace / Path(config.plan).expanduser()
        if not path.is_file():
            raise UsageError(f"the configured plan {path} does not exist; fix plan in the config")
        return path
    path = workspace / DEFAULT_PLAN
    if not path.is_file():
        raise UsageError(
            f"no task file given and no {DEFAULT_PLAN} in {workspace}: give one "
            "(ralph run tasks/NAME.md), set plan in the config, or run ralph init"
        )
    return path


def shipped_policy(name: str) -> Path:
    """A policy shipped with ralph: `default`, `readonly` or `strict`."""
    from importlib.resources import files

    return Path(str(files("ralph") / "policies" / f"{name}.toml")).resolve()


def env_seconds(name: str, default: float) -> float:
    """A `RALPH_*` number of seconds from the environment (tuning knobs kept out of the
    config file, e.g. RALPH_RETRY_BASE); UsageError when it is not a number."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, not {raw!r}") from None


def env_count(name: str, default: int) -> int:
    """A `RALPH_*` whole number from the environment; anything else means the default."""
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isdigit() else default


def debug() -> bool:
    """RALPH_DEBUG set: let harness errors raise with their traceback."""
    return bool(os.environ.get("RALPH_DEBUG"))


def config_files(workspace: Path) -> list[Path]:
    """The files in the workspace that hold (or, when created, would hold) ralph's settings:
    ralph.toml, and pyproject.toml when it has a [tool.ralph] table."""
    found = []
    pyproject = workspace / "pyproject.toml"
    try:
        if "tool" in (data := tomllib.loads(pyproject.read_text(encoding="utf-8"))) and (
            "ralph" in data["tool"]
        ):
            found.append(pyproject)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, TypeError):
        pass
    if (workspace / "ralph.toml").is_file():
        found.append(workspace / "ralph.toml")
    return found
