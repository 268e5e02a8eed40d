"""Recipe files read as shell text: Makefiles, justfiles and Taskfile.yml.

Each parser returns a `Recipes`: for the goals asked for (or the default one), the shell
text of every recipe that would run, prerequisites first. Variables defined in the file
are expanded; anything else (make functions, unknown variables, templates) becomes an
unknown shell variable, so a path built from it is judged as unknown. A goal the file
does not define, a recipe in another language or an include raises ValueError: the guard
cannot tell what would run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_UNKNOWN = "${RALPH_UNKNOWN}"
_MAKE_BUILTINS = {"MAKE": "make", "CC": "cc", "CXX": "g++", "RM": "rm -f", "SHELL": "/bin/sh"}
_DEPTH = 32


@dataclass
class Recipes:
    """Recipes by name: (prerequisites, shell lines); the default goal; what cannot be read."""

    rules: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    default: str | None = None
    includes: bool = False
    foreign: set[str] = field(default_factory=set)  # recipes written in another language

    def recipes(self, goals: list[str]) -> list[tuple[str, str]]:
        goals = goals or ([self.default] if self.default else [])
        if not goals:
            raise ValueError("no default goal")
        out: list[tuple[str, str]] = []
        done: set[str] = set()
        for goal in goals:
            self._visit(goal, out, done, 0)
        return out

    def _visit(self, goal: str, out: list[tuple[str, str]], done: set[str], depth: int) -> None:
        if goal in done:
            return
        done.add(goal)
        if goal not in self.rules:
            if depth > 0:
                return  # a prerequisite that is a file
            more = " (the file includes others)" if self.includes else ""
            raise ValueError(f"no recipe for {goal!r}{more}")
        if goal in self.foreign:
            raise ValueError(f"the recipe {goal!r} is not shell")
        if depth > _DEPTH:
            raise ValueError("prerequisites nest too deeply")
        prerequisites, lines = self.rules[goal]
        for name in prerequisites:
            self._visit(name, out, done, depth + 1)
        if lines:
            out.append((goal, "\n".join(lines)))


def _expand(text: str, variables: dict[str, str], depth: int = 0) -> str:
    """$(VAR) and ${VAR} from the file; $(shell CMD) as a command substitution; $$ -> $."""

    def one(match: re.Match[str]) -> str:
        inner = match.group(1) or match.group(2) or match.group(3)
        if inner.startswith("shell "):
            return "$(" + _expand(inner[6:], variables, depth + 1) + ")"
        if inner in variables and depth < 8:
            return _expand(variables[inner], variables, depth + 1)
        if inner in ("@", "<", "^", "*", "?", "+"):
            return _UNKNOWN
        return _UNKNOWN

    text = text.replace("$$", "\0")
    text = re.sub(r"\$\(([^()]*)\)|\$\{([^{}]*)\}|\$([@<^*?+A-Za-z])", one, text)
    return text.replace("\0", "$")


_MAKE_VAR = re.compile(
    r"^(?:export\s+|override\s+)?([A-Za-z_][\w.]*)\s*(::=|:=|\?=|\+=|!=|=)\s*(.*)$"
)
_MAKE_RULE = re.compile(r"^([^\s:=#][^:=#]*?)\s*::?(?!=)\s*([^=]*)$")


def parse_make(text: str) -> Recipes:
    """A Makefile's explicit rules (pattern rules and special targets are skipped)."""
    found = Recipes()
    variables = dict(_MAKE_BUILTINS)
    current: list[str] | None = None
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("\t"):
            if current is not None:
                current.append(line[1:].lstrip("@-+ "))
            continue
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped:
            continue
        if re.match(r"-?include\s|sinclude\s", stripped):
            found.includes = True
            continue
        var = _MAKE_VAR.match(stripped)
        if var:
            name, op, value = var.groups()
            variables[name] = (variables.get(name, "") + " " + value) if op == "+=" else value
            current = None
            continue
        rule = _MAKE_RULE.match(stripped)
        if not rule:
            current = None
            continue
        targets, rest = rule.groups()
        prerequisites, _, inline = rest.partition(";")
        current = [inline.strip()] if inline.strip() else []
        for target in targets.split():
            if "%" in target or target.startswith("."):
                continue
            deps = [d for d in prerequisites.split() if "%" not in d and d != "|"]
            found.rules[target] = (deps, current)
            found.default = found.default or target
    for name, (deps, lines) in found.rules.items():
        found.rules[name] = (deps, [_expand(line, variables) for line in lines if line])
    return found


_JUST_RECIPE = re.compile(r"^@?([A-Za-z_][\w-]*)((?:\s+[^:=]+?)?)\s*:(?!=)\s*(.*)$")
_JUST_VAR = re.compile(r"^(?:export\s+)?([A-Za-z_][\w-]*)\s*:=\s*(.*)$")


def parse_just(text: str) -> Recipes:
    """A justfile's recipes; `{{var}}` from its assignments, shebang recipes are foreign."""
    found = Recipes()
    variables: dict[str, str] = {}
    current: list[str] | None = None
    name = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and current is not None:
            body = line.strip()
            if not current and body.startswith("#!") and "sh" not in body.split("/")[-1]:
                found.foreign.add(name)
            if body and not body.startswith("#"):
                current.append(body.lstrip("@-"))
            continue
        stripped = line.split("#", 1)[0].rstrip()
        var = _JUST_VAR.match(stripped)
        if var:
            variables[var.group(1)] = var.group(2).strip().strip("'\"")
            current = None
            continue
        recipe = _JUST_RECIPE.match(stripped)
        if recipe is None:
            current = None
            if stripped.startswith(("import ", "mod ")):
                found.includes = True
            continue
        name = recipe.group(1)
        current = []
        deps = [d.strip("()") for d in recipe.group(3).split() if d.strip("()")]
        found.rules[name] = (deps, current)
        found.default = found.default or name

    def interpolate(line: str) -> str:
        return re.sub(
            r"\{\{\s*([\w-]+)\s*\}\}", lambda m: variables.get(m.group(1), _UNKNOWN), line
        )

    for key, (deps, lines) in found.rules.items():
        found.rules[key] = (deps, [re.sub(r"\{\{.*?\}\}", _UNKNOWN, interpolate(x)) for x in lines])
    return found


def parse_taskfile(text: str) -> Recipes:
    """Taskfile.yml (go-task): tasks with cmds (strings, {cmd: ...}, {task: ...}) and deps."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"not YAML: {e}") from e
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, dict):
        raise ValueError("no tasks")
    found = Recipes(default="default" if "default" in tasks else None)
    found.includes = bool(data.get("includes"))
    for name, body in tasks.items():
        found.rules[str(name)] = _task_body(body)
    return found


def _task_body(body: object) -> tuple[list[str], list[str]]:
    if isinstance(body, str):
        return [], [_template(body)]
    if isinstance(body, list):
        body = {"cmds": body}
    if not isinstance(body, dict):
        raise ValueError("a task that is not a table")
    deps = [d if isinstance(d, str) else str(d.get("task", "")) for d in body.get("deps") or []]
    lines: list[str] = []
    for item in body.get("cmds") or []:
        if isinstance(item, str):
            lines.append(_template(item))
        elif isinstance(item, dict) and isinstance(item.get("cmd"), str):
            lines.append(_template(item["cmd"]))
        elif isinstance(item, dict) and isinstance(item.get("task"), str):
            deps.append(item["task"])
        else:
            raise ValueError("a command the guard cannot read")
    return deps, lines


def _template(line: str) -> str:
    return re.sub(r"\{\{.*?\}\}", _UNKNOWN, line)
