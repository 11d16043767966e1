"""The topology a person writes: who is in the estate, before anything happens.

Frozen pydantic models with ``extra="forbid"`` (spec, not state): the world is *built*
from a topology, then behaves through SimPy processes. Names follow VMware's objects.
A topology starts ``configured`` (a working vTA, built by running the documented setup
verbs) or unconfigured (to practise the setup procedure).

A host may be described as a **snapshot** of where it *is* after months of history:
``last_full_boot`` names the release of its last full boot and ``quick_boots_since`` how
many Quick Boot upgrades followed, so its TPM measurements describe the older release
while it runs ``release``. The TA cluster of a snapshot states its trusted base images with
their last-attested times (``{release, last_attested}``, seconds before T=0) and its TPM
2.0 settings (``tpm2_settings``); the setup applies them (:mod:`vtalab.world.setup`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from vtalab.core.limits import MAX_CLUSTERS, MAX_HOSTS, MAX_VMS
from vtalab.core.simtime import MAX_TIME, parse_time
from vtalab.domain.vcenter_releases import vcenter_release
from vtalab.errors import InputError

__all__ = [
    "BaseImageSpec",
    "KmsSpec",
    "Spec",
    "TaClusterSpec",
    "TaHostSpec",
    "Topology",
    "Tpm2SettingsSpec",
    "TpmSpec",
    "TrustedClusterSpec",
    "TrustedHostSpec",
    "VmSpec",
    "size_problem",
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
    """A virtual machine on a trusted host, encrypted (with the trusted key provider) or not."""

    name: str
    host: str
    encrypted: bool = False
    powered_on: bool = True


class TrustedClusterSpec(Spec):
    """A Trusted cluster in the workload vCenter: its hosts, VMs and cluster settings."""

    name: str = "Trusted Cluster"
    quick_boot: bool = Field(False, description="vLCM Quick Boot setting of the cluster.")
    key_persistence: bool = Field(False, description="ESXi key persistence (7.0 U2+).")
    hosts: list[TrustedHostSpec]
    vms: list[VmSpec] = Field(default_factory=list)


class TaHostSpec(Spec):
    """An ESXi host of the Trust Authority cluster (runs attestd and kmxd; no TPM needed)."""

    name: str
    release: str = "8.0 U2"


def _last_attested(value: Any) -> Any:
    """Seconds before T=0: a number <= 0 (``-86400``) or ``-`` and a duration (``-1d``)."""
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, str) and value.strip().startswith("-"):
        try:
            seconds = 0.0 - parse_time(value.strip()[1:], limit=MAX_TIME)  # never -0.0
        except ValueError:
            seconds = None
    elif (isinstance(value, int | float) and not isinstance(value, bool)
          and -MAX_TIME <= value <= 0):
        seconds = float(value) + 0.0
    if seconds is None:
        raise ValueError("last_attested is history: a time before the lab starts (T=0), as "
                         "negative seconds (-3600) or '-' and a duration ('-1h', '-2d'), or "
                         f"null for never; got {value!r}")
    return seconds


_LAST_ATTESTED_SCHEMA = {
    "anyOf": [{"type": "number", "maximum": 0},
              {"type": "string", "pattern": r"^\s*-\s*(\d+(\.\d+)?\s*[smhd]?\s*)+$"},
              {"type": "null"}]}


class BaseImageSpec(Spec):
    """A trusted base image of an estate snapshot, with when a host last attested with it."""

    release: str = Field(description="ESXi release of the image (name or version-build).")
    last_attested: Annotated[float | None, BeforeValidator(_last_attested),
                             WithJsonSchema(_LAST_ATTESTED_SCHEMA)] = Field(
        None, description="When a host last attested with it: seconds before T=0 as a "
        "number <= 0 (-86400) or '-' and a duration ('-1d'); null: never.")


class Tpm2SettingsSpec(Spec):
    """The TA cluster's TPM 2.0 attestation settings (Set-TrustAuthorityTpm2AttestationSettings)."""

    require_certificate_validation: bool
    require_endorsement_keys: bool


def _image_kind(value: Any) -> str:
    return "image" if isinstance(value, dict | BaseImageSpec) else "release"


#: A base image of ``TaClusterSpec.base_images``: a release string, or a mapping. The
#: callable discriminator validates only the matching form, so a bad mapping is reported
#: by its own field (not as "input should be a valid string").
BaseImageItem = Annotated[
    Annotated[str, Tag("release")] | Annotated[BaseImageSpec, Tag("image")],
    Discriminator(_image_kind)]


class TaClusterSpec(Spec):
    """The Trust Authority cluster in the TA vCenter and the objects it starts with."""

    name: str = "vTA Cluster"
    hosts: list[TaHostSpec]
    base_images: list[BaseImageItem] | None = Field(
        None, description="Trusted base images imported at setup: a release, or "
        "{release, last_attested} (snapshot); default: exported from each distinct running "
        "version of the trusted hosts.")
    tpm2_settings: Tpm2SettingsSpec | None = Field(
        None, description="TPM 2.0 attestation settings applied at setup; default: "
        "certificate validation, or endorsement keys when a TPM has no EK certificate.")

    @field_validator("hosts")
    @classmethod
    def _some_host(cls, hosts: list[TaHostSpec]) -> list[TaHostSpec]:
        if not hosts:  # attestd and kmxd run on TA hosts: no host, no Trust Authority
            raise ValueError("the TA cluster needs at least one host, such as "
                             "{name: ta-esx-01}: attestd and kmxd run on its hosts")
        return hosts

    def base_image_specs(self) -> list[BaseImageSpec] | None:
        """``base_images`` with plain releases as specs (no last-attested time)."""
        if self.base_images is None:
            return None
        return [b if isinstance(b, BaseImageSpec) else BaseImageSpec(release=b)
                for b in self.base_images]


class KmsSpec(Spec):
    """The external KMIP key servers and the trusted key provider that uses them."""

    name: str = "kms-cluster"
    servers: list[str] = Field(default_factory=lambda: ["kms-01.lab.local"])
    provider: str = Field("vTA-KeyProvider", description="Trusted key provider name.")


def _items(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def size_problem(data: Any) -> tuple[tuple[Any, ...], str] | None:
    """Where a topology (as written: plain dicts and lists) first exceeds
    :data:`~vtalab.core.limits.MAX_CLUSTERS`, :data:`~vtalab.core.limits.MAX_HOSTS` or
    :data:`~vtalab.core.limits.MAX_VMS`, and why; ``None`` within the limits.

    The path (inside the topology) is the first item beyond the limit. It only counts:
    malformed parts are left to the models, so it can run before them and keep a huge
    topology from being validated at all.
    """
    clusters = _items(data, "trusted_clusters")
    if len(clusters) > MAX_CLUSTERS:
        return (("trusted_clusters", MAX_CLUSTERS),
                f"{len(clusters):,} trusted clusters; vtalab builds at most {MAX_CLUSTERS:,} "
                "(MAX_CLUSTERS)")
    ta_cluster = data.get("ta_cluster") if isinstance(data, dict) else None
    hosts: list[tuple[tuple[Any, ...], Any]] = [
        (("ta_cluster", "hosts", i), h) for i, h in enumerate(_items(ta_cluster, "hosts"))]
    vms: list[tuple[tuple[Any, ...], Any]] = []
    for c, cluster in enumerate(clusters):
        hosts += [(("trusted_clusters", c, "hosts", i), h)
                  for i, h in enumerate(_items(cluster, "hosts"))]
        vms += [(("trusted_clusters", c, "vms", i), v)
                for i, v in enumerate(_items(cluster, "vms"))]
    for items, noun, limit, name in ((hosts, "hosts (trusted and TA)", MAX_HOSTS, "MAX_HOSTS"),
                                     (vms, "VMs", MAX_VMS, "MAX_VMS")):
        if len(items) > limit:
            return items[limit][0], (f"{len(items):,} {noun}; vtalab builds at most "
                                     f"{limit:,} ({name})")
    return None


class Topology(Spec):
    """A whole vTA estate."""

    ta_vcenter: str = "vcsa-ta.lab.local"
    workload_vcenter: str = "vcsa-wld.lab.local"
    ta_vcenter_release: str = Field("8.0 U3", description="vCenter release of the TA vCenter "
                                    "(vtalab.domain.vcenter_releases).")
    workload_vcenter_release: str = Field("8.0 U3", description="vCenter release of the "
                                          "workload vCenter.")
    ta_cluster: TaClusterSpec = Field(
        default_factory=lambda: TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]))
    trusted_clusters: list[TrustedClusterSpec] = Field(default_factory=list)
    kms: KmsSpec = Field(default_factory=KmsSpec)
    configured: bool = Field(True, description="Start with a working vTA (setup verbs run).")
    group: str = Field("vTA-group", description="Service group pairing attestation and KMS.")

    @field_validator("ta_vcenter_release", "workload_vcenter_release")
    @classmethod
    def _known_vcenter(cls, value: str) -> str:
        try:
            vcenter_release(value)
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _within_limits(cls, data: Any) -> Any:
        problem = size_problem(data)
        if problem is not None:
            path, message = problem
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            raise ValueError(f"{message}; the first one beyond is {where[1:]}")
        return data

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

    @model_validator(mode="after")
    def _snapshot_needs_setup(self) -> Topology:
        # The setup applies these; an unconfigured lab has no setup to apply them.
        ta = self.ta_cluster
        timed = [b.release for b in ta.base_image_specs() or [] if b.last_attested is not None]
        if not self.configured and (ta.tpm2_settings is not None or timed):
            what = "tpm2_settings" if ta.tpm2_settings is not None else "last_attested"
            raise ValueError(f"ta_cluster {what} describes a configured estate (the setup "
                             "applies it), but configured is false; drop it or set "
                             "configured: true")
        return self

    def _all_hosts(self) -> list[tuple[str, str]]:
        out = [("ta_cluster", h.name) for h in self.ta_cluster.hosts]
        for c in self.trusted_clusters:
            out += [(f"trusted cluster {c.name!r}", h.name) for h in c.hosts]
        return out
