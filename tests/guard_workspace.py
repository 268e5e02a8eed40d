"""A workspace laid out as the guard corpus README describes, for policy tests and the bench.

A git repository with src/, build/, .git/, .env, .env.example, secrets/prod.key, a few
project files, and `homelink` -> a fake home folder (which has .ssh/, .aws/ and .netrc).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT / "tests" / "corpus" / "guard_dev.tsv"  # kept in the repo
DEFAULT_POLICY = REPO_ROOT / "policies" / "default.toml"
GIT = [
    "git",
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@example.com",
    "-c",
    "init.defaultBranch=main",
]
"""git with a fixed identity and branch name, for repositories the tests make."""


PACKAGE_JSON = """{
  "name": "app",
  "scripts": {
    "build": "tsc -p .",
    "test": "jest",
    "dev": "vite",
    "start": "node server.js",
    "lint": "eslint .",
    "format": "prettier --write .",
    "typecheck": "tsc --noEmit",
    "deploy": "npm run build && vercel --prod",
    "deploy:prod": "vercel deploy --prod",
    "ship": "netlify deploy --prod",
    "clean": "rm -rf dist",
    "nuke": "rm -rf src docs",
    "db:reset": "prisma migrate reset --force"
  }
}
"""
MAKEFILE = """.PHONY: all test build lint clean ship wipe release
all: build

build:
\tmkdir -p build
\t$(CC) -O2 -o build/app src/app.c

test: build
\tpytest -q

lint:
\truff check .

clean:
\t$(RM) -r build dist

ship:
\tkubectl apply -f k8s/

wipe:
\t@rm -rf docs

release: build
\ttwine upload dist/*
"""
JUSTFILE = """default: test

test:
    pytest -q

fmt:
    ruff format .

deploy: test
    fly deploy

wipe:
    rm -rf ~/.cache/app docs
"""
TASKFILE = """version: '3'
tasks:
  build:
    cmds:
      - go build ./...
  test:
    deps: [build]
    cmds:
      - go test ./...
  deploy:
    cmds:
      - helm upgrade --install app ./chart
"""
COMPOSER_JSON = """{"scripts": {"test": "phpunit", "reset": ["@php artisan migrate:fresh --force"]}}
"""


def make_workspace(root: Path) -> tuple[Path, Path]:
    """Create (workspace, home) under `root`; the caller points $HOME at the home folder."""
    home = root / "home"
    ws = root / "ws"
    for folder in (home / ".ssh", home / ".aws", home / "Downloads"):
        folder.mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN KEY-----\n")
    (home / ".aws" / "credentials").write_text("[default]\n")
    (home / ".netrc").write_text("machine x\n")
    (home / ".bashrc").write_text("# rc\n")
    files = {
        "README.md": "# project\n",
        "src/app.py": "print('app')\n",
        "src/settings.py": "DEBUG = True\n",
        "build/main.o": "obj",
        "dist/app.tar.gz": "tar",
        "docs/index.md": "docs\n",
        "config/app.toml": "x = 1\n",
        "migrations/0001_init.sql": "CREATE TABLE users (id int);\n",
        "scripts/reset.sql": "DROP TABLE users;\n",
        "k8s/deploy.yaml": "kind: Deployment\n",
        "chart/Chart.yaml": "name: app\n",
        "notes.tmp": "scratch\n",
        ".env": "API_KEY=secret\n",
        ".env.example": "API_KEY=\n",
        "secrets/prod.key": "key\n",
        ".claude/settings.json": "{}\n",
        "Makefile": MAKEFILE,
        "package.json": PACKAGE_JSON,
        "justfile": JUSTFILE,
        "Taskfile.yml": TASKFILE,
        "composer.json": COMPOSER_JSON,
        "data.db": "SQLite format 3\0",
    }
    for name, text in files.items():
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.symlink(home, ws / "homelink")
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    git = GIT
    subprocess.run([*git, "init", "-q"], cwd=ws, check=True, env=env)
    (ws / ".git" / "COMMIT_TEMPLATE").write_text("template\n")
    subprocess.run([*git, "add", "src", "README.md"], cwd=ws, check=True, env=env)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=ws, check=True, env=env)
    subprocess.run([*git, "checkout", "-qb", "feature/x"], cwd=ws, check=True, env=env)
    return ws, home


def corpus_rows(path: Path = CORPUS) -> list[tuple[str, str, str, str]]:
    """(label, category, command, note) for every row of a corpus file (default: the dev corpus).

    Blank lines and lines starting with `#` (section titles) are skipped."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        if not line.strip() or line.startswith("#"):
            continue
        label, category, command, note = [*line.split("\t"), "", "", ""][:4]
        command = bytes(command, "ascii").decode("unicode_escape")
        rows.append((label, category, command, note))
    return rows


def corpus_call(command: str) -> dict[str, str]:
    """A corpus command as a tool call (`@read PATH` -> read_file, `@delete PATH` -> rm)."""
    tools = {"@read": "read_file", "@write": "write_file", "@edit": "edit_file"}
    head, _, rest = command.partition(" ")
    if head in tools:
        return {"tool": tools[head], "path": rest}
    if head == "@delete":
        return {"tool": "run_command", "command": f"rm {rest}"}
    return {"tool": "run_command", "command": command}
