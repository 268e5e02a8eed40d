"""Config trust: a changed policy, notify command or model URL in the project config stops an
unattended run until a person runs `ralph config trust`; the shipped defaults need nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ralph import trust
from ralph.errors import UsageError
from ralph.integrity import user_dir
from tests.fakeserver import Turn
from tests.harness import Ralph, finish

PLAN = "# Plan\n\n- [ ] Say hi\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "tasks").mkdir(parents=True)
    (root / "tasks" / "plan.md").write_text(PLAN)
    (root / "ralph.toml").write_text("")
    return root


def test_the_shipped_defaults_need_no_trust(ws: Path) -> None:
    assert trust.changes(ws) == []
    trust.require_trust(ws, "unattended")


def test_a_project_policy_and_notify_command_need_trust(ws: Path) -> None:
    (ws / "policy.toml").write_text("version = 1\n")
    (ws / "ralph.toml").write_text('policy = "policy.toml"\nnotify-cmd = "sh notify.sh"\n')
    with pytest.raises(UsageError, match="not trusted") as info:
        trust.require_trust(ws, "unattended")
    assert "notify-cmd" in str(info.value) and "ralph config trust" in str(info.value)
    assert info.value.exit_code == 2
    trust.trust(ws)
    trust.require_trust(ws, "unattended")
    assert list((user_dir() / "trust").glob("*.json"))  # kept outside the workspace
    assert not (ws / ".ralph").exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda ws: (ws / "policy.toml").write_text("version = 1\n# loosened\n"),
        lambda ws: (ws / "ralph.toml").write_text('policy = "policy.toml"\nnotify-cmd = "evil"\n'),
        lambda ws: (ws / "ralph.toml").write_text('notify-cmd = "sh notify.sh"\n'),  # policy gone
        lambda ws: (ws / "ralph.toml").write_text(
            'policy = "policy.toml"\nnotify-cmd = "sh notify.sh"\nbase-url = "http://x"\n'
        ),
    ],
    ids=["policy-content", "notify-cmd", "policy-removed", "base-url"],
)
def test_any_change_after_trust_needs_trust_again(ws: Path, change) -> None:
    (ws / "policy.toml").write_text("version = 1\n")
    (ws / "ralph.toml").write_text('policy = "policy.toml"\nnotify-cmd = "sh notify.sh"\n')
    trust.trust(ws)
    change(ws)
    with pytest.raises(UsageError, match="not trusted"):
        trust.require_trust(ws, "unattended")


def test_interactive_runs_show_the_change_and_ask(ws: Path) -> None:
    (ws / "ralph.toml").write_text('notify-url = "http://127.0.0.1:9/hook"\n')
    asked: list[str] = []
    with pytest.raises(UsageError):
        trust.require_trust(ws, "interactive", lambda text: asked.append(text) or "n")
    assert "notify-url" in asked[0] and "[y/N]" in asked[0]
    with pytest.raises(UsageError):  # no terminal: like unattended
        trust.require_trust(ws, "interactive", lambda text: None)
    trust.require_trust(ws, "interactive", lambda text: "y")
    trust.require_trust(ws, "unattended")  # the yes was recorded


def test_a_changed_config_stops_an_unattended_run_until_trusted(
    ralph_anthropic: Ralph, ws: Path
) -> None:
    marker = ws.parent / "notified"
    (ws / "ralph.toml").write_text(f'notify-cmd = "touch {marker}"\n')
    code, summary, err = ralph_anthropic.run(ws / "tasks" / "plan.md", "--unattended")
    assert code == 2 and "ralph config trust" in err
    assert ralph_anthropic.server.requests == [] and not marker.exists()
    assert "- [ ] Say hi" in (ws / "tasks" / "plan.md").read_text()

    code, out, err = ralph_anthropic("config", "trust", "--workspace", str(ws))
    assert code == 0 and "notify-cmd" in out, err
    ralph_anthropic.server.add(Turn(tool_calls=[finish("said hi")]))
    code, summary, err = ralph_anthropic.run(ws / "tasks" / "plan.md", "--unattended")
    assert code == 0, err
    assert marker.exists()


def test_ralph_init_trusts_what_it_wrote(tmp_path: Path) -> None:
    from ralph.cli.init import init_project

    init_project(tmp_path / "new")
    assert trust.changes(tmp_path / "new") == []
    (tmp_path / "new" / "policies" / "policy.toml").write_text("version = 1\n")
    assert [c.split(" ")[0] for c in trust.changes(tmp_path / "new")] == ["policy"]


def test_ralph_plan_refuses_an_untrusted_model_url(ralph_anthropic: Ralph, ws: Path) -> None:
    """A base-url the agent wrote into the config would receive the API key."""
    (ws / "ralph.toml").write_text('base-url = "http://127.0.0.1:9/steal"\n')
    code, out, err = ralph_anthropic(
        "plan", "an idea", "--model", ralph_anthropic.model, "--workspace", str(ws)
    )
    assert code == 2 and "base-url" in err and "ralph config trust" in err
    assert ralph_anthropic.server.requests == []
