"""The rest of the PowerCLI vocabulary: listing and removing vTA objects.

The other modules hold the cmdlets that *create* and *change* (and the lab verbs); this one
adds their ``Get-*`` / ``Remove-*`` / ``Set-*`` counterparts from the
VMware.VimAutomation.Security module (vta-domain.md §9), into the same registry.
Removals are applied to every reachable TA host, like additions, so a removal on a
partly-down cluster leaves health inconsistent until it is repeated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from vtalab.core import crypto
from vtalab.errors import InputError
from vtalab.world.objects import X509Certificate, make
from vtalab.world.registry import PS, Args, Outcome, PSSet, verb
from vtalab.world.verbs.common import (
    DOC,
    KEY_ID_NOTE,
    TA_ASSUMED,
    _ta_task,
    add_imported_services,
    certificates_in,
    health,
    host_by_id,
    host_id,
    imported_services,
    primary_key_of,
    server_guid,
    ta_cluster_id,
    ta_service_info,
    trusted_cluster_id,
    uid,
    vm_id,
)
from vtalab.world.verbs.workload import TrustedClusterArgs

if TYPE_CHECKING:
    from vtalab.domain.ta_cluster import TaHost
    from vtalab.world.assembly import World


__all__: list[str] = []


def _object_param(ps_name: str, type_name: str) -> Any:
    """``Remove-*``'s object parameter: the object (or its name), by pipeline too."""
    return PS(name=ps_name, pipeline=True, type=f"{type_name}[]")


class NameArgs(Args):
    name: str = Field(description="Name of the object (as Get-* lists it).")


class PrincipalArgs(Args):
    ps_ta_context = False
    ps_server = False  # B: remove-trustauthorityprincipal publishes no -Server
    name: Annotated[str, _object_param("TrustAuthorityPrincipal", "TrustAuthorityPrincipal")] \
        = Field(description="The principal (object from Get-TrustAuthorityPrincipal, or name).")


class TpmCaArgs(Args):
    ps_ta_context = False
    name: Annotated[str, _object_param("TrustAuthorityTpm2CACertificate",
                                       "TrustAuthorityTpm2CACertificate")] = Field(
        description="The TPM CA certificate (object or name).")


class TpmEkArgs(Args):
    ps_ta_context = False
    name: Annotated[str, _object_param("TrustAuthorityTpm2EndorsementKey",
                                       "TrustAuthorityTpm2EndorsementKey")] = Field(
        description="The endorsement key (object or name).")


class KeyProviderNameArgs(Args):
    # the page publishes no pipeline input for -KeyProvider
    name: Annotated[str, PS(name="KeyProvider", type="TrustAuthorityKeyProvider[]")] = Field(
        description="The key provider (object or name).")


class TaListArgs(Args):
    trust_authority_cluster: Annotated[str | None, PS(
        name="TrustAuthorityCluster", pipeline=True, type="TrustAuthorityCluster[]")] = Field(
        None, description="The TA cluster (object or name; default: the only one).")


def _objects(world: World, table: str) -> dict[str, Any]:
    """Every named object of one kind on the TA hosts (the first member's copy of each)."""
    found: dict[str, Any] = {}
    for member in world.ta_cluster.members:
        for key, value in getattr(member.config, table).items():
            found.setdefault(key, value)
    return found


def _names(world: World, table: str) -> list[str]:
    return list(_objects(world, table))


def _remove_named(world: World, table: str, name: str, task: str, what: str) -> Outcome:
    names = _names(world, table)
    if name not in names:
        raise InputError(f"no {what} {name!r}", what=what, value=name, choices=names)

    def apply(h: TaHost) -> bool:
        return getattr(h.config, table).pop(name, None) is not None

    return _ta_task(world, task, name, world.ta_cluster.apply(apply), f"removal of {what} {name}")


def _common(world: World, kind: str, ident: str) -> dict[str, Any]:
    vc = world.ta_vcenter.name
    return {"Id": ident, "TrustAuthorityClusterId": ta_cluster_id(world),
            "Uid": uid(vc, kind, ident)}


class TaObjectListArgs(Args):
    """A Get- of TA objects: -TrustAuthorityCluster is mandatory (assumed for the TPM CA and
    EK lists, like Get-TrustAuthorityPrincipal's TrustAuthorityCluster set)."""

    trust_authority_cluster: Annotated[str | None, PS(
        name="TrustAuthorityCluster", pipeline=True, mandatory=True,
        type="TrustAuthorityCluster[]")] = Field(
        None, description="The TA cluster (object or name; a scenario may leave it out).")


class PrincipalListArgs(Args):
    ps_sets = (PSSet("TrustAuthorityCluster", ("trust_authority_cluster", "domain", "issuer",
                                               "name"),
                     mandatory=("trust_authority_cluster",)),
               PSSet("Id", ("id",), mandatory=("id",)))
    trust_authority_cluster: Annotated[str | None, PS(
        name="TrustAuthorityCluster", pipeline=True, type="TrustAuthorityCluster[]")] = Field(
        None, description="The TA cluster (object or name; default: the only one).")
    domain: Annotated[str | None, PS(name="Domain", type="String")] = Field(
        None, description="Only principals of this SSO domain.")
    issuer: Annotated[str | None, PS(name="Issuer", type="String[]")] = Field(
        None, description="Only principals of this issuer.")
    name: Annotated[str | None, PS(name="Name", type="String[]")] = Field(
        None, description="Only principals of this name.")
    id: Annotated[str | None, PS(name="Id", type="String[]")] = Field(
        None, description="The principal's Id (principal-vcsa-wld.lab.local).")


@verb("Get-TrustAuthorityPrincipal", summary="List the trusted workload vCenter principals.",
      args=PrincipalListArgs, side="ta", output="TrustAuthorityPrincipal",
      source=DOC + "; PowerCLI reference (the TrustAuthorityCluster set with -Domain -Issuer "
                   "-Name filters, where -TrustAuthorityCluster is mandatory, and the Id set)")
def get_principals(world: World, a: PrincipalListArgs) -> Outcome:
    rows = []
    for name, principal in _objects(world, "principals").items():
        if ((a.name is not None and a.name.lower() != name.lower())
                or (a.issuer is not None and a.issuer.lower() != principal.issuer.lower())
                or (a.domain is not None and a.domain.lower() != "vsphere.local")
                or (a.id is not None and a.id != f"principal-{name}")):
            continue
        rows.append(make("TrustAuthorityPrincipal",
                         CertificateChain=[X509Certificate.of(d)
                                           for d in principal.certificates_der],
                         Domain="vsphere.local",
                         Health=health(world.ta_cluster.health("principals")),
                         HealthDescription=[], Issuer=principal.issuer, Name=name,
                         Type="STS_PRINCIPAL",
                         **_common(world, "TrustAuthorityPrincipal", f"principal-{name}")))
    return Outcome(True, output=rows)


@verb("Remove-TrustAuthorityPrincipal", summary="Stop trusting a workload vCenter principal.",
      args=PrincipalArgs, side="ta", source=DOC, confirm="High")
def remove_principal(world: World, a: PrincipalArgs) -> Outcome:
    return _remove_named(world, "principals", a.name, "Remove Trust Authority principal",
                         "principal")


@verb("Get-TrustAuthorityTpm2CACertificate", summary="List the trusted TPM CA certificates.",
      args=TaObjectListArgs, side="ta", output="TrustAuthorityTpm2CACertificate",
      source=DOC + "; " + TA_ASSUMED + " (the command page was not found)")
def get_tpm_cas(world: World, a: TaObjectListArgs) -> Outcome:
    rows = []
    for name, der in _objects(world, "tpm_ca_certificates").items():
        rows.append(make("TrustAuthorityTpm2CACertificate",
                         CertificateChain=[X509Certificate.of(der)],
                         Health=health(world.ta_cluster.health("tpm2_ca_certificates")),
                         HealthDescription=[], Name=name,
                         **_common(world, "TrustAuthorityTpm2CACertificate", f"tpm-ca-{name}")))
    return Outcome(True, output=rows)


@verb("Remove-TrustAuthorityTpm2CACertificate", summary="Stop trusting a TPM CA certificate.",
      args=TpmCaArgs, side="ta", confirm="High",
      source=DOC + "; assumed: -TrustAuthorityTpm2CACertificate, named like "
                   "Remove-TrustAuthorityPrincipal's object parameter (page not found)")
def remove_tpm_ca(world: World, a: TpmCaArgs) -> Outcome:
    return _remove_named(world, "tpm_ca_certificates", a.name,
                         "Remove TPM 2.0 CA certificate", "TPM CA certificate")


@verb("Get-TrustAuthorityTpm2EndorsementKey", summary="List the trusted TPM endorsement keys.",
      args=TaObjectListArgs, side="ta", output="TrustAuthorityTpm2EndorsementKey",
      source=DOC + "; " + TA_ASSUMED + " (the command page was not found)")
def get_eks(world: World, a: TaObjectListArgs) -> Outcome:
    rows = []
    for name, der in _objects(world, "endorsement_keys").items():
        rows.append(make("TrustAuthorityTpm2EndorsementKey",
                         Health=health(world.ta_cluster.health("tpm2_endorsement_keys")),
                         HealthDescription=[], Name=name,
                         PublicKey=crypto.public_pem(crypto.public_from_der(der)).decode(),
                         **_common(world, "TrustAuthorityTpm2EndorsementKey", f"ek-{name}")))
    return Outcome(True, output=rows)


@verb("Remove-TrustAuthorityTpm2EndorsementKey", summary="Stop trusting a TPM endorsement key.",
      args=TpmEkArgs, side="ta", confirm="High",
      source=DOC + "; assumed: -TrustAuthorityTpm2EndorsementKey, named like "
                   "Remove-TrustAuthorityPrincipal's object parameter (page not found)")
def remove_ek(world: World, a: TpmEkArgs) -> Outcome:
    return _remove_named(world, "endorsement_keys", a.name, "Remove TPM 2.0 endorsement key",
                         "endorsement key")


_B = "https://developer.broadcom.com/powercli/latest/vmware.vimautomation.security/commands/"
_HELPER = ("VMware.TrustedInfrastructure.Helper (Save-/Apply-TrustAuthorityClusterSettings, "
           "VMware's PowerCLI-Example-Scripts)")


class GetKeyProviderArgs(Args):
    trust_authority_cluster: Annotated[str | None, PS(
        name="TrustAuthorityCluster", pipeline=True, mandatory=True,
        type="TrustAuthorityCluster[]")] = Field(
        None, description="The TA cluster (object or name; scenarios: default the only one).")
    name: Annotated[str | None, PS(position=0, type="String[]")] = Field(
        None, description="Only the key provider with this name.")


def _check_ta(world: World, value: str | None) -> None:
    """A -TrustAuthorityCluster given by name or Id must be the lab's TA cluster."""
    if value is not None and value not in (world.ta_cluster.name, ta_cluster_id(world)):
        raise InputError(f"no Trust Authority cluster {value!r}", what="TA cluster",
                         value=value, choices=[world.ta_cluster.name])


def _server_status(st: Any) -> dict[str, Any]:
    ok = st.status.value == "CONNECTED"
    return make("TrustAuthorityKeyProviderServerStatus",
                ClientTrustServer=st.client_trust_server, Health="Ok" if ok else "Error",
                HealthDetails=[] if ok else [st.message], Name=st.server,
                ServerTrustClient=st.server_trust_client)


@verb("Get-TrustAuthorityKeyProvider", summary="List the trusted key providers: primary key, "
      "key server settings and the status of their KMIP servers.", args=GetKeyProviderArgs,
      side="ta", output="TrustAuthorityKeyProvider",
      source="B: " + _B + "get-trustauthoritykeyprovider (-TrustAuthorityCluster mandatory, "
             "by pipeline; [-Name] at position 1)")
def get_key_providers(world: World, a: GetKeyProviderArgs) -> Outcome:
    _check_ta(world, a.trust_authority_cluster)
    rows = []
    members = world.ta_cluster.reachable_members()
    if members:
        by_provider: dict[str, list[Any]] = {}
        for st in members[0].kmxd.status(world.kms, world.kernel.utc()):
            by_provider.setdefault(st.provider, []).append(st)
        for name, statuses in by_provider.items():
            if a.name is not None and name != a.name:
                continue
            p = members[0].kmxd.providers[name]
            servers = [_server_status(st) for st in statuses]
            bad = [m for s in servers for m in s["HealthDetails"]]
            ident = f"kp-{name}"
            status = make("TrustAuthorityKeyProviderStatus",
                          Health="Error" if bad else health(
                              world.ta_cluster.health("key_providers")),
                          HealthDetails=bad, KeyProviderId=ident, ServerStatus=servers)
            rows.append(make(
                "TrustAuthorityKeyProvider",
                ConnectionTimeoutSeconds=p.connection_timeout_seconds,
                Description=p.description or None, KmipServerUsername=p.username,
                MasterKeyId=p.primary_key_id, Name=name, PrimaryKeyId=p.primary_key_id,
                ProxyAddress=p.proxy_address, ProxyPort=p.proxy_port, Status=status,
                Type=p.type, **_common(world, "TrustAuthorityKeyProvider", ident)))
    return Outcome(True, output=rows)


_SETTINGS = ("connection_timeout_seconds", "description", "kmip_server_username",
             "primary_key_id", "master_key_id", "proxy_address", "proxy_port", "type")


class SetKeyProviderArgs(Args):
    # Broadcom's page shows the settings set; PowerCLI 13.3's help lists -KmipServerPassword
    # as mandatory, i.e. in a set of its own (the vAPI sets the password with its own call,
    # kms.providers.credential set), and VMware's helper module calls it with -KeyProvider
    # -TrustAuthorityCluster -KmipServerPassword only.
    ps_sets = (PSSet("Settings", _SETTINGS),
               PSSet("KmipServerPassword", ("password",), mandatory=("password",)))
    name: Annotated[str | None, PS(name="KeyProvider", pipeline=True, mandatory=True,
                                   type="TrustAuthorityKeyProvider")] = \
        Field(None, description="The key provider (object or name; default: the lab's).")
    connection_timeout_seconds: Annotated[int | None, PS(type="Int64")] = Field(
        None, ge=0, description="Timeout of the connection to the KMIP servers (stored and "
                                "shown by the vAPI; the lab's KMIP servers never time out).")
    description: str | None = Field(None, description="The provider's new description.")
    kmip_server_username: str | None = Field(
        None, description="The KMIP account the provider logs in with.")
    password: Annotated[str | None, PS(name="KmipServerPassword", type="SecureString")] = \
        Field(None, description="New KMIP password for the provider.")
    primary_key_id: Annotated[str | None, PS(name="PrimaryKeyId")] = Field(
        None, description="The KMIP key to use as the provider's primary key.")
    master_key_id: Annotated[str | None, PS(name="MasterKeyId")] = Field(
        None, description="Deprecated and scheduled for removal: -PrimaryKeyId's former "
                          "name (still works, as in PowerCLI).")
    proxy_address: str | None = Field(
        None, description="Proxy to the KMIP servers (stored and shown by the vAPI; the "
                          "lab's KMIP traffic goes through no proxy).")
    proxy_port: Annotated[int | None, PS(type="Int32")] = Field(
        None, ge=1, le=65535, description="That proxy's port.")
    trust_authority_cluster: Annotated[str | None, PS(
        name="TrustAuthorityCluster", type="TrustAuthorityCluster")] = Field(
        None, description="The TA cluster (object or name; default: the only one).")
    type: Annotated[Literal["KMIP"] | None, PS(type="KmsType")] = Field(
        None, description="The key server type (KMIP, the only one vTA has).")


@verb("Set-TrustAuthorityKeyProvider", summary="Change a trusted key provider's KMIP "
      "credentials, primary key or key server settings on every TA host.",
      args=SetKeyProviderArgs, side="ta",
      source="B: " + _B + "set-trustauthoritykeyprovider (the settings set; -KeyProvider "
             "named, by pipeline); " + KEY_ID_NOTE + "; the KmipServerPassword set from "
             "PowerCLI 13.3's help (-KmipServerPassword <SecureString> mandatory; example "
             "\"Set-TrustAuthorityKeyProvider -KeyProvider mykp -KmipServerPassword "
             "mypassword\") and " + _HELPER + " (Apply-TrustAuthorityClusterSettings: "
             "-KeyProvider -TrustAuthorityCluster -KmipServerPassword); assumed: that set "
             "holds no other parameter (the page shows only the settings set)")
def set_key_provider(world: World, a: SetKeyProviderArgs) -> Outcome:
    name = a.name or world.key_provider_name
    known = sorted({n for h in world.ta_cluster.members for n in h.kmxd.providers})
    if name not in known:
        raise InputError(f"no trusted key provider {name!r}", what="key provider", value=name,
                         choices=known)
    key_id = primary_key_of(a.primary_key_id, a.master_key_id)

    def apply(h: TaHost) -> bool:
        provider = h.kmxd.providers.get(name)
        if provider is None:
            return False
        if a.password is not None:
            provider = provider.with_password(a.password)
        if key_id is not None:
            provider = provider.with_primary_key(key_id)
        provider = provider.with_settings(
            description=a.description, proxy_address=a.proxy_address,
            proxy_port=a.proxy_port, connection_timeout_seconds=a.connection_timeout_seconds,
            type=a.type, username=a.kmip_server_username)
        h.kmxd.set_provider(provider)
        return True

    return _ta_task(world, "Update trusted key provider", name, world.ta_cluster.apply(apply),
                    f"key provider {name}")


@verb("Remove-TrustAuthorityKeyProvider", summary="Remove a trusted key provider.",
      args=KeyProviderNameArgs, side="ta", confirm="High",
      source="B: " + _B + "remove-trustauthoritykeyprovider (-KeyProvider "
             "<TrustAuthorityKeyProvider[]> mandatory, named, no pipeline input; "
             "[-TrustAuthorityCluster])")
def remove_key_provider(world: World, a: KeyProviderNameArgs) -> Outcome:
    known = sorted({n for h in world.ta_cluster.members for n in h.kmxd.providers})
    if a.name not in known:
        raise InputError(f"no trusted key provider {a.name!r}", what="key provider",
                         value=a.name, choices=known)

    def apply(h: TaHost) -> bool:
        return h.kmxd.providers.pop(a.name, None) is not None

    return _ta_task(world, "Remove trusted key provider", a.name,
                    world.ta_cluster.apply(apply), f"removal of key provider {a.name}")


class GetTrustedClusterArgs(Args):
    ps_sets = (PSSet("Name", ("cluster", "state")), PSSet("Id", ("id",), mandatory=("id",)))
    cluster: Annotated[str | None, PS(name="Name", type="String[]")] = Field(
        None, description="Trusted cluster (default: every one).")
    id: Annotated[str | None, PS(type="String[]")] = Field(
        None, description="Its Id (ClusterComputeResource-domain-c20).")
    state: Annotated[Literal["Enabled", "Disabled"] | None, PS(type="TrustedState")] = None


def service_info(world: World, info: Any) -> dict[str, Any]:
    """An imported service as Get-AttestationServiceInfo / Get-KeyProviderServiceInfo show
    it: one shape for both, the KeyProviderServiceInfo structure page's (the attestation
    twin's page was not found; the cmdlet's published filters -ServiceAddress
    -ServiceGroup -ServicePort -TAClusterId name the same properties). The chain is the TLS
    certificate the imported service presents (the lab's services serve with their TA
    host's service certificate)."""
    kind = "AttestationServiceInfo" if info.kind == "attestation" else "KeyProviderServiceInfo"
    vc = world.workload_vcenter.name
    host = next((h for h in world.ta_cluster.members if h.name == info.address), None)
    chain = ([X509Certificate.of(crypto.cert_der(host.attestd.certificate))]
             if host is not None else [])
    return make(kind, CertificateChain=chain, Id=info.name, Name=info.address,
                ServiceAddress=info.address, ServiceGroup=info.group, ServicePort=443,
                TAClusterId=ta_cluster_id(world), Uid=uid(vc, kind, info.name))


@verb("Get-TrustedCluster", summary="Show Trusted clusters: state and their attestation and "
      "key provider services.", args=GetTrustedClusterArgs, side="workload",
      source=DOC + "; PowerCLI reference (the Name and Id parameter sets; -Name is named)",
      output="TrustedCluster")
def get_trusted_cluster(world: World, a: GetTrustedClusterArgs) -> Outcome:
    clusters = ([world.trusted_cluster(a.cluster)] if a.cluster is not None
                else list(world.trusted_clusters.values()))
    vc = world.workload_vcenter.name
    rows = []
    for c in clusters:
        ident = trusted_cluster_id(world, c.name)
        state = "Enabled" if c.enabled else "Disabled"
        if (a.id is not None and a.id != ident) or (a.state is not None and a.state != state):
            continue
        rows.append(make(
            "TrustedCluster", Id=ident, Name=c.name, State=state, Uid=uid(vc, "Cluster", ident),
            AttestationServiceInfo=[i.name for i in c.desired if i.kind == "attestation"],
            KeyProviderServiceInfo=[i.name for i in c.desired if i.kind == "key_provider"]))
    return Outcome(True, output=rows)


class RemoveServiceArgs(TrustedClusterArgs):
    vmhost: str = Field(description="The TA host whose service is removed.")


class RemoveAttestationArgs(TrustedClusterArgs):
    vmhost: Annotated[str, PS(name="AttestationServiceInfo", pipeline=True, by=("Address",),
                              type="AttestationServiceInfo[]")] = Field(
        description="The attestation service (Get-AttestationServiceInfo) or its TA host.")


class RemoveKeyProviderArgs(TrustedClusterArgs):
    vmhost: Annotated[str, PS(name="KeyProviderServiceInfo", pipeline=True, by=("Address",),
                              type="KeyProviderServiceInfo[]")] = Field(
        description="The key provider service (Get-KeyProviderServiceInfo) or its TA host.")


def _remove_service(world: World, a: RemoveServiceArgs, kind: str) -> Outcome:
    cluster = world.trusted_cluster(a.cluster)
    present = [s.address for s in cluster.desired if s.kind == kind]
    if a.vmhost not in present:
        raise InputError(f"trusted cluster {cluster.name!r} has no {kind.replace('_', ' ')} "
                         f"service on {a.vmhost!r}", what="TA host", value=a.vmhost,
                         choices=present)
    cluster.desired = tuple(s for s in cluster.desired
                            if not (s.kind == kind and s.address == a.vmhost))
    vc = world.workload_vcenter
    vc.finish_task(vc.start_task(f"Remove {kind.replace('_', ' ')} service info", cluster.name))
    return Outcome(True, message=f"{kind} service of {a.vmhost} removed from the desired "
                                 f"configuration of {cluster.name}; remediate to apply")


@verb("Remove-TrustedClusterAttestationServiceInfo", summary="Remove an attestation service "
      "from a Trusted cluster's desired configuration.", args=RemoveAttestationArgs,
      side="workload", source=DOC, confirm="High")
def remove_attestation_info(world: World, a: RemoveServiceArgs) -> Outcome:
    return _remove_service(world, a, "attestation")


@verb("Remove-TrustedClusterKeyProviderServiceInfo", summary="Remove a key provider service "
      "from a Trusted cluster's desired configuration.", args=RemoveKeyProviderArgs,
      side="workload", source=DOC, confirm="High")
def remove_kp_info(world: World, a: RemoveServiceArgs) -> Outcome:
    return _remove_service(world, a, "key_provider")


class GetVMHostArgs(Args):
    name: Annotated[str | None, PS(position=0, type="String[]")] = Field(
        None, description="Only this host (Get-VMHost esx-03); default: every host.")


#: What the lab's hosts report as hardware (assumed: one server model for every host; the
#: numbers only fill the columns Get-VMHost prints by default).
HARDWARE = {"NumCpu": 32, "CpuTotalMhz": 67200, "MemoryTotalGB": 511.7,
            "Manufacturer": "Dell Inc.", "Model": "PowerEdge R750",
            "ProcessorType": "Intel(R) Xeon(R) Gold 6338N CPU @ 2.20GHz"}


def vm_object(world: World, name: str) -> dict[str, Any]:
    """A VM as PowerCLI's ``VirtualMachine`` shows it (what Get-VM, Start-VM, Stop-VM and
    Move-VM return): no lock reason, no last error."""
    v = world.vm_state(name)
    ident = vm_id(world, name)
    return make("VirtualMachine", Id=ident, MemoryGB=16, Name=name, NumCpu=4,
                PowerState={"poweredOn": "PoweredOn"}.get(v["power_state"], "PoweredOff"),
                Uid=f"/VIServer=administrator@vsphere.local@{world.workload_vcenter.name}"
                    f":443/VirtualMachine={ident}/",
                VMHost=v["host"], VMHostId=host_id(world, v["host"]) if v["host"] in
                world.hosts else "HostSystem-host-1001")


#: Hosts show load figures that cycle every this many hosts (vmhost_object)
USAGE_CYCLE = 50


def vmhost_object(world: World, name: str) -> dict[str, Any]:
    """A host as PowerCLI's ``VMHost`` shows it: no measured version, no Quick Boot flag
    (an operator learns those on the host itself, see ``ssh`` in the training shell)."""
    h = world.host(name)
    # [assumed] load figures: the lab runs no workload, so each host shows a steady
    # figure of its own, staggered by its place and cycling every USAGE_CYCLE hosts (a
    # large estate never shows a host using more than it has)
    step = world.ordinal("host", name) % USAGE_CYCLE
    vc = world.ta_vcenter if h.role == "trust-authority" else world.workload_vcenter
    state = ("Maintenance" if h.in_maintenance else
             "Connected" if h.is_up else "NotResponding")
    power = {"poweredOn": "PoweredOn", "poweredOff": "PoweredOff"}.get(
        h.power_state.value, "Unknown")
    ident = host_id(world, name)
    up = h.is_up
    return make("VMHost", Build=str(h.running_image.build), ConnectionState=state,
                CpuTotalMhz=HARDWARE["CpuTotalMhz"],
                CpuUsageMhz=(1200 + 37 * step) if up else 0, Id=ident,
                IsStandalone=False, Manufacturer=HARDWARE["Manufacturer"],
                MemoryTotalGB=HARDWARE["MemoryTotalGB"],
                MemoryUsageGB=(24.5 + step) if up else 0.0, Model=HARDWARE["Model"],
                Name=name, NumCpu=HARDWARE["NumCpu"], Parent=h.cluster,
                ParentId=f"ClusterComputeResource-{h.cluster}", PowerState=power,
                ProcessorType=HARDWARE["ProcessorType"], State=state,
                Uid=uid(vc.name, "VMHost", ident),
                Version=h.running_image.version)


@verb("Get-VMHost", summary="List hosts as PowerCLI shows them: connection and power "
      "state, version and build (not what the TPM measured: log in to the host for that).",
      args=GetVMHostArgs, side="host", source="PowerCLI Get-VMHost", output="VMHost")
def get_vmhost(world: World, a: GetVMHostArgs) -> Outcome:
    if a.name is not None and a.name not in world.hosts:
        raise InputError(f"no host {a.name!r}", what="host", value=a.name,
                         choices=list(world.hosts))
    rows = [vmhost_object(world, n) for n in world.hosts if a.name is None or n == a.name]
    return Outcome(True, output=rows)


# -- the read-only cmdlets the seed's procedures go through (reference §2) -----------------
class Tpm2EkArgs(Args):
    vmhost: Annotated[str, PS(name="VMHost", pipeline=True, type="VMHost[]")] = Field(
        description="The host whose TPM endorsement key to read.")


@verb("Get-Tpm2EndorsementKey", summary="Read the TPM 2.0 endorsement key of a host's TPM "
      "(for Export-Tpm2CACertificate, Export-Tpm2EndorsementKey, "
      "New-TrustAuthorityTpm2EndorsementKey).", args=Tpm2EkArgs, side="host",
      source="B: https://developer.broadcom.com/powercli/latest/vmware.vimautomation.security"
             "/commands/get-tpm2endorsementkey (the -VMHost set; the page's other set, "
             "-VMHostTPM <VMHostTPM[]>, is not modelled: the lab has no VMHostTPM object "
             "(structures/...vmhosttpm: FirmwareVersion, IsActive, Manufacturer, TpmId ...) "
             "and no cmdlet that returns one)", output="Tpm2EndorsementKey")
def get_tpm2_ek(world: World, a: Tpm2EkArgs) -> Outcome:
    name = host_by_id(world, a.vmhost)
    tpm = world.trusted_host(name).host.tpm
    cert = tpm.ek_certificate_der
    ident = host_id(world, name)
    return Outcome(True, output=[make(
        "Tpm2EndorsementKey",
        Certificate=X509Certificate.of(cert) if cert else None,
        CertificateRawData=cert.hex() if cert else None,
        PublicKey=crypto.public_pem(tpm.ek).decode(), TpmId=f"tpm-{name}", VMHostId=ident,
        VMHostUuid=server_guid(f"host-{name}"),
        Uid=uid(world.workload_vcenter.name, "Tpm2EndorsementKey", ident))])


class WorkloadServerArgs(Args):
    pass


@verb("Get-TrustedPrincipal", summary="The workload vCenter's principal (its STS signing "
      "certificates), to pipe into New-TrustAuthorityPrincipal.", args=WorkloadServerArgs,
      side="workload", source="PowerCLI Get-TrustedPrincipal (reference §2)",
      output="TrustedPrincipal")
def get_trusted_principal(world: World, a: WorkloadServerArgs) -> Outcome:
    vc = world.workload_vcenter
    chain = [X509Certificate.of(d) for d in vc.sts_certificates_der()]
    return Outcome(True, output=[make(
        "TrustedPrincipal", CertificateChain=chain, Domain="vsphere.local",
        Id=f"TrustedPrincipal-{vc.name}", Issuer=vc.name,
        Name=vc.name, Type="STS_PRINCIPAL", Uid=uid(vc.name, "TrustedPrincipal", vc.name))])


class ServiceInfoFilterArgs(Args):
    """Get-AttestationServiceInfo's and Get-KeyProviderServiceInfo's published sets: the
    filters (the default) or -Id."""

    ps_sets = (PSSet("Filter", ("service_address", "service_group", "service_port",
                                "ta_cluster_id")),
               PSSet("Id", ("id",), mandatory=("id",)))
    service_address: Annotated[str | None, PS(name="ServiceAddress", type="String[]")] = Field(
        None, description="Only services at this address (a TA host).")
    service_group: Annotated[str | None, PS(name="ServiceGroup", type="String[]")] = Field(
        None, description="Only services of this group.")
    service_port: Annotated[int | None, PS(name="ServicePort", type="Int32")] = Field(
        None, ge=1, le=65535, description="Only services on this port (with -ServiceAddress).")
    ta_cluster_id: Annotated[str | None, PS(name="TAClusterId", type="String[]")] = Field(
        None, description="Only services of this Trust Authority cluster (its Id).")
    id: Annotated[str | None, PS(name="Id", type="String[]")] = Field(
        None, description="The service information's Id.")


def _get_service_info(world: World, a: ServiceInfoFilterArgs, kind: str, cmdlet: str,
                      what: str) -> Outcome:
    if a.service_port is not None and a.service_address is None:
        raise InputError(f"{cmdlet}: -ServicePort only works together with -ServiceAddress",
                         what="argument", value="service_port")
    rows = [service_info(world, i) for i in imported_services(world, kind)]
    if a.id is not None and not any(r["Id"] == a.id for r in rows):
        raise InputError(f"{cmdlet}: no {what} service information with Id {a.id!r}",
                         what="Id", value=a.id, choices=[r["Id"] for r in rows])
    wanted = {"Id": a.id, "ServiceAddress": a.service_address,
              "ServiceGroup": a.service_group, "ServicePort": a.service_port,
              "TAClusterId": a.ta_cluster_id}
    return Outcome(True, output=[r for r in rows if all(
        v is None or str(r[k]) == str(v) for k, v in wanted.items())])


@verb("Get-AttestationServiceInfo", summary="The attestation services imported into the "
      "workload vCenter (Import-TrustAuthorityServicesInfo).", args=ServiceInfoFilterArgs,
      side="workload", output="AttestationServiceInfo",
      source="PowerCLI reference (the Id set, and the default set's -ServiceAddress "
             "-ServiceGroup -ServicePort -TAClusterId filters); -ServicePort needs "
             "-ServiceAddress as on its twin Get-KeyProviderServiceInfo's page (assumed)")
def get_attestation_service_info(world: World, a: ServiceInfoFilterArgs) -> Outcome:
    return _get_service_info(world, a, "attestation", "Get-AttestationServiceInfo",
                             "attestation")


@verb("Get-KeyProviderServiceInfo", summary="The key provider services imported into the "
      "workload vCenter (Import-TrustAuthorityServicesInfo).", args=ServiceInfoFilterArgs,
      side="workload", output="KeyProviderServiceInfo",
      source="B: " + _B + "get-keyproviderserviceinfo (the -Id set and the filter set)")
def get_kp_service_info(world: World, a: ServiceInfoFilterArgs) -> Outcome:
    return _get_service_info(world, a, "key_provider", "Get-KeyProviderServiceInfo",
                             "key provider")


_ADD_KP = "B: " + _B + "add-keyproviderserviceinfo"
#: -TrustedCA / -FilePath: the page lists both as optional; the services' create spec
#: (vAPI trusted_infrastructure ...services.CreateSpec) requires the TLS chain, so one of the
#: two must give it
_ADD_NOTES = ("; assumed: one of -TrustedCA and -FilePath (a PEM file) gives the service's TLS "
              "certificate chain (the vAPI CreateSpec requires trusted_CA), which must hold "
              "the certificate the service presents; -ServicePort defaults to 443; the output "
              "is the new service information object")


class AddServiceInfoArgs(Args):
    """Add-AttestationServiceInfo's and Add-KeyProviderServiceInfo's published sets: the TA
    service objects (piped from the TA vCenter), or the service's details by hand."""

    ps_sets = (PSSet("Service", ("service",), mandatory=("service",)),
               PSSet("Manual", ("service_address", "service_group", "ta_cluster_id", "file",
                                "service_port", "trusted_ca"),
                     mandatory=("service_address", "service_group", "ta_cluster_id")))
    service: str | None = None
    service_address: Annotated[str | None, PS(name="ServiceAddress", type="String")] = Field(
        None, description="The service's address (its TA host).")
    service_group: Annotated[str | None, PS(name="ServiceGroup", type="String")] = Field(
        None, description="The group the service is in (its ServiceGroup).")
    ta_cluster_id: Annotated[str | None, PS(name="TAClusterId", type="String")] = Field(
        None, description="The Id of the Trust Authority cluster (Get-TrustAuthorityCluster).")
    file: Annotated[str | None, PS(name="FilePath", type="String")] = Field(
        None, description="A PEM file with the service's TLS certificate chain.")
    service_port: Annotated[int | None, PS(name="ServicePort", type="Int32")] = Field(
        None, ge=1, le=65535, description="The service's port (443).")
    trusted_ca: Annotated[tuple[str, ...] | None, PS(name="TrustedCA", type="X509Chain")] = \
        Field(None, description="The service's TLS certificate chain, PEM "
                                "((Get-TrustAuthority...Service).TrustedCA).")


class AddAttestationServiceInfoArgs(AddServiceInfoArgs):
    service: Annotated[str | None, PS(
        name="AttestationService", pipeline=True, by=("ServiceAddress",),
        type="TrustAuthorityAttestationService[]")] = Field(
        None, description="The TA attestation services (Get-TrustAuthorityAttestationService "
                          "on the TA vCenter), or their TA hosts.")


class AddKeyProviderServiceInfoArgs(AddServiceInfoArgs):
    service: Annotated[str | None, PS(
        name="KeyProviderService", pipeline=True, by=("ServiceAddress",),
        type="TrustAuthorityKeyProviderService[]")] = Field(
        None, description="The TA key provider services (Get-TrustAuthorityKeyProviderService "
                          "on the TA vCenter), or their TA hosts.")


def _add_service_info(world: World, a: AddServiceInfoArgs, kind: str, cmdlet: str) -> Outcome:
    """Both Add-...ServiceInfo cmdlets: the service the TA cluster runs at that address,
    checked against what was given, added to the workload vCenter as Import-TrustAuthority-
    ServicesInfo adds it (one path: ``add_imported_services``)."""
    hosts = [h.name for h in world.ta_cluster.members]
    address = a.service if a.service is not None else a.service_address
    if address is None:
        named = "AttestationService" if kind == "attestation" else "KeyProviderService"
        raise InputError(f"{cmdlet} needs -{named} or -ServiceAddress -ServiceGroup "
                         "-TAClusterId", what="argument", value="service")
    if address not in hosts:
        raise InputError(f"{cmdlet}: no Trust Authority service at {address!r}",
                         what="ServiceAddress", value=address, choices=hosts)
    info = ta_service_info(world, address, kind)
    if a.service is None:
        if a.ta_cluster_id != ta_cluster_id(world):
            raise InputError(f"{cmdlet}: no Trust Authority cluster with Id "
                             f"{a.ta_cluster_id!r}", what="TAClusterId",
                             value=a.ta_cluster_id, choices=[ta_cluster_id(world)])
        if a.service_group != info.group:
            raise InputError(f"{cmdlet}: the service at {address} is in service group "
                             f"{info.group!r}, not {a.service_group!r}", what="ServiceGroup",
                             value=a.service_group, choices=[info.group])
        if a.service_port not in (None, 443):
            raise InputError(f"{cmdlet}: the service at {address} listens on port 443, not "
                             f"{a.service_port}", what="ServicePort", value=a.service_port,
                             choices=["443"])
        _check_chain(world, a, info, cmdlet)
    added = add_imported_services(world, (info,), replace=False)
    return Outcome(True, message=f"{kind.replace('_', ' ')} service information of {address} "
                                 f"added to {world.workload_vcenter.name}",
                   output=[service_info(world, i) for i in added])


def _check_chain(world: World, a: AddServiceInfoArgs, info: Any, cmdlet: str) -> None:
    """-TrustedCA or -FilePath: a chain that holds the certificate the service presents."""
    if (a.trusted_ca is None) == (a.file is None):
        raise InputError(f"{cmdlet}: give the service's TLS certificate chain with exactly "
                         "one of -TrustedCA and -FilePath", what="argument",
                         value="trusted_ca" if a.trusted_ca is not None else "file")
    if a.trusted_ca is not None:
        ders = [d for pem in a.trusted_ca for d in _pem_ders(cmdlet, pem)]
        given = "-TrustedCA"
    else:
        ders = list(certificates_in(world, a.file or ""))
        given = f"-FilePath {a.file}"
    if not any(crypto.sha256(d).hex() == info.certificate_sha256 for d in ders):
        raise InputError(f"{cmdlet}: the certificate chain of {given} does not hold the "
                         f"certificate the service at {info.address} presents (SHA-256 "
                         f"{info.certificate_sha256[:16]}...)", what="TrustedCA",
                         value=given)


def _pem_ders(cmdlet: str, pem: str) -> list[bytes]:
    try:
        return [crypto.cert_der(c) for c in crypto.certs_from_pem(pem)]
    except ValueError as exc:
        shown = pem if len(pem) <= 60 else pem[:57] + "..."
        raise InputError(f"{cmdlet}: Cannot bind parameter 'TrustedCA'. Cannot convert "
                         f"\"{shown}\" to type \"X509Chain\" ({exc})", what="TrustedCA",
                         value=shown) from None


@verb("Add-AttestationServiceInfo", summary="Give the workload vCenter an attestation "
      "service of the TA cluster (piped from Get-TrustAuthorityAttestationService, or by "
      "address, group and TA cluster Id), as Import-TrustAuthorityServicesInfo does.",
      args=AddAttestationServiceInfoArgs, side="workload", output="AttestationServiceInfo",
      source="VMware.VimAutomation.Security 13.x cmdlet list (PowerShell Gallery); assumed: "
             "the parameter sets of its twin Add-KeyProviderServiceInfo's page (" + _B +
             "add-keyproviderserviceinfo) with -AttestationService "
             "<TrustAuthorityAttestationService[]>, its own page was not found" + _ADD_NOTES)
def add_attestation_service_info(world: World, a: AddAttestationServiceInfoArgs) -> Outcome:
    return _add_service_info(world, a, "attestation", "Add-AttestationServiceInfo")


@verb("Add-KeyProviderServiceInfo", summary="Give the workload vCenter a key provider "
      "service of the TA cluster (piped from Get-TrustAuthorityKeyProviderService, or by "
      "address, group and TA cluster Id), as Import-TrustAuthorityServicesInfo does.",
      args=AddKeyProviderServiceInfoArgs, side="workload", output="KeyProviderServiceInfo",
      source=_ADD_KP + " (the -KeyProviderService set, by pipeline; the -ServiceAddress "
             "-ServiceGroup -TAClusterId set with [-FilePath] [-ServicePort] [-TrustedCA])"
             + _ADD_NOTES)
def add_kp_service_info(world: World, a: AddKeyProviderServiceInfoArgs) -> Outcome:
    return _add_service_info(world, a, "key_provider", "Add-KeyProviderServiceInfo")


def _ta_services(world: World, a: TaListArgs, kind: str, daemon: str) -> Outcome:
    vc = world.ta_vcenter.name
    rows = []
    for h in world.ta_cluster.members:
        ident = f"{h.name}/{daemon}"
        der = crypto.cert_der(h.attestd.certificate)
        # TrustedCA is the service's X509Chain (the certificates themselves), its raw data
        # the same chain as PEM text
        rows.append(make(kind, ServerGuid=server_guid(vc), ServiceAddress=h.name,
                         ServiceGroup=world.ta_cluster.group, ServicePort=443,
                         TrustAuthorityClusterId=ta_cluster_id(world),
                         TrustedCA=[X509Certificate.of(der)],
                         TrustedCARawData=[crypto.cert_pem(h.attestd.certificate).decode()],
                         Uid=uid(vc, kind, ident), VMHostId=host_id(world, h.name)))
    return Outcome(True, output=rows)


@verb("Get-TrustAuthorityAttestationService", summary="The attestation services of the "
      "enabled TA cluster (one per TA host).", args=TaListArgs, side="ta",
      source="PowerCLI Get-TrustAuthorityAttestationService (reference §2; the category page's "
             "example: Get-TrustAuthorityAttestationService -TrustAuthorityCluster mycluster); "
             "assumed: -TrustAuthorityCluster optional and named, as on the page of its twin "
             "Get-TrustAuthorityKeyProviderService (its own command page was not found)",
      output="TrustAuthorityAttestationService")
def get_ta_attestation_service(world: World, a: TaListArgs) -> Outcome:
    return _ta_services(world, a, "TrustAuthorityAttestationService", "attestd")


class KpServiceArgs(Args):
    vmhost: Annotated[str | None, PS(name="VMHost", position=0, pipeline=True,
                                     type="VMHost[]")] = Field(
        None, description="Only the service on this TA host.")
    service_address: Annotated[str | None, PS(type="String[]")] = Field(
        None, description="Only the services at this address.")
    service_group: Annotated[str | None, PS(type="String[]")] = Field(
        None, description="Only the services of this group.")
    trust_authority_cluster: Annotated[str | None, PS(
        name="TrustAuthorityCluster", pipeline=True, type="TrustAuthorityCluster[]")] = Field(
        None, description="The TA cluster (object or name; default: the only one).")


@verb("Get-TrustAuthorityKeyProviderService", summary="The key provider services of the "
      "enabled TA cluster (one per TA host).", args=KpServiceArgs, side="ta",
      source="B: " + _B + "get-trustauthoritykeyproviderservice ([-VMHost] at position 1 "
             "and -TrustAuthorityCluster by pipeline; -ServiceAddress, -ServiceGroup; the "
             "services of an enabled TA cluster only)",
      output="TrustAuthorityKeyProviderService")
def get_ta_kp_service(world: World, a: KpServiceArgs) -> Outcome:
    _check_ta(world, a.trust_authority_cluster)
    # "from the specified enabled Trust Authority cluster" (the page): the services of a
    # disabled cluster are not listed [assumed: nothing is returned rather than an error]
    enabled = {h.name for h in world.ta_cluster.members if h.config.enabled}
    rows = [r for r in _ta_services(world, TaListArgs(), "TrustAuthorityKeyProviderService",
                                    "kmxd").output or [] if r["ServiceAddress"] in enabled]
    host = None if a.vmhost is None else next(
        (h.name for h in world.ta_cluster.members
         if a.vmhost in (h.name, host_id(world, h.name))), None)
    if a.vmhost is not None and host is None:
        raise InputError(f"no TA host {a.vmhost!r}", what="VMHost", value=a.vmhost,
                         choices=[h.name for h in world.ta_cluster.members])
    wanted = {"ServiceAddress": a.service_address or host, "ServiceGroup": a.service_group}
    return Outcome(True, output=[r for r in rows if all(
        v is None or r[k] == v for k, v in wanted.items())])
