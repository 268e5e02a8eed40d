"""What a shell string would execute, read with tree-sitter-bash.

This package imports nothing else from ralph: it only knows bash. `analyze(source)`
returns every command the string would run (in lists, pipelines, substitutions, loops,
functions, here-docs, and the shells and wrappers it unwraps), or says why it cannot
tell, in which case the guard asks a person.
"""

from ralph.bash.model import Analysis, Command, Redirect
from ralph.bash.options import split_flags
from ralph.bash.walker import analyze

__all__ = ["Analysis", "Command", "Redirect", "analyze", "split_flags"]
