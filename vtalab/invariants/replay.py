"""Reading the trace for the invariants: folds over its events and replayed state.

The invariants judge a run from its trace, not from the components under test
(:mod:`vtalab.invariants`). This module holds what several of them share:

* :func:`folded` (and :func:`_fold`) -- an invariant (or a count) as a fold over the
  trace's events of some kinds: each event is fed to it once, as the trace grows, so
  checking after every rule of a state machine reads only the new events, and only the
  fold's state is kept (a streamed trace holds no events at all);
* :class:`_TrustState` -- what the TA cluster trusts *as the operator applied it*
  (``ta.object`` events), replayed event by event;
* the trusted hosts of a world, a verb name made canonical (aliases resolved) and the
  event kinds that take a host down or bring it up.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from vtalab.core.crypto import is_simulated, simulated
from vtalab.core.trace import Kinds
from vtalab.domain.attestation import Tpm2Settings
from vtalab.errors import InputError
from vtalab.world.registry import lookup

if TYPE_CHECKING:
    from vtalab.core.trace import TraceEvent
    from vtalab.world.assembly import World

__all__ = ["DOWN_KINDS", "UP_KINDS"]


class _Fold:
    """One computation over the trace, fed each event of its kinds once, in order.

    ``gen`` is a generator: it yields its result so far, and ``batch = yield result``
    receives the next events, a list in trace order, which it reads to the end before it
    yields again (``for e in (yield result): ...``). Checking an invariant after every rule
    of a state machine therefore costs the new events only, and nothing but the fold's
    own state is kept. Events wait in :attr:`pending` until the fold's result is asked
    for (or :data:`PENDING_LIMIT` of them wait): one resumption of the generator per
    batch, not one per event (judging a checker run feeds ~670 events to the folds).
    """

    __slots__ = ("gen", "kinds", "value", "pending")

    def __init__(self, gen: Generator[Any, list[TraceEvent], None],
                 kinds: tuple[str, ...]) -> None:
        self.gen = gen
        self.kinds = _kind_set(kinds)
        self.value = next(gen)
        #: events of its kinds not yet read (appended to by the subscription)
        self.pending: list[TraceEvent] = []

    def wants(self, kind: str) -> bool:
        return self.kinds.match(kind)

    def feed(self, e: TraceEvent) -> None:
        """Read ``e`` now (and anything pending before it)."""
        self.pending.append(e)
        self.catch_up()

    def catch_up(self) -> None:
        """Read the pending events (in the caller's crypto mode)."""
        pending = self.pending
        if pending:
            # emptied in place (the subscription holds its append) before the fold reads
            # the batch: an event recorded meanwhile waits for the next one
            batch = pending[:]
            pending.clear()
            self.value = self.gen.send(batch)


#: Events a fold may hold unread before every fold of the trace reads them (the bound on
#: memory of a long streamed run whose invariants are asked for rarely).
PENDING_LIMIT = 4096

#: A fold's kinds as a :class:`~vtalab.core.trace.Kinds`: the same few tuples for every
#: world, so remembered.
_kind_set = functools.lru_cache(maxsize=1024)(Kinds)


@functools.lru_cache(maxsize=1024)
def _readers(kinds: tuple[tuple[str, ...], ...], kind: str) -> tuple[int, ...]:
    """Which of the folds reading ``kinds`` (one tuple a fold) read events of ``kind``:
    the same answer for every world whose folds are the same, so remembered."""
    out = []
    for i, fold_kinds in enumerate(kinds):
        if _kind_set(fold_kinds).match(kind):
            out.append(i)
    return tuple(out)


class _Folds:
    """The folds of one trace, fed through one subscription to the kinds they read (an
    event of another kind is not even made for them; an event reaches only the folds
    that read its kind, as a pending event each reads when its result is asked for)."""

    def __init__(self, trace: Any, world: World) -> None:
        # _FOLDS holds this object strongly under a weak key, the trace: nothing here may
        # hold the world (which holds the trace) strongly, or no judged world would ever
        # be freed (every world a checker or campaign judged stayed in memory). The folds
        # see the world through a weak proxy; the world holds the trace, the trace its
        # listener (this object's feed): when the world goes, all of it goes together.
        self._world = weakref.ref(world)
        #: the world as the folds see it
        self.world: World = weakref.proxy(world)
        self.folds: dict[Any, _Fold] = {}  #: every fold of the trace, by key
        self.shared: list[_Fold] = []  #: those fed through the shared subscription
        #: kind -> the pending lists' appends of the shared folds reading it
        self.by_kind: dict[str, list[Callable[[TraceEvent], None]]] = {}
        self.waiting = 0  #: events handed to the shared folds since they last all read
        # Every fold made with @folded (and each that _starting makes for this world)
        # starts now, so that the trace so far is read once for all of them (an invariant
        # is rarely asked alone: a check asks them all).
        with self.crypto_mode():
            self.simulated = is_simulated()  #: whether the world's crypto is simulated
            made = [(key, kinds_, make) for key, (kinds_, make) in _REGISTERED.items()]
            made += [start(self.world) for start in _STARTING]
            #: each shared fold's kinds, in order (the key of :func:`_readers`)
            self.kinds = tuple(fold_kinds for _key, fold_kinds, _make in made)
            for key, fold_kinds, make in made:
                self.folds[key] = fold = _Fold(make(self.world), fold_kinds)
                self.shared.append(fold)
        trace.subscribe(self.feed, _all_kinds(self.kinds))

    def crypto_mode(self) -> Any:
        """The world's crypto (a fold may verify a token): entered whatever reads the
        trace (real crypto for a world without a crypto mode of its own)."""
        mode = getattr(self._world(), "crypto_mode", None)
        return simulated(False) if mode is None else mode()

    def feed(self, e: TraceEvent) -> None:
        appends = self.by_kind.get(e.kind)
        if appends is None:
            shared = self.shared
            appends = self.by_kind[e.kind] = [shared[i].pending.append
                                              for i in _readers(self.kinds, e.kind)]
        for append in appends:
            append(e)
        self.waiting += 1
        if self.waiting >= PENDING_LIMIT:
            if self._world() is None:  # a trace that outlived its world: nobody can ask
                for fold in self.shared:
                    fold.pending.clear()
                self.waiting = 0
            else:
                self.catch_up(self.shared)

    def catch_up(self, folds: Iterable[_Fold]) -> None:
        """``folds`` read their pending events, in the world's crypto mode."""
        if is_simulated() is self.simulated:  # already in the world's crypto (a check)
            for fold in folds:
                fold.catch_up()
        else:
            with self.crypto_mode():
                for fold in folds:
                    fold.catch_up()
        if folds is self.shared:
            self.waiting = 0

    def add(self, trace: Any, key: Any, fold: _Fold, kinds: tuple[str, ...]) -> None:
        """A fold not started with the others: it catches up on the trace so far, then
        hears of the next events of its kinds through a subscription of its own."""
        pending = fold.pending

        def feed(e: TraceEvent) -> None:
            pending.append(e)
            if len(pending) >= PENDING_LIMIT:
                if self._world() is None:  # (as in :meth:`feed`)
                    pending.clear()
                else:
                    self.catch_up((fold,))

        self.folds[key] = fold
        trace.subscribe(feed, kinds)


@functools.lru_cache(maxsize=64)
def _all_kinds(kinds: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    """Every kind some fold reads, sorted (what the shared subscription asks for)."""
    return tuple(sorted({k for fold_kinds in kinds for k in fold_kinds}))


_FOLDS: weakref.WeakKeyDictionary[Any, _Folds] = weakref.WeakKeyDictionary()
_Make = Callable[["World"], Generator[Any, list["TraceEvent"], None]]
#: the folds of :func:`folded`: key -> (kinds, make)
_REGISTERED: dict[Any, tuple[tuple[str, ...], _Make]] = {}
#: ``start(world) -> (key, kinds, make)``: folds whose key depends on the world (the
#: liveness fold with the world's own bound), started with those of :func:`folded`
_STARTING: list[Callable[[World], tuple[Any, tuple[str, ...], _Make]]] = []


def _fold(world: World, key: Any, kinds: tuple[str, ...], make: _Make) -> Any:
    """The result of fold ``key`` (made by ``make(world)``, reading ``kinds``; a trailing
    ``*`` matches a prefix) over the whole trace so far."""
    trace = world.kernel.trace
    folds = _FOLDS.get(trace)
    if folds is None:
        folds = _FOLDS[trace] = _Folds(trace, world)
    trace.deliver()
    fold = folds.folds.get(key)
    if fold is None:  # new: catch up on the events so far, then hear of the next ones
        with folds.crypto_mode():
            fold = _Fold(make(folds.world), kinds)
        folds.add(trace, key, fold, kinds)
    folds.catch_up((fold,))
    return fold.value


def folded(*kinds: str) -> Callable[[_Make], Callable[[World], Any]]:
    """Make ``fn(world)`` -- a generator folding events of ``kinds``, given in batches
    (see :class:`_Fold`) -- a function of the world that returns its result over the
    trace so far (a copy, if a list)."""

    def deco(fn: _Make) -> Callable[[World], Any]:
        def run(world: World) -> Any:
            value = _fold(world, fn, kinds, fn)
            return list(value) if isinstance(value, list) else value

        run.__name__, run.__doc__, run.__qualname__ = fn.__name__, fn.__doc__, fn.__qualname__
        _REGISTERED[fn] = (kinds, fn)
        return run

    return deco


def _trusted_hosts(world: World) -> dict[str, str]:
    """Trusted host name → its Trusted cluster."""
    return {h: c for c, cluster in world.trusted_clusters.items() for h in cluster.hosts}


def _canonical_verb(name: Any) -> str:

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
