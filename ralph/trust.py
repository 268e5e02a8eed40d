"""Trust of the settings that change what the guard does, by fingerprint (as direnv does).

The project config is a file in the workspace: a model, a script or a pulled commit can
change it. The settings in it that decide what is checked and what runs besides the agent
(`GUARD_SETTINGS`: the policy path, mode, sandbox and network settings, the notify command
and URL, and the model server URL, which receives the API key), plus the content of a
policy file the config names, must match what a person last trusted for this workspace:

- no record yet and none of these settings (the shipped default policy): trusted;
- `ralph init` trusts what it wrote; `ralph config trust` trusts what is there now;
- otherwise an unattended run refuses to start (exit 2, saying what changed), and an
  interactive run shows the change on the terminal and asks.

Flags and `RALPH_*` variables are the person's own choice at the command line and are not
part of the fingerprint. Records live in the per-user folder (`ralph.integrity.user_dir`),
outside every workspace: `trust/<hash of the workspace path>.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ralph.config import project_settings, setting_name, shipped_policy
from ralph.errors import UsageError
from ralph.fsutil import atomic_write_text, read_json_object
from ralph.integrity import user_dir

GUARD_SETTINGS = ("policy", "mode", "sandbox", "network", "notify_cmd", "notify_url", "base_url")


def fingerprint(workspace: Path) -> dict[str, str]:
    """What must be trusted in `workspace`: each guard setting the project config sets, and
    `policy file` (the sha256 of the policy the config names, unless it is a shipped one)."""
    values, _ = project_settings(workspace)
    items = {
        setting_name(k): json.dumps(values[k], ensure_ascii=False, sort_keys=True)
        for k in GUARD_SETTINGS
        if k in values
    }
    configured = values.get("policy")
    if isinstance(configured, str) and configured:
        path = (workspace / Path(configured).expanduser()).resolve()
        shipped = {shipped_policy(n) for n in ("default", "readonly", "strict")}
        if path not in shipped:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as e:
                digest = f"unreadable ({e.strerror})"
            items["policy file"] = f"{path} sha256 {digest}"
    return items


def changes(workspace: Path) -> list[str]:
    """How the fingerprint differs from what a person trusted (empty: trusted)."""
    now = fingerprint(workspace)
    record = _read(workspace)
    if record is None:
        return [f"{k} = {v} (not trusted yet)" for k, v in now.items()]
    trusted = record.get("items", {})
    out = []
    for key in sorted(set(now) | set(trusted)):
        if key not in now:
            out.append(f"{key}: removed (was {trusted[key]})")
        elif key not in trusted:
            out.append(f"{key} = {now[key]} (new)")
        elif now[key] != trusted[key]:
            out.append(f"{key} = {now[key]} (was {trusted[key]})")
    return out


def trust(workspace: Path) -> dict[str, str]:
    """Record the current fingerprint as trusted by a person; return it."""
    items = fingerprint(workspace)
    record = {
        "workspace": str(_real(workspace)),
        "items": items,
        "trusted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = _record_path(workspace)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return items


def require_trust(
    workspace: Path, mode: str, prompt: Callable[[str], str | None] | None = None
) -> None:
    """Return if the guard's settings are trusted; in interactive mode ask (and trust on
    yes); otherwise UsageError (exit 2) saying what changed and what to run."""
    changed = changes(workspace)
    if not changed:
        return
    if mode == "interactive" and prompt is not None:
        lines = [
            "",
            f"ralph: settings that decide what the guard does in {workspace} changed since a "
            "person last trusted them:",
            *(f"  {c}" for c in changed),
            "Trust them and go on? [y/N] ",
        ]
        answer = prompt("\n".join(lines))
        if answer is not None and answer.strip().lower() in ("y", "yes"):
            trust(workspace)
            return
    raise UsageError(
        f"the guard's settings in {workspace} are not trusted: {'; '.join(changed)}. "
        f"Review them, then run `ralph config trust --workspace {workspace}`"
    )


def _real(workspace: Path) -> Path:
    return Path(os.path.realpath(workspace))


def _record_path(workspace: Path) -> Path:
    digest = hashlib.sha256(str(_real(workspace)).encode("utf-8", "surrogateescape"))
    return user_dir() / "trust" / f"{digest.hexdigest()[:32]}.json"


def _read(workspace: Path) -> dict[str, Any] | None:
    record = read_json_object(_record_path(workspace))
    if record is None or record.get("workspace") != str(_real(workspace)):
        return None
    return record if isinstance(record.get("items"), dict) else None
