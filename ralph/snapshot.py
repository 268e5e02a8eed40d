"""Workspace snapshots: before each step, the workspace as a git commit under ralph's ref.

A snapshot holds every file git would see (tracked and untracked, not ignored; never
`.ralph/` or temp files). It is made with a temporary index (`.ralph/snapshot.index`,
seeded from the repository's index so unchanged files are not hashed again), so the
person's index, branches and HEAD are untouched. Snapshots chain (each one's parent is the
one before) under `refs/ralph/snapshots/<workspace>`; outside a git repository they live in
a private repository, `.ralph/snapshots.git`. All git runs hardened (`ralph.git`).

`plan_restore` says what going back to a snapshot would change (files to overwrite, to
delete, to bring back); `restore` does it without following a symlink the agent left, after
taking one more snapshot of the present, so an undo can be undone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ralph.errors import UsageError, is_full, storage_error
from ralph.git import RALPH_EXCLUDES, Git, GitFailed
from ralph.workspace import locks_dir, state_dir

REF_PREFIX = "refs/ralph/snapshots/"
_ASK = object()  # no tip known: ask git
SHORT = 12
"""Characters of a snapshot id shown in notes and accepted by `ralph undo`."""
_IDENT = {
    f"GIT_{role}_{part}": value
    for role in ("AUTHOR", "COMMITTER")
    for part, value in (("NAME", "ralph"), ("EMAIL", "ralph@localhost"))
}


@dataclass(frozen=True)
class Snapshot:
    """One recorded state of the workspace."""

    id: str
    """The commit's full sha."""
    when: str
    label: str

    @property
    def short(self) -> str:
        return self.id[:SHORT]


@dataclass
class RestorePlan:
    """What going back to `target` changes, relative to the workspace folder."""

    target: Snapshot
    before: Snapshot
    """The snapshot of the present taken first: `ralph undo` to it reverses the undo."""
    overwrite: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    restore: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Nested repositories (gitlinks): their content is not in a snapshot."""
    _writes: list[tuple[str, str, str]] = field(default_factory=list, repr=False)
    """(path, mode, blob sha) to write."""

    @property
    def empty(self) -> bool:
        return not (self.overwrite or self.delete or self.restore)


class Snapshots:
    """The snapshots of one workspace."""

    def __init__(self, workspace: Path, runner: Git | None = None) -> None:
        """`runner`: a `Git` for the workspace to share (the step's prompt uses it too)."""
        self.workspace = Path(os.path.realpath(workspace))
        self.index = state_dir(self.workspace) / "snapshot.index"
        self._runner = runner
        self._git: Git | None = None
        self._head_hint: str | object | None = _ASK
        self._repo_index: Path | None = None
        self.ref = ""

    # -- recording -----------------------------------------------------------------------

    def take(self, label: str, captured: Callable[[], None] = lambda: None) -> Snapshot:
        """Record the workspace now; GitFailed or UsageError if git cannot. `captured` is
        called once the workspace's content is in git (the tree is written): from then on
        the workspace may change; what is left is to put the commit on ralph's ref."""
        with self._locked():
            git = self.git()
            self._add(git)
            captured()  # the content is in git's objects, its list in ralph's own index
            tree = self._index(git).text("write-tree").strip()
            parent = self._head(git)
            message = f"ralph snapshot: {label}\n"
            args = ["commit-tree", tree, *(["-p", parent] if parent else []), "-m", message]
            commit = git.text(*args).strip()
            git.run("update-ref", "-m", "ralph snapshot", self.ref, commit, parent or "")
            return Snapshot(commit, datetime.now(UTC).isoformat(timespec="seconds"), label)

    def list(self, limit: int = 1000) -> list[Snapshot]:
        """Snapshots of this workspace, newest first."""
        git = self.git()
        if not self._head(git):
            return []
        out = git.text("log", "-z", f"-n{limit}", "--format=%H%x1f%cI%x1f%s", self.ref)
        found = []
        for record in filter(None, out.split("\0")):
            sha, when, subject = record.strip("\n").split("\x1f", 2)
            found.append(Snapshot(sha, when, subject.removeprefix("ralph snapshot: ")))
        return found

    def find(self, ident: str | None) -> Snapshot:
        """The snapshot named by `ident` (a prefix of its id), or the latest."""
        snapshots = self.list(limit=100_000)
        if not snapshots:
            raise UsageError(f"no snapshots in {self.workspace} yet (ralph takes one per step)")
        if ident is None:
            return snapshots[0]
        key = ident.strip().lower()
        hits = [s for s in snapshots if len(key) >= 4 and s.id.startswith(key)]
        if len(hits) != 1:
            problem = "matches several" if hits else "is not one of this workspace's snapshots"
            raise UsageError(f"snapshot {ident!r} {problem}; `ralph undo --list` shows them")
        return hits[0]

    # -- restoring -----------------------------------------------------------------------

    def plan_restore(self, target: Snapshot) -> RestorePlan:
        """What restoring `target` would change; UsageError if something is in the way."""
        now = self.take(f"before undo to {target.short}")
        git = self.git()
        raw = git.run(
            "diff-tree", "-r", "-z", "--no-renames", "--no-ext-diff", "--no-textconv",
            "--relative", now.id, target.id,
        ).stdout.decode("utf-8", "surrogateescape")  # fmt: skip
        plan = RestorePlan(target, now)
        fields = raw.split("\0")
        for head, path in zip(fields[0::2], fields[1::2], strict=False):
            if not head.startswith(":"):
                continue
            old_mode, new_mode, _old, new_sha, status = head[1:].split()
            if "160000" in (old_mode, new_mode):
                plan.skipped.append(path)
            elif status == "D":
                plan.delete.append(path)
            else:
                (plan.restore if status == "A" else plan.overwrite).append(path)
                plan._writes.append((path, new_mode, new_sha))
        self._check_in_the_way(plan)
        return plan

    def restore(self, plan: RestorePlan) -> list[str]:
        """Apply `plan`; return the paths that still differ from the snapshot (normally none)."""
        blobs = self._blobs([sha for _, _, sha in plan._writes])
        for rel in plan.delete:
            with contextlib.suppress(FileNotFoundError):
                self._remove(self.workspace / rel)
        for rel in plan.delete:
            self._prune_empty(Path(rel).parent)
        for rel, mode, sha in plan._writes:
            self._write(self.workspace / rel, mode, blobs[sha])
        with self._locked():
            git = self.git()
            tree = self._stage(git)
            differ = git.text(
                "diff-tree", "-r", "--name-only", "--no-renames", "--relative", tree, plan.target.id
            )
        return [line for line in differ.splitlines() if line and line not in plan.skipped]

    # -- helpers -------------------------------------------------------------------------

    def git(self) -> Git:
        """The hardened git for this workspace: its repository, or ralph's private one."""
        if self._git is not None:
            return self._git
        plain = self._runner or Git(self.workspace)
        found = plain.locate(f"{REF_PREFIX}root^{{commit}}")  # the main checkout's chain
        where = ""  # which checkout of the repository: "" for the main one
        if found.returncode == 0:
            lines = [*found.stdout.decode("utf-8", "surrogateescape").split("\n"), "", "", ""]
            git_dir, common, prefix, root_head = lines[0], lines[1], lines[2], lines[3]
            self._repo_index = Path(git_dir) / "index"
            if Path(self.workspace, common).resolve() != Path(git_dir).resolve():
                where = git_dir  # a linked worktree: refs are shared, so its own chain
            elif not prefix:  # the main checkout's chain: its tip is known (under the lock)
                self._head_hint = root_head.strip() or None
        else:
            private = state_dir(self.workspace) / "snapshots.git"
            if not (private / "HEAD").is_file():
                private.parent.mkdir(parents=True, exist_ok=True)
                plain.run("init", "--bare", "-q", str(private))
            plain = plain.with_env({"GIT_DIR": str(private), "GIT_WORK_TREE": "."})
            prefix = ""
        key = f"{where}\0{prefix}"
        slug = hashlib.sha256(key.encode()).hexdigest()[:12] if where or prefix else "root"
        self.ref = REF_PREFIX + slug
        self._git = plain.with_env(_IDENT)
        return self._git

    def _stage(self, git: Git) -> str:
        """Stage the workspace into the temporary index; return the tree's sha."""
        self._add(git)
        return self._index(git).text("write-tree").strip()

    def _add(self, git: Git) -> None:
        """Stage the workspace into the temporary index (seeded from the repository's)."""
        self.index.parent.mkdir(parents=True, exist_ok=True)
        if self._repo_index is not None and self._repo_index.is_file():
            shutil.copyfile(self._repo_index, self.index)
        self._index(git).run("add", "--all", "--", ".", *RALPH_EXCLUDES)

    def _index(self, git: Git) -> Git:
        return git.with_env({"GIT_INDEX_FILE": str(self.index)})

    def _head(self, git: Git) -> str | None:
        """The tip of this workspace's chain (None before the first snapshot): as `git()`
        found it, once, while the lock is held; else asked of git."""
        hint, self._head_hint = self._head_hint, _ASK
        if hint is not _ASK:
            return hint
        done = git.run("rev-parse", "-q", "--verify", f"{self.ref}^{{commit}}", check=False)
        if done.returncode != 0:
            return None
        return done.stdout.decode().strip() or None

    def _blobs(self, shas: list[str]) -> dict[str, bytes]:
        if not shas:
            return {}
        out = self.git().run("cat-file", "--batch", input="".join(s + "\n" for s in shas).encode())
        data, blobs, at = out.stdout, {}, 0
        for sha in shas:
            end = data.index(b"\n", at)
            header = data[at:end].split()
            size = int(header[2])
            blobs[sha] = data[end + 1 : end + 1 + size]
            at = end + 1 + size + 1
        return blobs

    def _check_in_the_way(self, plan: RestorePlan) -> None:
        """Refuse before changing anything if a folder on a write's way is not a folder
        (a symlink, or an ignored file) that the restore would not remove itself."""
        leaving = set(plan.delete)
        blocked = []
        for rel, _, _ in plan._writes:
            parts = Path(rel).parts
            for depth in range(1, len(parts)):
                sub = Path(*parts[:depth])
                here = self.workspace / sub
                if str(sub) in leaving or not os.path.lexists(here):
                    break
                if here.is_symlink() or not here.is_dir():
                    blocked.append(f"{sub} (needed as a folder for {rel})")
                    break
        if blocked:
            raise UsageError(
                "cannot restore: in the way (not a folder; move it first): " + "; ".join(blocked)
            )

    def _remove(self, path: Path) -> None:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)  # rmtree never follows symlinks inside
        else:
            path.unlink()

    def _prune_empty(self, rel: Path) -> None:
        while rel.parts:
            folder = self.workspace / rel
            try:
                folder.rmdir()  # only when empty
            except OSError:
                return
            rel = rel.parent

    def _write(self, path: Path, mode: str, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(path):
            self._remove(path)
        tmp = path.with_name(f".{path.name}.undo.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if mode == "120000":
            os.symlink(os.fsdecode(data), tmp)
        else:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if mode == "100755":
                os.chmod(tmp, stat.S_IMODE(os.stat(tmp).st_mode) | 0o111 & ~_umask())
        os.replace(tmp, path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        from filelock import FileLock

        locks_dir(self.workspace).mkdir(parents=True, exist_ok=True)
        with FileLock(locks_dir(self.workspace) / "snapshot.lock", timeout=60):
            self._head_hint = _ASK  # a tip seen before the lock was taken may have moved
            yield


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_NO_SPACE = os.strerror(errno.ENOSPC)


class PendingSnapshot:
    """The snapshot before a step, taken in the background so the step's prompt is built
    meanwhile: `captured()` returns once the workspace is recorded (nothing may change it
    before: no model call, no tool), `result()` once the commit is on ralph's ref."""

    def __init__(self, workspace: Path, label: str, runner: Git | None = None) -> None:
        self.workspace, self.label, self.runner = workspace, label, runner
        self.seconds = 0.0
        self._snapshot: Snapshot | None = None
        self._error: Exception | None = None
        self._early = False
        """Whether the error came before the workspace was recorded (then a full disk means
        no step may start; after, it only means this step has no snapshot)."""
        self._captured = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PendingSnapshot:
        self._thread = threading.Thread(target=self.run, name="ralph-snapshot", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        started = time.monotonic()
        try:
            snapshots = Snapshots(self.workspace, self.runner)
            self._snapshot = snapshots.take(self.label, self._captured.set)
        except Exception as e:  # handed to the run loop's thread by captured() and result()
            self._error, self._early = e, not self._captured.is_set()
        finally:
            self.seconds = round(time.monotonic() - started, 3)
            self._captured.set()

    def captured(self) -> None:
        """Wait until the workspace is recorded (or the snapshot failed). StorageError on a
        full disk; any other failure only means the step has no snapshot (see `result`)."""
        self._captured.wait()
        if self._error is not None and self._early and is_full(self._error):
            self.result()

    def result(self) -> tuple[Snapshot | None, str]:
        """Wait for the whole snapshot: (snapshot, "") or (None, why there is none);
        StorageError on a full disk."""
        if self._thread is not None:
            self._thread.join()
        e = self._error
        if e is None:
            return self._snapshot, ""
        if self._early and is_full(e):
            full = e if isinstance(e, OSError) else OSError(errno.ENOSPC, _NO_SPACE)
            raise storage_error(
                full, then="no step was started", verb="take", what="the snapshot before the step"
            ) from None
        if isinstance(e, GitFailed | UsageError | OSError):
            return None, str(e)
        raise e
