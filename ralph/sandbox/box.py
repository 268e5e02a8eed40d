"""The sandbox a command runs in (bubblewrap), and a run's choice of sandbox or no sandbox.

Inside the box: the whole system read-only, the workspace writable (or read-only for audits),
private /tmp and /var/tmp, a fresh /dev and /proc, its own PID namespace and session, killed
with ralph, no capabilities and (bwrap 0.8+) no nested user namespaces, so the read-only binds
cannot be undone from inside. Read-only inside the workspace: .git, .ralph, policies/, the
policy, the config files and the task file. Hidden: secrets and host sockets. Package caches
go to `.ralph/package-cache/`. The network is off unless the policy grants it to the call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ralph.errors import UsageError
from ralph.guard.pathclass import GlobSet
from ralph.sandbox.layout import Layout, scan
from ralph.sandbox.probe import Probe, probe

SETTINGS = ("auto", "required", "off")
GIT_SETTINGS = ("read-only", "writable")

_CACHE_VARS = {
    "XDG_CACHE_HOME": "xdg",
    "PIP_CACHE_DIR": "pip",
    "UV_CACHE_DIR": "uv",
    "NPM_CONFIG_CACHE": "npm",
    "YARN_CACHE_FOLDER": "yarn",
    "CARGO_HOME": "cargo",
    "GOPATH": "go",
    "GOMODCACHE": "go/pkg/mod",
    "GOCACHE": "go-build",
}
_TEMP = ("/tmp", "/var/tmp")


class Sandbox:
    """Wraps one workspace's commands in bwrap; the layout is scanned again by `rescan()`
    (or by the next command after `forget()`)."""

    def __init__(
        self,
        found: Probe,
        workspace: Path,
        *,
        protect: Iterable[Path] = (),
        extra: dict[str, GlobSet] | None = None,
        git_writable: bool = False,
        read_only_workspace: bool = False,
    ) -> None:
        if not found.ok or found.bwrap is None:
            raise ValueError(f"no sandbox: {found.reason}")
        self.probe = found
        self.workspace = Path(workspace)
        self.protect = tuple(protect)
        self.extra = extra or {}
        self.git_writable = git_writable
        self.read_only_workspace = read_only_workspace
        self._layout: Layout | None = None

    def forget(self) -> None:
        """Drop the layout (at the start of each step): the step's first command walks the
        workspace and home again, so a step that runs no command walks nothing."""
        self._layout = None

    def rescan(self) -> Layout:
        """Walk the workspace and home again now."""
        self._layout = scan(
            self.workspace, protect=self.protect, extra=self.extra, git_writable=self.git_writable
        )
        return self._layout

    @property
    def layout(self) -> Layout:
        return self._layout or self.rescan()

    def argv(self, command: list[str], *, network: bool = False) -> list[str]:
        """The bwrap command line that runs `command` in the box."""
        lay = self.layout
        os.makedirs(lay.cache, exist_ok=True)
        args = [self.probe.bwrap or "bwrap", "--unshare-all", "--unshare-user"]
        if self.probe.disable_userns:
            args.append("--disable-userns")
        args += ["--cap-drop", "ALL", "--die-with-parent", "--new-session"]
        if network and not self.read_only_workspace:
            args.append("--share-net")
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for temp in _TEMP:
            args += ["--tmpfs", temp]
        for home in lay.homes:  # a home below /tmp (tests, odd setups) stays visible
            if _below_any(home, _TEMP) and os.path.isdir(home):
                args += ["--ro-bind", home, home]
        bind = "--ro-bind" if self.read_only_workspace else "--bind"
        args += [bind, lay.workspace, lay.workspace]
        args += _each("--ro-bind", _existing(lay.read_only))
        if self.read_only_workspace:  # an audit leaves nothing behind, not even in caches
            args += ["--tmpfs", lay.cache]
        else:
            args += ["--bind", lay.cache, lay.cache]
        for path in _existing(lay.hidden):
            if os.path.isdir(path):
                args += ["--tmpfs", path, "--remount-ro", path]
            else:
                args += ["--ro-bind", "/dev/null", path]
        return [*args, "--chdir", lay.workspace, "--", *command]

    def hint(self, *, network: bool) -> str:
        """A line for a failed command's output: what the box did not allow."""
        net = "with the network" if network and not self.read_only_workspace else "no network"
        if self.read_only_workspace:
            return f"[ran in ralph's sandbox: {net}; the workspace is read-only]"
        return (
            f"[ran in ralph's sandbox: {net}; .git, .ralph, the policy, ralph's config and the "
            "task file are read-only; secrets are hidden]"
        )

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """The environment: `base` with caches in `.ralph/package-cache`, temp in /tmp."""
        cache = self.layout.cache
        env = dict(base) | {k: os.path.join(cache, v) for k, v in _CACHE_VARS.items()}
        env["TMPDIR"] = "/tmp"
        if self.read_only_workspace:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env["PYTEST_ADDOPTS"] = f"{env.get('PYTEST_ADDOPTS', '')} -p no:cacheprovider".strip()
        return env


def _each(flag: str, paths: Iterable[str]) -> list[str]:
    return [part for p in paths for part in (flag, p, p)]


def _existing(paths: Iterable[str]) -> list[str]:
    """Paths that still exist, parents before children (bwrap mounts in order)."""
    return sorted((p for p in paths if os.path.lexists(p)), key=lambda p: p.count("/"))


def _below_any(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


@dataclass
class Confinement:
    """A run's choice: commands in a sandbox, or without one (warned), or refused."""

    setting: str
    sandbox: Sandbox | None = None
    problem: str = ""
    """Why there is no sandbox (empty when there is one)."""
    refuse: bool = False
    """Commands are refused: an unattended run found no sandbox under `auto`."""

    @property
    def label(self) -> str:
        """How a step's note says it ran."""
        if self.sandbox is not None:
            return "sandboxed"
        if self.setting == "off":
            return "not sandboxed (sandbox = off)"
        return "commands refused: no sandbox" if self.refuse else "not sandboxed: none here"

    def warning(self) -> str | None:
        """What to say once at the start of a run when commands are not sandboxed."""
        if self.sandbox is not None:
            return None
        if self.setting == "off":
            return 'sandbox = "off": commands run without the sandbox, with your full access'
        if self.refuse:
            return f"no sandbox, so this unattended run refuses every command: {self.problem}"
        return f"no sandbox here, commands run unconfined: {self.problem}"

    def refusal(self, needs_sandbox: bool = False) -> str | None:
        """Why a command may not run now (None: it may)."""
        if self.sandbox is not None:
            return None
        if self.refuse:
            return (
                "Refused: ralph runs commands only inside its sandbox in unattended runs, and "
                f"none can be made here ({self.problem}). It did not run."
            )
        if needs_sandbox:
            return (
                "Refused: the policy lets this command run only inside the read-only sandbox, "
                f"and none can be made here ({self.problem}). It did not run."
            )
        return None

    def record(self) -> dict[str, object]:
        """The run record's view: the setting, whether commands are sandboxed, and why not."""
        return {
            "setting": self.setting,
            "sandboxed": self.sandbox is not None,
            "refused": self.refuse,
            "reason": self.problem,
        }


@dataclass(frozen=True)
class Grant:
    """What the policy's decision gives one command in the sandbox."""

    network: bool = False
    needs_sandbox: bool = False
    """It may run only inside the sandbox (an audit's test command)."""

    @classmethod
    def of(cls, decision: object) -> Grant:
        return cls(
            bool(getattr(decision, "network", False)),
            bool(getattr(decision, "needs_sandbox", False)),
        )


def check_setting(value: str, name: str = "sandbox") -> str:
    allowed = SETTINGS if name == "sandbox" else GIT_SETTINGS
    if value not in allowed:
        raise UsageError(f"bad value {value!r} for {name}: use one of {', '.join(allowed)}")
    return value


def confine(
    setting: str,
    mode: str,
    workspace: Path,
    *,
    protect: Iterable[Path] = (),
    extra: dict[str, GlobSet] | None = None,
    git: str = "read-only",
) -> Confinement:
    """The run's confinement. `required` without a sandbox is a usage error (exit 2)."""
    check_setting(setting)
    check_setting(git, "sandbox_git")
    if setting == "off":
        return Confinement("off")
    found = probe(workspace)
    if not found.ok:
        if setting == "required":
            raise UsageError(f'sandbox = "required", but no sandbox can be made: {found.reason}')
        return Confinement(setting, problem=found.reason, refuse=mode == "unattended")
    box = Sandbox(
        found,
        workspace,
        protect=protect,
        extra=extra,
        git_writable=git == "writable",
        read_only_workspace=mode == "audit",
    )
    return Confinement(setting, box)
