"""``vtalab serve --exercise NAME [--classroom N]``: an exercise served to a browser.

Without ``--classroom``: one world, the exercise's (its scenario prefix has broken the lab),
served as the two vCenters like ``vtalab serve SCENARIO.yaml``, with the console's lab bar
showing the goal, hints, Check and the debrief. With ``--classroom N``: one port, a join
page at ``/ui/``; each trainee who enters a name gets their own world of the exercise (at
most N), and ``/ui/trainer?token=...`` (the token is printed here) shows every trainee.
``--trace`` records the session for ``vtalab replay``: a file, or with ``--classroom`` a
folder that receives one ``<trainee id>.trace`` per trainee when the class stops (the
trainer page offers each trainee's trace while it runs).

Exit codes as ``vtalab serve``: 0 after Ctrl-C, 2 for invalid input (unknown exercise, a
scenario given as well, a port in use).
"""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from vtalab.cli.serve_log import configure_logging
from vtalab.core.files import write_atomic
from vtalab.errors import InputError
from vtalab.scenario.tracefile import check_writable
from vtalab.server import serve_forever
from vtalab.server.classroom import Classroom, exercise_labs, serve_classroom
from vtalab.server.exercise import ExerciseLab, ServedExercise
from vtalab.training.exercises import exercise
from vtalab.training.session import Session

__all__ = ["run"]


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.scenario is not None:
        raise InputError(f"give a scenario or --exercise, not both ({args.scenario!r} and "
                         f"--exercise {args.exercise})", what="argument", value=args.scenario)
    ex = exercise(args.exercise)  # InputError naming the nearest exercise
    if args.trace and args.classroom is not None and not os.path.isdir(args.trace):
        raise InputError(f"--trace {args.trace}: with --classroom, a folder that exists "
                         "(each trainee's session is written to it as <trainee id>.trace)",
                         what="--trace", value=args.trace)
    if args.trace and args.classroom is None:
        check_writable(args.trace)
    speed, paused = args.speed, args.paused
    if args.classroom is not None:
        room = Classroom(ex.id, args.classroom, exercise_labs(speed=speed, paused=paused),
                         seed=args.seed)

        def ready(url: str) -> None:
            out.write("\n".join([
                f"vtalab serve: classroom for exercise {ex.id} ({args.classroom} trainees)",
                f"  {ex.title}",
                f"  trainees open    {url}/ui/   (each enters a name and gets a world)",
                f"  trainer page     {url}/ui/trainer?token={room.token}",
                "Ctrl-C stops.", ""]))
            out.flush()

        configure_logging()  # every line escaped: a log line can carry what a client sent
        try:
            serve_classroom(room, port=args.workload_port, on_ready=ready)
        except OSError as exc:
            raise InputError(str(exc)) from None
        out.write(f"stopped; {len(room.trainees)} trainee(s) joined\n")
        if args.trace:
            for path in room.write_traces(args.trace):
                out.write(f"trace written to {path} (vtalab replay {path})\n")
        return 0

    served = ServedExercise(Session.start(ex, args.seed))
    lab = ExerciseLab(served, speed=speed, paused=paused)

    def banner(s: Any) -> None:
        lines = [
            f"vtalab serve: exercise {ex.id} (seed {lab.seed})", f"  {ex.title}",
            "  Goal: " + " ".join(ex.goal.split()),
            f"  Trust Authority vCenter  {lab.vcenter_name('ta'):<22} {s.ta_url}",
            f"  workload vCenter         {lab.vcenter_name('workload'):<22} {s.workload_url}",
            f"  user      {lab.user}", f"  password  {lab.password}"]
        if not args.no_ui:
            lines.append(f"  console   {s.workload_url}/ui/")
        if s.fingerprint:
            lines.append(f"  TLS certificate (self-signed) SHA-256 {s.fingerprint}")
        out.write("\n".join([*lines, "Ctrl-C stops.", ""]))
        out.flush()

    configure_logging()
    try:
        serve_forever(lab, ta_port=args.ta_port, workload_port=args.workload_port,
                      http=args.http, ui=not args.no_ui, on_ready=banner)
    except OSError as exc:
        raise InputError(str(exc)) from None
    if args.trace:  # the session, kept in memory (grading reads it), written once
        write_atomic(args.trace, lab.exercise_trace().encode("ascii"))
        out.write(f"trace written to {args.trace} (vtalab replay {args.trace})\n")
    g = served.session.grade()
    out.write(f"stopped at simulated {lab.kernel.utc().isoformat()}; "
              f"{'goal reached, trust intact' if g.passed else 'goal not reached'}\n")
    return 0
