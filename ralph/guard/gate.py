"""The guard: the gate every tool call passes before it runs.

For each call it loads the policy from disk (cached by size, mtime and hash), asks the pure
`policy.check` for a decision, and applies the mode: `allow` runs; `deny` is refused with the
rule and reason; `confirm` runs an approved exact call once, else asks the person on
/dev/tty (interactive) or refuses it and records a pending approval (unattended); audit runs
reads only. Anything going wrong inside the guard refuses the call (fail closed); a broken
policy also sets `Verdict.stop`, so the loop stops the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ralph.config import find_policy as find_policy  # re-exported: callers import it here
from ralph.config import shipped_policy as shipped_policy
from ralph.errors import PolicyError, StorageError, UsageError
from ralph.guard import MODES, Mode
from ralph.guard.approvals import ApprovalStore, describe_call
from ralph.messages import ToolCall
from ralph.redact import escape_controls as printable
from ralph.tools import ToolError, approval_call, check_arguments, guard_call

if TYPE_CHECKING:
    from ralph.guard.policy import Decision

Prompt = Callable[[str], "str | None"]
"""Shows the question to a person and returns the answer; None when there is no terminal."""

_NOT_AGAIN = (
    "Do not retry it or work around it; continue with other work for this step if you can, "
    'or call finish_step with outcome "blocked" and say why.'
)


@dataclass(frozen=True)
class Verdict:
    """The guard's answer for one call: whether it runs, why, and what happens next."""

    allowed: bool
    message: str
    """For a refused call: the tool result the model gets."""
    ruling: Decision
    """The policy's decision (or the guard's own deny) that this verdict applied."""
    outcome: str = "allowed"
    """What the gate did: allowed, denied, pending, approval-used, approved-once, ..."""
    approval: str | None = None
    """The approval the call used, was refused by, or waits for (as the record shows it)."""
    stop: PolicyError | StorageError | None = None
    """Set when the policy cannot be loaded, or an approval or the record cannot be
    written: the run must stop."""

    @property
    def approval_id(self) -> str | None:
        """The approval the call waits for, when it waits for a person; else None."""
        return self.approval if self.outcome == "pending" else None


class Guard:
    """Reviews tool calls against the policy file at `policy_path` in one mode."""

    def __init__(
        self,
        policy_path: Path,
        workspace: Path,
        mode: Mode,
        *,
        step: str | None = None,
        prompt: Prompt | None = None,
        log: Callable[[dict[str, Any]], None] | None = None,
        checker: Callable[..., Decision] | None = None,
        loader: Callable[[Path], Any] | None = None,
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
        self.policy_path = Path(policy_path)
        self.workspace = Path(workspace)
        self.mode: Mode = mode
        self.step = step
        self.prompt: Prompt = prompt or tty_prompt
        self.log = log
        self.approvals = ApprovalStore(self.workspace)
        self._checker = checker
        self._loader = loader

    def review(self, call: ToolCall, args: dict[str, Any] | None = None) -> Verdict:
        """Decide one call. Never raises (but KeyboardInterrupt at a prompt passes through).
        `args` are the call's arguments already checked by `check_arguments` (else checked here)."""
        try:
            verdict = self._review(call, args)
        except Exception as e:
            verdict = _failed(e, stop=e if isinstance(e, (PolicyError, StorageError)) else None)
        try:
            if self.log is not None:
                self.log(_event(call, self.mode, verdict))
        except Exception as e:
            verdict = _failed(e, stop=e if isinstance(e, StorageError) else None)
        return verdict

    def _review(self, call: ToolCall, args: dict[str, Any] | None) -> Verdict:
        policy = self._load(self.policy_path)
        if args is None:
            try:
                check_arguments(call)  # a call that cannot run is never queued for a person
            except ToolError as e:
                decision = _own_decision("guard:bad-call", str(e), getattr(policy, "sha256", ""))
                return Verdict(False, f"Error: {e}", decision, "bad-call")
        decision = self._check(guard_call(call), policy, self.workspace, self.mode)
        if self.mode == "audit" and decision.decision != "allow":
            # The policy decides what audit mode forbids (all but reads: policy.decide); the
            # gate's part is the mode: nobody is asked, so a confirm is refused too.
            return Verdict(False, _audit_text(decision), decision, "audit-refused")
        if decision.decision == "allow":
            return Verdict(True, "", decision, "allowed")
        if decision.decision != "confirm":
            return Verdict(False, _denied_text(decision), decision, "denied")
        return self._confirm(approval_call(call), decision)

    def _confirm(self, exact: dict[str, Any], decision: Decision) -> Verdict:
        """An approval runs the call only if the fresh check resolves to the same rule and
        targets the person saw; otherwise it is a new question (or pending approval)."""
        approved = self.approvals.find(exact, "approved")
        targets = self.approvals.targets(decision.paths)
        bound = next((a for a in approved if a.binds(decision.rule, targets)), None)
        if bound is not None:
            self.approvals.mark_used(bound.id)
            return Verdict(True, "", decision, "approval-used", bound.id)
        if self.mode == "interactive":
            answer = self.prompt(_question(exact, decision, self.step))
            if answer is not None:
                return self._answered(answer, exact, decision)
        rejected = self.approvals.find(exact, "rejected")
        if rejected:
            text = f"Refused: a person rejected this exact call (approval {rejected[0].id}). "
            return Verdict(False, text + _NOT_AGAIN, decision, "rejected-earlier", rejected[0].id)
        pending = self.approvals.add_pending(
            exact, decision.rule, decision.reason, self.step, decision.paths
        )
        text = _pending_text(decision, pending.id)
        if approved:  # approved for other targets (a folder swapped for a link) or rule
            text = (
                f"Approval {approved[0].id} was given for this call when it resolved to other "
                "targets or another rule; it does not apply now. " + text
            )
        return Verdict(False, text, decision, "pending", pending.id)

    def _answered(self, answer: str, exact: dict[str, Any], decision: Decision) -> Verdict:
        answer = answer.strip().lower()
        if answer in ("y", "yes"):
            return Verdict(True, "", decision, "approved-once")
        if answer in ("a", "always"):
            kept = self.approvals.add_always(
                exact, decision.rule, decision.reason, self.step, decision.paths
            )
            return Verdict(True, "", decision, "approved-always", kept.id)
        text = f"Refused: the person at the terminal said no ({_why(decision)}). {_NOT_AGAIN}"
        return Verdict(False, text, decision, "declined")

    def _load(self, path: Path) -> Any:
        if self._loader is None:
            from ralph.guard.policy import load_policy_cached

            self._loader = load_policy_cached
        return self._loader(path)

    def _check(self, call: dict[str, Any], policy: Any, workspace: Path, mode: Mode) -> Decision:
        if self._checker is None:
            from ralph.guard.policy import check

            self._checker = check
        return self._checker(call, policy, workspace, mode)


def tty_prompt(text: str, timeout: float | None = None, device: str = "/dev/tty") -> str | None:
    """Ask on the terminal itself (never stdin, which the agent's world may feed).

    None when there is no terminal, or when nobody answers within `timeout` seconds: the
    call is then treated as unattended (refused and queued for approval)."""
    import select

    try:
        # Unbuffered bytes: a text-mode "r+" stream on a terminal fails (it is not seekable).
        tty = open(device, "rb+", buffering=0)  # noqa: SIM115
    except OSError:
        return None
    with tty:
        tty.write(text.encode("utf-8", errors="replace"))
        if timeout is not None and not select.select([tty], [], [], timeout)[0]:
            tty.write(b"\nralph: no answer in time; the call waits for approval instead\n")
            return None
        return tty.readline().decode("utf-8", errors="replace")  # "" at EOF: the default, no


def _question(exact: dict[str, Any], decision: Decision, step: str | None) -> str:
    indent = "\n            "
    lines = ["", "ralph: this call needs your confirmation"]
    if step:
        lines.append(f"  step:     {printable(step)}")
    lines.append(f"  call:     {describe_call(exact, indent)}")
    lines += [f"  runs:     {printable(c, indent)}" for c in decision.commands]
    lines += [f"  path:     {printable(p)}" for p in decision.paths]
    lines.append(f"  rule:     {decision.rule or '(none)'}: {printable(decision.reason)}")
    lines.append("Allow? [y]es once / [N]o / [a]lways this exact call: ")
    return "\n".join(lines)


def _why(decision: Decision) -> str:
    return f"rule {decision.rule or '(none)'}: {decision.reason}"


def _denied_text(decision: Decision) -> str:
    return f"Refused by ralph's policy ({_why(decision)}). This call will not run. {_NOT_AGAIN}"


def _pending_text(decision: Decision, approval_id: str) -> str:
    return (
        f"Refused for now: this call needs a person's approval ({_why(decision)}). It did not "
        f"run; it is recorded as pending approval {approval_id}, and a person must approve it "
        "before it can run. Do not retry it in this step; continue with other work if you can, "
        f'or call finish_step with outcome "blocked" and mention approval {approval_id}.'
    )


def _audit_text(decision: Decision) -> str:
    why = (
        decision.reason if decision.decision == "deny" else f"{decision.decision}: {_why(decision)}"
    )
    return (
        f"Refused: ralph is running in audit mode, where only reads run ({why}). Do not retry "
        "it; report what you would change instead."
    )


def _failed(error: Exception, stop: PolicyError | None = None) -> Verdict:
    reason = f"{type(error).__name__}: {error}"
    text = f"Refused: ralph's guard could not check this call ({reason}); it did not run."
    return Verdict(False, text, _own_decision("guard:error", reason), "error", stop=stop)


def _own_decision(rule: str, reason: str, policy_sha256: str = "") -> Any:
    """A deny decided by the guard itself, not the policy."""
    fields = {"decision": "deny", "rule": rule, "reason": reason, "commands": (), "paths": ()}
    fields |= {"policy_sha256": policy_sha256, "effect": "exec"}
    try:
        from ralph.guard.policy import Decision

        return Decision(**fields)
    except Exception:  # even without a policy module, refuse rather than raise
        return SimpleNamespace(**fields)


def _event(call: ToolCall, mode: str, verdict: Verdict) -> dict[str, Any]:
    d = verdict.ruling
    return {
        "tool": call.name,
        "call_id": call.id,
        "mode": mode,
        "decision": d.decision,
        "outcome": verdict.outcome,
        "allowed": verdict.allowed,
        "rule": d.rule,
        "reason": d.reason,
        "effect": d.effect,
        "policy_sha256": d.policy_sha256,
        "approval_id": verdict.approval,
    }
