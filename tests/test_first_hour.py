"""What a new user meets in the first hour: `ralph config`, the default plan, help
examples, and errors that say once, clearly, what to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Ralph


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RALPH_MODEL", "RALPH_POLICY", "RALPH_MAX_TURNS", "RALPH_PLAN"):
        monkeypatch.delenv(name, raising=False)


def test_config_shows_each_setting_with_its_source(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "ralph.toml").write_text('model = "openai:gpt-5"\nmax-step-cost = 2\n')
    monkeypatch.setenv("RALPH_MAX_TURNS", "20")
    monkeypatch.chdir(tmp_path)
    code, out, err = ralph_anthropic("config")
    assert code == 0, err
    lines = {line.split()[0]: line.split(None, 2)[1:] for line in out.splitlines()[1:]}
    toml = str(tmp_path / "ralph.toml")
    assert lines["model"] == ["openai:gpt-5", f"{toml}: model"]
    assert lines["max-step-cost"] == ["2.0", f"{toml}: max-step-cost"]
    assert lines["max-turns"] == ["20", "RALPH_MAX_TURNS"]
    assert lines["max-attempts"] == ["3", "default"]

    code, out, err = ralph_anthropic("config", "--json")
    assert code == 0, err
    settings = json.loads(out)["settings"]
    assert settings["max-turns"] == {"value": 20, "source": "RALPH_MAX_TURNS"}
    assert settings["max-wait"] == {"value": 900.0, "source": "default"}


def test_config_with_a_bad_file_is_exit_2_naming_the_key(
    ralph_anthropic: Ralph, tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "ralph.toml").write_text('max-turns = "many"\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = ralph_anthropic("config")
    assert code == 2
    assert err.strip() == (
        f"ralph: {tmp_path / 'ralph.toml'}: max-turns: expected a whole number, got 'many'"
    )
