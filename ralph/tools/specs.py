"""The model's tools: their specs, and the one check of a call's arguments."""

from __future__ import annotations

from typing import Any

from ralph.messages import ToolCall, ToolSpec


def _spec(name: str, description: str, props: dict[str, Any], required: list[str]) -> ToolSpec:
    schema = {"type": "object", "properties": props, "required": required}
    return ToolSpec(name, description, schema | {"additionalProperties": False})


_STR = {"type": "string"}


_INT = {"type": "integer"}


TOOL_SPECS: list[ToolSpec] = [
    _spec(
        "read_file",
        "Read a text file; lines come numbered. offset: first line (1-based); limit: line count.",
        {"path": _STR, "offset": _INT, "limit": _INT},
        ["path"],
    ),
    _spec(
        "list_files",
        "List files under path (default: workspace), recursively; glob filters, e.g. '*.py'.",
        {"path": _STR, "glob": _STR},
        [],
    ),
    _spec(
        "search",
        "Search file contents for a Python regex; prints path:line: text. glob filters files.",
        {"pattern": _STR, "path": _STR, "glob": _STR},
        ["pattern"],
    ),
    _spec(
        "write_file",
        "Create or overwrite a file with content (parent folders are created).",
        {"path": _STR, "content": _STR},
        ["path", "content"],
    ),
    _spec(
        "edit_file",
        "Replace old_text with new_text in a file. old_text must match exactly once.",
        {"path": _STR, "old_text": _STR, "new_text": _STR},
        ["path", "old_text", "new_text"],
    ),
    _spec(
        "run_command",
        "Run a bash command in the workspace (no stdin). Returns output and exit code.",
        {"command": _STR, "timeout_s": {"type": "number"}},
        ["command"],
    ),
    _spec(
        "finish_step",
        "End this step: 'done' when the step is complete, 'blocked' when it cannot be done now.",
        {"outcome": {"type": "string", "enum": ["done", "blocked"]}, "summary": _STR},
        ["outcome", "summary"],
    ),
]


SPECS_BY_NAME: dict[str, ToolSpec] = {s.name: s for s in TOOL_SPECS}


FILE_TOOL_ACCESS: dict[str, str] = {
    "read_file": "read",
    "search": "read",
    "list_files": "list",
    "write_file": "write",
    "edit_file": "write",
}
"""How each file tool touches its path; the policy classes file calls by it."""

READ_ONLY_TOOLS: frozenset[str] = frozenset(
    name for name, access in FILE_TOOL_ACCESS.items() if access != "write"
)

POLICY_TOOLS: tuple[str, ...] = (*SPECS_BY_NAME, "delete")
"""The tool names a policy rule may name: the model's tools, and `delete` (a file deletion,
as `ralph check --jsonl` and the corpus' `@delete` rows give it)."""

PATH_TOOLS: frozenset[str] = frozenset(FILE_TOOL_ACCESS) | {"delete"}
"""The calls that carry a `path` instead of a command."""


Out = tuple[str, bool]  # (content, is_error)


class ToolError(Exception):
    """A tool failure: its message goes to the model as the tool result."""


def guard_call(call: ToolCall) -> dict[str, Any]:
    """The policy's view of a tool call: `{"tool": name, "command": ...}` or `{"tool", "path"}`."""
    args = call.arguments if isinstance(call.arguments, dict) else {}
    if call.name == "run_command":
        return {"tool": call.name, "command": _text(args.get("command"))}
    if call.name in READ_ONLY_TOOLS:
        return {"tool": call.name, "path": _text(args.get("path")) or "."}
    if call.name in PATH_TOOLS:  # write_file, edit_file, and a file deletion from a hook
        return {"tool": call.name, "path": _text(args.get("path"))}
    return {"tool": call.name}


def approval_call(call: ToolCall) -> dict[str, Any]:
    """The exact call a person approves: tool name and every argument but the timeout."""
    args = call.arguments if isinstance(call.arguments, dict) else {"raw": call.raw_arguments}
    return {"tool": call.name} | {k: v for k, v in args.items() if k != "timeout_s"}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def check_arguments(call: ToolCall) -> dict[str, Any]:
    """Validate a call's arguments against its spec; raise ToolError saying what to fix."""
    spec = SPECS_BY_NAME.get(call.name)
    if spec is None:
        raise ToolError(f"unknown tool {call.name!r}; the tools are: {', '.join(SPECS_BY_NAME)}")
    if not isinstance(call.arguments, dict):
        raw = call.raw_arguments[:200]
        raise ToolError(
            f"arguments for {call.name} are not a JSON object: {raw!r}; send valid JSON"
        )
    props = spec.parameters["properties"]
    args = {k: v for k, v in call.arguments.items() if v is not None}
    unknown = sorted(set(args) - set(props))
    missing = [k for k in spec.parameters["required"] if k not in args]
    if unknown or missing:
        expected = ", ".join(f"{k}{'' if k in spec.parameters['required'] else '?'}" for k in props)
        problem = f"unknown {unknown}" if unknown else f"missing {missing}"
        raise ToolError(f"{call.name}: {problem} argument(s); it takes {expected}")
    for key, value in args.items():
        args[key] = _coerce(call.name, key, value, props[key])
    return args


def _coerce(tool: str, key: str, value: Any, schema: dict[str, Any]) -> Any:
    kind = schema["type"]
    if kind == "string" and isinstance(value, str):
        if "enum" in schema and value not in schema["enum"]:
            raise ToolError(f"{tool}: {key} must be one of {schema['enum']}, not {value!r}")
        return value
    if kind != "string" and isinstance(value, int | float) and not isinstance(value, bool):
        if kind == "integer" and not float(value).is_integer():
            raise ToolError(f"{tool}: {key} must be a whole number, not {value!r}")
        return int(value) if kind == "integer" else float(value)
    article = "an" if kind == "integer" else "a"
    raise ToolError(f"{tool}: {key} must be {article} {kind}, not {type(value).__name__}")
