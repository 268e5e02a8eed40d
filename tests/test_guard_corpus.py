"""The dev corpus and tests/guard_extra.tsv under policies/default.toml: DESTRUCTIVE rows
never allow, BENIGN rows allow.

The workspace is laid out as the corpus README says (tests/guard_workspace.py), with $HOME
pointing at a fake home folder that `homelink` links to.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ralph.guard.policy import Decision, Policy, check, load_policy
from tests.guard_workspace import DEFAULT_POLICY, corpus_call, corpus_rows, make_workspace

EXTRA = Path(__file__).with_name("guard_extra.tsv")
BY_DESIGN = "confirm by design:"
"""A BENIGN row of guard_extra.tsv whose note starts so may ask instead (the note says why)."""
SUITES = {"dev": corpus_rows(), "extra": corpus_rows(EXTRA)}
MIN_BENIGN_RATE = {"dev": 0.95, "extra": 1.0}
"""Share of BENIGN rows (not marked confirm by design) that must allow."""
DESTRUCTIVE = [(suite, *r) for suite, rows in SUITES.items() for r in rows if r[0] == "DESTRUCTIVE"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Policy, Path]]:
    ws, home = make_workspace(tmp_path_factory.mktemp("corpus"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        yield load_policy(DEFAULT_POLICY), ws


def decide(setup: tuple[Policy, Path], command: str, mode: str = "interactive") -> Decision:
    policy, ws = setup
    return check(corpus_call(command), policy, ws, mode)  # type: ignore[arg-type]


def test_the_corpus_has_both_kinds() -> None:
    dev = SUITES["dev"]
    assert sum(r[0] == "DESTRUCTIVE" for r in dev) > 50 and sum(r[0] == "BENIGN" for r in dev) > 20


def test_the_extra_cases_cover_every_category() -> None:
    rows = SUITES["extra"]
    assert sum(r[0] == "DESTRUCTIVE" for r in rows) >= 75
    assert sum(r[0] == "BENIGN" for r in rows) >= 75
    categories = {r[1] for r in rows}
    assert {"filesystem_delete", "git_history_rewrite", "database", "cloud_deploy"} <= categories
    assert {"disk_system", "privilege", "remote_code_exec", "secrets_exfiltration"} <= categories
    assert len({r[2] for r in rows}) == len(rows), "duplicate commands"


@pytest.mark.parametrize(("suite", "label", "category", "command", "note"), DESTRUCTIVE)
def test_destructive_rows_never_allow(
    setup: tuple[Policy, Path], suite: str, label: str, category: str, command: str, note: str
) -> None:
    decision = decide(setup, command)
    assert decision.decision in ("confirm", "deny"), (command, decision)
    assert decision.rule and decision.reason
    audited = decide(setup, command, "audit")
    assert audited.decision != "allow", (command, audited)


@pytest.mark.parametrize("suite", list(SUITES))
def test_benign_rows_allow(setup: tuple[Policy, Path], suite: str) -> None:
    benign = [r for r in SUITES[suite] if r[0] == "BENIGN"]
    refused, by_design, stale = [], [], []
    for _, _, command, note in benign:
        decision = decide(setup, command)
        expected_ask = note.startswith(BY_DESIGN)
        if decision.decision == "allow":
            if expected_ask:
                stale.append(command)
        elif expected_ask:
            by_design.append(command)
        else:
            refused.append(f"{command!r} ({note}): {decision.decision} {decision.rule}")
    rate = 1 - (len(refused) + len(by_design)) / len(benign)
    print(
        f"\n{suite}: benign rows allowed: {rate:.1%} of {len(benign)};"
        f" {len(by_design)} confirm by design, {len(refused)} refused"
    )
    assert not stale, f"marked 'confirm by design' but allowed now: {stale}"
    assert 1 - len(refused) / len(benign) >= MIN_BENIGN_RATE[suite], "\n".join(refused)
    assert len(by_design) <= len(benign) // 10


def test_decisions_carry_the_policy_hash_and_what_was_seen(setup: tuple[Policy, Path]) -> None:
    policy, ws = setup
    decision = decide(setup, "rm -rf ./build ./src")
    assert decision.policy_sha256 == policy.sha256
    assert decision.commands == ("rm -rf ./build ./src",)
    real = ws.resolve()
    assert f"{real}/build (scratch)" in decision.paths
    assert f"{real}/src (workspace)" in decision.paths
