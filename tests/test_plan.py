"""`ralph plan "IDEA"` end to end: the real CLI, the real SDKs, the real guard and tools,
against the fake model server on 127.0.0.1. Also config precedence through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ralph.agent import draft as planner
from ralph.cli import init as scaffold
from tests.fakeserver import Turn
from tests.harness import Ralph, cmd

GOOD_PLAN = """\
# Link shortener

A Flask app that stores URLs in SQLite and redirects short codes.

## Scaffold

- [ ] Create the Flask app in `app.py` with a `/health` route returning {"ok": true}
  - verify: `python -m pytest -q tests/test_health.py`

## Links

- [ ] Add POST /links that stores a URL and returns a short code
  - codes are 6 characters, letters and digits
  - verify: `python -m pytest -q tests/test_links.py`
- [ ] Add GET /<code> that redirects to the stored URL
"""
IDEA = "A link shortener in Flask"
SAVED = Path("tasks") / "link-shortener-in-flask.md"


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RALPH_MODEL", "RALPH_POLICY", "RALPH_MAX_TURNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: Any) -> Path:
    ws = tmp_path / "proj"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("print('hello')\n")
    monkeypatch.chdir(ws)
    return ws


def plan(r: Ralph, *args: str) -> tuple[int, str, str]:
    return r("plan", IDEA, "--model", r.model, *args)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def tool_names(request_body: dict[str, Any]) -> list[str]:
    return sorted(t.get("name") or t["function"]["name"] for t in request_body["tools"])


def test_good_plan_is_saved(ralph: Ralph, project: Path) -> None:
    ralph.server.add(
        Turn(tool_calls=[("list_files", {})]),
        Turn(tool_calls=[("read_file", {"path": "src/app.py"}), cmd("ls src")]),
        Turn(text=GOOD_PLAN),
    )
    code, out, err = plan(ralph, "--json")
    assert code == 0, err
    ralph.server.assert_complete()
    assert (project / SAVED).read_text() == GOOD_PLAN
    summary = json.loads(out)
    assert summary["file"] == str(project / SAVED)
    assert (summary["title"], summary["steps"], summary["steps_with_verify"]) == (
        "Link shortener",
        3,
        2,
    )
    assert summary["turns"] == 3
    first = ralph.server.requests[0].body
    assert tool_names(first) == ["list_files", "read_file", "run_command", "search"]
    assert IDEA in json.dumps(first) and "verify:" in json.dumps(first)
    # What the tools read and ran reached the model.
    assert "print('hello')" in json.dumps(ralph.server.requests[2].body)
    assert "app.py" in json.dumps(ralph.server.requests[2].body)


@pytest.mark.parametrize("preamble", ["", "Here is the plan for the link shortener:\n\n"])
def test_fenced_plan_is_unwrapped(ralph_anthropic: Ralph, project: Path, preamble: str) -> None:
    ralph_anthropic.server.add(Turn(text=f"{preamble}```markdown\n{GOOD_PLAN}```\n"))
    code, out, err = plan(ralph_anthropic, "-o", "plans/mine.md")
    assert code == 0, err
    assert (project / "plans" / "mine.md").read_text() == GOOD_PLAN


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("# Link shortener\n\n## Build\n\nWrite the app, then the tests.\n", "no steps"),
        ("Sure! First scaffold a Flask app, then add the links route.", "no steps"),
        (
            json.dumps({"title": "Link shortener", "steps": ["- [ ] Create app.py"]}, indent=2),
            "JSON",
        ),
        ("- [ ] Create app.py\n- [ ] Add tests\n", "no title"),
        ("# Plan\n\n- [-] Create app.py\n", "no steps"),
        ("", "empty"),
    ],
    ids=["no-steps", "prose", "json", "no-title", "look-alike", "empty"],
)
def test_bad_plan_is_rejected(
    ralph_anthropic: Ralph, project: Path, reply: str, reason: str
) -> None:
    before = snapshot(project)
    ralph_anthropic.server.add(Turn(text=reply))
    code, out, err = plan(ralph_anthropic)
    assert code == 1
    assert "the model's plan was rejected" in err and reason in err and "nothing written" in err
    assert snapshot(project) == before and not (project / "tasks").exists()


def test_cut_off_reply_is_rejected(ralph_anthropic: Ralph, project: Path) -> None:
    ralph_anthropic.server.add(Turn(text=GOOD_PLAN[:120], stop_reason="max_tokens"))
    code, out, err = plan(ralph_anthropic)
    assert code == 1 and "cut off" in err
    assert not (project / SAVED).exists()


def test_existing_file_is_kept_without_force(ralph_anthropic: Ralph, project: Path) -> None:
    target = project / SAVED
    target.parent.mkdir()
    target.write_text("# Mine\n\n- [ ] keep me\n")
    code, out, err = plan(ralph_anthropic)
    assert code == 2 and "--force" in err
    assert target.read_text() == "# Mine\n\n- [ ] keep me\n"
    assert ralph_anthropic.server.requests == []  # refused before any money was spent

    ralph_anthropic.server.add(Turn(text=GOOD_PLAN))
    code, out, err = plan(ralph_anthropic, "--force")
    assert code == 0, err
    assert target.read_text() == GOOD_PLAN


def test_the_session_cannot_write(ralph: Ralph, project: Path) -> None:
    (project / "notes.txt").write_text("original\n")
    before = snapshot(project)
    ralph.server.add(
        Turn(tool_calls=[("write_file", {"path": "x.txt", "content": "pwned"})]),
        Turn(tool_calls=[cmd("touch x")]),
        Turn(tool_calls=[cmd("echo changed > notes.txt")]),
        Turn(tool_calls=[("edit_file", {"path": "notes.txt", "old_text": "o", "new_text": "x"})]),
        Turn(tool_calls=[("finish_step", {"outcome": "done", "summary": "wrote it"})]),
        Turn(text=GOOD_PLAN),
    )
    code, out, err = plan(ralph)
    assert code == 0, err
    after = snapshot(project)
    assert after.pop(str(SAVED)) == GOOD_PLAN.encode()
    assert after == before  # nothing else written, not even ralph's state folder
    assert not (project / ".ralph").exists()
    for index in range(1, 6):  # each refusal went back to the model as a tool result
        assert json.dumps(ralph.server.requests[index].body).count("Refused") == index
    # write_file, edit_file and finish_step are not offered; the commands met the guard.
    assert json.dumps(ralph.server.requests[2].body).count("running in audit mode") == 1
    assert json.dumps(ralph.server.requests[3].body).count("running in audit mode") == 2


def test_turn_budget_is_honoured(ralph_anthropic: Ralph, project: Path) -> None:
    ralph_anthropic.server.add(*[Turn(tool_calls=[("list_files", {})]) for _ in range(3)])
    code, out, err = plan(ralph_anthropic, "--max-turns", "2")
    assert code == 1 and "out of turns (2)" in err
    assert len(ralph_anthropic.server.requests) == 2
    assert not (project / "tasks").exists()


def test_missing_key_is_exit_2_naming_the_variable(
    ralph_anthropic: Ralph, project: Path, monkeypatch: Any
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, out, err = plan(ralph_anthropic)
    assert code == 2 and "ANTHROPIC_API_KEY" in err
    assert ralph_anthropic.server.requests == []


def test_config_precedence_through_the_cli(
    ralph_anthropic: Ralph, project: Path, monkeypatch: Any
) -> None:
    """The model comes from the flag, else RALPH_MODEL, else the project config; with none
    of them there is no default model and the command says how to set one."""
    r = ralph_anthropic

    def model_used(*args: str) -> str:
        r.server.add(Turn(text=GOOD_PLAN))
        code, out, err = r("plan", IDEA, "--force", *args)
        assert code == 0, err
        return r.server.requests[-1].body["model"]

    code, out, err = r("plan", IDEA)  # defaults: no model
    assert code == 2 and "no model" in err and "RALPH_MODEL" in err

    assert r("init")[0] == 0  # project config: ralph.toml with model and policy
    assert model_used() == scaffold.DEFAULT_MODEL.partition(":")[2]
    monkeypatch.setenv("RALPH_MODEL", "anthropic:claude-from-env")
    assert model_used() == "claude-from-env"
    assert model_used("--model", "anthropic:claude-from-flag") == "claude-from-flag"


# --------------------------------------------------------------------------- the pieces


def test_accept_keeps_the_text_and_adds_a_final_newline() -> None:
    text, tf = planner.accept(GOOD_PLAN.rstrip("\n"))
    assert text == GOOD_PLAN and tf.title == "Link shortener" and len(tf.steps) == 3


@pytest.mark.parametrize(
    "fenced",
    [
        f"```markdown\n{GOOD_PLAN}```",
        f"~~~md\n{GOOD_PLAN}~~~",
        f"````\n{GOOD_PLAN}````",
    ],
)
def test_strip_fence(fenced: str) -> None:
    assert planner.strip_fence(fenced) == GOOD_PLAN.rstrip("\n")


@pytest.mark.parametrize(
    "wrapped",
    [
        f"Here is the plan:\n\n```markdown\n{GOOD_PLAN}```",
        f"Sure. I looked at the workspace.\nHere it is:\n```md\n{GOOD_PLAN}```\n\nGood luck!",
        f"Plan below.\n```\n{GOOD_PLAN}```\n",
    ],
)
def test_strip_fence_after_a_line_of_preamble(wrapped: str) -> None:
    assert planner.strip_fence(wrapped.strip()) == GOOD_PLAN.rstrip("\n")


def test_a_preamble_that_is_part_of_the_plan_is_kept() -> None:
    text = f"# Real title\n\n```markdown\n{GOOD_PLAN}```"
    assert planner.strip_fence(text) == text


def test_strip_fence_leaves_inner_fences_alone() -> None:
    text = "# T\n\n```python\nx = 1\n```\n\n- [ ] step"
    assert planner.strip_fence(text) == text


@pytest.mark.parametrize(
    ("idea", "stem"),
    [
        ("A link shortener in Flask!", "link-shortener-in-flask"),
        ("Café menu — QR codes", "cafe-menu-qr-codes"),
        ("the one two three four five six seven", "one-two-three-four-five-six"),
        ("!!!", "plan"),
        ("日本語", "plan"),
    ],
)
def test_slug(idea: str, stem: str) -> None:
    assert planner.slug(idea) == stem
