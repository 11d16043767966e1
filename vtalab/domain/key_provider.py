"""The Key Provider Service (``kmxd``) of a Trust Authority host: trusted key providers
and key release.

A **trusted key provider** (``New-TrustAuthorityKeyProvider``) names a primary key, the
KMIP servers to ask, the KMIP credentials, the client certificate ``kmxd`` presents and
the server certificates it trusts. It is pushed to every TA host; here it is a frozen
:class:`TrustedKeyProvider` whose password never shows in ``repr`` or :meth:`record`.

One :class:`KeyProviderService` runs per TA host, in the attestation/key-provider
**group** its host serves. A trusted host asks it for a key directly (vCenter is not
involved) and presents its ``KMS_AUTH_JWT``; :meth:`KeyProviderService.release_key` then
checks, in order [doc §6, order within the token checks: attestation module]:

1. ``kmxd`` is running (``service_stopped``);
2. the provider is configured on this host (``key_provider_not_configured``);
3. a token was presented (``no_token``);
4. the token verifies against the signing keys of the Attestation Services of this group,
   is for the presenting host and this group, and is within its validity
   (``token_forged`` / ``token_wrong_host`` / ``token_wrong_group`` / ``token_expired`` /
   ``token_not_yet_valid``, from :func:`vtalab.domain.attestation.verify_kms_token`);
5. the key is fetched from the KMS with the **provider's own** credentials and client
   certificate, trying the provider's KMIP servers in order (``kms_unreachable`` /
   ``kms_certificate_expired`` / ``kms_auth_failed`` / ``key_not_found``).

Every outcome is a :class:`KeyRelease` value with a reason code and ``kmxd.log``-style
lines for the caller to write to the trace. :meth:`KeyProviderService.status` reports
each KMIP server's connection status, as ``Get-TrustAuthorityKeyProviderServer`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from vtalab.core import crypto
from vtalab.core.kernel import format_time
from vtalab.domain.attestation import verify_kms_token
from vtalab.domain.kms import (
    KMIP_PORT,
    ClientIdentity,
    KmsAttempt,
    KmsCluster,
    ServerState,
    build_kms,
)
from vtalab.domain.reasons import Reason, render
from vtalab.errors import OperationError

__all__ = [
    "KeyProviderService",
    "KeyRelease",
    "KmipServerRef",
    "ServerStatus",
    "TrustedKeyProvider",
    "build_kms",
    "provider_for",
]

#: ``record(**fields)``: writes one ``key.release`` trace event (the world's kernel)
Recorder = Callable[..., Any]
#: ``latest_verdict(host)``: ``(time, attested, reason)`` of the latest verdict of this
#: group's Attestation Services on ``host``, or ``None`` (for ``key_release_policy``)
VerdictLookup = Callable[[str], "tuple[float, bool, str | None] | None"]

_STOPPED = Reason("service_stopped")
_NOT_CONFIGURED = Reason("key_provider_not_configured")
_NO_TOKEN = Reason("no_token")


@dataclass(frozen=True, slots=True)
class KmipServerRef:
    """A KMIP server as a key provider lists it (``…KeyProviderServer``)."""

    name: str
    address: str
    port: int = KMIP_PORT

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, int(self.port)


@dataclass(frozen=True)
class TrustedKeyProvider:
    """A trusted key provider as ``New-TrustAuthorityKeyProvider`` creates it.

    The password is a secret: ``repr`` shows ``'***'`` and :meth:`record` (for traces and
    exports) leaves it out.
    """

    name: str
    primary_key_id: str
    servers: tuple[KmipServerRef, ...]
    username: str
    password: str
    client_certificate_der: bytes
    trusted_server_certificates_der: tuple[bytes, ...] = ()
    #: the private key of the client certificate, kept by kmxd (never shown or recorded)
    client_private_key: crypto.PrivateKey | None = field(default=None, repr=False,
                                                         compare=False)
    #: the pending certificate signing request (DER) and the key it was made for
    csr_der: bytes = b""
    csr_private_key: crypto.PrivateKey | None = field(default=None, repr=False, compare=False)
    #: the key server settings the vAPI Providers.KeyServerInfo carries beside the KMIP
    #: servers (``-Description``, ``-ProxyAddress``/``-ProxyPort``,
    #: ``-ConnectionTimeoutSeconds``, ``-Type``): stored and reported, not simulated (the
    #: lab's KMIP traffic goes through no proxy and never times out)
    description: str = ""
    proxy_address: str | None = None
    proxy_port: int | None = None
    connection_timeout_seconds: int | None = None
    type: str = "KMIP"

    def __post_init__(self) -> None:
        if not self.name:
            raise OperationError("a trusted key provider needs a name", what="name",
                                 value=self.name)
        object.__setattr__(self, "servers", tuple(self.servers))
        object.__setattr__(self, "trusted_server_certificates_der",
                           tuple(self.trusted_server_certificates_der))

    def __repr__(self) -> str:
        servers = ", ".join(f"{s.name}@{s.address}:{s.port}" for s in self.servers)
        return (f"TrustedKeyProvider(name={self.name!r}, primary_key_id="
                f"{self.primary_key_id!r}, servers=[{servers}], username={self.username!r}, "
                f"password='***', client_certificate=<{len(self.client_certificate_der)} "
                f"bytes>, trusted_server_certificates={len(self.trusted_server_certificates_der)})")

    __str__ = __repr__

    def with_password(self, password: str) -> TrustedKeyProvider:
        """The same provider with new KMIP credentials (``Set-TrustAuthorityKeyProvider``)."""
        return replace(self, password=password)

    def with_primary_key(self, key_id: str) -> TrustedKeyProvider:
        return replace(self, primary_key_id=key_id)

    def with_settings(self, **changes: Any) -> TrustedKeyProvider:
        """The provider with other key server settings (``Set-TrustAuthorityKeyProvider
        -Description/-ProxyAddress/-ProxyPort/-ConnectionTimeoutSeconds/-KmipServerUsername
        /-Type``); ``None`` values leave a setting as it is."""
        allowed = {"description", "proxy_address", "proxy_port", "connection_timeout_seconds",
                   "type", "username"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise OperationError(f"unknown key provider setting {unknown[0]!r}",
                                 what="setting", value=unknown[0], choices=sorted(allowed))
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def server(self, name: str) -> KmipServerRef:
        for s in self.servers:
            if s.name == name:
                return s
        raise OperationError(f"key provider {self.name!r} has no KMIP server {name!r}",
                             what="key provider server", value=name,
                             choices=[s.name for s in self.servers])

    def with_server(self, ref: KmipServerRef) -> TrustedKeyProvider:
        """The provider with one more KMIP server (``Add-TrustAuthorityKeyProviderServer``)."""
        if any(s.name == ref.name for s in self.servers):
            raise OperationError(f"key provider {self.name!r} already has a KMIP server named "
                                 f"{ref.name!r}", what="name", value=ref.name)
        if any(s.endpoint == ref.endpoint for s in self.servers):
            raise OperationError(f"key provider {self.name!r} already has a KMIP server at "
                                 f"{ref.address}:{ref.port}", what="address", value=ref.address)
        return replace(self, servers=(*self.servers, ref))

    def with_servers(self, refs: tuple[KmipServerRef, ...],
                     username: str | None = None) -> TrustedKeyProvider:
        """The provider with exactly these KMIP servers (and ``username`` when given), as
        the vAPI ``Providers.update`` replaces ``kmip_server``; at least one, no two with
        the same name or endpoint."""
        if not refs:
            raise OperationError(f"key provider {self.name!r} needs at least one KMIP server",
                                 what="servers", value=[])
        names = [r.name for r in refs]
        for i, ref in enumerate(refs):
            if ref.name in names[:i]:
                raise OperationError(f"two KMIP servers named {ref.name!r}", what="name",
                                     value=ref.name)
            if ref.endpoint in [r.endpoint for r in refs[:i]]:
                raise OperationError(f"two KMIP servers at {ref.address}:{ref.port}",
                                     what="address", value=ref.address)
        return replace(self, servers=tuple(refs),
                       username=self.username if username is None else username)

    def without_server(self, name: str) -> TrustedKeyProvider:
        """The provider without KMIP server ``name``; a provider keeps at least one."""
        self.server(name)
        if len(self.servers) == 1:
            raise OperationError(f"{name!r} is the only KMIP server of key provider "
                                 f"{self.name!r}; a key provider needs at least one",
                                 what="key provider server", value=name)
        return replace(self, servers=tuple(s for s in self.servers if s.name != name))

    def with_client_certificate(self, certificate_der: bytes,
                                key: crypto.PrivateKey) -> TrustedKeyProvider:
        """A new client certificate and its key (the pending CSR is used up when the
        certificate answers it)."""
        used = self.csr_private_key is not None and crypto.key_id(
            self.csr_private_key) == crypto.key_id(key)
        return replace(self, client_certificate_der=bytes(certificate_der),
                       client_private_key=key, csr_der=b"" if used else self.csr_der,
                       csr_private_key=None if used else self.csr_private_key)

    def with_csr(self, csr_der: bytes, key: crypto.PrivateKey) -> TrustedKeyProvider:
        return replace(self, csr_der=bytes(csr_der), csr_private_key=key)

    def with_trusted_server_certificates(self, ders: tuple[bytes, ...]) -> TrustedKeyProvider:
        unique = tuple(dict.fromkeys(bytes(d) for d in ders))
        return replace(self, trusted_server_certificates_der=unique)

    def record(self) -> dict[str, Any]:
        """A JSON-able description without the password (for traces and exports)."""
        return {
            "name": self.name,
            "primary_key_id": self.primary_key_id,
            "servers": [{"name": s.name, "address": s.address, "port": s.port}
                        for s in self.servers],
            "username": self.username,
            "password": "***",
            "client_certificate_sha256": (crypto.sha256(self.client_certificate_der).hex()
                                          if self.client_certificate_der else None),
            "csr_sha256": crypto.sha256(self.csr_der).hex() if self.csr_der else None,
            "trusted_server_certificates_sha256": [
                crypto.sha256(d).hex() for d in self.trusted_server_certificates_der],
            # the key server settings only once set (traces of labs that never set them
            # stay as they were)
            **{k: v for k, v in (("description", self.description),
                                 ("proxy_address", self.proxy_address),
                                 ("proxy_port", self.proxy_port),
                                 ("connection_timeout_seconds",
                                  self.connection_timeout_seconds))
               if v not in ("", None)},
            **({"type": self.type} if self.type != "KMIP" else {}),
        }


def provider_for(name: str, kms: KmsCluster, identity: ClientIdentity,
                 primary_key_id: str) -> TrustedKeyProvider:
    """A provider that uses every server of ``kms`` with ``identity``'s credentials."""
    return TrustedKeyProvider(
        name=name,
        primary_key_id=primary_key_id,
        servers=tuple(KmipServerRef(s.name, s.address, s.port) for s in kms.servers),
        username=identity.username,
        password=identity.password,
        client_certificate_der=identity.certificate_der,
        trusted_server_certificates_der=identity.trusted_server_certificates_der,
    )


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """One row of ``Get-TrustAuthorityKeyProviderServer``: a provider's KMIP server."""

    provider: str
    server: str
    address: str
    port: int
    status: ServerState
    reason: Reason | None
    message: str
    #: kmxd trusts the server's certificate (vAPI ``client_trust_server``)
    client_trust_server: bool = True
    #: the server trusts kmxd's client certificate (vAPI ``server_trust_client``)
    server_trust_client: bool = True


@dataclass(frozen=True)
class KeyRelease:
    """The Key Provider Service's answer to one key request (a value, never an exception).

    ``log`` holds ``kmxd.log`` lines (each naming the reason code) for the caller to
    write to the trace; ``attempts`` the per-KMIP-server outcomes when the KMS was asked.
    """

    ok: bool
    key_id: str | None
    material: bytes | None = field(repr=False)
    reason: Reason | None
    message: str
    log: list[str] = field(default_factory=list)
    provider: str | None = None
    server: str | None = None
    attempts: tuple[KmsAttempt, ...] = ()


class KeyProviderService:
    """``kmxd`` on one TA host, serving one attestation/key-provider group."""

    def __init__(self, host: str, group: str, *, record: Recorder | None = None,
                 latest_verdict: VerdictLookup | None = None, policy: str = "token") -> None:
        if policy not in ("token", "latest_verdict"):
            raise ValueError(f"key release policy must be 'token' or 'latest_verdict', "
                             f"got {policy!r}")
        self.host = host
        self.group = group
        self.providers: dict[str, TrustedKeyProvider] = {}
        self.trusted_attestation_keys: dict[str, crypto.PublicKey] = {}
        self.running = True
        #: every answer of release_key is recorded here, at the source (see release_key)
        self.record = record
        self.latest_verdict = latest_verdict
        self.policy = policy

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"KeyProviderService(host={self.host!r}, group={self.group!r}, {state}, "
                f"providers={sorted(self.providers)})")

    # -- service life-cycle -----------------------------------------------------------------
    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    # -- configuration ------------------------------------------------------------------------
    def provider(self, name: str) -> TrustedKeyProvider:
        try:
            return self.providers[name]
        except KeyError:
            raise OperationError(f"no trusted key provider {name!r} on TA host {self.host}",
                                 what="key provider", value=name,
                                 choices=sorted(self.providers)) from None

    def add_provider(self, provider: TrustedKeyProvider) -> None:
        """Apply a new provider (``New-TrustAuthorityKeyProvider``); its name must be new."""
        if provider.name in self.providers:
            raise OperationError(f"trusted key provider {provider.name!r} already exists on "
                                 f"TA host {self.host}", what="key provider",
                                 value=provider.name)
        self.providers[provider.name] = provider

    def set_provider(self, provider: TrustedKeyProvider) -> None:
        """Replace an existing provider (``Set-TrustAuthorityKeyProvider``)."""
        self.provider(provider.name)
        self.providers[provider.name] = provider

    def remove_provider(self, name: str) -> TrustedKeyProvider:
        """Remove a provider (``Remove-TrustAuthorityKeyProvider``) and return it."""
        provider = self.provider(name)
        del self.providers[name]
        return provider

    def trust_attestation_key(self, kid: str, key: crypto.PublicKey) -> None:
        """Accept tokens signed by an Attestation Service of this group (key id ``kid``)."""
        self.trusted_attestation_keys[kid] = key

    def distrust_attestation_key(self, kid: str) -> None:
        if kid not in self.trusted_attestation_keys:
            raise OperationError(f"attestation signing key {kid!r} is not trusted on TA host "
                                 f"{self.host}", what="key id", value=kid,
                                 choices=sorted(self.trusted_attestation_keys))
        del self.trusted_attestation_keys[kid]

    # -- key release --------------------------------------------------------------------------
    def _refuse(self, reason: Reason, message: str, *, host: str, provider: str,
                key_id: str | None, log: list[str],
                attempts: tuple[KmsAttempt, ...] = ()) -> KeyRelease:
        log.append(f"Key request from {host} for key {key_id or '<primary>'} of provider "
                   f"{provider} refused: reason={reason.value}: {message}")
        return KeyRelease(False, key_id, None, reason, message, log, provider, None, attempts)

    def release_key(self, *, token: str | None, host: str, provider: str, key_id: str | None,
                    kms: KmsCluster, now: datetime, now_epoch: int) -> KeyRelease:
        """Release key ``key_id`` (default: the provider's primary key) to trusted ``host``.

        ``now`` is the simulated calendar time (certificate validity), ``now_epoch`` the
        same instant in Unix seconds (token ``iat``/``exp``).

        Every answer is recorded (``record``) as a ``key.release`` event: a release
        carries the token kmxd accepted and the identity it verified (``kid``, ``iss``,
        ``sub``, ``group``, ``iat``, ``exp``), so an invariant can re-verify the token and
        match it with the attestation that issued it, whoever asked for the key.
        """
        release, claims = self._release(token=token, host=host, provider=provider,
                                        key_id=key_id, kms=kms, now=now, now_epoch=now_epoch)
        if self.record is not None:
            refusal = release.reason.value if release.reason else "?"
            shown = release.key_id or key_id or "<primary>"
            fields: dict[str, Any] = dict(
                host=host, key_id=release.key_id or key_id, provider=provider,
                ok=release.ok, reason=release.reason.value if release.reason else None,
                token_sub=claims.get("sub"), token_exp=claims.get("exp"),
                now_epoch=now_epoch, group=self.group,
                message=(f"kmxd on {self.host}: key {shown[:8]}… "
                         + (f"released to {host}" if release.ok else
                            f"refused to {host} ({refusal})")))
            if release.ok:
                decoded = crypto.jwt_decode(token) if token else None
                fields.update(token=token, token_kid=decoded.header.get("kid") if decoded
                              else None, token_iss=claims.get("iss"),
                              token_iat=claims.get("iat"), token_group=claims.get("group"))
            self.record(**fields)
        return release

    def _release(self, *, token: str | None, host: str, provider: str, key_id: str | None,
                 kms: KmsCluster, now: datetime, now_epoch: int
                 ) -> tuple[KeyRelease, dict[str, Any]]:
        """The answer and the token's claims (verified when the token was accepted)."""
        claims: dict[str, Any] = _unverified_claims(token) if token else {}
        release = self._decide(token=token, host=host, provider=provider, key_id=key_id,
                               kms=kms, now=now, now_epoch=now_epoch, claims=claims)
        return release, claims

    def _decide(self, *, token: str | None, host: str, provider: str, key_id: str | None,
                kms: KmsCluster, now: datetime, now_epoch: int,
                claims: dict[str, Any]) -> KeyRelease:
        log: list[str] = []
        detail = {"host": host, "provider": provider, "group": self.group,
                  "service": "kmxd"}
        if not self.running:
            message = (f"kmxd on TA host {self.host} is stopped; key request from {host} "
                       "not served")
            return self._refuse(_STOPPED, message, host=host, provider=provider,
                                key_id=key_id, log=log)
        config = self.providers.get(provider)
        if config is None:
            configured = ", ".join(sorted(self.providers)) or "none"
            message = (render(_NOT_CONFIGURED, detail)
                       + f" (TA host {self.host} has: {configured})")
            return self._refuse(_NOT_CONFIGURED, message, host=host, provider=provider,
                                key_id=key_id, log=log)
        key_id = key_id or config.primary_key_id
        if not token:
            return self._refuse(_NO_TOKEN, render(_NO_TOKEN, detail), host=host,
                                provider=provider, key_id=key_id, log=log)
        problem = verify_kms_token(token, trusted_keys=self.trusted_attestation_keys,
                                   host=host, group=self.group, now_epoch=now_epoch)
        if problem is not None:
            token_detail = dict(detail)
            claims = _unverified_claims(token)
            token_detail["token_group"] = claims.get("group", "?")
            token_detail["token_host"] = claims.get("sub", "?")
            return self._refuse(problem, render(problem, token_detail), host=host,
                                provider=provider, key_id=key_id, log=log)
        if self.policy == "latest_verdict" and self.latest_verdict is not None:
            latest = self.latest_verdict(host)
            if latest is not None and not latest[1]:
                superseded = Reason.TOKEN_SUPERSEDED
                message = render(superseded, dict(detail, failed_reason=latest[2] or "?",
                                                  failed_at=format_time(latest[0])))
                return self._refuse(superseded, message, host=host, provider=provider,
                                    key_id=key_id, log=log)
        log.append(f"Attestation token of {host} accepted (group {self.group})")
        result = kms.get_key(key_id, username=config.username, password=config.password,
                             client_cert_der=config.client_certificate_der, now=now,
                             trusted_server_certs_der=config.trusted_server_certificates_der,
                             endpoints=[s.endpoint for s in config.servers])
        for attempt in result.attempts:
            if not attempt.ok:
                log.append(f"KMIP server {attempt.server} ({attempt.address}:{attempt.port}) "
                           f"{attempt.status.value}: reason={attempt.reason}: "
                           f"{attempt.message}")
        if not result.ok:
            assert result.reason is not None
            kms_detail = dict(detail, key_id=key_id, which=result.message)
            message = render(result.reason, kms_detail)
            if result.reason.value != "kms_certificate_expired":
                message += f" ({result.message})"
            return self._refuse(result.reason, message, host=host, provider=provider,
                                key_id=key_id, log=log, attempts=result.attempts)
        message = (f"Key {key_id} of provider {provider} released to {host} "
                   f"(KMIP server {result.server})")
        log.append(message)
        return KeyRelease(True, key_id, result.material, None, message, log, provider,
                          result.server, result.attempts)

    # -- status -------------------------------------------------------------------------------
    def status(self, kms: KmsCluster, now: datetime, provider: str | None = None
               ) -> list[ServerStatus]:
        """Each KMIP server's connection status per provider (providers by name).

        ``provider`` restricts the report to one provider (unknown names raise). The
        status is the KMS connectivity of the provider's credentials; it is computed even
        while ``kmxd`` is stopped.
        """
        names = [self.provider(provider).name] if provider is not None else sorted(
            self.providers)
        rows: list[ServerStatus] = []
        for name in names:
            config = self.providers[name]
            attempts = kms.probe(username=config.username, password=config.password,
                                 client_cert_der=config.client_certificate_der, now=now,
                                 trusted_server_certs_der=config.trusted_server_certificates_der,
                                 endpoints=[s.endpoint for s in config.servers])
            for ref, attempt in zip(config.servers, attempts, strict=True):
                server = kms.at(ref.address, ref.port)
                trusts_server = server is not None and server.client_trust_problem(
                    config.trusted_server_certificates_der, now) is None
                trusts_client = server is not None and server.client_certificate_problem(
                    config.client_certificate_der, now) is None
                rows.append(ServerStatus(name, ref.name, ref.address, ref.port, attempt.status,
                                         attempt.reason, attempt.message, trusts_server,
                                         trusts_client))
        return rows


def _unverified_claims(token: str) -> dict[str, Any]:
    decoded = crypto.jwt_decode(token)
    return decoded.claims if decoded is not None else {}
