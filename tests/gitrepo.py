"""A git repository made by a test (in tmp_path, with the `git_home` fixture's fake HOME)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(cwd: Path, *args: str) -> str:
    """stdout of `git ARGS` in `cwd`; the test fails with git's message when git does."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def make_repo(path: Path, files: dict[str, str]) -> Path:
    """A repository at `path` on branch main with `files` in its first commit."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "base")
    return path
