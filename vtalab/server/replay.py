"""Re-running a served session from its trace (``vtalab replay served.trace``).

The trace of ``vtalab serve --trace FILE`` has the scenario, the seed and the options in
its header (``"serve": {...}``) and every request as an ``api.request`` event. A replay
builds the same world, re-applies each request at its recorded simulated time with its
recorded authentication decision (wall-clock facts: an expired session, a full session
table), runs the world to the recorded end, and returns the new trace, which
:func:`vtalab.cli.app.first_divergence` compares event by event.
"""

from __future__ import annotations

import json
import math
from typing import Any

from vtalab.core.files import load_json
from vtalab.core.simtime import HORIZON_SECONDS
from vtalab.core.trace import TraceEvent
from vtalab.errors import ScenarioError
from vtalab.scenario.model import load_scenario_text
from vtalab.server.exercise import ExerciseLab, ServedExercise
from vtalab.server.lab import Call, ServedLab
from vtalab.server.services import TABLE
from vtalab.server.vapi import BadValue, VapiError
from vtalab.training.exercises import load_exercise_text
from vtalab.training.session import Session

__all__ = ["is_served", "replay_served"]


def is_served(header: dict[str, Any]) -> bool:
    return isinstance(header.get("serve"), dict)


#: The options a served session's header records (``ServedLab.trace_header``,
#: ``ExerciseLab.trace_header``), and the type of each.
SERVE_OPTIONS: dict[str, type] = {"topology_only": bool, "user": str, "exercise": str,
                                  "actor": str, "classroom": bool}


def _check_options(opts: dict[str, Any], file: str) -> None:
    """The header's ``serve`` options as ``vtalab serve`` writes them (a hand-edited
    ``"topology_only": "no"`` would otherwise count as true)."""
    for key, value in opts.items():
        kind = SERVE_OPTIONS.get(key)
        if kind is None:
            raise ScenarioError(f"the trace header's serve: unknown option {key!r}",
                                file=file, line=1, column=1, what="serve options", value=key,
                                choices=list(SERVE_OPTIONS))
        if not isinstance(value, kind) and not (key == "exercise" and value is None):
            raise ScenarioError(f"the trace header's serve.{key} must be "
                                f"{'true or false' if kind is bool else 'text'}; got "
                                f"{json.dumps(value)[:60]}", file=file, line=1, column=1)


def replay_served(header: dict[str, Any], recorded: list[TraceEvent], *, file: str) -> Any:
    """Replay; returns the ``ServedLab`` whose world's trace is the re-run."""
    opts = header["serve"]
    _check_options(opts, file)
    lab: ServedLab
    if opts.get("exercise"):  # an exercise session (vtalab serve --exercise, a classroom)
        ex = load_exercise_text(header["scenario_text"], file=f"{file}:scenario_text")
        served = ServedExercise(Session.start(ex, int(header["seed"])),
                                actor=str(opts.get("actor", "trainee")))
        lab = ExerciseLab(served, classroom=bool(opts.get("classroom")),
                          user=str(opts.get("user", "")), password="", replaying=True,
                          paused=True)
    else:
        scenario = load_scenario_text(header["scenario_text"], file=f"{file}:scenario_text")
        lab = ServedLab(scenario, seed=int(header["seed"]),
                        topology_only=bool(opts.get("topology_only")),
                        user=str(opts.get("user", "")), password="", replaying=True)
    sides = {f"api/{lab.vcenter_name('ta')}": "ta",
             f"api/{lab.vcenter_name('workload')}": "workload"}
    for n, event in enumerate(recorded):
        if event.kind != "api.request":
            continue
        try:
            _replay_request(lab, sides, n, event, file)
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            # A hand-edited trace: a field of the wrong shape is the file's fault.
            raise ScenarioError(f"event {n}: not a recorded request "
                                f"({type(exc).__name__}: {exc})", file=file, line=n + 2,
                                column=1) from None
    until = header.get("until")
    if until is not None:
        lab.run_to(float(until))
    return lab


def _replay_request(lab: ServedLab, sides: dict[str, str], n: int, event: TraceEvent,
                    file: str) -> None:
    """Re-apply recorded request ``n`` (trace line ``n + 2``)."""
    at = float(event.time)
    if not math.isfinite(at) or not 0 <= at <= HORIZON_SECONDS:
        raise ScenarioError(f"event {n}: time {at!r} is beyond the lab's horizon of "
                            f"{HORIZON_SECONDS:g} s", file=file, line=n + 2, column=1)
    f = event.fields
    side = sides.get(event.source)
    if side is None:
        raise ScenarioError(f"event {n}: request to unknown vCenter {event.source!r}",
                            file=file, line=n + 2, column=1)
    call = Call(side, str(f.get("svc", "")), str(f.get("op", "")),
                proto=str(f.get("proto", "rpc")))
    raw_auth = f.get("auth")
    if isinstance(raw_auth, str):  # a session's request: its user is the session's
        session = lab.sessions.get(raw_auth)
        auth: dict[str, Any] = {"user": session.user if session else "",
                                "session_id": raw_auth}
    else:
        auth = dict(raw_auth or {})
    call.session = auth.get("session_id")
    bad = f.get("bad")
    if bad is not None:
        call.bad = VapiError(str(bad.get("kind")), str(bad.get("text")))
    else:
        op = TABLE.get((call.service, call.operation))
        if op is not None:
            try:
                recorded_in = load_json(str(f.get("in")), file, line=n + 2)
                call.input = op.input.rpc_in(recorded_in, "")
            except (BadValue, ValueError) as exc:
                raise ScenarioError(f"event {n}: recorded input does not decode: {exc}",
                                    file=file, line=n + 2, column=1) from None
    clock = f.get("clock")
    if isinstance(clock, dict):  # the pacing the request saw (not world state)
        lab.clock.running = bool(clock.get("running"))
        lab.clock.speed = float(clock.get("speed", lab.clock.speed))
    lab.invoke(call, auth=auth, at=at)
