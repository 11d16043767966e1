"""A second mutation spot check, the world's setup, topology, registry and faults: the side
of each rule no test reached. Each test here failed against a hand-made mutant of
vtalab/world/{setup,topology,registry,faults}.py that the suite let pass."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vtalab.core.limits import MAX_CLUSTERS
from vtalab.errors import InputError
from vtalab.world import registry
from vtalab.world.assembly import World
from vtalab.world.topology import (
    BaseImageSpec,
    TaClusterSpec,
    TaHostSpec,
    Topology,
    Tpm2SettingsSpec,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
    size_problem,
)

U1, U2 = "8.0.1-21495797", "8.0.2-22380479"


def _world(*, hosts: list[TrustedHostSpec] | None = None, run: float = 1.0,
           vms: list[VmSpec] | None = None, **ta: Any) -> World:
    topology = Topology(
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-01")], **ta),
        trusted_clusters=[TrustedClusterSpec(
            hosts=hosts or [TrustedHostSpec(name="esx-01")], vms=vms or [])])
    world = World(topology, seed=1)
    world.run(run)
    return world


# -- setup (world/setup.py) ----------------------------------------------------------------

def test_a_snapshot_s_tpm2_settings_are_what_the_cluster_shows() -> None:
    world = _world(tpm2_settings=Tpm2SettingsSpec(require_certificate_validation=False,
                                                  require_endorsement_keys=False))
    [settings] = world.call("Get-TrustAuthorityTpm2AttestationSettings").output
    assert (settings["RequireCertificateValidation"], settings["RequireEndorsementKey"]) \
        == (False, False)


def test_setup_takes_base_images_from_running_hosts_only() -> None:
    """A host that is powered off at T=0 has no image to export: the setup imports the
    running hosts' images and the lab starts."""
    world = _world(hosts=[TrustedHostSpec(name="esx-01", powered_on=False),
                          TrustedHostSpec(name="esx-02", release="8.0 U1")])
    assert [b["version"] for b in world.base_images()] == [U1]


def test_a_snapshot_s_latest_last_attested_time_wins_and_reaches_the_table() -> None:
    """The same image listed twice with two times: the later one is when a host last
    attested with it, and the TA cluster's table (what the base-images API gives as
    last_attested_time) has it from T=0."""
    world = _world(base_images=[BaseImageSpec(release="8.0 U1", last_attested=-7200),
                                BaseImageSpec(release="8.0 U1", last_attested=-60),
                                "8.0 U2"])
    times = {b["version"]: b["last_attested_time"] for b in world.base_images()}
    assert times[U1] == -60.0


@pytest.mark.parametrize("value, ok", [
    (0, True), (-0.5, True), ("-2d", True), (-100 * 365 * 86400.0, True),
    (-100 * 365 * 86400.0 - 1, False), (False, False), (1, False), ("2d", False)])
def test_last_attested_is_a_time_before_the_lab_within_its_range(value: Any, ok: bool
                                                                  ) -> None:
    if ok:
        assert BaseImageSpec(release="8.0 U1", last_attested=value).last_attested <= 0
        return
    with pytest.raises(ValidationError, match="last_attested is history"):
        BaseImageSpec(release="8.0 U1", last_attested=value)


# -- topology validation (world/topology.py) -------------------------------------------------

def _topology(**kw: Any) -> Topology:
    data: dict[str, Any] = {"ta_cluster": {"hosts": [{"name": "ta-01"}]},
                            "trusted_clusters": [{"hosts": [{"name": "esx-01"}]}]}
    data.update(kw)
    return Topology.model_validate(data)


@pytest.mark.parametrize("change, message", [
    ({"trusted_clusters": [{"hosts": [{"name": "esx-01"}],
                            "vms": [{"name": "db01", "host": "esx-02"}]}]},
     "VM 'db01' runs on unknown host 'esx-02'"),
    ({"ta_cluster": {"hosts": [{"name": "esx-01"}]}},
     "host name 'esx-01' is used twice (ta_cluster and trusted cluster 'Trusted Cluster')"),
    ({"configured": False, "ta_cluster": {"hosts": [{"name": "ta-01"}], "base_images": [
        {"release": "8.0 U1", "last_attested": "-1d"}]}},
     "ta_cluster last_attested describes a configured estate"),
    ({"workload_vcenter_release": "6.5"}, "workload_vcenter_release"),
    ({"trusted_clusters": [{"hosts": [{"name": "esx-01", "last_full_boot": "8.0 U1",
                                       "quick_boots_since": -1}]}]}, "quick_boots_since"),
])
def test_a_topology_that_is_no_estate_is_refused(change: dict[str, Any], message: str
                                                 ) -> None:
    with pytest.raises(ValidationError) as err:
        _topology(**change)
    assert message in str(err.value), str(err.value)


# -- the registry (world/registry.py) -----------------------------------------------------------

def test_an_unknown_argument_names_the_nearest_one() -> None:
    with pytest.raises(InputError) as err:
        registry.lookup("Export-VMHostImageDb").parse({"vmhost": "esx-01", "file": "x.tgz",
                                                       "fiel": "y.tgz"})
    assert "unknown argument 'fiel'" in str(err.value)
    assert "did you mean 'file'?" in str(err.value), str(err.value)


def test_a_fault_may_not_take_a_verb_s_name() -> None:
    def run(world: Any, a: Any) -> Any:
        raise AssertionError("never run")

    try:
        with pytest.raises(RuntimeError, match="Export-VMHostImageDb registered twice"):
            registry.fault("Export-VMHostImageDb", summary="x", stands_for="x")(run)
    finally:
        if getattr(registry.FAULTS.get("Export-VMHostImageDb"), "run", None) is run:
            del registry.FAULTS["Export-VMHostImageDb"]


# -- faults (world/faults.py) ---------------------------------------------------------------

def _do(world: World, verb: str, **args: Any) -> Any:
    proc = world.perform(verb, args)
    return world.kernel.env.run(until=proc)


def test_a_kms_outage_of_one_server_leaves_the_other_serving_keys() -> None:
    world = _two_kms_world()
    assert _do(world, "kms-outage", server="kms-01.lab.local").ok
    out = _do(world, "Start-VM", vm="db01")
    assert out.ok, out
    assert world.vm_state("db01")["power_state"] == "poweredOn"


def test_a_power_loss_that_heals_leaves_a_host_the_operator_powered_on_alone() -> None:
    world = _world(run=600)
    assert _do(world, "power-loss", vmhost="esx-01", duration="1h").ok
    world.run(world.kernel.now + 600)
    assert _do(world, "Start-VMHost", vmhost="esx-01").ok
    world.run(world.kernel.now + 7200)  # past the heal: power is back, the host is up
    assert world.host("esx-01").is_up
    boots = [e for e in world.kernel.trace.select("host.boot.start")
             if e.fields.get("host") == "esx-01"]
    assert len(boots) == 1, boots  # the operator's power-on only


def test_ta_host_down_names_a_trust_authority_host() -> None:
    world = _world()
    with pytest.raises(InputError, match="'esx-01' is not a Trust Authority host"):
        world.perform("ta-host-down", {"vmhost": "esx-01"})
    assert world.host("esx-01").is_up


def _two_kms_world() -> World:
    topology = Topology(
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-01")]),
        trusted_clusters=[TrustedClusterSpec(
            hosts=[TrustedHostSpec(name="esx-01")],
            vms=[VmSpec(name="db01", host="esx-01", encrypted=True, powered_on=False)])],
        kms={"servers": ["kms-01.lab.local", "kms-02.lab.local"]})
    world = World(topology, seed=1)
    world.run(600)
    return world


@pytest.mark.parametrize("fault, reason", [("kms-wrong-credentials", "kms_auth_failed"),
                                           ("kms-certificate-expired",
                                            "kms_certificate_expired")])
def test_a_kms_fault_hits_the_server_named_or_every_server(fault: str, reason: str) -> None:
    """With ``server``, the other KMIP server still serves the key; without, none does.
    (kms-certificate-expired used to raise AttributeError: the certificate was issued
    for ``server.server_key``, which a KMS server does not have.)"""
    world = _two_kms_world()
    assert _do(world, fault, server="kms-01.lab.local").ok
    assert _do(world, "Start-VM", vm="db01").ok
    world = _two_kms_world()
    assert _do(world, fault).ok
    out = _do(world, "Start-VM", vm="db01")
    assert (out.ok, out.error) == (False, reason), out


def test_a_topology_of_exactly_max_clusters_is_within_the_limits() -> None:
    assert size_problem({"trusted_clusters": [{"hosts": []}] * MAX_CLUSTERS}) is None
    path, message = size_problem(
        {"trusted_clusters": [{"hosts": []}] * (MAX_CLUSTERS + 1)}) or ((), "")
    assert path == ("trusted_clusters", MAX_CLUSTERS) and "(MAX_CLUSTERS)" in message


def test_a_kms_certificate_expiry_with_a_duration_heals() -> None:
    """`duration` was accepted and ignored: the certificate stayed expired for ever."""
    world = _two_kms_world()
    out = _do(world, "kms-certificate-expired", duration="1h")
    assert out.ok and out.message == "kms-certificate-expired (heals after 3600 s)"
    world.run(world.kernel.now + 1800)
    assert _do(world, "Start-VM", vm="db01").error == "kms_certificate_expired"
    world.run(world.kernel.now + 3600)
    assert _do(world, "Start-VM", vm="db01").ok
    healed = [e for e in world.kernel.trace.select("fault.healed")
              if e.fields.get("fault") == "kms-certificate-expired"]
    assert len(healed) == 1


def test_a_kms_password_change_takes_no_duration() -> None:
    """`duration` was accepted and ignored: a password the KMS administrator changes does
    not change back by itself (the operator gives the key provider the new one), so the
    fault no longer offers one."""
    world = _two_kms_world()
    with pytest.raises(InputError, match="duration"):
        world.perform("kms-wrong-credentials", {"duration": 600})
    assert _do(world, "kms-wrong-credentials").ok
