"""A run's confinement from its settings: what the sandbox protects comes from the policy in
use, the task file and ralph's config files."""

from __future__ import annotations

from pathlib import Path

from ralph.config import Config, config_files
from ralph.sandbox.box import Confinement, confine


def for_run(
    config: Config, mode: str, workspace: Path, policy_path: Path, task_path: Path | None = None
) -> Confinement:
    """The confinement of one run (UsageError for a bad setting, or `required` without a
    sandbox). The policy's `[paths]` globs add secret and protected places."""
    from ralph.guard.policy import load_policy_cached

    extra = load_policy_cached(policy_path).extra_paths
    protect = [policy_path, *config_files(workspace)]
    if task_path is not None:
        protect.append(task_path)
    return confine(
        config.sandbox, mode, workspace, protect=protect, extra=extra, git=config.sandbox_git
    )
