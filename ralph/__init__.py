"""ralph: drive a coding agent through a markdown plan, one step at a time."""

__version__ = "0.1.0"
