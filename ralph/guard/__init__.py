"""Whether a call may run: the gate (modes, approvals, the tty question), the approvals
store, policy loading and the decision, path classes and program knowledge."""
