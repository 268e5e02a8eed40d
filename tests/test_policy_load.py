"""Loading policy files: every kind of broken policy gives its own error with file and line,
the shipped policies load, and the reload cache notices every change."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ralph.errors import PolicyError
from ralph.guard.policy import check, lint, load_policy, load_policy_cached

SHIPPED = Path(__file__).resolve().parent.parent / "policies"

GOOD_RULE = """
[[rule]]
id = "tests"
decision = "allow"
reason = "our tests"
program = "pytest"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert lint(path), "lint must report the same problem"
    return message.removeprefix(f"{path}:")


@pytest.mark.parametrize("name", ["default", "readonly", "strict"])
def test_shipped_policies_load_and_their_examples_pass(name: str) -> None:
    policy = load_policy(SHIPPED / f"{name}.toml")
    assert policy.rules
    assert len(policy.sha256) == 64
    assert policy.path == SHIPPED / f"{name}.toml"
    assert lint(SHIPPED / f"{name}.toml") == []


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE + '\n[[rule]]\nid = "x"\ndecision = allow\n')
    assert error.startswith("10: invalid TOML"), error


def test_unknown_rule_key_names_its_line(tmp_path: Path) -> None:
    text = GOOD_RULE + '\n[[rule]]\nid = "x"\ndecision = "deny"\nreason = "r"\nprogramm = "rm"\n'
    error = load_error(tmp_path, text)
    assert error.startswith("12: rule 'x': unknown key 'programm'"), error


def test_unknown_top_level_key(tmp_path: Path) -> None:
    error = load_error(tmp_path, 'defaults = "allow"\n' + GOOD_RULE)
    assert error.startswith("1: unknown key 'defaults'"), error


def test_bad_decision_value(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE.replace('"allow"', '"ask"'))
    assert error.startswith("4: rule 'tests': decision must be one of allow, confirm, deny"), error
    assert "'ask'" in error


def test_bad_regex(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE + 'args_any = ["re:(unclosed"]\n')
    assert error.startswith("7: rule 'tests': bad regex in args_any"), error


def test_failing_match_example_rejects_the_policy(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE + 'match = ["pytest -q", "make test"]\n')
    assert error.startswith("7: rule 'tests': match example 'make test' does not match"), error


def test_failing_not_match_example_rejects_the_policy(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE + 'not_match = ["sudo pytest -x"]\n')
    assert error.startswith("7: rule 'tests': not_match example 'sudo pytest -x' matches"), error


def test_missing_id(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE + '\n[[rule]]\ndecision = "deny"\nreason = "r"\n')
    assert error.startswith("8: rule #2 has no id"), error


def test_duplicate_id(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE + GOOD_RULE)
    assert error.startswith("8: duplicate rule id 'tests' (first defined at line 2)"), error


def test_unknown_path_class_and_effect_values(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE + 'path_class = ["workspace", "scrach"]\n')
    assert error.startswith("7: rule 'tests': unknown path_class 'scrach'"), error
    error = load_error(tmp_path, GOOD_RULE + 'effect = "delete"\n')
    assert error.startswith("7: rule 'tests': unknown effect 'delete'"), error


def test_bad_flags_and_types(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE + 'flags_any = ["force"]\n')
    assert "flags_any entries must be flags" in error and error.startswith("7:")
    error = load_error(tmp_path, GOOD_RULE + "inline_code = 1\n")
    assert "inline_code must be true or false" in error
    error = load_error(tmp_path, GOOD_RULE + 'tool = "read_file"\n')
    assert "only apply to tool run_command" in error


def test_reserved_id_prefix(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD_RULE.replace('"tests"', '"floor:mine"'))
    assert "reserved" in error and error.startswith("3:")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "nope.toml")
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy_cached(tmp_path / "nope.toml")


def test_lint_reports_every_problem(tmp_path: Path) -> None:
    text = GOOD_RULE + 'match = ["make"]\n' + GOOD_RULE.replace('"tests"', '"b"') + "extra = 1\n"
    problems = lint(write(tmp_path, text))
    assert len(problems) >= 2, problems


def test_an_empty_policy_confirms_everything(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, "version = 1\n"))
    decision = check({"tool": "run_command", "command": "ls"}, policy, tmp_path, "interactive")
    assert (decision.decision, decision.rule) == ("confirm", "default:uncovered")


def test_cache_returns_the_same_policy_until_the_file_changes(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_RULE)
    old = time.time_ns() - 10_000_000_000  # not "recently written": the stat key alone decides
    os.utime(path, ns=(old, old))
    first = load_policy_cached(path)
    assert load_policy_cached(path) is first
    path.write_text(GOOD_RULE.replace("pytest", "tox"))  # same size, new content
    second = load_policy_cached(path)
    assert second is not first and second.sha256 != first.sha256
    assert second.rules[0].programs is not None and second.rules[0].programs.matches("tox")


def test_cache_sees_an_edit_that_keeps_size_and_mtime(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_RULE)
    old = time.time_ns() - 10_000_000_000
    os.utime(path, ns=(old, old))
    first = load_policy_cached(path)
    path.write_text(GOOD_RULE.replace("pytest", "tox"))
    os.utime(path, ns=(old, old))  # a sneaky edit: same size and mtime (ctime still changes)
    assert load_policy_cached(path).sha256 != first.sha256


def test_cache_never_keeps_a_policy_that_became_invalid(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_RULE)
    load_policy_cached(path)
    path.write_text(GOOD_RULE + "bogus = 1\n")
    with pytest.raises(PolicyError, match="unknown key 'bogus'"):
        load_policy_cached(path)
