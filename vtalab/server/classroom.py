"""Classroom mode: one deterministic world per trainee, and the trainer's overview.

``vtalab serve --exercise NAME --classroom N`` serves a join page at ``/ui``. A trainee
who opens it and enters a name gets a world of their own: the exercise's scenario prefix
run from the exercise's seed (so every trainee starts from the same, reproducible broken
lab), served as the two vCenters under ``/class/<trainee>/ta`` and
``/class/<trainee>/workload``, with the console at ``/class/<trainee>/ui``. At most N
trainees join; a browser keeps its trainee by a cookie, so a reload returns to the same
world, and a second browser (another trainee) gets another.

The trainer page ``/ui/trainer`` (protected by a token printed at start-up) lists every
trainee with their progress (goal checks met, commands, simulated time), hints used,
their grade (the grading of ``vtalab train``) and a link to their HTML debrief.

This module only manages worlds and routes requests to them: each trainee's requests go
to a served lab built by the ``make_lab`` callable the command line gives, whose API is the
same as the single-world server's. Tokens and cookies come from the operating system's
random source; they live outside the simulated world and never reach a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from vtalab.core.files import write_atomic
from vtalab.core.kernel import format_time
from vtalab.errors import InputError
from vtalab.server import console
from vtalab.server.app import create_app
from vtalab.server.exercise import ExerciseLab, ServedExercise
from vtalab.server.run import TICK_SECONDS, Stoppable, _Server, _socket
from vtalab.training.exercises import exercise
from vtalab.training.session import Session

__all__ = ["Classroom", "ServedClassroom", "Trainee", "classroom_app", "exercise_labs",
           "serve_classroom", "start_classroom"]

log = logging.getLogger("vtalab.serve")

COOKIE = "vtalab-trainee"
TRAINER_COOKIE = "vtalab-trainer"
#: set in the ASGI scope's state of a request the trainer makes (see console.page_config)
TRAINER_STATE = "vtalab_trainer"
NAME_RE = re.compile(r"^[\w .'-]{1,40}$", re.UNICODE)


@dataclass
class Trainee:
    id: str  #: t1, t2 ... in the order they joined
    name: str
    cookie: str = field(repr=False)
    exercise: ServedExercise = field(repr=False)
    lab: Any = field(repr=False)  #: the served lab (the single-world server's object)
    apps: dict[str, ASGIApp] = field(repr=False, default_factory=dict)


class Classroom:
    """Up to ``capacity`` trainees, each with a world of exercise ``exercise_id``.

    ``make_lab(served_exercise)`` returns ``(lab, apps)``: the served lab of that world and
    its ASGI apps by side (``"ta"``, ``"workload"``), each serving the API (and the
    console) of one vCenter; the classroom mounts them under the trainee's prefix.
    """

    def __init__(self, exercise_id: str, capacity: int,
                 make_lab: Callable[[ServedExercise], tuple[Any, dict[str, ASGIApp]]], *,
                 seed: int | None = None, token: str | None = None) -> None:
        if capacity < 1:
            raise InputError(f"--classroom needs at least 1 trainee, not {capacity}",
                             what="classroom size", value=capacity)
        self.exercise = exercise(exercise_id)  # InputError naming the nearest exercise
        self.capacity = capacity
        self.seed = seed
        self.make_lab = make_lab
        # the trainer's token guards the page; it is no part of any world
        self.token = token or secrets.token_urlsafe(18)  # wall-clock ok
        self.trainees: dict[str, Trainee] = {}
        self._by_cookie: dict[str, Trainee] = {}
        self._lock = threading.Lock()

    # -- trainees -----------------------------------------------------------------------------
    def join(self, name: str) -> Trainee:
        name = " ".join(name.split())
        if not NAME_RE.match(name):
            raise InputError(f"name {name[:60]!r}: use 1 to 40 letters, digits, spaces, dots, "
                             "hyphens or apostrophes", what="name", value=name[:60])
        with self._lock:
            for t in self.trainees.values():
                if t.name.lower() == name.lower():
                    raise InputError(f"the name {name!r} is taken in this class; choose "
                                     "another (add an initial)", what="name", value=name)
            if len(self.trainees) >= self.capacity:
                raise InputError(f"the class is full ({self.capacity} trainees)",
                                 what="classroom", value=name)
            tid = f"t{len(self.trainees) + 1}"
            served = ServedExercise(Session.start(self.exercise, self.seed), actor=name)
            lab, apps = self.make_lab(served)
            cookie = secrets.token_urlsafe(18)  # wall-clock ok: a login secret, not world state
            trainee = Trainee(tid, name, cookie, served, lab, apps)
            self.trainees[tid] = trainee
            self._by_cookie[trainee.cookie] = trainee
            return trainee

    def trainee_of(self, request: Request) -> Trainee | None:
        return self._by_cookie.get(request.cookies.get(COOKIE, ""))

    # -- HTTP -----------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        """The classroom's pages, to be mounted at ``/ui`` (the join page and the trainer's)."""
        return [Route("/", self._join_page, methods=["GET", "POST"]),
                Route("/trainer", self._trainer_page, methods=["GET"]),
                Route("/trainer/debrief/{tid}", self._trainer_debrief, methods=["GET"]),
                Route("/trainer/trace/{tid}", self._trainer_trace, methods=["GET"])]

    def app(self) -> ASGIApp:
        """The ASGI app to mount at ``/class``: each trainee's workload vCenter (its API,
        the console at ``ui/`` and the TA vCenter's API under ``ui/ta/``)."""
        return _Dispatch(self)

    async def _join_page(self, request: Request) -> Response:
        trainee = self.trainee_of(request)
        if trainee is not None:
            return RedirectResponse(f"/class/{trainee.id}/ui/", status_code=303)
        message = None
        if request.method == "POST":
            form = await request.form()
            try:
                trainee = self.join(str(form.get("name", "")))
            except InputError as exc:
                message = str(exc)
            else:
                resp = RedirectResponse(f"/class/{trainee.id}/ui/", status_code=303)
                resp.set_cookie(COOKIE, trainee.cookie, httponly=True, samesite="strict",
                                path="/")
                return resp
        base = request.scope.get("root_path", "").rstrip("/")
        ex = self.exercise
        return console.render(
            "login.html", base=base, heading=f"Exercise: {ex.title}",
            intro=(f"Enter your name to get your own lab ({len(self.trainees)} of "
                   f"{self.capacity} places taken)."),
            message=message, message_kind="err", action=f"{base}/",
            fields=[{"label": "Your name", "type": "text", "name": "name", "value": "",
                     "autofocus": True, "autocomplete": "name"}],
            submit="Start")

    def _authorised(self, request: Request) -> bool:
        given = request.query_params.get("token", "")
        return secrets.compare_digest(given.encode(), self.token.encode())  # wall-clock ok

    def is_trainer(self, request: Request) -> bool:
        """The trainer's token, in the query (a link of the trainer page) or a cookie."""
        given = request.query_params.get("token") or request.cookies.get(TRAINER_COOKIE, "")
        return secrets.compare_digest(given.encode(), self.token.encode())  # wall-clock ok

    async def _trainer_page(self, request: Request) -> Response:
        if not self._authorised(request):
            return HTMLResponse("<h1>403: the trainer page needs ?token= (printed when the "
                                "server started)</h1>", status_code=403)
        rows = []
        for t in list(self.trainees.values()):
            with t.lab.lock:
                p = t.exercise.progress()
            if p["passed"]:
                grade = "Passed: goal reached, trust intact"
            elif p["goal_reached"]:
                grade = "Goal reached, but not the right way: " + ", ".join(p["broken"])
            else:
                grade = "Not yet"
            rows.append({"id": t.id, "name": t.name, "grade": grade,
                         "time": format_time(p["now"]),
                         "hints_total": len(self.exercise.hints), **p})
        base = request.scope.get("root_path", "").rstrip("/")
        ex = self.exercise
        return console.render("trainer.html", base=base, title=ex.title, trainees=rows,
                              capacity=self.capacity, goal=" ".join(ex.goal.split()),
                              token=self.token)

    async def _trainer_debrief(self, request: Request) -> Response:
        if not self._authorised(request):
            return HTMLResponse("<h1>403</h1>", status_code=403)
        t = self.trainees.get(request.path_params["tid"])
        if t is None:
            return HTMLResponse("<h1>404: no such trainee</h1>", status_code=404)
        with t.lab.lock:
            text = t.exercise.debrief_html()
        return HTMLResponse(text, headers={"Cache-Control": "no-store"})

    async def _trainer_trace(self, request: Request) -> Response:
        """A trainee's session as a trace file (``vtalab replay`` re-runs it)."""
        if not self._authorised(request):
            return HTMLResponse("<h1>403</h1>", status_code=403)
        t = self.trainees.get(request.path_params["tid"])
        if t is None:
            return HTMLResponse("<h1>404: no such trainee</h1>", status_code=404)
        text = self.trace_of(t)
        return Response(text, media_type="application/x-ndjson", headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{t.id}.trace"'})

    # -- record -----------------------------------------------------------------------------
    def trace_of(self, trainee: Trainee) -> str:
        """One trainee's served session, recorded like a ``vtalab serve`` session: the
        exercise, the seed, every request (``vtalab replay`` re-runs it bit for bit)."""
        with trainee.lab.lock:
            return str(trainee.lab.exercise_trace())

    def write_traces(self, folder: str) -> list[str]:
        """Write every trainee's trace to ``folder/<trainee id>.trace``; the paths."""
        written = []
        for t in list(self.trainees.values()):
            path = os.path.join(folder, f"{t.id}.trace")
            write_atomic(path, self.trace_of(t).encode("ascii"))
            written.append(path)
        return written


class _Dispatch:
    """``/class/<trainee>/...`` to that trainee's workload vCenter app (API and console),
    for the trainee's own browser only (the cookie set when they joined)."""

    def __init__(self, room: Classroom) -> None:
        self.room = room

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "")
        path = scope["path"]
        rest = path[len(root):] if path.startswith(root) else path
        tid = rest.lstrip("/").split("/", 1)[0]
        trainee = self.room.trainees.get(tid)
        if trainee is None:
            await _plain(404, "no such trainee")(scope, receive, send)
            return
        request = Request(scope)
        trainer = self.room.is_trainer(request)
        if self.room.trainee_of(request) is not trainee and not trainer:
            await _plain(403, "this lab belongs to another trainee")(scope, receive, send)
            return
        inner = dict(scope)
        inner["root_path"] = f"{root}/{tid}"
        # the console offers the trainer (not the trainee) its lab view
        inner["state"] = {**scope.get("state", {}), TRAINER_STATE: trainer}
        if trainer and request.query_params.get("token"):  # the trainer's first visit
            async def send_with_cookie(message: Any) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers.append((b"set-cookie", (
                        f"{TRAINER_COOKIE}={self.room.token}; Path=/class/{tid}/; HttpOnly; "
                        "SameSite=Strict").encode("latin-1")))
                    message = {**message, "headers": headers}
                await send(message)

            await trainee.apps["workload"](inner, receive, send_with_cookie)
            return
        await trainee.apps["workload"](inner, receive, send)


def _plain(status: int, text: str) -> ASGIApp:
    return Response(text + "\n", status_code=status, media_type="text/plain")


def classroom_app(room: Classroom) -> Starlette:
    """The whole classroom on one port: ``/ui`` (join, trainer) and ``/class`` (labs)."""
    return Starlette(routes=[
        Route("/", lambda request: RedirectResponse("/ui/", status_code=307)),
        Mount("/ui", routes=[*room.routes(),
                             Mount("/static", app=console.static_files(), name="static")]),
        Mount("/class", app=room.app()),
    ])


async def _tick(room: Classroom, stop: asyncio.Event) -> None:
    """Keep every trainee's world in step with its clock (as ``vtalab serve`` does)."""
    while not stop.is_set():
        for t in list(room.trainees.values()):
            try:
                t.lab.tick()
            except Exception:  # a bug in one world must not stop the class; it is logged
                log.exception("the world of trainee %s failed while advancing", t.id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK_SECONDS)


@dataclass
class ServedClassroom(Stoppable):
    room: Classroom
    url: str
    _stop: Callable[[], None] | None = field(default=None, repr=False)


async def _serve(room: Classroom, sock: socket.socket, stop: asyncio.Event,
                 log_level: str) -> None:
    config = uvicorn.Config(classroom_app(room), log_level=log_level, access_log=False,
                            lifespan="off", timeout_keep_alive=30)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    ticker = asyncio.create_task(_tick(room, stop))
    await stop.wait()
    server.should_exit = True
    await asyncio.gather(task, return_exceptions=True)
    await ticker


def start_classroom(room: Classroom, *, host: str = "127.0.0.1", port: int = 0,
                    log_level: str = "warning") -> ServedClassroom:
    """Serve the classroom from a background thread (tests); ``stop()`` shuts it down."""
    sock = _socket(host, port)
    loop = asyncio.new_event_loop()
    holder: dict[str, asyncio.Event] = {}
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            holder["stop"] = asyncio.Event()
            ready.set()
            await _serve(room, sock, holder["stop"], log_level)

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="vtalab-classroom", daemon=True)
    thread.start()
    ready.wait(10)

    def stop() -> None:
        if "stop" in holder and thread.is_alive():
            loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(15)
        sock.close()

    return ServedClassroom(room, f"http://{host}:{sock.getsockname()[1]}", stop)


def serve_classroom(room: Classroom, *, host: str = "127.0.0.1", port: int = 8444,
                    on_ready: Callable[[str], None] | None = None,
                    log_level: str = "warning") -> None:
    """Serve the classroom in the foreground until Ctrl-C (``vtalab serve --classroom``)."""
    sock = _socket(host, port)
    try:
        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            if on_ready is not None:
                on_ready(f"http://{host}:{sock.getsockname()[1]}")
            await _serve(room, sock, stop, log_level)

        asyncio.run(main())
    finally:
        sock.close()


def exercise_labs(*, speed: float = 60.0, paused: bool = False
                  ) -> Callable[[ServedExercise], tuple[Any, dict[str, ASGIApp]]]:
    """``make_lab`` for :class:`Classroom`: an exercise lab with its workload app and console."""
    def make(served: ServedExercise) -> tuple[Any, dict[str, ASGIApp]]:
        lab = ExerciseLab(served, classroom=True, speed=speed, paused=paused)
        return lab, {"workload": create_app(lab, "workload", ui=True)}

    return make
