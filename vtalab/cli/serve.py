"""``vtalab serve SCENARIO.yaml``: arguments and the start-up banner only.

The work is :mod:`vtalab.server`. Exit **0** after Ctrl-C (the trace is written first when
``--trace`` is given), **2** for invalid input (a bad scenario, a port in use, an unwritable
trace path: nothing is served, nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import tempfile
from collections.abc import Callable
from typing import Any, TextIO

from vtalab.cli.common import examples
from vtalab.cli.serve_exercise import run as run_exercise
from vtalab.cli.serve_log import configure_logging
from vtalab.core.files import atomic_file
from vtalab.errors import InputError
from vtalab.scenario.tracefile import check_writable, load_file
from vtalab.server import ServedLab, serve_forever

__all__ = ["register"]

Command = Callable[[argparse.Namespace, TextIO], int]


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= 1e6):
        raise argparse.ArgumentTypeError(f"{text}: the speed must be in (0, 1e6] simulated "
                                         "seconds per real second")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r} (0 to 65535; 0 picks "
                                         "a free one)")
    return int(text)


def register(sub: argparse._SubParsersAction) -> dict[str, Command]:

    s = sub.add_parser(
        "serve", help="serve the lab as two vCenters (TA and workload) for the vSphere "
                      "Automation SDK, REST clients and the console",
        description="Serve a scenario's world as its Trust Authority vCenter and its workload "
                    "vCenter on 127.0.0.1: vAPI JSON-RPC for VMware's Python SDK and the "
                    "REST mapping for curl, with tasks in simulated time, a lab clock "
                    "(/api/vtalab/clock) and a record of every request for vtalab replay. "
                    "Prints the URLs, user, password and how to connect; Ctrl-C stops.",
        epilog=examples(
            "vtalab serve scenarios/quick-boot-upgrade.yaml",
            "vtalab serve scenarios/quick-boot-upgrade.yaml --paused --topology-only --http",
            "vtalab serve my-lab.yaml --speed 600 --trace session.trace",
            "vtalab serve --exercise upgrade-before-import --http   # goal, hints, Check",
            "vtalab serve --exercise restart-kmxa --classroom 12   # one world per trainee",
            "vtalab replay session.trace   # re-run the served session"))
    s.add_argument("scenario", metavar="SCENARIO.yaml", nargs="?",
                   help="the scenario whose topology (and steps) to serve (or --exercise)")
    s.add_argument("--ta-port", type=_port, default=8443, metavar="P",
                   help="port of the Trust Authority vCenter (default 8443)")
    s.add_argument("--workload-port", type=_port, default=8444, metavar="Q",
                   help="port of the workload vCenter (default 8444)")
    s.add_argument("--http", action="store_true",
                   help="plain HTTP instead of HTTPS with the seed's self-signed certificate")
    clock = s.add_mutually_exclusive_group()
    clock.add_argument("--speed", type=_speed, default=60.0, metavar="X",
                       help="simulated seconds per real second (default 60)")
    clock.add_argument("--paused", action="store_true",
                       help="start with the clock stopped (move it with /api/vtalab/clock)")
    s.add_argument("--topology-only", action="store_true",
                   help="build the scenario's topology but do not run its steps")
    s.add_argument("--seed", type=int, help="override the scenario's seed")
    s.add_argument("--trace", metavar="FILE",
                   help="record the session (every request) for vtalab replay: streamed to "
                        "FILE while serving; with --classroom a folder that gets one "
                        "<trainee id>.trace per trainee")
    s.add_argument("--no-ui", action="store_true", help="do not mount the web console at /ui")
    s.add_argument("--exercise", metavar="NAME", help="serve a training exercise (vtalab "
                   "train lists them) instead of a scenario: goal, hints, Check in the console")
    s.add_argument("--classroom", type=int, metavar="N", help="with --exercise: up to N "
                   "trainees on one port, each with their own world, and a trainer page")
    return {"serve": run}


def _banner(served: Any, lab: Any, args: argparse.Namespace, out: TextIO) -> None:
    k = "-k " if served.scheme == "https" else ""
    verify = "False" if served.scheme == "https" else "True"
    host_port = served.ta_url.split("://", 1)[1]
    first_host = next((h for h in lab.world.hosts if lab.world.hosts[h].role == "trusted"),
                      next(iter(lab.world.hosts)))
    lines = [
        f"vtalab serve: {lab.scenario.name} (seed {lab.seed}"
        + (", topology only" if lab.topology_only else "") + ")",
        f"  Trust Authority vCenter  {lab.vcenter_name('ta'):<22} {served.ta_url}",
        f"  workload vCenter         {lab.vcenter_name('workload'):<22} {served.workload_url}",
        f"  user      {lab.user}",
        f"  password  {lab.password}",
    ]
    if served.fingerprint:
        lines += [f"  TLS certificate (self-signed, from the seed) SHA-256 {served.fingerprint}",
                  f"  certificate file (for curl --cacert, while serving): {served.cert_file}"]
    state = "paused" if not lab.clock.running else f"{lab.clock.speed:g} simulated s per s"
    lines += [
        f"  clock     {state}; GET/PATCH {served.ta_url}/api/vtalab/clock",
        *([f"  console   {served.workload_url}/ui/  (the same on {served.ta_url}/ui/)"]
          if not args.no_ui else []),
        "",
        "SDK (pip install vmware-vcenter==8.0.3.0):",
        "  import requests",
        "  from vmware.vapi.vsphere.client import create_vsphere_client",
        f"  s = requests.Session(); s.verify = {verify}; s.trust_env = False",
        f"  client = create_vsphere_client(server='{host_port}', username='{lab.user}',",
        f"                                 password='{lab.password}', session=s)"
        if served.scheme == "https" else
        "  # plain HTTP: see docs/serve.md (get_requests_connector with url=.../api)",
        "",
        "curl:",
        f"  SID=$(curl -s {k}-X POST -u '{lab.user}:{lab.password}' "
        f"{served.ta_url}/api/session | tr -d '\"')",
        f"  curl -s {k}-H \"vmware-api-session-id: $SID\" "
        f"{served.ta_url}/api/vcenter/trusted-infrastructure/trust-authority-clusters",
        f"  curl -s {k}-u '{lab.user}:{lab.password}' -o boot_imgdb.tgz "
        f"{served.ta_url}/hosts/{first_host}/boot_imgdb.tgz",
        "",
        "Ctrl-C stops" + (f" and writes the trace to {args.trace}" if args.trace else "") + ".",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.seed is not None and args.seed < 0:  # a trace with it would not replay
        raise InputError(f"--seed: expected a number >= 0, got {args.seed}", what="seed",
                         value=args.seed)
    if args.exercise is not None:  # the console's exercise and classroom modes
        return run_exercise(args, out)
    if args.classroom is not None:
        raise InputError("--classroom needs --exercise NAME (vtalab train lists them)",
                         what="option", value="--classroom")
    if args.scenario is None:
        raise InputError("vtalab serve needs a SCENARIO.yaml or --exercise NAME",
                         what="argument", value="")
    text, scenario = load_file(args.scenario)
    if args.trace:
        check_writable(args.trace)
    if args.ta_port and args.ta_port == args.workload_port:
        raise InputError(f"--ta-port and --workload-port are both {args.ta_port}: the two "
                         "vCenters need two ports")
    configure_logging()  # every line escaped: a log line can carry what a client sent
    lab = ServedLab(scenario, seed=args.seed, topology_only=args.topology_only,
                    speed=args.speed, paused=args.paused)
    name = os.path.basename(args.scenario)
    # The trace goes to a file as requests arrive, never kept whole in memory (memory
    # stays flat however long the lab serves): the --trace file (renamed into place when
    # the lab stops, removed on an error), or a scratch file removed on exit.
    with contextlib.ExitStack() as stack:
        if args.trace:
            fh, tmp = stack.enter_context(atomic_file(args.trace, encoding="ascii"))
        else:
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="vtalab-serve-"))
            tmp = os.path.join(scratch, "served.trace")
            fh = stack.enter_context(open(tmp, "w", encoding="ascii", newline="\n"))
        lab.stream_trace(fh, tmp, file=name, text=text)
        try:
            serve_forever(lab, ta_port=args.ta_port, workload_port=args.workload_port,
                          http=args.http, ui=not args.no_ui,
                          on_ready=lambda served: _banner(served, lab, args, out))
        except OSError as exc:
            raise InputError(str(exc)) from None
        lab.end_trace(fh)
    if args.trace:
        lab.kernel.trace.moved_to(args.trace)
    out.write(f"stopped at simulated {lab.kernel.utc().isoformat()} after "
              f"{lab.requests} requests\n")
    if args.trace:
        out.write(f"trace written to {args.trace} (vtalab replay {args.trace})\n")
    return 0
