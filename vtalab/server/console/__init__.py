"""The web console: pages like the vSphere Client's Trust Authority pages, served at ``/ui``.

The console is a static shell (one Jinja2 template, one stylesheet, one plain-JavaScript
file, all package data: no CDN, no build step) whose script reads and changes the world
only through the public HTTP API of ``vtalab serve``: the REST mapping of the vSphere
Automation API (``/api/session``, ``/api/vcenter/trusted-infrastructure/...``,
``/api/cis/tasks``, ``/api/vcenter/vm``) and the lab extension ``/api/vtalab/...``
(clock, inventory, host status and actions, events, Recent Tasks, the exercise). Nothing
here touches the world: :func:`routes` serves files and a page configuration (which URLs
the two vCenters answer on, whether an exercise runs, whether the lab view is offered).

Layout as in the vSphere Client: the inventory tree on the left (Trust Authority vCenter >
TA cluster > hosts; workload vCenter > Trusted clusters > hosts > VMs), the selected
object's tabs on the right (Summary, Monitor, Configure ...), Recent Tasks at the bottom,
refreshed by polling. Above them, the **lab bar** (not part of the vSphere Client, and
labelled so): the simulated clock, and in an exercise its goal, hints, Check and debrief.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from vtalab.server.app import create_app

__all__ = ["CSP", "ConsoleConfig", "page_config", "render", "routes", "static_files",
           "templates"]

_HERE = resources.files(__name__)
_ENV: Environment | None = None

#: What the page needs to know: ``endpoints`` maps ``ta``/``wl`` to the base URL of each
#: vCenter's API (``""`` for the page's own origin), ``key`` names the session storage
#: slot, ``exercise`` says an exercise runs, ``labview`` offers the lab view toggle,
#: ``credentials`` (classroom only) logs a trainee in to their own world.
ConsoleConfig = dict[str, Any]


def templates() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = Environment(loader=FileSystemLoader(str(_HERE / "templates")),
                           autoescape=select_autoescape(["html"]), auto_reload=False)
    return _ENV


def render(name: str, **context: Any) -> HTMLResponse:
    """One of the console's templates as an HTML response (no caching: pages are live)."""
    page = templates().get_template(name).render(**context)
    return HTMLResponse(page, headers={"Cache-Control": "no-store",
                                       "Content-Security-Policy": CSP})


#: Nothing but the page's own origin and the lab's two endpoints on 127.0.0.1: a browser
#: refuses any other address, so the console works offline and leaks nothing.
CSP = ("default-src 'self'; connect-src 'self' http://127.0.0.1:* https://127.0.0.1:*; "
       "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def static_files() -> StaticFiles:
    """The console's script and stylesheet (package data)."""
    return StaticFiles(directory=str(_HERE / "static"))


def page_config(lab: Any, side: str, root: str, *, trainer: bool = False) -> ConsoleConfig:
    """The page configuration of the console at ``root`` (``.../ui``) on ``side``
    (``trainer``: a classroom's trainer looks at a trainee's world).

    Both vCenters answer on the page's own origin: this endpoint's API at ``root``'s
    parent, the other vCenter's API mounted under ``root`` (see :func:`routes`), so the
    browser never needs a cross-origin request."""
    here = root.removesuffix("/ui")
    other = "workload" if side == "ta" else "ta"
    endpoints = {"ta": here, "wl": f"{root}/{other}"} if side == "ta" else \
        {"ta": f"{root}/{other}", "wl": here}
    classroom = bool(getattr(lab, "classroom", False))
    cfg: ConsoleConfig = {
        "endpoints": endpoints, "key": f"{lab.seed}-{here or '/'}", "user": lab.user,
        "exercise": getattr(lab, "exercise", None) is not None,
        # the lab view is the trainer's: a trainee in a classroom does not get the toggle
        "labview": trainer or not classroom, "clock_ep": "wl", "poll_ms": 1500}
    if classroom:  # the trainee's browser holds a cookie for this world only
        cfg["credentials"] = {"user": lab.user, "password": lab.password}
    return cfg


def routes(lab: Any, side: str) -> list[BaseRoute]:
    """The console's routes on the ``side`` endpoint of ``lab``, to be mounted at ``/ui``.

    ``/ui/`` is the page, ``/ui/static/`` its script and stylesheet, and ``/ui/ta/`` (on
    the workload endpoint) or ``/ui/workload/`` (on the TA endpoint) the other vCenter's
    API, the same app as on its own port (``create_app``), so one page shows both
    vCenters as the vSphere Client's navigator does.
    """
    other = "workload" if side == "ta" else "ta"

    async def page(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        trainer = bool(request.scope.get("state", {}).get("vtalab_trainer"))
        text = json.dumps(page_config(lab, side, root, trainer=trainer), sort_keys=True)
        return render("console.html", base=root,
                      config_json=text.replace("<", "\\u003c"))

    return [
        Route("/", page, methods=["GET"], name="console"),
        Mount("/static", app=static_files(), name="static"),
        Mount(f"/{other}", app=create_app(lab, other, ui=False)),
    ]
