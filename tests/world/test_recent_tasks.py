"""Operations the vSphere Client shows in Recent Tasks are vCenter tasks in the world:
powering a VM off, shutting a host down and starting it, the cluster's Quick Boot setting,
and the per-kind applied-configuration verbs the API's attestation./kms.
services_applied_config use (each the same task machinery the other verbs use)."""

from __future__ import annotations

from typing import Any

import pytest

from vtalab.errors import OperationError
from vtalab.world.topology import TrustedHostSpec, VmSpec

WLD_VC = "vcsa-wld.lab.local"
TA_VC = "vcsa-ta.lab.local"


def _new(world: Any, before: int) -> list[tuple[str, str, str, str]]:
    return [(t["vcenter"], t["task"], t["target"], t["status"])
            for t in world.tasks()[before:]]


def test_vm_and_host_power_and_quick_boot_are_tasks(make_world: Any, do: Any) -> None:
    world = make_world(hosts=(TrustedHostSpec(name="esx-01"), TrustedHostSpec(name="esx-02")),
                       vms=(VmSpec(name="db", host="esx-01"),))
    assert world.vm_state("db")["power_state"] == "poweredOn"
    n = len(world.tasks())
    assert do(world, "Stop-VM", vm="db").ok
    assert _new(world, n) == [(WLD_VC, "Power Off virtual machine", "db", "success")]
    # Powering off a VM that is off fails the task as vCenter does (InvalidPowerState).
    n = len(world.tasks())
    out = do(world, "Stop-VM", vm="db")
    assert not out.ok and out.error == "invalid_state" and "Powered off" in out.message
    [failed] = world.tasks()[n:]
    assert (failed["task"], failed["status"], failed["reason"]) == (
        "Power Off virtual machine", "error", "invalid_state")
    # Shut a trusted host down and start it again: tasks of the workload vCenter ...
    n = len(world.tasks())
    assert do(world, "Stop-VMHost", vmhost="esx-02", force=True).ok
    assert do(world, "Start-VMHost", vmhost="esx-02").ok
    assert _new(world, n) == [(WLD_VC, "Shut down host", "esx-02", "success"),
                              (WLD_VC, "Exit standby mode", "esx-02", "success")]
    # ... a TA host's are the TA vCenter's; a refusal fails the task and is still raised.
    n = len(world.tasks())
    assert do(world, "Stop-VMHost", vmhost="ta-01", force=True).ok
    with pytest.raises(OperationError):
        world.perform("Stop-VMHost", {"vmhost": "ta-01", "force": True})
    assert _new(world, n) == [(TA_VC, "Shut down host", "ta-01", "success"),
                              (TA_VC, "Shut down host", "ta-01", "error")]
    # The cluster's Quick Boot setting (vLCM remediation settings).
    n = len(world.tasks())
    assert do(world, "set-quick-boot", enabled=True).ok
    [(vc, name, target, status)] = _new(world, n)
    assert (vc, name, status) == (WLD_VC, "Edit remediation settings", "success")
    assert target == next(iter(world.trusted_clusters))


def test_per_kind_remediation_and_deletion(make_world: Any, do: Any) -> None:
    world = make_world(hosts=(TrustedHostSpec(name="esx-01"), TrustedHostSpec(name="esx-02")))
    [cluster] = world.trusted_clusters.values()

    def rows(kind: str) -> list[tuple[str, str, list[str]]]:
        out = world.call("list-applied-services", kind=kind).output
        return [(r["address"], r["health"], r["hosts"]) for r in out]

    assert rows("attestation") == [("ta-01", "OK", [])]
    assert do(world, "delete-applied-config", kind="key_provider").ok
    assert rows("attestation") == [("ta-01", "OK", [])]
    assert rows("key_provider") == [("ta-01", "ERROR", ["esx-01", "esx-02"])]
    assert cluster.applied_status("attestation") == {"esx-01": "OK", "esx-02": "OK"}
    assert cluster.health() == "ERROR"
    assert do(world, "remediate-applied-config", kind="attestation").ok  # not the KMS kind
    assert rows("key_provider")[0][1] == "ERROR"
    n = len(world.tasks())
    assert do(world, "remediate-applied-config", kind="key_provider").ok
    assert rows("key_provider") == [("ta-01", "OK", [])] and cluster.health() == "OK"
    assert all(th.applied == cluster.desired for th in cluster.hosts.values())
    assert _new(world, n) == [(WLD_VC, "Update Trusted cluster key provider applied "
                                       "configuration", cluster.name, "success")]
    # Without a kind, delete-applied-config deletes both, as before.
    assert do(world, "delete-applied-config").ok
    assert all(th.applied == () for th in cluster.hosts.values())
