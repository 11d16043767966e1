"""The PowerCLI object types the lab's cmdlets return, as VMware publishes them.

One definition per type: its full name, its properties in the order of the published
structure page (``Name | Type``), the default display set PowerShell prints without
``select`` and the page it follows (or ``assumed: why``). Verbs build their output with
:func:`make`, which refuses a property the type does not have and fills the ones a verb
does not know with ``None``; the training shell gives the objects the type's name and
display set; ``docs/powercli.md`` and the tests pin the lists against this table.

Properties the lab cannot know meaningfully (``ExtensionData``, ``CustomFields``,
``NetworkInfo`` ...) are left out rather than invented; each type says which it omits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vtalab.core import crypto

__all__ = ["OBJECT_TYPES", "ObjectType", "X509Certificate", "make", "object_type"]

_PCLI = "https://developer.broadcom.com/powercli/latest/"
_SEC = _PCLI + "vmware.vimautomation.security/structures/" \
    "vmware.vimautomation.security.types.v1.trustedinfrastructure."
_CORE = _PCLI + "vmware.vimautomation.core/structures/vmware.vimautomation.vicore.types.v1."


class X509Certificate(str):
    """An ``X509Certificate2`` property value (``Tpm2EndorsementKey.Certificate``, an entry
    of ``TrustedPrincipal.CertificateChain``): shown as its subject, as a console cell
    shows it, and carrying its DER so that passing it on (``-Certificate``,
    ``-CertificateChain``) passes the certificate itself, not a name."""

    der: bytes

    def __new__(cls, subject: str, der: bytes) -> X509Certificate:
        self = super().__new__(cls, subject)
        self.der = der
        return self

    @classmethod
    def of(cls, der: bytes) -> X509Certificate:
        return cls(crypto.cert_from_der(der).subject.rfc4514_string(), der)

    @property
    def pem(self) -> str:
        """The certificate as PEM text: what it is when bound to a parameter."""
        return crypto.cert_pem(crypto.cert_from_der(self.der)).decode()

    def __reduce__(self) -> tuple[Any, ...]:
        return (X509Certificate, (str(self), self.der))


@dataclass(frozen=True)
class ObjectType:
    name: str  #: the short type name (``TrustAuthorityVMHostBaseImage``)
    full_name: str  #: the .NET type name of the structure page
    properties: tuple[tuple[str, str], ...]  #: (name, type) in the page's order
    display: tuple[str, ...]  #: default display set (PowerShell's table without select)
    source: str  #: the structure page, or "assumed: ..." with why
    omitted: tuple[str, ...] = ()  #: published properties the lab leaves out

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.properties)


def _t(name: str, full: str, props: str, display: str, source: str,
       omitted: str = "") -> ObjectType:
    pairs = tuple(tuple(p.split(":")) for p in props.split())
    return ObjectType(name, full, pairs, tuple(display.split()), source,  # type: ignore[arg-type]
                      tuple(omitted.split()))


_S = "VMware.VimAutomation.Security.Types.V1.TrustedInfrastructure."
_HEALTH = "Health:TrustAuthoritySettingsConfigHealth HealthDescription:LocalizableMessage[]"

OBJECT_TYPES: dict[str, ObjectType] = {t.name: t for t in (
    _t("VMHost", "VMware.VimAutomation.ViCore.Types.V1.Inventory.VMHost",
       "Build:String ConnectionState:VMHostState CpuTotalMhz:Int32 CpuUsageMhz:Int32 "
       "Id:String IsStandalone:Boolean Manufacturer:String MemoryTotalGB:Decimal "
       "MemoryUsageGB:Decimal Model:String Name:String NumCpu:Int32 Parent:InventoryItem "
       "ParentId:String PowerState:VMHostPowerState ProcessorType:String State:VMHostState "
       "Uid:String Version:String",
       "Name ConnectionState PowerState NumCpu CpuUsageMhz CpuTotalMhz MemoryUsageGB "
       "MemoryTotalGB Version", _CORE + "inventory.vmhost",
       "BaseImage Components CryptoState CustomFields DatastoreIdList DepotOverrides "
       "DiagnosticPartition ExtensionData FirewallDefaultPolicy FirmwareAddons "
       "HyperthreadingActive LicenseKey MaxEVCMode MemoryTotalMB MemoryUsageMB NetworkInfo "
       "SoftwareSpecification StorageInfo TimeZone VMSwapfileDatastore "
       "VMSwapfileDatastoreId VMSwapfilePolicy VendorAddOn"),
    _t("VirtualMachine", "VMware.VimAutomation.ViCore.Types.V1.Inventory.VirtualMachine",
       "Id:String MemoryGB:Decimal Name:String NumCpu:Int32 PowerState:PowerState "
       "Uid:String VMHost:VMHost VMHostId:String",
       "Name PowerState NumCpu MemoryGB", _CORE + "inventory.virtualmachine",
       "the remaining 30-odd properties (Guest, HardDisks, Folder, ExtensionData ...)"),
    _t("HostService", "VMware.VimAutomation.ViCore.Types.V1.Host.HostService",
       "Key:String Label:String Policy:String Required:Boolean Ruleset:String[] "
       "Running:Boolean Uid:String Uninstallable:Boolean VMHost:VMHost VMHostId:String",
       "Key Label Policy Running Required", _CORE + "host.hostservice", "ExtensionData"),
    _t("TrustAuthorityCluster", _S + "TrustAuthorityCluster",
       "Id:String Name:String ServerGuid:String State:TrustAuthorityState Uid:String",
       "Name State", _SEC + "trustauthoritycluster"),
    _t("TrustedCluster", _S + "TrustedCluster",
       "AttestationServiceInfo:AttestationServiceInfo[] Id:String "
       "KeyProviderServiceInfo:KeyProviderServiceInfo[] Name:String State:TrustedState "
       "Uid:String", "Name State AttestationServiceInfo KeyProviderServiceInfo",
       _SEC + "trustedcluster"),
    _t("TrustAuthorityVMHostBaseImage", _S + "TrustAuthorityVMHostBaseImage",
       f"{_HEALTH} Id:String Name:String TrustAuthorityClusterId:String Uid:String "
       "VMHostVersion:String", "VMHostVersion Name Health",
       _SEC + "trustauthorityvmhostbaseimage"),
    _t("TrustAuthorityTpm2AttestationSettings", _S + "TrustAuthorityTpm2AttestationSettings",
       f"{_HEALTH} Id:String Name:String RequireCertificateValidation:Boolean "
       "RequireEndorsementKey:Boolean TrustAuthorityClusterId:String Uid:String",
       "Name RequireEndorsementKey RequireCertificateValidation Health",
       _SEC + "trustauthoritytpm2attestationsettings"),
    _t("TrustAuthorityServicesStatus", _S + "TrustAuthorityServicesStatus",
       "AttestationServiceStatus:TrustAuthorityAttestationServiceStatus "
       "KeyProviderServiceStatus:TrustAuthorityKeyProviderServiceStatus "
       "TrustAuthorityClusterId:String Uid:String",
       "TrustAuthorityClusterId AttestationServiceStatus KeyProviderServiceStatus",
       _SEC + "trustauthorityservicesstatus"),
    _t("TrustAuthorityPrincipal", _S + "TrustAuthorityPrincipal",
       f"CertificateChain:X509Chain[] Domain:String {_HEALTH} Id:String Issuer:String "
       "IssuerAlias:String Name:String TrustAuthorityClusterId:String Type:PrincipalType "
       "Uid:String",
       "Name Domain Type Health", _SEC + "trustauthorityprincipal"),
    _t("TrustedPrincipal", _S + "TrustedPrincipal",
       "CertificateChain:X509Chain[] Domain:String Id:String Issuer:String Name:String "
       "Type:PrincipalType Uid:String", "Name Domain Issuer", _SEC + "trustedprincipal"),
    _t("TrustAuthorityTpm2CACertificate", _S + "TrustAuthorityTpm2CACertificate",
       f"CertificateChain:X509Chain {_HEALTH} Id:String Name:String "
       "TrustAuthorityClusterId:String Uid:String", "Name Health",
       _SEC + "trustauthoritytpm2cacertificate"),
    _t("TrustAuthorityTpm2EndorsementKey", _S + "TrustAuthorityTpm2EndorsementKey",
       f"{_HEALTH} Id:String Name:String PublicKey:String "
       "TrustAuthorityClusterId:String Uid:String", "Name Health",
       _SEC + "trustauthoritytpm2endorsementkey"),
    _t("Tpm2EndorsementKey", _S + "Tpm2EndorsementKey",
       "Certificate:X509Certificate2 CertificateRawData:String PublicKey:String "
       "TpmId:String Uid:String VMHostId:String VMHostUuid:String",
       "VMHostId TpmId Certificate", _SEC + "tpm2endorsementkey"),
    _t("TrustAuthorityKeyProvider", _S + "TrustAuthorityKeyProvider",
       "ConnectionTimeoutSeconds:Int64 Description:String Id:String KmipServerUsername:String "
       "MasterKeyId:String Name:String PrimaryKeyId:String ProxyAddress:String "
       "ProxyPort:Int32 Status:TrustAuthorityKeyProviderStatus "
       "TrustAuthorityClusterId:String Type:KmsType Uid:String",
       "Name PrimaryKeyId Status",
       "assumed: the structure page was not found (the docs corpus has the command pages and "
       "the TrustAuthorityKeyProviderStatus page, not this one). The properties are those "
       "VMware's helper module reads from the object (VMware.TrustedInfrastructure.Helper, "
       "Save-TrustAuthorityClusterSettings: Name, PrimaryKeyId, Description, ProxyAddress, "
       "ProxyPort, ConnectionTimeoutSeconds, KmipServerUsername), the deprecated MasterKeyId "
       "the cmdlets still take, Type (Set-TrustAuthorityKeyProvider -Type <KmsType>), Status "
       "as the published TrustAuthorityKeyProviderStatus (its KeyProviderId names the "
       "provider) and PowerCLI's Id/TrustAuthorityClusterId/Uid, in the structure pages' "
       "alphabetical order. No password: neither the vAPI Providers.Info nor the helper "
       "shows one (the helper asks the operator for it)"),
    _t("TrustAuthorityKeyProviderStatus", _S + "TrustAuthorityKeyProviderStatus",
       "Health:TrustAuthoritySettingsConfigHealth HealthDetails:LocalizableMessage[] "
       "KeyProviderId:String ServerStatus:TrustAuthorityKeyProviderServerStatus[]",
       "Health ServerStatus", _SEC + "trustauthoritykeyproviderstatus"),
    _t("TrustAuthorityKeyProviderServerStatus", _S + "TrustAuthorityKeyProviderServerStatus",
       "ClientTrustServer:Boolean Health:TrustAuthoritySettingsConfigHealth "
       "HealthDetails:LocalizableMessage[] Name:String ServerTrustClient:Boolean",
       "Name Health ClientTrustServer ServerTrustClient",
       _SEC + "trustauthoritykeyproviderserverstatus"),
    _t("TrustAuthorityKeyProviderServer", _S + "TrustAuthorityKeyProviderServer",
       "Address:String Id:String KeyProviderId:String Name:String Port:Int32 "
       "TrustAuthorityClusterId:String Uid:String", "Name Address Port",
       _SEC + "trustauthoritykeyproviderserver"),
    _t("TrustAuthorityKeyProviderServerCertificate",
       _S + "TrustAuthorityKeyProviderServerCertificate",
       "Certificate:X509Certificate2 CertificateRawData:String KeyProviderId:String "
       "KeyProviderServerId:String TrustAuthorityClusterId:String Trusted:Boolean Uid:String",
       "KeyProviderServerId Trusted Certificate",
       _SEC + "trustauthoritykeyproviderservercertificate"),
    _t("X509Certificate2", "System.Security.Cryptography.X509Certificates.X509Certificate2",
       "Issuer:String NotAfter:DateTime NotBefore:DateTime SerialNumber:String "
       "Subject:String Thumbprint:String", "Thumbprint Subject",
       "https://learn.microsoft.com/dotnet/api/system.security.cryptography."
       "x509certificates.x509certificate2",
       "Archived Extensions FriendlyName HasPrivateKey IssuerName PrivateKey PublicKey "
       "RawData SignatureAlgorithm SubjectName Version"),
    _t("AttestationServiceInfo", _S + "AttestationServiceInfo",
       "CertificateChain:X509Chain Id:String Name:String ServiceAddress:String "
       "ServiceGroup:String ServicePort:Int32 TAClusterId:String Uid:String",
       "Name ServiceAddress ServicePort ServiceGroup",
       "assumed: the structure page was not found; the properties of its twin's page "
       "(KeyProviderServiceInfo), which Get-AttestationServiceInfo's published filters "
       "-ServiceAddress -ServiceGroup -ServicePort -TAClusterId name as well"),
    _t("KeyProviderServiceInfo", _S + "KeyProviderServiceInfo",
       "CertificateChain:X509Chain Id:String Name:String ServiceAddress:String "
       "ServiceGroup:String ServicePort:Int32 TAClusterId:String Uid:String",
       "Name ServiceAddress ServicePort ServiceGroup", _SEC + "keyproviderserviceinfo"),
    _t("TrustAuthorityAttestationService", _S + "TrustAuthorityAttestationService",
       "ServerGuid:String ServiceAddress:String ServiceGroup:String ServicePort:Int64 "
       "TrustAuthorityClusterId:String TrustedCA:X509Chain TrustedCARawData:String[] "
       "Uid:String VMHostId:String", "ServiceAddress ServicePort ServiceGroup",
       _SEC + "trustauthorityattestationservice"),
    _t("TrustAuthorityKeyProviderService", _S + "TrustAuthorityKeyProviderService",
       "ServerGuid:String ServiceAddress:String ServiceGroup:String ServicePort:Int64 "
       "TrustAuthorityClusterId:String TrustedCA:X509Chain TrustedCARawData:String[] "
       "Uid:String VMHostId:String", "ServiceAddress ServicePort ServiceGroup",
       _SEC + "trustauthoritykeyproviderservice"),
    _t("Task", "VMware.VimAutomation.Sdk.Types.V1.Task",
       "Description:String FinishTime:DateTime Id:String IsCancelable:Boolean Name:String "
       "ObjectId:String PercentComplete:Single Result:Object StartTime:DateTime "
       "State:TaskState Uid:String", "Name State PercentComplete StartTime FinishTime",
       _PCLI + "vmware.vimautomation.sdk/structures/vmware.vimautomation.sdk.types.v1.task"),
    _t("TrustedClusterAppliedStatus", _S + "TrustedClusterAppliedStatus",
       "TrustedClusterId:String VMHostId:String Status:String Uid:String",
       "VMHostId Status",
       "assumed: Broadcom's TrustedClusterAppliedStatus structure page (structures/"
       "vmware.vimautomation.security.commands.cmdlets.trustedinfrastructure."
       "trustedclusterappliedstatus) lists the cmdlet class's own members (CommandRuntime, "
       "MyInvocation, TrustedCluster ...), not an output object; the properties follow the "
       "vAPI TrustedClusters ServicesAppliedConfig status (per host: applied or not)"),
)}


def object_type(name: str) -> ObjectType:
    return OBJECT_TYPES[name]


def make(type_name: str, **values: Any) -> dict[str, Any]:
    """An object of ``type_name``: its properties in the published order, ``None`` for
    those not given; a property the type does not have is a bug (``KeyError``)."""
    t = OBJECT_TYPES[type_name]
    unknown = set(values) - set(t.names)
    if unknown:
        raise KeyError(f"{type_name} has no property {sorted(unknown)}")
    return {n: values.get(n) for n in t.names}
