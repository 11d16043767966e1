"""Our own stateful test: a Hypothesis rule-based state machine over a live vTA estate.

Rules are what an operator and the world do — verbs (upgrade-host with quick / full /
auto reboots, Restart-VMHost, reboot-host, New/Remove-TrustAuthorityVMHostBaseImage,
Export-VMHostImageDb, set-quick-boot, Start-VM / Stop-VM / Move-VM), faults that heal
(network partition, kmxa crash, KMS outage) and clock advances. The invariants are the
registry (:func:`vtalab.invariants.check_all`, every safety and final invariant) checked
after every rule.

The operator is careful in every way the documentation spells out (imports a base image
from a test host before upgrading to it, touches VMs only on attested hosts, waits for
faults to heal) except one: the naive operator removes a base image once **no host runs
it**, which is exactly the Quick Boot trap of the seed page — a Quick Booted host still
*measures* its last full boot. With default Hypothesis settings the machine finds it; an
operator who removes only images **no host measures** passes.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from vtalab.esxi.releases import image_for
from vtalab.invariants import INVARIANTS, check_all
from vtalab.world.assembly import World
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)

TOPOLOGY = Topology(
    ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01", release="8.0 U3")]),
    trusted_clusters=[
        TrustedClusterSpec(name="Trusted Cluster", quick_boot=True,
                           hosts=[TrustedHostSpec(name="esx-01", release="8.0 U1"),
                                  TrustedHostSpec(name="esx-02", release="8.0 U1")],
                           vms=[VmSpec(name="db01", host="esx-01", encrypted=True)]),
        # The documented test host: upgraded first, its image exported and imported.
        TrustedClusterSpec(name="Test Cluster",
                           hosts=[TrustedHostSpec(name="esx-test", release="8.0 U1")]),
    ])
PRODUCTION = ("esx-01", "esx-02")
HOSTS = (*PRODUCTION, "esx-test")
RELEASES = ("8.0 U2", "8.0 U3")  # in order: the test host takes the next one
#: every invariant judged at every instant: safety and final (advice and liveness need
#: the end of a plan, which a state machine never reaches)
CHECKED = tuple(n for n, i in INVARIANTS.items() if i.kind in ("safety", "final"))
TRAP = "no-base-image-removed-while-reported"
STEPS = 50  # Hypothesis' default, spelled out


class InvariantBroken(AssertionError):
    """An invariant of the registry was violated; the message lists the violations."""


def version_key(version: str) -> tuple[int, ...]:
    major, build = version.split("-")
    return (*(int(p) for p in major.split(".")), int(build))


class VtaEstate(RuleBasedStateMachine):
    """A careful operator, naive about Quick Boot when removing base images."""

    #: which base images the operator thinks are unused: those no host *runs* (naive)
    #: or those no host *measures* (what the seed page says)
    removal_rule = "runs"

    def __init__(self) -> None:
        super().__init__()
        self.world = World(TOPOLOGY, seed=0)
        self.faults_until = 0.0

    @initialize()
    def settle(self) -> None:
        self.world.run(60)

    # -- helpers -----------------------------------------------------------------------
    def do(self, verb: str, **args: Any) -> Any:
        proc = self.world.perform(verb, args)
        self.world.kernel.env.run(until=proc)
        return proc.value

    def now(self) -> float:
        return self.world.kernel.now

    def quiet(self) -> bool:
        """No fault is active: the operator waits for faults to heal before touching VMs."""
        return self.now() >= self.faults_until

    def attested(self, host: str) -> bool:
        h = self.world.host(host)
        return (h.is_up and not h.in_maintenance
                and self.world.attestation_status(host)["status"] == "attested")

    def trusted_versions(self) -> list[str]:
        return sorted(str(b["version"]) for b in self.world.base_images())

    def running_vms(self, host: str) -> list[str]:
        return [v.name for v in self.world.vms.values()
                if v.host == host and v.power_state == "poweredOn"]

    def newest(self) -> str | None:
        return max(self.trusted_versions(), key=version_key, default=None)

    def next_to_upgrade(self) -> str | None:
        """Rolling upgrade, one host at a time: the first production host behind the
        newest imported release, if it is up and its VMs can move to attested peers."""
        newest = self.newest()
        todo = [h for h in PRODUCTION if newest is not None
                and version_key(self.world.host(h).version) < version_key(newest)]
        if not todo or not self.quiet() or not self.world.host(todo[0]).is_up:
            return None
        peers = [p for p in PRODUCTION if p != todo[0] and self.world.host(p).is_up]
        if self.running_vms(todo[0]) and not (peers and all(self.attested(p) for p in peers)):
            return None  # evacuation needs attested peers that can get the keys
        return todo[0]

    def next_release(self) -> str | None:
        test = self.world.host("esx-test")
        newer = [r for r in RELEASES
                 if version_key(image_for(r).key) > version_key(test.version)]
        return newer[0] if newer and test.is_up else None

    def db_on(self) -> bool:
        return self.world.vm("db01").power_state == "poweredOn"

    # Preconditions keep every step meaningful: a rule that could only do nothing is not
    # drawn, so the default number of steps explores real operator sequences.

    # -- operator: upgrades and reboots ------------------------------------------------
    @precondition(lambda self: self.next_release() is not None)
    @rule()
    def prepare_release(self) -> None:
        """The documented first step: upgrade the test host to the next release, export
        its image and import it into the TA cluster (seed: 'Upgrading and patching vTA')."""
        self.do("upgrade-host", vmhost="esx-test", release=self.next_release())
        self.do("Export-VMHostImageDb", vmhost="esx-test", file="test-imgdb.tgz")
        self.do("New-TrustAuthorityVMHostBaseImage", file="test-imgdb.tgz")

    @precondition(lambda self: self.next_to_upgrade() is not None)
    @rule(mode=st.sampled_from(["auto", "quick", "full"]))
    def upgrade_next(self, mode: str) -> None:
        """Upgrade the next production host to the newest imported release (never to a
        release not imported yet). ``quick`` falls back to ``auto`` when not allowed."""
        host = self.next_to_upgrade()
        assert host is not None
        if mode == "quick" and self.world.host(host).quick_boot_problem():
            mode = "auto"
        self.do("upgrade-host", vmhost=host, release=self.newest(), reboot=mode)

    @rule(host=st.sampled_from(HOSTS), quick=st.booleans())
    def reboot(self, host: str, quick: bool) -> None:
        """Reboot a host without running VMs (a full boot measures the running image)."""
        h = self.world.host(host)
        if not h.is_up or self.running_vms(host):
            return
        if quick and not h.quick_boot_problem():
            self.do("reboot-host", vmhost=host, mode="quick")
        else:
            self.do("Restart-VMHost", vmhost=host, force=True)

    @rule(enabled=st.booleans())
    def set_quick_boot(self, enabled: bool) -> None:
        self.do("set-quick-boot", cluster="Trusted Cluster", enabled=enabled)

    # -- operator: base images ---------------------------------------------------------
    @rule(host=st.sampled_from(HOSTS))
    def export_and_import(self, host: str) -> None:
        """Export a host's running image and import it (already_exists is a refusal)."""
        if self.world.host(host).is_up:
            self.do("Export-VMHostImageDb", vmhost=host, file=f"{host}-imgdb.tgz")
            self.do("New-TrustAuthorityVMHostBaseImage", file=f"{host}-imgdb.tgz")

    def unused(self) -> list[str]:
        hosts = [self.world.host(h) for h in HOSTS]
        if self.removal_rule == "runs":
            used = {h.version for h in hosts}
        else:
            used = {h.measured_version for h in hosts}
        return [v for v in self.trusted_versions() if v not in used]

    @precondition(lambda self: bool(self.unused()))
    @rule(pick=st.integers(0, 3))
    def remove_unused_image(self, pick: int) -> None:
        unused = self.unused()
        self.do("Remove-TrustAuthorityVMHostBaseImage", version=unused[pick % len(unused)])

    # -- operator: VMs -----------------------------------------------------------------
    @precondition(lambda self: not self.db_on() and self.quiet()
                  and self.attested(self.world.vm("db01").host))
    @rule()
    def start_db(self) -> None:
        self.do("Start-VM", vm="db01")

    @precondition(lambda self: self.db_on())
    @rule()
    def stop_db(self) -> None:
        self.do("Stop-VM", vm="db01")

    @precondition(lambda self: self.db_on() and self.quiet())
    @rule(destination=st.sampled_from(PRODUCTION))
    def move_db(self, destination: str) -> None:
        if self.world.vm("db01").host != destination and self.attested(destination):
            self.do("Move-VM", vm="db01", destination=destination)

    # -- the world: faults and time ----------------------------------------------------
    @rule(kind=st.sampled_from(["network-partition", "service-crash", "kms-outage"]),
          host=st.sampled_from(HOSTS), duration=st.sampled_from([60, 600, 1800]))
    def fault(self, kind: str, host: str, duration: int) -> None:
        if not self.world.host(host).is_up:
            return
        args: dict[str, Any] = {"duration": duration}
        if kind != "kms-outage":
            args["vmhost"] = host
        if kind == "service-crash":
            args["service"] = "kmxa"
        self.world.perform(kind, args)  # heals by itself, in the background
        self.faults_until = max(self.faults_until, self.now() + duration + 1)

    @rule(seconds=st.sampled_from([60, 600, 3600]))
    def advance(self, seconds: int) -> None:
        self.world.run(self.now() + seconds)

    # -- the registry ------------------------------------------------------------------
    @invariant()
    def registry_holds(self) -> None:
        violations = check_all(self.world, CHECKED)
        if violations:
            raise InvariantBroken("; ".join(f"[{v.invariant}] {v}" for v in violations))


class CarefulEstate(VtaEstate):
    """The same operator, removing only base images that no host measures."""

    removal_rule = "measures"


#: Default settings (100 examples of up to 50 steps) except: no deadline (a step runs a
#: simulated hour), no example database and a fixed seed (the run is the same in CI).
SETTINGS = settings(deadline=None, database=None, stateful_step_count=STEPS, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _messages(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        return [m for e in exc.exceptions for m in _messages(e)]
    return [str(exc)]


@pytest.mark.slow
def test_state_machine_finds_the_quick_boot_trap():
    """Default phases, shrinking included (about 40 s): the shrunk sequence still is the trap."""
    with pytest.raises((InvariantBroken, BaseExceptionGroup)) as info:
        run_state_machine_as_test(VtaEstate, settings=SETTINGS)
    messages = _messages(info.value)
    assert messages and all(f"[{TRAP}]" in m for m in messages), messages
    assert any("since did not re-measure" in m for m in messages)


def test_state_machine_passes_when_only_unmeasured_images_are_removed():
    run_state_machine_as_test(CarefulEstate, settings=SETTINGS)
