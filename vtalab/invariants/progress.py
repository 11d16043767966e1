"""The invariants judged over a whole run: at its end, in its order, within a bound.

* ``ta-objects-consistent-at-end`` (*final*) -- when the run ends, every TA host holds
  the same Trust Authority objects;
* ``documented-upgrade-order`` (*advice*) -- upgrades follow the documented order, one
  host at a time, a trusted host's new version imported before it is upgraded;
* ``liveness-reattested`` (*liveness*) -- every powered-on trusted host is attested again
  within :func:`liveness_bound` of the last disturbance; :func:`check_liveness` takes an
  explicit bound, and :data:`LIVENESS_SETTLE_SECONDS` is how long a run must go on for it
  to be judged with default parameters.

They register themselves with :func:`vtalab.invariants.invariant` when
:mod:`vtalab.invariants` is imported, after those of :mod:`vtalab.invariants.safety`;
the public names are re-exported by :mod:`vtalab.invariants`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vtalab.core.kernel import format_time
from vtalab.core.parameters import Parameters
from vtalab.domain.vcenter_releases import API_REMOVED_SOURCE, vcenter_release, version_tuple
from vtalab.errors import InputError
from vtalab.esxi.releases import image_for
from vtalab.invariants import DOMAIN, SEED, Violation, invariant
from vtalab.invariants.replay import (
    _STARTING,
    DOWN_KINDS,
    UP_KINDS,
    _canonical_verb,
    _fold,
    _trusted_hosts,
    _TrustState,
    folded,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    from vtalab.core.trace import TraceEvent
    from vtalab.world.assembly import World

__all__ = ["DISTURBANCES", "LIVENESS_SETTLE_SECONDS", "ORDER", "check_liveness",
           "liveness_bound"]


# -- final: TA objects -------------------------------------------------------------------

@folded("ta.object", "ta.host.*", *UP_KINDS, *DOWN_KINDS)
def _ta_changes_at_risk(world: World) -> Generator[int, list[TraceEvent], None]:
    """TA object changes made while a TA member was down, plus TA host removals/re-adds."""
    ta = list(world.ta_cluster.hosts)
    up = {h: False for h in ta}
    member = {h: True for h in ta}
    n = 0
    while True:
        for e in (yield n):
            host = e.fields.get("host")
            if e.kind == "ta.object":
                n += any(member[h] and not up[h] for h in ta)
            elif e.kind.startswith("ta.host."):
                n += 1
                if host in member:
                    member[host] = e.kind == "ta.host.added"
            elif host in up:
                up[host] = e.kind in UP_KINDS


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

@folded("host.upgrade.staging", "vcenter.upgrade.start")
def _upgrades(world: World) -> Generator[int, list[TraceEvent], None]:
    n = 0
    while True:
        n += len((yield n))


ORDER = "TA vCenter → TA hosts → trusted vCenter → trusted hosts, one host at a time"


def _initial_vcenter_versions(world: World) -> dict[str, str]:
    """role -> the vCenter version at T=0 (the topology's: only ``upgrade-vcenter``
    changes it, and that is in the trace)."""
    t = world.topology
    return {"ta": vcenter_release(t.ta_vcenter_release).key,
            "workload": vcenter_release(t.workload_vcenter_release).key}


_ORDER_KINDS = ("ta.object", "host.upgrade.staging", "host.boot.complete", "attest.result",
                "step.start", "step.end", "imagedb.exported", "vcenter.upgrade.start",
                "vcenter.upgraded")


@invariant(
    "documented-upgrade-order",
    statement="Upgrades follow the documented order (TA vCenter, TA hosts, trusted vCenter, "
              "trusted hosts), one host at a time, and a trusted host's new version is "
              "imported as a base image before it is upgraded.",
    source=f"{SEED}, 'Best practices for upgrading vTA' and 'Upgrading and patching vTA'",
    kind="advice", at_risk=_upgrades)
def _documented_upgrade_order(world: World) -> list[Violation]:
    out, before_import = _upgrade_order_fold(world)
    return [*out, *before_import.values()]


@folded(*_ORDER_KINDS)
def _upgrade_order_fold(world: World) -> Generator[
        tuple[list[Violation], dict[tuple[str, str], Violation]], list[TraceEvent], None]:
    """``documented-upgrade-order`` folded over the events of :data:`_ORDER_KINDS`: the
    violations so far, and the trusted hosts upgraded to a version not imported yet (a
    warning unless that version is later exported from the host: the test host)."""
    ta = set(world.ta_cluster.hosts)
    trusted = _trusted_hosts(world)
    trust = _TrustState()
    first_trusted: tuple[str, float] | None = None
    open_upgrades: dict[str, float] = {}  # host -> upgrade start, until back in service
    booted_since: set[str] = set()
    # host -> " (step 'id')" of the upgrade-host step upgrading it now (steps may run in
    # the background, at once: each host's own step is named, not the latest to start)
    host_step: dict[str, str] = {}
    step_host: dict[Any, str] = {}  # index of a running upgrade-host step -> its host
    out: list[Violation] = []
    # A trusted host upgraded to a version not imported yet is the documented *test host*
    # when that version is then exported from it; otherwise it is warned about.
    before_import: dict[tuple[str, str], Violation] = {}
    vc_version = _initial_vcenter_versions(world)  # role -> version running now
    vc_started: dict[str, tuple[float, str]] = {}  # role -> first upgrade (time, vCenter)
    first_ta_host: tuple[str, float] | None = None

    def begin(host: str, version: str | None, time: float) -> None:
        """An upgrade starts: an upgrade-host step, or staging outside any such step."""
        nonlocal first_trusted, first_ta_host
        step = host_step.get(host, "")
        others = sorted(h for h in open_upgrades if h != host)
        role = "ta" if host in ta else "workload"
        if (version is not None and host in (ta | set(trusted))
                and version_tuple(version) > version_tuple(vc_version[role])):
            out.append(Violation(
                "documented-upgrade-order", time, host,
                f"{host} upgraded{step} to {version} while its vCenter "
                f"({'TA' if role == 'ta' else 'trusted'} vCenter) runs {vc_version[role]}: "
                f"the documented order is {ORDER}; a vCenter must run the same or a later "
                "version than the hosts it manages, so upgrade the vCenter first"))
        if host in ta and "workload" in vc_started:
            out.append(Violation(
                "documented-upgrade-order", time, host,
                f"TA host {host} upgraded{step} after the trusted vCenter "
                f"{vc_started['workload'][1]} (at {format_time(vc_started['workload'][0])}): "
                f"the documented order is {ORDER}"))
        if host in ta and first_ta_host is None:
            first_ta_host = (host, time)
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

    while True:
        for e in (yield out, before_import):
            f = e.fields
            host = str(f.get("host"))
            kind = e.kind
            if kind == "attest.result":  # the most frequent kind first (kinds exclude)
                if host in booted_since and f.get("status") == "attested":
                    booted_since.discard(host)
                    open_upgrades.pop(host, None)
            elif kind == "vcenter.upgrade.start":
                vc_role, vc_name = str(f.get("role")), str(f.get("vcenter"))
                vc_started.setdefault(vc_role, (e.time, vc_name))
                late = []
                if vc_role == "ta" and first_ta_host is not None:
                    late.append(f"TA host {first_ta_host[0]} (at {format_time(first_ta_host[1])})")
                if vc_role == "ta" and "workload" in vc_started:
                    late.append("the trusted vCenter "
                                f"(at {format_time(vc_started['workload'][0])})")
                if first_trusted is not None:
                    late.append(f"trusted host {first_trusted[0]} "
                                f"(at {format_time(first_trusted[1])})")
                if late:
                    out.append(Violation(
                        "documented-upgrade-order", e.time, vc_name,
                        f"{'TA' if vc_role == 'ta' else 'trusted'} vCenter {vc_name} upgraded"
                        f" after {', '.join(late)}: the documented order is {ORDER}"))
            elif kind == "vcenter.upgraded":
                vc_version[str(f.get("role"))] = str(f.get("version"))
            elif kind == "ta.object":
                trust.apply(f)
            elif kind == "step.start":
                args = f.get("args") or {}
                if _canonical_verb(f.get("verb")) == "upgrade-host" and args.get("vmhost") in (
                        ta | set(trusted)):
                    upgraded = str(args["vmhost"])
                    host_step[upgraded] = f" (step {f['id']!r})" if f.get("id") else \
                        f" (step {int(f.get('index') or 0) + 1})"  # numbered from 1
                    step_host[f.get("index")] = upgraded
                    begin(upgraded, _release_key(args.get("release")), e.time)
            elif kind == "step.end":
                host_step.pop(step_host.pop(f.get("index"), ""), None)
            elif kind == "imagedb.exported":
                before_import.pop((host, str(f.get("version"))), None)
            elif kind == "host.boot.complete" and host in open_upgrades:
                if host in ta:  # a TA host is back in service when it is up again
                    del open_upgrades[host]
                else:
                    booted_since.add(host)
            elif kind == "host.upgrade.staging":
                if host in host_step:  # already counted when its step started
                    open_upgrades[host] = e.time
                    booted_since.discard(host)
                else:
                    begin(host, str(f.get("version")), e.time)


# -- advice: vSphere 9.0 ---------------------------------------------------------------

@invariant(
    "vta-gone-in-9-0",
    statement="No vCenter or ESXi host of a vTA estate is upgraded to vSphere 9.0: vTA was "
              "deprecated in 8.0 U3 and its API is disabled in 9.0.",
    source=API_REMOVED_SOURCE, kind="advice", at_risk=_upgrades)
@folded("vcenter.upgrade.start", "host.upgrade.staging")
def _vta_gone_in_9(world: World) -> Generator[list[Violation], list[TraceEvent], None]:
    out: list[Violation] = []
    while True:
        for e in (yield out):
            version = str(e.fields.get("version"))
            if version_tuple(version)[0] < 9:
                continue
            what = (f"vCenter {e.fields.get('vcenter')}" if e.kind == "vcenter.upgrade.start"
                    else f"host {e.fields.get('host')}")
            out.append(Violation(
                "vta-gone-in-9-0", e.time, what.split(" ", 1)[1],
                f"{what} upgraded to {version} (vSphere 9.0): the vSphere Trust Authority API is "
                "disabled and returns errors as of vSphere API 9.0.0.0 (deprecated in 8.0.3.0), "
                "so the vTA cmdlets stop working there; plan the move off vTA (its trusted key "
                "provider and the encrypted VMs that depend on it) before going to 9.0. Source: "
                + API_REMOVED_SOURCE))


def _release_key(release: Any) -> str | None:

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


@folded("fault.*", "host.boot.start")
def _disturbances(world: World) -> Generator[int, list[TraceEvent], None]:
    trusted = _trusted_hosts(world)
    n = 0
    while True:
        for e in (yield n):
            n += e.kind != "host.boot.start" or e.fields.get("host") in trusted


class _Attestation:
    """Trusted hosts' attestation results and power, replayed from the trace."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, tuple[str, float, Any]]] = {}
        self.up: dict[str, bool] = {}

    def apply(self, e: TraceEvent) -> None:
        f = e.fields
        host = str(f.get("host"))
        if e.kind == "attest.result":
            self.results.setdefault(host, {})[str(f.get("service"))] = (
                str(f.get("status")), e.time, f.get("reason"))
        elif e.kind in DOWN_KINDS:
            self.up[host] = False
            self.results.pop(host, None)  # a host going down loses its tokens
        else:
            self.up[host] = True

    def copy(self) -> _Attestation:
        other = _Attestation()
        other.results = {h: dict(r) for h, r in self.results.items()}
        other.up = dict(self.up)
        return other

    def at(self, world: World, t: float) -> dict[str, tuple[bool, str]]:
        """Trusted host → (attested at time ``t``, what its last result said); the state
        must hold every event up to ``t`` and none after it."""
        lifetime = world.params.token_lifetime_seconds
        out = {}
        for host in _trusted_hosts(world):
            if not self.up.get(host, False):
                continue
            svc = self.results.get(host, {})
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


_LIVENESS_KINDS = ("attest.*", *UP_KINDS, *DOWN_KINDS, *DISTURBANCES)
_DISTURBANCE_EXACT = frozenset(k for k in DISTURBANCES if not k.endswith("*"))
_DISTURBANCE_PREFIXES = tuple(k[:-1] for k in DISTURBANCES if k.endswith("*"))
#: event kind -> what it is to the liveness fold, filled as kinds appear (a few dozen)
_LIVENESS_ROLES: dict[str, tuple[bool, bool, bool]] = {}


def _liveness_roles(kind: str) -> tuple[bool, bool, bool]:
    """(a disturbance, attestation traffic, a change of the attestation state) for events
    of ``kind``: the same for every event of the kind, so worked out once per kind."""
    roles = _LIVENESS_ROLES.get(kind)
    if roles is None:
        roles = _LIVENESS_ROLES[kind] = (
            kind in _DISTURBANCE_EXACT or kind.startswith(_DISTURBANCE_PREFIXES),
            kind.startswith("attest."),
            kind == "attest.result" or kind in UP_KINDS or kind in DOWN_KINDS)
    return roles


def _liveness_fold(bound: float) -> Any:
    def fold(world: World) -> Generator[tuple[Any, ...], list[TraceEvent], None]:
        """(hosts attesting, last disturbance, attestation state at the deadline or None
        if the trace has not passed it yet, the state now)."""
        attesting: set[str] = set()
        last = 0.0
        state = _Attestation()
        at_deadline: _Attestation | None = None
        roles = _LIVENESS_ROLES
        while True:
            for e in (yield attesting, last, at_deadline, state):
                time = e.time
                if at_deadline is None and time > last + bound:
                    at_deadline = state.copy()  # the first event after the deadline
                disturbs, attests, applies = roles.get(e.kind) or _liveness_roles(e.kind)
                if disturbs:
                    last = time
                    at_deadline = None  # a later deadline: the trace has not passed it
                if attests:
                    attesting.add(str(e.fields.get("host")))
                if applies:
                    state.apply(e)

    return fold


def _default_liveness(world: World) -> tuple[Any, tuple[str, ...], Any]:
    """The liveness fold with the world's own bound (what ``liveness-reattested`` asks
    for), started with the other folds so that the trace so far is read once for all."""
    bound = float(liveness_bound(world.params))
    return ("liveness", bound), _LIVENESS_KINDS, _liveness_fold(bound)


_STARTING.append(_default_liveness)


def check_liveness(world: World, *, bound: float | None = None) -> list[Violation]:
    """The liveness invariant with an explicit ``bound`` (default :func:`liveness_bound`)."""
    bound = liveness_bound(world.params) if bound is None else float(bound)
    attesting, last, at_deadline, state = _fold(
        world, ("liveness", bound), _LIVENESS_KINDS, _liveness_fold(bound))
    deadline = last + bound
    end = world.kernel.now
    at = min(deadline, end)
    out = []
    attested = (at_deadline if at_deadline is not None and at < end else state).at(world, at)
    for host, (ok, why) in sorted(attested.items()):
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
