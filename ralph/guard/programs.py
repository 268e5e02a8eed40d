"""Code a command runs: inline code (`python -c`, `node -e`, ...), the script file a shell
or interpreter runs, and the hard-floor facts (downloads piped into a shell, making
filesystems).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from ralph.guard.families import (
    DOWNLOADERS,
    INLINE_FLAGS,
    MKFS,
    PARTITIONERS,
    SHELLS,
    base_program,
    info_form,
    is_help,
    option_values,
    words,
)

if TYPE_CHECKING:
    from ralph.bash import Command

_LITERAL_CALLS = frozenset(
    {"print", "len", "str", "int", "float", "sum", "min", "max", "range", "sorted", "abs"}
    | {"round", "repr", "bool", "list", "tuple", "dict", "set", "chr", "ord", "hex", "format"}
)
_LITERAL_NODES = tuple(
    getattr(ast, name)
    for name in words(
        "Module Expr Pass Call Constant JoinedStr FormattedValue BinOp UnaryOp BoolOp Compare"
        " Tuple List Dict Set keyword Name Load Subscript Slice IfExp operator unaryop boolop"
        " cmpop expr_context"
    )
)


# ---------------------------------------------------------------------------------------------
# Inline code and hard-floor facts.


def inline_source(cmd: Command) -> str | None:
    """The literal-only Python of `python -c CODE`, if that is all it runs."""
    if base_program(cmd.program) != "python":
        return None
    codes = option_values(cmd, "-c")
    if len(codes) != 1 or codes[0] in cmd.dynamic_args or cmd.args:
        return None
    return codes[0] if literal_python(codes[0]) else None


def inline_code(cmd: Command) -> bool:
    """True if the command runs program text given inline or on stdin (python -c, node -e)."""
    program = base_program(cmd.program)
    flags = INLINE_FLAGS.get(program)
    if flags is None:
        return False
    if inline_source(cmd) is not None:
        return False
    if any(f in cmd.flags for f in flags) or (program == "deno" and cmd.subcommand == "eval"):
        return True
    script = _script_operand(cmd, program)
    return script is None or script == "-"


def run_path(cmd: Command) -> str | None:
    """The file a command runs as a program: its script (`bash s.sh`, `python3 x.py`) or the
    program itself when named by a path (`./build/tool`)."""
    if cmd.argv and "/" in cmd.argv[0]:
        return cmd.argv[0]
    return script_file(cmd)


def script_file(cmd: Command) -> str | None:
    """The script file a shell or interpreter runs, if it runs one (not -c, -m or stdin)."""
    program = base_program(cmd.program)
    if program in SHELLS:
        if "-c" in cmd.flags or "-s" in cmd.flags or is_help(cmd):
            return None
    elif program not in INLINE_FLAGS or inline_code(cmd) or inline_source(cmd) is not None:
        return None
    script = _script_operand(cmd, program)
    return None if script in (None, "-", "(module)", "(help)") else script


def _script_operand(cmd: Command, program: str) -> str | None:
    """The script file an interpreter runs (None when it reads its program from stdin)."""
    if program == "python" and ("-m" in cmd.flags or option_values(cmd, "-m")):
        return "(module)"
    if is_help(cmd):
        return "(help)"
    return cmd.args[0] if cmd.args else None


def literal_python(code: str) -> bool:
    """True for Python that only prints/evaluates literals: no imports, names or attributes."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if not isinstance(node, _LITERAL_NODES):
            return False
        if isinstance(node, ast.Name) and node.id not in _LITERAL_CALLS:
            return False
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            return False
    return True


def downloads_into_executor(cmd: Command) -> bool:
    """True if downloaded content reaches a shell/interpreter as code (`curl | sh`)."""
    fed = set(cmd.input_from)
    if cmd.stdin_from:
        fed.add(cmd.stdin_from)
    if not fed & DOWNLOADERS:
        return False
    program = base_program(cmd.program)
    if program in SHELLS or program in ("source", ".", "eval", "exec"):
        return True
    if program in INLINE_FLAGS:
        codes = [v for f in INLINE_FLAGS[program] for v in option_values(cmd, f)]
        if any(c in cmd.dynamic_args or "$(" in c or "`" in c for c in codes):
            return True
        script = _script_operand(cmd, program)
        return not codes and (script is None or script == "-" or script in cmd.dynamic_args)
    return False


def makes_filesystem(cmd: Command) -> bool:
    """mkfs*, wipefs, and partition editors (except their list/print forms)."""
    program = cmd.program
    if MKFS.fullmatch(program):
        return not info_form(cmd)
    if program not in PARTITIONERS:
        return False
    if info_form(cmd) or {"-l", "--list", "-d", "--dump", "-s", "--show-size"} & cmd.flags:
        return False
    words = [a.lower() for a in cmd.args[1:]]
    return not (program == "parted" and words and set(words) <= {"print", "unit", "help"})
