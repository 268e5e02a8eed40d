"""Drives the real `ralph` CLI in-process against the fake model server, for end-to-end tests.

The `ralph` (every provider) and `ralph_anthropic` fixtures in conftest.py hand out a `Ralph`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ralph.cli import main
from tests.fakeserver import FakeModelServer

PROVIDERS = {
    "anthropic": ("anthropic:claude-sonnet-4-6", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    "openai": ("openai:gpt-5", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "openai-chat": ("openai-chat:qwen3-coder", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
}


def finish(summary: str = "did it", outcome: str = "done") -> tuple[str, dict[str, str]]:
    return ("finish_step", {"outcome": outcome, "summary": summary})


def cmd(command: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("run_command", {"command": command, **extra})


class Ralph:
    """Runs the CLI in-process with a provider pointed at the fake server."""

    def __init__(self, server: FakeModelServer, provider: str, monkeypatch: Any, capsys: Any):
        self.server, self.provider = server, provider
        self.monkeypatch, self.capsys = monkeypatch, capsys
        model, key_var, url_var = PROVIDERS[provider]
        self.model = model
        monkeypatch.setenv(key_var, "test-key")
        monkeypatch.setenv(url_var, server.base_url(provider))

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "argv", ["ralph", *args])
        self.monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
        with pytest.raises(SystemExit) as exit_info:
            main()
        out, err = self.capsys.readouterr()
        return int(exit_info.value.code or 0), out, err

    def run(self, plan: Path, *args: str) -> tuple[int, dict[str, Any], str]:
        code, out, err = self("run", str(plan), "--model", self.model, "--json", *args)
        return code, (json.loads(out) if out.strip() else {}), err
