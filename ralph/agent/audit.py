"""An audit's own folder: `.ralph/audits/<id>/` holds a copy of the audited task file
(`plan.md`, where ralph records progress) and the findings (`report.md`).

The audited tree is left exactly as it was, the tracked task file included: `git status`
is clean after an audit. Each `ralph audit` starts from a fresh copy; `--resume ID` goes
on with an earlier audit's copy.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from ralph.errors import UsageError, storage_error
from ralph.fsutil import atomic_write_bytes, atomic_write_text
from ralph.humanize import money
from ralph.redact import for_display
from ralph.workspace import audits_dir

PLAN_NAME = "plan.md"
REPORT_NAME = "report.md"
_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}$")


@dataclass(frozen=True)
class AuditFiles:
    """Where one audit keeps its copy of the plan and its report."""

    audit_id: str
    plan: Path
    report: Path


def start(workspace: Path, source: Path | None = None, goal: str | None = None) -> AuditFiles:
    """A new audit folder with a copy of `source` (or a one-step plan for `goal`)."""
    if source is not None:
        try:
            data = source.read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read {source}: {e.strerror or e}") from None
    else:
        data = f"# Audit\n\n- [ ] {' '.join((goal or '').split())}\n".encode()
    audit_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(2)
    files = _files(workspace, audit_id)
    files.plan.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(files.plan, data)
    return files


def resume(workspace: Path, audit_id: str) -> AuditFiles:
    """An earlier audit's folder, to go on where it stopped; UsageError if there is none."""
    files = _files(workspace, audit_id.strip())
    if not _ID.match(audit_id.strip()) or not files.plan.is_file():
        known = sorted(p.parent.name for p in audits_dir(workspace).glob(f"*/{PLAN_NAME}"))
        hint = f"; audits here: {', '.join(known[-5:])}" if known else ""
        raise UsageError(f"no audit {audit_id!r} in {audits_dir(workspace)}{hint}")
    return files


def _files(workspace: Path, audit_id: str) -> AuditFiles:
    folder = audits_dir(workspace) / audit_id
    return AuditFiles(audit_id, folder / PLAN_NAME, folder / REPORT_NAME)


def report_title(title: str) -> str:
    """The report's heading: `Audit: TITLE`, without saying "Audit" twice."""
    title = title.strip()
    return title if re.match(r"(?i)audit\b", title) else f"Audit: {title}"


def add_findings(
    report: Path, title: str, source: str, step: str, outcome: str, turns: int,
    cost: float | None, findings: str,
) -> None:  # fmt: skip
    """Append one step's findings to the report (created with a heading on first use),
    redacted, control characters escaped (line breaks kept)."""
    findings = for_display(findings, newline="\n")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = "" if report.exists() else f"# {report_title(title)}\n\nTask file: {source}\n"
    entry = f"\n## {step}\n\n_{outcome} · {when} · {turns} turns · {money(cost)}_\n\n{findings}\n"
    old = report.read_text(encoding="utf-8") if report.exists() else ""
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(report, old + head + entry)
    except OSError as e:
        raise storage_error(e, report, "the step's findings are not in the report") from None
