"""Merge-back: commit a lane's work, merge its branch into the base, or restore the base.

All git goes through the hardened `ralph.git.Git` (no hooks, no filters, no merge drivers,
no pager or editor). One merge, in the main checkout with the base branch checked out:

1. The base's tip is saved (`refs/ralph/pre-merge/<base>`, removed when the merge is over;
   after a kill -9 it names the commit to go back to). The merge is computed without the
   work tree (`git merge-tree --write-tree`) and its plan entry is replaced by the base's:
   the lane's copy of the plan is never merged. The main checkout's plan is the one
   source of truth, and the notes ralph wrote there, committed or not, survive.
2. Every path the merge adds is checked first: an untracked or ignored file there (or a
   file or symlink where the merge needs a folder) makes the lane a conflict. Nothing of
   the person's is overwritten (git itself would overwrite an ignored file).
3. `git read-tree -m -u` moves the index and work tree from the base to the merge. It
   changes nothing when a file it must change has local changes (a conflict too); other
   local changes, such as the plan's uncommitted notes, stay. Then the branch moves
   (compare-and-swap on the saved tip).
4. `verify` runs on the merged result. If it fails, or raises, the paths the merge changed
   are put back as the base had them and the branch moves back: the same sha and the same
   work tree as before, untracked files untouched.

The lane's branch is never moved or deleted. `how="ff"` is a fast-forward (a conflict
when the base has moved on; when the lane's tip carries another plan, one commit on top
puts the base's plan back), `"merge"` always makes a merge commit (`--no-ff`), `"pr"`
pushes the branch and opens a pull request with `gh`, both reviewed by the guard first.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ralph.errors import UsageError
from ralph.git import GIT_TIMEOUT_S, RALPH_EXCLUDES, Git, GitFailed, last_line
from ralph.taskfile import one_line

if TYPE_CHECKING:
    from ralph.guard.gate import Guard

HOWS = ("ff", "merge", "pr")
OUTCOMES = (
    "merged",
    "conflict",
    "verify_failed",
    "pushed",
    "empty",
    "awaiting_approval",
    "refused",
)
SAVED_REF = "refs/ralph/pre-merge/"
"""+ the base branch: its tip before the merge in progress."""
DETAIL_CHARS = 200

Verify = Callable[[Path], tuple[bool, str]]
"""Runs the step's verify in the given checkout: (passed, one line saying how it went)."""


@dataclass(frozen=True)
class MergeResult:
    """What merging one lane came to."""

    outcome: str
    """merged | conflict | verify_failed | pushed | empty | awaiting_approval | refused"""
    detail: str
    """One short line for the step's note and the summary."""
    branch: str
    """The lane branch (kept unless merged)."""
    sha: str | None
    """The base's new tip when merged, else None."""
    approval_id: str | None = None
    """For "awaiting_approval": the approval the push or `gh pr create` waits for."""

    @property
    def merged(self) -> bool:
        """The base has the lane's work (merged now, or it had it already)."""
        return self.outcome in ("merged", "empty")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Publisher:
    """What `how="pr"` needs: the guard that reviews `git push` and `gh pr create`, and the
    runner for them, `run(argv, cwd) -> (exit code, output)`. They are ralph's own commands
    (fixed arguments, no shell) and run outside the sandbox, which has no network."""

    guard: Guard
    remote: str = "origin"
    title: str = ""
    body: str = ""
    run: Callable[[list[str], Path], tuple[int, str]] | None = None


def commit_lane(worktree: Path, plan_rel: str, message: str) -> str | None:
    """Commit everything the lane changed in `worktree` except the plan (`plan_rel`, put
    back as the lane's HEAD has it) and ralph's state; the new sha, or None if nothing."""
    git = Git(worktree)
    if _entry(git, "HEAD", plan_rel):
        git.run("checkout", "HEAD", "--", f":(literal){plan_rel}")
    git.run("add", "--all", "--", ".", f":(exclude,literal){plan_rel}", *RALPH_EXCLUDES)
    staged = git.run("diff", "--cached", "--quiet", "--no-ext-diff", "--no-textconv", check=False)
    if staged.returncode == 0:
        return None
    git.run("commit", "--quiet", "--no-verify", "-m", message.strip() or "ralph: lane")
    return git.text("rev-parse", "HEAD").strip()


def merge_lane(
    workspace: Path,
    *,
    base: str,
    branch: str,
    plan_rel: str,
    message: str,
    how: str = "merge",
    verify: Verify | None = None,
    publish: Publisher | None = None,
) -> MergeResult:
    """Merge `branch` into `base` (checked out in `workspace`), then run `verify` there; on a
    conflict or a failed verify the base is restored exactly and the branch kept (module
    docstring). `how="pr"` needs `publish`; it does not change the base or run verify."""
    if how not in HOWS:
        raise UsageError(f"unknown merge mode {how!r}; use one of: {', '.join(HOWS)}")
    git = Git(workspace)
    orig = _checked_out(git, base)
    tip = _tip(git, branch)
    if how == "pr":
        return _pull_request(git, base, branch, orig, tip, plan_rel, publish)
    if _is_ancestor(git, tip, orig):
        ok, detail = verify(workspace) if verify else (True, "")
        if not ok:
            return MergeResult(
                "verify_failed", _cut(f"verify failed on {base}: {detail}"), branch, None
            )
        return MergeResult("empty", f"nothing to merge: {base} has {branch} already", branch, None)
    target, why = _target(git, how, base, branch, orig, tip, plan_rel, message)
    if target is None:
        return _kept("conflict", why, base, branch)
    blocked = _blocked(git, orig, target)
    if blocked:
        why = f"the merge would overwrite {blocked!r}, which git does not track in {base}"
        return _kept("conflict", why, base, branch)
    saved = SAVED_REF + base
    git.run("update-ref", "-m", f"ralph: before merging {branch}", saved, orig)
    try:
        return _apply(git, base, branch, orig, target, verify)
    finally:
        git.run("update-ref", "-d", saved, check=False)


def _apply(
    git: Git, base: str, branch: str, orig: str, target: str, verify: Verify | None
) -> MergeResult:
    moved = git.run("read-tree", "-m", "-u", orig, target, check=False)
    if moved.returncode:
        why = last_line(moved.stderr.decode("utf-8", "replace")).removeprefix("error: ")
        return _kept("conflict", f"local changes in the main checkout: {why}", base, branch)
    try:
        git.run("update-ref", "-m", f"ralph: merge {branch}", f"refs/heads/{base}", target, orig)
    except GitFailed:
        _restore(git, base, orig, target, move_ref=False)
        raise
    try:
        ok, detail = verify(git.workspace) if verify else (True, "")
    except BaseException:
        _restore(git, base, orig, target)
        raise
    if not ok:
        _restore(git, base, orig, target)
        return _kept("verify_failed", f"verify failed on the merged result: {detail}", base, branch)
    return MergeResult("merged", f"merged into {base} as {target[:12]}", branch, target)


def _target(
    git: Git, how: str, base: str, branch: str, orig: str, tip: str, plan_rel: str, message: str
) -> tuple[str | None, str]:
    """(the commit the base moves to, "") or (None, why the lane cannot merge)."""
    if how == "ff":
        if not _is_ancestor(git, orig, tip):
            return None, f"not a fast-forward: {base} has commits that {branch} lacks"
        tree = git.text("rev-parse", f"{tip}^{{tree}}").strip()
        fixed = _with_plan(git, tree, orig, plan_rel)
        if fixed == tree:
            return tip, ""
        note = f"ralph: keep {plan_rel} as on {base}"
        return git.text("commit-tree", fixed, "-p", tip, "-m", note).strip(), ""
    tree, conflicts = merge_tree(git, orig, tip)
    conflicts = [p for p in conflicts if p != plan_rel]
    if conflicts:
        shown = ", ".join(conflicts[:3]) + (
            f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
        )
        return None, f"conflict in {shown}"
    fixed = _with_plan(git, tree, orig, plan_rel)
    merged = git.text("commit-tree", fixed, "-p", orig, "-p", tip, "-m", message)
    return merged.strip(), ""


def merge_tree(git: Git, ours: str, theirs: str) -> tuple[str, list[str]]:
    """(the merged tree, the paths that conflict), computed without touching any work tree."""
    done = git.run(
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        "-z",
        ours,
        theirs,
        check=False,
    )
    parts = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    if done.returncode not in (0, 1) or not parts[0]:
        err = last_line(done.stderr.decode("utf-8", "replace"))
        raise GitFailed(f"git merge-tree failed in {git.workspace}: {err or done.returncode}")
    return parts[0], [p for p in parts[1:] if p]


def _with_plan(git: Git, tree: str, orig: str, plan_rel: str) -> str:
    """`tree` with the plan entry the base (`orig`) has (or none, when it has none)."""
    want, have = _entry(git, orig, plan_rel), _entry(git, tree, plan_rel)
    if want == have:
        return tree
    with tempfile.TemporaryDirectory(prefix="ralph-merge-") as tmp:
        index = git.with_env({"GIT_INDEX_FILE": os.path.join(tmp, "index")})
        index.run("read-tree", tree)
        if want:
            mode, _, sha = want.split(" ")
            index.run("update-index", "--add", "--cacheinfo", f"{mode},{sha},{plan_rel}")
        else:
            index.run("update-index", "--force-remove", "--", plan_rel)
        return index.text("write-tree").strip()


def _entry(git: Git, treeish: str, path: str) -> str:
    """ "mode type sha" of `path` in `treeish`, or "" when it has no such file."""
    out = git.text("ls-tree", "-z", "--full-tree", treeish, "--", path)
    for item in out.split("\0"):
        meta, _, name = item.partition("\t")
        if name == path:
            return meta
    return ""


def _blocked(git: Git, orig: str, target: str) -> str | None:
    """A path the merge would add where the work tree already has something git does not
    track there (an untracked or ignored file, or a non-folder where a folder must go)."""
    out = git.text("diff-tree", "-r", "-z", "--no-renames", "--name-status", orig, target)
    fields = out.split("\0")
    pairs = list(zip(fields[0::2], fields[1::2], strict=False))
    gone = {path for status, path in pairs if status == "D"}
    seen: dict[str, bool] = {}
    top = git.workspace
    for status, path in pairs:
        if status != "A":
            continue
        parts = path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in gone:
                break
            if prefix not in seen:
                full = top / prefix
                seen[prefix] = full.is_symlink() or (full.exists() and not full.is_dir())
            if seen[prefix]:
                return prefix
        if os.path.lexists(top / path):
            return path
    return None


def _restore(git: Git, base: str, orig: str, target: str, *, move_ref: bool = True) -> None:
    """Put back every path the merge changed as `orig` has it, then the branch."""
    out = git.text("diff-tree", "-r", "-z", "--no-renames", "--name-only", orig, target)
    paths = [p for p in out.split("\0") if p]
    if paths:
        literal = git.with_env({"GIT_LITERAL_PATHSPECS": "1"})
        literal.run(
            "checkout", "--no-overlay", orig, "--pathspec-from-file=-", "--pathspec-file-nul",
            input="\0".join(paths).encode("utf-8", "surrogateescape"),
        )  # fmt: skip
    if move_ref:
        git.run("update-ref", "-m", "ralph: merge undone", f"refs/heads/{base}", orig, target)


def _pull_request(
    git: Git, base: str, branch: str, orig: str, tip: str, plan_rel: str, publish: Publisher | None
) -> MergeResult:
    if publish is None:
        raise UsageError("--merge pr needs the guard to review the push (no Publisher given)")
    _, conflicts = merge_tree(git, orig, tip)
    conflicts = [p for p in conflicts if p != plan_rel]
    if conflicts:
        return _kept(
            "conflict", f"conflict in {', '.join(conflicts[:3])}; not pushed", base, branch
        )
    pushed = f"refs/remotes/{publish.remote}/{branch}"
    if git.text("rev-parse", "--verify", "--quiet", pushed, check=False).strip() != tip:
        push = ["git", "push", publish.remote, branch]  # not again after an approval of gh
        stopped, _ = _guarded(publish, push, git.workspace, branch)
        if stopped is not None:
            return stopped
    title = publish.title or f"ralph: {branch}"
    pr = ["gh", "pr", "create", "--head", branch, "--base", base, "--title", title]
    pr += ["--body", publish.body or f"Work of the lane {branch}, made by ralph."]
    stopped, out = _guarded(publish, pr, git.workspace, branch)
    if stopped is not None:
        return stopped
    url = last_line(out)
    return MergeResult("pushed", _cut(f"pushed {branch}; pull request {url}"), branch, None)


def _guarded(
    publish: Publisher, argv: list[str], cwd: Path, branch: str
) -> tuple[MergeResult | None, str]:
    """Run one of ralph's own commands if the guard allows it: (None, output), or (the
    result that stops the merge: awaiting approval, refused, failed, None)."""
    from ralph.messages import ToolCall

    command = shlex.join(argv)
    verdict = publish.guard.review(ToolCall("merge", "run_command", {"command": command}, command))
    if verdict.stop is not None:
        raise verdict.stop
    if verdict.approval_id:
        why = f"awaiting approval {verdict.approval_id}: `{command}`; branch {branch} kept"
        result = MergeResult("awaiting_approval", _cut(why), branch, None, verdict.approval_id)
        return result, ""
    if not verdict.allowed:
        why = f"`{command}` was refused: {verdict.ruling.reason}; branch {branch} kept"
        return MergeResult("refused", _cut(why), branch, None), ""
    code, out = (publish.run or run_outside)(argv, cwd)
    if code:
        why = f"`{command}` exited {code}: {last_line(out)}; branch {branch} kept"
        return MergeResult("refused", _cut(why), branch, None), ""
    return None, out


def run_outside(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ralph's own `git push` or `gh` (no hooks; git's and ralph's env as `Git` has it)."""
    if argv[0] == "git":
        argv = ["git", "-c", "core.hooksPath=/dev/null", *argv[1:]]
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=Git(cwd).env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
        )
    except FileNotFoundError:
        return 127, f"{argv[0]} is not on PATH"
    except subprocess.TimeoutExpired:
        return 124, f"took over {GIT_TIMEOUT_S:g}s"
    out = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    return done.returncode, out


def _checked_out(git: Git, base: str) -> str:
    """The tip of `base`, which must be the branch checked out in the main checkout."""
    head = git.text("symbolic-ref", "--quiet", "HEAD", check=False).strip()
    if head != f"refs/heads/{base}":
        raise UsageError(
            f"{git.workspace} has {head.removeprefix('refs/heads/') or 'no branch'} checked "
            f"out, not {base}; check out {base} there first"
        )
    return _tip(git, base)


def _tip(git: Git, branch: str) -> str:
    done = git.run(
        "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False
    )
    if done.returncode:
        raise UsageError(f"no branch {branch!r} in {git.workspace}")
    return done.stdout.decode().strip()


def _is_ancestor(git: Git, commit: str, of: str) -> bool:
    return git.run("merge-base", "--is-ancestor", commit, of, check=False).returncode == 0


def _kept(outcome: str, why: str, base: str, branch: str) -> MergeResult:
    return MergeResult(
        outcome, _cut(f"{why}; {base} unchanged, branch {branch} kept"), branch, None
    )


def _cut(text: str) -> str:
    return one_line(text, DETAIL_CHARS)
