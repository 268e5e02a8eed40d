"""Prices people can extend in config, the receipts they produce, and dollar budgets that
would never stop anything (a model with no price)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ralph import taskfile
from ralph.config import load_config
from ralph.errors import UsageError
from ralph.messages import Usage
from ralph.providers.pricing import PRICES, Price, cost_usd, price_for, require_prices
from tests.fakeserver import FakeModelServer, Turn
from tests.harness import Ralph, finish

PLAN = "# Plan\n\n- [ ] Do the thing\n"
QWEN = """\
model = "openai-chat:qwen3-coder"

[pricing."openai-chat:qwen3-coder"]
input = 1.0
output = 4.0
cache-read = 0.1
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    ws = tmp_path / "proj"
    (ws / "tasks").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "tasks" / "plan.md").write_text(PLAN)
    return ws


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Ralph]:
    with FakeModelServer() as server:
        ralph = Ralph(server, "openai-chat", monkeypatch, capsys)
        yield ralph


def test_config_prices_parse_with_defaults_for_cache(tmp_path: Path) -> None:
    (tmp_path / "ralph.toml").write_text(QWEN)
    config = load_config(tmp_path)
    assert config.pricing == {"openai-chat:qwen3-coder": Price(1.0, 4.0, 1.0, 0.1)}


def test_pyproject_prices_live_under_tool_ralph(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ralph.pricing."openai:gpt-9"]\ninput = 3\noutput = 12\ncache_write = 4\n'
    )
    assert load_config(tmp_path).pricing == {"openai:gpt-9": Price(3.0, 12.0, 4.0, 3.0)}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[pricing."qwen3"]\ninput = 1\noutput = 2\n', r'\[pricing\."qwen3"\]: name the model'),
        ('[pricing."gemini:pro"]\ninput = 1\noutput = 2\n', r'\[pricing\."gemini:pro"\]'),
        ('[pricing."openai:x"]\ninput = 1\n', r'\[pricing\."openai:x"\] needs input and output'),
        ('[pricing."openai:x"]\ninput = 1\noutput = "two"\n', r"output: 'two' is not a number"),
        ('[pricing."openai:x"]\ninput = -1\noutput = 2\n', r"input: -1 is not a number"),
        ('[pricing."openai:x"]\ninput = true\noutput = 2\n', r"input: True is not a number"),
        ('[pricing."openai:x"]\ninput = 1\noutput = 2\ncached = 1\n', r"unknown price 'cached'"),
        ('[pricing]\n"openai:x" = 3\n', r'\[pricing\."openai:x"\] must be a table'),
        ("pricing = 3\n", r"tables are expected under pricing"),
    ],
)
def test_bad_price_tables_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "ralph.toml").write_text(table)
    with pytest.raises(UsageError, match=message):
        load_config(tmp_path)


def test_config_prices_win_and_match_like_the_builtin_table() -> None:
    table = {
        "anthropic:claude-sonnet-4-5": Price(1, 1, 1, 1),
        "openai-chat:qwen3": Price(2, 0, 0, 0),
    }
    usage = Usage(1_000_000, 0)
    assert cost_usd("claude-sonnet-4-5-20250929", usage, provider="anthropic", table=table) == 1
    assert cost_usd("qwen3-coder", usage, provider="openai-chat", table=table) == 2
    assert cost_usd("qwen3", usage, provider="openai", table=table) is None  # other provider
    assert (
        price_for("claude-sonnet-4-5", provider="openai", table=table)
        == PRICES["claude-sonnet-4-5"]
    )


def test_configured_price_produces_the_receipt(chat: Ralph, project: Path) -> None:
    (project / "ralph.toml").write_text(QWEN)
    usage = Usage(400_000, 100_000, cache_read_tokens=100_000)
    chat.server.add(Turn(tool_calls=[finish("did it")], usage=usage))
    code, summary, err = chat.run(project / "tasks" / "plan.md", "--max-cost", "5")
    assert code == 0, err
    expected = (400_000 * 1.0 + 100_000 * 4.0 + 100_000 * 0.1) / 1_000_000  # $0.81
    assert summary["cost_usd"] == pytest.approx(expected)
    assert summary["steps"][0]["cost_usd"] == pytest.approx(expected)
    note = (project / "tasks" / "plan.md").read_text().splitlines()[-1]
    assert "$0.81" in note and "cost unknown" not in note
    assert "20% cached" in note  # 100k of 500k input tokens were cache reads
    step = taskfile.load(project / "tasks" / "plan.md").steps[0]
    assert step.checked and step.state == "done" and step.attempts == 0  # still parses


@pytest.mark.parametrize("flag", ["--max-cost", "--max-step-cost"])
def test_dollar_budget_for_an_unpriced_model_is_a_usage_error(
    chat: Ralph, project: Path, flag: str
) -> None:
    code, _, err = chat(
        "run",
        str(project / "tasks" / "plan.md"),
        "--model",
        "openai-chat:qwen3-coder",
        flag,
        "1.50",
    )
    assert code == 2
    assert "openai-chat:qwen3-coder" in err and '[pricing."openai-chat:qwen3-coder"]' in err
    assert flag in err and "Traceback" not in err
    assert chat.server.requests == []  # refused before any model request


def test_budget_from_the_config_file_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "ralph.toml").write_text('model = "openai:gpt-9"\nmax_cost = 2\n')
    with pytest.raises(
        UsageError, match=r'--max-cost needs the price of openai:gpt-9.*pricing\."openai:gpt-9"'
    ):
        require_prices(load_config(tmp_path))
    (tmp_path / "ralph.toml").write_text(
        'model = "openai:gpt-9"\nmax_cost = 2\n[pricing."openai:gpt-9"]\ninput = 1\noutput = 2\n'
    )
    require_prices(load_config(tmp_path))  # priced now: no error


def test_known_model_and_no_budget_need_no_config(tmp_path: Path) -> None:
    (tmp_path / "ralph.toml").write_text('model = "anthropic:claude-sonnet-4-5"\nmax_cost = 2\n')
    require_prices(load_config(tmp_path))
    (tmp_path / "ralph.toml").write_text('model = "openai-chat:llama3"\n')
    require_prices(load_config(tmp_path))


def test_runs_json_shows_the_cache_share(chat: Ralph, project: Path) -> None:
    (project / "ralph.toml").write_text(QWEN)
    chat.server.add(
        Turn(tool_calls=[("read_file", {"path": "tasks/plan.md"})], usage=Usage(300, 10, 100)),
        Turn(tool_calls=[finish("did it")], usage=Usage(100, 10, 300)),
    )
    code, summary, err = chat.run(project / "tasks" / "plan.md")
    assert code == 0, err
    assert summary["cache_read_share"] == pytest.approx(0.5)
    assert summary["steps"][0]["cache_read_share"] == pytest.approx(0.5)
    code, out, _ = chat("runs", "--json", "--workspace", str(project))
    (run,) = json.loads(out)["runs"]
    assert run["cache_read_share"] == pytest.approx(0.5)
    assert run["prompt_tokens"] == 800 and run["cache_read_tokens"] == 400
