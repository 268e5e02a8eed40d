"""Answer one pre-tool hook call with the project's policy, failing closed.

The host sends its tool call as JSON on stdin. It becomes ralph's own calls (a command,
a file read, write or deletion), judged with the policy of the project found from the
hook's `cwd`, as `ralph run` would find it. allow → allow; deny → deny with the rule and
reason; confirm → the host's "ask" where it has one and a person is there, else a deny
that names `ralph approvals approve ID` with a pending approval recorded, so the next
attempt of that exact call runs once after a person approves it. Anything going wrong
(bad input, a broken policy, an unknown tool, a crash, running out of time) blocks.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from ralph.hooks.hosts import Answer, Call, Host, block

DEADLINE_S = 20
"""The hook answers within this time or blocks (a host that times a hook out runs the tool)."""
MAX_INPUT_BYTES = 16 * 1024 * 1024


class _OutOfTime(Exception):
    pass


def answer(host: Host, raw: str, *, headless: bool = False, policy: Path | None = None) -> Answer:
    """The answer to one hook call. Never raises: every failure is the host's block."""
    previous = _arm_deadline()
    try:
        return _answer(host, raw, headless=headless, policy=policy)
    except _OutOfTime:
        return block(f"ralph: the guard did not decide within {DEADLINE_S}s; the call is blocked")
    except Exception as e:
        return block(
            f"ralph: the guard could not check this call ({type(e).__name__}: {e}); blocked"
        )
    finally:
        _disarm_deadline(previous)


def _answer(host: Host, raw: str, *, headless: bool, policy: Path | None) -> Answer:
    event = _event(raw)
    tool = event["tool_name"]
    calls = host.calls(tool, event.get("tool_input"))
    if calls is None:
        return block(f"ralph: unknown tool {tool!r}; ralph blocks what its policy cannot judge")
    if not calls:
        return host.answer("allow", "")
    from ralph.config import find_policy
    from ralph.guard.policy import load_policy_cached
    from ralph.workspace import find_workspace

    workspace = find_workspace(Path(event["cwd"]))
    policy_path = find_policy(workspace, policy)
    load_policy_cached(policy_path)  # a broken policy blocks with its FILE:LINE message
    if host.can_ask and not headless:
        return _ask_or_decide(host, calls, policy_path, workspace)
    return _queue_or_decide(host, calls, policy_path, workspace, tool, headless=headless)


def _event(raw: str) -> dict[str, Any]:
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES:
        raise ValueError("hook input over 16 MB")
    event = json.loads(raw)
    if not isinstance(event, dict) or not isinstance(event.get("tool_name"), str):
        raise ValueError("hook input is not a JSON object with a tool_name")
    cwd = event.get("cwd")
    if not isinstance(cwd, str) or not Path(cwd).is_absolute():
        raise ValueError("hook input has no absolute cwd")
    return event


def _ask_or_decide(host: Host, calls: list[Call], policy_path: Path, workspace: Path) -> Answer:
    """A person is at the host: confirm becomes the host's own question."""
    from ralph.guard.policy import check, load_policy_cached
    from ralph.messages import ToolCall
    from ralph.tools.specs import guard_call

    policy = load_policy_cached(policy_path)
    asks: list[str] = []
    for name, args in calls:
        d = check(guard_call(ToolCall("hook", name, args)), policy, workspace, "interactive")
        why = f"ralph policy, rule {d.rule or '(none)'}: {d.reason}"
        if d.decision == "deny":
            return host.answer("deny", why)
        if d.decision == "confirm":
            asks.append(why)
    return host.answer("ask", "; ".join(asks)) if asks else host.answer("allow", "")


def _queue_or_decide(
    host: Host, calls: list[Call], policy_path: Path, workspace: Path, tool: str, *, headless: bool
) -> Answer:
    """No one to ask: the gate in unattended mode (an approved exact call runs once)."""
    from ralph.guard.gate import Guard
    from ralph.messages import ToolCall

    guard = Guard(policy_path, workspace, "unattended", step=f"{host.name} hook: {tool}")
    pending: list[str] = []
    for name, args in calls:
        verdict = guard.review(ToolCall("hook", name, args), args)
        if verdict.allowed:
            continue
        if verdict.approval_id is None:
            return host.answer("deny", f"ralph: {verdict.message}")
        pending.append(verdict.approval_id)
    if not pending:
        return host.answer("allow", "")
    ids = " ".join(pending)
    reason = (
        f"ralph: this call needs a person's approval ({ids}); it did not run. A person can "
        f"approve it with `ralph approvals approve {pending[0]} --workspace {workspace}`; "
        "then the exact same call runs once."
    )
    return host.answer("defer" if headless and host.name == "claude" else "deny", reason)


def _arm_deadline() -> Any:
    def expire(signum: int, frame: Any) -> None:
        raise _OutOfTime

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread: no deadline
        return None
    signal.alarm(DEADLINE_S)
    return previous


def _disarm_deadline(previous: Any) -> None:
    if previous is not None:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
