"""Policy files: loading and validating them completely, and re-reading them cheaply.

`load_policy` validates a file, runs every rule's `match`/`not_match` examples, and raises
`PolicyError("FILE:LINE: problem")` on the first problem; it never falls back to something
more permissive. `lint` lists every problem. `load_policy_cached` re-reads a file for every
check (keyed on size, mtime, ctime and inode; a recently written file is re-hashed).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ralph.errors import PolicyError
from ralph.guard import effects, families
from ralph.guard.pathclass import CLASSES, GlobSet, Places
from ralph.guard.rules import DECISIONS, PATH_STATES, TOOLS, ArgPattern, Names, Policy, Rule
from ralph.guard.units import units_for_call

# ---------------------------------------------------------------------------------------------
# Loading and validating.

_RESERVED_PREFIXES = ("floor:", "builtin:", "default:", "guard:", "audit:")
_TOP_KEYS = frozenset({"version", "description", "paths", "rule"})
_PATH_KEYS = frozenset({"scratch", "secret", "protected"})
EXAMPLE_WORKSPACE = "/ralph-example/workspace"
EXAMPLE_HOME = "/ralph-example/home"


class _Problems:
    """Collects located problems in one policy file."""

    def __init__(self, path: Path, text: str) -> None:
        self.name = str(path)
        self.lines = text.splitlines()
        self.items: list[str] = []
        self.rule_lines = [
            i + 1 for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*rule\s*\]\]", line)
        ]

    def add(self, line: int, message: str) -> None:
        self.items.append(f"{self.name}:{line}: {message}")

    def rule_line(self, index: int) -> int:
        return self.rule_lines[index] if index < len(self.rule_lines) else 1

    def key_line(self, start: int, key: str, needle: str | None = None) -> int:
        """The line of `key = ...` in the table starting at `start` (or of `needle` in it)."""
        for number in range(start, len(self.lines) + 1):
            line = self.lines[number - 1]
            if number > start and re.match(r"\s*\[", line):
                break
            if needle is not None and needle in line:
                return number
            if needle is None and re.match(rf"\s*{re.escape(key)}\s*=", line):
                return number
        if needle is not None:
            return self.key_line(start, key)
        return start

    def table_line(self, name: str) -> int:
        for number, line in enumerate(self.lines, 1):
            if re.match(rf"\s*\[\s*{re.escape(name)}\s*\]", line):
                return number
        return 1


def load_policy(path: Path) -> Policy:
    """Load and validate a policy file; raise PolicyError("FILE:LINE: problem") if it is bad."""
    path = Path(path)
    data = _read(path)
    policy, problems = _parse(path, data)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise PolicyError(problems[0] + more)
    assert policy is not None
    return policy


def lint(path: Path) -> list[str]:
    """Every problem in a policy file (bad TOML, schema, failing examples); [] if it is good."""
    path = Path(path)
    try:
        data = _read(path)
    except PolicyError as e:
        return [str(e)]
    return _parse(path, data, reuse_examples=False)[1]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise PolicyError(f"{path}: cannot read the policy file: {e.strerror or e}") from e


def _parse(
    path: Path, data: bytes, *, reuse_examples: bool = True
) -> tuple[Policy | None, list[str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, [f"{path}:1: the policy file is not UTF-8 ({e.reason})"]
    problems = _Problems(path, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(found.group(1)) if found else 1
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        problems.add(line, f"invalid TOML: {message}")
        return None, problems.items
    rules, extra, description = _validate(doc, problems)
    sha = hashlib.sha256(data).hexdigest()
    policy = Policy(Path(path), sha, tuple(rules), description, extra)
    marker = _examples_passed(sha)
    if not (reuse_examples and not problems.items and marker is not None and marker.exists()):
        _check_examples(policy, problems)  # of the rules that are valid
        if not problems.items and marker is not None:
            with contextlib.suppress(OSError):
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
    return (policy if not problems.items else None), problems.items


def _examples_passed(sha256: str) -> Path | None:
    """Where ralph notes that this exact policy text passed its examples under this ralph
    version, so a process that starts for one call (a hook) need not run them all again.
    `ralph policy lint` always runs them."""
    from ralph import __version__

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ralph" / "policies-checked" / f"{__version__}-{sha256}"


def _validate(
    doc: dict[str, Any], problems: _Problems
) -> tuple[list[Rule], dict[str, GlobSet], str]:
    for key in doc:
        if key not in _TOP_KEYS:
            line = problems.key_line(1, key)
            problems.add(line, f"unknown key {key!r} (allowed: {', '.join(sorted(_TOP_KEYS))})")
    version = doc.get("version", 1)
    if version != 1:
        problems.add(problems.key_line(1, "version"), f"unsupported policy version {version!r}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        problems.add(problems.key_line(1, "description"), "description must be a string")
        description = ""
    extra = _validate_paths(doc.get("paths", {}), problems)
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list):
        problems.add(1, "`rule` must be an array of tables: write each rule as [[rule]]")
        return [], extra, description
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        line = problems.rule_line(index)
        if not isinstance(raw, dict):
            problems.add(line, f"rule #{index + 1} must be a table")
            continue
        rule = _RuleReader(raw, line, index, problems).read()
        if rule is None:
            continue
        if rule.id in seen:
            problems.add(
                line, f"duplicate rule id {rule.id!r} (first defined at line {seen[rule.id]})"
            )
            continue
        seen[rule.id] = line
        rules.append(rule)
    return rules, extra, description


def _validate_paths(raw: Any, problems: _Problems) -> dict[str, GlobSet]:
    line = problems.table_line("paths")
    if not isinstance(raw, dict):
        problems.add(line, "[paths] must be a table")
        return {}
    out: dict[str, GlobSet] = {}
    for key, value in raw.items():
        if key not in _PATH_KEYS:
            allowed = ", ".join(sorted(_PATH_KEYS))
            problems.add(
                problems.key_line(line, key), f"unknown key {key!r} in [paths] (allowed: {allowed})"
            )
            continue
        items = _strings(value)
        if items is None:
            problems.add(problems.key_line(line, key), f"paths.{key} must be a list of globs")
            continue
        out[key] = GlobSet.of(items)
    return out


def _strings(value: Any) -> list[str] | None:
    """A string or a list of strings, as a list; None if it is neither."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


class _RuleReader:
    """Reads one raw `[[rule]]` table into a Rule, reporting each bad key at its line."""

    def __init__(self, raw: dict[str, Any], line: int, index: int, problems: _Problems) -> None:
        self.raw, self.line, self.index, self.problems = raw, line, index, problems
        rule_id = raw.get("id")
        self.label = f"rule {rule_id!r}" if isinstance(rule_id, str) else f"rule #{index + 1}"

    def bad(self, key: str, message: str) -> None:
        self.problems.add(self.problems.key_line(self.line, key), f"{self.label}: {message}")

    def read(self) -> Rule | None:
        before = len(self.problems.items)
        for key in self.raw:
            if key not in _RULE_KEYS:
                self.bad(key, f"unknown key {key!r} (allowed: {', '.join(_RULE_KEYS)})")
        header = self.header()
        fields = {name: reader(self, key) for key, (name, reader) in _CONDITIONS.items()}
        rule = Rule(**header, line=self.line, **fields)
        if rule.for_commands and rule.tools is not None and "run_command" not in rule.tools:
            self.bad("tool", "program/flag/argument conditions only apply to tool run_command")
        return rule if len(self.problems.items) == before else None

    def header(self) -> dict[str, str]:
        raw = self.raw
        rule_id, decision, reason = raw.get("id"), raw.get("decision"), raw.get("reason")
        if "id" not in raw:
            self.problems.add(self.line, f"rule #{self.index + 1} has no id")
        elif not isinstance(rule_id, str) or not re.fullmatch(r"[A-Za-z0-9_.:/-]+", rule_id):
            self.bad("id", "id must be a non-empty word (letters, digits, . _ - : /)")
        elif rule_id.startswith(_RESERVED_PREFIXES):
            self.bad("id", f"ids starting with {', '.join(_RESERVED_PREFIXES)} are reserved")
        if decision not in DECISIONS:
            self.bad("decision", f"decision must be one of allow, confirm, deny (got {decision!r})")
        if not isinstance(reason, str) or not reason.strip():
            self.bad("reason", "reason must be a non-empty string (it is shown to the person)")
        return {
            "id": rule_id if isinstance(rule_id, str) else "",
            "decision": decision if isinstance(decision, str) else "",
            "reason": reason if isinstance(reason, str) else "",
        }

    def strings(self, key: str, allowed: tuple[str, ...] | None = None) -> list[str] | None:
        if key not in self.raw:
            return None
        items = _strings(self.raw[key])
        if items is None or not items:
            self.bad(key, f"{key} must be a string or a non-empty list of strings")
            return None
        for item in items:
            if allowed is not None and item not in allowed:
                self.bad(key, f"unknown {key} {item!r} (one of: {', '.join(allowed)})")
        return items

    def names(self, key: str) -> Names | None:
        items = self.strings(key)
        return Names.of(items) if items is not None else None

    def words(self, key: str, allowed: tuple[str, ...] | None = None) -> frozenset[str] | None:
        items = self.strings(key, allowed)
        return frozenset(items) if items is not None else None

    def examples(self, key: str) -> tuple[str, ...]:
        return tuple(self.strings(key) or ())

    def patterns(self, key: str) -> tuple[ArgPattern, ...] | None:
        items = self.strings(key)
        if items is None:
            return None
        out = []
        for item in items:
            regex = None
            if item.startswith("re:"):
                try:
                    regex = re.compile(item[3:])
                except re.error as e:
                    self.bad(key, f"bad regex in {key}: {item[3:]!r}: {e}")
                    continue
            out.append(ArgPattern(item, regex))
        return tuple(out)

    def flags(self, key: str) -> frozenset[str] | None:
        items = self.strings(key)
        if items is None:
            return None
        for item in items:
            if not item.startswith("-") or item in ("-", "--"):
                self.bad(key, f"{key} entries must be flags like -r or --force (got {item!r})")
        return frozenset(items)

    def flag_groups(self, key: str) -> tuple[frozenset[str], ...] | None:
        if key not in self.raw:
            return None
        value = self.raw[key]
        if not isinstance(value, list) or not value:
            self.bad(key, f"{key} must be a list of flags or of lists of alternatives")
            return ()
        groups = []
        for group in value:
            items = _strings(group)
            if not items or not all(i.startswith("-") for i in items):
                self.bad(key, f"{key} entries must be a flag or a list of alternative flags")
                continue
            groups.append(frozenset(items))
        return tuple(groups)

    def boolean(self, key: str) -> bool | None:
        value = self.raw.get(key)
        if value is not None and not isinstance(value, bool):
            self.bad(key, f"{key} must be true or false")
        return value if isinstance(value, bool) else None

    def globs(self, key: str) -> GlobSet | None:
        items = self.strings(key)
        return GlobSet.of(items) if items is not None else None


_Read = Callable[[_RuleReader, str], Any]
_CONDITIONS: dict[str, tuple[str, _Read]] = {
    "tool": ("tools", lambda r, k: r.words(k, TOOLS)),
    "program": ("programs", _RuleReader.names),
    "not_program": ("not_programs", _RuleReader.names),
    "subcommand": ("subcommands", _RuleReader.names),
    "not_subcommand": ("not_subcommands", _RuleReader.names),
    "flags_any": ("flags_any", _RuleReader.flags),
    "flags_all": ("flags_all", _RuleReader.flag_groups),
    "flags_none": ("flags_none", _RuleReader.flags),
    "args_any": ("args_any", _RuleReader.patterns),
    "args_none": ("args_none", _RuleReader.patterns),
    "words_any": ("words_any", _RuleReader.patterns),
    "redirect": ("redirect", _RuleReader.patterns),
    "assigns": ("assigns", _RuleReader.names),
    "wrappers": ("wrappers", _RuleReader.words),
    "effect": ("effects", lambda r, k: r.words(k, effects.EFFECTS)),
    "inline_code": ("inline_code", _RuleReader.boolean),
    "access": ("access", lambda r, k: r.words(k, families.ACCESS)),
    "path_class": ("path_class", lambda r, k: r.words(k, CLASSES)),
    "path_glob": ("path_glob", _RuleReader.globs),
    "path_state": ("path_state", lambda r, k: r.words(k, PATH_STATES)),
    "network": ("network", _RuleReader.boolean),
    "audit_in_sandbox": ("audit_in_sandbox", _RuleReader.boolean),
    "match": ("match", _RuleReader.examples),
    "not_match": ("not_match", _RuleReader.examples),
}
"""Every condition key of a rule: the Rule field it fills and how it is read."""
_RULE_KEYS = ("id", "decision", "reason", *_CONDITIONS)


def _check_examples(policy: Policy, problems: _Problems) -> None:
    """Run every rule's match/not_match examples; a failing example is a problem."""
    places = Places(
        EXAMPLE_WORKSPACE, EXAMPLE_HOME, ("/tmp", "/var/tmp"), frozenset(), **_extra(policy)
    )
    for rule in policy.rules:
        for wanted, examples in ((True, rule.match), (False, rule.not_match)):
            key = "match" if wanted else "not_match"
            for example in examples:
                try:
                    units, _ = units_for_call(example_call(example), places)
                except Exception as e:
                    line = problems.key_line(rule.line, key, example)
                    problems.add(line, f"rule {rule.id!r}: cannot check example {example!r}: {e}")
                    continue
                hit = any(rule.matches(u, places) for u in units)
                if hit != wanted:
                    line = problems.key_line(rule.line, key, _needle(example))
                    verb = "does not match" if wanted else "matches"
                    problems.add(
                        line, f"rule {rule.id!r}: {key} example {example!r} {verb} the rule"
                    )


def _needle(example: str) -> str:
    return example.split("\n")[0][:40]


def _extra(policy: Policy) -> dict[str, GlobSet]:
    return {
        "extra_scratch": policy.extra_paths.get("scratch", GlobSet()),
        "extra_secret": policy.extra_paths.get("secret", GlobSet()),
        "extra_protected": policy.extra_paths.get("protected", GlobSet()),
    }


def example_call(example: str) -> dict[str, Any]:
    """An example string as a call: `@read|@write|@edit|@delete PATH`, else a shell command."""
    tools = {
        "@read": "read_file",
        "@write": "write_file",
        "@edit": "edit_file",
        "@delete": "delete",
    }
    head, _, rest = example.partition(" ")
    if head in tools and rest.strip():
        return {"tool": tools[head], "path": rest.strip()}
    return {"tool": "run_command", "command": example}


# ---------------------------------------------------------------------------------------------
# The reload cache.

_cache: dict[str, tuple[tuple[int, ...], Policy]] = {}
_cache_lock = threading.Lock()
_RACY_NS = 2_000_000_000  # a file written this recently may change again within one tick


def load_policy_cached(path: Path) -> Policy:
    """`load_policy`, re-validated only when the file changed.

    An unchanged file costs one stat. The key is (size, mtime, ctime, inode, device); a file
    modified in the last two seconds is re-hashed every time, since a second write within
    one timestamp tick would not change the key.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError as e:
        raise PolicyError(f"{name}: cannot read the policy file: {e.strerror or e}") from e
    key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    hit = _cache.get(name)  # one dict read is atomic; the lock guards the writes
    settled = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) >= _RACY_NS
    if hit is not None and hit[0] == key and settled:
        return hit[1]
    data = _read(Path(name))
    if hit is not None and hashlib.sha256(data).hexdigest() == hit[1].sha256:
        policy = hit[1]
    else:
        policy, problems = _parse(Path(name), data)
        if problems or policy is None:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise PolicyError(problems[0] + more)
    with _cache_lock:
        _cache[name] = (key, policy)
    return policy
