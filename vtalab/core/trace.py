"""The trace: every state change of a simulated world, in order.

A trace event is ``(time, seq, source, kind, fields)``: the simulated time in seconds, a
sequence number that orders events at the same instant, the component path that made
the change (``trusted/esx-01/tpm``), a dotted kind from a fixed vocabulary
(``host.boot.full``, ``tpm.reset`` ...) and JSON-able fields.

Anything written to a trace is API. Each event serialises to one canonical JSON line
(sorted keys, no spaces, bytes as lowercase hex), so the SHA-256 digest of the JSON Lines
file identifies a run: same scenario and seed, same digest, in any process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import compress
from json.encoder import c_make_encoder  # type: ignore[attr-defined]
from json.encoder import encode_basestring_ascii as _json_str
from operator import itemgetter
from typing import Any, TextIO

from vtalab.core.files import write_atomic
from vtalab.core.frozen import maker

__all__ = ["Kinds", "Trace", "TraceEvent", "canonical", "jsonable"]


#: Exact types ``jsonable`` returns unchanged (checked inline to save a call per value).
_PLAIN = frozenset({str, int, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Convert ``value`` into plain JSON types, deterministically.

    bytes become hex, tuples become lists, mappings get string keys, enums their value.
    Sets are refused: their order could reach the trace.
    """
    kind = type(value)
    # Fast paths for the exact built-in types nearly every trace field has (subclasses,
    # such as str- or int-valued enums, take the general path below, unchanged).
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(k): v if type(v) in _PLAIN else jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # Integral floats print as ints so 10 and 10.0 give the same bytes; rounding first
        # makes this idempotent (2.9999996 -> 3, not 3.0), so clean values stay clean.
        rounded = round(value, 6)
        return int(rounded) if rounded.is_integer() else rounded
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "value") and hasattr(type(value), "__members__"):  # Enum
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        raise TypeError("sets have no stable order; sort them before tracing")
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"))
    raise TypeError(f"cannot put {type(value).__name__} into a trace")


#: A raw record's kind (``Trace._raw`` holds ``(time, source, kind, fields)``).
_KIND = itemgetter(2)

#: The constant pieces of an event's line around its kind and its source, by name
#: (``,"kind":"tpm.reset","seq":`` and ``,"src":"trusted/esx-01/tpm","t":``): kinds are a
#: fixed vocabulary, sources one per component of a world.
_KINDS: dict[str, str] = {}
_SOURCES: dict[str, str] = {}

#: Between the fields of two events when a batch is encoded in one call (``Trace._lines``):
#: NaN encodes as the bare word ``NaN``, so ``,NaN,`` can only come from a NaN between two
#: other items of a list, which trace fields practically never hold (and if they do, the
#: batch is encoded event by event).
_MARK = float("nan")
_MARK_TEXT = ",NaN,"

#: Integers of smaller magnitude survive ``float()`` exactly, so such a time prints as itself.
_EXACT = 1 << 53


def _time(time: Any) -> int | float:
    """A trace time as ``jsonable(float(time))`` makes it (integral seconds as ints)."""
    rounded = round(float(time), 6)
    return int(rounded) if rounded.is_integer() else rounded


#: The canonical encoder, built once: ``json.dumps`` with these options builds a new
#: encoder on every call, which is a measurable share of a trace append.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _not_json(value: Any) -> Any:
    raise TypeError(f"cannot put {type(value).__name__} into a trace")


#: The C encoder behind ``_CANONICAL``, called directly: ``JSONEncoder.encode`` builds one
#: per call, which costs more than encoding a small event. Same options, no cycle check
#: (trace fields are trees: ``jsonable`` made them).
_ENCODE = c_make_encoder(None, _not_json, _json_str, None, ":", ",", True, False, True)


def canonical(obj: Any) -> str:
    """One canonical JSON text for ``obj`` (sorted keys, compact, ASCII-safe)."""
    return _CANONICAL.encode(jsonable(obj))


class Kinds:
    """A set of event kinds: exact names, and prefixes written with a trailing ``*`` (what
    :meth:`Trace.subscribe` takes; the invariants' folds name the kinds they read so)."""

    __slots__ = ("exact", "prefixes")

    def __init__(self, kinds: Iterable[str]) -> None:
        kinds = tuple(kinds)
        self.exact = frozenset(k for k in kinds if not k.endswith("*"))
        self.prefixes = tuple(k[:-1] for k in kinds if k.endswith("*"))

    def match(self, kind: str) -> bool:
        return kind in self.exact or bool(self.prefixes and kind.startswith(self.prefixes))


@dataclass(frozen=True, slots=True)
class TraceEvent:
    time: float
    seq: int
    source: str
    kind: str
    fields: Mapping[str, Any]

    def to_json(self) -> str:
        # Events are built from jsonable() values (Trace.append), so no second pass.
        return "".join(_ENCODE({"t": self.time, "seq": self.seq, "src": self.source,
                                "kind": self.kind, "f": self.fields}, 0))

    @classmethod
    def from_json(cls, line: str) -> TraceEvent:
        d = json.loads(line)
        return cls(time=d["t"], seq=d["seq"], source=d["src"], kind=d["kind"], fields=d["f"])

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


# ``TraceEvent(time, seq, source, kind, fields)`` for the trace's own loops, made by setting
# the five slots (vtalab.core.frozen.maker: ~0.3 us an event less; a checker run makes
# ~250-670 events for its invariants). tests/test_trace_lean.py compares the two.
_event = maker(TraceEvent)


class Trace:
    """An append-only sequence of trace events with a digest.

    Appending is cheap: the raw ``(time, source, kind, fields)`` goes onto a list. Field
    values other than ``str``/``int``/``bool``/``None`` are made JSON-safe at once (which
    also copies containers, so a caller changing one later cannot change the trace); the
    rest waits. :class:`TraceEvent` objects are made when the trace is read -- all of them
    for iterating or indexing, only the matching ones for :meth:`select` and only those of
    the kinds a listener asked for (:meth:`subscribe`) -- and the canonical encoding and
    hashing happen in batches when the digest or the JSON Lines are asked for -- byte for
    byte what encoding each event as it came would give.

    A trace either keeps its events in memory (the default) or, after
    :meth:`stream_to`, writes their JSON Lines to a file every :data:`BATCH` events and
    keeps none: iterating such a trace reads the file back, and whoever needs an index
    of it keeps one through :meth:`subscribe`. Memory then stays bounded by the batch.
    """

    #: Appends a streamed trace holds before it encodes and writes them (and the chunk
    #: a kept trace encodes at a time). Small, so that the events' fields are still in
    #: the CPU's caches when they are encoded: at 10,000 hosts, where a batch's events
    #: are made across hundreds of hosts' objects, 4,096 cost 6.1 us an event to encode
    #: and write and 256 cost 3.2-4.1 (an hour of the 10,000-host world 2.8 -> 2.2-2.4
    #: s); 64 and 128 were no better than 256.
    BATCH = 256

    def __init__(self) -> None:
        self._raw: list[tuple[Any, str, str, dict[str, Any]]] = []  #: not yet encoded
        self._base = 0  #: sequence number of ``_raw[0]`` (events streamed before it)
        self._events: list[TraceEvent] = []  #: kept events, made from ``_raw`` on reading
        self._hashed = 0  #: events (from the start) whose lines are in the digest
        self._hash = hashlib.sha256()
        #: (listener, the kinds it hears: exact names and prefixes, or None for all)
        self._listeners: list[tuple[Callable[[TraceEvent], Any], Kinds | None]] = []
        #: kind -> the listeners that hear it (filled as kinds appear; reset on subscribe)
        self._hearing: dict[str, list[Callable[[TraceEvent], Any]]] = {}
        self._told = 0  #: events delivered to the listeners
        self._stream: TextIO | None = None
        self._stream_path: str | None = None

    # -- appending -------------------------------------------------------------------------
    def append(self, time: float, source: str, kind: str,
               fields: Mapping[str, Any]) -> TraceEvent:
        """Add one event and return it (``Kernel.record`` takes a faster way in)."""
        clean = jsonable(dict(fields))
        event = TraceEvent(_time(time), len(self), source, kind, clean)
        self._add(time, source, kind, clean)
        return event

    def _add(self, time: Any, source: str, kind: str, fields: dict[str, Any]) -> None:
        # ``fields`` is the caller's fresh dict (``Kernel.record``'s keyword arguments):
        # plain values are immutable and already JSON, anything else is converted now.
        # What jsonable(fields) gives (the keys are strings already), in place: replacing
        # the value of a key while iterating is safe (the dict does not change size).
        for k, v in fields.items():
            if type(v) not in _PLAIN:
                fields[k] = jsonable(v)
        raw = self._raw
        raw.append((time, source, kind, fields))
        if self._stream is not None and len(raw) >= self.BATCH:
            self._drain()

    # -- making events and lines ---------------------------------------------------------------
    def _make(self) -> None:
        """Make the kept events not made yet (in-memory traces)."""
        events, raw = self._events, self._raw
        start = len(events)
        if start == len(raw):
            return
        last: Any = None
        t: int | float = 0
        append = events.append
        for seq in range(start, len(raw)):
            time, source, kind, fields = raw[seq]
            if time is not last:
                last, t = time, _time(time)
            append(_event(t, seq, source, kind, fields))

    def _tell(self) -> None:
        """Hand the events recorded since the last delivery to the listeners that hear
        their kinds, in order; an event no listener hears is not made (a kept trace lends
        the listeners the events it made already)."""
        base = self._base
        start, stop = self._told - base, len(self._raw)
        if start >= stop:
            return
        self._told = base + stop  # first: a listener reading the trace hears nothing twice
        if not self._listeners:
            return
        batch, events = self._raw[start:stop], self._events
        made = len(events)
        # (a listener subscribing meanwhile gets a new dict and hears this batch from
        # its catch-up, so this delivery goes on with the listeners it began with)
        hearing = self._hearing
        for kind in set(map(_KIND, batch)):  # kinds new to this trace: who hears them
            if kind not in hearing:
                hearing[kind] = self._hearers(kind)
        heard = {kind for kind, listeners in hearing.items() if listeners}
        last: Any = None
        t: int | float = 0
        # only the records of heard kinds, found at C speed (a membership test each)
        for j in compress(range(len(batch)), map(heard.__contains__, map(_KIND, batch))):
            i = start + j
            time, source, kind, fields = batch[j]
            listeners = hearing[kind]
            if i < made:
                event = events[i]
            else:
                if time is not last:
                    last, t = time, _time(time)
                event = _event(t, base + i, source, kind, fields)
            for listener in listeners:
                listener(event)

    def _hearers(self, kind: str) -> list[Callable[[TraceEvent], Any]]:
        """The listeners that hear events of ``kind``, in the order they subscribed."""
        return [fn for fn, kinds in self._listeners if kinds is None or kinds.match(kind)]

    def _lines(self, start: int, stop: int) -> str:
        """The JSON Lines of raw events ``start:stop`` (indexes into ``_raw``).

        Byte for byte ``TraceEvent.to_json()`` of each event plus a newline, made faster:
        the fields of the whole batch are encoded by ONE call of the C encoder (a list of
        them, separated by a NaN marker, then split at the markers) instead of one call per
        event; the ``"kind"``/``"src"`` pieces are cached per name and the time is printed
        once per distinct time. Should a field hold a NaN in a list (so the marker shows up
        inside an event too), the batch is encoded event by event instead.
        """
        batch = self._raw[start:stop]
        count = len(batch)
        if not count:
            return ""
        items: list[Any] = [_MARK] * (2 * count - 1)
        items[0::2] = [r[3] for r in batch]
        bodies = "".join(_ENCODE(items, 0)).split(_MARK_TEXT)
        if len(bodies) == count:
            bodies[0] = bodies[0][1:]  # the list's "[" and "]"
            bodies[-1] = bodies[-1][:-1]
        else:
            bodies = ["".join(_ENCODE(r[3], 0)) for r in batch]
        kinds, sources = _KINDS, _SOURCES
        lines: list[str] = []
        append = lines.append
        last: Any = None
        tail = ""
        seq = self._base + start
        for (time, source, kind, _), body in zip(batch, bodies, strict=True):
            if time is not last:
                last = time
                tail = (repr(time) if type(time) is int and -_EXACT < time < _EXACT
                        else repr(_time(time))) + "}\n"
            knd = kinds.get(kind)
            if knd is None:
                knd = kinds[kind] = ',"kind":' + _json_str(kind) + ',"seq":'
            src = sources.get(source)
            if src is None:
                src = sources[source] = ',"src":' + _json_str(source) + ',"t":'
            append(f'{{"f":{body}{knd}{seq}{src}{tail}')
            seq += 1
        return "".join(lines)

    def _hash_up(self) -> None:
        """Put every event's line into the digest."""
        stop = len(self._raw)
        start = self._hashed - self._base
        while start < stop:
            end = min(stop, start + self.BATCH)
            self._hash.update(self._lines(start, end).encode("ascii"))
            start = end
        self._hashed = self._base + stop

    def _drain(self) -> None:
        """Encode, hash and write the raw events of a streamed trace, then drop them."""
        assert self._stream is not None
        if not self._raw:
            return
        self._tell()
        text = self._lines(0, len(self._raw))
        self._hash.update(text.encode("ascii"))
        self._stream.write(text)
        self._base += len(self._raw)
        self._hashed = self._told = self._base
        self._raw, self._events = [], []

    # -- streaming ---------------------------------------------------------------------------
    def stream_to(self, fh: TextIO, path: str | None = None) -> None:
        """From now on write the events to ``fh`` (JSON Lines) instead of keeping them.

        Events recorded so far are written first. ``path`` names that file so that the
        trace can read its events back when iterated.
        """
        if self._stream is None:
            self._tell()  # listeners hear of every event before it goes
            self._stream, self._stream_path = fh, path
            fh.write(self._lines(0, self._hashed - self._base))  # hashed already
            self._raw = self._raw[self._hashed - self._base:]
            self._events = []
            self._base = self._hashed  # (the listeners have heard of all: _told stays)
            self._drain()

    def moved_to(self, path: str) -> None:
        """The streamed-to file, complete and closed, was renamed to ``path``."""
        self._stream_path = path

    @property
    def streamed(self) -> bool:
        """Whether events go to a file (:meth:`stream_to`) rather than stay in memory."""
        return self._stream is not None

    def subscribe(self, listener: Callable[[TraceEvent], Any],
                  kinds: Iterable[str] | None = None) -> None:
        """Call ``listener(event)`` for every event not yet delivered, in order.

        ``kinds`` limits it to the events of those kinds (a trailing ``*`` matches a
        prefix: ``attest.*``); the others are not even made for it. Events are delivered
        in batches, at the latest when the trace is read or :meth:`deliver` is called; a
        listener subscribed late is first handed the events recorded before (a streamed
        trace reads them back from its file).
        """
        wanted = None if kinds is None else Kinds(kinds)
        self.deliver()
        if self._stream is None:
            for e in self._matching(lambda kind: wanted is None or wanted.match(kind)):
                listener(e)
        else:
            for e in self:  # a streamed trace reads its file back
                if wanted is None or wanted.match(e.kind):
                    listener(e)
        self._listeners.append((listener, wanted))
        self._hearing = {}

    def deliver(self) -> None:
        """Hand every event recorded so far to the listeners (:meth:`subscribe`)."""
        if self._stream is None:
            self._tell()
        elif not self._stream.closed:
            self._drain()

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._base + len(self._raw)

    def __iter__(self) -> Iterator[TraceEvent]:
        if self._stream is None:
            self._make()
            self._tell()  # (lends the listeners the events just made)
            return iter(self._events)
        return self._read_back()

    def _read_back(self) -> Iterator[TraceEvent]:
        if self._stream_path is None:
            raise RuntimeError("this trace streams to a file it cannot read back")
        stream = self._stream
        assert stream is not None
        if not stream.closed:  # (after the run the file may be closed, and complete)
            self._drain()
            stream.flush()
        count = self._base  # events recorded while reading are not read back
        n = 0
        with open(self._stream_path, encoding="ascii") as fh:
            for line in fh:
                if n >= count:
                    break
                d = json.loads(line)
                if "seq" not in d:  # a header line written before the events
                    continue
                yield TraceEvent(d["t"], d["seq"], d["src"], d["kind"], d["f"])
                n += 1

    def __getitem__(self, index: int) -> TraceEvent:
        if self._stream is not None:
            raise RuntimeError("a streamed trace is read in order (iterate over it)")
        self._make()
        self._tell()
        return self._events[index]

    @property
    def events(self) -> list[TraceEvent]:
        return list(self)

    def select(self, kind: str | None = None, source: str | None = None,
               prefix: bool = True, **fields: Any) -> list[TraceEvent]:
        """Events whose kind (and source) start with the given prefixes and whose fields match.

        A kept trace compares its raw records and makes only the events selected."""
        def kind_ok(k: str) -> bool:
            return kind is None or (k.startswith(kind) if prefix else k == kind)

        if self._stream is None:
            self._tell()
            return list(self._matching(kind_ok, source, fields))
        items = fields.items()
        return [e for e in self if kind_ok(e.kind)
                and (source is None or e.source.startswith(source))
                and not any(e.fields.get(k) != v for k, v in items)]

    def _matching(self, kind_ok: Callable[[str], bool], source: str | None = None,
                  fields: Mapping[str, Any] | None = None) -> Iterator[TraceEvent]:
        """The events of a kept trace whose kinds pass ``kind_ok`` (asked once per kind
        name), whose sources start with ``source`` and whose fields hold ``fields``,
        compared on the raw records; an event is made only when it matches and was not
        made already."""
        raw, events = self._raw, self._events
        made = len(events)
        n = len(raw)  # (not those recorded while the caller reads them)
        # The records of the wanted kinds, found at C speed: the kinds present, then a
        # membership test per record (most selections want a few kinds of many records).
        wanted = {k for k in set(map(_KIND, raw)) if kind_ok(k)}
        items = fields.items() if fields else ()
        last: Any = None
        t: int | float = 0
        for i in compress(range(n), map(wanted.__contains__, map(_KIND, raw))):
            time, src, kind, values = raw[i]
            if source is not None and not src.startswith(source):
                continue
            differs = False
            for k, v in items:  # (a loop, not any(): no generator made per record)
                if values.get(k) != v:
                    differs = True
                    break
            if differs:
                continue
            if i < made:
                yield events[i]
                continue
            if time is not last:
                last, t = time, _time(time)
            yield _event(t, i, src, kind, values)

    def digest(self) -> str:
        """SHA-256 (hex) of the JSON Lines serialisation of the whole trace."""
        if self._stream is not None:
            self._drain()
        else:
            self._hash_up()
        return self._hash.hexdigest()

    def to_jsonl(self) -> str:
        """The JSON Lines of the whole trace (of a kept one; a streamed one is in its file)."""
        if self._stream is not None:
            return "".join(e.to_json() + "\n" for e in self)
        return self._lines(0, len(self._raw))

    def write(self, path: str) -> None:
        write_atomic(path, self.to_jsonl().encode("ascii"))

    @staticmethod
    def read_events(lines: Iterable[str]) -> list[TraceEvent]:
        return [TraceEvent.from_json(line) for line in lines if line.strip()]
