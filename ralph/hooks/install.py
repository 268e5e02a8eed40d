"""Add ralph's hook to a host's settings, or take it out, leaving every other hook alone.

Claude Code and Codex read the same shape (`{"hooks": {"PreToolUse": [{"matcher": ...,
"hooks": [{"type": "command", "command": ...}]}]}}`); Gemini CLI names the event
`BeforeTool` and counts timeouts in milliseconds. The entry runs this Python's ralph by
absolute path, so a host whose PATH lacks `ralph` still runs the guard (a hook that
cannot start would let the call through). Installing twice leaves one entry.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from ralph.errors import UsageError
from ralph.fsutil import atomic_write_text
from ralph.hooks.hosts import HOSTS

TIMEOUT_S = 30


def settings_path(host: str, *, user: bool, workspace: Path) -> Path:
    """Where the host reads hooks from: the project's folder or the user's."""
    if host == "codex":
        home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
        return (home if user else workspace / ".codex") / "hooks.json"
    folder = {"claude": ".claude", "gemini": ".gemini"}[host]
    return (Path.home() if user else workspace) / folder / "settings.json"


def hook_command(host: str) -> str:
    """`python -m ralph.hooks HOST`: `ralph hook HOST` without the command line's start-up."""
    return f"{shlex.quote(sys.executable)} -m ralph.hooks {host}"


def install(host: str, path: Path, *, uninstall: bool = False) -> str:
    """Add (or remove) ralph's entry in the settings file at `path`; say what was done."""
    settings = _read(path)
    event = HOSTS[host].event
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict) or not isinstance(hooks.get(event, []), list):
        raise UsageError(f"{path}: 'hooks.{event}' is not a list; fix the file by hand first")
    groups = [g for g in hooks.get(event, []) if not _is_ours(g, host)]
    removed = len(hooks.get(event, [])) - len(groups)
    if not uninstall:
        groups.append(_entry(host))
    if groups:
        hooks[event] = groups
    else:
        hooks.pop(event, None)
    atomic_write_text(path, json.dumps(settings, indent=2) + "\n")
    if uninstall:
        return (
            f"removed ralph's {event} hook from {path}" if removed else f"no ralph hook in {path}"
        )
    return f"{'updated' if removed else 'added'} ralph's {event} hook in {path}"


def _entry(host: str) -> dict[str, Any]:
    timeout = TIMEOUT_S * 1000 if host == "gemini" else TIMEOUT_S
    hook = {"type": "command", "command": hook_command(host), "timeout": timeout}
    return {"matcher": ".*" if host == "gemini" else "*", "hooks": [hook]}


def _is_ours(group: Any, host: str) -> bool:
    hooks = group.get("hooks") if isinstance(group, dict) else None
    return isinstance(hooks, list) and any(
        isinstance(h, dict)
        and str(h.get("command", "")).endswith((f"ralph hook {host}", f"ralph.hooks {host}"))
        for h in hooks
    )


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path} is not valid JSON ({e}); fix it by hand first") from None
    if not isinstance(settings, dict):
        raise UsageError(f"{path} does not hold a JSON object; fix it by hand first")
    return settings
