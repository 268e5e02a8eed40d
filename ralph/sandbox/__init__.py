"""Confining the agent's commands with bubblewrap: `probe` (can a sandbox be made here),
`Sandbox` (the bwrap command line for one workspace) and `confine` (a run's choice)."""

from ralph.sandbox.box import SETTINGS, Confinement, Grant, Sandbox, check_setting, confine
from ralph.sandbox.probe import Probe, probe

__all__ = [
    "SETTINGS",
    "Confinement",
    "Grant",
    "Probe",
    "Sandbox",
    "check_setting",
    "confine",
    "probe",
]
