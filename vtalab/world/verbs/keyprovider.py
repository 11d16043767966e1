"""Setting up a trusted key provider's trust with its KMIP servers (kmxd side).

A trusted key provider (``New-TrustAuthorityKeyProvider``) starts with its KMIP servers and
credentials but with no trust: ``kmxd`` has no client certificate to present and trusts
no KMIP server certificate, so every key request fails (``kms_auth_failed``) and the
provider's status says so. The operator then, as the vSphere Security guide describes
("Establish the Trusted Key Provider Trusted Connection"):

* adds or removes KMIP servers (``Add-/Remove-TrustAuthorityKeyProviderServer``);
* gives ``kmxd`` a client certificate the KMS will trust, one of three ways: a self-signed
  one (``New-TrustAuthorityKeyProviderClientCertificate``, then
  ``Export-TrustAuthorityKeyProviderClientCertificate`` and the KMS administrator uploads
  it: lab verb ``kms-trust-client-certificate``), a CSR the KMS signs
  (``New-/Get-TrustAuthorityKeyProviderClientCertificateCSR``, ``kms-sign-csr``,
  ``Set-TrustAuthorityKeyProviderClientCertificate -Certificate``), or a certificate and
  key the KMS issued (``kms-issue-client-certificate``, then
  ``Set-TrustAuthorityKeyProviderClientCertificate -Certificate -PrivateKey``);
* trusts the KMIP servers' certificates (``Get-TrustAuthorityKeyProviderServerCertificate``
  lists what each server presents and whether it is trusted;
  ``Add-/Set-/Remove-TrustAuthorityKeyProviderServerCertificate``; or the KMS CA from
  ``kms-export-ca-certificate``).

Everything is real X.509: certificates, CSRs and keys are made and checked with
:mod:`vtalab.core.crypto`, keys derived from the world's seed. Certificates and keys the
operator hands over live in the operator's files (``world.files``) as tagged tuples:
``("certificate", der, ...)``, ``("private-key", pem)``, ``("csr", der)``. Parameter names
follow Broadcom's PowerCLI reference (VMware.VimAutomation.Security 13.x) and VMware's
own helper module (VMware.TrustedInfrastructure.Helper); what neither shows is marked
assumed in each verb's source.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field

from vtalab.core import crypto
from vtalab.domain.key_provider import KmipServerRef, TrustedKeyProvider
from vtalab.domain.kms import KMIP_PORT
from vtalab.errors import InputError
from vtalab.world.objects import X509Certificate, make
from vtalab.world.registry import PS, Args, Outcome, PSComposite, PSSet, fault, verb
from vtalab.world.verbs.common import _file, _ta_task, certificates_in, ta_cluster_id, uid

if TYPE_CHECKING:
    from vtalab.domain.ta_cluster import TaHost
    from vtalab.world.assembly import World

__all__: list[str] = []

_REF = "https://developer.broadcom.com/powercli/latest/vmware.vimautomation.security/commands/"
_HELPER = ("VMware.TrustedInfrastructure.Helper (Save-/Apply-TrustAuthorityClusterSettings, "
           "VMware's PowerCLI-Example-Scripts)")
_MANIFEST = "VMware.VimAutomation.Security 13.x module manifest (cmdlet list)"
#: the PowerCLI 13.3.0 help text of VMware.VimAutomation.Security (parameter names, types and
#: Required, sets flattened), for the cmdlets whose Broadcom page the docs corpus lacks
_HELP133 = "PowerCLI 13.3.0 help (VMware.VimAutomation.Security cmdlet reference)"
KMS_GUIDE = ("vSphere Security guide: Establish the Trusted Key Provider Trusted Connection "
             "(KMS administrator's side)")
#: how long a client certificate kmxd makes for itself is valid [assumed: vCenter's
#: self-signed KMS client certificates are valid ten years]
CLIENT_CERT_DAYS = 3650

_KP = PS(name="KeyProvider", pipeline=True, mandatory=True, type="TrustAuthorityKeyProvider")
_KPS = PS(name="KeyProvider", pipeline=True, mandatory=True,
          type="TrustAuthorityKeyProvider[]")
_TA = PS(name="TrustAuthorityCluster", type="TrustAuthorityCluster")


class KeyProviderRefArgs(Args):
    key_provider: Annotated[str | None, _KP] = Field(
        None, description="The key provider (object or name; default: the lab's).")
    trust_authority_cluster: Annotated[str | None, _TA] = Field(
        None, description="The TA cluster (object or name; default: the only one).")


class KeyProvidersRefArgs(KeyProviderRefArgs):
    """The Get- cmdlets' -KeyProvider takes several providers
    (<TrustAuthorityKeyProvider[]>)."""

    key_provider: Annotated[str | None, _KPS] = Field(
        None, description="The key provider (object or name; default: the lab's).")


# -- lookups ------------------------------------------------------------------------------
def _provider_name(world: World, value: str | None) -> str:
    """A key provider named by name or by its PowerCLI Id (``kp-NAME``)."""
    known = sorted({n for h in world.ta_cluster.members for n in h.kmxd.providers})
    name = value or world.key_provider_name
    if name not in known and name.startswith("kp-") and name[3:] in known:
        name = name[3:]
    if name not in known:
        raise InputError(f"no trusted key provider {name!r}", what="key provider", value=name,
                         choices=known)
    return name


def _config(world: World, name: str) -> TrustedKeyProvider:
    """The provider as the first TA host that has it holds it."""
    for h in world.ta_cluster.members:
        if name in h.kmxd.providers:
            return h.kmxd.providers[name]
    raise InputError(f"no trusted key provider {name!r}", what="key provider",
                     value=name)  # pragma: no cover - _provider_name checked


def _change(world: World, name: str, task: str, what: str,
            change: Callable[[TrustedKeyProvider], TrustedKeyProvider],
            **fields: Any) -> Outcome:
    """Apply ``change`` to the provider on every reachable TA host (one TA task)."""
    change(_config(world, name))  # refuse a bad change before anything is applied

    def apply(h: TaHost) -> bool:
        current = h.kmxd.providers.get(name)
        if current is None:
            return False
        updated = change(current)
        if updated == current and updated.client_private_key is current.client_private_key:
            return False
        h.kmxd.set_provider(updated)
        return True

    return _ta_task(world, task, name, world.ta_cluster.apply(apply), what, **fields)


def _counter(world: World, label: str) -> int:
    """The next number of a deterministic per-world sequence (key derivation labels)."""
    world.key_counters[label] = world.key_counters.get(label, 0) + 1
    return world.key_counters[label]


def _cert_object(der: bytes) -> dict[str, Any]:
    cert = crypto.cert_from_der(der)
    return make("X509Certificate2",
                Issuer=cert.issuer.rfc4514_string(),
                NotAfter=cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S"),
                NotBefore=cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S"),
                SerialNumber=f"{cert.serial_number:X}",
                Subject=X509Certificate(cert.subject.rfc4514_string(), der),
                Thumbprint=crypto.sha1_hex(der).upper())


def _private_key(world: World, name: str) -> crypto.PrivateKey:
    """A private key from an operator's file, or given as PEM text (-PrivateKey)."""
    value = name if name not in world.files and "-----BEGIN" in name else \
        _file(world, name, (tuple, bytes, str))
    text = value[1] if isinstance(value, tuple) and value and value[0] == "private-key" else \
        value if isinstance(value, str) else value.decode("ascii", "replace") \
        if isinstance(value, bytes) else ""
    try:
        return _pem_private_key(text)
    except ValueError as exc:
        raise InputError(f"file {name!r} is not a private key ({exc})", what="file",
                         value=name) from None


@functools.lru_cache(maxsize=256)
def _key_pem(key: crypto.PrivateKey) -> str:
    """``key`` as PKCS#8 PEM text, remembered (bounded) per key object: the KMS's client
    key is derived from the seed, the same object in every world, and each configured
    world writes it out at T=0."""
    return crypto.private_pem(key).decode()


@functools.lru_cache(maxsize=256)
def _pem_private_key(text: str) -> crypto.PrivateKey:
    """:func:`crypto.private_from_pem`, remembered (bounded; a refused text is not): a key
    is immutable and a pure function of its PEM text, and every configured world of a
    seed installs the same client key at T=0 (the plan checker builds hundreds)."""
    return crypto.private_from_pem(text)


def _server_object(world: World, provider: str, ref: KmipServerRef) -> dict[str, Any]:
    return make("TrustAuthorityKeyProviderServer", Address=ref.address, Id=ref.name,
                KeyProviderId=f"kp-{provider}", Name=ref.name, Port=ref.port,
                TrustAuthorityClusterId=ta_cluster_id(world),
                Uid=uid(world.ta_vcenter.name, "TrustAuthorityKeyProviderServer",
                        f"kp-{provider}/{ref.name}"))


# -- KMIP servers ----------------------------------------------------------------------------
class GetServerArgs(Args):
    ps_sets = (PSSet("Name", ("name",)), PSSet("Address", ("address",)))
    key_provider: Annotated[str | None, _KPS] = Field(
        None, description="The key provider (object or name; default: the lab's).")
    name: Annotated[str | None, PS(type="String[]")] = Field(
        None, description="Only the KMIP server with this name.")
    address: Annotated[str | None, PS(type="String[]")] = Field(
        None, description="Only the KMIP server at this address.")
    trust_authority_cluster: Annotated[str | None, _TA] = Field(
        None, description="The TA cluster (object or name; default: the only one).")


@verb("Get-TrustAuthorityKeyProviderServer", summary="List a trusted key provider's KMIP "
      "servers.", args=GetServerArgs, side="ta", output="TrustAuthorityKeyProviderServer",
      source="B: " + _REF + "get-trustauthoritykeyproviderserver (the -Name set and the "
             "-Address set)")
def get_servers(world: World, a: GetServerArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    refs = [s for s in _config(world, name).servers if (a.name is None or s.name == a.name)
            and (a.address is None or s.address == a.address)]
    return Outcome(True, output=[_server_object(world, name, r) for r in refs])


class AddServerArgs(Args):
    address: Annotated[str, PS(position=0)] = Field(
        description="The KMIP server's address (the lab's KMS servers answer; any other "
                    "address is a server nobody answers at).")
    key_provider: Annotated[str | None, _KP] = Field(
        None, description="The key provider (object or name; default: the lab's).")
    name: str | None = Field(None, description="The server's name (default: the address).")
    port: Annotated[int, PS(type="Int32")] = Field(KMIP_PORT,
                                                   description="Its KMIP port (5696).")
    trust_authority_cluster: Annotated[str | None, _TA] = Field(
        None, description="The TA cluster (object or name; default: the only one).")


@verb("Add-TrustAuthorityKeyProviderServer", summary="Add a KMIP server to a trusted key "
      "provider on every TA host.", args=AddServerArgs, side="ta",
      output="TrustAuthorityKeyProviderServer",
      source="B: " + _REF + "add-trustauthoritykeyproviderserver (output assumed: the new "
             "server)")
def add_server(world: World, a: AddServerArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    if not 0 < a.port < 65536:
        raise InputError(f"-Port {a.port} is not a TCP port", what="port", value=a.port)
    ref = KmipServerRef(a.name or a.address, a.address, a.port)
    out = _change(world, name, "Add key provider server", f"KMIP server {ref.name} of key "
                  f"provider {name}", lambda p: p.with_server(ref), key_provider=name,
                  kmip_server=ref.name)
    if out.ok:
        return Outcome(True, message=out.message, output=[_server_object(world, name, ref)])
    return out


class RemoveServerArgs(Args):
    ps_ta_context: ClassVar[bool] = False
    ps_server: ClassVar[bool] = False  # the page publishes no -Server
    ps_composites: ClassVar[tuple[PSComposite, ...]] = (PSComposite(
        "KeyProviderServer", (("key_provider", "KeyProviderId"), ("server", "Name")),
        "TrustAuthorityKeyProviderServer[]", pipeline=True),)
    key_provider: Annotated[str | None, PS(hidden=True)] = Field(
        None, description="The key provider (default: the lab's).")
    server: Annotated[str, PS(hidden=True)] = Field(
        description="The KMIP server's name (Get-TrustAuthorityKeyProviderServer).")


@verb("Remove-TrustAuthorityKeyProviderServer", summary="Remove a KMIP server from a trusted "
      "key provider (a provider keeps at least one).", args=RemoveServerArgs, side="ta",
      confirm="High", source="B: " + _REF + "remove-trustauthoritykeyproviderserver")
def remove_server(world: World, a: RemoveServerArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    return _change(world, name, "Remove key provider server", f"removal of KMIP server "
                   f"{a.server} of key provider {name}", lambda p: p.without_server(a.server),
                   key_provider=name, kmip_server=a.server)


class UpdateServersArgs(Args):
    key_provider: Annotated[str | None, _KP] = Field(
        None, description="The key provider (default: the lab's).")
    servers: list[tuple[str, str, int]] = Field(
        description="Every KMIP server the provider keeps, as (name, address, port).")
    username: str | None = Field(
        None, description="The KMIP user name (unchanged when not given).")


@verb("update-key-provider-servers", kind="lab", summary="Replace a trusted key provider's "
      "KMIP servers (and user name) at once, as the vAPI kms.providers update does with "
      "key_server.kmip_server; PowerCLI does it one server at a time with "
      "Add-/Remove-TrustAuthorityKeyProviderServer.", args=UpdateServersArgs, side="ta",
      source="vAPI: com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters.kms."
             "providers update, Providers.KmipServerUpdateSpec (servers, username), "
             "vmware-vcenter 8.0.3.0")
def update_servers(world: World, a: UpdateServersArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    refs = []
    for server_name, address, port in a.servers:
        if not 0 < port < 65536:
            raise InputError(f"port {port} of KMIP server {server_name!r} is not a TCP port",
                             what="port", value=port)
        refs.append(KmipServerRef(server_name, address, port))
    wanted = tuple(refs)
    return _change(world, name, "Update trusted key provider", f"KMIP servers of key "
                   f"provider {name}", lambda p: p.with_servers(wanted, a.username),
                   key_provider=name, kmip_servers=[r.name for r in refs])


# -- the client certificate -----------------------------------------------------------------
@verb("New-TrustAuthorityKeyProviderClientCertificate", summary="Make kmxd a new self-signed "
      "client certificate (replaces the current one; the KMS must then trust it).",
      args=KeyProviderRefArgs, side="ta", output="X509Certificate2",
      source=_HELP133 + " (-KeyProvider <TrustAuthorityKeyProvider> mandatory, "
             "[-TrustAuthorityCluster]; example New-TrustAuthorityKeyProviderClientCertificate "
             "-KeyProvider mykp); " + _HELPER + "; vAPI client_certificate.create; assumed: "
             "-KeyProvider by pipeline, as on its siblings' pages, and the output (the new "
             "certificate)")
def new_client_certificate(world: World, a: KeyProviderRefArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    n = _counter(world, f"client/{name}")
    key = crypto.derive_private_key(world.seed, f"kmxd/{name}/client-key/{n}")
    now = world.kernel.utc()
    cert = crypto.make_client_certificate(
        f"{name}-kmxd", key, not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=CLIENT_CERT_DAYS), org="vtalab Trust Authority")
    der = crypto.cert_der(cert)
    out = _change(world, name, "Generate key provider client certificate", f"client "
                  f"certificate of key provider {name}",
                  lambda p: p.with_client_certificate(der, key), key_provider=name,
                  client_certificate=crypto.sha256(der).hex())
    return Outcome(True, message=out.message, output=[_cert_object(der)]) if out.ok else out


@verb("Get-TrustAuthorityKeyProviderClientCertificate", summary="The client certificate kmxd "
      "presents to the KMIP servers of a key provider.", args=KeyProvidersRefArgs, side="ta",
      output="X509Certificate2",
      source=_HELP133 + " (-KeyProvider <TrustAuthorityKeyProvider[]> mandatory, "
             "[-TrustAuthorityCluster]); " + _HELPER + " (reads GetRawCertData() of the "
             "result: an X509Certificate2); assumed: -KeyProvider by pipeline, as on its "
             "siblings' pages")
def get_client_certificate(world: World, a: KeyProvidersRefArgs) -> Outcome:
    der = _config(world, _provider_name(world, a.key_provider)).client_certificate_der
    return Outcome(True, output=[_cert_object(der)] if der else [])


class ExportClientCertArgs(KeyProviderRefArgs):
    file: Annotated[str, PS(name="FilePath")] = Field(
        description="The file to write the certificate to (for the KMS administrator).")
    force: bool = Field(False, description="Overwrite an existing file.")


@verb("Export-TrustAuthorityKeyProviderClientCertificate", summary="Export a key provider's "
      "client certificate to a file (to upload to the KMS).", args=ExportClientCertArgs,
      side="ta", source="B: " + _REF + "export-trustauthoritykeyproviderclientcertificate")
def export_client_certificate(world: World, a: ExportClientCertArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    der = _config(world, name).client_certificate_der
    if not der:
        return Outcome(False, "no_client_certificate", f"key provider {name} has no client "
                       "certificate (New-TrustAuthorityKeyProviderClientCertificate, or "
                       "Set-TrustAuthorityKeyProviderClientCertificate)")
    if a.file in world.files and not a.force:
        raise InputError(f"file {a.file!r} exists (use -Force to overwrite it)", what="file",
                         value=a.file)
    world.files[a.file] = ("certificate", der)
    return Outcome(True, message=f"client certificate of key provider {name} exported to "
                                 f"{a.file}")


@verb("New-TrustAuthorityKeyProviderClientCertificateCSR", summary="Make kmxd a new key and a "
      "certificate signing request for the KMS to sign (replaces a pending one).",
      args=KeyProviderRefArgs, side="ta",
      source=_HELP133 + " (-KeyProvider <TrustAuthorityKeyProvider> mandatory, "
             "[-TrustAuthorityCluster]; example New-TrustAuthorityKeyProviderClientCertificateCSR "
             "-KeyProvider mykp); vAPI client_certificate.csr.create; assumed: -KeyProvider "
             "by pipeline, as on its siblings' pages, and the output (the CSR, System.String, "
             "as Get-...CSR returns it)")
def new_csr(world: World, a: KeyProviderRefArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    n = _counter(world, f"csr/{name}")
    key = crypto.derive_private_key(world.seed, f"kmxd/{name}/csr-key/{n}")
    csr = crypto.make_csr(f"{name}-kmxd", key, org="vtalab Trust Authority")
    out = _change(world, name, "Generate key provider client certificate CSR", f"client "
                  f"certificate CSR of key provider {name}", lambda p: p.with_csr(csr, key),
                  key_provider=name, csr=crypto.sha256(csr).hex())
    return Outcome(True, message=out.message, output=[crypto.csr_pem(csr)]) if out.ok else out


class GetCsrArgs(KeyProvidersRefArgs):
    file: Annotated[str | None, PS(hidden=True)] = Field(
        None, description="Scenarios: also save the CSR to this file (for kms-sign-csr).")


@verb("Get-TrustAuthorityKeyProviderClientCertificateCSR", summary="The pending certificate "
      "signing request of a key provider's client certificate (PEM text).", args=GetCsrArgs,
      side="ta", source="B: " + _REF + "get-trustauthoritykeyproviderclientcertificatecsr")
def get_csr(world: World, a: GetCsrArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    csr = _config(world, name).csr_der
    if not csr:
        return Outcome(True, output=[])
    if a.file is not None:
        world.files[a.file] = ("csr", csr)
    return Outcome(True, output=[crypto.csr_pem(csr)])


class SetClientCertArgs(Args):
    ps_sets = (PSSet("Certificate", ("certificate", "private_key"),
                     mandatory=("certificate",)),
               PSSet("CertificateFilePath", ("certificate_file", "private_key_file"),
                     mandatory=("certificate_file",)))
    key_provider: Annotated[str | None, _KPS] = Field(
        None, description="The key provider (object or name; default: the lab's).")
    certificate: Annotated[str | None, PS(type="X509Certificate2")] = Field(
        None, description="The client certificate (an X509Certificate2; lab: also a file "
                          "holding it, e.g. from kms-sign-csr or kms-issue-client-certificate).")
    private_key: Annotated[str | None, PS(type="SecureString")] = Field(
        None, description="Its private key (PEM; lab: also a file); without it, the "
                          "certificate must answer the key provider's pending CSR.")
    certificate_file: Annotated[str | None, PS(name="CertificateFilePath")] = Field(
        None, description="A file holding the client certificate.")
    private_key_file: Annotated[str | None, PS(name="PrivateKeyFilePath")] = Field(
        None, description="A file holding its private key.")
    trust_authority_cluster: Annotated[str | None, _TA] = Field(
        None, description="The TA cluster (object or name; default: the only one).")


@verb("Set-TrustAuthorityKeyProviderClientCertificate", summary="Give kmxd a client "
      "certificate: a signed CSR, or a certificate with its private key.",
      args=SetClientCertArgs, side="ta",
      source=_HELP133 + " (two sets: -Certificate <X509Certificate2> [-PrivateKey "
             "<SecureString>], -CertificateFilePath [-PrivateKeyFilePath]; -KeyProvider "
             "<TrustAuthorityKeyProvider[]>); " + _HELPER + " (-KeyProvider -Certificate "
             "-PrivateKey); vAPI client_certificate.update (certificate, private_key); "
             "assumed: -KeyProvider by pipeline, as on its siblings' pages")
def set_client_certificate(world: World, a: SetClientCertArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    if (a.certificate is None) == (a.certificate_file is None):
        raise InputError("Set-TrustAuthorityKeyProviderClientCertificate takes one of "
                         "-Certificate or -CertificateFilePath", what="argument",
                         choices=["certificate", "certificate_file"])
    if a.private_key is not None and a.private_key_file is not None:
        raise InputError("-PrivateKey and -PrivateKeyFilePath are two parameter sets; give "
                         "one", what="argument", choices=["private_key", "private_key_file"])
    cert_ref = a.certificate or a.certificate_file or ""
    key_ref = a.private_key if a.private_key is not None else a.private_key_file
    ders = certificates_in(world, cert_ref)
    der = ders[0]
    pub = crypto.key_id(crypto.cert_public_key(crypto.cert_from_der(der)))
    config = _config(world, name)
    if key_ref is not None:
        key = _private_key(world, key_ref)
        if crypto.key_id(key) != pub:
            raise InputError(f"the private key in {key_ref!r} does not belong to the "
                             f"certificate in {cert_ref!r}", what="private_key",
                             value=key_ref)
    elif config.csr_private_key is not None and crypto.key_id(config.csr_private_key) == pub:
        key = config.csr_private_key
    else:
        raise InputError(f"the certificate in {cert_ref!r} does not answer key provider "
                         f"{name}'s pending CSR; give its -PrivateKey, or have the KMS sign "
                         "the current CSR (Get-TrustAuthorityKeyProviderClientCertificateCSR)",
                         what="certificate", value=cert_ref)
    return _change(world, name, "Update key provider client certificate", f"client "
                   f"certificate of key provider {name}",
                   lambda p: p.with_client_certificate(der, key), key_provider=name,
                   client_certificate=crypto.sha256(der).hex())


# -- the KMIP servers' certificates ---------------------------------------------------------
def _server_certificates(world: World, name: str) -> list[dict[str, Any]]:
    config = _config(world, name)
    now = world.kernel.utc()
    rows = []
    for ref in config.servers:
        server = world.kms.at(ref.address, ref.port)
        if server is None or not server.available:
            continue  # nothing answers: no certificate to show
        der = server.server_certificate_der
        trusted = server.client_trust_problem(config.trusted_server_certificates_der,
                                              now) is None
        rows.append(make("TrustAuthorityKeyProviderServerCertificate",
                         Certificate=_cert_object(der)["Subject"],
                         CertificateRawData=crypto.cert_pem(crypto.cert_from_der(der)).decode(),
                         KeyProviderId=f"kp-{name}", KeyProviderServerId=ref.name,
                         TrustAuthorityClusterId=ta_cluster_id(world), Trusted=trusted,
                         Uid=uid(world.ta_vcenter.name,
                                 "TrustAuthorityKeyProviderServerCertificate",
                                 f"kp-{name}/{ref.name}")))
    return rows


class GetServerCertArgs(Args):
    ps_sets = (PSSet("KeyProvider", ("key_provider",), mandatory=("key_provider",)),
               PSSet("KeyProviderServer", ("KeyProviderServer",),
                     mandatory=("KeyProviderServer",)))
    ps_composites: ClassVar[tuple[PSComposite, ...]] = (PSComposite(
        "KeyProviderServer", (("key_provider", "KeyProviderId"), ("server", "Name")),
        "TrustAuthorityKeyProviderServer[]", pipeline=True),)
    key_provider: Annotated[str | None, _KPS] = Field(
        None, description="The key provider (object or name; default: the lab's).")
    server: Annotated[str | None, PS(hidden=True)] = Field(
        None, description="Only what this KMIP server presents (-KeyProviderServer from "
                          "Get-TrustAuthorityKeyProviderServer).")
    trust_authority_cluster: Annotated[str | None, _TA] = Field(
        None, description="The TA cluster (object or name; default: the only one).")


@verb("Get-TrustAuthorityKeyProviderServerCertificate", summary="The certificate each KMIP "
      "server of a key provider presents, and whether kmxd trusts it.",
      args=GetServerCertArgs, side="ta", output="TrustAuthorityKeyProviderServerCertificate",
      source=_HELP133 + " (two sets: -KeyProvider <TrustAuthorityKeyProvider[]>, "
             "-KeyProviderServer <TrustAuthorityKeyProviderServer[]>; example: "
             "Get-TrustAuthorityKeyProviderServer -KeyProvider myProvider piped in); " + _HELPER
             + " (CertificateRawData, Trusted); vAPI current_peer_certificates.list; assumed: "
             "both by pipeline (the page is not in the record) and the lab lists what each "
             "server presents, trusted or not, in both sets")
def get_server_certificates(world: World, a: GetServerCertArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    if a.server is not None:
        _config(world, name).server(a.server)  # an unknown server is bad input
    rows = _server_certificates(world, name)
    return Outcome(True, output=[r for r in rows if a.server is None
                                 or r["KeyProviderServerId"] == a.server])


_SERVER_CERT = PSComposite(
    "ServerCertificate", (("key_provider", "KeyProviderId"), ("server", "KeyProviderServerId")),
    "TrustAuthorityKeyProviderServerCertificate[]", pipeline=True, mandatory=False)


def _presented(world: World, name: str, server: str) -> bytes:
    ref = _config(world, name).server(server)
    kms = world.kms.at(ref.address, ref.port)
    if kms is None or not kms.available:
        raise InputError(f"KMIP server {server} ({ref.address}:{ref.port}) does not answer; "
                         "its certificate cannot be read", what="server", value=server)
    return kms.server_certificate_der


class AddServerCertArgs(Args):
    ps_sets = (PSSet("Certificate", ("certificate", "key_provider"),
                     mandatory=("certificate", "key_provider")),
               PSSet("FilePath", ("file", "key_provider"), mandatory=("file", "key_provider")),
               PSSet("ServerCertificate", ("ServerCertificate",),
                     mandatory=("ServerCertificate",)))
    ps_composites: ClassVar[tuple[PSComposite, ...]] = (_SERVER_CERT,)
    certificate: Annotated[str | None, PS(type="X509Certificate2[]")] = Field(
        None, description="A certificate to trust (lab: a file holding it).")
    file: Annotated[str | None, PS(name="FilePath")] = Field(
        None, description="A file holding the certificate(s) to trust (PEM).")
    key_provider: Annotated[str | None, PS(name="KeyProvider", pipeline=True,
                                           type="TrustAuthorityKeyProvider")] = Field(
        None, description="The key provider (object or name; default: the lab's).")
    trust_authority_cluster: Annotated[str | None, _TA] = Field(
        None, description="The TA cluster (object or name; default: the only one).")
    server: Annotated[str | None, PS(hidden=True)] = Field(
        None, description="Scenarios: trust what this KMIP server presents now "
                          "(-ServerCertificate from "
                          "Get-TrustAuthorityKeyProviderServerCertificate).")


@verb("Add-TrustAuthorityKeyProviderServerCertificate", summary="Trust KMIP server "
      "certificates (a certificate, a file, or what a server presents).",
      args=AddServerCertArgs, side="ta",
      source="B: " + _REF + "add-trustauthoritykeyproviderservercertificate (the "
             "-Certificate and -FilePath sets, each with -KeyProvider mandatory by pipeline); "
             "the -ServerCertificate set from " + _HELP133 + " (-ServerCertificate "
             "<TrustAuthorityKeyProviderServerCertificate[]> mandatory); assumed: it is by "
             "pipeline and takes no -KeyProvider (the certificate names its provider)")
def add_server_certificate(world: World, a: AddServerCertArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    given = [x for x in (a.certificate, a.file, a.server) if x is not None]
    if len(given) != 1:
        raise InputError("Add-TrustAuthorityKeyProviderServerCertificate takes one of "
                         "-Certificate, -FilePath or -ServerCertificate", what="argument",
                         value=len(given), choices=["certificate", "file", "server"])
    if a.server is not None:
        ders: tuple[bytes, ...] = (_presented(world, name, a.server),)
    else:
        ders = certificates_in(world, a.certificate or a.file or "")
    return _change(world, name, "Add key provider server certificate", f"trusted server "
                   f"certificates of key provider {name}",
                   lambda p: p.with_trusted_server_certificates(
                       (*p.trusted_server_certificates_der, *ders)), key_provider=name,
                   server_certificates=[crypto.sha256(d).hex() for d in ders])


class SetServerCertArgs(KeyProviderRefArgs):
    certificate: Annotated[str, PS(type="X509Certificate2[]")] = Field(
        description="The certificates to trust, replacing the trusted list (lab: a file "
                    "holding them).")


@verb("Set-TrustAuthorityKeyProviderServerCertificate", summary="Replace the KMIP server "
      "certificates a key provider trusts.", args=SetServerCertArgs, side="ta",
      source=_HELP133 + " (-Certificate <X509Certificate2[]> and -KeyProvider "
             "<TrustAuthorityKeyProvider> mandatory, [-TrustAuthorityCluster]); " + _HELPER +
             " (-KeyProvider -TrustAuthorityCluster -Certificate); vAPI "
             "trusted_peer_certificates.update; assumed: -KeyProvider by pipeline, as on its "
             "siblings' pages")
def set_server_certificates(world: World, a: SetServerCertArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    ders = certificates_in(world, a.certificate)
    return _change(world, name, "Update key provider server certificates", f"trusted server "
                   f"certificates of key provider {name}",
                   lambda p: p.with_trusted_server_certificates(ders), key_provider=name,
                   server_certificates=[crypto.sha256(d).hex() for d in ders])


class RemoveServerCertArgs(Args):
    ps_ta_context: ClassVar[bool] = False
    ps_composites: ClassVar[tuple[PSComposite, ...]] = (PSComposite(
        "ServerCertificate", _SERVER_CERT.fields, _SERVER_CERT.type, pipeline=True),)
    key_provider: Annotated[str | None, PS(hidden=True)] = Field(
        None, description="The key provider (default: the lab's).")
    server: Annotated[str, PS(hidden=True)] = Field(
        description="The KMIP server whose presented certificate to stop trusting.")


@verb("Remove-TrustAuthorityKeyProviderServerCertificate", summary="Stop trusting the "
      "certificate a KMIP server presents.", args=RemoveServerCertArgs, side="ta",
      confirm="High",
      source=_HELP133 + " (-ServerCertificate <TrustAuthorityKeyProviderServerCertificate[]> "
             "mandatory, its only parameter; example: Get-...ServerCertificate -KeyProvider "
             "mykp | select -First 1 passed to it); assumed: by pipeline, like "
             "Remove-TrustAuthorityKeyProviderServer -KeyProviderServer on its page")
def remove_server_certificate(world: World, a: RemoveServerCertArgs) -> Outcome:
    name = _provider_name(world, a.key_provider)
    der = _presented(world, name, a.server)
    trusted = _config(world, name).trusted_server_certificates_der
    if der not in trusted:
        raise InputError(f"the certificate KMIP server {a.server} presents is not in key "
                         f"provider {name}'s trusted list (it may be trusted through the CA "
                         "that issued it: Set-TrustAuthorityKeyProviderServerCertificate "
                         "replaces the list)", what="server certificate", value=a.server)
    return _change(world, name, "Remove key provider server certificate", f"trusted server "
                   f"certificates of key provider {name}",
                   lambda p: p.with_trusted_server_certificates(
                       tuple(d for d in p.trusted_server_certificates_der if d != der)),
                   key_provider=name, server_certificates=[crypto.sha256(der).hex()])


# -- the KMS administrator's side (outside vCenter) ------------------------------------------
class KmsFileArgs(Args):
    file: Annotated[str, PS(name="FilePath", position=0)] = Field(
        description="The file handed over.")


@verb("kms-trust-client-certificate", kind="lab", summary="KMS administrator: register a "
      "client certificate (Export-TrustAuthorityKeyProviderClientCertificate) on every KMIP "
      "server.", args=KmsFileArgs, side="kms", source=KMS_GUIDE)
def kms_trust_client(world: World, a: KmsFileArgs) -> Outcome:
    ders = certificates_in(world, a.file)
    for server in world.kms.servers:
        for der in ders:
            server.trust_client_certificate(der)
    world.kernel.record("kms", "kms.client_trusted", file=a.file,
                        certificates=[crypto.sha256(d).hex() for d in ders],
                        message=f"KMS {world.kms.name}: client certificate from {a.file} "
                                "trusted on every KMIP server")
    return Outcome(True, message=f"client certificate from {a.file} trusted by "
                                 f"{world.kms.name}")


class SignCsrArgs(Args):
    file: Annotated[str, PS(name="FilePath", position=0)] = Field(
        description="The CSR (Get-TrustAuthorityKeyProviderClientCertificateCSR, saved).")
    out: Annotated[str, PS(name="OutFile", position=1)] = Field(
        description="The file to write the signed certificate to.")


def _kms_ca(world: World) -> tuple[crypto.Certificate, crypto.PrivateKey]:
    ca = crypto.cert_from_der(world.kms_identity.ca_certificate_der)
    return ca, crypto.derive_private_key(world.seed, f"kms/{world.kms.name}/ca")


@verb("kms-sign-csr", kind="lab", summary="KMS administrator: sign a key provider's CSR with "
      "the KMS CA (the KMS then trusts the certificate).", args=SignCsrArgs, side="kms",
      source=KMS_GUIDE)
def kms_sign_csr(world: World, a: SignCsrArgs) -> Outcome:
    value = _file(world, a.file, (tuple, str, bytes))
    try:
        if isinstance(value, tuple) and value and value[0] == "csr":
            csr = bytes(value[1])
        else:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            csr = crypto.csr_from_pem(text)
        ca, key = _kms_ca(world)
        now = world.kernel.utc()
        cert = crypto.sign_csr(csr, ca, key, now - timedelta(minutes=5),
                               now + timedelta(days=365), org="vtalab Trust Authority")
    except ValueError as exc:
        raise InputError(f"file {a.file!r} is not a certificate signing request ({exc})",
                         what="file", value=a.file) from None
    world.files[a.out] = ("certificate", crypto.cert_der(cert))
    return Outcome(True, message=f"CSR {a.file} signed by the {world.kms.name} CA into "
                                 f"{a.out}")


class IssueClientArgs(Args):
    file: Annotated[str, PS(name="FilePath", position=0)] = Field(
        description="The file to write the client certificate to.")
    key_file: Annotated[str, PS(name="KeyFilePath", position=1)] = Field(
        description="The file to write its private key to.")


@verb("kms-issue-client-certificate", kind="lab", summary="KMS administrator: issue a client "
      "certificate and private key for the key provider (signed by the KMS CA).",
      args=IssueClientArgs, side="kms", source=KMS_GUIDE)
def kms_issue_client(world: World, a: IssueClientArgs) -> Outcome:
    identity = world.kms_identity
    world.files[a.file] = ("certificate", identity.certificate_der)
    world.files[a.key_file] = ("private-key", _key_pem(identity.private_key))
    return Outcome(True, message=f"client certificate {a.file} and key {a.key_file} issued by "
                                 f"the {world.kms.name} CA")


@verb("kms-export-ca-certificate", kind="lab", summary="KMS administrator: hand over the KMS "
      "CA certificate (it issued every KMIP server's certificate).", args=KmsFileArgs,
      side="kms", source=KMS_GUIDE)
def kms_export_ca(world: World, a: KmsFileArgs) -> Outcome:
    world.files[a.file] = ("certificate", world.kms_identity.ca_certificate_der)
    return Outcome(True, message=f"{world.kms.name} CA certificate written to {a.file}")


# -- a fault: the KMS server certificate is replaced ------------------------------------------
class ServerCertFaultArgs(Args):
    server: str | None = Field(None, description="The KMIP server (default: every one).")


@fault("kms-server-certificate-replaced", summary="The KMS administrator replaces a KMIP "
       "server's certificate with a self-signed one the key provider does not trust.",
       stands_for="KMS server certificate rotated without updating the trusted key "
                  "provider (TAKMSClusterUnavaliable)",
       args=ServerCertFaultArgs, source=KMS_GUIDE)
def kms_server_cert_replaced(world: World, a: ServerCertFaultArgs) -> Outcome:
    servers = list(world.kms.servers) if a.server is None else [world.kms.server(a.server)]
    now = world.kernel.utc()
    for s in servers:
        n = _counter(world, f"server-cert/{s.name}")
        key = crypto.derive_private_key(world.seed, f"kms/{s.name}/renewed-key/{n}")
        cert = crypto.make_server_certificate(
            s.address, key, dns_names=(s.address,), ip_addresses=(),
            not_before=now - timedelta(minutes=5), not_after=now + timedelta(days=365),
            org="vtalab KMS (renewed)")
        s.set_server_certificate(cert, key)
    world.kernel.record("kms", "fault.kms_server_certificate",
                        servers=[s.name for s in servers],
                        message=f"KMS administrator replaced the server certificate of "
                                f"{', '.join(s.name for s in servers)} (self-signed)")
    return Outcome(True, message=f"server certificate replaced on "
                                 f"{', '.join(s.name for s in servers)}")
