"""Invariants: the trust properties of a vTA estate, each defined once.

An **invariant** is a property a run of the lab must keep. Each one is registered here
with a kebab-case name, a one-sentence statement, its documentary source and a *kind*:

* ``safety`` — must hold at every instant (a key released without a token, a host
  reported attested on an untrusted image ...);
* ``final`` — must hold when the run ends (the TA cluster's objects agree);
* ``liveness`` — something good must eventually happen (every trusted host is attested
  again within a bound after the last disturbance);
* ``advice`` — a documented best practice: a warning with its reason, never a failure.

``check(world)`` reads a world **after** its run — its trace (``world.kernel.trace``) and
its queries — and returns a list of :class:`Violation`, each with the simulated time, the
object concerned and a detail in the operator's words. ``at_risk(world)`` counts how often
the run put the invariant at risk (key releases, base-image removals, running encrypted
VMs moved or stopped ...), so a checker can say "no violation" *and* "it was tried".

The same table serves ``invariant:`` expectations in scenarios (:mod:`vtalab.scenario.expect`),
the plan checker, the Hypothesis state machine of our own tests, the pytest plugin and
``docs/invariants.md``. Ground truth comes from the trace, not from the components under
test: a host's *measured* version from its boot events, the trusted base images and TPM
objects from the TA objects the operator applied (``ta.object`` events).

Liveness needs time: a run must go on for :data:`LIVENESS_SETTLE_SECONDS` (with default
parameters; :func:`liveness_bound` for others) after its last step, fault, heal or reboot,
or hosts not attested by the end are reported with the reason "the run stopped too early".

The registry and its public API live here; the invariants themselves are defined in
:mod:`vtalab.invariants.safety` (the safety ones) and :mod:`vtalab.invariants.progress`
(final, advice and liveness, with :func:`check_liveness`), on top of
:mod:`vtalab.invariants.replay` (reading the trace). They register themselves when this
package is imported -- Python initialises a package before any of its modules, so
``INVARIANTS`` is complete and in the same order however the package is first reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from vtalab.core.kernel import format_time
from vtalab.errors import InputError

if TYPE_CHECKING:
    from vtalab.world.assembly import World

__all__ = [
    "INVARIANTS",
    "KINDS",
    "LIVENESS_SETTLE_SECONDS",
    "Invariant",
    "Violation",
    "check_all",
    "check_liveness",
    "invariant",
    "invariants_markdown",
    "liveness_bound",
]

Kind = Literal["safety", "final", "liveness", "advice"]
KINDS: tuple[str, ...] = ("safety", "final", "liveness", "advice")

SEED = "seed: vTA administration page"
DOMAIN = "vta-domain.md"


@dataclass(frozen=True)
class Violation:
    """One breach of an invariant, in the operator's words."""

    invariant: str  #: registry name
    time: float  #: simulated time of the violation (end of run for final checks)
    subject: str  #: host / VM / base image / TA object concerned
    detail: str  #: what happened and why it breaks the invariant

    def __str__(self) -> str:
        return f"{format_time(self.time)} {self.subject}: {self.detail}"


@dataclass(frozen=True)
class Invariant:
    """One registered invariant (see the module docstring for the kinds)."""

    name: str
    statement: str
    source: str
    kind: Kind
    check: Callable[[World], list[Violation]]
    at_risk: Callable[[World], int]

    def __call__(self, world: World) -> list[Violation]:
        return self.check(world)


INVARIANTS: dict[str, Invariant] = {}


CheckFn = Callable[["World"], list[Violation]]


def invariant(name: str, *, statement: str, source: str, kind: Kind,
              at_risk: Callable[[World], int]) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated ``check(world) -> list[Violation]`` as invariant ``name``."""
    if kind not in KINDS:
        raise ValueError(f"invariant {name}: kind must be one of {', '.join(KINDS)}; got {kind!r}")

    def deco(fn: CheckFn) -> CheckFn:
        if name in INVARIANTS:
            raise RuntimeError(f"invariant {name} registered twice")
        INVARIANTS[name] = Invariant(name, statement, source, kind, fn, at_risk)
        return fn

    return deco


def check_all(world: World, names: Iterable[str] | None = None, *,
              include_advice: bool = False) -> list[Violation]:
    """Every violation of the named invariants, sorted by (time, invariant, subject).

    Without ``names``: every registered invariant except ``advice`` ones (unless
    ``include_advice``). Names given explicitly are all checked, advice included. An
    unknown name is an :class:`~vtalab.errors.InputError` naming the nearest one.
    """
    if names is None:
        chosen = [i for i in INVARIANTS.values() if include_advice or i.kind != "advice"]
    else:
        chosen = []
        for name in names:
            if name not in INVARIANTS:
                raise InputError(f"unknown invariant {name!r}", what="invariants", value=name,
                                 choices=list(INVARIANTS))
            chosen.append(INVARIANTS[name])
    out = [v for inv in chosen for v in inv.check(world)]
    return sorted(out, key=lambda v: (v.time, v.invariant, v.subject, v.detail))


# -- docs --------------------------------------------------------------------------------

def invariants_markdown() -> str:
    """``docs/invariants.md``: the registry as a reference (generated)."""
    lines = [
        "# Invariants",
        "",
        "Generated from `vtalab/invariants/` by `python tools/docgen.py`; do not edit by "
        "hand.",
        "",
        "Each invariant is defined once and used by `invariant:` expectations in scenarios, "
        "the plan checker, the pytest plugin (`vtalab_lab`) and our Hypothesis state machine. "
        "Kinds: **safety** must hold at every instant, **final** when the run ends, "
        "**liveness** within a bound after the last disturbance, **advice** is a warning "
        "that never fails a run.",
        "",
        f"Liveness needs the run to go on for `LIVENESS_SETTLE_SECONDS` = "
        f"{LIVENESS_SETTLE_SECONDS:g} s (default parameters: 2 × `failed_reattest_seconds` "
        "+ `full_boot_seconds`) after the last step, fault, heal or reboot.",
        "",
        "| invariant | kind | statement | source |",
        "|---|---|---|---|",
    ]
    for inv in INVARIANTS.values():
        lines.append(f"| `{inv.name}` | {inv.kind} | {inv.statement} | {inv.source} |")
    lines += ["", "Use one in a scenario:", "", "```yaml", "expect:",
              "  - invariant: no-base-image-removed-while-reported", "```", "",
              "or in Python: `vtalab.invariants.check_all(world)` returns every violation "
              "(sorted by time, invariant, subject).", ""]
    return "\n".join(lines)


# -- the definitions ---------------------------------------------------------------------
# Imported last: they register themselves with ``invariant`` above, so the order of these
# two imports is the order of ``INVARIANTS`` and of docs/invariants.md (safety first).

from vtalab.invariants import safety as safety  # noqa: E402

# isort: split
from vtalab.invariants.progress import (  # noqa: E402
    LIVENESS_SETTLE_SECONDS,
    check_liveness,
    liveness_bound,
)
