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

import html
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from vtalab.errors import InputError
from vtalab.server import console
from vtalab.server.exercise import ServedExercise
from vtalab.training.exercises import exercise
from vtalab.training.session import Session

__all__ = ["Classroom", "Trainee"]

COOKIE = "vtalab-trainee"
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
        self.token = token or secrets.token_urlsafe(18)
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
            trainee = Trainee(tid, name, secrets.token_urlsafe(18), served, lab, apps)
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
                Route("/trainer/debrief/{tid}", self._trainer_debrief, methods=["GET"])]

    def app(self) -> ASGIApp:
        """The ASGI app to mount at ``/class``: each trainee's vCenters and console."""
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
        return secrets.compare_digest(given.encode(), self.token.encode())

    async def _trainer_page(self, request: Request) -> Response:
        if not self._authorised(request):
            return HTMLResponse("<h1>403: the trainer page needs ?token= (printed when the "
                                "server started)</h1>", status_code=403)
        rows = []
        for t in list(self.trainees.values()):
            with t.lab.lock:
                p = t.exercise.progress()
            grade = ("Passed" if p["passed"] else "Goal reached, invariant broken: "
                     + ", ".join(p["broken"]) if p["goal_reached"] else "Not yet")
            rows.append(
                f"<tr data-trainee='{html.escape(t.name)}'><td>{html.escape(t.name)}</td>"
                f"<td>{p['goal_met']} of {p['goal_total']} goal checks</td>"
                f"<td>{p['commands']}</td><td>{p['hints_used']}</td><td>{p['checks']}</td>"
                f"<td class='{'ok' if p['passed'] else ''}'>{html.escape(grade)}</td>"
                f"<td><a href='debrief/{t.id}?token={html.escape(self.token)}'>"
                "debrief</a></td></tr>")
        body = "".join(rows) or ("<tr><td colspan='7' class='empty'>No trainee has joined "
                                 "yet.</td></tr>")
        base = request.scope.get("root_path", "").rstrip("/")
        ex = self.exercise
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Trainer: {html.escape(ex.title)}</title>
<link rel="stylesheet" href="{base}/static/console.css"></head>
<body style="overflow:auto;display:block"><header class="hdr" role="banner"><span class="brand">
vtalab classroom &mdash; trainer</span></header><main class="pane" style="padding:16px 24px">
<h1 style="font-weight:300">{html.escape(ex.title)}</h1>
<p>{len(self.trainees)} of {self.capacity} trainees. Goal: {html.escape(" ".join(ex.goal.split()))}</p>
<table class="grid" aria-label="Trainees"><thead><tr><th scope="col">Trainee</th>
<th scope="col">Progress</th><th scope="col">Commands</th><th scope="col">Hints used</th>
<th scope="col">Checks</th><th scope="col">Grade</th><th scope="col">Debrief</th></tr></thead>
<tbody>{body}</tbody></table></main></body></html>"""
        return HTMLResponse(page, headers={"Cache-Control": "no-store",
                                           "Content-Security-Policy": console.CSP})

    async def _trainer_debrief(self, request: Request) -> Response:
        if not self._authorised(request):
            return HTMLResponse("<h1>403</h1>", status_code=403)
        t = self.trainees.get(request.path_params["tid"])
        if t is None:
            return HTMLResponse("<h1>404: no such trainee</h1>", status_code=404)
        with t.lab.lock:
            text = t.exercise.debrief_html()
        return HTMLResponse(text, headers={"Cache-Control": "no-store"})


class _Dispatch:
    """``/class/<trainee>/<rest>`` to that trainee's app, for the trainee's own browser."""

    def __init__(self, room: Classroom) -> None:
        self.room = room

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        rest = path[len(root):] if path.startswith(root) else path
        parts = rest.lstrip("/").split("/", 2)
        trainee = self.room.trainees.get(parts[0]) if parts else None
        if trainee is None or scope["type"] != "http":
            await _plain(404, "no such trainee")(scope, receive, send)
            return
        request = Request(scope)
        if self.room.trainee_of(request) is not trainee:
            await _plain(403, "this lab belongs to another trainee")(scope, receive, send)
            return
        side = parts[1] if len(parts) > 1 else ""
        if side == "ui":  # the console lives on the workload endpoint
            side, sub = "workload", "/ui"
        else:
            sub = ""
        app = trainee.apps.get(side)
        if app is None:
            await _plain(404, f"no endpoint {side!r}")(scope, receive, send)
            return
        prefix = f"{root}/{trainee.id}/{parts[1]}"
        inner = dict(scope)
        inner["root_path"] = prefix.removesuffix(sub) if sub else prefix
        await app(inner, receive, send)


def _plain(status: int, text: str) -> ASGIApp:
    return Response(text + "\n", status_code=status, media_type="text/plain")
