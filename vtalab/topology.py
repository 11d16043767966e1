"""The topology a person writes: who is in the estate, before anything happens.

Frozen pydantic models with ``extra="forbid"`` (spec, not state): the world is *built*
from a topology, then behaves through SimPy processes. Names follow VMware's objects.
A topology starts ``configured`` (a working vTA, built by running the documented setup
verbs) or unconfigured (to practise the setup procedure).

A host may be described as a **snapshot** of where it *is* after months of history:
``last_full_boot`` names the release of its last full boot and ``quick_boots_since`` how
many Quick Boot upgrades followed, so its TPM measurements describe the older release
while it runs ``release``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "KmsSpec",
    "Spec",
    "TaClusterSpec",
    "TaHostSpec",
    "Topology",
    "TpmSpec",
    "TrustedClusterSpec",
    "TrustedHostSpec",
    "VmSpec",
]


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TpmSpec(Spec):
    """The TPM 2.0 of a trusted host."""

    vendor: str = Field("Infineon", description="TPM vendor; its CA issues the EK certificate.")
    ek_certificate: bool = Field(True, description="Whether the TPM has an EK certificate.")


class TrustedHostSpec(Spec):
    """An ESXi host of a Trusted cluster (TPM 2.0, UEFI, Secure Boot)."""

    name: str
    release: str = Field("8.0 U2", description="Running ESXi release (name or version-build).")
    last_full_boot: str | None = Field(
        None, description="Release of the last full boot, if older than `release` (snapshot).")
    quick_boots_since: int = Field(0, ge=0, description="Quick Boot upgrades since then.")
    txt: bool = Field(False, description="Intel TXT enabled (Quick Boot is refused).")
    secure_boot: bool = Field(True, description="UEFI Secure Boot enabled.")
    tpm: TpmSpec = Field(default_factory=TpmSpec)
    powered_on: bool = True


class VmSpec(Spec):
    name: str
    host: str
    encrypted: bool = False
    powered_on: bool = True


class TrustedClusterSpec(Spec):
    name: str = "Trusted Cluster"
    quick_boot: bool = Field(False, description="vLCM Quick Boot setting of the cluster.")
    key_persistence: bool = Field(False, description="ESXi key persistence (7.0 U2+).")
    hosts: list[TrustedHostSpec]
    vms: list[VmSpec] = Field(default_factory=list)


class TaHostSpec(Spec):
    name: str
    release: str = "8.0 U2"


class TaClusterSpec(Spec):
    name: str = "vTA Cluster"
    hosts: list[TaHostSpec]
    base_images: list[str] | None = Field(
        None, description="Releases imported as trusted base images at setup; default: "
        "exported from each distinct running version of the trusted hosts.")


class KmsSpec(Spec):
    name: str = "kms-cluster"
    servers: list[str] = Field(default_factory=lambda: ["kms-01.lab.local"])
    provider: str = Field("vTA-KeyProvider", description="Trusted key provider name.")


class Topology(Spec):
    """A whole vTA estate."""

    ta_vcenter: str = "vcsa-ta.lab.local"
    workload_vcenter: str = "vcsa-wld.lab.local"
    ta_cluster: TaClusterSpec = Field(
        default_factory=lambda: TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]))
    trusted_clusters: list[TrustedClusterSpec] = Field(default_factory=list)
    kms: KmsSpec = Field(default_factory=KmsSpec)
    configured: bool = Field(True, description="Start with a working vTA (setup verbs run).")
    group: str = Field("vTA-group", description="Service group pairing attestation and KMS.")

    @model_validator(mode="after")
    def _unique_names(self) -> Topology:
        seen: dict[str, str] = {}
        for where, name in self._all_hosts():
            if name in seen:
                raise ValueError(f"host name {name!r} is used twice ({seen[name]} and {where})")
            seen[name] = where
        hosts = {h.name for c in self.trusted_clusters for h in c.hosts}
        for c in self.trusted_clusters:
            for vm in c.vms:
                if vm.host not in hosts:
                    raise ValueError(f"VM {vm.name!r} runs on unknown host {vm.host!r}")
        return self

    def _all_hosts(self) -> list[tuple[str, str]]:
        out = [("ta_cluster", h.name) for h in self.ta_cluster.hosts]
        for c in self.trusted_clusters:
            out += [(f"trusted cluster {c.name!r}", h.name) for h in c.hosts]
        return out
