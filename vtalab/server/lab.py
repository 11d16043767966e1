"""The served lab: one world, its clock, sessions, tasks and the record of every request.

Protocol-free: :mod:`vtalab.server.app` decodes JSON-RPC and REST into a :class:`Call`,
:meth:`ServedLab.invoke` runs it under the world's one lock and returns a :class:`Reply`;
:mod:`vtalab.server.replay` feeds the recorded calls back in.

**Time.** The world's clock is SimPy's. While the lab *runs*, simulated time follows the
wall clock at ``speed`` simulated seconds per real second: before each request (and on a
timer) the world is run up to that target. A request is applied at the simulated instant
it arrives; then the world settles that instant (the zero-delay events the request caused
run, so an instantaneous operation's task has finished when the reply is sent). Paused,
the world moves only by ``advance``. Chunking ``kernel.run`` this way does not change the
trace: SimPy processes events in the same order whatever the stopping points.

**Record.** Every request enters the world's trace (source ``api/<vCenter>``): an
``api.request`` event at its simulated arrival time with the operation and its input in
vAPI JSON-RPC form, and how it was authenticated (``auth``: the session id, or how a login
or a refusal was decided); an ``api.reply`` event with its outcome (error kind, task id,
a digest of the output). Facts that come from the wall clock (a
session that expired, a password check) are recorded as decided, so a replay re-applies
the calls at their recorded times and reproduces the trace bit for bit.

**Bounds.** Sessions: at most ``limits.max_sessions``, idle ones expire after
``limits.session_idle_seconds`` of real time. Tasks: at most ``limits.max_tasks``; the
oldest finished ones are forgotten first (deterministically: by count, not by time).
"""

from __future__ import annotations

import hashlib
import logging
import math
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import vtalab
from vtalab.core.parameters import Parameters
from vtalab.core.simtime import HORIZON_SECONDS
from vtalab.core.trace import canonical
from vtalab.errors import InputError, OperationError
from vtalab.scenario.run import start_run
from vtalab.server import services
from vtalab.server.vapi import BadValue, Typed, VapiError
from vtalab.world.assembly import World
from vtalab.world.registry import Outcome

if TYPE_CHECKING:
    import simpy

    from vtalab.scenario.model import Scenario
    from vtalab.server.services import Operation

__all__ = ["DEFAULT_USER", "ApiTask", "Call", "Clock", "Limits", "Reply", "ServedLab",
           "derive_password"]

log = logging.getLogger("vtalab.serve")

DEFAULT_USER = "administrator@vsphere.local"
VCENTERS = ("ta", "workload")


def derive_password(seed: int) -> str:
    """The lab's password for ``seed`` (the same every time; printed at start-up)."""
    digest = hashlib.sha256(f"vtalab-serve|{seed}|password".encode()).hexdigest()
    return f"Lab-{digest[:6]}-{digest[6:12]}"


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 8 * 1024 * 1024  #: request bodies (an imgdb upload is ~ 10 KiB)
    max_sessions: int = 1000
    session_idle_seconds: float = 1800.0  #: real seconds (vCenter's default idle timeout)
    max_tasks: int = 10000


@dataclass
class Call:
    """One operation request, decoded (or not: ``bad`` says why it could not be)."""

    vcenter: str  #: "ta" | "workload"
    service: str
    operation: str
    input: dict[str, Any] = field(default_factory=dict)
    proto: str = "rpc"  #: rpc | rest | lab
    session: str | None = None  #: the session id presented
    login: tuple[str, str] | None = None  #: user and password presented (session.create)
    bad: VapiError | None = None  #: a decoding error found before the operation ran


@dataclass
class Reply:
    output: Any = None
    error: VapiError | None = None
    op: Operation | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Session:
    id: str
    user: str
    created: float  #: simulated
    last: float  #: simulated
    wall_last: float  #: real, for idle expiry


@dataclass
class ApiTask:
    id: str
    vcenter: str
    service: str
    operation: str
    user: str
    start: float
    description: str
    result_type: Any = None
    status: str = "RUNNING"  #: PENDING | RUNNING | SUCCEEDED | FAILED
    end: float | None = None
    result: Typed | None = None
    error: VapiError | None = None
    target: tuple[str, str] | None = None  #: (type, id)


class Clock:
    """Simulated time against the wall clock: ``speed`` simulated seconds per real second."""

    def __init__(self, speed: float, running: bool,
                 wall: Callable[[], float] = time.monotonic) -> None:  # wall-clock ok
        self.speed = float(speed)
        self.running = running
        self._wall = wall
        self._wall0 = wall()
        self._sim0 = 0.0

    def target(self) -> float:
        if not self.running:
            return self._sim0
        return self._sim0 + (self._wall() - self._wall0) * self.speed

    def rebase(self, sim_now: float) -> None:
        self._sim0 = sim_now
        self._wall0 = self._wall()

    def state(self) -> dict[str, Any]:
        return {"running": self.running, "speed": self.speed}


class ServedLab:
    """One world served as two vCenters."""

    def __init__(self, scenario: Scenario, *, seed: int | None = None,
                 topology_only: bool = False, speed: float = 60.0, paused: bool = False,
                 user: str = DEFAULT_USER, password: str | None = None,
                 limits: Limits | None = None, replaying: bool = False,
                 wall: Callable[[], float] = time.monotonic) -> None:  # wall-clock ok
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        self.topology_only = topology_only
        if topology_only:
            self.world = World(scenario.topology, seed=self.seed,
                               params=Parameters(**scenario.parameters))
        else:
            self.world = start_run(scenario, seed=self.seed).world
        self.kernel = self.world.kernel
        self.lock = threading.RLock()
        if not (speed > 0 and math.isfinite(speed)):
            raise InputError(f"speed must be a positive number, not {speed!r}", what="speed",
                             value=speed)
        self.clock = Clock(speed, running=not paused, wall=wall)
        self.user = user
        self.password = password if password is not None else derive_password(self.seed)
        self.limits = limits or Limits()
        self.replaying = replaying
        self._wall = wall
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.tasks: OrderedDict[str, ApiTask] = OrderedDict()
        self.requests = 0
        self._sessions_made = 0
        self._tasks_made = 0
        self._sources = {side: f"api/{self.vcenter_name(side)}" for side in VCENTERS}
        self.ids = services.Inventory(self.world)
        self.table = services.TABLE
        self.errors_logged = 0
        self.closed = False  #: the streamed trace has ended: no more requests
        self.settle()  # T=0: hosts up, setup done, before the first request (also in replay)

    # -- vCenters ------------------------------------------------------------------------
    def vcenter_name(self, side: str) -> str:
        return self.world.ta_vcenter.name if side == "ta" else self.world.workload_vcenter.name

    # -- time ------------------------------------------------------------------------------
    def sync(self) -> None:
        """Run the world up to the clock's target (live only; replay runs to recorded times)."""
        if self.replaying:
            return
        target = min(self.clock.target(), HORIZON_SECONDS)
        if target > self.kernel.now:
            self.kernel.run(target)

    def run_to(self, t: float) -> None:
        if t > self.kernel.now:
            self.kernel.run(min(t, HORIZON_SECONDS))

    def settle(self) -> None:
        """Process the events of the current instant (what a request just set off)."""
        env = self.kernel.env
        now = env.now
        for _ in range(100000):  # bounded: a zero-delay loop in a process cannot hang us
            if env.peek() != now:
                return
            env.step()

    def tick(self) -> None:
        """Called on a timer while serving: keep the world in step with the clock."""
        with self.lock:
            if self.clock.running and not self.closed:
                self.sync()
                if self.kernel.now >= HORIZON_SECONDS:
                    self.clock.running = False

    def advance(self, seconds: float) -> None:
        self.sync()
        self.run_to(self.kernel.now + seconds)
        self.clock.rebase(self.kernel.now)

    # -- the one entry point -------------------------------------------------------------
    def invoke(self, call: Call, *, auth: dict[str, Any] | None = None,
               at: float | None = None) -> Reply:
        """Run one call. ``auth``/``at`` are given by a replay (the recorded decision and
        simulated time); live calls are authenticated and timed here."""
        with self.lock:
            if self.closed:  # the lab is stopping: its trace has been written
                return Reply(error=VapiError("service_unavailable",
                                             "the lab is shutting down"))
            if at is not None:
                self.run_to(at)
            elif not self.replaying:
                self.sync()
            n = self.requests
            self.requests += 1
            op = self.table.get((call.service, call.operation))
            if auth is None:
                auth = self._authenticate(call, op)
            src = self._sources[call.vcenter]
            # Compact on purpose (every request stays in the trace): the input is one
            # canonical JSON-RPC text, no display message for plain requests.
            recorded: Any = auth.get("session_id") if "session_id" in auth else auth
            fields: dict[str, Any] = {"n": n, "svc": sys.intern(call.service),
                                      "op": sys.intern(call.operation), "auth": recorded}
            if call.service == "vtalab.clock":  # pacing is not world state: record it
                fields["clock"] = self.clock.state()
            if call.bad is not None:
                fields["bad"] = {"kind": call.bad.kind, "text": call.bad.text}
                fields["proto"] = call.proto
            elif op is not None:
                fields["in"] = canonical(op.input.rpc_out(call.input))
            self.kernel.record(src, "api.request", **fields)
            reply = self._run(call, op, auth, n)
            self.settle()
            out: dict[str, Any] = {"n": n, "ok": reply.error is None}
            if reply.error is not None:
                out["error"] = reply.error.kind
                out["message"] = f"API {call.service}.{call.operation}: " \
                                 f"{reply.error.kind}: {reply.error.text}"[:500]
            else:
                body = op.output.rpc_out(reply.output) if op is not None else None
                out["out"] = hashlib.sha256(canonical(body).encode()).hexdigest()[:16]
                if isinstance(reply.output, str) and op is not None and op.task:
                    out["task"] = reply.output
            self.kernel.record(src, "api.reply", **out)
            return reply

    def _authenticate(self, call: Call, op: Operation | None) -> dict[str, Any]:
        if call.bad is not None or op is None:
            return {"none": True}
        if op.login:
            if call.login is None:
                return {"error": "no credentials"}
            user, password = call.login
            ok = user.lower() == self.user.lower() and password == self.password
            decided: dict[str, Any] = {"login": user[:200], "ok": ok}
            if ok and not self._room_for_session():
                decided["full"] = True
            return decided
        if op.public:
            return {"none": True}
        if call.session is None:
            if call.login is not None:  # Basic auth on a lab download
                user, password = call.login
                ok = user.lower() == self.user.lower() and password == self.password
                return {"login": user[:200], "ok": ok}
            return {"error": "no session"}
        session = self.sessions.get(call.session)
        if session is None:
            return {"error": "unknown or expired session"}
        if self._wall() - session.wall_last > self.limits.session_idle_seconds:
            del self.sessions[session.id]
            return {"error": "unknown or expired session"}
        return {"user": session.user, "session_id": session.id}

    def _run(self, call: Call, op: Operation | None, auth: dict[str, Any], n: int) -> Reply:
        if call.bad is not None:
            return Reply(error=call.bad, op=op)
        if op is None:
            known = sorted({s for s, _ in self.table})
            if call.service not in known:
                return Reply(error=VapiError(
                    "operation_not_found", f"unknown service {call.service!r}",
                    msg_id="vapi.method.input.invalid.interface", args=(call.service,)))
            ops = sorted(o for s, o in self.table if s == call.service)
            return Reply(error=VapiError(
                "operation_not_found", f"unknown operation {call.operation!r} of "
                f"{call.service} (operations: {', '.join(ops)})",
                msg_id="vapi.method.input.invalid.method", args=(call.operation,)))
        if op.side is not None and op.side != call.vcenter:
            return Reply(error=VapiError(
                "operation_not_found", f"{call.service} is served by the "
                f"{'Trust Authority' if op.side == 'ta' else 'workload'} vCenter "
                f"({self.vcenter_name(op.side)}), not by {self.vcenter_name(call.vcenter)}",
                msg_id="vapi.method.input.invalid.interface", args=(call.service,)))
        if "error" in auth or auth.get("ok") is False:
            why = auth.get("error") or "wrong user name or password"
            return Reply(error=VapiError("unauthenticated", f"authentication required: {why}",
                                         msg_id="vapi.security.authentication.invalid"),
                         op=op)
        user = auth.get("user") or auth.get("login") or ""
        session = self.sessions.get(call.session or "") if "user" in auth else None
        if session is not None:
            session.wall_last = self._wall()
            session.last = self.kernel.now
            self.sessions.move_to_end(session.id)
        if auth.get("full"):
            return Reply(error=VapiError(
                "unable_to_allocate_resource",
                f"too many sessions ({self.limits.max_sessions}); log out of unused sessions "
                "(DELETE /api/session) or wait for them to expire"), op=op)
        try:
            output = op.handler(self, call, user)
            return Reply(output=output, op=op)
        except VapiError as exc:
            return Reply(error=exc, op=op)
        except BadValue as exc:
            return Reply(error=invalid_argument(exc), op=op)
        except InputError as exc:
            return Reply(error=input_error(exc), op=op)
        except Exception as exc:  # a bug of vtalab: an id for the client, detail in the log
            return Reply(error=self.internal_error(exc, n), op=op)

    def internal_error(self, exc: BaseException, n: int) -> VapiError:
        ref = f"vtalab-{self.seed}-{n}"
        self.errors_logged += 1
        log.error("internal error %s in request %d", ref, n, exc_info=exc)
        return VapiError("error", f"internal error {ref} (the server log has the details)",
                         msg_id="vtalab.api.internal", args=(ref,))

    # -- sessions -----------------------------------------------------------------------
    def _room_for_session(self) -> bool:
        """Forget idle sessions; is there room for one more? (decided live, recorded)"""
        now_wall = self._wall()
        idle = self.limits.session_idle_seconds
        for sid in [s.id for s in self.sessions.values() if now_wall - s.wall_last > idle]:
            del self.sessions[sid]
        return len(self.sessions) < self.limits.max_sessions

    def new_session(self, user: str) -> str:
        now_wall = self._wall()  # room was decided (and recorded) when it authenticated
        self._sessions_made += 1
        sid = hashlib.sha256(f"vtalab-serve|{self.seed}|session|{self._sessions_made}"
                             .encode()).hexdigest()[:32]
        self.sessions[sid] = Session(sid, user, self.kernel.now, self.kernel.now, now_wall)
        return sid

    # -- tasks --------------------------------------------------------------------------
    def new_task(self, call: Call, op: Operation, user: str, description: str,
                 target: tuple[str, str] | None = None) -> ApiTask:
        if len(self.tasks) >= self.limits.max_tasks:
            for tid, t in self.tasks.items():
                if t.status in ("SUCCEEDED", "FAILED"):
                    del self.tasks[tid]
                    break
            else:
                raise VapiError("unable_to_allocate_resource",
                                f"too many running tasks ({self.limits.max_tasks})")
        self._tasks_made += 1
        digest = hashlib.sha256(f"vtalab-serve|{self.seed}|task|{self._tasks_made}"
                                .encode()).hexdigest()
        tid = (f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
               f":{call.service}")
        task = ApiTask(tid, call.vcenter, call.service, call.operation, user, self.kernel.now,
                       description, result_type=op.result, target=target)
        self.tasks[tid] = task
        return task

    def finish_task(self, task: ApiTask, result: Any = None,
                    error: VapiError | None = None, *, record: bool = True) -> None:
        task.end = self.kernel.now
        if error is not None:
            task.status, task.error = "FAILED", error
        else:
            task.status = "SUCCEEDED"
            task.result = Typed(task.result_type, result) if task.result_type is not None \
                else None
        if not record:  # a read: its request's reply already says how it ended
            return
        self.kernel.record(f"api/{self.vcenter_name(task.vcenter)}", "api.task",
                           task=task.id, status=task.status,
                           error=None if error is None else error.kind,
                           message=f"API task {task.operation} {task.status.lower()}"
                           + (f": {error.text}" if error is not None else ""))

    def run_task(self, call: Call, op: Operation, user: str, description: str,
                 verb: str, args: dict[str, Any],
                 finish: Callable[[Outcome], Any],
                 target: tuple[str, str] | None = None,
                 before: Callable[[], None] | None = None,
                 after: Callable[[], None] | None = None) -> str:
        """Start registry verb ``verb`` as a task; ``finish`` turns its outcome into the
        task's result (or raises VapiError for a FAILED task)."""
        task = self.new_task(call, op, user, description, target)
        if before is not None:
            before()
        try:
            proc = self.world.perform(verb, args)
        except InputError as exc:
            self.finish_task(task, error=input_error(exc))
            return task.id
        finally:
            if after is not None:
                after()
        self._watch(task, proc, finish)
        return task.id

    def _watch(self, task: ApiTask, proc: simpy.Process,
               finish: Callable[[Outcome], Any]) -> None:
        def done(event: Any) -> None:
            if not event.ok:
                event.defused = True
                self.finish_task(task, error=self.internal_error(event.value, -1))
                return
            outcome = event.value
            try:
                result = finish(outcome)
            except VapiError as exc:
                self.finish_task(task, error=exc)
            except InputError as exc:
                self.finish_task(task, error=input_error(exc))
            except Exception as exc:  # a bug: the task fails with an id, details in the log
                self.finish_task(task, error=self.internal_error(exc, -1))
            else:
                self.finish_task(task, result)

        proc.callbacks.append(done)

    def read_task(self, call: Call, op: Operation, user: str, description: str,
                  compute: Callable[[], Any], target: tuple[str, str] | None = None) -> str:
        """A task for an operation that takes no simulated time (a read)."""
        task = self.new_task(call, op, user, description, target)
        try:
            result = compute()
        except VapiError as exc:
            self.finish_task(task, error=exc, record=False)
        except InputError as exc:
            self.finish_task(task, error=input_error(exc), record=False)
        else:
            self.finish_task(task, result, record=False)
        return task.id

    # -- the trace ----------------------------------------------------------------------
    def trace_header(self, file: str, text: str, *, streamed: bool = False
                     ) -> dict[str, Any]:
        """The trace file's first line. A streamed trace's header is written before the
        session ends, so its ``until`` is null and the digest line carries it."""
        return {"kind": "vtalab.trace", "version": vtalab.__version__, "file": file,
                "scenario_text": text, "seed": self.seed,
                "until": None if streamed else self.kernel.now,
                "serve": {"topology_only": self.topology_only, "user": self.user}}

    def stream_trace(self, fh: TextIO, path: str | None, *, file: str, text: str) -> None:
        """From now on write the trace to ``fh`` (the ``--trace`` file, or a scratch file)
        as requests arrive instead of keeping it in memory: the header now, the events in
        batches (:meth:`vtalab.core.trace.Trace.stream_to`), the digest line at
        :meth:`end_trace`. ``path`` names the file so the world can read it back (host
        logs are read from the trace)."""
        with self.lock:
            fh.write(canonical(self.trace_header(file, text, streamed=True)) + "\n")
            self.kernel.trace.stream_to(fh, path)

    def end_trace(self, fh: TextIO) -> None:
        """Write the last events and the digest line (with the simulated end) of a
        streamed trace; no request is recorded after it."""
        with self.lock:
            self.closed = True
            digest = self.kernel.trace.digest()
            fh.write(canonical({"kind": "vtalab.digest", "sha256": digest,
                                "until": self.kernel.now}) + "\n")
            fh.flush()

    def trace_text(self, file: str, text: str) -> str:
        with self.lock:
            header = self.trace_header(file, text)
            return (canonical(header) + "\n" + self.kernel.trace.to_jsonl()
                    + canonical({"kind": "vtalab.digest",
                                 "sha256": self.kernel.trace.digest()}) + "\n")


# -- errors ---------------------------------------------------------------------------------
_NOT_FOUND_WHATS = {"host", "TA host", "trusted host", "VM", "base image", "TA cluster",
                    "trusted cluster", "key provider", "principal", "TPM CA certificate",
                    "endorsement key", "task", "service", "cluster", "file"}


def input_error(exc: InputError) -> VapiError:
    """An ``InputError`` from the registry as the vAPI error a vCenter would return."""
    if isinstance(exc, OperationError):
        return VapiError("not_allowed_in_current_state", str(exc))
    if exc.what in _NOT_FOUND_WHATS and exc.value is not None:
        return VapiError("not_found", str(exc), args=(str(exc.value),))
    return VapiError("invalid_argument", str(exc))


def invalid_argument(exc: BadValue) -> VapiError:
    return VapiError("invalid_argument", f"invalid argument {exc.path or '(input)'}: "
                     f"{exc.problem}", msg_id="vapi.data.structure.field.invalid",
                     args=(exc.path,))
