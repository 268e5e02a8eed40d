"""Every git command ralph itself runs, hardened against the tree the agent wrote.

The agent can write the work tree (and, without the sandbox, anything). Git executes
programs named by configuration and selected by the tree: hooks, `core.fsmonitor`,
`filter.<name>.clean/smudge/process` (a tracked `.gitattributes` picks the name),
external diff and textconv drivers, pagers and editors. `Git.run` turns all of them off
for ralph's own commands (snapshots, `--commit`, the status line in a step's prompt):

- `core.hooksPath=/dev/null` (no hook runs, not even `reference-transaction`),
  `core.fsmonitor=false`, `diff.external=`, `core.pager=cat`, `core.editor=true`;
- every configured filter driver is emptied by name (`filter.X.clean=` and friends),
  so `.gitattributes` cannot pick one, and `--no-ext-diff --no-textconv` go to diffs;
  every configured merge driver becomes `false` (`merge.X.driver=false`: a file whose
  attributes pick one is a conflict, never a program run by ralph's merges);
- the environment keeps only the person's identity and config-location variables
  (`GIT_DIR`, `GIT_INDEX_FILE`, `GIT_CONFIG_PARAMETERS`, ... from outside are dropped).

Identity and signing come from the person's own config, which the agent cannot edit in
the sandbox. Pathspecs that keep ralph's state and temp files out of commits and
snapshots live here too (`RALPH_EXCLUDES`), in a form git 2.39 accepts when `.ralph/`
is in `.gitignore` (a literal `:(exclude).ralph` makes `git add` fail there).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

from ralph.errors import RalphError, UsageError
from ralph.fsutil import TEMP_GLOB

GIT_TIMEOUT_S = 300.0
HARDENING = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "diff.external=",
    "-c",
    "core.pager=cat",
    "-c",
    "core.editor=true",
    "-c",
    "sequence.editor=true",
    "-c",
    "core.sshCommand=false",
    "-c",
    "credential.helper=",
    "-c",
    "protocol.allow=never",
    "-c",
    "advice.addIgnoredFile=false",
)
_FILTER_KEYS = ("clean", "smudge", "process")
_LIST_DRIVERS = ["git", "config", "-z", "--name-only", "--get-regexp", r"^(filter|merge)\."]
_LIST_TIMEOUT_S = 30.0
_LOCATE = ("--absolute-git-dir", "--git-common-dir", "--show-prefix")
KEEP_ENV = frozenset(
    {
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_SYSTEM",
        "GIT_CONFIG_NOSYSTEM",
    }
)
"""The only GIT_* variables passed on from ralph's own environment."""

TEMP_FILES = f":(exclude,glob)**/{TEMP_GLOB}"
"""ralph's atomic-write temp files (`.NAME.XXXXXXXX.tmp`, see `ralph.fsutil`)."""
RALPH_EXCLUDES = (":(exclude,glob)[.]ralph/**", TEMP_FILES)
"""Pathspecs that keep `.ralph/` (at the workspace top) and temp files out. The leading
wildcard matters: git 2.39 reports a literal exclude of an ignored path as an error."""


class GitFailed(RalphError):
    """A git command ralph ran for itself failed; the message has git's last line."""


class Git:
    """Runs hardened git commands in one workspace (cwd), optionally with extra env."""

    def __init__(self, workspace: Path, env: Mapping[str, str] | None = None) -> None:
        self.workspace = Path(workspace)
        self.extra_env = dict(env or {})
        self._neutral: tuple[str, ...] | None = None
        self._listing: subprocess.Popen[bytes] | None = None
        self._listing_lock = threading.Lock()  # the snapshot and the prompt share a runner

    def with_env(self, extra: Mapping[str, str]) -> Git:
        """The same runner with more environment (the filter list is shared)."""
        other = Git(self.workspace, self.extra_env | dict(extra))
        other._neutral = self.neutral_filters() if self._listing is not None else self._neutral
        return other

    def locate(self, *revs: str) -> subprocess.CompletedProcess[bytes]:
        """`git rev-parse --absolute-git-dir --git-common-dir --show-prefix` (check=False),
        then the object name of each of `revs` that names one (`--revs-only`: none for
        one that does not). Meanwhile the configured drivers are listed for the commands
        after: rev-parse runs no driver, so it need not wait for that list."""
        if self._listing_lock.acquire(blocking=False):  # else another thread lists them now
            try:
                if self._neutral is None and self._listing is None:
                    with contextlib.suppress(OSError):  # tried again, and said, by the next
                        self._listing = subprocess.Popen(
                            _LIST_DRIVERS,
                            cwd=self.workspace,
                            env=self.env(),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                        )
            finally:
                self._listing_lock.release()
        argv = ["git", "--no-pager", *HARDENING, "rev-parse", *_LOCATE]
        argv += ["--revs-only", "--end-of-options", *revs] if revs else []
        return self._spawn(argv, None, GIT_TIMEOUT_S, "rev-parse")

    def env(self) -> dict[str, str]:
        """ralph's environment without GIT_* variables (but identity), plus our own."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in KEEP_ENV}
        base |= {"GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "GIT_OPTIONAL_LOCKS": "0"}
        return base | self.extra_env

    def run(
        self,
        *args: str,
        check: bool = True,
        input: bytes | None = None,
        timeout: float = GIT_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[bytes]:
        """`git ARGS` hardened; GitFailed (with git's message) when it fails and `check`."""
        argv = ["git", "--no-pager", *HARDENING, *self.neutral_filters(), *args]
        done = self._spawn(argv, input, timeout, args[0])
        if check and done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace")
            detail = _problem(err) or last_line(done.stdout.decode("utf-8", "replace"))
            raise GitFailed(
                f"git {args[0]} failed in {self.workspace}: {detail or f'exit {done.returncode}'}"
            )
        return done

    def text(self, *args: str, check: bool = True) -> str:
        """stdout of a hardened `git ARGS` as text."""
        return self.run(*args, check=check).stdout.decode("utf-8", "surrogateescape")

    def neutral_filters(self) -> tuple[str, ...]:
        """`-c filter.NAME.KEY=` for every filter driver the configuration defines, and
        `-c merge.NAME.driver=false` for every merge driver."""
        with self._listing_lock:
            if self._neutral is None:
                self._neutral = self._drivers_off()
        return self._neutral

    def _drivers_off(self) -> tuple[str, ...]:
        filters, merges = set(), set()
        for key in self._listed().decode("utf-8", "surrogateescape").split("\0"):
            kind, _, rest = key.partition(".")
            if "." in rest:
                (filters if kind == "filter" else merges).add(rest[: rest.rindex(".")])
        return tuple(
            arg
            for name in sorted(filters)
            for k in (*_FILTER_KEYS, "required")
            for arg in ("-c", f"filter.{name}.{k}=" + ("false" if k == "required" else ""))
        ) + tuple(arg for name in sorted(merges) for arg in ("-c", f"merge.{name}.driver=false"))

    def _listed(self) -> bytes:
        """The configured filter and merge driver keys (NUL-separated), from the listing
        `locate` started or from one run now."""
        listing, self._listing = self._listing, None
        if listing is not None:
            try:
                out, _ = listing.communicate(timeout=_LIST_TIMEOUT_S)
                return out
            except subprocess.TimeoutExpired:
                listing.kill()
                listing.wait()
                raise GitFailed(f"git config took over {_LIST_TIMEOUT_S:g}s; gave up") from None
        return self._spawn(_LIST_DRIVERS, None, _LIST_TIMEOUT_S, "config").stdout

    def _spawn(
        self, argv: list[str], input: bytes | None, timeout: float, what: str
    ) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                argv,
                cwd=self.workspace,
                env=self.env(),
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
            )
        except FileNotFoundError:
            if not self.workspace.is_dir():
                raise UsageError(f"the workspace {self.workspace} is not a folder") from None
            raise UsageError("git is not on PATH (ralph needs it for this)") from None
        except subprocess.TimeoutExpired:
            raise GitFailed(f"git {what} took over {timeout:g}s; gave up") from None


def last_line(text: str) -> str:
    """The last non-blank line of `text`, stripped ("" if none)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _problem(stderr: str) -> str:
    """git's own error line (`fatal: ...`, `error: ...`) when there is one, else the last."""
    for line in stderr.splitlines():
        if line.startswith(("fatal: ", "error: ")):
            return line.split(": ", 1)[1].strip()
    return last_line(stderr)
