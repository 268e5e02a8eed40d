"""`ralph ci github`: a GitHub Actions workflow that fans a plan's independent steps out.

Jobs: `plan` prints the matrix (`ralph matrix`), `lane` runs one step per matrix entry
(`ralph run --step LINE --unattended`) and pushes its branch `ralph/<plan>/<slug>`,
`finish` fetches the lane branches and runs `ralph merge` (in plan order: each lane's
outcome read from its copy of the plan, its branch merged with a merge commit, the
step's verify run again on the merged result, then the box and note written into the
base's plan; a conflicting or failing lane is kept on its branch, its step left open with
a note naming it), pushes `ralph-progress/<plan>`, opens or updates one pull request
with `gh`, and lists the lanes in the job summary.

ralph's state (runs, approvals) lives outside the checkout, in `RALPH_STATE_DIR`
(`~/.ralph-state`), which is kept per lane in the Actions cache; the
per-user secret that signs approvals comes from the `RALPH_SECRET_KEY` secret, so an
approval written by one job is valid in the next. To approve: dispatch the workflow with
`approve=ID`; each lane runs `ralph approvals approve ID` on its restored state first.
"""

from __future__ import annotations

from pathlib import Path

from ralph.errors import UsageError
from ralph.fsutil import atomic_write_text

WORKFLOW_PATH = Path(".github") / "workflows" / "ralph.yml"
STATE_PATH = "~/.ralph-state"
"""ralph's state on the runner: RALPH_STATE_DIR and the cached path (outside the checkout,
so `git add -A` and a checkout's clean never touch it)."""

_SETUP = """\
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install ralph and its secret
        env:
          RALPH_SECRET_KEY: ${{ secrets.RALPH_SECRET_KEY }}
        run: |
          pip install ralph-steps
          mkdir -p ~/.config/ralph && chmod 700 ~/.config/ralph
          if [ -n "$RALPH_SECRET_KEY" ]; then
            printf '%s' "$RALPH_SECRET_KEY" | base64 -d > ~/.config/ralph/secret.key
            chmod 600 ~/.config/ralph/secret.key
          fi
          git config --global user.name "ralph"
          git config --global user.email "ralph@users.noreply.github.com"
      - name: Continue from the plan's branch
        run: |
          if git ls-remote --exit-code --heads origin "$RALPH_BRANCH" >/dev/null; then
            git checkout -B "$RALPH_BRANCH" "origin/$RALPH_BRANCH"
          fi
"""

_TEMPLATE = """\
# Written by `ralph ci github`: runs PLAN's next steps on a schedule and on demand.
name: ralph
on:
  schedule:
    - cron: "17 */6 * * *"
  workflow_dispatch:
    inputs:
      approve:
        description: "An approval ID to approve before the steps run"
        required: false
        default: ""
permissions:
  contents: write
  pull-requests: write
concurrency:
  group: ralph-PLAN_SLUG
  cancel-in-progress: false
env:
  RALPH_PLAN: "PLAN_PATH"
  RALPH_BRANCH: "ralph-progress/PLAN_SLUG"
  RALPH_LANES: "ralph/PLAN_SLUG"
  RALPH_STATE_DIR: "STATE_PATH"
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      matrix: ${{ steps.matrix.outputs.matrix }}
      count: ${{ steps.matrix.outputs.count }}
    steps:
SETUP      - id: matrix
        name: The open steps that may run at once
        run: |
          ralph matrix "$RALPH_PLAN" > matrix.json
          echo "matrix=$(cat matrix.json)" >> "$GITHUB_OUTPUT"
          echo "count=$(jq '.include | length' matrix.json)" >> "$GITHUB_OUTPUT"
  lane:
    needs: plan
    if: needs.plan.outputs.count != '0'
    runs-on: ubuntu-latest
    timeout-minutes: 120
    strategy:
      fail-fast: false
      matrix: ${{ fromJson(needs.plan.outputs.matrix) }}
    steps:
SETUP      - uses: actions/cache@v4
        with:
          path: STATE_PATH
          key: ralph-state-PLAN_SLUG-${{ matrix.slug }}-${{ github.run_id }}
          restore-keys: ralph-state-PLAN_SLUG-${{ matrix.slug }}-
      - name: Approve what a person asked for
        if: github.event.inputs.approve != ''
        env:
          APPROVE: ${{ github.event.inputs.approve }}
        run: ralph approvals approve "$APPROVE" || true
      - name: Run the step
        env:
          ANTHROPIC_API_KEY: ${{ secrets.ANTHROPIC_API_KEY }}
          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}
          LINE: ${{ matrix.line }}
        run: |
          code=0
          ralph run "$RALPH_PLAN" --step "$LINE" --unattended || code=$?
          echo "ralph run exit code: $code"
          if [ "$code" -ne 0 ] && [ "$code" -ne 1 ] && [ "$code" -ne 3 ]; then exit "$code"; fi
      - name: Push the lane's branch
        env:
          SLUG: ${{ matrix.slug }}
        run: |
          git checkout -B "$RALPH_LANES/$SLUG"
          git add -A
          git commit -q -m "ralph: step $SLUG" || true
          git push --force origin "$RALPH_LANES/$SLUG"
      - name: Pending approvals
        if: always()
        run: |
          ralph approvals --json > approvals.json || exit 0
          jq -r '.approvals[] | select(.status == "pending")
            | "- `\\(.id)` \\(.reason): `\\(.call | tojson)`\\n"
            + "  approve: `ralph approvals approve \\(.id)`; on CI:"
            + " `gh workflow run ralph.yml -f approve=\\(.id)`"' approvals.json > pending.md
          if [ -s pending.md ]; then
            { echo "### Pending approvals"; cat pending.md; } >> "$GITHUB_STEP_SUMMARY"
          fi
  finish:
    needs: [plan, lane]
    if: always() && needs.plan.outputs.count != '0'
    runs-on: ubuntu-latest
    steps:
SETUP      - name: Merge the lanes in plan order
        env:
          MATRIX: ${{ needs.plan.outputs.matrix }}
        run: |
          git checkout -B "$RALPH_BRANCH"
          echo "## ralph: $RALPH_PLAN" >> "$GITHUB_STEP_SUMMARY"
          for slug in $(printf '%s' "$MATRIX" | jq -r '.include[].slug'); do
            lane="$RALPH_LANES/$slug"
            if ! git fetch -q origin "+refs/heads/$lane:refs/heads/$lane"; then
              echo "- $slug: no branch (the lane failed before pushing)" >> "$GITHUB_STEP_SUMMARY"
            fi
          done
          code=0
          ralph merge "$RALPH_PLAN" --json > merged.json || code=$?
          if [ "$code" -gt 1 ]; then exit "$code"; fi
          jq -r '.lanes[] | "- line \\(.line) `\\(.branch)`: \\(.outcome): \\(.detail)"' \\
            merged.json >> "$GITHUB_STEP_SUMMARY"
          git push origin "$RALPH_BRANCH"
      - name: Open or update the pull request
        env:
          GH_TOKEN: ${{ github.token }}
          BASE: ${{ github.event.repository.default_branch }}
        run: |
          run_url="$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
          open_pr=$(gh pr list --head "$RALPH_BRANCH" --state open --json number --jq '.[].number')
          if [ -z "$open_pr" ]; then
            gh pr create --head "$RALPH_BRANCH" --base "$BASE" --title "ralph: $RALPH_PLAN" \\
              --body "Steps of $RALPH_PLAN taken by ralph: $run_url"
          else
            gh pr comment "$open_pr" --body "ralph took more steps: $run_url"
          fi
"""


def workflow(plan: str, plan_slug: str) -> str:
    """The workflow text for the plan at `plan` (a path relative to the repository)."""
    return (
        _TEMPLATE.replace("SETUP", _SETUP)
        .replace("PLAN_PATH", plan)
        .replace("PLAN_SLUG", plan_slug)
        .replace("STATE_PATH", STATE_PATH)
    )


def write(workspace: Path, plan: Path, *, force: bool) -> Path:
    """Write the workflow for `plan` into `workspace`; an existing one only with `force`."""
    from ralph.agent.draft import slug

    target = workspace / WORKFLOW_PATH
    if target.exists() and not force:
        raise UsageError(f"{target} exists; nothing written (--force replaces it)")
    try:
        rel = plan.resolve().relative_to(workspace.resolve())
    except ValueError:
        raise UsageError(f"the plan {plan} is not inside the repository {workspace}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, workflow(rel.as_posix(), slug(rel.with_suffix("").as_posix())))
    return target
