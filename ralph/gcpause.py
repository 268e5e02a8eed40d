"""Pausing the cycle collector while building many objects at once."""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Parsing makes many small objects and no cycles; the cycle collector would otherwise
    rescan them again and again (a third of the parse time of a big plan or run record)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
