"""The three hosts whose pre-tool hooks ralph answers: how each names its tools, what its
tool inputs hold, and how it wants an answer.

One home per host: `ralph hook HOST`, `ralph hook install HOST` and `ralph replay
--claude` all read the tables here. A host tool maps onto ralph's own calls (a shell
command, a file read, write or deletion), which the policy judges exactly as it judges
ralph's agent. A tool this module does not know maps to None, and the hook blocks it.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Call = tuple[str, dict[str, Any]]
"""(ralph tool name, its arguments): e.g. ("run_command", {"command": "ls"})."""


@dataclass(frozen=True)
class Answer:
    """What the hook process prints and exits with."""

    stdout: str
    stderr: str
    exit_code: int


@dataclass(frozen=True)
class Host:
    """One agent host's hook protocol."""

    name: str
    event: str
    """The pre-tool event the hook is installed for."""
    can_ask: bool
    """Whether the host can ask its person (else a confirm becomes a deny + approval)."""
    tools: dict[str, Callable[[dict[str, Any]], list[Call]]]
    inert: frozenset[str]
    """Host tools with no effect on the machine (todo lists, plan mode): allowed."""
    answer: Callable[[str, str], Answer]
    """(decision, reason) -> the answer, for decision allow | deny | ask | defer."""

    def calls(self, tool_name: str, tool_input: Any) -> list[Call] | None:
        """ralph's calls for one host tool call; [] for an inert tool; None if unknown."""
        if tool_name in self.inert:
            return []
        mapper = self.tools.get(tool_name)
        if mapper is None or not isinstance(tool_input, dict):
            return None
        return mapper(tool_input)


def block(reason: str) -> Answer:
    """The blocking form every host honours: exit 2, the reason on stderr."""
    return Answer("", reason.strip() or "ralph: blocked", 2)


# --------------------------------------------------------------------------- tool inputs


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # Codex may send argv
        return shlex.join(str(v) for v in value)
    raise ValueError(f"expected text, got {type(value).__name__}")


def _shell(key: str = "command") -> Callable[[dict[str, Any]], list[Call]]:
    def calls(inp: dict[str, Any]) -> list[Call]:
        command = _text(inp.get(key))
        workdir = inp.get("dir_path") or inp.get("directory") or inp.get("workdir")
        if isinstance(workdir, str) and workdir.strip():
            command = f"cd {shlex.quote(workdir)} && {command}"
        return [("run_command", {"command": command})]

    return calls


def _file(tool: str, *keys: str, default: str | None = None) -> Callable[..., list[Call]]:
    def calls(inp: dict[str, Any]) -> list[Call]:
        path = next((inp[k] for k in keys if isinstance(inp.get(k), str)), default)
        if path is None:
            raise ValueError(f"no path in {', '.join(keys)}")
        args = {k: v for k, v in inp.items() if k not in keys}
        return [(tool, {"path": path, **args})]

    return calls


def _paths(tool: str, key: str) -> Callable[[dict[str, Any]], list[Call]]:
    def calls(inp: dict[str, Any]) -> list[Call]:
        paths = inp.get(key)
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ValueError(f"{key} must be a list of paths")
        return [(tool, {"path": p}) for p in paths]

    return calls


def _fetch(inp: dict[str, Any]) -> list[Call]:
    """A URL fetch is judged as the `curl` that would do it (a GET, with the URL's secrets)."""
    url = inp.get("url")
    if not isinstance(url, str):  # Gemini's web_fetch carries URLs inside a prompt
        url = " ".join(re.findall(r"https?://\S+", _text(inp.get("prompt", ""))))
    if not url:
        raise ValueError("no URL to fetch")
    return [
        ("run_command", {"command": "curl -fsSL -- " + " ".join(map(shlex.quote, url.split()))})
    ]


_PATCH_FILE = re.compile(
    r"^\*\*\* (Add|Update|Delete) File: (.+?)\s*$|^\*\*\* Move to: (.+?)\s*$", re.M
)


def patch_calls(patch: str) -> list[Call]:
    """The file writes and deletions of a Codex `apply_patch` patch, one call per file."""
    calls: list[Call] = []
    for kind, path, moved in _PATCH_FILE.findall(patch):
        if moved:
            calls.append(("write_file", {"path": moved, "patch": patch}))
        elif kind == "Delete":
            calls.append(("delete", {"path": path}))
        else:
            calls.append(("write_file", {"path": path, "patch": patch}))
    if not calls:
        raise ValueError("a patch that names no file")
    return calls


def _patch(inp: dict[str, Any]) -> list[Call]:
    patch = next((inp[k] for k in ("patch", "input", "command") if k in inp), None)
    return patch_calls(_text(patch))


# --------------------------------------------------------------------------- answers


def _claude_answer(decision: str, reason: str) -> Answer:
    out = {"hookEventName": "PreToolUse", "permissionDecision": decision}
    if reason:
        out["permissionDecisionReason"] = reason
    return Answer(json.dumps({"hookSpecificOutput": out}), "", 0)


def _codex_answer(decision: str, reason: str) -> Answer:
    if decision == "allow":  # Codex reads "allow" without updatedInput as a failed hook
        return Answer("", "", 0)
    out = {"hookEventName": "PreToolUse", "permissionDecision": "deny"}
    out["permissionDecisionReason"] = reason or "refused by ralph's policy"
    return Answer(json.dumps({"hookSpecificOutput": out}), "", 0)


def _gemini_answer(decision: str, reason: str) -> Answer:
    if decision == "allow":
        return Answer(json.dumps({"decision": "allow"}), "", 0)
    return Answer(json.dumps({"decision": "deny", "reason": reason or "refused"}), "", 0)


CLAUDE = Host(
    name="claude",
    event="PreToolUse",
    can_ask=True,
    tools={
        "Bash": _shell(),
        "Read": _file("read_file", "file_path"),
        "Write": _file("write_file", "file_path"),
        "Edit": _file("edit_file", "file_path"),
        "MultiEdit": _file("edit_file", "file_path"),
        "NotebookEdit": _file("edit_file", "notebook_path"),
        "NotebookRead": _file("read_file", "notebook_path"),
        "Glob": _file("list_files", "path", default="."),
        "Grep": _file("search", "path", default="."),
        "LS": _file("list_files", "path", default="."),
        "WebFetch": _fetch,
    },
    inert=frozenset({"TodoWrite", "TodoRead", "ExitPlanMode", "Task", "Agent", "WebSearch"}),
    answer=_claude_answer,
)

CODEX = Host(
    name="codex",
    event="PreToolUse",
    can_ask=False,
    tools={
        "Bash": _shell(),
        "shell": _shell(),
        "exec_command": _shell("cmd"),
        "apply_patch": _patch,
    },
    inert=frozenset({"update_plan"}),
    answer=_codex_answer,
)

GEMINI = Host(
    name="gemini",
    event="BeforeTool",
    can_ask=False,
    tools={
        "run_shell_command": _shell(),
        "read_file": _file("read_file", "file_path", "absolute_path", "path"),
        "read_many_files": _paths("read_file", "paths"),
        "write_file": _file("write_file", "file_path", "absolute_path"),
        "replace": _file("edit_file", "file_path", "absolute_path"),
        "list_directory": _file("list_files", "dir_path", "path", default="."),
        "glob": _file("list_files", "dir_path", "path", default="."),
        "search_file_content": _file("search", "dir_path", "path", default="."),
        "grep": _file("search", "dir_path", "path", default="."),
        "web_fetch": _fetch,
    },
    inert=frozenset({"google_web_search", "save_memory", "write_todos"}),
    answer=_gemini_answer,
)

HOSTS: dict[str, Host] = {h.name: h for h in (CLAUDE, CODEX, GEMINI)}
