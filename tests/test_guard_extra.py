"""More guard cases (tests/guard_extra.tsv) under policies/default.toml, run like the dev corpus.

DESTRUCTIVE rows never allow (interactive or audit). BENIGN rows should allow; a row whose
note starts with "confirm by design:" may ask instead (the note says why), and is counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ralph.policy import Policy, load_policy
from tests.guard_workspace import DEFAULT_POLICY, corpus_rows, make_workspace
from tests.test_guard_corpus import decide

EXTRA = Path(__file__).with_name("guard_extra.tsv")
ROWS = corpus_rows(EXTRA)
DESTRUCTIVE = [r for r in ROWS if r[0] == "DESTRUCTIVE"]
BENIGN = [r for r in ROWS if r[0] == "BENIGN"]
BY_DESIGN = "confirm by design:"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Policy, Path]]:
    ws, home = make_workspace(tmp_path_factory.mktemp("extra"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        yield load_policy(DEFAULT_POLICY), ws


def test_the_extra_cases_cover_every_category() -> None:
    assert len(DESTRUCTIVE) >= 75 and len(BENIGN) >= 75
    categories = {r[1] for r in ROWS}
    assert {"filesystem_delete", "git_history_rewrite", "database", "cloud_deploy"} <= categories
    assert {"disk_system", "privilege", "remote_code_exec", "secrets_exfiltration"} <= categories
    assert len({r[2] for r in ROWS}) == len(ROWS), "duplicate commands"


@pytest.mark.parametrize(("label", "category", "command", "note"), DESTRUCTIVE)
def test_destructive_rows_never_allow(
    setup: tuple[Policy, Path], label: str, category: str, command: str, note: str
) -> None:
    decision = decide(setup, command)
    assert decision.decision in ("confirm", "deny"), (command, decision)
    assert decision.rule and decision.reason
    audited = decide(setup, command, "audit")
    assert audited.decision != "allow", (command, audited)


def test_benign_rows_allow(setup: tuple[Policy, Path]) -> None:
    refused, by_design, stale = [], [], []
    for _, _, command, note in BENIGN:
        decision = decide(setup, command)
        expected_ask = note.startswith(BY_DESIGN)
        if decision.decision == "allow":
            if expected_ask:
                stale.append(command)
        elif expected_ask:
            by_design.append(command)
        else:
            refused.append(f"{command!r} ({note}): {decision.decision} {decision.rule}")
    rate = 1 - (len(refused) + len(by_design)) / len(BENIGN)
    print(
        f"\nbenign extra rows allowed: {rate:.1%} of {len(BENIGN)};"
        f" {len(by_design)} confirm by design, {len(refused)} refused"
    )
    assert not stale, f"marked 'confirm by design' but allowed now: {stale}"
    assert not refused, "\n".join(refused)
    assert len(by_design) <= len(BENIGN) // 10
