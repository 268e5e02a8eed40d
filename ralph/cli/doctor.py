"""`ralph doctor` (is this machine and project ready to run?) and `ralph sandbox -- CMD`
(run a command in the same sandbox the agent's commands get)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click

from ralph.errors import EXIT_FAILED, EXIT_OK, RalphError, UsageError

CONNECT_TIMEOUT_S = 3.0
_DEFAULT_URLS = {"ANTHROPIC_BASE_URL": "https://api.anthropic.com", "OPENAI_BASE_URL": ""}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: str  # ok, warn, fail
    detail: str


def doctor(workspace: Path, *, as_json: bool = False) -> int:
    """Print every check; exit 1 when one fails (a run would not work), else 0."""
    checks = run_checks(workspace)
    if as_json:
        click.echo(json.dumps({"workspace": str(workspace), "checks": [asdict(c) for c in checks]}))
    else:
        click.echo(f"workspace: {workspace}")
        marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
        for c in checks:
            click.echo(f"{marks[c.status]}  {c.name + ':':<12} {c.detail}")
    return EXIT_FAILED if any(c.status == "fail" for c in checks) else EXIT_OK


def run_checks(workspace: Path) -> list[Check]:
    from ralph.config import Config, load_config

    out: list[Check] = []
    try:
        config = load_config(workspace)
    except RalphError as e:
        out.append(Check("config", "fail", str(e)))
        config = Config()
    else:
        out.append(_config_check(workspace))
    out += _model_checks(config)
    out.append(_policy_check(workspace))
    out.append(_sandbox_check(workspace, config.sandbox))
    out.append(_state_check(workspace))
    return out


def _config_check(workspace: Path) -> Check:
    from ralph.config import config_files

    files = [str(p) for p in config_files(workspace)]
    env = sorted(k for k in os.environ if k.startswith("RALPH_"))
    order = ["flags", f"RALPH_* variables ({', '.join(env) or 'none set'})"]
    order.append(files[0] if files else "no project config file")
    unread = (
        f"; {', '.join(files[1:])} is not read while {files[0]} has settings" if files[1:] else ""
    )
    return Check("config", "ok", f"read in order: {', '.join(order)}, defaults{unread}")


def _model_checks(config: object) -> list[Check]:
    from ralph.providers import KINDS, check_provider_spec

    spec = getattr(config, "model", None)
    if not spec:
        why = "no model: pass --model, set RALPH_MODEL, or set model in ralph.toml"
        return [Check("model", "fail", why)]
    try:
        provider, model = check_provider_spec(spec)
    except UsageError as e:
        return [Check("model", "fail", str(e))]
    kind = KINDS[provider]
    checks = [Check("model", "ok", f"{model} from provider {provider}")]
    has_key = bool(os.environ.get(kind.key_var, "").strip())
    keyless = provider == "openai-chat"
    status = "ok" if has_key else ("warn" if keyless else "fail")
    found = (
        "is set" if has_key else "is not set" + (" (local servers need none)" if keyless else "")
    )
    checks.append(Check("key", status, f"{kind.key_var} {found}"))
    url = getattr(config, "base_url", None) or os.environ.get(kind.base_url_var, "").strip()
    url = url or _DEFAULT_URLS.get(kind.base_url_var) or "https://api.openai.com"
    checks.append(_reach(url))
    return checks


def _reach(url: str) -> Check:
    """A TCP connect to the base URL's host and port, with a short timeout."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    if not host:
        return Check("base url", "fail", f"{url!r} is not a URL (use http://HOST:PORT/...)")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        return Check("base url", "fail", f"{url} does not answer on {host}:{port}: {e}")
    return Check("base url", "ok", f"{url} answers on {host}:{port}")


def _policy_check(workspace: Path) -> Check:
    from ralph.guard.gate import find_policy
    from ralph.guard.policy import lint

    try:
        path = find_policy(workspace)
    except RalphError as e:
        return Check("policy", "fail", str(e))
    problems = lint(path)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check("policy", "fail", f"{problems[0]}{more}")
    return Check("policy", "ok", f"{path} (lint: OK)")


def _sandbox_check(workspace: Path, setting: str) -> Check:
    from ralph.sandbox import probe

    if setting == "off":
        return Check("sandbox", "warn", 'sandbox = "off": commands run without confinement')
    found = probe(workspace)
    if not found.ok:
        return Check("sandbox", "fail", f"not available: {found.reason}")
    userns = "no nested user namespaces" if found.disable_userns else "nested user namespaces"
    return Check("sandbox", "ok", f"works: {found.version or 'bwrap'} at {found.bwrap} ({userns})")


def _state_check(workspace: Path) -> Check:
    from ralph.workspace import state_dir

    state = state_dir(workspace)
    folder = state if state.is_dir() else workspace
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ralph-doctor-"):
            pass
    except OSError as e:
        return Check("state", "fail", f"{folder} is not writable: {e.strerror or e}")
    return Check(
        "state", "ok", f"{state} is writable" + ("" if state.is_dir() else " (not made yet)")
    )


def sandbox_command(
    workspace: Path, command: tuple[str, ...], *, network: bool, read_only: bool
) -> int:
    """Run COMMAND in the agent's sandbox for this workspace; its exit code."""
    import dataclasses

    from ralph.config import load_config
    from ralph.guard.gate import find_policy
    from ralph.sandbox.setup import for_run
    from ralph.tools.process import command_env

    if not command:
        raise UsageError("give a command after --, e.g. ralph sandbox -- ls ~/.ssh")
    config = dataclasses.replace(load_config(workspace), sandbox="required")
    mode = "audit" if read_only else "interactive"
    box = for_run(config, mode, workspace, find_policy(workspace)).sandbox
    assert box is not None  # "required" raised otherwise
    argv = box.argv(list(command), network=network)
    try:
        return subprocess.run(argv, env=box.env(command_env())).returncode
    except OSError as e:
        raise RalphError(f"cannot run the sandbox: {e}") from None
