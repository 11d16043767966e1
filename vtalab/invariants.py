"""Invariants: the trust properties of a vTA estate, each defined once.

An **invariant** is a property a run of the lab must keep. Each one is registered here
with a kebab-case name, a one-sentence statement, its documentary source and a *kind*:

* ``safety`` — must hold at every instant (a key released without a token, a host
  reported attested on an untrusted image ...);
* ``final`` — must hold when the run ends (the TA cluster's objects agree);
* ``liveness`` — something good must eventually happen (every trusted host is attested
  again within a bound after the last disturbance);
* ``advice`` — a documented best practice: a warning with its reason, never a failure.

``check(world)`` reads a world **after** its run — its trace (``world.kernel.trace``) and
its queries — and returns a list of :class:`Violation`, each with the simulated time, the
object concerned and a detail in the operator's words. ``at_risk(world)`` counts how often
the run put the invariant at risk (key releases, base-image removals, running encrypted
VMs moved or stopped ...), so a checker can say "no violation" *and* "it was tried".

The same table serves ``invariant:`` expectations in scenarios (:mod:`vtalab.expect`),
the plan checker, the Hypothesis state machine of our own tests, the pytest plugin and
``docs/invariants.md``. Ground truth comes from the trace, not from the components under
test: a host's *measured* version from its boot events, the trusted base images and TPM
objects from the TA objects the operator applied (``ta.object`` events).

Liveness needs time: a run must go on for :data:`LIVENESS_SETTLE_SECONDS` (with default
parameters; :func:`liveness_bound` for others) after its last step, fault, heal or reboot,
or hosts not attested by the end are reported with the reason "the run stopped too early".
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from vtalab.errors import InputError
from vtalab.kernel import format_time
from vtalab.parameters import Parameters

if TYPE_CHECKING:
    from vtalab.trace import TraceEvent
    from vtalab.world import World

__all__ = [
    "INVARIANTS",
    "KINDS",
    "LIVENESS_SETTLE_SECONDS",
    "Invariant",
    "Violation",
    "check_all",
    "check_liveness",
    "invariant",
    "invariants_markdown",
    "liveness_bound",
]

Kind = Literal["safety", "final", "liveness", "advice"]
KINDS: tuple[str, ...] = ("safety", "final", "liveness", "advice")

SEED = "seed: vTA administration page"
DOMAIN = "vta-domain.md"


@dataclass(frozen=True)
class Violation:
    """One breach of an invariant, in the operator's words."""

    invariant: str  #: registry name
    time: float  #: simulated time of the violation (end of run for final checks)
    subject: str  #: host / VM / base image / TA object concerned
    detail: str  #: what happened and why it breaks the invariant

    def __str__(self) -> str:
        return f"{format_time(self.time)} {self.subject}: {self.detail}"


@dataclass(frozen=True)
class Invariant:
    """One registered invariant (see the module docstring for the kinds)."""

    name: str
    statement: str
    source: str
    kind: Kind
    check: Callable[[World], list[Violation]]
    at_risk: Callable[[World], int]

    def __call__(self, world: World) -> list[Violation]:
        return self.check(world)


INVARIANTS: dict[str, Invariant] = {}


CheckFn = Callable[["World"], list[Violation]]


def invariant(name: str, *, statement: str, source: str, kind: Kind,
              at_risk: Callable[[World], int]) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated ``check(world) -> list[Violation]`` as invariant ``name``."""
    if kind not in KINDS:
        raise ValueError(f"invariant {name}: kind must be one of {', '.join(KINDS)}; got {kind!r}")

    def deco(fn: CheckFn) -> CheckFn:
        if name in INVARIANTS:
            raise RuntimeError(f"invariant {name} registered twice")
        INVARIANTS[name] = Invariant(name, statement, source, kind, fn, at_risk)
        return fn

    return deco


def check_all(world: World, names: Iterable[str] | None = None, *,
              include_advice: bool = False) -> list[Violation]:
    """Every violation of the named invariants, sorted by (time, invariant, subject).

    Without ``names``: every registered invariant except ``advice`` ones (unless
    ``include_advice``). Names given explicitly are all checked, advice included. An
    unknown name is an :class:`~vtalab.errors.InputError` naming the nearest one.
    """
    if names is None:
        chosen = [i for i in INVARIANTS.values() if include_advice or i.kind != "advice"]
    else:
        chosen = []
        for name in names:
            if name not in INVARIANTS:
                raise InputError(f"unknown invariant {name!r}", what="invariants", value=name,
                                 choices=list(INVARIANTS))
            chosen.append(INVARIANTS[name])
    out = [v for inv in chosen for v in inv.check(world)]
    return sorted(out, key=lambda v: (v.time, v.invariant, v.subject, v.detail))


# -- reading the trace -------------------------------------------------------------------

class _Index:
    """The trace's events grouped by kind, extended incrementally as the trace grows.

    Invariants are checked after every rule of a state machine, so reading only the new
    events each time (instead of the whole trace once per invariant) keeps that cheap.
    """

    def __init__(self) -> None:
        self.seen = 0
        self.by_kind: dict[str, list[TraceEvent]] = {}

    def update(self, trace: Any) -> None:
        events = trace.events if len(trace) - self.seen > 64 else None
        for i in range(self.seen, len(trace)):
            e = events[i] if events is not None else trace[i]
            self.by_kind.setdefault(e.kind, []).append(e)
        self.seen = len(trace)


_INDEXES: weakref.WeakKeyDictionary[Any, _Index] = weakref.WeakKeyDictionary()


def _events(world: World, *kinds: str) -> Iterator[TraceEvent]:
    """Trace events whose kind is one of ``kinds`` (a trailing ``*`` matches a prefix),
    in trace order."""
    trace = world.kernel.trace
    index = _INDEXES.get(trace)
    if index is None or index.seen > len(trace):  # new trace, or events were dropped
        index = _INDEXES[trace] = _Index()
    if index.seen != len(trace):
        index.update(trace)
    exact = {k for k in kinds if not k.endswith("*")}
    prefixes = tuple(k[:-1] for k in kinds if k.endswith("*"))
    lists = [events for kind, events in index.by_kind.items()
             if kind in exact or (prefixes and kind.startswith(prefixes))]
    if len(lists) == 1:
        return iter(list(lists[0]))
    return heapq.merge(*[list(x) for x in lists], key=lambda e: e.seq)


def _trusted_hosts(world: World) -> dict[str, str]:
    """Trusted host name → its Trusted cluster."""
    return {h: c for c, cluster in world.trusted_clusters.items() for h in cluster.hosts}


def _canonical_verb(name: Any) -> str:
    from vtalab.registry import lookup

    try:
        return lookup(str(name)).name
    except InputError:
        return str(name)


DOWN_KINDS = ("host.shutdown", "host.power.lost", "host.power.off")
UP_KINDS = ("host.initial", "host.boot.complete")


class _TrustState:
    """What the TA cluster trusts, as the operator applied it (``ta.object`` events).

    The *declared* state: an object counts from the moment a ``New-*`` cmdlet applied it
    to at least one TA host. A TA host that missed the change (down, re-added) and still
    attests with its stale copy is exactly what the invariants must catch.
    """

    def __init__(self) -> None:
        from vtalab.domain.attestation import Tpm2Settings

        defaults = Tpm2Settings()
        self.base_images: set[str] = set()
        self.tpm_cas: set[str] = set()
        self.endorsement_keys: set[str] = set()
        self.require_certificate_validation = defaults.require_certificate_validation
        self.require_endorsement_keys = defaults.require_endorsement_keys

    def apply(self, f: Any) -> None:
        if "base_images" in f:  # a restored backup replaces everything
            self.base_images = set(f["base_images"])
            self.tpm_cas = set(f.get("tpm_cas") or ())
            self.endorsement_keys = set(f.get("endorsement_keys") or ())
        if f.get("base_image") is not None:
            if f.get("change") == "remove":
                self.base_images.discard(f["base_image"])
            else:
                self.base_images.add(f["base_image"])
        if f.get("tpm_ca") is not None:
            self.tpm_cas.add(f["tpm_ca"])
        if f.get("endorsement_key") is not None:
            self.endorsement_keys.add(f["endorsement_key"])
        if f.get("require_certificate_validation") is not None:
            self.require_certificate_validation = bool(f["require_certificate_validation"])
        if f.get("require_endorsement_keys") is not None:
            self.require_endorsement_keys = bool(f["require_endorsement_keys"])

    def tpm_problem(self, ek: str | None, issuer: str | None) -> str | None:
        """Why a TPM with EK fingerprint ``ek`` and EK certificate ``issuer`` is untrusted."""
        if self.require_certificate_validation:
            if issuer is None:
                return "its TPM has no EK certificate and certificate validation is required"
            if issuer not in self.tpm_cas:
                return (f"its EK certificate is issued by {issuer}, which is not an imported "
                        "TPM CA certificate")
        if self.require_endorsement_keys and ek not in self.endorsement_keys:
            return f"its endorsement key {str(ek)[:16]}… is not a registered endorsement key"
        return None


# -- safety: keys ------------------------------------------------------------------------

def _key_releases(world: World) -> int:
    return sum(1 for _ in _events(world, "key.release"))


@invariant(
    "no-key-without-token",
    statement="No key is ever released to a host that does not hold a valid, unexpired "
              "attestation token issued for itself.",
    source=f"{DOMAIN} §6 (keys); vSphere Security guide, vTA key release",
    kind="safety", at_risk=_key_releases)
def _no_key_without_token(world: World) -> list[Violation]:
    out = []
    for e in _events(world, "key.release"):
        f = e.fields
        if not f.get("ok"):
            continue
        host, sub, exp, now = f.get("host"), f.get("token_sub"), f.get("token_exp"), \
            f.get("now_epoch")
        problems = []
        if sub is None:
            problems.append("it presented no readable token")
        elif sub != host:
            problems.append(f"its token was issued to {sub}")
        if exp is None or now is None:
            problems.append("the token has no expiry")
        elif exp <= now:
            problems.append(f"the token had expired {now - exp} s earlier")
        if problems:
            out.append(Violation(
                "no-key-without-token", e.time, str(host),
                f"kmxd released key {str(f.get('key_id'))[:8]}… to {host} although "
                + " and ".join(problems)
                + "; a key may only go to a host holding a valid token for itself"))
    return out


# -- safety: attestation -----------------------------------------------------------------

def _attestations(world: World) -> int:
    return sum(1 for e in _events(world, "attest.result") if e.fields.get("status") == "attested")


@invariant(
    "attested-only-if-trusted",
    statement="A host is reported attested only if the ESXi version its TPM measured is a "
              "trusted base image at that moment and its TPM identity is trusted.",
    source=f"{DOMAIN} §3-§5; {SEED} (Quick Boot: measurements describe the last full boot)",
    kind="safety", at_risk=_attestations)
def _attested_only_if_trusted(world: World) -> list[Violation]:
    trust = _TrustState()
    measured: dict[str, str | None] = {}
    tpm: dict[str, tuple[str | None, str | None]] = {}
    out = []
    for e in _events(world, "ta.object", "host.initial", "host.boot.complete", "tpm.reset",
                     "attest.result"):
        f = e.fields
        if e.kind == "ta.object":
            trust.apply(f)
        elif e.kind in UP_KINDS:
            measured[f["host"]] = f.get("measured_version")
        elif e.kind == "tpm.reset":
            tpm[f["host"]] = (f.get("ek"), f.get("ek_issuer"))
        elif f.get("status") == "attested":
            host = str(f["host"])
            version = measured.get(host)
            why = []
            if version is None:
                why.append("no measured boot of it is known")
            elif version not in trust.base_images:
                shown = ", ".join(sorted(trust.base_images)) or "none"
                why.append(f"its TPM measured ESXi {version}, which is not a trusted base "
                           f"image (trusted: {shown})")
            if host in tpm:
                problem = trust.tpm_problem(*tpm[host])
                if problem:
                    why.append(problem)
            if why:
                out.append(Violation(
                    "attested-only-if-trusted", e.time, host,
                    f"{f.get('service')} reported {host} attested although "
                    + "; and ".join(why)))
    return out


# -- safety: encrypted VMs ---------------------------------------------------------------

class _Vms:
    """VM power state, host and encryption over time, replayed from the trace."""

    def __init__(self, world: World) -> None:
        self.encrypted = {name: vm.encrypted for c in world.topology.trusted_clusters
                          for vm in c.vms for name in [vm.name]}
        self.on: dict[str, bool] = {}
        self.host: dict[str, str] = {}

    def apply(self, e: TraceEvent) -> None:
        f = e.fields
        if e.kind == "vm.encrypted":
            self.encrypted[f["vm"]] = True
        elif e.kind == "vm.power":
            self.on[f["vm"]] = f.get("state") == "poweredOn"
            self.host[f["vm"]] = f.get("host")
        elif e.kind == "vm.migrated":
            self.host[f["vm"]] = f.get("host")


VM_KINDS = ("vm.encrypted", "vm.power", "vm.migrated")
VM_STEPS = {"Start-VM": "power-on", "Move-VM": "migration"}


def _encrypted_vm_operations(world: World) -> int:
    vms = _Vms(world)
    n = 0
    for e in _events(world, *VM_KINDS, "vm.power_on.failed", "vm.migrate.failed"):
        vm = e.fields.get("vm")
        if e.kind in ("vm.power_on.failed", "vm.migrate.failed"):
            n += 1
        elif e.kind == "vm.power" and e.fields.get("state") == "poweredOn":
            n += vms.encrypted.get(vm, False)
        elif e.kind == "vm.migrated":
            n += vms.encrypted.get(vm, False) and vms.on.get(vm, False)
        vms.apply(e)
    return n


@invariant(
    "encrypted-vm-availability",
    statement="No encrypted VM is refused power-on or migration during the plan.",
    source=f"{SEED} (upgrading trusted hosts: encrypted VMs cannot be used until the base "
           "image is imported)",
    kind="safety", at_risk=_encrypted_vm_operations)
def _encrypted_vm_availability(world: World) -> list[Violation]:
    vms = _Vms(world)
    out: list[Violation] = []
    seen: set[tuple[str, str]] = set()  # (vm, what) refused since the current step started
    open_steps: dict[int, tuple[str, dict[str, Any]]] = {}
    for e in _events(world, *VM_KINDS, "vm.power_on.failed", "vm.migrate.failed",
                     "step.start", "step.end"):
        f = e.fields
        if e.kind in VM_KINDS:
            vms.apply(e)
        elif e.kind == "vm.power_on.failed":
            seen.add((str(f["vm"]), "power-on"))
            out.append(Violation(
                "encrypted-vm-availability", e.time, str(f["vm"]),
                f"encrypted VM {f['vm']} was refused power-on on {f.get('host')} "
                f"({f.get('reason')}): its host could not get the key from the trusted key "
                "provider"))
        elif e.kind == "vm.migrate.failed":
            seen.add((str(f["vm"]), "migration"))
            out.append(Violation(
                "encrypted-vm-availability", e.time, str(f["vm"]),
                f"vMotion of encrypted VM {f['vm']} to {f.get('host')} was refused "
                f"({f.get('reason')}): the destination could not get the key"))
        elif e.kind == "step.start":
            seen.clear()
            args = dict(f.get("args") or {})
            open_steps[int(f["index"])] = (_canonical_verb(f.get("verb")), args)
        else:  # step.end: a refusal that left no VM event (host down, no destination ...)
            verb, args = open_steps.pop(int(f["index"]), (_canonical_verb(f.get("verb")), {}))
            what = VM_STEPS.get(verb)
            vm = str(args.get("vm"))
            if (what is None or f.get("ok") or f.get("error") == "invalid_request"
                    or not vms.encrypted.get(vm, False) or (vm, what) in seen):
                continue
            where = f" to {args.get('destination')}" if what == "migration" else ""
            out.append(Violation(
                "encrypted-vm-availability", e.time, vm,
                f"{verb} of encrypted VM {vm}{where} was refused ({f.get('error')})"))
    return out


def _encrypted_vm_moves(world: World) -> int:
    vms = _Vms(world)
    n = 0
    for e in _events(world, *VM_KINDS):
        vm = e.fields.get("vm")
        running = vms.on.get(vm, False) and vms.encrypted.get(vm, False)
        if running and (e.kind == "vm.migrated" or
                        (e.kind == "vm.power" and e.fields.get("state") == "poweredOff")):
            n += 1
        vms.apply(e)
    return n


@invariant(
    "running-encrypted-vm-keeps-running",
    statement="No running encrypted VM stops because of the plan; only an operator's "
              "Stop-VM powers one off.",
    source=f"{DOMAIN} §6 (running VMs keep their keys in memory); {SEED}",
    kind="safety", at_risk=_encrypted_vm_moves)
def _running_encrypted_vm_keeps_running(world: World) -> list[Violation]:
    out = []
    for e in _events(world, "vm.power"):
        f = e.fields
        if f.get("state") == "poweredOff" and f.get("encrypted") and \
                f.get("cause", "operator") != "operator":
            out.append(Violation(
                "running-encrypted-vm-keeps-running", e.time, str(f["vm"]),
                f"running encrypted VM {f['vm']} stopped on {f.get('host')} because of "
                f"{f.get('cause')}; it must be moved away (maintenance mode) first, and may "
                "not power on again if its host cannot get the key"))
    return out


# -- safety: base images -----------------------------------------------------------------

def _removals(world: World) -> int:
    return sum(1 for e in _events(world, "ta.object")
               if e.fields.get("base_image") is not None and e.fields.get("change") == "remove")


@invariant(
    "no-base-image-removed-while-reported",
    statement="No base image is removed from the TA cluster while a trusted host's TPM "
              "measurements still report it (the Quick Boot trap).",
    source=f"{SEED}, 'Upgrading vTA with Quick Booted ESXi trusted hosts', point 1",
    kind="safety", at_risk=_removals)
def _no_base_image_removed_while_reported(world: World) -> list[Violation]:
    out = []
    pending: dict[str, list[str]] = {}
    for e in _events(world, "ta.base_image.removed", "ta.object"):
        f = e.fields
        if e.kind == "ta.base_image.removed":
            pending[str(f["version"])] = list(f.get("measured_by") or ())
            continue
        if f.get("change") != "remove" or f.get("base_image") is None:
            continue
        version = str(f["base_image"])
        hosts = pending.pop(version, [])
        if hosts:  # the removal was applied (a refused one records no ta.object)
            out.append(Violation(
                "no-base-image-removed-while-reported", e.time, version,
                f"base image {version} was removed while {', '.join(hosts)} still "
                f"report{'s' if len(hosts) == 1 else ''} it: their last full boot ran "
                f"{version} (a Quick Boot does not re-measure), so they fail attestation "
                "with untrusted_base_image until a full reboot; keep it until every host "
                "has rebooted fully"))
    return out


# -- final: TA objects -------------------------------------------------------------------

def _ta_changes_at_risk(world: World) -> int:
    """TA object changes made while a TA member was down, plus TA host removals/re-adds."""
    ta = list(world.ta_cluster.hosts)
    up = {h: False for h in ta}
    member = {h: True for h in ta}
    n = 0
    for e in _events(world, "ta.object", "ta.host.*", *UP_KINDS, *DOWN_KINDS):
        host = e.fields.get("host")
        if e.kind == "ta.object":
            n += any(member[h] and not up[h] for h in ta)
        elif e.kind.startswith("ta.host."):
            n += 1
            if host in member:
                member[host] = e.kind == "ta.host.added"
        elif host in up:
            up[host] = e.kind in UP_KINDS
    return n


@invariant(
    "ta-objects-consistent-at-end",
    statement="At the end, every Trust Authority object (state, principals, base images, "
              "TPM CAs, endorsement keys, settings, key providers) is the same on every TA "
              "host.",
    source=f"{SEED} (troubleshooting: check the re-added TA host is consistent); {DOMAIN} §2",
    kind="final", at_risk=_ta_changes_at_risk)
def _ta_objects_consistent(world: World) -> list[Violation]:
    out = []
    for key, value in sorted(world.health().items()):
        if not key.startswith("ta_cluster/") or value != "ERROR":
            continue
        kind = key.split("/", 1)[1]
        groups: dict[str, list[str]] = {}
        for h in world.ta_cluster.reachable_members():
            groups.setdefault(h.fingerprint(kind), []).append(h.name)
        parts = []
        for hosts in sorted(groups.values(), key=lambda g: (-len(g), g)):
            what = ""
            if kind == "base_images":
                versions = world.ta_cluster.hosts[hosts[0]].config.base_images.versions()
                what = f" ({', '.join(sorted(versions)) or 'no base image'})"
            parts.append(f"{', '.join(hosts)}{what}")
        out.append(Violation(
            "ta-objects-consistent-at-end", world.kernel.now, key,
            f"{key} health is ERROR: the TA hosts disagree: " + " vs ".join(parts)
            + "; re-apply the object (or restore a vTA configuration backup) on the host "
            "that missed it"))
    return out


# -- advice: upgrade order ---------------------------------------------------------------

def _upgrades(world: World) -> int:
    return sum(1 for _ in _events(world, "host.upgrade.staging"))


ORDER = ("TA vCenter → TA hosts → trusted vCenter → trusted hosts, one host at a time "
         "(vCenter upgrades are not modelled)")


@invariant(
    "documented-upgrade-order",
    statement="Upgrades follow the documented order (TA vCenter, TA hosts, trusted vCenter, "
              "trusted hosts), one host at a time, and a trusted host's new version is "
              "imported as a base image before it is upgraded.",
    source=f"{SEED}, 'Best practices for upgrading vTA' and 'Upgrading and patching vTA'",
    kind="advice", at_risk=_upgrades)
def _documented_upgrade_order(world: World) -> list[Violation]:
    ta = set(world.ta_cluster.hosts)
    trusted = _trusted_hosts(world)
    trust = _TrustState()
    first_trusted: tuple[str, float] | None = None
    open_upgrades: dict[str, float] = {}  # host -> upgrade start, until back in service
    booted_since: set[str] = set()
    step = ""  # the scenario step running now, to name it in the warning
    step_upgrade: str | None = None  # the host an upgrade-host step is upgrading
    out = []
    # A trusted host upgraded to a version not imported yet is the documented *test host*
    # when that version is then exported from it; otherwise it is warned about.
    before_import: dict[tuple[str, str], Violation] = {}

    def begin(host: str, version: str | None, time: float) -> None:
        """An upgrade starts: an upgrade-host step, or staging outside any such step."""
        nonlocal first_trusted
        others = sorted(h for h in open_upgrades if h != host)
        if others:
            out.append(Violation(
                "documented-upgrade-order", time, host,
                f"{host} upgraded{step} while {', '.join(others)} "
                f"{'is' if len(others) == 1 else 'are'} not back in service (booted and, "
                "for a trusted host, attested again): the documented rule is one host "
                "at a time, so a failed upgrade is caught on one host before it spreads"))
        if host in ta and first_trusted is not None:
            out.append(Violation(
                "documented-upgrade-order", time, host,
                f"TA host {host} upgraded{step} after trusted host {first_trusted[0]} "
                f"(at {format_time(first_trusted[1])}): the documented order is {ORDER}, "
                "so the TA cluster runs the newest vTA before the hosts it attests"))
        if host in trusted:
            if first_trusted is None:
                first_trusted = (host, time)
            if version is not None and version not in trust.base_images:
                before_import[(host, version)] = Violation(
                    "documented-upgrade-order", time, host,
                    f"trusted host {host} upgraded{step} to {version} before that "
                    "version was imported as a trusted base image: the documented "
                    "procedure is to upgrade a test host, export its image "
                    "(Export-VMHostImageDb), import it (New-TrustAuthorityVMHostBaseImage)"
                    ", then upgrade the trusted hosts")
        open_upgrades[host] = time
        booted_since.discard(host)

    for e in _events(world, "ta.object", "host.upgrade.staging", "host.boot.complete",
                     "attest.result", "step.start", "step.end", "imagedb.exported"):
        f = e.fields
        host = str(f.get("host"))
        if e.kind == "ta.object":
            trust.apply(f)
        elif e.kind == "step.start":
            step = f" (step {f['id']!r})" if f.get("id") else f" (step {f.get('index')})"
            args = f.get("args") or {}
            if _canonical_verb(f.get("verb")) == "upgrade-host" and args.get("vmhost") in (
                    ta | set(trusted)):
                step_upgrade = str(args["vmhost"])
                begin(step_upgrade, _release_key(args.get("release")), e.time)
        elif e.kind == "step.end":
            step, step_upgrade = "", None
        elif e.kind == "imagedb.exported":
            before_import.pop((host, str(f.get("version"))), None)
        elif e.kind == "host.boot.complete" and host in open_upgrades:
            if host in ta:  # a TA host is back in service when it is up again
                del open_upgrades[host]
            else:
                booted_since.add(host)
        elif e.kind == "attest.result":
            if host in booted_since and f.get("status") == "attested":
                booted_since.discard(host)
                open_upgrades.pop(host, None)
        elif e.kind == "host.upgrade.staging":
            if host == step_upgrade:  # already counted when its step started
                open_upgrades[host] = e.time
                booted_since.discard(host)
            else:
                begin(host, str(f.get("version")), e.time)
    return out + list(before_import.values())


def _release_key(release: Any) -> str | None:
    from vtalab.esxi.releases import image_for

    try:
        return str(image_for(str(release)).key)
    except InputError:
        return None


# -- liveness ----------------------------------------------------------------------------

def liveness_bound(params: Parameters) -> float:
    """Seconds within which a trusted host must be attested again after a disturbance:
    two failed-attestation retry periods plus a full boot."""
    return 2 * params.failed_reattest_seconds + params.full_boot_seconds


#: How long a run must go on after its last step, fault, heal or reboot for the liveness
#: invariant to be judged with default parameters (``liveness_bound(Parameters())``).
LIVENESS_SETTLE_SECONDS: float = liveness_bound(Parameters())

#: Trace events that disturb attestation; the liveness bound counts from the last one.
DISTURBANCES = ("step.end", "fault.*", "host.boot.start", "host.power.lost", "host.shutdown",
                "ta.object", "ta.host.*", "service.*", "trusted.remediate", "verb.interrupted",
                "vcenter.restored")


def _disturbances(world: World) -> int:
    trusted = _trusted_hosts(world)
    return sum(1 for e in _events(world, "fault.*", "host.boot.start")
               if e.kind != "host.boot.start" or e.fields.get("host") in trusted)


def _attested_at(world: World, t: float) -> dict[str, tuple[bool, str]]:
    """Trusted host → (attested at time ``t``, what its last result said), from the trace."""
    lifetime = world.params.token_lifetime_seconds
    results: dict[str, dict[str, tuple[str, float, Any]]] = {}
    up: dict[str, bool] = {}
    for e in _events(world, "attest.result", *UP_KINDS, *DOWN_KINDS):
        if e.time > t:
            break
        f = e.fields
        host = str(f.get("host"))
        if e.kind == "attest.result":
            results.setdefault(host, {})[str(f.get("service"))] = (
                str(f.get("status")), e.time, f.get("reason"))
        elif e.kind in DOWN_KINDS:
            up[host] = False
            results.pop(host, None)  # a host going down loses its tokens
        else:
            up[host] = True
    out = {}
    for host in _trusted_hosts(world):
        if not up.get(host, False):
            continue
        svc = results.get(host, {})
        ok = any(s == "attested" and at + lifetime > t for s, at, _ in svc.values())
        if ok:
            out[host] = (True, "attested")
        elif svc:
            status, at, reason = max(svc.values(), key=lambda r: r[1])
            out[host] = (False, f"its last result was {status}"
                         + (f" ({reason})" if reason else "") + f" at {format_time(at)}")
        else:
            out[host] = (False, "it has not been attested since it last booted")
    return out


def check_liveness(world: World, *, bound: float | None = None) -> list[Violation]:
    """The liveness invariant with an explicit ``bound`` (default :func:`liveness_bound`)."""
    bound = liveness_bound(world.params) if bound is None else float(bound)
    attesting = {str(e.fields.get("host")) for e in _events(world, "attest.*")}
    last = 0.0
    for e in _events(world, *DISTURBANCES):
        last = e.time
    deadline = last + bound
    end = world.kernel.now
    at = min(deadline, end)
    out = []
    for host, (ok, why) in sorted(_attested_at(world, at).items()):
        if ok or host not in attesting:
            continue
        if end < deadline:
            detail = (f"{host} is not attested at the end of the run ({format_time(end)}): "
                      f"{why}; the run stopped before the liveness deadline "
                      f"{format_time(deadline)} ({bound:g} s after the last disturbance at "
                      f"{format_time(last)}): run at least {deadline - end:g} s longer")
        else:
            detail = (f"{host} was not attested again within {bound:g} s of the last "
                      f"disturbance at {format_time(last)}: {why}")
        out.append(Violation("liveness-reattested", at, host, detail))
    return out


@invariant(
    "liveness-reattested",
    statement="After the plan and after every fault heals, every powered-on trusted host is "
              "attested again within a bound (2 failed-attestation retry periods plus a full "
              "boot).",
    source=f"{DOMAIN} §5 (kmxa re-attests periodically and retries); {SEED}",
    kind="liveness", at_risk=_disturbances)
def _liveness_reattested(world: World) -> list[Violation]:
    return check_liveness(world)


# -- docs --------------------------------------------------------------------------------

def invariants_markdown() -> str:
    """``docs/invariants.md``: the registry as a reference (generated)."""
    lines = [
        "# Invariants",
        "",
        "Generated from `vtalab/invariants.py` by `python -m vtalab.docgen`; do not edit by "
        "hand.",
        "",
        "Each invariant is defined once and used by `invariant:` expectations in scenarios, "
        "the plan checker, the pytest plugin (`vtalab_lab`) and our Hypothesis state machine. "
        "Kinds: **safety** must hold at every instant, **final** when the run ends, "
        "**liveness** within a bound after the last disturbance, **advice** is a warning "
        "that never fails a run.",
        "",
        f"Liveness needs the run to go on for `LIVENESS_SETTLE_SECONDS` = "
        f"{LIVENESS_SETTLE_SECONDS:g} s (default parameters: 2 × `failed_reattest_seconds` "
        "+ `full_boot_seconds`) after the last step, fault, heal or reboot.",
        "",
        "| invariant | kind | statement | source |",
        "|---|---|---|---|",
    ]
    for inv in INVARIANTS.values():
        lines.append(f"| `{inv.name}` | {inv.kind} | {inv.statement} | {inv.source} |")
    lines += ["", "Use one in a scenario:", "", "```yaml", "expect:",
              "  - invariant: no-base-image-removed-while-reported", "```", "",
              "or in Python: `vtalab.invariants.check_all(world)` returns every violation "
              "(sorted by time, invariant, subject).", ""]
    return "\n".join(lines)
