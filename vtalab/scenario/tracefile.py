"""Scenario files and trace files as commands read and write them.

A scenario file is read whole (:func:`load_file`); a run's trace is JSON Lines
(:func:`trace_text`): a header with the scenario text, seed and horizon, every event, and
the digest. ``vtalab run --trace``, ``vtalab replay`` and bug bundles share these, so a
trace written by one is read by the others.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from typing import Any

import vtalab
from vtalab.core.files import (
    atomic_file,
    check_name_length,
    check_target,
    decode_text,
    load_json,
    peek,
    read_bytes,
    write_atomic,
)
from vtalab.core.simtime import parse_time
from vtalab.core.trace import TraceEvent, canonical
from vtalab.errors import InputError, ScenarioError, nearest
from vtalab.scenario.model import load_scenario_text, run_scenario

__all__ = ["check_folder", "check_writable", "first_divergence", "json_run", "load_file",
           "parse_trace", "read_trace", "run_streamed", "trace_footer", "trace_header",
           "trace_text", "write_text", "write_trace"]


def _what_it_is(path: str) -> str | None:
    """``"bundle"``, ``"trace"`` or ``"scenario"`` when the start of ``path`` says so
    (a gzip stream, a trace header, a YAML mapping with ``name:``), else None."""
    head = peek(path, 4096)
    if head.startswith(b"\x1f\x8b"):
        return "bundle"
    first = head.split(b"\n", 1)[0].strip()
    if first.startswith(b"{") and b'"kind":"vtalab.trace"' in first.replace(b" ", b""):
        return "trace"
    if re.search(rb"(?m)^(name|topology|steps):", head):
        return "scenario"
    return None


_USE = {"bundle": "gzip-compressed: a bug bundle runs with `vtalab run {path}` (it replays "
                  "the bundled trace and compares the evidence); a compressed trace or "
                  "scenario needs gunzip first",
        "trace": "a trace (vtalab run --trace): re-run it with `vtalab replay {path}`",
        "scenario": "a scenario: run it with `vtalab run {path}` (vtalab run --trace FILE "
                    "records a trace to replay)"}


def _wrong_kind(path: str, want: str, exc: ScenarioError) -> ScenarioError:
    """``exc``, or when ``path`` is another kind of vtalab file than ``want``, an error
    that says which and the command that takes it."""
    kind = _what_it_is(path)
    if kind is None or kind == want:
        return exc
    return ScenarioError(f"not a {want}: this is {_USE[kind].format(path=path)}", file=path)


def load_file(path: str) -> tuple[str, Any]:
    """The text of the scenario file ``path`` and the scenario it holds (validated)."""
    raw = read_bytes(path)  # a missing, special or too large file: said as it is
    try:
        text = decode_text(raw, path)
        return text, load_scenario_text(text, file=path)
    except ScenarioError as exc:
        raise _wrong_kind(path, "scenario", exc) from None


def json_run(path: str, r: Any) -> dict[str, Any]:
    """One run as ``vtalab run --json`` reports it."""
    return {
        "file": path, "scenario": r.scenario.name, "seed": r.seed, "until": r.until,
        "end": r.end, "ok": r.ok, "digest": r.digest,
        "steps": [{"index": s.index, "id": s.id, "verb": s.verb, "start": s.start,
                   "end": s.end, "ok": s.ok, "error": s.error, "message": s.message,
                   **({"output_type": s.output_type, "output": s.output}
                      if s.output is not None else {})}
                  for s in r.steps],
        "verdicts": [{"label": v.label, "ok": v.ok, "status": v.status, "detail": v.detail,
                      "at": v.at}
                     for v in r.verdicts],
    }


def check_writable(path: str, keep: Sequence[tuple[str, str | None]] = ()) -> None:
    """Refuse, before any work, an output path whose folder is missing, that is a folder,
    a device, a FIFO or ``-`` (:func:`vtalab.core.files.check_target`), or that is one of
    the files of ``keep`` (``(what, path)``: the scenario being run, another output):
    ``vtalab run plan.yaml --trace plan.yaml`` replaced the plan with its trace. A symlink
    at ``path`` is replaced, not written through, so only the path itself counts."""
    if path in ("", "-"):
        raise InputError(f"cannot write {path!r}: give a file name (the output is a "
                         "file; standard output is not supported)", value=path)
    check_target(path)
    for what, other in keep:
        if not other or os.path.islink(path):
            continue
        try:
            same = os.path.samefile(path, other)
        except (OSError, ValueError):  # either does not exist (yet)
            same = os.path.abspath(path) == os.path.abspath(other)
        if same:
            raise InputError(f"cannot write {path}: it is {what} ({other}); give the "
                             "output another name", value=path)


def check_folder(path: str, option: str = "--out") -> None:
    """Refuse, before any work, an output folder that cannot be made or written: an empty
    name, an existing file, a symbolic link to nothing, or a path whose nearest existing
    part is a file (``--out notes.txt/ce``). A campaign used to find out only after all its
    runs; the checker only at its first counterexample."""
    if not path:
        raise InputError(f"{option} '': give a folder name", what="folder", value=path)
    if os.path.islink(path) and not os.path.exists(path):
        raise InputError(f"{option} {path}: is a symbolic link to {os.readlink(path)}, "
                         "which does not exist", what="folder", value=path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise InputError(f"{option} {path}: exists and is not a directory",
                             what="folder", value=path)
        existing = path
    else:
        missing = [os.path.abspath(path)]
        existing = os.path.dirname(missing[0])
        while not os.path.exists(existing):  # ends at the root, which exists
            missing.append(existing)
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise InputError(f"{option} {path}: cannot create the folder: {existing} is a "
                             "file, not a directory", what="folder", value=path)
        for part in missing:
            try:
                check_name_length(part, existing)
            except InputError as exc:
                raise InputError(f"{option} {path}: cannot create the folder: "
                                 f"{exc.reason.split(': ', 1)[-1]}", what="folder",
                                 value=path) from None
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write in {existing}: permission denied",
                         what="folder", value=path)


def trace_header(file: str, text: str, seed: int, until: float | None) -> str:
    """The first line of a trace file: what was run, with which seed, until when."""
    return canonical({"kind": "vtalab.trace", "version": vtalab.__version__, "file": file,
                      "scenario_text": text, "seed": seed, "until": until}) + "\n"


def trace_footer(digest: str) -> str:
    """The last line of a trace file: the digest of every event."""
    return canonical({"kind": "vtalab.digest", "sha256": digest}) + "\n"


def trace_text(file: str, text: str, result: Any) -> str:
    """The ``--trace`` JSON Lines of a run: header, events, digest (also in bug bundles)."""
    return (trace_header(file, text, result.seed, result.until)
            + result.world.kernel.trace.to_jsonl() + trace_footer(result.digest))


def run_streamed(target: str, file: str, text: str, scenario: Any, seed: int | None,
                  until: float | None) -> Any:
    """Run ``scenario`` writing its ``--trace`` file as it goes (the same bytes as
    :func:`trace_text`); the events stay in the file, not in memory."""
    seed = scenario.seed if seed is None else seed
    # Whole or not at all, as write_text: a fresh temporary file (never a planted
    # TARGET.tmp symlink), renamed when complete, removed on any error or Ctrl-C.
    with atomic_file(target, encoding="ascii") as (fh, tmp):
        fh.write(trace_header(file, text, seed, until))
        result = run_scenario(scenario, seed=seed, until=until, trace_to=(fh, tmp))
        fh.write(trace_footer(result.digest))
    result.world.kernel.trace.moved_to(target)
    return result


def write_trace(path: str, file: str, text: str, result: Any) -> None:
    """Write the ``--trace`` JSON Lines of ``result`` to ``path`` (whole or not at all)."""
    write_atomic(path, trace_text(file, text, result).encode("ascii"))


def first_divergence(want: list[Any], got: list[Any], version_note: str = "",
                     file: str | None = None) -> str | None:
    """The report of the first event where a re-run differs from the recording, or None.

    ``file``: the trace file the recording was read from; the report names the line of the
    event there (event ``i`` is on line ``i + 2``, after the header)."""
    def where(i: int) -> str:
        return f" ({file}:{i + 2})" if file else ""

    for i, (w, g) in enumerate(zip(want, got, strict=False)):
        if w != g:
            return (f"replay diverges at event {i}{where(i)}{version_note}:\n"
                    f"  expected: {w}\n  got:      {g}\n")
    if len(want) != len(got):
        i = min(len(want), len(got))
        extra = (f"  expected: {want[i]}\n  got:      (nothing)\n" if len(want) > len(got)
                 else f"  expected: (nothing)\n  got:      {got[i]}\n")
        return (f"replay diverges at event {i}{where(i)}: recorded {len(want)} events, replay "
                f"made {len(got)}{version_note}\n{extra}")
    return None


#: The keys of a trace header (trace_header; a served session's adds ``serve``).
_HEADER_KEYS = ("kind", "version", "file", "scenario_text", "seed", "until", "serve")

#: The fields of a trace event's line, and what each holds.
_EVENT_KEYS = ("t", "seq", "src", "kind", "f")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def _event_problem(d: Any) -> str | None:
    """What is wrong with a parsed event line ``d`` (None: it is a trace event)."""
    if not isinstance(d, dict):
        return f"a trace event is a JSON object with {', '.join(_EVENT_KEYS)}"
    for key in d:
        if key not in _EVENT_KEYS:
            close = nearest(key, _EVENT_KEYS)
            return (f"unknown key {key!r} in a trace event"
                    + (f"; did you mean {close[0]!r}?" if close else "")
                    + f"; valid keys: {', '.join(_EVENT_KEYS)}")
    missing = [k for k in _EVENT_KEYS if k not in d]
    if missing:
        return f"a trace event needs {', '.join(_EVENT_KEYS)}; this one has no {missing[0]!r}"
    t, seq = d["t"], d["seq"]
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
        return f"'t' (the simulated time) must be a number of seconds >= 0; got {json.dumps(t)}"
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        return f"'seq' must be an integer >= 0; got {json.dumps(seq)}"
    for key in ("src", "kind"):
        if not isinstance(d[key], str) or not d[key]:
            return f"{key!r} must be a non-empty text; got {json.dumps(d[key])}"
    if not isinstance(d["f"], dict):
        return f"'f' (the event's fields) must be a JSON object; got {json.dumps(d['f'])[:40]}"
    return None


def read_trace(path: str) -> tuple[dict[str, Any], list[TraceEvent], str | None]:
    """Header, events and digest of the trace file ``path`` (bounded: a regular file of at
    most ``MAX_INPUT_BYTES``)."""
    raw = read_bytes(path, what="trace")  # a missing, special or too large file: as it is
    try:
        return parse_trace(decode_text(raw, path, what="trace"), path)
    except ScenarioError as exc:
        raise _wrong_kind(path, "trace", exc) from None


def parse_trace(text: str, path: str) -> tuple[dict[str, Any], list[TraceEvent], str | None]:
    """Header, events and digest of trace JSON Lines; errors name ``path`` and the line.

    The header's ``until`` is checked as any time a person names (within the horizon)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ScenarioError("empty trace file", file=path, line=1, column=1)

    def bad(n: int, message: str, **kw: Any) -> ScenarioError:
        return ScenarioError(message, file=path, line=n, column=1, **kw)

    try:
        header = load_json(lines[0], path, line=1)
    except ScenarioError as exc:
        raise bad(1, f"not a vtalab trace (first line: {exc.reason})") from None
    if not isinstance(header, dict) or header.get("kind") != "vtalab.trace":
        raise bad(1, "not a vtalab trace: the first line must be the "
                     '{"kind":"vtalab.trace",...} header')
    for key in header:  # a misspelt "untl" would be ignored, and the replay run elsewhere
        if key not in _HEADER_KEYS:
            close = nearest(key, _HEADER_KEYS)
            raise bad(1, f"unknown key {key!r} in the trace header"
                         + (f"; did you mean {close[0]!r}?" if close else "")
                         + f"; valid keys: {', '.join(_HEADER_KEYS)}")
    for key in ("scenario_text", "seed"):
        if key not in header:
            raise bad(1, f"the trace header has no {key!r}")
    if not isinstance(header["scenario_text"], str) or not isinstance(header["seed"], int) \
            or isinstance(header["seed"], bool) or header["seed"] < 0:
        raise bad(1, "the trace header's scenario_text must be text and seed an integer "
                     ">= 0")
    if header.get("until") is not None:
        try:
            header["until"] = parse_time(header["until"])
        except ValueError as exc:
            raise bad(1, f"the trace header's until: {exc}", what="until",
                      value=header["until"]) from None
    digest = None
    events = []
    for n, line in enumerate(lines[1:], start=2):
        d = load_json(line, path, line=n)
        if isinstance(d, dict) and d.get("kind") == "vtalab.digest" and "t" not in d:
            if n != len(lines):
                raise bad(n, "the digest line must be the last line")
            extra = [k for k in d if k not in ("kind", "sha256", "until")]
            if extra:
                raise bad(n, f"unknown key {extra[0]!r} in the digest line; valid keys: kind, "
                             "sha256, until")
            if not isinstance(d.get("sha256"), str) or not _DIGEST.fullmatch(d["sha256"]):
                raise bad(n, "the digest line's sha256 must be 64 lower-case hex digits (the "
                             "SHA-256 of the events); got "
                             f"{json.dumps(d.get('sha256'))[:80]}")
            digest = d["sha256"]
            if header.get("until") is None and d.get("until") is not None:
                # a streamed trace (vtalab serve) learns its end only when it ends
                try:
                    header["until"] = parse_time(d["until"])
                except ValueError as exc:
                    raise bad(n, f"the digest line's until: {exc}", what="until",
                              value=d["until"]) from None
            continue
        problem = _event_problem(d)
        if problem is not None:
            raise bad(n, f"not a trace event: {problem}")
        events.append(TraceEvent(time=d["t"], seq=d["seq"], source=d["src"], kind=d["kind"],
                                 fields=d["f"]))
    if digest is None:  # every trace vtalab writes ends with it
        raise bad(len(lines) + 1, f"the trace ends after {len(lines)} lines without its "
                                  'digest line ({"kind":"vtalab.digest","sha256":...}): it '
                                  "is truncated, or the run that wrote it was interrupted")
    return header, events, digest


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (:func:`vtalab.core.files.write_atomic`:
    a fresh temporary file in the same folder, then a rename; never through a symlink)."""
    write_atomic(path, text)
