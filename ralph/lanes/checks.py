"""What `ralph run --parallel` checks around its lanes: the checkout it starts from, the
trust a lane's worktree inherits, and the step's verify on the merged result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ralph.errors import UsageError
from ralph.git import Git

if TYPE_CHECKING:
    from ralph.agent.run import RunRequest
    from ralph.taskfile import Step

Verify = Callable[[Path], tuple[bool, str]]


def plan_in_repo(workspace: Path, task_path: Path) -> str:
    """The plan's path relative to the repository (the same in every lane's worktree)."""
    try:
        return task_path.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        raise UsageError(
            f"--parallel needs the plan inside the repository {workspace}; {task_path} is not"
        ) from None


def require_clean(workspace: Path, plan_rel: str) -> None:
    """UsageError (exit 2) when tracked files have changes that are not committed, the plan
    aside (ralph's notes): lanes start from the last commit and would miss them. Untracked
    and ignored files are fine (and never touched)."""
    out = Git(workspace).text("status", "--porcelain=v1", "-z", "--untracked-files=no")
    entries = iter(out.split("\0"))
    dirty = []
    for entry in entries:
        if len(entry) < 4:
            continue
        if entry[0] in "RC":
            next(entries, None)  # a rename's or copy's source path
        if entry[3:] != plan_rel:
            dirty.append(entry[3:])
    if dirty:
        more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
        raise UsageError(
            f"{workspace} has uncommitted changes ({dirty[0]}{more}): commit or stash them "
            "first; --parallel lanes start from the last commit (untracked files are fine)"
        )


def trust_like(workspace: Path, lane: Path) -> None:
    """Trust the lane's worktree when its guard settings are those a person trusted for the
    main checkout (the worktree is made from its last commit); otherwise leave it, and the
    lane refuses to start like any unattended run with untrusted settings."""
    from ralph import trust

    if not trust.changes(lane) or trust.changes(workspace):
        return

    def shape(items: dict[str, str], root: Path) -> dict[str, str]:
        return {k: v.replace(str(root.resolve()), "<workspace>") for k, v in items.items()}

    if shape(trust.fingerprint(lane), lane) == shape(trust.fingerprint(workspace), workspace):
        trust.trust(lane)


def verifier(req: RunRequest, record: Callable[..., None]) -> Callable[[Step], Verify | None]:
    """For a step: its verify, run again through the guard (unattended) and the sandbox in
    the checkout given (the merged result), or None when the step has no verify."""
    from ralph.agent.run import step_verify
    from ralph.agent.session import verify_command
    from ralph.guard.gate import Guard
    from ralph.sandbox.setup import for_run
    from ralph.tools import Toolbox

    made: dict[str, Any] = {}

    def for_step(step: Step) -> Verify | None:
        command = step_verify(step)
        if command is None:
            return None

        def verify(workspace: Path) -> tuple[bool, str]:
            if "confinement" not in made:
                cfg = req.config
                made["confinement"] = for_run(
                    cfg, "unattended", workspace, req.policy_path, req.task_path
                )
            confinement = made["confinement"]
            if confinement is not None and confinement.sandbox is not None:
                confinement.sandbox.rescan()  # the merge changed the files
            guard = Guard(
                req.policy_path,
                workspace,
                "unattended",
                step=step.text,
                log=lambda event: record("decision", **event),
            )
            toolbox = Toolbox(
                workspace, default_timeout_s=req.config.command_timeout, confinement=confinement
            )
            ok, detail, _ = verify_command(guard, toolbox, command)
            record("verify", command=command, ok=ok, output=detail, merged=True)
            return ok, detail

        return verify

    return for_step


def require_parallel_ok(workspace: Path, task_path: Path) -> None:
    """--parallel needs the plan in a git repository (the workspace its top folder) with a
    branch and a commit checked out, and a clean checkout (ralph's plan notes aside):
    UsageError (exit 2) otherwise."""
    from ralph.checkpoint import preflight

    rel = plan_in_repo(workspace, task_path)
    preflight(workspace, "--parallel")  # a repository, no merge or rebase, an identity
    git = Git(workspace)
    top = Path(git.text("rev-parse", "--show-toplevel").strip())
    if top.resolve() != workspace.resolve():
        raise UsageError(
            f"--parallel needs the repository's top folder as the workspace ({top}), "
            f"not {workspace}"
        )
    if not git.text("symbolic-ref", "--quiet", "HEAD", check=False).strip():
        raise UsageError(
            f"{workspace} has no branch checked out; --parallel merges its lanes into the "
            "checked-out branch: check one out first"
        )
    if git.run("rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode:
        raise UsageError(f"{workspace} has no commit yet; --parallel lanes start from one")
    require_clean(workspace, rel)
