"""Settings and where they come from: flag > `RALPH_*` environment > project config > defaults.

The project config is `[tool.ralph]` in the workspace's `pyproject.toml` when that table
exists, else the top level of `ralph.toml`. Keys are the field names below (with `-` or `_`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ralph.errors import UsageError


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
    """Command that gets a JSON summary on stdin when a run ends or waits for a person."""
    notify_url: str | None = None
    """URL that gets the same summary as a JSON POST."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_DURATION_FIELDS = {"max_step_time", "max_wait", "command_timeout", "idle_timeout", "max_time"}


def parse_duration(value: str | float | int) -> float:
    """Seconds from `90`, `90s`, `15m`, `2h` or `1d`."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise UsageError(f"bad duration {value!r}: use seconds or a number with s, m, h or d")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _convert(name: str, value: Any, source: str) -> Any:
    if value is None:
        return None
    field = next(f for f in fields(Config) if f.name == name)
    kind = str(field.type)
    try:
        if name in _DURATION_FIELDS:
            return parse_duration(value)
        if kind.startswith("int"):
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind.startswith("float"):
            return float(str(value).lstrip("$"))
        return str(value)
    except (TypeError, ValueError):
        raise UsageError(f"{source}: bad value {value!r} for {name}") from None


def project_config(workspace: Path) -> tuple[dict[str, Any], str]:
    """The project's settings and where they came from (empty when there are none)."""
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
        return {k.replace("-", "_"): v for k, v in data.items()}, str(path)
    return {}, ""


def load_config(workspace: Path, flags: dict[str, Any] | None = None) -> Config:
    """Merge flags, `RALPH_*` environment variables, the project config and the defaults."""
    flags = flags or {}
    file_values, file_name = project_config(workspace)
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(file_values) - known)
    if unknown:
        raise UsageError(
            f"{file_name}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for name in known:
        env = os.environ.get(f"RALPH_{name.upper()}")
        if flags.get(name) is not None:
            values[name] = _convert(name, flags[name], f"--{name.replace('_', '-')}")
        elif env not in (None, ""):
            values[name] = _convert(name, env, f"RALPH_{name.upper()}")
        elif name in file_values:
            values[name] = _convert(name, file_values[name], file_name)
    return dataclasses.replace(Config(), **values)
