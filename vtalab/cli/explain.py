"""Subcommands for engineers reproducing a real failure: ``explain`` and ``import``.

``vtalab explain FILE --host HOST [--at TIME] [--json] [--no-fixes] [--bound TIME]``
prints the causal chain of :mod:`vtalab.forensics.explain` and the verified fixes.
``vtalab import --hosts … --base-images … [--base-images-api …] --quickboot …
[--tpm2-settings …] --out estate.yaml`` builds a scenario from PowerCLI exports
(:mod:`vtalab.forensics.estate`).

The golden transcripts of ``scenarios/bugs/`` (one per scenario, ``explain`` of the host
and moment named in :data:`GOLDENS`) are rewritten only on request:
``python -m vtalab.cli.explain --update-goldens``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from vtalab.cli.bundle import register as register_bundle
from vtalab.cli.common import examples, time_arg, until_option
from vtalab.core.files import write_atomic
from vtalab.core.resources import bundled, bundled_scenario
from vtalab.core.text import has_control
from vtalab.errors import InputError
from vtalab.forensics.estate import import_estate
from vtalab.forensics.explain import DEFAULT_BOUND_SECONDS, explain
from vtalab.scenario.model import load_scenario
from vtalab.scenario.tracefile import check_writable, load_file

__all__ = ["GOLDENS", "golden_text", "register", "update_goldens"]

BUGS = bundled("scenarios", "bugs")
LIBRARY = bundled("scenarios")

#: scenario file stem → (host, --at in seconds or None for the end of the run)
GOLDENS: dict[str, tuple[str, float | None]] = {
    "remove-original-before-full-reboot": ("esx-01", 5400.0),
    "intermediate-images": ("esx-01", None),
    "quick-booted-before-joining": ("esx-01", None),
    "quick-boot-refused-txt": ("esx-02", None),
    "import-running-after-quick-boot": ("esx-01", 300.0),
}


def golden_text(stem: str) -> str:
    """The ``explain`` transcript the golden file of ``stem`` must hold."""

    host, at = GOLDENS[stem]
    return explain(load_scenario(str(BUGS / f"{stem}.yaml")), host, at).text()


def update_goldens() -> list[Path]:
    written = []
    for stem in sorted(GOLDENS):
        path = BUGS / "golden" / f"{stem}.txt"
        write_atomic(str(path), golden_text(stem))
        written.append(path)
    return written


def _cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    path = args.file
    if not os.path.exists(path) and (found := bundled_scenario(path)) is not None:
        path = str(found)  # a bundled bug story or scenario, named without its folder
    elif not os.path.lexists(path) and "/" not in path and not path.endswith(".yaml"):
        names = sorted({p.stem for p in (*BUGS.glob("*.yaml"), *LIBRARY.glob("*.yaml"))})
        raise InputError(f"{path}: no such file, nor a bundled bug story or scenario of that "
                         "name", what="bundled names", value=path, choices=names)
    if args.bound <= 0 and not args.no_fixes:  # every fix would "fail" in no time at all
        raise InputError("--bound 0: a fix needs time to take effect; give how long it may "
                         "take, such as 2h (the default) or 30m", what="bound", value="0")
    _, scenario = load_file(path)  # a trace or a bundle given here is said to be one
    with until_option("--at", args.at):  # --bound's runs say so themselves (fixes.py)
        result = explain(scenario, args.host, args.at, fixes=not args.no_fixes,
                         bound=args.bound)
    text = result.to_json() if args.json else result.text()
    out.write(text if text.endswith("\n") else text + "\n")
    return 0


def _cmd_import(args: argparse.Namespace, out: TextIO) -> int:

    inputs = [("the --hosts file", args.hosts), ("the --base-images file", args.base_images),
              ("the --base-images-api file", args.base_images_api),
              ("the --quickboot file", args.quickboot),
              ("the --tpm2-settings file", args.tpm2_settings)]
    check_writable(args.out, inputs)  # before any work; never over an input
    if args.seed < 0:
        raise InputError(f"--seed must be 0 or more (a world seed); got {args.seed}",
                         what="seed", value=args.seed)
    if not args.name.strip() or len(args.name) > 200 or has_control(args.name):
        raise InputError(f"--name {args.name[:60]!r}: a scenario name is 1 to 200 "
                         "characters without control characters", what="name",
                         value=args.name)
    overrides: dict[str, str] = {}
    for item in args.last_full_boot or []:
        host, sep, release = item.partition("=")
        if not sep or not host or not release:
            raise InputError(f"--last-full-boot {item!r}: expected HOST=RELEASE "
                             "(for example esx-01=8.0.1-21495797)")
        if host in overrides:
            raise InputError(f"--last-full-boot {item!r}: {host} is given twice (also "
                             f"{host}={overrides[host]}); give each host once", value=host)
        overrides[host] = release
    text, notes = import_estate(args.hosts, args.base_images, args.quickboot,
                                last_full_boot=overrides, name=args.name, seed=args.seed,
                                tpm2_settings_path=args.tpm2_settings,
                                base_images_api_path=args.base_images_api)
    write_atomic(args.out, text)  # whole or not at all; never through a planted symlink
    for note in notes:
        out.write(note + "\n")
    out.write(f"wrote {args.out}\n")
    return 0


def register(sub: argparse._SubParsersAction
             ) -> dict[str, Callable[[argparse.Namespace, TextIO], int]]:
    e = sub.add_parser(
        "explain", help="why is a host (not) attested, and which fixes work",
        description="Explain a trusted host's attestation at a simulated time: running and "
                    "measured versions, the boot that produced them, PCR 13's version "
                    "records, the base images and who imported or removed them, and "
                    "candidate fixes, each verified by re-running the simulation.",
        epilog=examples("vtalab explain intermediate-images --host esx-01   # a bundled bug",
                        "vtalab explain scenarios/bugs/intermediate-images.yaml --host esx-01",
                        "vtalab explain estate.yaml --host esx-a --at 20m --no-fixes",
                        "vtalab explain estate.yaml --host esx-01 --json > why.json"))
    e.add_argument("file", metavar="FILE",
                   help="the scenario (or imported estate) YAML, or the name of a bundled "
                        "bug story or scenario (for example intermediate-images)")
    e.add_argument("--host", required=True,
                   help="the trusted host (a unique prefix or the short name will do)")
    e.add_argument("--at", type=time_arg, metavar="TIME",
                   help="simulated time (default: the end of the run)")
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.add_argument("--no-fixes", action="store_true", help="skip the verified fixes")
    e.add_argument("--bound", type=time_arg, default=DEFAULT_BOUND_SECONDS, metavar="TIME",
                   help="how long a fix may take to recover (default 2h)")

    i = sub.add_parser(
        "import", help="build an estate scenario from PowerCLI exports",
        description="Build a scenario of a real estate from PowerCLI exports: hosts and "
                    "builds, the trusted base images, each host's Quick Boot state; the "
                    "last full boot of a Quick-Booted host is inferred (or given).",
        epilog=examples("vtalab import --hosts hosts.json --base-images images.json "
                        "--base-images-api base-images-api.json --quickboot quickboot.txt "
                        "--out estate.yaml",
                        "vtalab import ... --last-full-boot esx-01.corp.local=8.0U1 "
                        "--out estate.yaml",
                        "vtalab explain estate.yaml --host esx-01"))
    i.add_argument("--hosts", required=True, metavar="FILE",
                   help="Get-VMHost | Select Name,Version,Build,Parent | ConvertTo-Json "
                        "(or Export-Clixml, Export-Csv)")
    i.add_argument("--base-images", required=True, metavar="FILE",
                   help="Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster $vTA | "
                        "ConvertTo-Json (or Export-Clixml, Export-Csv)")
    i.add_argument("--base-images-api", metavar="JSON",
                   help="the last-attested times: the REST base-images Info (GET "
                        ".../base-images/{version}) of each version, one JSON object keyed "
                        "by version (optional; API 8.0.1 and later)")
    i.add_argument("--quickboot", required=True, metavar="TXT",
                   help="HOST: isBootLoadESX lines (vsish -e get /system/loadESX/isBootLoadESX)")
    i.add_argument("--tpm2-settings", metavar="JSON",
                   help="Get-TrustAuthorityTpm2AttestationSettings -TrustAuthorityCluster "
                        "$vTA | ConvertTo-Json (optional)")
    i.add_argument("--out", required=True, metavar="YAML",
                   help="the scenario file to write (written whole or not at all)")
    i.add_argument("--last-full-boot", action="append", metavar="HOST=RELEASE",
                   help="override the inferred release of a host's last full boot")
    i.add_argument("--name", default="imported-estate",
                   help="the scenario's name (default imported-estate)")
    i.add_argument("--seed", type=int, default=0,
                   help="the scenario's world seed (default 0)")


    return {"explain": _cmd_explain, "import": _cmd_import, **register_bundle(sub)}


def main(argv: list[str] | None = None) -> int:
    """``python -m vtalab.cli.explain --update-goldens``: rewrite scenarios/bugs/golden/."""
    args = list(argv if argv is not None else sys.argv[1:])
    if args != ["--update-goldens"]:
        print("usage: python -m vtalab.cli.explain --update-goldens")
        return 2
    for path in update_goldens():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
