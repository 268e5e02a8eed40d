"""`ralph run --step` (exactly one named step) and `ralph matrix` (independent open steps)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ralph import taskfile
from ralph.errors import TaskFileError
from tests.fakeserver import Turn
from tests.harness import Ralph, finish

PLAN = """\
# Plan

- [ ] Write the parser
- [ ] Build the pages
  - parallel: yes
  - [ ] Home page
  - [ ] About page
  - [x] Contact page
- [ ] Deploy
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    ws = tmp_path / "proj"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "plan.md").write_text(PLAN)
    return ws


def test_find_step_by_line_or_text_and_its_errors() -> None:
    tf = taskfile.parse(PLAN.encode(), "plan.md")
    assert tf.find_step("6").text == "Home page"
    assert tf.find_step("about").text == "About page"
    for spec, problem in [
        ("99", "no step at line 99"),
        ("page", "names 4 steps"),
        ("Contact page", "already done"),
        ("Build the pages", "open sub-steps"),
    ]:
        with pytest.raises(TaskFileError, match=problem):
            tf.find_step(spec)


def test_independent_steps_follow_plan_order_and_the_parallel_setting() -> None:
    tf = taskfile.parse(PLAN.encode(), "plan.md")
    assert [s.text for s in tf.independent_steps()] == ["Write the parser"]  # it comes first
    done_first = PLAN.replace("- [ ] Write the parser", "- [x] Write the parser")
    tf = taskfile.parse(done_first.encode(), "plan.md")
    assert [s.text for s in tf.independent_steps()] == ["Home page", "About page"]
    serial = done_first.replace("parallel: yes", "parallel: no")
    assert [s.text for s in taskfile.parse(serial.encode(), "p").independent_steps()] == [
        "Home page"
    ]


def test_independent_steps_take_a_waiting_step_again_once_its_approval_is_decided() -> None:
    waits = PLAN.replace("- [ ] Write the parser", "- [x] Write the parser").replace(
        "  - [ ] Home page\n", "  - [ ] Home page\n    - ralph: awaiting approval 0a1b2c3d · rm\n"
    )
    tf = taskfile.parse(waits.encode(), "plan.md")
    assert tf.independent_steps() == []  # it holds the steps after it, as `run` does
    assert tf.independent_steps(lambda i: False) == []
    decided = tf.independent_steps(lambda i: i == "0a1b2c3d")
    assert [s.text for s in decided] == ["Home page", "About page"]


def test_matrix_prints_a_github_matrix(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "plan.md"
    plan.write_text(PLAN.replace("- [ ] Write the parser", "- [x] Write the parser"))
    code, out, err = ralph_anthropic("matrix", str(plan))
    assert code == 0, err
    matrix = json.loads(out)
    assert [(e["line"], e["slug"]) for e in matrix["include"]] == [
        (6, "home-page"),
        (7, "about-page"),
    ]


def test_run_step_takes_exactly_that_step(ralph_anthropic: Ralph, project: Path) -> None:
    plan = project / "plan.md"
    ralph_anthropic.server.add(Turn(tool_calls=[finish("deployed")]))
    code, summary, err = ralph_anthropic.run(plan, "--step", "Deploy")
    assert code == 0, err
    tf = taskfile.load(plan)
    assert [s.text for s in tf.steps if s.checked] == ["Contact page", "Deploy"]
    assert [s["text"] for s in summary["steps"]] == ["Deploy"]


def test_run_step_errors_are_exit_2_before_any_model_call(
    ralph_anthropic: Ralph, project: Path
) -> None:
    plan = project / "plan.md"
    code, _, err = ralph_anthropic.run(plan, "--step", "Contact page")
    assert code == 2 and "already done" in err
    code, _, err = ralph_anthropic.run(plan, "--step", "6", "--all")
    assert code == 2 and "--step" in err
    assert ralph_anthropic.server.requests == []
