"""Config precedence: flag > RALPH_* environment > project config > defaults."""

from pathlib import Path

import pytest

from ralph.config import Config, load_config, parse_duration
from ralph.errors import UsageError


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RALPH_MODEL", raising=False)
    assert load_config(tmp_path) == Config()


def test_precedence_flag_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.ralph]\nmodel = "anthropic:file"\nmax-turns = 7\n'
        'max_wait = "20m"\n'
    )
    monkeypatch.delenv("RALPH_MODEL", raising=False)
    monkeypatch.delenv("RALPH_MAX_TURNS", raising=False)
    cfg = load_config(tmp_path)
    assert (cfg.model, cfg.max_turns, cfg.max_wait) == ("anthropic:file", 7, 1200.0)

    monkeypatch.setenv("RALPH_MODEL", "openai:env")
    monkeypatch.setenv("RALPH_MAX_TURNS", "9")
    cfg = load_config(tmp_path)
    assert (cfg.model, cfg.max_turns) == ("openai:env", 9)

    cfg = load_config(tmp_path, {"model": "openai-chat:flag", "max_turns": None})
    assert (cfg.model, cfg.max_turns) == ("openai-chat:flag", 9)
    assert cfg.max_attempts == Config().max_attempts


def test_ralph_toml_when_pyproject_has_no_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "ralph.toml").write_text('policy = "policies/policy.toml"\n')
    assert load_config(tmp_path).policy == "policies/policy.toml"


def test_unknown_key_and_bad_value_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "ralph.toml").write_text("max_turn = 3\n")
    with pytest.raises(UsageError, match="unknown setting 'max_turn'"):
        load_config(tmp_path)
    (tmp_path / "ralph.toml").write_text('max_turns = "lots"\n')
    with pytest.raises(UsageError, match="bad value 'lots' for max_turns"):
        load_config(tmp_path)


def test_broken_toml(tmp_path: Path) -> None:
    (tmp_path / "ralph.toml").write_text("model = \n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1.5d", 129600)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(UsageError, match="bad duration"):
        parse_duration("soon")
