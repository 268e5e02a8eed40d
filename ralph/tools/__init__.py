"""The model's tools: their specs and argument checks (`specs`), what each does inside the
workspace (`toolbox`), and the command runner (`process`)."""

from ralph.tools.process import command_env
from ralph.tools.specs import (
    READ_ONLY_TOOLS,
    SPECS_BY_NAME,
    TOOL_SPECS,
    ToolError,
    approval_call,
    check_arguments,
    guard_call,
)
from ralph.tools.toolbox import Toolbox

__all__ = [
    "READ_ONLY_TOOLS",
    "SPECS_BY_NAME",
    "TOOL_SPECS",
    "ToolError",
    "Toolbox",
    "approval_call",
    "check_arguments",
    "command_env",
    "guard_call",
]
