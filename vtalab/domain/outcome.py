"""What an operation in the simulated world did: the value the world fails with.

A refused operation is ``Outcome(ok=False, error=<reason code>)``, never an exception;
verbs and faults (:mod:`vtalab.world.registry`) and the domain's own operations return it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome"]


@dataclass(frozen=True)
class Outcome:
    """What a verb or fault did. ``ok=False`` is a refusal by the simulated world."""

    ok: bool = True
    error: str | None = None  #: reason code when refused
    message: str = ""
    output: Any = None  #: value shown to the operator (tables, exported file names ...)
