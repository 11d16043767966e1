"""Hypothesis strategies for property-testing vTA upgrade runbooks in your own test suite.

Three public strategies, all driven entirely by Hypothesis (no other randomness, so a
failing example shrinks and replays):

* :func:`topologies` — a configured vTA estate: a TA cluster of ``min_ta``..``max_ta``
  hosts, one Trusted cluster of ``min_trusted``..``max_trusted`` hosts on one ESXi release,
  Quick Boot on or off, and encrypted (or plain) VMs spread over the trusted hosts.
* :func:`plans` — an operator's upgrade plan for a topology: scenario steps
  (``{"do": verb, "with": {...}}``, sometimes with ``"after"``) built from the documented
  rolling upgrade (TA hosts, a first trusted host as test host, export and import its
  image, the other trusted hosts, removal of the old image) with the choices operators
  really make — reboot mode (auto / quick / full), Quick Boot on or off, full reboots
  before the removal or not, VM operations in between, and (``unsafe=True``) the
  mistakes the seed document warns about: importing late, removing the old image early.
* :func:`fault_schedules` — faults at absolute times within a horizon
  (``{"at": seconds, "do": fault, "with": {...}}``), healing after a duration.

Every step and fault names only hosts and VMs of the topology and validates against the
verb's argument model, so a plan is always *runnable*; whether it is *safe* is what the
invariants (:mod:`vtalab.invariants`) decide. Example::

    from hypothesis import given, strategies as st
    from vtalab.analysis.strategies import topologies, plans, fault_schedules

    @given(data=st.data())
    def test_runbook(data, vtalab_lab):
        topology = data.draw(topologies(max_trusted=3))
        steps = data.draw(plans(topology))
        faults = data.draw(fault_schedules(topology, horizon=3600))
        vtalab_lab(topology).run_plan(steps, faults).assert_safe()
"""

from __future__ import annotations

import inspect
from typing import Any

from hypothesis import strategies as st

from vtalab.esxi.releases import image_for
from vtalab.world.registry import FAULTS
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)

__all__ = [
    "FAULT_KINDS",
    "START_RELEASES",
    "TARGET_RELEASES",
    "fault_schedules",
    "plans",
    "strategies_markdown",
    "topologies",
]

#: Releases a generated estate starts from, and releases plans upgrade to (newer first
#: come later, so Hypothesis shrinks towards the oldest, simplest choice).
START_RELEASES = ("8.0 U1", "8.0 U2")
TARGET_RELEASES = ("8.0 U2", "8.0 U3", "8.0 U3b")

#: The faults :func:`fault_schedules` draws by default: each heals (``duration``), so a
#: plan can be judged on liveness too. Every other fault of the registry is opt-in
#: through ``kinds=``: ``tpm-replaced``, ``sts-rotation``, ``kms-wrong-credentials`` and
#: ``kms-server-certificate-replaced`` need an operator's repair; ``kms-certificate-expired``
#: heals but is not in the default, whose draws users' tests rely on.
FAULT_KINDS = ("kms-outage", "network-partition", "service-crash", "power-loss",
               "ta-host-down", "clock-skew")

Step = dict[str, Any]


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:02d}" for i in range(1, n + 1)]


@st.composite
def topologies(draw: st.DrawFn, min_trusted: int = 1, max_trusted: int = 8, *,
               min_ta: int = 1, max_ta: int = 3, max_vms: int = 4,
               quick_boot: bool | None = None, releases: tuple[str, ...] = START_RELEASES
               ) -> Topology:
    """A configured estate (see the module docstring). ``quick_boot=None`` draws it.

    >>> topologies(max_trusted=2).example()  # doctest: +SKIP
    Topology(ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name='ta-esx-01', ...)]), ...)
    """
    if not 1 <= min_trusted <= max_trusted:
        raise ValueError(f"need 1 <= min_trusted <= max_trusted; got {min_trusted}, "
                         f"{max_trusted}")
    if not 1 <= min_ta <= max_ta:
        raise ValueError(f"need 1 <= min_ta <= max_ta; got {min_ta}, {max_ta}")
    n_ta = draw(st.integers(min_ta, max_ta))
    n_trusted = draw(st.integers(min_trusted, max_trusted))
    release = draw(st.sampled_from(releases))
    ta_release = draw(st.sampled_from([r for r in TARGET_RELEASES + releases
                                       if _key(r) >= _key(release)]))
    hosts = _names("esx", n_trusted)
    n_vms = draw(st.integers(0, max_vms))
    vms = [VmSpec(name=name, host=draw(st.sampled_from(hosts)),
                  encrypted=draw(st.booleans().map(lambda b: not b)))  # shrinks to encrypted
           for name in _names("vm", n_vms)]
    qb = draw(st.booleans()) if quick_boot is None else quick_boot
    return Topology(
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name=f"ta-{n}", release=ta_release)
                                        for n in _names("esx", n_ta)]),
        trusted_clusters=[TrustedClusterSpec(
            quick_boot=qb, hosts=[TrustedHostSpec(name=h, release=release) for h in hosts],
            vms=vms)])


def _key(release: str) -> tuple[int, ...]:
    """Sortable version of a release name (8.0.3-24280767 → (8, 0, 3, 24280767))."""
    major, build = image_for(release).key.split("-")
    return (*(int(p) for p in major.split(".")), int(build))


def _trusted(topology: Topology) -> list[TrustedHostSpec]:
    return [h for c in topology.trusted_clusters for h in c.hosts]


def _upgrade(host: str, release: str, reboot: str) -> Step:
    return {"do": "upgrade-host", "with": {"vmhost": host, "release": release,
                                           "reboot": reboot}}


@st.composite
def _vm_ops(draw: st.DrawFn, topology: Topology) -> list[Step]:
    """A short burst of VM operations: stop/start one VM, or vMotion it."""
    vms = [v for c in topology.trusted_clusters for v in c.vms]
    hosts = [h.name for h in _trusted(topology)]
    if not vms:
        return []
    vm = draw(st.sampled_from(vms)).name
    if len(hosts) > 1 and draw(st.booleans()):
        return [{"do": "Move-VM", "with": {"vm": vm,
                                           "destination": draw(st.sampled_from(hosts))}}]
    return [{"do": "Stop-VM", "with": {"vm": vm}},
            {"do": "Start-VM", "with": {"vm": vm}, "after": draw(st.sampled_from([0, 60]))}]


def _full_reboot(host: str) -> list[Step]:
    """A full reboot done right: evacuate (maintenance mode), reboot, come back."""
    return [{"do": "Set-VMHost", "with": {"vmhost": host, "state": "Maintenance"}},
            {"do": "Restart-VMHost", "with": {"vmhost": host, "force": True}},
            {"do": "Set-VMHost", "with": {"vmhost": host, "state": "Connected"}}]


@st.composite
def plans(draw: st.DrawFn, topology: Topology, *, release: str | None = None,
          unsafe: bool = True, max_vm_ops: int = 2) -> list[Step]:
    """A rolling-upgrade plan for ``topology`` (see the module docstring).

    ``release`` fixes the target release (default: drawn among newer ones). With
    ``unsafe=False`` the plan follows the documented procedure (import before the other
    trusted hosts, old image removed last and only after Quick Boot was turned off and
    every trusted host rebooted fully); the reboot modes, orders and VM operations are
    still drawn.

    >>> plans(topology).example()  # doctest: +SKIP
    [{'do': 'upgrade-host', 'with': {'vmhost': 'ta-esx-01', 'release': '8.0 U3', ...}}, ...]
    """
    trusted = _trusted(topology)
    if not trusted:
        raise ValueError("plans() needs a topology with at least one trusted host")
    start = trusted[0].release
    newer = [r for r in TARGET_RELEASES if _key(r) > _key(start)]
    if release is None:
        if not newer:
            raise ValueError(f"no release in {TARGET_RELEASES} is newer than {start}")
        release = draw(st.sampled_from(newer))
    old_version = image_for(start).key
    ta_hosts = draw(st.permutations([h.name for h in topology.ta_cluster.hosts]))
    hosts = draw(st.permutations([h.name for h in trusted]))
    reboot = st.sampled_from(["auto", "full", "quick"])
    quick_boot = topology.trusted_clusters[0].quick_boot

    steps: list[Step] = []
    if draw(st.booleans()):
        quick_boot = not quick_boot
        steps.append({"do": "set-quick-boot", "with": {"enabled": quick_boot}})
    for h in ta_hosts:
        if any(_key(t.release) < _key(release)
               for t in topology.ta_cluster.hosts if t.name == h):
            steps.append(_upgrade(h, release, "auto"))

    def trusted_upgrade(host: str) -> Step:
        mode = draw(reboot)
        if mode == "quick" and not quick_boot:
            mode = "auto"  # a quick reboot without the cluster setting is refused
        return _upgrade(host, release, mode)

    test_host, others = hosts[0], list(hosts[1:])
    body: list[Step] = [trusted_upgrade(test_host),
                        {"do": "Export-VMHostImageDb",
                         "with": {"vmhost": test_host, "file": "new-imgdb.tgz"}}]
    upgrades = [trusted_upgrade(h) for h in others]
    late = draw(st.integers(0, len(upgrades))) if unsafe else 0
    body += upgrades[:late]
    body.append({"do": "New-TrustAuthorityVMHostBaseImage", "with": {"file": "new-imgdb.tgz"}})
    body += upgrades[late:]
    for _ in range(draw(st.integers(0, max_vm_ops))):
        at = draw(st.integers(0, len(body)))
        body[at:at] = draw(_vm_ops(topology))
    steps += body

    removal = {"do": "Remove-TrustAuthorityVMHostBaseImage", "with": {"version": old_version}}
    if unsafe:
        if draw(st.booleans()):
            steps.append({"do": "set-quick-boot", "with": {"enabled": False}})
            for h in draw(st.lists(st.sampled_from(hosts), unique=True)):
                steps += _full_reboot(h)
        if draw(st.booleans()):
            steps.insert(draw(st.integers(len(ta_hosts), len(steps))), removal)
    else:
        steps.append({"do": "set-quick-boot", "with": {"enabled": False}})
        for h in hosts:
            steps += _full_reboot(h)
        steps.append(removal)
    return steps


def _fault(draw: st.DrawFn, kind: str, topology: Topology, horizon: int) -> dict[str, Any]:
    trusted = [h.name for h in _trusted(topology)]
    ta = [h.name for h in topology.ta_cluster.hosts]
    duration = draw(st.integers(30, max(30, min(1800, horizon))))
    args: dict[str, Any]
    if kind == "kms-outage":
        args = {"duration": duration}
    elif kind == "network-partition":
        args = {"vmhost": draw(st.sampled_from(trusted + ta)), "duration": duration}
    elif kind == "service-crash":
        host = draw(st.sampled_from(trusted + ta))
        services = ["kmxa"] if host in trusted else ["attestd", "kmxd"]
        args = {"vmhost": host, "service": draw(st.sampled_from(services)),
                "duration": duration}
    elif kind == "power-loss":
        args = {"vmhost": draw(st.sampled_from(trusted)), "duration": duration}
    elif kind == "ta-host-down":
        args = {"vmhost": draw(st.sampled_from(ta)), "duration": duration}
    elif kind == "clock-skew":
        args = {"vmhost": draw(st.sampled_from(trusted)),
                "seconds": draw(st.integers(-600, 600))}
    elif kind == "tpm-replaced":
        args = {"vmhost": draw(st.sampled_from(trusted))}
    elif kind == "sts-rotation":
        args = {}
    elif kind in ("kms-wrong-credentials", "kms-certificate-expired",
                  "kms-server-certificate-replaced"):
        servers = list(topology.kms.servers)  # one of them, or (None) all of them
        server = draw(st.sampled_from([None, *servers]))
        args = {} if server is None else {"server": server}
        if kind == "kms-certificate-expired":  # the others need the operator's repair
            args["duration"] = duration
    else:
        raise ValueError(f"fault_schedules() cannot generate {kind!r}; known: "
                         f"{', '.join(sorted(FAULTS))}")
    return {"at": draw(st.integers(0, horizon)), "do": kind, "with": args}


@st.composite
def fault_schedules(draw: st.DrawFn, topology: Topology, horizon: float, *,
                    max_faults: int = 3, kinds: tuple[str, ...] = FAULT_KINDS
                    ) -> list[dict[str, Any]]:
    """Up to ``max_faults`` faults at whole seconds in ``[0, horizon]``, sorted by time.

    Shrinks towards no fault at all, then fewer, earlier and shorter ones.

    >>> fault_schedules(topology, horizon=3600).example()  # doctest: +SKIP
    [{'at': 812, 'do': 'network-partition', 'with': {'vmhost': 'esx-02', 'duration': 300}}]
    """
    end = int(horizon)
    if end < 0:
        raise ValueError(f"horizon must be >= 0 seconds; got {horizon!r}")
    n = draw(st.integers(0, max_faults))
    faults = [_fault(draw, draw(st.sampled_from(kinds)), topology, end) for _ in range(n)]
    return sorted(faults, key=lambda f: (f["at"], f["do"]))


def strategies_markdown() -> str:
    """``docs/strategies.md``: the public strategies, from their signatures and docstrings."""

    lines = ["# Hypothesis strategies", "",
             "Generated from `vtalab/analysis/strategies.py` by `python tools/docgen.py`; do not "
             "edit by hand. A complete worked example: [testing-your-runbooks.md]"
             "(testing-your-runbooks.md).", ""]
    doc = inspect.getdoc(__import__(__name__, fromlist=["_"])) or ""
    lines += [doc, ""]
    for fn in (topologies, plans, fault_schedules):
        target = getattr(fn, "__wrapped__", fn)
        sig = inspect.signature(target)
        params = [p.replace(annotation=inspect.Parameter.empty)
                  for p in sig.parameters.values() if p.name != "draw"]
        shown = sig.replace(parameters=params, return_annotation=inspect.Signature.empty)
        text, _, example = (inspect.getdoc(target) or "").partition(">>> ")
        lines += [f"## `{fn.__name__}{shown}`", "", text.rstrip(), ""]
        if example:
            lines += ["```python", ">>> " + example.strip(), "```", ""]
    lines += ["## Constants", "",
              f"- `START_RELEASES` = {', '.join(START_RELEASES)}",
              f"- `TARGET_RELEASES` = {', '.join(TARGET_RELEASES)}",
              f"- `FAULT_KINDS` = {', '.join(FAULT_KINDS)} (the default; every other "
              f"fault of the registry on request, `kinds=`: "
              f"{', '.join(k for k in sorted(FAULTS) if k not in FAULT_KINDS)})", ""]
    return "\n".join(lines)
