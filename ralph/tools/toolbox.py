"""The toolbox: what each tool does inside the workspace."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ralph.fsutil import atomic_write_text
from ralph.globs import glob_regex
from ralph.messages import ToolCall, ToolResult
from ralph.sandbox import Confinement, Grant
from ralph.stop import shielded
from ralph.tools.process import (
    _DRAIN_S,
    KILL_GRACE_S,
    _Capture,
    command_env,
    finished,
    kill_group,
    started,
)
from ralph.tools.specs import Out, ToolError, check_arguments
from ralph.workspace import chosen_state_dir

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".ralph", "node_modules", "__pycache__", ".venv", "venv", ".tox"}
    | {".mypy_cache", ".pytest_cache", ".ruff_cache", ".cache"}
)


MAX_READ_LINES = 2_000


MAX_LINE_CHARS = 2_000


MAX_LIST_ENTRIES = 1_000


MAX_SEARCH_MATCHES = 200


MAX_SEARCH_FILES = 20_000


MAX_WALK_FILES = 100_000


MAX_SEARCH_FILE_BYTES = 10_000_000


_BINARY_PROBE = 8_192


class Toolbox:
    """Runs tool calls in one workspace."""

    def __init__(
        self,
        workspace: Path,
        *,
        output_cap: int = 30_000,
        default_timeout_s: float = 120,
        max_timeout_s: float = 3_600,
        confinement: Confinement | None = None,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.output_cap = output_cap
        self.default_timeout_s = default_timeout_s
        self.max_timeout_s = max(max_timeout_s, default_timeout_s)
        self.on_output: Callable[[str], None] | None = None
        """Shown a running command's latest output line (the live view's spinner)."""
        self.confinement = confinement or Confinement("off")
        """How commands are confined; without one they run as they are (library use)."""

    def run(
        self, call: ToolCall, args: dict[str, Any] | None = None, grant: Grant | None = None
    ) -> ToolResult:
        """Run one call; every failure comes back as an error result, never an exception.
        `args` are the call's arguments already checked by `check_arguments` (else checked here);
        `grant` is what the policy gave a command (the network, audit's sandbox-only)."""
        try:
            args = check_arguments(call) if args is None else args
            if call.name == "finish_step":
                raise ToolError("finish_step is handled by ralph's loop, not run as a tool")
            if call.name == "run_command":
                args = {**args, "grant": grant}
            content, is_error = getattr(self, f"_tool_{call.name}")(**args)
        except ToolError as e:
            return ToolResult(call.id, f"Error: {e}", is_error=True)
        except Exception as e:  # a tool must never take the loop down
            return ToolResult(call.id, f"Error: {call.name} failed: {e}", is_error=True)
        return ToolResult(call.id, content, is_error=is_error)

    # -- paths ---------------------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """Workspace-relative (or absolute, or ~) path -> absolute path, symlinks not resolved."""
        if not path:
            raise ToolError("path is empty; give a path relative to the workspace")
        return self.workspace / os.path.expanduser(path)

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.workspace)) or "."
        except ValueError:
            return str(path)

    # -- reading -------------------------------------------------------------------------

    def _tool_read_file(self, path: str, offset: int = 1, limit: int = MAX_READ_LINES) -> Out:
        target = self.resolve(path)
        start, limit = max(offset, 1), min(max(limit, 1), MAX_READ_LINES)
        out: list[str] = []
        size, more = 0, False
        with _open_text_file(target) as f:
            for n, raw in enumerate(f, 1):
                if n < start:
                    continue
                if len(out) == limit or size > self.output_cap:
                    more = True
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if len(line) > MAX_LINE_CHARS:
                    line = line[:MAX_LINE_CHARS] + f"[... {len(line) - MAX_LINE_CHARS} chars cut]"
                size += len(line) + 8
                out.append(f"{n:6}\t{line}")
        if not out:
            return f"[{path}: nothing at line {start}; the file is shorter]", False
        if more:
            last = start + len(out) - 1
            out.append(f"[showing lines {start}-{last}; more follow: use offset={last + 1}]")
        return "\n".join(out), False

    def _tool_list_files(self, path: str = ".", glob: str | None = None) -> Out:
        files, more = _files(self.resolve(path), glob, MAX_LIST_ENTRIES)
        if not files:
            return f"[no files under {path}{f' matching {glob}' if glob else ''}]", False
        text = "\n".join(self._shown(p) for p in files)
        if more:
            text += "\n[... more files not shown; narrow path or glob ...]"
        return text, False

    def _tool_search(self, pattern: str, path: str = ".", glob: str | None = None) -> Out:
        try:
            regex = re.compile(pattern)
        except re.error as e:
            raise ToolError(f"bad regex {pattern!r}: {e}") from None
        files, more = _files(self.resolve(path), glob, MAX_SEARCH_FILES)
        hits: list[str] = []
        for file in files:
            for n, line in _grep(file, regex):
                if len(hits) == MAX_SEARCH_MATCHES:
                    hits.append("[... more matches not shown; narrow pattern, path or glob ...]")
                    return "\n".join(hits), False
                hits.append(f"{self._shown(file)}:{n}: {line[:300]}")
        if more:
            hits.append(f"[searched only the first {len(files)} files; narrow path or glob]")
        return ("\n".join(hits) if hits else f"[no matches for {pattern!r}]"), False

    # -- writing -------------------------------------------------------------------------

    def _tool_write_file(self, path: str, content: str) -> Out:
        target = self.resolve(path)
        if target.is_dir():
            raise ToolError(f"{path} is a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, content)
        return f"wrote {len(content.encode())} bytes to {self._shown(target)}", False

    def _tool_edit_file(self, path: str, old_text: str, new_text: str) -> Out:
        if not old_text:
            raise ToolError("old_text is empty; copy the exact text to replace from the file")
        target = self.resolve(path)
        data = _read_bytes(target)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{path} is not UTF-8 text; edit_file edits text files only") from None
        count = text.count(old_text)
        if count != 1:
            hint = (
                "copy it exactly from read_file output (whitespace included, no line numbers)"
                if count == 0
                else "include more surrounding lines so it matches exactly once"
            )
            raise ToolError(f"old_text matched {count} times in {path}; {hint}")
        atomic_write_text(target, text.replace(old_text, new_text, 1))
        return f"edited {self._shown(target)}", False

    # -- commands ------------------------------------------------------------------------

    def _tool_run_command(
        self, command: str, timeout_s: float | None = None, grant: Grant | None = None
    ) -> Out:
        refused = self.confinement.refusal((grant or Grant()).needs_sandbox)
        if refused:
            return refused, True
        code, output = self.run_command(command, timeout_s, grant)
        return f"{output}\n[exit code: {code}]" if output else f"[exit code: {code}]", code == 124

    def run_command(
        self, command: str, timeout_s: float | None = None, grant: Grant | None = None
    ) -> tuple[int, str]:
        """Run `bash -c command` in the workspace, inside the sandbox when there is one;
        return (exit code, capped combined output). A command the confinement refuses does
        not start: exit code 126 and the reason.

        A timeout kills the whole process group and returns exit code 124 (as timeout(1) does).
        """
        grant = grant or Grant()
        refused = self.confinement.refusal(grant.needs_sandbox)
        if refused:
            return 126, refused
        timeout = min(max(timeout_s or self.default_timeout_s, 1.0), self.max_timeout_s)
        argv, env = ["bash", "-c", command], command_env()
        box = self.confinement.sandbox
        if box is not None:
            argv, env = box.argv(argv, network=grant.network), box.env(env)
        proc = None
        try:
            with shielded():  # a stop signal waits until the command's group is known
                proc = subprocess.Popen(
                    argv,
                    cwd=self.workspace,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # its own process group, and no /dev/tty
                )
                started(proc)
            code, output = self._wait(proc, timeout)
        except BaseException:  # a stop signal, a deadline, a second Ctrl-C: none may outlive us
            if proc is not None:
                kill_group(proc)
            raise
        finished(proc)
        if box is not None and code != 0:
            output = "\n".join(filter(None, [output, box.hint(network=grant.network)]))
        return code, output

    def _wait(self, proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, str]:
        """Wait for the command within `timeout`; (exit code, output with ralph's notes)."""
        capture = _Capture(proc.stdout, self.output_cap, self.on_output)
        note = ""
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            code, note = 124, f"[timed out after {timeout:g}s; the process group was killed]"
        if not capture.done.wait(_DRAIN_S):  # background children still hold the pipe
            kill_group(proc)
            note = note or "[background processes left holding the output were stopped]"
        capture.done.wait(KILL_GRACE_S)
        return code, "\n".join(filter(None, [capture.text(), note]))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ToolError(f"{path} does not exist; use list_files to see what is there") from None
    except IsADirectoryError:
        raise ToolError(f"{path} is a folder; use list_files") from None


@contextlib.contextmanager
def _open_text_file(path: Path) -> Iterator[Any]:
    """Open for reading in binary; ToolError for a missing file, a folder or binary content."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise ToolError(f"{path} does not exist; use list_files to see what is there") from None
    except IsADirectoryError:
        raise ToolError(f"{path} is a folder; use list_files") from None
    with f:
        if _is_binary(f.peek(_BINARY_PROBE)[:_BINARY_PROBE]):
            raise ToolError(f"{path} is a binary file; read_file shows text files only")
        yield f


def _is_binary(probe: bytes) -> bool:
    return b"\0" in probe


def _files(root: Path, glob: str | None, limit: int) -> tuple[list[Path], bool]:
    """Up to `limit` files under root (or root itself) matching glob, in sorted walk order,
    skipping SKIP_DIRS below root; and whether more were left out (or the walk was cut short)."""
    if not root.exists():
        raise ToolError(f"{root} does not exist")
    matches = _glob_matcher(glob)
    if root.is_file():
        return ([root] if matches(root.name) else []), False
    found: list[Path] = []
    seen = 0
    state = chosen_state_dir()  # ralph's own state, wherever --state-dir put it
    for folder, dirs, names in os.walk(root):
        base = Path(folder)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and base / d != state)
        for name in sorted(names):
            seen += 1
            if seen > MAX_WALK_FILES:
                return found, True
            if matches((base / name).relative_to(root).as_posix()):
                if len(found) == limit:
                    return found, True
                found.append(base / name)
    return found, False


def _grep(file: Path, regex: re.Pattern[str]) -> Iterator[tuple[int, str]]:
    try:
        if file.stat().st_size > MAX_SEARCH_FILE_BYTES:
            return
        data = file.read_bytes()
    except OSError:
        return
    if _is_binary(data[:_BINARY_PROBE]):
        return
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if regex.search(line):
            yield n, line


def _glob_matcher(glob: str | None) -> Any:
    """A predicate on a posix relative path. A glob without '/' matches the file name alone."""
    if not glob:
        return lambda rel: True
    regex = re.compile(glob_regex(glob))
    if "/" in glob:
        return lambda rel: regex.fullmatch(rel) is not None
    return lambda rel: regex.fullmatch(rel.rsplit("/", 1)[-1]) is not None
