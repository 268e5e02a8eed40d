"""What `ralph config` prints: every effective setting, its value and where it came from."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ralph.config import DEFAULT_PLAN, resolve_config, setting_name

PRECEDENCE = "flag > RALPH_* environment > project config > default"


def show_config(workspace: Path, *, as_json: bool = False) -> int:
    """`ralph config`: one line per setting (value, source), or the same as JSON. Exit 0."""
    config, sources = resolve_config(workspace)
    values = asdict(config)
    values["pricing"] = {spec: price._asdict() for spec, price in config.pricing.items()}
    if as_json:
        settings = {
            setting_name(name): {"value": value, "source": sources[name]}
            for name, value in values.items()
        }
        click.echo(json.dumps({"workspace": str(workspace), "settings": settings}, indent=2))
        return 0
    rows = [(setting_name(n), _shown(n, v), sources[n]) for n, v in values.items()]
    key_w = max(len(r[0]) for r in rows)
    value_w = min(max(len(r[1]) for r in rows), 40)
    click.echo(f"ralph's settings for {workspace} ({PRECEDENCE})")
    for key, value, source in rows:
        click.echo(f"  {key:<{key_w}}  {value:<{value_w}}  {source}".rstrip())
    return 0


def _shown(name: str, value: Any) -> str:
    if name == "plan" and value is None:
        return f"{DEFAULT_PLAN} (when it exists)"
    if name == "pricing":
        return ", ".join(value) or "(built-in prices only)"
    if value is None:
        return "(none)"
    if isinstance(value, float) and name.endswith(("_time", "_wait", "_timeout")):
        return f"{value:g}s"
    return str(value)
