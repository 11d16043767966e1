"""Event texts from the vCenter 8.0 U3 catalog, and StsCertificatesChange only from 8.0
(reference/powercli-surface.md §4)."""

from __future__ import annotations

import pytest

from vtalab import World
from vtalab.domain.vcenter import EVENT_TEXT
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
)


def test_catalog_texts() -> None:
    assert EVENT_TEXT["com.vmware.vc.TaHostAttestUnsetEvent"] == (
        "Trusted Host attestation status unset.")
    assert EVENT_TEXT["com.vmware.vc.kms.crypto.TrustAuthority.ClusterNotAvailable"] == (
        "The Trusted Key Provider is not available.")
    for unhealthy in ("ClusterUnhealthy", "KmsUnhealthy"):
        assert EVENT_TEXT[f"com.vmware.vc.kms.crypto.TrustAuthority.{unhealthy}"] == (
            "The Trusted Key Provider is unhealthy.")
    assert EVENT_TEXT["com.vmware.vc.TrustAuthority.StsCertificatesChange"] == (
        "Certificates have changed. Trust authority cluster needs to be reconfigured.")


@pytest.mark.parametrize("release,posted", [("8.0 U3", True), ("7.0 U3", False)])
def test_sts_certificates_change_is_an_8_0_event(release: str, posted: bool) -> None:
    world = World(Topology(ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-1")]),
                           trusted_clusters=[TrustedClusterSpec(
                               hosts=[TrustedHostSpec(name="esx-01")])],
                           workload_vcenter_release=release), seed=5)
    world.run(1)
    world.workload_vcenter.rotate_sts()
    ids = [e["event_id"] for e in world.events()]
    assert ("com.vmware.vc.TrustAuthority.StsCertificatesChange" in ids) is posted
