"""``vtalab bundle`` and ``vtalab run BUG.tgz``: pack a bug, and reproduce one bit for bit.

The bundle format and its reading and writing are :mod:`vtalab.forensics.bundle`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from typing import Any, TextIO

import vtalab
from vtalab.cli.common import EXIT_FAIL, EXIT_OK, examples, time_arg, until_option
from vtalab.core.files import decode_text, write_atomic
from vtalab.core.kernel import format_time
from vtalab.errors import InputError, OperationError
from vtalab.forensics.bundle import (
    MANIFEST,
    SCENARIO,
    TRACE,
    Bundle,
    build_bundle,
    expect_verdicts,
    open_bundle,
    sha256_hex,
)
from vtalab.forensics.explain import DEFAULT_BOUND_SECONDS, fixed_scenario
from vtalab.scenario.model import load_scenario_text, resolve_name, run_scenario
from vtalab.scenario.timeline import render_run, render_verdicts
from vtalab.scenario.tracefile import (
    check_writable,
    first_divergence,
    json_run,
    parse_trace,
    write_trace,
)

__all__ = ["register", "run_bundle"]


# -- vtalab run BUG.tgz ---------------------------------------------------------------------

def run_bundle(args: argparse.Namespace, out: TextIO) -> int:
    """``vtalab run BUG.tgz``: re-run the bundled scenario and compare it, bit for bit."""

    if len(args.files) != 1:
        raise InputError(f"a bug bundle runs alone: give only the .tgz (got {len(args.files)}"
                         " files)")
    path = args.files[0]
    for option, value in (("--seed", args.seed), ("--until", args.until),
                          ("--html", getattr(args, "html", None))):
        if value is not None:
            raise InputError(f"{option} does not apply to a bug bundle: it re-runs the "
                             "recorded seed to the recorded end")
    bundle = open_bundle(path)
    m = bundle.manifest
    force = getattr(args, "force_version", False)
    note = ""
    if bundle.version != vtalab.__version__:
        if not force:
            raise InputError(f"{path} was recorded by vtalab {bundle.version}; this is vtalab "
                             f"{vtalab.__version__}. Another version may simulate "
                             "differently, so it cannot vouch for the reproduction: run it "
                             f"with vtalab {bundle.version}, or pass --force-version to "
                             "compare anyway")
        note = (f"note: recorded by vtalab {bundle.version}, running vtalab "
                f"{vtalab.__version__} (--force-version)\n")
    label = f"{path}:{TRACE}"
    header, recorded, digest = parse_trace(decode_text(bundle.members[TRACE], label), label)
    if header["seed"] != m["seed"] or digest != m["trace_digest"]:
        raise InputError(f"{path}: {TRACE} and {MANIFEST} disagree on the seed or the "
                         "digest; the bundle was edited")
    if args.trace is not None:  # "" too; and never the bundle itself
        check_writable(args.trace, [("the bug bundle", path)])
    scenario = load_scenario_text(bundle.scenario_text, file=f"{path}:{SCENARIO}")
    _check_hosts(path, m, scenario)
    result = run_scenario(scenario, seed=m["seed"], until=header.get("until"))
    divergence = first_divergence([e.to_json() for e in recorded],
                                  [e.to_json() for e in result.world.kernel.trace], file=label)
    if divergence is None and digest != result.digest:
        divergence = (f"every event matches, but the recorded digest ({digest}) differs "
                      f"from the re-run's ({result.digest})\n")
    at = m.get("at")
    moment = result if at is None else run_scenario(scenario, seed=m["seed"], until=at)
    changed: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for host in bundle.hosts:
        try:
            fresh = moment.world.evidence(host)
        except (OperationError, InputError):
            fresh = {}
        recorded_evidence = bundle.evidence(host)
        counts[host] = len(fresh)
        changed[host] = sorted(n for n in set(recorded_evidence) | set(fresh)
                               if recorded_evidence.get(n) != fresh.get(n))
    if args.trace:
        write_trace(args.trace, str(header.get("file")), bundle.scenario_text, result)
    reproduced = divergence is None and not any(changed.values())
    # The bundle's own expectation (a scenario without any): judged at `at`.
    result = dataclasses.replace(result, verdicts=[
        *result.verdicts, *expect_verdicts(m, moment.world, moment.end)])
    fixed = None
    if getattr(args, "fix", None) is not None:  # --fix '' is an unknown fix, not no fix
        fixed, fix = _apply_fix(args.fix, bundle, scenario, at)
    judged = fixed if fixed is not None else result
    if args.json:
        report = {"bundle": path, "recorded_version": bundle.version,
                  "version": vtalab.__version__, "hosts": bundle.hosts, "at": at,
                  "run": json_run(f"{path}:{SCENARIO}", result),
                  "reproduced": divergence is None, "divergence": divergence,
                  "evidence_differs": {h: c for h, c in changed.items() if c},
                  "ok": reproduced and judged.ok}
        if fixed is not None:
            report["fix"] = {"key": fix["key"], "title": fix["title"], "host": fix["host"],
                             "run": json_run(f"{path}:{SCENARIO} + fix", fixed)}
        out.write(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        out.write(f"bundle {path}: {m.get('scenario')}, seed {m['seed']}, "
                  f"host{'s' if len(bundle.hosts) > 1 else ''} {', '.join(bundle.hosts)} at "
                  f"{format_time(float(m.get('evidence_time') or 0.0))}, "
                  f"vtalab {bundle.version}\n{note}\n")
        if fixed is None:
            out.write(render_run(result, logs=args.logs, file=f"{path}:{SCENARIO}",
                                 reveal=getattr(args, "reveal", False)))
        if divergence is None:
            out.write(f"reproduced: trace digest {result.digest} identical\n")
        else:
            out.write(f"NOT reproduced: {divergence}")
        when = format_time(moment.end)
        for host in bundle.hosts:
            if changed[host]:
                out.write(f"evidence of {host} at {when} differs: "
                          f"{', '.join(changed[host])}\n")
            else:
                out.write(f"evidence of {host} at {when}: {counts[host]} files identical\n")
        if fixed is not None:
            for line in render_verdicts(result.verdicts)[:-1]:
                out.write(f"without the fix: {line}\n")
            out.write(f"\nwith fix {fix['key']} for {fix['host']} from "
                      f"{format_time(fix['at'])}: {fix['title']}\n")
            out.write(render_run(fixed, logs=args.logs, file=f"{path}:{SCENARIO} + fix"))
    if not reproduced:
        return EXIT_FAIL
    return EXIT_OK if judged.ok else EXIT_FAIL


def _check_hosts(path: str, manifest: dict[str, Any], scenario: Any) -> None:
    """The manifest's hosts (and those its expectation judges) are trusted hosts of the
    bundled scenario: an edited name is the bundle's fault, said before anything runs."""
    trusted = [h.name for c in scenario.topology.trusted_clusters for h in c.hosts]
    named = [("hosts", h) for h in manifest.get("hosts") or [manifest.get("host")]]
    named += [("expect.attested", h) for h in (manifest.get("expect") or {}).get("attested", [])]
    for key, host in named:
        if host not in trusted:
            raise InputError(f"{path}: {MANIFEST} {key} names {host!r}, which is not a trusted "
                             f"host of the bundled {SCENARIO}; the bundle is damaged or was "
                             "edited", what="trusted hosts", value=host, choices=trusted)


def _apply_fix(text: str, bundle: Bundle, scenario: Any, at: float | None
               ) -> tuple[Any, dict[str, Any]]:
    """``--fix KEY[@HOST]``: the recorded run with one of explain's fixes applied at
    ``at``, run for explain's bound, its verdicts with the bundle's expectation at the end."""

    key, sep, host = text.partition("@")
    recorded = (bundle.manifest.get("expect") or {}).get("recorded", {})
    if sep:
        host = resolve_name(bundle.hosts, host, "host", option="--fix KEY@HOST")
    else:  # the first host that failed when it was bundled
        host = next((h for h in bundle.hosts if recorded.get(h, "") != "attested"),
                    bundle.hosts[0])
    scenario_fixed, cand, when = fixed_scenario(scenario, host, at, key)
    end = when + DEFAULT_BOUND_SECONDS
    result = run_scenario(scenario_fixed, seed=bundle.manifest["seed"], until=end)
    result = dataclasses.replace(result, verdicts=[
        *result.verdicts, *expect_verdicts(bundle.manifest, result.world, result.end,
                                           fixed=True)])
    return result, {**cand, "host": host, "at": when}


# -- vtalab bundle --------------------------------------------------------------------------

def _cmd_bundle(args: argparse.Namespace, out: TextIO) -> int:

    if not args.out.endswith((".tgz", ".tar.gz")):
        raise InputError(f"--out {args.out}: a bug bundle is a .tgz file (for example "
                         "BUG.tgz), so that `vtalab run` recognises it")
    check_writable(args.out, [("the scenario file", args.file)])  # never over the input
    with until_option("--at", args.at):
        data, notes = build_bundle(args.file, args.host, args.at)
    write_atomic(args.out, data)  # whole or not at all; never through a planted symlink
    bundle = open_bundle(args.out)
    out.write(f"wrote {args.out}: {len(bundle.members) + 1} members, sha256:"
              f"{sha256_hex(data)}\n")
    out.write(f"  trace digest {bundle.manifest['trace_digest']}, evidence of "
              f"{', '.join(bundle.hosts)} at "
              f"{format_time(float(bundle.manifest['evidence_time']))}\n")
    for line in notes:
        out.write(f"  {line}\n")
    out.write(f"reproduce it with: vtalab run {args.out}\n")
    return EXIT_OK


Command = Callable[[argparse.Namespace, TextIO], int]


def register(sub: argparse._SubParsersAction) -> dict[str, Command]:
    """Add ``vtalab bundle`` to the sub-parsers (called by :mod:`vtalab.cli.explain`)."""

    b = sub.add_parser(
        "bundle", help="pack a bug (scenario, seed, trace, evidence, explanation) into one "
                       "reproducible .tgz",
        description="Pack what someone else needs to see an attestation failure happen "
                    "again: the scenario, seed, trace, each host's TPM evidence and "
                    "explanation. `vtalab run BUG.tgz` re-runs it and exits 1 while the "
                    "failure reproduces.",
        epilog=examples("vtalab bundle estate.yaml --out BUG.tgz",
                        "vtalab bundle scenarios/bugs/intermediate-images.yaml --host esx-01 "
                        "--at 2h --out BUG.tgz",
                        "vtalab run BUG.tgz"))
    b.add_argument("file", metavar="FILE", help="the scenario (or imported estate) YAML")
    b.add_argument("--host", action="append", metavar="HOST",
                   help="a trusted host the bug is about (repeat for several; default: "
                        "every trusted host not attested at --at, or all if all are)")
    b.add_argument("--at", type=time_arg, metavar="TIME",
                   help="simulated time of the evidence and explanation (default: the end)")
    b.add_argument("--out", required=True, metavar="BUG.tgz",
                   help="the bundle to write (a .tgz; written whole or not at all)")
    return {"bundle": _cmd_bundle}
