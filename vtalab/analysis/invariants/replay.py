"""Reading the trace for the invariants: an incremental index and replayed state.

The invariants judge a run from its trace, not from the components under test
(:mod:`vtalab.analysis.invariants`). This module holds what several of them share:

* :func:`_events` -- the trace's events of some kinds, in trace order, from an index
  extended incrementally as the trace grows (invariants are checked after every rule of
  a state machine, so each check reads only the new events);
* :class:`_TrustState` -- what the TA cluster trusts *as the operator applied it*
  (``ta.object`` events), replayed event by event;
* the trusted hosts of a world, a verb name made canonical (aliases resolved) and the
  event kinds that take a host down or bring it up.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from vtalab.errors import InputError

if TYPE_CHECKING:
    from vtalab.core.trace import TraceEvent
    from vtalab.world.assembly import World

__all__ = ["DOWN_KINDS", "UP_KINDS"]


class _Index:
    """The trace's events grouped by kind, kept up to date as the trace grows.

    Invariants are checked after every rule of a state machine; the index hears of each
    new event once (:meth:`~vtalab.core.trace.Trace.subscribe`) instead of every check
    reading the whole trace again, and it works on a streamed trace too.
    """

    def __init__(self, trace: Any) -> None:
        self.by_kind: dict[str, list[TraceEvent]] = {}
        trace.subscribe(self.add)

    def add(self, e: TraceEvent) -> None:
        events = self.by_kind.get(e.kind)
        if events is None:
            events = self.by_kind[e.kind] = []
        events.append(e)


_INDEXES: weakref.WeakKeyDictionary[Any, _Index] = weakref.WeakKeyDictionary()


def _events(world: World, *kinds: str) -> Iterator[TraceEvent]:
    """Trace events whose kind is one of ``kinds`` (a trailing ``*`` matches a prefix),
    in trace order."""
    trace = world.kernel.trace
    index = _INDEXES.get(trace)
    if index is None:
        index = _INDEXES[trace] = _Index(trace)
    trace.deliver()
    exact = {k for k in kinds if not k.endswith("*")}
    prefixes = tuple(k[:-1] for k in kinds if k.endswith("*"))
    lists = [events for kind, events in index.by_kind.items()
             if kind in exact or (prefixes and kind.startswith(prefixes))]
    if len(lists) == 1:
        return iter(list(lists[0]))
    return heapq.merge(*[list(x) for x in lists], key=lambda e: e.seq)


def _trusted_hosts(world: World) -> dict[str, str]:
    """Trusted host name → its Trusted cluster."""
    return {h: c for c, cluster in world.trusted_clusters.items() for h in cluster.hosts}


def _canonical_verb(name: Any) -> str:
    from vtalab.world.registry import lookup

    try:
        return lookup(str(name)).name
    except InputError:
        return str(name)


DOWN_KINDS = ("host.shutdown", "host.power.lost", "host.power.off")
UP_KINDS = ("host.initial", "host.boot.complete")


class _TrustState:
    """What the TA cluster trusts, as the operator applied it (``ta.object`` events).

    The *declared* state: an object counts from the moment a ``New-*`` cmdlet applied it
    to at least one TA host. A TA host that missed the change (down, re-added) and still
    attests with its stale copy is exactly what the invariants must catch.
    """

    def __init__(self) -> None:
        from vtalab.domain.attestation import Tpm2Settings

        defaults = Tpm2Settings()
        self.base_images: set[str] = set()
        self.tpm_cas: set[str] = set()
        self.endorsement_keys: set[str] = set()
        self.require_certificate_validation = defaults.require_certificate_validation
        self.require_endorsement_keys = defaults.require_endorsement_keys

    def apply(self, f: Any) -> None:
        if "base_images" in f:  # a restored backup replaces everything
            self.base_images = set(f["base_images"])
            self.tpm_cas = set(f.get("tpm_cas") or ())
            self.endorsement_keys = set(f.get("endorsement_keys") or ())
        if f.get("base_image") is not None:
            if f.get("change") == "remove":
                self.base_images.discard(f["base_image"])
            else:
                self.base_images.add(f["base_image"])
        if f.get("tpm_ca") is not None:
            self.tpm_cas.add(f["tpm_ca"])
        if f.get("endorsement_key") is not None:
            self.endorsement_keys.add(f["endorsement_key"])
        if f.get("require_certificate_validation") is not None:
            self.require_certificate_validation = bool(f["require_certificate_validation"])
        if f.get("require_endorsement_keys") is not None:
            self.require_endorsement_keys = bool(f["require_endorsement_keys"])

    def tpm_problem(self, ek: str | None, issuer: str | None) -> str | None:
        """Why a TPM with EK fingerprint ``ek`` and EK certificate ``issuer`` is untrusted."""
        if self.require_certificate_validation:
            if issuer is None:
                return "its TPM has no EK certificate and certificate validation is required"
            if issuer not in self.tpm_cas:
                return (f"its EK certificate is issued by {issuer}, which is not an imported "
                        "TPM CA certificate")
        if self.require_endorsement_keys and ek not in self.endorsement_keys:
            return f"its endorsement key {str(ek)[:16]}… is not a registered endorsement key"
        return None
