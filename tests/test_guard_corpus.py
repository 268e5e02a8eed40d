"""The dev corpus under policies/default.toml: DESTRUCTIVE rows never allow, BENIGN rows allow.

The workspace is laid out as the corpus README says (tests/guard_workspace.py), with $HOME
pointing at a fake home folder that `homelink` links to.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ralph.policy import Decision, Policy, check, load_policy
from tests.guard_workspace import DEFAULT_POLICY, corpus_call, corpus_rows, make_workspace

ROWS = corpus_rows()
DESTRUCTIVE = [r for r in ROWS if r[0] == "DESTRUCTIVE"]
BENIGN = [r for r in ROWS if r[0] == "BENIGN"]


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
    assert len(DESTRUCTIVE) > 50 and len(BENIGN) > 20


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
    refused = []
    for _, _, command, note in BENIGN:
        decision = decide(setup, command)
        if decision.decision != "allow":
            refused.append(f"{command!r} ({note}): {decision.decision} {decision.rule}")
    rate = 1 - len(refused) / len(BENIGN)
    print(f"\nbenign rows allowed: {rate:.1%} of {len(BENIGN)}")
    assert rate >= 0.95, "\n".join(refused)


def test_decisions_carry_the_policy_hash_and_what_was_seen(setup: tuple[Policy, Path]) -> None:
    policy, ws = setup
    decision = decide(setup, "rm -rf ./build ./src")
    assert decision.policy_sha256 == policy.sha256
    assert decision.commands == ("rm -rf ./build ./src",)
    real = ws.resolve()
    assert f"{real}/build (scratch)" in decision.paths
    assert f"{real}/src (workspace)" in decision.paths
