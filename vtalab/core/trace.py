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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Trace", "TraceEvent", "canonical", "jsonable"]


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


#: The canonical encoder, built once: ``json.dumps`` with these options builds a new
#: encoder on every call, which is a measurable share of a trace append.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical(obj: Any) -> str:
    """One canonical JSON text for ``obj`` (sorted keys, compact, ASCII-safe)."""
    return _CANONICAL.encode(jsonable(obj))


@dataclass(frozen=True, slots=True)
class TraceEvent:
    time: float
    seq: int
    source: str
    kind: str
    fields: Mapping[str, Any]

    def to_json(self) -> str:
        # Events are built from jsonable() values (Trace.append), so no second pass.
        return _CANONICAL.encode({"t": self.time, "seq": self.seq, "src": self.source,
                                  "kind": self.kind, "f": self.fields})

    @classmethod
    def from_json(cls, line: str) -> TraceEvent:
        d = json.loads(line)
        return cls(time=d["t"], seq=d["seq"], source=d["src"], kind=d["kind"], fields=d["f"])

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


class Trace:
    """An append-only list of trace events with a running digest."""

    def __init__(self) -> None:
        self._events: list[TraceEvent] = []
        self._hash = hashlib.sha256()

    def append(self, time: float, source: str, kind: str, fields: Mapping[str, Any]) -> TraceEvent:
        clean = jsonable(fields if type(fields) is dict else dict(fields))
        event = TraceEvent(jsonable(float(time)), len(self._events), source, kind, clean)
        self._events.append(event)
        self._hash.update(event.to_json().encode() + b"\n")
        return event

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self._events)

    def __getitem__(self, index: int) -> TraceEvent:
        return self._events[index]

    @property
    def events(self) -> list[TraceEvent]:
        return list(self._events)

    def select(self, kind: str | None = None, source: str | None = None,
               prefix: bool = True, **fields: Any) -> list[TraceEvent]:
        """Events whose kind (and source) start with the given prefixes and whose fields match."""
        out = []
        for e in self._events:
            if kind is not None and not (e.kind.startswith(kind) if prefix else e.kind == kind):
                continue
            if source is not None and not e.source.startswith(source):
                continue
            if any(e.fields.get(k) != v for k, v in fields.items()):
                continue
            out.append(e)
        return out

    def digest(self) -> str:
        """SHA-256 (hex) of the JSON Lines serialisation of the whole trace."""
        return self._hash.hexdigest()

    def to_jsonl(self) -> str:
        return "".join(e.to_json() + "\n" for e in self._events)

    def write(self, path: str) -> None:
        with open(path, "w", encoding="ascii", newline="\n") as fh:
            fh.write(self.to_jsonl())

    @staticmethod
    def read_events(lines: Iterable[str]) -> list[TraceEvent]:
        return [TraceEvent.from_json(line) for line in lines if line.strip()]
