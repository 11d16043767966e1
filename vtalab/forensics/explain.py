"""Why is this host (not) attested? A causal chain read from the trace.

:func:`explain` runs a scenario to a moment (``at``; default: the end of the run) and
answers for one trusted host, link by link, with every link taken from the **trace** (the
record of what happened) or from the **world at that moment** (what the TPM would quote
now):

1. **status** — the last ``attest.result`` of the host: which attestation service, the
   reason code, the message vCenter shows;
2. **versions** — the ESXi build the host runs versus the build its TPM measurements
   describe;
3. **boot** — the full boot that produced those measurements (the last ``tpm.reset``: the
   ``host.boot.start`` that led to it, or the snapshot state at T=0), the Quick Boots since
   (``host.boot.complete`` with mode ``quick``), a refused Quick Boot
   (``host.quickboot.refused`` and its ``loadESX.log`` line) and ``resetCount``;
4. **event log** — the version records esx-boot measured into PCR 13, decoded from the
   host's own event log (:func:`vtalab.tpm.read_measured_boot`), and the PCR values a
   quote returns now (PCR 13 above all);
5. **base images** — the trusted base images at that moment and, for every image the
   trace knows, when it was imported or removed and by which scenario step (index, id,
   verb), or by the setup at T=0;
6. **conclusion** — the sentence that ties the links together.

Before there is anything to attest — ``at`` 0 stops *before* the lab's setup at T=0, and
an unconfigured topology has no vTA until its steps set it up — the chain's ``setup``
says so and names what is missing; the conclusion and the fixes say that instead of
advice about the (not yet started) host.

Then the **fixes** (:mod:`vtalab.forensics.fixes`): candidate repairs generated from the
situation, each one *verified* by re-running the same scenario and seed to ``at``,
applying it as scenario steps and running on until the host recovers or a bound passes.

Output is deterministic: :meth:`Explanation.text` for people, :meth:`Explanation.to_json`
(stable keys) for tools. ``python -m vtalab.cli.explain --update-goldens`` rewrites the golden
transcripts of ``scenarios/bugs/`` (see :mod:`vtalab.cli.explain`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from vtalab.core.kernel import format_time
from vtalab.domain.reasons import REASONS, advise
from vtalab.errors import InputError, OperationError
from vtalab.esxi.measure import TAG_VERSION, read_measured_boot
from vtalab.esxi.releases import lookup, sort_key
from vtalab.forensics.fixes import candidates, fix_scenario, verified_fixes
from vtalab.invariants.safety import stale_token_releases, stale_token_text
from vtalab.scenario.model import Scenario, check_name, run_scenario, step_text
from vtalab.tpm import parse_attest, parse_eventlog, replay

__all__ = ["DEFAULT_BOUND_SECONDS", "Explanation", "StepRef", "explain", "fixed_scenario",
           "release_name", "step_at"]

#: How long a fix may take to make the host attested before it counts as not working.
DEFAULT_BOUND_SECONDS = 7200.0

#: The PCRs the chain shows (PCR 13 carries the version records).
SHOWN_PCRS = (4, 7, 11, 12, 13, 14)


def release_name(key: str | None) -> str:
    """``8.0.2-22380479 (8.0 U2)`` for a catalog build, the key alone otherwise."""
    if not key:
        return "nothing"

    try:
        return f"{key} ({lookup(key).name})"
    except InputError:
        return key


@dataclass(frozen=True)
class StepRef:
    """Who did something: a scenario step, the setup at T=0, or the world itself."""

    index: int | None
    id: str | None
    verb: str | None
    text: str | None
    args: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        if self.index is None:
            return self.text or "the world"
        name = f" {self.id!r}" if self.id else ""
        return f"step {self.index + 1}{name} ({self.text})"  # numbered from 1

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "verb": self.verb, "text": self.text}


SETUP = StepRef(None, None, None, "the setup at T=0 (topology)")
WORLD = StepRef(None, None, None, "the world (no operator step)")


def step_at(events: list[Any], scenario: Scenario) -> list[StepRef]:
    """For each trace event, the step running when it was recorded."""
    out: list[StepRef] = []
    current: StepRef | None = None
    started = False
    for e in events:
        if e.source == "scenario" and e.kind == "step.start":
            i = int(e.fields["index"])
            current = StepRef(i, e.fields.get("id"), e.fields.get("verb"),
                              step_text(scenario.steps[i]), dict(e.fields.get("args") or {}))
            started = True
        ref = current or (SETUP if not started and e.time == 0 else WORLD)
        out.append(ref)
        if e.source == "scenario" and e.kind == "step.end":
            current = None
    return out


@dataclass
class Explanation:
    """The causal chain for one host at one moment, and the verified fixes."""

    scenario: str
    seed: int
    host: str
    at: float
    chain: dict[str, Any]
    fixes: list[dict[str, Any]] = field(default_factory=list)
    not_tried: list[dict[str, Any]] = field(default_factory=list)
    bound: float = DEFAULT_BOUND_SECONDS

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "seed": self.seed, "host": self.host,
                "at": self.at, "bound": self.bound, **self.chain, "fixes": self.fixes,
                "not_tried": self.not_tried}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def text(self) -> str:
        return render(self)


# -- building the chain --------------------------------------------------------------------

def explain(scenario: Scenario, host: str, at: float | None = None, *,
            fixes: bool = True, bound: float = DEFAULT_BOUND_SECONDS) -> Explanation:
    """Explain ``host``'s attestation at simulated time ``at`` (default: end of the run).

    The run stops *before* the events scheduled exactly at ``at`` (as ``vtalab run
    --until``). ``fixes=False`` skips the (slower) verified fixes.
    """
    host = check_name(scenario.topology, host, "host", option="--host")
    trusted = [h.name for c in scenario.topology.trusted_clusters for h in c.hosts]
    if host not in trusted:
        raise InputError(f"--host: {host!r} is a Trust Authority host; explain answers for "
                         "trusted hosts", what="trusted hosts", value=host, choices=trusted)
    result = run_scenario(scenario, until=at)
    world = result.world
    when = result.end
    events = [e for e in world.kernel.trace if e.time <= when]
    chain = build_chain(scenario, world, host, events, when)
    out = Explanation(scenario.name, result.seed, host, when, chain, bound=bound)
    if fixes:

        started = sum(1 for e in events if e.source == "scenario" and e.kind == "step.start")
        out.fixes, out.not_tried = verified_fixes(scenario, world, host, when, started,
                                                   chain, bound)
    return out


def fixed_scenario(scenario: Scenario, host: str, at: float | None, key: str
                   ) -> tuple[Scenario, dict[str, Any], float]:
    """``scenario`` with the fix ``key`` (one of :func:`explain`'s fixes for ``host`` at
    ``at``) applied from ``at`` on: (the scenario, the candidate, the time it starts)."""

    result = run_scenario(scenario, until=at)
    world = result.world
    when = result.end
    events = [e for e in world.kernel.trace if e.time <= when]
    chain = build_chain(scenario, world, host, events, when)
    found, skipped = candidates(world, host, chain)
    keys = [c["key"] for c in found]
    chosen = next((c for c in found if c["key"] == key), None)
    if chosen is None:
        why = "; ".join(f"{s['key']}: {s['why']}" for s in skipped)
        raise InputError(f"--fix: {key!r} is not a fix for {host} at {format_time(when)}"
                         + (f" ({why})" if why and not keys else ""),
                         what="fixes", value=key, choices=keys)
    started = sum(1 for e in events if e.source == "scenario" and e.kind == "step.start")
    return fix_scenario(scenario, when, started, chosen["steps"]), chosen, when


def build_chain(scenario: Scenario, world: Any, host: str, events: list[Any],
                at: float) -> dict[str, Any]:
    refs = step_at(events, scenario)
    h = world.host(host)
    status = world.attestation_status(host)
    chain: dict[str, Any] = {
        "status": _status(events, host, status),
        "versions": {"running": h.version, "measured": h.measured_version,
                     # nothing measured yet (not booted) is not a difference
                     "differ": h.measured_version is not None
                     and h.version != h.measured_version,
                     "power_state": h.power_state.value},
        "boot": _boot(world, events, refs, host),
        "base_images": _base_images(world, events, refs),
        # The lab starts from a snapshot of an estate (vtalab import): what happened to
        # its base images before T=0 is unknown.
        "snapshot": _is_snapshot(scenario),
        # Whether there is anything to attest yet: the lab's setup at T=0 has run and vTA
        # is set up for the host's cluster (otherwise neither status nor fixes can say more)
        "setup": _setup(scenario, world, host, events, at),
    }
    chain["eventlog"], chain["quote"] = _tpm(world, host)
    # releases on a token the host kept after it was judged notAttested (vTA allows them
    # until the token expires): the exposure, with its window
    chain["exposure"] = [dict(item, text=stale_token_text(item))
                         for item in stale_token_releases(world, host)
                         if item["time"] <= at]
    chain["conclusion"] = _conclusion(host, chain)
    return chain


def _setup(scenario: Scenario, world: Any, host: str, events: list[Any],
           at: float) -> dict[str, Any]:
    """Whether ``host`` can be attested at ``at`` at all, and if not, what is true then.

    ``done`` is false before the lab's setup at T=0 has run (a run stopped at T=0 stops
    *before* it: the hosts are not started, nothing is configured) and while vTA is not
    set up for the host's Trusted cluster (not enabled, or no Attestation Service
    configured for it: kmxa does not attest then, so no fix could make it attested).
    """
    spec = next(h for c in scenario.topology.trusted_clusters for h in c.hosts
                if h.name == host)
    if not events:  # nothing has happened: the run stopped before the setup at T=0
        what = ("the hosts start, the documented setup verbs configure vTA and the VMs "
                "power on" if scenario.topology.configured else
                "the hosts start; the topology is not configured, so only the scenario's "
                "steps set vTA up")
        later = ("" if spec.powered_on else
                 f"; {host} stays powered off then (the topology says powered_on: false)")
        return {"done": False, "started": False,
                "why": f"the lab is not set up yet at {format_time(at)}: --at stops before "
                       f"the events of that moment, and the setup runs at T=0 ({what}); "
                       f"ask about --at 1s or later{later}"}
    th = world.trusted_host(host)
    missing = []
    if not th.cluster.enabled:
        missing.append(f"Trusted cluster {th.cluster.name} is not enabled "
                       "(Set-TrustedCluster -State Enabled)")
    if not any(s.kind == "attestation" for s in th.cluster.desired):
        missing.append(f"no Attestation Service is configured for {th.cluster.name} "
                       "(Add-TrustedClusterAttestationServiceInfo)")
    if not missing:
        return {"done": True, "started": True, "why": None}
    return {"done": False, "started": True,
            "why": f"at {format_time(at)} vTA is not set up for {host}: "
                   + " and ".join(missing) + ", so kmxa does not attest it"}


def _status(events: list[Any], host: str, status: dict[str, Any]) -> dict[str, Any]:
    last = next((e for e in reversed(events)
                 if e.kind == "attest.result" and e.fields.get("host") == host), None)
    return {"status": status["status"], "reason": status["reason"],
            "messages": list(status["messages"]),
            "service": last.fields.get("service") if last else None,
            "time": last.time if last else None,
            "trace_seq": last.seq if last else None}


def _boot(world: Any, events: list[Any], refs: list[StepRef], host: str) -> dict[str, Any]:
    mine = [(e, r) for e, r in zip(events, refs, strict=True)
            if e.fields.get("host") == host]
    reset_i = max((i for i, (e, _) in enumerate(mine) if e.kind == "tpm.reset"), default=None)
    full: dict[str, Any] = {"time": None, "cause": None, "by": None, "reset_count": None,
                            "snapshot": False, "quick_boot_refused": None, "log_line": None}
    quick: list[dict[str, Any]] = []
    snapshot_quick = 0
    if reset_i is not None:
        reset, _ = mine[reset_i]
        full["time"] = reset.time
        full["reset_count"] = reset.fields.get("reset_count")
        start = next(((e, r) for e, r in reversed(mine[:reset_i])
                      if e.kind in ("host.boot.start", "host.initial")), None)
        after = next(((e, r) for e, r in mine[reset_i:]
                      if e.kind in ("host.initial", "host.boot.complete")), None)
        if start is not None and start[0].kind == "host.boot.start":
            e, r = start
            full["time"] = e.time
            full["cause"] = str(e.fields.get("reason"))
            full["by"] = r.to_json() | {"label": r.label}
            # A refused Quick Boot is recorded when the reboot starts (before shutdown),
            # i.e. after the host was last up and before this boot started.
            refused = None
            for x, _ in reversed(mine[:reset_i]):
                if x.kind in ("host.boot.complete", "host.initial"):
                    break
                if x.kind == "host.quickboot.refused":
                    refused = x
                    break
            if refused is not None:
                full["quick_boot_refused"] = str(refused.fields.get("reason"))
                stamp = world.kernel.utc(refused.time).strftime("%Y-%m-%dT%H:%M:%S")
                full["log_line"] = next(
                    (line for line in world.kernel.log_lines(host, "loadESX.log")
                     if "Quick Boot not possible" in line and line.startswith(stamp)), None)
        elif after is not None and after[0].kind == "host.initial":
            e = after[0]
            full["cause"] = "up since before the lab started"
            full["by"] = SETUP.to_json() | {"label": SETUP.label}
            snapshot_quick = int(e.fields.get("quick_boots_since_full") or 0)
            full["snapshot"] = snapshot_quick > 0
        for e, r in mine[reset_i:]:
            if e.kind == "host.boot.complete" and e.fields.get("mode") == "quick":
                quick.append({"time": e.time, "version": e.fields.get("version"),
                              "by": r.to_json() | {"label": r.label}})
    h = world.host(host)
    return {"last_full_boot": full, "quick_boots": quick,
            "quick_boots_before_lab": snapshot_quick,
            "quick_boots_since": snapshot_quick + len(quick),
            "is_boot_load_esx": 1 if h.last_boot_quick else 0,
            "txt": bool(h.txt), "quick_boot_enabled": bool(h.quick_boot_enabled),
            "alternate_bootbank": h.alternate_image.key if h.alternate_image else None}


def _base_images(world: Any, events: list[Any], refs: list[StepRef]) -> list[dict[str, Any]]:
    trusted = {b["version"]: b for b in world.base_images()}
    exported: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}

    def row(version: str) -> dict[str, Any]:
        return rows.setdefault(version, {"version": version, "history": []})

    last_ok: dict[str, float] = {}
    for e, r in zip(events, refs, strict=True):
        by = r.to_json() | {"label": r.label}
        if e.kind == "attest.result" and e.fields.get("status") == "attested":
            last_ok[str(e.fields.get("measured_version"))] = e.time
        elif e.kind == "ta.base_image.last_attested":  # a snapshot's history, before T=0
            last_ok[str(e.fields["version"])] = float(e.fields["last_attested_time"])
        elif e.kind == "imagedb.exported":
            exported[str(e.fields.get("file"))] = e
        elif e.kind == "ta.object" and str(e.fields.get("what", "")).startswith("base image "):
            version = str(e.fields["what"])[len("base image "):]
            item: dict[str, Any] = {"action": "imported", "time": e.time, "by": by}
            file = str(r.args.get("file") or f"{version}.tgz")
            source = exported.get(file)
            if source is not None and source.fields.get("version") == version:
                item["exported_from"] = source.fields.get("host")
                item["exported_quick_booted"] = bool(source.fields.get("quick_booted"))
            row(version)["history"].append(item)
        elif e.kind == "ta.base_image.removed":
            version = str(e.fields["version"])
            row(version)["history"].append(
                {"action": "removed", "time": e.time, "by": by,
                 "measured_by": list(e.fields.get("measured_by") or [])})
    measured: dict[str | None, list[str]] = {}  # None: a host with no measured boot yet
    for c in world.trusted_clusters.values():
        for th in c.hosts.values():
            measured.setdefault(th.host.measured_version, []).append(th.name)
    for version in trusted:
        row(version)
    out = []
    for version in sorted(rows, key=_version_order):
        info = rows[version]
        b = trusted.get(version)
        info["trusted"] = b is not None
        # From the trace, not the TA cluster's table: a removed image keeps its history.
        info["last_attested_time"] = last_ok.get(version)
        info["measured_by"] = sorted(measured.get(version, []))
        out.append(info)
    return out


def _version_order(key: str) -> tuple[Any, ...]:

    try:
        return (0, sort_key(lookup(key)))
    except InputError:
        return (1, key)


def _tpm(world: Any, host: str) -> tuple[dict[str, Any], dict[str, Any]]:

    h = world.host(host)
    if h.tpm is None or not h.tpm.started:
        why = f"{host} is {h.power_state.value}: no TPM to read"
        return {"available": False, "why": why}, {"available": False, "why": why}
    log = parse_eventlog(h.tpm.log.to_bytes())
    mb = read_measured_boot(log)
    records = []
    for e in log:
        p = e.parsed
        if getattr(p, "tag_id", None) == TAG_VERSION:
            records.append({"pcr": e.pcr, "digest": e.digest.hex()})
    for rec, v, f in zip(records, mb.versions, mb.version_files, strict=True):
        rec.update(component=v.component, product=v.product, version=v.version, file=f)
    # The boot chain the firmware measured: safeboot, then mboot (PCR 4), mboot's driver.
    images = [{"pcr": i.pcr, "kind": i.kind, "path": i.path, "digest": i.digest.hex()}
              for i in mb.efi_images]
    try:
        files = world.evidence(host)
    except OperationError as exc:
        return ({"available": True, "events": len(log), "efi_images": images,
                 "version_records": records, "esxi_version": mb.esxi_version},
                {"available": False, "why": str(exc)})
    quote = parse_attest(files["quote.msg"])
    pcrs = json.loads(files["pcrs.json"])["sha256"]
    replayed = replay(log)
    matches = all(replayed[int(i)].hex() == v for i, v in pcrs.items())
    eventlog = {"available": True, "events": len(log), "efi_images": images,
                "version_records": records, "esxi_version": mb.esxi_version,
                "replay_matches_quote": matches}
    return eventlog, {"available": True, "pcrs": {str(i): pcrs[str(i)] for i in SHOWN_PCRS},
                      "reset_count": quote.clock_info.reset_count,
                      "restart_count": quote.clock_info.restart_count,
                      "safe": quote.clock_info.safe}


def _is_snapshot(scenario: Scenario) -> bool:
    """Whether the topology describes an estate's state after a history the lab did not see
    (``last_full_boot``, ``quick_boots_since``, a base image's ``last_attested``)."""
    topo = scenario.topology
    hosts = [h for c in topo.trusted_clusters for h in c.hosts]
    images = topo.ta_cluster.base_image_specs() or []
    return (any(h.last_full_boot is not None or h.quick_boots_since for h in hosts)
            or any(b.last_attested is not None for b in images))


def _conclusion(host: str, chain: dict[str, Any]) -> str:
    st, v, boot = chain["status"], chain["versions"], chain["boot"]
    images = {b["version"]: b for b in chain["base_images"]}
    measured, running = v["measured"], v["running"]
    full = boot["last_full_boot"]
    setup = chain["setup"]
    if st["time"] is None and st["reason"] is None and not setup["done"]:
        why = setup["why"]
        return f"No attestation of {host} is recorded yet. {why[:1].upper()}{why[1:]}."
    if st["time"] is None and st["reason"] is None:  # nothing to explain yet: say so
        return (f"No attestation of {host} is recorded yet: it is {v['power_state']}"
                + (" and has not booted, so its TPM has measured nothing"
                   if measured is None else f" and its TPM describes "
                                             f"{release_name(measured)}")
                + ". Ask about a later moment (--at).")
    if full["quick_boot_refused"]:
        how = (f"its last boot at {format_time(full['time'])} was a FULL boot because Quick "
               f"Boot was refused ({full['quick_boot_refused']}), so the measurements changed")
    elif boot["quick_boots_since"]:
        n = boot["quick_boots_since"]
        how = (f"{n} Quick Boot{'s' if n > 1 else ''} since its last full boot changed "
               "nothing in the TPM")
    else:
        how = "it has not been Quick Booted since its last full boot"
    base = (f"{host} runs {release_name(running)}; its TPM describes "
            f"{release_name(measured)} ({how}).")
    if st["status"] == "attested":
        tail = f" {release_name(measured)} is a trusted base image, so it attests."
        if measured != running:
            tail += (f" Do not remove {measured} until {host} has had a full boot "
                     "(Quick Boot disabled).")
        return base + tail
    if st["reason"] != "untrusted_base_image":
        return (base + f" Attestation fails with {st['reason']}: "
                + (st["messages"][0] if st["messages"] else "no message") + ".")
    img = images.get(measured)
    history = img["history"] if img else []
    removed = [x for x in history if x["action"] == "removed"]
    if removed:
        why = (f" {measured} was a trusted base image until {format_time(removed[-1]['time'])}"
               f", when {removed[-1]['by']['label']} removed it.")
    else:
        why = (f" {measured} is not (or no longer) a trusted base image: the lab starts "
               "from a snapshot of the estate, which cannot say whether it was never "
               "imported or removed before the snapshot." if chain.get("snapshot") else
               f" {measured} was never imported as a trusted base image.")
        imported = [b for b in chain["base_images"] if b["trusted"]]
        quick = [x for b in imported for x in b["history"] if x.get("exported_quick_booted")]
        if quick:
            why += (f" The image imported from {quick[0]['exported_from']} describes the "
                    "version it runs, not the one it measured: it was exported from a "
                    "Quick-Booted host.")
    why += f" The Attestation Service therefore reports {st['reason']}."
    if boot["is_boot_load_esx"] and measured != running:
        # The reason's own advice (export and import "it") misleads here: exported from
        # this host now, the file holds the running image, which the TPM does not describe.
        running_trusted = images.get(running, {}).get("trusted", False)
        why += ((f" {running} (running) is already a trusted base image and does not help"
                 if running_trusted else
                 f" Importing the running version {running} will NOT help")
                + f" until {host} has a full reboot (Quick Boot disabled): its last boot was "
                f"a Quick Boot, so its TPM describes {measured} until then, and "
                f"Export-VMHostImageDb on {host} gives {running}. The base image of "
                f"{measured} (exported from a host that runs it, or a copy kept from before) "
                f"is what attests {host} now.")
    return base + why


def _when(t: float | None) -> str:
    if t is None:
        return "never"
    # A snapshot's history lies before the lab started: T-13d 22:25:00.
    return "T-" + format_time(-t)[2:] if t < 0 else format_time(t)


def render(x: Explanation) -> str:
    """The explanation as deterministic text (the golden transcripts are this)."""
    c = x.chain
    st, v, boot = c["status"], c["versions"], c["boot"]
    full = boot["last_full_boot"]
    out = [f"== explain {x.host} at {format_time(x.at)}  ({x.scenario}, seed {x.seed})", ""]
    if st["time"] is None:
        out.append(f"status      {st['status']} (no attestation recorded yet)")
    else:
        out.append(f"status      {st['status']}" + (f" ({st['reason']})" if st["reason"] else "")
                   + f", last attestation by {st['service']} at {format_time(st['time'])}")
    for m in st["messages"]:
        out.append(f"            {m}")
    if st["reason"] in REASONS and advise(st["reason"]):  # what no operator's tool says
        out.append(f"advice      {advise(st['reason'])}")
    out.append(f"runs        ESXi {release_name(v['running'])}  [{v['power_state']}]")
    if v["measured"] is None:
        out.append("measured    nothing yet (no measured boot: the TPM has no version record)")
    else:
        out.append(f"measured    ESXi {release_name(v['measured'])}"
                   + ("   <- differs from the running version" if v["differ"] else ""))
    if full["time"] is None:
        out.append(f"full boot   none by {format_time(x.at)} (the host has not booted yet)")
    else:
        label = full["by"]["label"] if full["by"] else "unknown"
        out.append(f"full boot   {_when(full['time'])}: {full['cause']}, by {label}; "
                   f"TPM resetCount {full['reset_count']}")
    if full["quick_boot_refused"]:
        out.append(f"            the boot was FULL because Quick Boot was refused: "
                   f"{full['quick_boot_refused']}")
        if full["log_line"]:
            out.append(f"            loadESX.log: {full['log_line']}")
    out.append(f"quick boots {boot['quick_boots_since']} since the last full boot "
               f"(vsish /system/loadESX/isBootLoadESX = {boot['is_boot_load_esx']}; "
               f"Quick Boot {'enabled' if boot['quick_boot_enabled'] else 'disabled'}"
               f", TXT {'on' if boot['txt'] else 'off'})")
    if boot["quick_boots_before_lab"]:
        out.append(f"            {boot['quick_boots_before_lab']} before the lab started "
                   "(snapshot: quick_boots_since)")
    for q in boot["quick_boots"]:
        out.append(f"            {format_time(q['time'])} Quick Boot into {q['version']}, "
                   f"by {q['by']['label']}")
    ev, qu = c["eventlog"], c["quote"]
    if ev["available"]:
        out.append(f"event log   {ev['events']} events; esx version record: "
                   f"{ev['esxi_version']}"
                   + ("; replay matches the quoted PCRs" if ev.get("replay_matches_quote")
                      else ""))
        for i in ev["efi_images"]:
            path = i["path"] or "(no file path)"
            out.append(f"            PCR {i['pcr']:2d} EFI {i['kind']} {path}")
        for r in ev["version_records"]:
            out.append(f"            PCR {r['pcr']} version record {r['component']} "
                       f"{r['product']!r} {r['version']} ({r['file']})")
    else:
        out.append(f"event log   {ev['why']}")
    if qu["available"]:
        out.append(f"quote       resetCount {qu['reset_count']}, restartCount "
                   f"{qu['restart_count']}, safe {'yes' if qu['safe'] else 'no'}")
        for i, val in sorted(qu["pcrs"].items(), key=lambda kv: int(kv[0])):
            out.append(f"            PCR {int(i):>2} sha256:{val}")
    out.append(f"base images at {format_time(x.at)}:"
               + ("" if c["base_images"] else " none"))
    for b in c["base_images"]:
        state = "trusted" if b["trusted"] else "NOT trusted"
        measured_by = ", ".join(b["measured_by"]) or "no host"
        out.append(f"  {release_name(b['version'])}: {state}; measured by {measured_by}; "
                   f"last attested {_when(b['last_attested_time'])}")
        for h in b["history"]:
            line = f"      {h['action']} {format_time(h['time'])} by {h['by']['label']}"
            if h.get("exported_from"):
                line += f"; exported from {h['exported_from']}"
                if h.get("exported_quick_booted"):
                    line += " while it was Quick-Booted (the file holds its running image)"
            if h.get("measured_by"):
                line += f"; still measured by {', '.join(h['measured_by'])}"
            out.append(line)
    for item in c.get("exposure", ()):
        out.append(f"exposure    {item['text']}")
    out += ["", "why", f"  {c['conclusion']}", ""]
    out.append(f"fixes (each re-run with seed {x.seed} to {format_time(x.at)}, applied, "
               f"then run for up to {format_time(x.bound).removeprefix('T+')})")
    if not x.fixes and not x.not_tried:
        out.append("  (not computed)")
    for n, f in enumerate(x.fixes, start=1):
        mark = "WORKS" if f["works"] else "FAILS"
        out.append(f"  {n}. [{mark}] {f['title']}")
        out.append(f"     {f['outcome']}")
        for s in f["steps"]:
            out.append(f"     > {s}")
        for e in f["side_effects"]:
            out.append(f"     side effect: {e}")
    for f in x.not_tried:
        out.append(f"  -  [NOT TRIED] {f.get('title', f['key'])}: {f['why']}")
    return "\n".join(out) + "\n"
