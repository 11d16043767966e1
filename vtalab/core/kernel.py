"""The simulation kernel: a SimPy clock, seeded random streams and the trace.

Determinism is built in here, not bolted on:

* The clock is SimPy's, in **seconds** of simulated time. ``Kernel.utc()`` maps it onto a
  fixed calendar (``SIM_EPOCH``) for certificates and tokens; the wall clock is never read.
* Randomness comes from a **tree of named streams** derived from one seed:
  ``kernel.streams.child("trusted").rng("esx-01/boot")``. Each stream is seeded from
  SHA-256 of the seed and its path, so adding a component never shifts another
  component's numbers, and ``PYTHONHASHSEED`` plays no part.
* Every state change goes through ``Kernel.record`` into the trace, stamped with the
  simulated time and a sequence number. Logs (``attestd.log``, ``kmxa.log`` ...) are trace
  events of kind ``log`` so that they, too, replay byte for byte.
* Work is **bounded**: inside :meth:`Kernel.bounded` (one scenario run, one command of the
  training shell) at most ``MAX_EVENTS_PER_RUN`` SimPy events are processed
  (:mod:`vtalab.core.limits`); past it :class:`EventLimitExceeded` stops the run before the
  next event, the world left consistent at that simulated time. The count is of events,
  not of wall-clock time, so where a run stops is as deterministic as the run.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import random
import threading
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import URGENT

from vtalab.core.limits import MAX_EVENTS_PER_RUN
from vtalab.core.trace import Trace
from vtalab.errors import InputError

__all__ = ["GC_YOUNG_THRESHOLD", "SIM_EPOCH", "EventLimitExceeded", "Kernel", "RandomStreams",
           "format_time", "gc_nursery"]

#: Simulated time 0 on the calendar. Certificates and tokens are dated from here.
SIM_EPOCH = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
_SIM_EPOCH_SECONDS = int(SIM_EPOCH.timestamp())


def format_time(seconds: float) -> str:
    """``T+HH:MM:SS`` (or ``T+Dd HH:MM:SS``) for a simulated time, for timelines."""
    total_ms = int(round(seconds * 1000))  # round once, then carry into s/m/h/d
    whole, ms = divmod(total_ms, 1000)
    days, rem = divmod(whole, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    text = f"{h:02d}:{m:02d}:{s:02d}"
    if ms:
        text += f".{ms:03d}"
    return f"T+{days}d {text}" if days else f"T+{text}"


_sha256 = hashlib.sha256


class RandomStreams:
    """A node in the tree of named random streams."""

    def __init__(self, seed: int, path: str = "") -> None:
        self.seed = int(seed)
        self.path = path
        self._streams: dict[str, random.Random] = {}
        # What every stream's material starts with (see _material), encoded once: nonces
        # are drawn from one node thousands of times a simulated day.
        self._prefix = (f"vtalab-stream|{self.seed}|{path}/" if path
                        else f"vtalab-stream|{self.seed}|").encode()

    def _material(self, name: str) -> bytes:
        # SHA-256 of "vtalab-stream|<seed>|<path>/<name>" (of "...|<name>" at the root)
        return hashlib.sha256(self._prefix + name.encode()).digest()

    def child(self, name: str) -> RandomStreams:
        return RandomStreams(self.seed, f"{self.path}/{name}" if self.path else name)

    def rng(self, name: str) -> random.Random:
        """The stream called ``name`` under this node (the same object on every call)."""
        if name not in self._streams:
            self._streams[name] = random.Random(int.from_bytes(self._material(name), "big"))
        return self._streams[name]

    def bytes(self, name: str, n: int = 32) -> bytes:
        """``n`` fixed bytes for ``name``: the same on every call (for nonces, serials ...).

        Block ``i`` is SHA-256 of the name's material and ``i`` as 4 big-endian bytes; the
        blocks are concatenated and cut to ``n``."""
        if n <= 0:
            return b""
        if n == 32:  # one whole block: a nonce (_material inline, and no cut)
            return _sha256(_sha256(self._prefix + name.encode()).digest()
                           + b"\x00\x00\x00\x00").digest()
        material = self._material(name)
        if n < 32:  # one block, cut
            return hashlib.sha256(material + b"\x00\x00\x00\x00").digest()[:n]
        return b"".join([hashlib.sha256(material + i.to_bytes(4, "big")).digest()
                         for i in range((n + 31) // 32)])[:n]


class EventLimitExceeded(InputError):
    """A run reached ``MAX_EVENTS_PER_RUN`` events; the next one was not processed.

    ``now`` is the simulated time it stopped at. Whoever started the run knows what made it
    long (a ``settle``, an ``advance``, a period parameter) and re-raises it located.
    """

    def __init__(self, now: float, limit: int) -> None:
        self.now = now
        self.limit = limit
        super().__init__(f"stopped at {format_time(now)} of simulated time: vtalab "
                         f"processes at most {limit:,} simulation events in one run or one "
                         "command (MAX_EVENTS_PER_RUN)")


class _BoundedEnvironment(simpy.Environment):
    """SimPy's environment, counting the events it processes against a budget.

    ``stop_at`` is None (no budget: a served lab runs as long as its clock) or the count
    at which the next event is refused (:meth:`Kernel.bounded`). :meth:`run` counts in
    its own loop around SimPy's ``step``; a direct :meth:`step` (the training shell, a
    served lab) is counted one by one, the same way."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0
        self.stop_at: int | None = None
        self.limit = MAX_EVENTS_PER_RUN

    def step(self) -> None:
        if self.stop_at is not None and self.steps >= self.stop_at:
            raise EventLimitExceeded(float(self.now), self.limit)
        self.steps += 1
        _simpy_step(self)

    def run(self, until: Any = None) -> Any:
        """SimPy's ``run``, counting in the loop; stopped by the budget, it takes back the
        stop it scheduled at ``until`` (left behind, it would end a later run early, or
        escape a bare ``step``)."""
        if until is not None:
            if not isinstance(until, simpy.Event):
                at = until if isinstance(until, int) else float(until)
                if at <= self.now:
                    raise ValueError(f"until ({at}) must be greater than the current "
                                     "simulation time")
                until = simpy.Event(self)  # as SimPy makes it: before all regular timeouts
                until._ok = True
                until._value = None
                self.schedule(until, URGENT, at - self.now)
            elif until.callbacks is None:  # processed already
                return until.value
            until.callbacks.append(StopSimulation.callback)
        try:
            self._steps()
        except StopSimulation as exc:
            return exc.args[0]  # until's value
        except EmptySchedule:
            if until is not None:
                raise RuntimeError(f'No scheduled events left but "until" event was not '
                                   f"triggered: {until}") from None
        except EventLimitExceeded:
            callbacks = until.callbacks if until is not None else None
            if callbacks and StopSimulation.callback in callbacks:
                callbacks.remove(StopSimulation.callback)
            raise
        return None

    def _steps(self) -> None:
        """SimPy's ``step`` until it raises (``StopSimulation``, ``EmptySchedule``, a
        crashed event) or the budget is spent (:class:`EventLimitExceeded` before the
        next event). What :meth:`step` does each time, but counted by the loop itself: an
        overriding ``step`` costs a Python call per event (0.3 us, about a fifth of a bare
        SimPy timeout). An event that raises was processed, so it counts."""
        step = _simpy_step.__get__(self)
        done = 0
        try:
            if self.stop_at is None:
                for done in itertools.count(1):  # noqa: B007 (read in finally)
                    step()
            else:
                for done in range(1, self.stop_at - self.steps + 1):  # noqa: B007
                    step()
                raise EventLimitExceeded(float(self.now), self.limit)
        finally:
            self.steps += done


_simpy_step = simpy.Environment.step

#: The young-generation threshold of Python's cyclic garbage collector while a world runs
#: (:func:`gc_nursery`), in allocations of container objects; CPython's default is 700.
#: Why (the likely mechanism; the figures are measured): an object living a fixed
#: *simulated* time (an attestation in flight, a nonce, a token between its issue and its
#: check) lives for a number of *allocations* that grows with the hosts, because more
#: hosts do more work in the same simulated time.
#: With 700, such objects die young in a 1,000-host world but survive into the oldest
#: generation of a 10,000-host one; there they pile up as garbage that only full
#: collections reclaim, and every full collection walks the whole world. Measured (CPU s,
#: simulated crypto, streamed trace, 2 simulated hours, 10,000 hosts, the same run with
#: each threshold): at 700 the collector took 9.2 s of 50 s (13 full collections in the
#: run, 0.5 s each), at 20,000 3.2 s, at 100,000 1.1 s (no full collection in the run),
#: and the run fell from 46.4 to 37.6 s; at 1,000 hosts (3 h) it took 0.36 s of 5.2 s.
#: Peak memory was the same (612 MB): at most this many young objects wait for a
#: collection, and almost everything a world frees goes by reference counting (the
#: cycles it leaves are few). Only the young threshold changes; the collector still runs.
GC_YOUNG_THRESHOLD = 100_000

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_saved: tuple[int, ...] = ()


@contextlib.contextmanager
def gc_nursery() -> Iterator[None]:
    """Run with a young generation of :data:`GC_YOUNG_THRESHOLD` (never lowering one the
    process set higher, never switching on a collector switched off by a threshold of 0);
    the previous thresholds come back when the outermost exits (the setting is
    process-wide: several worlds running in threads share one count)."""
    global _gc_depth, _gc_saved
    with _gc_lock:
        if _gc_depth == 0:
            _gc_saved = gc.get_threshold()
            if 0 < _gc_saved[0] < GC_YOUNG_THRESHOLD:  # 0: collection switched off
                gc.set_threshold(GC_YOUNG_THRESHOLD, *_gc_saved[1:])
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0:
                gc.set_threshold(*_gc_saved)


class Kernel:
    """One simulated world's clock, random streams and trace."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.env = _BoundedEnvironment()
        self.streams = RandomStreams(self.seed)
        self.trace = Trace()
        #: ``timeout(delay, value=None)`` and ``process(generator)`` are the environment's
        #: own (bound here rather than wrapped: a wrapper is a second Python call on every
        #: timeout a world waits for, 0.2 us, about a seventh of the timeout itself).
        self.timeout: Callable[..., simpy.Timeout] = self.env.timeout
        self.process: Callable[[Generator[Any, Any, Any]], simpy.Process] = self.env.process
        self._nonce_counter = 0
        self._utc_cache: dict[float, datetime] = {}

    # -- time --------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return float(self.env.now)

    def utc(self, at: float | None = None) -> datetime:
        """The simulated calendar time (UTC) at simulated second ``at`` (default: now)."""
        t = self.env.now if at is None else at
        # Asked many times per instant (every attestation, log line and token, and for
        # the end of each token's validity): the last few answers are kept (datetimes are
        # immutable; 5 and 5.0 give the same one).
        cache = self._utc_cache
        value = cache.get(t)
        if value is None:
            value = SIM_EPOCH + timedelta(seconds=t)
            if len(cache) >= 8:
                cache.clear()
            cache[t] = value
        return value

    def epoch_seconds(self, at: float | None = None) -> int:
        """Unix time of the simulated instant (for JWT ``iat``/``exp``)."""
        t = self.env.now if at is None else at
        if (type(t) is int or (type(t) is float and t.is_integer())) and 0 <= t < 1e12:
            # whole seconds: exactly what the datetime below gives, without building it
            return _SIM_EPOCH_SECONDS + int(t)
        return int(self.utc(at).timestamp())

    @contextlib.contextmanager
    def bounded(self, events: int = MAX_EVENTS_PER_RUN) -> Iterator[None]:
        """At most ``events`` events are processed inside (one scenario run, one command of
        the training shell); past them :class:`EventLimitExceeded`. Nested, the outer
        budget holds."""
        env = self.env
        if env.stop_at is not None:
            yield
            return
        env.limit = events
        env.stop_at = env.steps + events
        try:
            yield
        finally:
            env.stop_at = None

    def run(self, until: float | None = None) -> None:
        """Advance the world to simulated time ``until`` (or until nothing is scheduled).

        Bounded only inside :meth:`bounded` (a served lab runs with its clock). The cyclic
        garbage collector runs with a larger young generation meanwhile (:func:`gc_nursery`)."""
        with gc_nursery():
            if until is None:
                self.env.run()
            elif until > self.env.now:
                self.env.run(until=until)

    def advance(self, seconds: float) -> None:
        self.run(self.now + seconds)

    # -- trace -------------------------------------------------------------------------
    def record(self, source: str, kind: str, **fields: Any) -> None:
        """Record one state change at the current simulated time."""
        self.trace._add(self.env.now, source, kind, fields)

    def log(self, host: str, log: str, message: str, level: str = "info",
            source: str | None = None) -> None:
        """Append a line to a simulated log file (``attestd.log`` ...) on ``host``."""
        # record(source, "log", host=..., ...) without its frame: two of these per attestation
        self.trace._add(self.env.now, source or f"{host}/{log}", "log",
                        {"host": host, "log": log, "level": level, "message": message})

    def log_lines(self, host: str, log: str, until: float | None = None) -> list[str]:
        """A simulated log as text lines, in the ESXi log style ``<ISO time> <level> msg``."""
        return [line for _, line in self.timed_log_lines(host, log, until)]

    def timed_log_lines(self, host: str, log: str,
                        until: float | None = None) -> list[tuple[float, str]]:
        """``log_lines`` with the simulated time each line was logged at."""
        lines = []
        for e in self.trace.select("log", prefix=False, host=host, log=log):
            if until is not None and e.time > until:
                break
            stamp = self.utc(e.time).strftime("%Y-%m-%dT%H:%M:%S.") + (
                f"{int(round((e.time % 1) * 1000)):03d}Z")
            daemon = log.split(".")[0]
            lines.append((e.time,
                          f"{stamp} {e.fields['level']:<7} {daemon}: {e.fields['message']}"))
        return lines

    # -- randomness ----------------------------------------------------------------------
    def nonce(self, purpose: str) -> bytes:
        """A fresh 32-byte nonce, deterministic in the seed and the order of requests."""
        self._nonce_counter += 1
        return self.streams.child("nonce").bytes(f"{purpose}#{self._nonce_counter}", 32)
