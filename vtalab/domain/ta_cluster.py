"""The Trust Authority cluster: TA hosts, their applied objects, attestd and kmxd.

Most vTA configuration lives **on the TA hosts**, not in vCenter: every cluster object
(state, principals, base images, TPM CA certificates, endorsement keys, TPM 2.0 settings,
trusted key providers) is pushed to *every* TA host, and each object's **health** says
whether the hosts agree (``OK``), disagree (``ERROR``: "not all hosts in the cluster are in
a consistent state"), cannot all be asked (``WARNING``: a member host is down) or hold
nothing (``NONE``). A host removed and re-added comes back empty: health shows it until
the configuration is re-applied.

Apply semantics [assumed]: a ``New-*`` object is applied to every member host that lacks
it; it fails with ``already_exists`` only when every member host already holds it. This
is what lets an operator re-apply a backup to a rebuilt TA host.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self, TypeVar

from vtalab.core import crypto
from vtalab.core.trace import canonical
from vtalab.domain.attestation import (
    AttestationTokens,
    Evidence,
    IssuedNonce,
    NonceBook,
    Principal,
    Tpm2Settings,
    TrustConfig,
    Verdict,
    evaluate,
    nonce_verdict,
    token_claims,
)
from vtalab.domain.base_image import BaseImageStore
from vtalab.domain.key_provider import KeyProviderService

if TYPE_CHECKING:
    from collections.abc import Callable

    from vtalab.core.kernel import Kernel
    from vtalab.core.parameters import Parameters
    from vtalab.domain.vcenter import VCenter
    from vtalab.esxi.host import EsxiHost

__all__ = ["OBJECT_KINDS", "AttestationService", "KeyTable", "Table", "TaConfig", "TaHost",
           "TrustAuthorityCluster", "attestd_signing_key"]

_V = TypeVar("_V")

#: The TA cluster objects whose health is reported (names as in the vSphere API).
OBJECT_KINDS = ("state", "principals", "base_images", "tpm2_ca_certificates",
                "tpm2_endorsement_keys", "tpm2_settings", "key_providers")

#: PCRs quoted for attestation: firmware + Secure Boot policy, and esx-boot's 11-14.
QUOTE_PCRS = (0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14)


class Table(dict[str, _V]):
    """One of a TA host's applied object tables (name -> object) that counts its changes.

    Why: every attestation asks its TA host for the trust configuration; building a fresh
    :class:`TrustConfig` snapshot each time copied every table. :meth:`TaConfig.trust_config`
    keeps the snapshot and builds it again only when a table's ``revision`` (bumped by every
    mutating method) or a replaced table says the contents may have changed."""

    revision = 0  # class default: also after unpickling (the state then restores it)

    def _changed(self) -> None:
        self.revision += 1

    def __setitem__(self, key: str, value: _V) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> tuple[str, _V]:
        self._changed()
        return super().popitem()

    def clear(self) -> None:
        self._changed()
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(key, default)

    def __ior__(self, other: Any) -> Self:  # type: ignore[override,misc]
        self._changed()
        super().update(other)
        return self


class KeyTable(Table[bytes]):
    """A TA host's registered endorsement keys (name -> SPKI DER), which keeps the set of
    its keys ready for the verifier and rebuilds it only after a change.

    Why: an estate that registers every host's EK (``New-TrustAuthorityTpm2EndorsementKey``,
    ``RequireEndorsementKey``) has one key per trusted host, and every attestation asks
    whether the host's key is among them. Copying the keys into a tuple and scanning it at
    each attestation made an attestation cost grow with the hosts (10,000 hosts: 10,000
    keys copied and compared per attestation, the day quadratic in the hosts)."""

    _frozen: frozenset[bytes] | None = None  # class default: also after unpickling

    def keys_set(self) -> frozenset[bytes]:
        if self._frozen is None:
            self._frozen = frozenset(self.values())
        return self._frozen

    def _changed(self) -> None:
        super()._changed()
        self._frozen = None


#: TaConfig's tables and the class each is kept in (a plain dict assigned is wrapped)
_TABLE_CLASSES: dict[str, type[Table[Any]]] = {
    "principals": Table, "tpm_ca_certificates": Table, "endorsement_keys": KeyTable}


@dataclass
class TaConfig:
    """The Trust Authority objects applied on one TA host (its own copy)."""

    enabled: bool = False
    principals: dict[str, Principal] = field(default_factory=Table)
    base_images: BaseImageStore = field(default_factory=BaseImageStore)
    tpm_ca_certificates: dict[str, bytes] = field(default_factory=Table)
    endorsement_keys: dict[str, bytes] = field(default_factory=KeyTable)
    settings: Tpm2Settings = field(default_factory=Tpm2Settings)
    #: the last trust_config(): (principals, CA certificates, endorsement keys, base images,
    #: the state it was built in, the snapshot) -- see trust_config
    _trust: tuple[Any, Any, Any, Any, tuple[Any, ...], TrustConfig] | None = field(
        default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        wanted = _TABLE_CLASSES.get(name)
        if wanted is not None and not isinstance(value, wanted):
            value = wanted(value)  # a restored backup assigns a plain dict
        super().__setattr__(name, value)

    def trust_config(self) -> TrustConfig:
        """The verifier's snapshot of this copy: the same object until something changes
        (building one per attestation copied every table every time).

        It is remembered with the tables it was built from, compared by identity (a
        restored backup assigns new tables), and the state it was built in: the plain
        fields and each table's change counter (a table changed in place). A table that
        counts no changes (only ``object.__setattr__`` could put one here) is never
        remembered."""
        p, c, k, b = (self.principals, self.tpm_ca_certificates, self.endorsement_keys,
                      self.base_images)
        state = (self.enabled, self.settings, getattr(p, "revision", None),
                 getattr(c, "revision", None), getattr(k, "revision", None),
                 getattr(b, "revision", None))
        cached = self._trust
        if (cached is not None and cached[0] is p and cached[1] is c and cached[2] is k
                and cached[3] is b and cached[4] == state):
            return cached[5]
        keys = self.endorsement_keys
        trust = TrustConfig(
            enabled=self.enabled,
            principals=tuple(self.principals.values()),
            base_images=self.base_images.snapshot(),
            tpm_ca_certificates_der=tuple(self.tpm_ca_certificates.values()),
            endorsement_keys_der=(keys.keys_set() if isinstance(keys, KeyTable)
                                  else frozenset(keys.values())),
            settings=self.settings,
        )
        self._trust = None if None in state[2:] else (p, c, k, b, state, trust)
        return trust


def attestd_signing_key(seed: int, ta_host: str) -> crypto.PrivateKey:
    """The token-signing key of attestd on ``ta_host`` (derived from the world's seed).

    One definition: the service signs with it, and the key-release invariants derive it
    again to re-verify tokens without trusting kmxd's list of trusted keys.
    """
    return crypto.derive_private_key(seed, f"ta/{ta_host}/attestd")


class AttestationService:
    """``attestd`` on one TA host: its signing key and certificate, and the verdict."""

    def __init__(self, kernel: Kernel, params: Parameters, host: EsxiHost, group: str,
                 issuer: VCenter) -> None:
        self.kernel = kernel
        self.params = params
        self.host = host
        self.group = group
        self.name = f"{host.name}/attestd"
        self._source = f"trust-authority/{self.name}"  # of its trace records
        self._log_source = f"{host.name}/attestd.log"  # of its log lines (made once)
        self.key = attestd_signing_key(kernel.seed, host.name)
        self.kid = crypto.key_id(self.key)
        #: (EK, AK) pairs that passed a credential challenge here (registrar-like)
        self.bound_aks: set[tuple[bytes, bytes]] = set()
        #: host -> (time, attested, first reason) of this service's latest verdict on it
        self.latest: dict[str, tuple[float, bool, str | None]] = {}
        #: each TPM's last authentic (resetCount, restartCount, clock), keyed by EK
        self.tpm_counters: dict[bytes, tuple[int, int, int]] = {}
        #: nonces issued to trusted hosts (single use, bound to the host, expiring)
        self.nonces = NonceBook(self.name, params.nonce_lifetime_seconds)
        self._nonce_streams = kernel.streams.child("nonce").child(self.name)
        self._nonces_issued = 0
        start = kernel.utc()
        self.certificate = crypto.issue_certificate(
            f"attestd.{host.name}", self.key, issuer.sts_certificate, issuer.sts_key,
            start - timedelta(days=1),
            start + timedelta(days=params.certificate_validity_days), org="vTA")

    @property
    def running(self) -> bool:
        return self.host.is_up and self.host_services().get("attestd", False)

    def host_services(self) -> dict[str, bool]:
        return getattr(self.host, "services", {})

    def issue_nonce(self, host: str) -> IssuedNonce:
        """A fresh 32-byte nonce for ``host``'s next attestation request.

        Drawn from this service's named stream (``nonce/<service>``, one draw per issue), so
        the sequence depends only on the seed and this service's own history.
        """
        self._nonces_issued += 1
        nonce = self._nonce_streams.bytes(f"{host}#{self._nonces_issued}", 32)
        record = self.nonces.issue(nonce, host, self.kernel.now)
        self.kernel.record(self._source, "attest.nonce", host=host, service=self.name,
                           nonce=nonce.hex(), expires=record.expires_at)
        return record

    def attest(self, evidence: Evidence, config: TaConfig,
               activate: Callable[[bytes, bytes], bytes | None]
               ) -> tuple[Verdict, AttestationTokens | None]:
        """Evaluate one attestation request; tokens only when it passed (the
        ``REPORTING_JWT`` signed when first read, see :class:`AttestationTokens`).

        The request's nonce (``evidence.nonce``) must be one this service issued to the
        requesting host, unused and unexpired; it is consumed here.
        """
        kernel = self.kernel
        now = kernel.now
        host = evidence.host
        problem = self.nonces.consume(evidence.nonce, host, now)
        if problem is not None:
            verdict = nonce_verdict(problem, self.nonces.refusal(problem, evidence.nonce, host))
        else:
            verdict = evaluate(
                evidence, config.trust_config(), nonce=evidence.nonce, activate=activate,
                now=kernel.utc(), challenge_label=f"{self.name}|{host}|{now}",
                bound_aks=self.bound_aks, counters=self.tpm_counters,
                unsafe_clock=self.params.unsafe_clock_policy)
        findings = verdict.findings
        self.latest[host] = (now, verdict.attested,
                             findings[0].reason.value if findings else None)
        log = kernel.log
        name = self.host.name
        for warning in verdict.warnings:
            log(name, "attestd.log",
                f"Attestation of {evidence.host}: warning: {warning.reason.value}: "
                f"{warning.message}", level="warning", source=self._log_source)
        if verdict.attested:
            kms, reporting = token_claims(verdict, host=host, service_name=self.name,
                                          group=self.group, iat=kernel.epoch_seconds(),
                                          lifetime=int(self.params.token_lifetime_seconds))
            tokens = AttestationTokens(kms, reporting, self.key, self.kid,
                                       crypto.is_simulated())
            log(name, "attestd.log",
                f"Attestation of {evidence.host} succeeded: trusted base image "
                f"{verdict.matched_base_image}; KMS_AUTH_JWT issued", source=self._log_source)
            return verdict, tokens
        for finding in findings:
            log(name, "attestd.log",
                f"Attestation of {evidence.host} failed: {finding.reason.value}: "
                f"{finding.message}", level="error", source=self._log_source)
        return verdict, None


#: (object kind, raw contents) -> fingerprint, shared by every TA host (same copy, same
#: digest): see :meth:`TaHost.fingerprint`.
_FINGERPRINTS: dict[tuple[str, Any], str] = {}


class TaHost:
    """A member of the TA cluster: the ESXi host, its applied objects, attestd and kmxd."""

    def __init__(self, host: EsxiHost, attestd: AttestationService,
                 kmxd: KeyProviderService) -> None:
        self.host = host
        self.config = TaConfig()
        self.attestd = attestd
        self.kmxd = kmxd
        self.member = True

    @property
    def name(self) -> str:
        return self.host.name

    def fingerprint(self, kind: str) -> str:
        """A canonical digest of this host's copy of one object kind (for health).

        Health is asked for after every rule of a state machine; the digest is remembered
        by the object's raw contents (a cheap hashable key: ``bytes`` cache their hash),
        so only a changed copy is encoded and hashed again.
        """
        c = self.config
        key: Any
        if kind == "state":
            key = c.enabled
        elif kind == "principals":
            key = tuple((p.issuer, tuple(p.certificates_der)) for p in c.principals.values())
        elif kind == "base_images":
            key = tuple(c.base_images.versions())
        elif kind == "tpm2_ca_certificates":
            key = tuple(c.tpm_ca_certificates.values())
        elif kind == "tpm2_endorsement_keys":
            key = tuple(c.endorsement_keys.values())
        elif kind == "tpm2_settings":
            key = (c.settings.require_certificate_validation, c.settings.require_endorsement_keys)
        else:
            return self._fingerprint(kind)
        cached = _FINGERPRINTS.get((kind, key))
        if cached is None:
            if len(_FINGERPRINTS) >= 4096:  # bounded: a long session's old copies go
                _FINGERPRINTS.clear()
            cached = _FINGERPRINTS[(kind, key)] = self._fingerprint(kind)
        return cached

    def _fingerprint(self, kind: str) -> str:
        c = self.config
        value: Any
        if kind == "state":
            value = c.enabled
        elif kind == "principals":
            value = sorted((p.issuer, [d.hex() for d in p.certificates_der])
                           for p in c.principals.values())
        elif kind == "base_images":
            value = sorted(c.base_images.versions())
        elif kind == "tpm2_ca_certificates":
            value = sorted(d.hex() for d in c.tpm_ca_certificates.values())
        elif kind == "tpm2_endorsement_keys":
            value = sorted(d.hex() for d in c.endorsement_keys.values())
        elif kind == "tpm2_settings":
            value = [c.settings.require_certificate_validation,
                     c.settings.require_endorsement_keys]
        elif kind == "key_providers":
            value = sorted(canonical(p.record()) for p in self.kmxd.providers.values())
        else:  # pragma: no cover - guarded by OBJECT_KINDS
            raise KeyError(kind)
        return hashlib.sha256(canonical(value).encode()).hexdigest()

    def is_empty(self, kind: str) -> bool:
        c = self.config
        return {
            "state": not c.enabled,
            "principals": not c.principals,
            "base_images": not len(c.base_images),
            "tpm2_ca_certificates": not c.tpm_ca_certificates,
            "tpm2_endorsement_keys": not c.endorsement_keys,
            "tpm2_settings": False,
            "key_providers": not self.kmxd.providers,
        }[kind]


class TrustAuthorityCluster:
    """The TA cluster, managed by the TA vCenter."""

    def __init__(self, kernel: Kernel, name: str, vcenter: VCenter, group: str,
                 key_release_policy: str = "token") -> None:
        self.kernel = kernel
        self.key_release_policy = key_release_policy
        self.name = name
        self.vcenter = vcenter
        self.group = group
        self.hosts: dict[str, TaHost] = {}
        #: base image version -> simulated time of the last successful attestation
        self.last_attested: dict[str, float] = {}

    @property
    def members(self) -> list[TaHost]:
        return [h for h in self.hosts.values() if h.member]

    def reachable_members(self) -> list[TaHost]:
        return [h for h in self.members if h.host.is_up]

    def health(self, kind: str) -> str:
        members = self.members
        if not members:
            return "NONE"
        up = [h for h in members if h.host.is_up]
        if all(h.is_empty(kind) for h in up) and kind not in ("state", "tpm2_settings"):
            return "NONE" if len(up) == len(members) else "WARNING"
        prints = {h.fingerprint(kind) for h in up}
        if len(prints) > 1:
            return "ERROR"
        return "OK" if len(up) == len(members) else "WARNING"

    def apply(self, fn: Callable[[TaHost], bool]) -> list[str]:
        """Apply a change to every reachable member; returns the hosts it changed."""
        return [h.name for h in self.reachable_members() if fn(h)]

    def latest_verdict(self, host: str) -> tuple[float, bool, str | None] | None:
        """The latest verdict of any member's attestd on ``host`` (time, attested, reason)."""
        verdicts = [m.attestd.latest[host] for m in self.members if host in m.attestd.latest]
        return max(verdicts, key=lambda v: v[0]) if verdicts else None

    def new_kmxd(self, ta_host: str) -> KeyProviderService:
        """kmxd for a TA host of this cluster: it records every key release in the trace."""
        def record(**fields: Any) -> None:
            self.kernel.record(f"trust-authority/{ta_host}/kmxd", "key.release", **fields)

        return KeyProviderService(ta_host, self.group, record=record,
                                  latest_verdict=self.latest_verdict,
                                  policy=self.key_release_policy)

    def refresh_trust(self) -> None:
        """kmxd trusts the signing keys of every attestd of its group in the cluster."""
        for member in self.hosts.values():
            member.kmxd.trusted_attestation_keys.clear()
            if not member.member:
                continue
            for other in self.members:
                member.kmxd.trust_attestation_key(other.attestd.kid,
                                                  other.attestd.key.public_key())
