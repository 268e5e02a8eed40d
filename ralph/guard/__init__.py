"""Whether a call may run: the gate (modes, approvals, the tty question), the approvals
store, policy loading and the decision, path classes and program knowledge."""

from typing import Literal

Mode = Literal["interactive", "unattended", "audit"]
"""interactive asks a person on the terminal; unattended queues an approval instead; audit
refuses everything that is not a read, with the decision it would have had."""
MODES: tuple[Mode, ...] = ("interactive", "unattended", "audit")
