"""Candidate fixes for a host that does not attest, each verified by simulation.

A fix is a list of **scenario steps** (PowerCLI cmdlets and lab verbs, as an operator
would type them). Candidates are generated from the situation
:func:`vtalab.forensics.explain.explain` found — the measured version, the running
version, the trusted base images, the VMs on the host, the cluster's Quick Boot setting:

``import-measured``
    import the version the TPM describes (``restore`` it when a step removed it), from a
    ``boot_imgdb.tgz`` still in the lab or exported from a host that runs that version;
``full-reboot``
    disable Quick Boot for the cluster, move (or stop) the host's VMs, reboot fully, bring
    the VMs back: the TPM then describes the running version;
``import-running`` / ``import-running+full-reboot``
    import the running version's image, alone (it cannot help while the TPM describes
    another version) and followed by the full reboot;
``revert``
    boot the previous image from the alternate boot bank (a full boot);
``remove-unneeded:<version>``
    remove a base image no host measures (housekeeping; never a repair).

**Verification**: the scenario is rebuilt with the steps that had started before ``at``
(the same seed, so the world at ``at`` is identical), the fix's steps from ``at`` on and no
expectations, and run until ``at`` + ``bound``. A fix **works** when every fix step
succeeds and the host is attested at the bound; the time to recover is from ``at`` to the
first ``attest.result`` of the host after which it stays attested. Side effects are read
from the same run: VMs moved or powered off, other hosts that start or stop attesting,
base images that become required, the Quick Boot setting. The original scenario's later
steps are *replaced* by the fix.
"""

from __future__ import annotations

from typing import Any

from vtalab.core.kernel import format_time
from vtalab.domain.base_image import BaseImageError, parse_imagedb
from vtalab.scenario.model import Scenario, Step, run_scenario, step_text
from vtalab.scenario.run import UntilTooFar

__all__ = ["fix_scenario", "verified_fixes"]


def fix_scenario(scenario: Scenario, at: float, started: int,
                 steps: list[dict[str, Any]]) -> Scenario:
    """``scenario`` with its first ``started`` steps, then ``steps`` from ``at`` on."""
    data = scenario.model_dump(by_alias=True, mode="json", exclude_none=True)
    fix = [dict(s) for s in steps]
    if fix:
        fix[0] = {"at": at, **{k: v for k, v in fix[0].items() if k != "after"}}
    data["steps"] = data["steps"][:started] + fix
    data["expect"] = []
    data["settle"] = 0
    return Scenario.model_validate(data)


def _step(do: str, fid: str, **args: Any) -> dict[str, Any]:
    return {"id": fid, "do": do, "with": args} if args else {"id": fid, "do": do}


def _quiesce(world: Any, host: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                              list[str]]:
    """Steps before/after a reboot of ``host`` for its running VMs, and what they mean."""
    running = sorted(v.name for v in world.vms.values()
                     if v.host == host and v.power_state == "poweredOn")
    if not running:
        return [], [], []
    one = len(running) == 1
    vms, them = (f"VM {running[0]}", "it") if one else (f"VMs {', '.join(running)}", "them")
    h = world.host(host)
    peers = sorted(n for n, x in world.hosts.items()
                   if n != host and x.cluster == h.cluster and x.is_up
                   and world.attestation_status(n)["status"] == "attested")
    if peers:
        return ([_step("Set-VMHost", "fix-maintenance", vmhost=host, state="Maintenance")],
                [_step("Set-VMHost", "fix-exit-maintenance", vmhost=host, state="Connected")],
                [f"{vms} must be moved off {host} (maintenance mode; "
                 f"attested peer{'s' if len(peers) > 1 else ''}: {', '.join(peers)})"])
    before = [_step("Stop-VM", f"fix-stop-{vm}", vm=vm) for vm in running]
    after = [_step("Start-VM", f"fix-start-{vm}", vm=vm) for vm in running]
    return before, after, [f"{vms} must be powered off for the reboot "
                           f"(no attested host in {h.cluster} to move {them} to)"]


def _image_source(world: Any, version: str, fid: str) -> tuple[list[dict[str, Any]], str] | None:

    for name in sorted(world.files):
        data = world.files[name]
        if isinstance(data, bytes):
            try:
                if parse_imagedb(data, source=name).version == version:
                    return ([_step("New-TrustAuthorityVMHostBaseImage", fid, file=name)],
                            f"the exported file {name} still in the lab")
            except BaseImageError:
                continue
    hosts = sorted(world.hosts.values(), key=lambda x: (x.role != "trusted", x.name))
    for x in hosts:
        if x.is_up and x.version == version:
            file = f"{x.name}-{version}-imgdb.tgz"
            return ([_step("Export-VMHostImageDb", f"{fid}-export", vmhost=x.name, file=file),
                     _step("New-TrustAuthorityVMHostBaseImage", fid, file=file)],
                    f"an export from {x.name}, which runs {version}")
    return None


def candidates(world: Any, host: str, chain: dict[str, Any]
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(fix candidates with their steps, candidates that cannot be tried here)."""
    h = world.host(host)
    measured, running = chain["versions"]["measured"], chain["versions"]["running"]
    images = {b["version"]: b for b in chain["base_images"]}
    trusted = {v for v, b in images.items() if b["trusted"]}
    cluster = world.trusted_host(host).cluster
    out: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    if not chain["setup"]["done"]:  # nothing a fix could repair yet: say what is true
        return out, [{"key": "any", "why": chain["setup"]["why"]}]
    if not h.is_up:
        return out, [{"key": "any", "why": f"{host} is {h.power_state.value}; power it on "
                                          "first (Start-VMHost)"}]
    before, after, vm_notes = _quiesce(world, host)
    qb = ([_step("set-quick-boot", "fix-disable-quick-boot", cluster=cluster.name,
                 enabled=False)] if cluster.quick_boot else [])
    reboot = [*qb, *before,
              _step("Restart-VMHost", "fix-full-reboot", vmhost=host, force=True), *after]
    if measured and measured not in trusted:
        removed = any(x["action"] == "removed" for x in images.get(measured, {}).get(
            "history", []))
        verb = "Restore the removed" if removed else "Import the measured"
        src = _image_source(world, measured, "fix-import-measured")
        title = f"{verb} base image {measured} (the version the TPM describes)"
        if src is None:
            skipped.append({"key": "import-measured", "title": title,
                            "why": f"no host in the lab runs {measured} and no exported "
                                   "file of it is left; in production, export it from any "
                                   "host that runs it (Export-VMHostImageDb) or take it "
                                   "from the vTA configuration backup"})
        else:
            out.append({"key": "import-measured", "title": title + f", from {src[1]}",
                        "steps": src[0], "notes": []})
    out.append({"key": "full-reboot",
                "title": f"Full reboot of {host}" + (" with Quick Boot disabled for "
                                                     f"{cluster.name}" if qb else ""),
                "steps": reboot, "notes": vm_notes})
    if running != measured and running not in trusted:
        imp = [_step("Export-VMHostImageDb", "fix-import-running-export", vmhost=host,
                     file=f"{host}-{running}-imgdb.tgz"),
               _step("New-TrustAuthorityVMHostBaseImage", "fix-import-running",
                     file=f"{host}-{running}-imgdb.tgz")]
        out.append({"key": "import-running",
                    "title": f"Import the running version's base image {running} only",
                    "steps": imp, "notes": []})
        out.append({"key": "import-running+full-reboot",
                    "title": f"Import {running} (running), then a full reboot of {host}",
                    "steps": imp + reboot, "notes": vm_notes})
    alt = h.alternate_image.key if h.alternate_image else None
    if alt and alt != running:
        out.append({"key": "revert",
                    "title": f"Revert {host} to {alt} from the alternate boot bank "
                             "(a full boot into the previous image)",
                    "steps": [*before, _step("revert-host", "fix-revert", vmhost=host),
                              *after],
                    "notes": vm_notes + [f"{host} runs the older {alt} afterwards"]})
    # Unneeded = no trusted host measures it now or would measure it after a full boot.
    in_use = {v for c in world.trusted_clusters.values() for th in c.hosts.values()
              for v in (th.host.measured_version, th.host.version)}
    for v in sorted(trusted - in_use):
        out.append({"key": f"remove-unneeded:{v}",
                    "title": f"Remove base image {v}, which no host measures",
                    "steps": [_step("Remove-TrustAuthorityVMHostBaseImage",
                                    "fix-remove-unneeded", version=v)], "notes": []})
    return out, skipped


def verified_fixes(scenario: Scenario, world: Any, host: str, at: float, started: int,
                   chain: dict[str, Any], bound: float
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every candidate with its verified outcome (works first, fastest first)."""
    if chain["status"]["status"] == "attested":
        return [], [{"key": "none", "why": f"{host} is attested; nothing to fix"}]
    found, skipped = candidates(world, host, chain)
    out = [_verify(scenario, world, host, at, started, c, bound) for c in found]
    out.sort(key=lambda f: (not f["works"], f["time_to_recover"] or 0.0, f["key"]))
    return out, skipped


def _verify(scenario: Scenario, before: Any, host: str, at: float, started: int,
            cand: dict[str, Any], bound: float) -> dict[str, Any]:
    fixed = fix_scenario(scenario, at, started, cand["steps"])
    try:
        result = run_scenario(fixed, until=at + bound)
    except UntilTooFar as exc:  # the bound asked for more than one run can simulate
        fits = format_time(max(exc.reached - at, 0.0)).removeprefix("T+")
        raise exc.for_option(f"--bound {format_time(bound).removeprefix('T+')} (each fix "
                             f"runs from {format_time(at)} to {format_time(at + bound)})",
                             fits=f"a bound of at most {fits} fits") from None
    w = result.world
    events = [e for e in w.kernel.trace if e.time >= at]
    fix_results = result.steps[started:]
    refused = [r for r in fix_results if r.ok is False]
    unfinished = [r for r in fix_results if r.ok is None]
    final = w.attestation_status(host)
    recovered = None
    for e in events:
        if e.kind == "attest.result" and e.fields.get("host") == host:
            if e.fields.get("status") == "attested":
                recovered = e.time if recovered is None else recovered
            else:
                recovered = None
    works = not refused and not unfinished and final["status"] == "attested"
    if works:
        assert recovered is not None
        outcome = (f"works: {host} attested at {format_time(recovered)}, "
                   f"{format_time(recovered - at).removeprefix('T+')} after the fix started")
    elif refused:
        r = refused[0]
        outcome = (f"does not work: fix step {r.index - started + 1} "
                   f"({step_text(fixed.steps[r.index])}) "
                   f"was refused ({r.error})")
    elif unfinished:
        outcome = ("does not work: the fix had not finished after "
                   f"{format_time(bound).removeprefix('T+')}")
    else:
        outcome = (f"does not work: {format_time(bound).removeprefix('T+')} later {host} is "
                   f"{final['status']} ({final['reason']}), its TPM describing "
                   f"{final['measured_version']}")
    return {"key": cand["key"], "title": cand["title"],
            "steps": [step_text(Step.model_validate(s)) for s in cand["steps"]],
            "works": works, "outcome": outcome,
            "recovered_at": recovered if works else None,
            "time_to_recover": (recovered - at) if works and recovered is not None else None,
            "side_effects": cand["notes"] + _side_effects(before, w, host, events)}


def _side_effects(before: Any, after: Any, host: str, events: list[Any]) -> list[str]:
    notes: list[str] = []
    for e in events:
        if e.kind == "vm.migrated":
            notes.append(f"{format_time(e.time)} VM {e.fields['vm']} moved "
                         f"{e.fields['from_host']} -> {e.fields['host']}")
        elif e.kind == "vm.power" and e.fields.get("state") == "poweredOff":
            notes.append(f"{format_time(e.time)} VM {e.fields['vm']} powered off on "
                         f"{e.fields['host']}")
        elif e.kind == "vm.power" and e.fields.get("state") == "poweredOn":
            notes.append(f"{format_time(e.time)} VM {e.fields['vm']} powered on on "
                         f"{e.fields['host']}")
        elif e.kind == "cluster.quick_boot" and e.fields.get("enabled") is False:
            notes.append(f"Quick Boot disabled for {e.fields['cluster']}: later vLCM "
                         "remediations reboot fully")
    hosts = sorted(n for c in after.trusted_clusters.values() for n in c.hosts)
    for n in hosts:
        if n == host:
            continue
        was = before.attestation_status(n)["status"]
        now = after.attestation_status(n)
        if was == "attested" and now["status"] != "attested":
            notes.append(f"{n} stops attesting ({now['reason']})")
        elif was != "attested" and now["status"] == "attested":
            notes.append(f"{n} attests too")
    trusted = {b["version"] for b in after.base_images()}
    for n in hosts:
        old = before.host(n).measured_version
        new = after.host(n).measured_version
        if new != old and new in trusted:
            notes.append(f"base image {new} becomes required ({n} now measures it)")
        if new != old and old in trusted and not any(
                after.host(m).measured_version == old for m in hosts):
            notes.append(f"base image {old} is no longer measured by any host")
    return notes
