"""Config precedence: flag > RALPH_* environment > project config > defaults."""

from pathlib import Path

import pytest

from ralph.config import Config, load_config, parse_duration, resolve_config
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
    with pytest.raises(UsageError, match="max_turns: expected a whole number, got 'lots'"):
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


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('max-turns = "lots"', "ralph.toml: max-turns: expected a whole number, got 'lots'"),
        ("max-turns = 2.5", "ralph.toml: max-turns: expected a whole number, got 2.5"),
        ("max-turns = -1", "ralph.toml: max-turns: expected a whole number of 0 or more"),
        ("max-step-cost = -0.5", "ralph.toml: max-step-cost: expected a number of 0 or more"),
        ('max-wait = "soon"', "ralph.toml: max-wait: expected a duration"),
        ("model = true", "ralph.toml: model: expected a string, got True"),
        ("max-trns = 3", "unknown setting 'max-trns'; known: base-url, command-timeout"),
    ],
)
def test_file_errors_name_the_key_as_spelled_and_the_type(
    tmp_path: Path, line: str, message: str
) -> None:
    (tmp_path / "ralph.toml").write_text(line + "\n")
    with pytest.raises(UsageError) as e:
        load_config(tmp_path)
    assert message in str(e.value)


def test_env_and_flag_errors_name_the_variable_and_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RALPH_MAX_TURNS", "-3")
    with pytest.raises(UsageError, match="RALPH_MAX_TURNS: expected a whole number of 0 or more"):
        load_config(tmp_path)
    monkeypatch.delenv("RALPH_MAX_TURNS")
    with pytest.raises(UsageError, match="--max-cost: expected a number of 0 or more"):
        load_config(tmp_path, {"max_cost": -1.0})


def test_sources_say_where_each_setting_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ralph]\nmodel = "anthropic:file"\nmax-turns = 7\nmax_wait = "20m"\n'
    )
    monkeypatch.setenv("RALPH_MAX_TURNS", "9")
    cfg, sources = resolve_config(tmp_path, {"max_cost": 2.0})
    pyproject = str(tmp_path / "pyproject.toml")
    assert sources["model"] == f"{pyproject}: model"
    assert sources["max_wait"] == f"{pyproject}: max_wait"
    assert sources["max_turns"] == "RALPH_MAX_TURNS"
    assert sources["max_cost"] == "--max-cost"
    assert sources["max_attempts"] == "default"
    assert (cfg.max_turns, cfg.max_cost, cfg.max_wait) == (9, 2.0, 1200.0)
