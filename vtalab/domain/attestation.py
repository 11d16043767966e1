"""The Attestation Service's verdict on a trusted host: a pure function of evidence and policy.

A trusted host presents :class:`Evidence` (its principal token, TPM identity, a quote over
a fresh nonce and its boot event log); a TA host judges it against its applied copy of the
cluster objects, :class:`TrustConfig`. :func:`evaluate` returns a :class:`Verdict`:
``attested`` plus :class:`Finding` s carrying stable reason codes
(:mod:`vtalab.domain.reasons`). Nothing here raises for a bad host: a forged quote, an
unknown EK or a disabled cluster is a finding, never an exception.

Checks, **in this order** (vta-domain.md §5):

1. the TA cluster is enabled;
2. the request comes from a **trusted principal**: the workload vCenter's STS token
   verifies with one of the imported STS certificates, names this host and is current;
3. **TPM identity** per :class:`Tpm2Settings` (EK certificate chains to an imported TPM CA
   and certifies the EK; and/or the EK public key is in the imported list);
4. the **AK is bound to the EK**: MakeCredential to the EK for the AK's Name, and the
   host's TPM (the ``activate`` callback) must give the secret back;
5. the **quote**: well formed, signed by that AK, over this attestation's nonce, covering
   the PCRs attestation reads (:data:`REQUIRED_PCRS`);
6. the **event log** parses and its replay gives the quoted PCR digest;
7. the measured ESXi version is a **trusted base image** and the fleet-wide module digests
   match it (host-specific items tolerated);
8. **Secure Boot** was on (the ``SecureBoot`` variable measured into PCR 7).

Checks 1–6 are identity and integrity: the first failure stops evaluation (nothing after
it could be believed). Checks 7 and 8 are policy over evidence already proven genuine, so
both are reported together.

A TA host sees the same host present the same EK certificate, keys, event log and PCR
selection at every attestation between two boots: :func:`evaluate` remembers what such a
request shape decides apart from the time and the request's own quote (bounded, see
:class:`_Static`) and runs only the rest per request; the plain step-by-step evaluation
(:func:`_evaluate_steps`) is kept, used for inputs the memo cannot key, and the tests
check that both give the same verdicts on generated and damaged evidence. Per request
only the nonce, the time, the quote's clock and signature and (once per round of the
services) the principal token differ: a token that passed is remembered (``_TOKENS``),
a quote is compared byte for byte with the shape's last passing one but for its nonce
and clock (:func:`_quote_passes`), and a request that passes without a warning gets
the shape's passing verdict, the same object while the TPM's counters stay.

Assumptions (not public, [assumed]): the default TPM settings (see :class:`Tpm2Settings`);
that when both settings are on, both must hold; that with neither on, any EK is accepted
(identity then rests on the AK binding alone); that the AK must be a restricted signing
key; the principal token's shape (ES256 JWT with ``iss``/``sub``/``iat``/``exp``); the
attestation token claims; the credential-challenge secret derivation.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

from vtalab.core import crypto
from vtalab.core.frozen import maker
from vtalab.core.kernel import format_time
from vtalab.domain.base_image import BaseImage
from vtalab.domain.reasons import Reason, render
from vtalab.esxi import measure as _measure
from vtalab.esxi.measure import MeasuredBoot, read_measured_boot
from vtalab.tpm import eventlog as _eventlog
from vtalab.tpm import marshal as _marshal
from vtalab.tpm.credential import make_credential
from vtalab.tpm.device import pcr_digest, verify_quote
from vtalab.tpm.eventlog import Event, parse_eventlog, replay

__all__ = [
    "AUD_KMS",
    "AUD_REPORTING",
    "REQUIRED_PCRS",
    "AttestationTokens",
    "TYP_KMS",
    "TYP_REPORTING",
    "BaseImage",
    "Evidence",
    "Finding",
    "IssuedNonce",
    "NonceBook",
    "Principal",
    "TrustConfig",
    "Tpm2Settings",
    "Verdict",
    "credential_secret",
    "evaluate",
    "issue_tokens",
    "nonce_verdict",
    "token_claims",
    "verify_kms_token",
]

#: PCRs the quote must cover: 7 (Secure Boot policy) and 11–14 (what esx-boot measures).
REQUIRED_PCRS: tuple[int, ...] = (7, 11, 12, 13, 14)

TYP_KMS = "KMS_AUTH_JWT"
TYP_REPORTING = "REPORTING_JWT"
AUD_KMS = "kms"
AUD_REPORTING = "reporting"


# -- configuration ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Tpm2Settings:
    """``Get/Set-TrustAuthorityTpm2AttestationSettings``.

    ``require_certificate_validation``: the EK certificate must chain to an imported TPM CA
    certificate (and certify the EK the host uses). ``require_endorsement_keys``: the EK
    public key must be one of the imported endorsement keys — the only way a host without
    an EK certificate can attest. Both on: both must hold. Both off: any EK is accepted.
    The defaults (validation on, EK list off) are **[assumed]**: VMware does not document
    them.
    """

    require_certificate_validation: bool = True
    require_endorsement_keys: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """A trusted principal: a workload vCenter's STS signing certificates (DER)."""

    issuer: str  #: e.g. ``vcsa-wld.lab.local``
    certificates_der: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class TrustConfig:
    """One TA host's applied copy of the TA cluster objects (vta-domain.md §2)."""

    enabled: bool = True
    principals: tuple[Principal, ...] = ()
    base_images: tuple[BaseImage, ...] = ()
    tpm_ca_certificates_der: tuple[bytes, ...] = ()  #: chain, root first
    #: SPKI DER, asked only ``in`` (a TA host passes a frozenset: one lookup, not a scan)
    endorsement_keys_der: tuple[bytes, ...] | frozenset[bytes] = ()
    settings: Tpm2Settings = field(default_factory=Tpm2Settings)

    def base_image(self, version: str | None) -> BaseImage | None:
        return next((b for b in self.base_images if b.version == version), None)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a trusted host presents to an Attestation Service."""

    host: str
    principal_token: str  #: ES256 JWT signed by the workload vCenter's STS
    ek_certificate_der: bytes | None
    ek_public_der: bytes  #: SPKI DER of the EK
    ak_public: bytes  #: TPM2B_PUBLIC of the AK (its Name is nameAlg || SHA-256 of the area)
    quote_attest: bytes  #: TPMS_ATTEST
    quote_signature: bytes  #: TPMT_SIGNATURE
    eventlog: bytes  #: TCG crypto-agile log
    pcr_selection: tuple[int, ...]
    #: the nonce the Attestation Service issued for this request (the quote must carry it)
    nonce: bytes = b""


# -- nonces -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IssuedNonce:
    """A nonce an Attestation Service issued: to whom, when, until when (simulated s)."""

    nonce: bytes
    host: str
    service: str
    issued_at: float
    expires_at: float


#: ``IssuedNonce(...)`` at every attestation, without the frozen dataclass's ``__init__``
_issued_nonce = maker(IssuedNonce)


class NonceBook:
    """The nonces one Attestation Service issued: bound to a host, single use, expiring.

    A trusted host asks the service for a nonce before it quotes (:meth:`issue`); the
    service redeems it when the evidence arrives (:meth:`redeem`) and refuses a nonce it
    never issued (``nonce_not_issued``), one already used (``nonce_reused``), one issued
    to another host (``nonce_wrong_host``) or one past its lifetime (``nonce_expired``).
    Redeeming consumes the nonce whether or not the rest of the attestation passes; a
    nonce presented by the wrong host is *not* consumed (otherwise any host could void
    another's pending request). Spent and expired nonces are remembered for one more
    lifetime, so a replay soon after is reported precisely; after that they are
    forgotten (``nonce_not_issued``), which keeps the book bounded by the issue rate.
    """

    def __init__(self, service: str, lifetime: float) -> None:
        if not lifetime > 0:
            raise ValueError(f"nonce lifetime must be positive, got {lifetime}")
        self.service = service
        self.lifetime = float(lifetime)
        self._issued: dict[bytes, IssuedNonce] = {}
        self._spent: dict[bytes, float] = {}  # nonce -> when it was redeemed
        self._oldest = _NEVER  # the oldest nonce's expiry (see _oldest below)

    #: The expiry of the oldest nonce (infinity while none is held): :meth:`_forget` has
    #: nothing to drop while it is above ``now - lifetime`` -- the very test it starts
    #: with -- so issue and redeem call it only then. The class default makes a book
    #: pickled without the field look once.
    _oldest = -float("inf")

    def __len__(self) -> int:
        return len(self._issued)

    def issue(self, nonce: bytes, host: str, now: float) -> IssuedNonce:
        """Record ``nonce`` as issued to ``host`` at ``now`` (it must be new)."""
        if self._oldest <= now - self.lifetime:  # _forget's own first test
            self._forget(now)
        if nonce in self._issued:
            raise ValueError(f"nonce {nonce.hex()} issued twice by {self.service}")
        record = _issued_nonce(nonce, host, self.service, now, now + self.lifetime)
        if not self._issued:
            self._oldest = record.expires_at
        self._issued[nonce] = record
        return record

    def redeem(self, nonce: bytes, host: str, now: float
               ) -> tuple[Reason | None, dict[str, Any]]:
        """Check and consume ``nonce`` presented by ``host``: ``(None, detail)`` if valid."""
        problem = self.consume(nonce, host, now)
        if problem is None:
            return None, {"host": host, "service": self.service, "nonce": nonce.hex()}
        return problem, self.refusal(problem, nonce, host)

    def consume(self, nonce: bytes, host: str, now: float) -> Reason | None:
        """:meth:`redeem` without the detail: why ``nonce`` is refused (``None``: valid,
        and consumed). The detail of a refusal is :meth:`refusal`, asked right after."""
        if self._oldest <= now - self.lifetime:  # _forget's own first test
            self._forget(now)
        record = self._issued.get(nonce)
        if record is None:
            return Reason.NONCE_NOT_ISSUED
        if record.host != host:
            return Reason.NONCE_WRONG_HOST
        spent = self._spent
        if nonce in spent:
            return Reason.NONCE_REUSED
        spent[nonce] = now
        if now >= record.expires_at:
            return Reason.NONCE_EXPIRED
        return None

    def refusal(self, problem: Reason, nonce: bytes, host: str) -> dict[str, Any]:
        """The detail of ``problem``, which :meth:`consume` just gave for ``nonce``."""
        out: dict[str, Any] = {"host": host, "service": self.service, "nonce": nonce.hex()}
        record = self._issued.get(nonce)
        if record is not None:
            out.update(issued_to=record.host, issued_at=format_time(record.issued_at),
                       expired_at=format_time(record.expires_at))
        if problem is Reason.NONCE_REUSED:
            out["used_at"] = format_time(self._spent[nonce])
        return out

    def _forget(self, now: float) -> None:
        """Drop nonces that expired more than one lifetime ago (bounded memory)."""
        horizon = now - self.lifetime
        # dicts keep issue order and expiry = issue + lifetime: the oldest come first.
        # One pass finds them, then they go: taking the first entry again after each
        # deletion rescans the emptied slots at the front of the dict every time, which
        # made each hour's forgetting quadratic in the hosts (10,000 hosts: 30 ms per
        # service and hour, 30 us at 1,000).
        issued, spent = self._issued, self._spent
        expired = []
        self._oldest = _NEVER
        for nonce, record in issued.items():
            if record.expires_at > horizon:
                self._oldest = record.expires_at
                break
            expired.append(nonce)
        for nonce in expired:
            del issued[nonce]
            spent.pop(nonce, None)


_NEVER = float("inf")


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Finding:
    """One reason the host is not attested (``detail`` holds JSON-able values only)."""

    reason: Reason
    message: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason.value, "message": self.message, "detail": dict(self.detail)}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The Attestation Service's answer for one host and one nonce."""

    attested: bool
    findings: tuple[Finding, ...] = ()
    measured_version: str | None = None
    matched_base_image: str | None = None
    secure_boot: bool | None = None
    reset_count: int | None = None
    restart_count: int | None = None
    safe: bool | None = None
    pcrs: Mapping[int, str] = field(default_factory=dict)  #: quoted PCR -> value (hex)
    #: what the verifier noticed without failing the host (undecodable claim-only records,
    #: a quote with ``safe`` = 0 under the ``report`` policy ...)
    warnings: tuple[Finding, ...] = ()

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(f.reason for f in self.findings)

    @property
    def warning_reasons(self) -> tuple[Reason, ...]:
        return tuple(f.reason for f in self.warnings)

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(f.message for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields for a trace event (stable key set)."""
        return {
            "attested": self.attested,
            "reasons": [r.value for r in self.reasons],
            "findings": [f.as_dict() for f in self.findings],
            "measured_version": self.measured_version,
            "matched_base_image": self.matched_base_image,
            "secure_boot": self.secure_boot,
            "reset_count": self.reset_count,
            "restart_count": self.restart_count,
            "safe": self.safe,
            "pcrs": {str(k): v for k, v in sorted(self.pcrs.items())},
            "warnings": [f.as_dict() for f in self.warnings],
        }


# -- evaluation ------------------------------------------------------------------------------
def credential_secret(challenge_label: str) -> bytes:
    """The MakeCredential secret for one challenge (deterministic, 32 bytes) [assumed]."""
    return hashlib.sha256(f"vtalab-attest-credential|{challenge_label}".encode()).digest()


class _Stop(Exception):
    """Internal: an identity/integrity check failed; evaluation ends with its finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.reason.value)
        self.finding = finding


class _Evaluation:
    """The state of one evaluation (what is known so far goes into the verdict)."""

    # one is made per request: no instance dict to allocate and look attributes up in
    __slots__ = ("config", "ev", "known", "now", "now_epoch", "policy", "unsafe_clock",
                 "warnings")

    def __init__(self, evidence: Evidence, config: TrustConfig, now: datetime,
                 unsafe_clock: str = "report") -> None:
        self.ev = evidence
        self.config = config
        self.unsafe_clock = unsafe_clock
        self.warnings: list[Finding] = []
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self.now_epoch = int(self.now.timestamp())
        self.known: dict[str, Any] = {}
        self.policy: list[Finding] = []

    def finding(self, reason: Reason, **detail: Any) -> Finding:
        detail = {"host": self.ev.host, **detail}
        return Finding(reason, render(reason, detail), detail)

    def stop(self, reason: Reason, **detail: Any) -> _Stop:
        return _Stop(self.finding(reason, **detail))

    # 1 ---------------------------------------------------------------------------------------
    def cluster(self) -> None:
        if not self.config.enabled:
            raise self.stop(Reason.TA_CLUSTER_DISABLED)

    # 2 ---------------------------------------------------------------------------------------
    def principal(self) -> None:
        token, principals = self.ev.principal_token, self.config.principals
        if type(token) is str:
            try:
                signed = _signed_by(token, principals)
            except TypeError:  # a certificate given as a bytearray: not remembered
                signed = _signed_by.__wrapped__(token, principals)
        else:
            signed = _signed_by.__wrapped__(token, principals)
        if signed is None:
            raise self.stop(Reason.UNTRUSTED_PRINCIPAL, problem="malformed token")
        if signed is False:
            issuer = crypto.jwt_decode(token).claims.get("iss")  # type: ignore[union-attr]
            raise self.stop(Reason.UNTRUSTED_PRINCIPAL,
                            problem="not signed by any imported STS certificate",
                            issuer=str(issuer) if issuer is not None else None)
        principal, claims = signed
        problem = self._principal_claims(claims, principal)
        if problem:
            raise self.stop(Reason.UNTRUSTED_PRINCIPAL, problem=problem,
                            issuer=principal.issuer)

    def _principal_claims(self, claims: dict[str, Any], principal: Principal) -> str | None:
        get = claims.get
        iss, sub, iat, exp = get("iss"), get("sub"), get("iat"), get("exp")
        if iss != principal.issuer:
            return f"issuer {iss!r} is not {principal.issuer!r}"
        if sub != self.ev.host:
            return f"token is for {sub!r}"
        if not _is_int(iat) or not _is_int(exp):
            return "token has no validity period"
        if self.now_epoch < iat:
            return "token not yet valid"
        if self.now_epoch >= exp:
            return "token expired"
        return None

    # 3 ---------------------------------------------------------------------------------------
    def tpm_identity(self) -> None:
        settings = self.config.settings
        ek_id = _key_id_of(self.ev.ek_public_der)
        if settings.require_certificate_validation:
            if not self.ev.ek_certificate_der:
                raise self.stop(Reason.EK_CERTIFICATE_MISSING)
            ek_der, anchors = self.ev.ek_certificate_der, self.config.tpm_ca_certificates_der
            simulated = crypto.is_simulated()
            facts = (_ek_certificate(ek_der, anchors, simulated)
                     if type(ek_der) is bytes and all(type(a) is bytes for a in anchors)
                     else _ek_certificate.__wrapped__(ek_der, anchors, simulated))
            if facts.unusable is not None:
                raise self.stop(Reason.UNTRUSTED_EK_CA, problem=facts.unusable)
            problem = crypto.path_problem(facts.steps, facts.final, self.now)
            if problem is not None:
                raise self.stop(Reason.UNTRUSTED_EK_CA, problem=problem,
                                issuer=crypto.cert_from_der(ek_der).issuer.rfc4514_string())
            if facts.certified is None:  # parsed, but its key is of a kind nobody can use
                raise self.stop(Reason.EK_CERTIFICATE_MISMATCH, ek_key_id=ek_id,
                                certified_key_id="unreadable")
            if facts.certified != self.ev.ek_public_der:
                raise self.stop(Reason.EK_CERTIFICATE_MISMATCH, ek_key_id=ek_id,
                                certified_key_id=_key_id_of(facts.certified))
        if settings.require_endorsement_keys and \
                self.ev.ek_public_der not in self.config.endorsement_keys_der:
            raise self.stop(Reason.EK_NOT_REGISTERED, ek_key_id=ek_id)

    # 4 ---------------------------------------------------------------------------------------
    def ak_binding(self, activate: Callable[[bytes, bytes], bytes | None],
                   challenge_label: str,
                   bound: set[tuple[bytes, bytes]] | None = None
                   ) -> tuple[crypto.PublicKey, bytes]:
        """The AK's key and the qualifiedSigner its quotes must carry."""
        ek_der, ak_public = self.ev.ek_public_der, self.ev.ak_public
        facts = (_ak_facts(ek_der, ak_public)
                 if type(ek_der) is bytes and type(ak_public) is bytes
                 else _ak_facts.__wrapped__(ek_der, ak_public))
        if isinstance(facts, str):
            raise self.stop(Reason.AK_NOT_BOUND, problem=facts)
        return self.bind(facts, activate, challenge_label, bound)

    def bind(self, facts: tuple[crypto.PublicKey, bytes, bytes, crypto.PublicKey],
             activate: Callable[[bytes, bytes], bytes | None], challenge_label: str,
             bound: set[tuple[bytes, bytes]] | None) -> tuple[crypto.PublicKey, bytes]:
        """Step 4 after :func:`_ak_facts` found the AK usable: the credential challenge,
        unless this EK/AK pair already passed one here."""
        ek, signer, area, ak_key = facts
        pair = (self.ev.ek_public_der, self.ev.ak_public)
        if bound is not None and pair in bound:
            return ak_key, signer  # this EK/AK pair already passed a credential challenge
        secret = credential_secret(challenge_label)
        blob, seed = make_credential(ek, _marshal.object_name(area), secret,
                                     f"{challenge_label}|ephemeral".encode())
        answer = activate(blob, seed)
        if answer is None or answer != secret:
            raise self.stop(Reason.AK_NOT_BOUND, problem="credential activation failed")
        if bound is not None:
            bound.add(pair)
        return ak_key, signer

    # 5 ---------------------------------------------------------------------------------------
    def quote(self, ak: crypto.PublicKey, signer: bytes, nonce: bytes,
              counters: dict[bytes, tuple[int, int, int]] | None = None) -> _marshal.Attest:
        problems = verify_quote(ak, self.ev.quote_attest, self.ev.quote_signature, nonce)
        if problems:  # (a good quote, the common case, skips the sorting out)
            malformed = [p for p in problems
                         if p in ("malformed_attest", "bad_magic", "bad_type")]
            if malformed:
                raise self.stop(Reason.QUOTE_MALFORMED, problem=", ".join(malformed))
            if any(p in ("malformed_signature", "bad_signature") for p in problems):
                raise self.stop(Reason.BAD_QUOTE_SIGNATURE)
        data = self.ev.quote_attest  # verify_quote parsed it: the parse is remembered
        attest = (_marshal.parse_attest_shared(data) if type(data) is bytes
                  else _marshal.parse_attest(data))
        clock = attest.clock_info
        known = self.known
        known["reset_count"] = clock.reset_count
        known["restart_count"] = clock.restart_count
        known["safe"] = clock.safe
        if problems:
            if "nonce_mismatch" in problems:
                raise self.stop(Reason.NONCE_MISMATCH, expected=nonce.hex(),
                                quoted=attest.extra_data.hex())
            # a problem verify_quote may learn later: never accept what we missed
            raise self.stop(Reason.QUOTE_MALFORMED, problem=", ".join(problems))
        if attest.qualified_signer != signer:
            raise self.stop(Reason.QUOTE_SIGNER_MISMATCH,
                            quoted=attest.qualified_signer.hex(), expected=signer.hex())
        self._counters(clock, counters)
        quoted = attest.pcrs
        missing = [p for p in REQUIRED_PCRS if p not in quoted]
        if missing:
            raise self.stop(Reason.QUOTE_PCRS_MISSING, missing=missing, quoted=quoted)
        if tuple(sorted(set(self.ev.pcr_selection))) != tuple(quoted):
            raise self.stop(Reason.QUOTE_MALFORMED,
                            problem="the quoted PCR selection is not the one presented",
                            presented=list(self.ev.pcr_selection), quoted=quoted)
        return attest

    def _counters(self, clock: _marshal.ClockInfo,
                  counters: dict[bytes, tuple[int, int, int]] | None) -> None:
        """resetCount/restartCount (and Clock within one boot) never go back for a TPM;
        ``safe`` = 0 is reported or refused per the ``unsafe_clock_policy``."""
        now = (clock.reset_count, clock.restart_count, clock.clock)
        if counters is not None:
            key = self.ev.ek_public_der  # the TPM: its endorsement key
            last = counters.get(key)
            if last is not None:
                what = None
                if now[0] < last[0]:
                    what = "resetCount"
                elif now[0] == last[0] and now[1] < last[1]:
                    what = "restartCount"
                elif now[:2] == last[:2] and now[2] < last[2]:
                    what = "clock"
                if what is not None:
                    raise self.stop(Reason.QUOTE_ROLLBACK, counter=what,
                                    last=list(last), quoted=list(now))
            counters[key] = now
        if not clock.safe:
            finding = self.finding(Reason.QUOTE_CLOCK_UNSAFE, clock=clock.clock,
                                   reset_count=clock.reset_count,
                                   policy=self.unsafe_clock)
            if self.unsafe_clock == "reject":
                raise _Stop(finding)
            self.warnings.append(finding)

    # 6 ---------------------------------------------------------------------------------------
    def eventlog(self, attest: _marshal.Attest) -> tuple[bytes, tuple[int, ...]]:
        pcrs = tuple(attest.pcrs)
        try:
            replayed = _quoted_replay(self.ev.eventlog, pcrs)
        except ValueError as exc:
            raise self.stop(Reason.EVENTLOG_MALFORMED, problem=str(exc)) from None
        if replayed.digest != attest.pcr_digest:
            raise self.stop(Reason.EVENTLOG_MISMATCH,
                            problem="replaying it does not give the quoted PCR digest",
                            quoted_digest=attest.pcr_digest.hex(),
                            replayed_digest=replayed.digest.hex())
        self.known["pcrs"] = dict(replayed.pcrs_hex)
        for pcr, index, event_type, problem in replayed.undecoded:
            self.warnings.append(self.finding(
                Reason.EVENT_DATA_UNDECODED, pcr=pcr, record=index,
                event_type=f"0x{event_type:08x}", problem=problem))
        # Only records in quoted PCRs are proven; the rest of the log is ignored. What is
        # returned names those records, (log bytes, quoted PCRs): a cheap, exact cache key.
        return self.ev.eventlog, pcrs

    # 7, 8 ------------------------------------------------------------------------------------
    def measured(self, quoted_log: tuple[bytes, tuple[int, ...]]) -> None:
        try:
            _check_claims_cached(*quoted_log)
        except ValueError as exc:
            raise self.stop(Reason.EVENTLOG_MISMATCH, problem=str(exc)) from None
        try:
            facts = _boot_facts(*quoted_log)
        except ValueError as exc:  # UnicodeDecodeError included
            raise self.stop(Reason.EVENTLOG_MALFORMED, problem=str(exc)) from None
        version = facts.version
        secure_boot = facts.secure_boot
        self.known.update(measured_version=version, secure_boot=secure_boot)
        self._base_image(facts, version)
        if secure_boot is not True:
            self.policy.append(self.finding(
                Reason.SECURE_BOOT_OFF,
                problem="not measured" if secure_boot is None else "SecureBoot=0"))

    def _base_image(self, facts: _BootFacts, version: str | None) -> None:
        image = self.config.base_image(version)
        if image is None:
            self.policy.append(self.finding(
                Reason.UNTRUSTED_BASE_IMAGE, measured_version=version or "unknown",
                trusted=[b.version for b in self.config.base_images]))
            return
        layout = list(facts.layout)
        # Both module lists are sorted (name, digest) pairs: equal lists, equal records
        # and no layout problem is a match, found by one comparison.
        if facts.fleet == image.modules and not layout \
                and facts.records == _sorted_records(image.version_records):
            self.known["matched_base_image"] = image.version
            return
        expected = image.module_digests()
        measured = dict(facts.fleet)
        differ = sorted(n for n in expected if measured.get(n) != expected[n])
        extra = sorted(n for n in measured if n not in expected)
        if differ or extra or layout or facts.records != _sorted_records(image.version_records):
            detail: dict[str, Any] = {"measured_version": version,
                                      "modules": differ + extra + layout
                                      or ["version records"]}
            if extra:
                detail["unexpected"] = extra
            if layout:
                detail["layout"] = layout
            self.policy.append(self.finding(Reason.BASE_IMAGE_MISMATCH, **detail))
            return
        self.known["matched_base_image"] = image.version

    def verdict(self, stop: Finding | None = None) -> Verdict:
        findings = (stop,) if stop is not None else tuple(self.policy)
        return Verdict(attested=not findings, findings=findings,
                       warnings=tuple(self.warnings), **self.known)


# -- memoised pure steps ---------------------------------------------------------------------
# A host presents the same event log at every attestation between two full boots, and
# parsing, replaying and reading it is most of an attestation's cost. These are pure
# functions of their (immutable, hashable) inputs, so caching them cannot change a verdict;
# errors are not cached and are raised again. Callers treat the results as read-only.
@functools.lru_cache(maxsize=crypto.MEMO_SIZE)
def _parse_ak(data: bytes) -> tuple[_marshal.EccPublic, bytes, crypto.PublicKey]:
    """The AK's TPM2B_PUBLIC: parsed, its TPMT_PUBLIC area (for the Name), its key."""
    ak = _marshal.parse_public(data)
    return ak, _marshal.Reader(data).tpm2b(), ak.public_key()


@functools.lru_cache(maxsize=crypto.MEMO_SIZE)
def _ak_facts(ek_der: bytes, ak_public: bytes
              ) -> str | tuple[crypto.PublicKey, bytes, bytes, crypto.PublicKey]:
    """Step 4 before the challenge, a pure function of the two keys' bytes: why the AK
    cannot be bound (a problem), or (EK key, the quotes' qualifiedSigner, the AK's
    TPMT_PUBLIC, the AK's key)."""
    try:
        ek = crypto.public_from_der(ek_der)
        signer = _ak_qualified_name(ek_der, ak_public)
    except ValueError:
        return "EK public key malformed"
    try:
        ak, area, ak_key = _parse_ak(ak_public)
    except ValueError as exc:
        return f"AK public area malformed: {exc}"
    if not (ak.restricted and ak.sign) or ak.decrypt or ak.name_alg != _marshal.TPM_ALG_SHA256:
        return "the AK is not a restricted SHA-256 signing key"
    return ek, signer, area, ak_key


@functools.lru_cache(maxsize=crypto.MEMO_SIZE)
def _ak_qualified_name(ek_spki_der: bytes, ak_public: bytes) -> bytes:
    """The qualifiedSigner of a quote by this AK created under this EK (Part 1 §16).

    QN(AK) = H(QN(EK) || Name(AK)), QN(EK) = H(TPM_RH_ENDORSEMENT || Name(EK)): the
    layout ``tpm2_createak`` gives an AK under the EK. ``ValueError`` if a key is bad.
    """
    ek_area = _marshal.ek_public_area(crypto.public_from_der(ek_spki_der))
    ek_qn = _marshal.qualified_name(_marshal.u32(_marshal.TPM_RH_ENDORSEMENT),
                                    _marshal.object_name(ek_area))
    return _marshal.qualified_name(ek_qn, _marshal.object_name(_marshal.Reader(ak_public)
                                                                .tpm2b()))


@functools.lru_cache(maxsize=4096)
def _signed_by(token: str, principals: tuple[Principal, ...]
               ) -> tuple[Principal, dict[str, Any]] | Literal[False] | None:
    """Step 2 without the time and the host: the first trusted principal whose imported
    STS certificate verifies ``token`` and the claims it signed (read-only), ``False`` if
    none does, ``None`` if the token is malformed. A pure function of the token's text and
    the certificates' bytes: a host presents the same token until it is re-issued."""
    if not token or not crypto.jwt_wellformed(token):
        return None
    for principal in principals:
        for der in principal.certificates_der:
            key = _sts_key(der if type(der) is bytes else bytes(der))
            if key is None:
                continue
            claims = crypto.jwt_verify(token, key)
            if claims is not None:
                return principal, claims
    return False


@functools.lru_cache(maxsize=crypto.MEMO_SIZE)
def _sts_key(der: bytes) -> crypto.PublicKey | None:
    """The P-256 key of an imported STS certificate (``None``: unreadable or another kind)."""
    try:
        key = crypto.cert_public_key(crypto.cert_from_der(der))
    except ValueError:
        return None
    return key if isinstance(key, crypto.PublicKey) else None


@dataclass(frozen=True, slots=True)
class _EkCertificate:
    """What step 3 needs of an EK certificate and the imported TPM CAs, apart from the
    time: why they cannot be used at all, the chain's validity windows and its answer
    (:func:`crypto.chain_path`) and the certified key (SPKI DER)."""

    unusable: str | None
    steps: tuple[tuple[datetime, datetime, bool], ...] = ()
    final: str | None = None
    certified: bytes | None = None


@functools.lru_cache(maxsize=crypto.MEMO_SIZE)
def _ek_certificate(ek_der: bytes, anchors_der: tuple[bytes, ...], simulated: bool
                    ) -> _EkCertificate:
    """A pure function of the DER bytes: every attestation of a host presents the same EK
    certificate to the same imported CAs, so parsing and chaining happen once (per crypto
    mode, ``simulated``: simulated crypto knows some signatures without checking them,
    see :func:`crypto.chain_path`, and real crypto never takes such an answer)."""
    try:
        cert = crypto.cert_from_der(ek_der)
    except ValueError:
        return _EkCertificate("the EK certificate cannot be parsed")
    anchors = []
    for der in anchors_der:
        try:
            anchors.append(crypto.cert_from_der(der))
        except ValueError:
            continue
    if not anchors:
        return _EkCertificate("no TPM CA certificate imported")
    steps, final = crypto.chain_path(cert, anchors)
    try:
        certified: bytes | None = crypto.cert_key_der(cert)
    except ValueError:
        certified = None
    return _EkCertificate(None, steps, final, certified)


@functools.lru_cache(maxsize=256)
def _parse_and_replay(data: bytes) -> tuple[tuple[Event, ...], tuple[tuple[int, bytes], ...]]:
    """The parsed log and its replay. Only the compact facts below are kept per host
    (:data:`crypto.MEMO_SIZE` of them); this is asked again only for a log not seen yet."""
    log = parse_eventlog(data)
    return tuple(log), tuple(sorted(replay(log).items()))


def _quoted_events(data: bytes, pcrs: tuple[int, ...]) -> list[Event]:
    """The records of the (already parsed) log ``data`` in the quoted PCRs ``pcrs``."""
    selected = set(pcrs)
    return [e for e in _parse_and_replay(data)[0] if e.pcr in selected]


@dataclass(frozen=True, slots=True)
class _Replayed:
    """What step 6 needs of a log, for the quoted PCRs: a few hundred bytes per host."""

    digest: bytes  #: the pcrDigest the replayed values give
    pcrs_hex: tuple[tuple[int, str], ...]  #: quoted PCR -> replayed value (hex)
    undecoded: tuple[tuple[int, int, int, str], ...]  #: (pcr, record, type, problem)


@functools.lru_cache(maxsize=crypto.MEMO_SIZE)
def _quoted_replay(data: bytes, pcrs: tuple[int, ...]) -> _Replayed:
    events, replayed = _parse_and_replay(data)
    values = dict(replayed)
    quoted = [values.get(p, bytes(32)) for p in pcrs]
    selected = set(pcrs)
    undecoded = tuple((e.pcr, index, e.event_type, e.parsed.problem)
                      for index, e in enumerate(events)
                      if e.pcr in selected and isinstance(e.parsed, _eventlog.Undecoded))
    return _Replayed(pcr_digest(quoted),
                     tuple((p, v.hex()) for p, v in zip(pcrs, quoted, strict=True)),
                     undecoded)


@functools.lru_cache(maxsize=crypto.MEMO_SIZE)
def _check_claims_cached(data: bytes, pcrs: tuple[int, ...]) -> None:
    key, events = _records_key_of(data, pcrs)
    if key in _CLAIMS_HOLD:  # the same records as a log whose claims held
        return
    _check_claims(list(events))
    _CLAIMS_HOLD.keep(key, events)  # (holding the records keeps the ids in the key theirs)


# -- what steps 7-8 read of a log, shared by the hosts of one image ---------------------------
# Each host's log is its own bytes, but hosts of one image measure the same records but for
# a few: the EFI images the firmware loads (PCRs 2 and 4: their digests, and the disk in
# their device paths) and esx-boot's host-specific modules (imgdb.tgz, onetime.tgz: their
# digests). Steps 7-8 and the claims check read none of that: read_measured_boot keeps an
# image's digest and path with the image, which _BootFacts leaves out, and a host-specific
# module's digest in the module list, whose host-specific entries _BootFacts leaves out;
# _check_claims skips both kinds of record. So the facts and the claims check are
# functions of the quoted records with those parts left out (_records_key), worked out
# once per image and firmware, not per host (read_measured_boot, the layout and the
# claims: about 200 us of a host's first attestation).
# tests/domain/test_attestation_fast_path.py compares them with the reference on logs
# changed record by record.
def _records_key(events: list[Event]) -> tuple[Any, ...]:
    """The quoted records as steps 7-8 and the claims check read them: each record by its
    identity (the records are shared objects, :func:`vtalab.tpm.eventlog.Event.make`;
    whoever keeps the key keeps the records too, so that their ids stay theirs), but
    ``(PCR, type)`` for an EFI image load and ``(PCR, type, data)`` for a host-specific
    module's record (see above)."""
    parts, key = _PARTS, []
    for e in events:
        held = parts.get(id(e))
        if held is None or held[0] is not e:
            held = (e, _read_part(e))
            parts.keep(id(e), held)
        key.append(held[1])
    return tuple(key)


def _read_part(e: Event) -> int | tuple[Any, ...]:
    """``id(e)``, or what steps 7-8 and the claims check read of ``e`` if that is less."""
    kind = e.event_type
    if kind in _IMAGE_LOADS:
        if e.pcr < _measure.PCR_ESX_BOOT_FIRST:
            return (e.pcr, kind)
        return id(e)  # (read_measured_boot reads it as an esx-boot record)
    p = e.parsed
    if kind == _eventlog.EV_EVENT_TAG and e.pcr >= _measure.PCR_ESX_BOOT_FIRST \
            and isinstance(p, _eventlog.TaggedEvent) and p.tag_id == _measure.TAG_MODULE \
            and _host_specific_module(e.pcr, p.data):
        return (e.pcr, kind, e.data)
    return id(e)


#: id of a record -> (the record, held so that its id stays its own; :func:`_read_part`):
#: a few dozen records shared by the hosts of one image, and a few of each host's own
_PARTS = crypto.Memo(4 * crypto.MEMO_SIZE)


_IMAGE_LOADS = (_eventlog.EV_EFI_BOOT_SERVICES_APPLICATION,
                _eventlog.EV_EFI_BOOT_SERVICES_DRIVER)


@functools.lru_cache(maxsize=1024)
def _host_specific_module(pcr: int, data: bytes) -> bool:
    """Whether esx-boot's module record with ``data`` in ``pcr`` names a host-specific
    module, as :func:`read_measured_boot` decides it (by the name only)."""
    record = Event(pcr, _eventlog.EV_EVENT_TAG, bytes(32),
                   _eventlog.tagged_event_data(_measure.TAG_MODULE, data),
                   _eventlog.TaggedEvent(_measure.TAG_MODULE, data))
    try:
        mb = read_measured_boot([record])
    except ValueError:
        return False
    return bool(mb.modules) and mb.modules.keys() <= mb.host_specific


@functools.lru_cache(maxsize=256)
def _records_key_of(data: bytes, pcrs: tuple[int, ...]
                    ) -> tuple[tuple[Any, ...], tuple[Event, ...]]:
    """:func:`_records_key` of the records of ``data`` in ``pcrs``, and those records."""
    events = tuple(_quoted_events(data, pcrs))
    return _records_key(list(events)), events


#: Records keys (:func:`_records_key`) whose claims held, and those of steps 7-8's facts,
#: each held with its records. An entry serves every host of one image and firmware (a
#: few per estate); a log of its own kind (a host with its own command line, say) is an
#: entry of its own, used once.
_CLAIMS_HOLD = crypto.Memo(4096)
_FACTS = crypto.Memo(4096)


@functools.lru_cache(maxsize=256)
def _read_measured_boot_cached(data: bytes, pcrs: tuple[int, ...]) -> MeasuredBoot:
    return read_measured_boot(_quoted_events(data, pcrs))


@dataclass(frozen=True, slots=True)
class _BootFacts:
    """What steps 7-8 need of a log's measured boot. The parts hosts of one image share
    (modules, version records, layout) are one object for all of them (:func:`_shared`),
    so a 10,000-host estate keeps a few hundred bytes per host, not a parsed log."""

    version: str | None
    secure_boot: bool | None
    fleet: tuple[tuple[str, bytes], ...]  #: fleet modules (name, digest), sorted
    records: tuple[tuple[str, str, str], ...]  #: version records, sorted
    layout: tuple[str, ...]  #: :func:`esx_boot_layout_problems`


_SHARED: dict[Any, Any] = {}


def _shared(value: Any) -> Any:
    """One object for equal immutable values (bounded: starts afresh when full)."""
    if len(_SHARED) >= crypto.MEMO_SIZE:
        _SHARED.clear()
    return _SHARED.setdefault(value, value)


@functools.lru_cache(maxsize=crypto.MEMO_SIZE)
def _boot_facts(data: bytes, pcrs: tuple[int, ...]) -> _BootFacts:
    key, events = _records_key_of(data, pcrs)
    held = _FACTS.get(key)
    if held is None:
        held = (events, _boot_facts_of(data, pcrs))
        _FACTS.keep(key, held)
    return held[1]


def _boot_facts_of(data: bytes, pcrs: tuple[int, ...]) -> _BootFacts:
    """:func:`_boot_facts` worked out (``ValueError`` if the log's esx-boot records are
    malformed)."""
    mb = _read_measured_boot_cached(data, pcrs)
    return _BootFacts(
        version=mb.esxi_version, secure_boot=mb.secure_boot,
        fleet=_shared(tuple(sorted(mb.fleet_modules().items()))),
        records=_shared(tuple(sorted((r.component, r.product, r.version)
                                     for r in mb.versions))),
        layout=_shared(tuple(_measure.esx_boot_layout_problems(mb))))


@functools.lru_cache(maxsize=256)
def _sorted_records(records: tuple[Any, ...]) -> tuple[tuple[str, str, str], ...]:
    """A base image's version records as :class:`_BootFacts` keeps them."""
    return tuple(sorted((r.component, r.product, r.version) for r in records))


_DATA_IS_MEASURED = (_eventlog.EV_EFI_VARIABLE_DRIVER_CONFIG,
                     _eventlog.EV_EFI_VARIABLE_AUTHORITY, _eventlog.EV_SEPARATOR)


def _check_claims(events: list[Event]) -> None:
    """Raise ``ValueError`` if a record's data is not what its digest measured.

    A log proves PCR indexes and digests only; event *data* is a claim. Where the spec
    makes the data the measured thing (UEFI variables, separators, esx-boot's version,
    signer, command-line and asset-tag records) its SHA-256 must be the extended digest,
    or a host could claim ``SecureBoot=1`` while having measured 0. Module records are
    exempt: their digest is of the module payload, which the log does not carry.
    """
    for e in events:
        p = e.parsed
        if e.event_type in _DATA_IS_MEASURED:
            claimed = e.data
        elif (e.event_type == _eventlog.EV_EVENT_TAG and isinstance(p, _eventlog.TaggedEvent)
              and p.tag_id not in (_measure.TAG_MODULE, _measure.TAG_BOOT_OPTION)):
            claimed = p.data
        else:
            continue
        if crypto.sha256(claimed) != e.digest:
            raise ValueError(f"the data of a record in PCR {e.pcr} (event type "
                             f"0x{e.event_type:08x}) does not match its digest")


def nonce_verdict(reason: Reason, detail: Mapping[str, Any]) -> Verdict:
    """The verdict on a request whose nonce :meth:`NonceBook.redeem` refused."""
    return Verdict(attested=False, findings=(Finding(reason, render(reason, detail),
                                                     dict(detail)),))


def evaluate(evidence: Evidence, config: TrustConfig, *, nonce: bytes,
             activate: Callable[[bytes, bytes], bytes | None], now: datetime,
             challenge_label: str,
             bound_aks: set[tuple[bytes, bytes]] | None = None,
             counters: dict[bytes, tuple[int, int, int]] | None = None,
             unsafe_clock: str = "report") -> Verdict:
    """The verdict on ``evidence`` under ``config`` (see the module docstring for the checks).

    ``nonce`` is the one this service issued for this attestation; ``activate`` calls
    TPM2_ActivateCredential on the host's TPM; ``now`` is the simulated time (UTC; naive
    values are taken as UTC); ``challenge_label`` names this challenge (the credential
    secret and ephemeral key are derived from it, so the run is reproducible).

    ``bound_aks`` is the service's registry of (EK, AK) pairs that already passed a
    credential challenge: a registered pair is not challenged again, a new pair is
    challenged and, if it passes, registered [assumed: like Keylime's registrar, vTA's
    exact re-challenge policy is not public]. ``None`` challenges every time.

    ``counters`` is the service's memory of each TPM's last authentic (resetCount,
    restartCount, clock), keyed by EK: a quote that goes back is ``quote_rollback``
    (``None``: not judged). ``unsafe_clock`` is the ``unsafe_clock_policy``: ``report``
    keeps ``safe`` = 0 as a warning, ``reject`` refuses it (``quote_clock_unsafe``).
    """
    if unsafe_clock not in ("report", "reject"):
        raise ValueError(f"unsafe_clock must be 'report' or 'reject', got {unsafe_clock!r}")
    state = _Evaluation(evidence, config, now, unsafe_clock)
    known = _static_facts(evidence, config)
    if known is None:  # inputs the memo cannot key (not bytes, a list ...): step by step
        return _evaluate_steps(state, nonce, activate, challenge_label, bound_aks, counters)
    # Every step runs in the same order as in _evaluate_steps. Where the memo says a
    # time-independent part passes, it is skipped; where it would fail, the step itself
    # runs and raises the very finding it always did (a request failing step 2 still
    # reports step 2: nothing below is consulted before the steps before it passed).
    ev = evidence
    try:
        if not config.enabled:
            state.cluster()  # raises the finding
        # step 2: a token that passed before under equal principals, for this host,
        # passes again while it is current (see _TOKENS); anything else runs the step
        token, principals = ev.principal_token, config.principals
        held = _TOKENS.get(token) if type(token) is str else None
        if held is None or held[1] != ev.host or not held[2] <= state.now_epoch < held[3] \
                or not (held[0] is principals or held[0] == principals):
            state.principal()
            _remember_token(token, principals)
        window = known.identity
        if window is None:
            window = known.identity = _identity_window(
                ev.ek_certificate_der, config.tpm_ca_certificates_der, ev.ek_public_der,
                config.settings.require_certificate_validation)
        if not (window is True or (window is not False and window[0] <= state.now <= window[1])) \
                or (config.settings.require_endorsement_keys
                    and ev.ek_public_der not in config.endorsement_keys_der):
            state.tpm_identity()  # raises the finding
        facts = known.ak
        if facts is None:
            facts = known.ak = _ak_facts(ev.ek_public_der, ev.ak_public)
        if isinstance(facts, str):
            raise state.stop(Reason.AK_NOT_BOUND, problem=facts)
        if bound_aks is not None and (ev.ek_public_der, ev.ak_public) in bound_aks:
            ak, signer = facts[3], facts[1]  # bound before: no challenge (as bind says)
        else:
            ak, signer = state.bind(facts, activate, challenge_label, bound_aks)
        form = known.quote
        counts = None if form is None else _quote_passes(ev, ak, nonce, counters, form)
        if form is not None and counts is not None:
            attest = form[4]  # the same PCRs and digest: the form's quote stands for it
            state.known.update(reset_count=counts[0], restart_count=counts[1], safe=True)
        else:  # not (yet) the plain good quote: the step, with its findings
            attest = state.quote(ak, signer, nonce, counters)
            known.quote = _quote_form(ev.quote_attest, attest)
            clock = attest.clock_info
            counts = (clock.reset_count, clock.restart_count)
        # The quote passed, so its PCRs are the presented selection (sorted, once each):
        # a function of the memo's key, like everything remembered below.
        replayed = known.replayed
        if replayed is None:
            known.pcrs = tuple(attest.pcrs)
            replayed = known.replayed = _replayed_or_false(ev.eventlog, known.pcrs)
        if replayed is not False and replayed.digest == attest.pcr_digest \
                and not replayed.undecoded:
            quoted_log = (ev.eventlog, known.pcrs)
            boot = known.boot
            if boot is None:
                boot = known.boot = _boot_outcome(ev, config, quoted_log)
            if boot is not False and not state.warnings:
                return _passed(known, boot, replayed, *counts)
            state.known["pcrs"] = dict(replayed.pcrs_hex)
        else:
            quoted_log = state.eventlog(attest)  # raises, or warns of undecoded records
        boot = known.boot
        if boot is None:
            boot = known.boot = _boot_outcome(ev, config, quoted_log)
        if boot is False:
            state.measured(quoted_log)  # the policy findings (or the stop), made afresh
        else:
            version, secure_boot, matched = boot
            state.known.update(measured_version=version, secure_boot=secure_boot,
                               matched_base_image=matched)
    except _Stop as stop:
        return state.verdict(stop.finding)
    return state.verdict()


def _evaluate_steps(state: _Evaluation, nonce: bytes,
                    activate: Callable[[bytes, bytes], bytes | None], challenge_label: str,
                    bound_aks: set[tuple[bytes, bytes]] | None,
                    counters: dict[bytes, tuple[int, int, int]] | None) -> Verdict:
    """The checks one after the other, nothing remembered between requests but the pure
    steps' memos: the plain evaluator :func:`evaluate` must always agree with (the tests
    compare them on generated and damaged evidence)."""
    try:
        state.cluster()
        state.principal()
        state.tpm_identity()
        ak, signer = state.ak_binding(activate, challenge_label, bound_aks)
        attest = state.quote(ak, signer, nonce, counters)
        quoted_log = state.eventlog(attest)
        state.measured(quoted_log)
    except _Stop as stop:
        return state.verdict(stop.finding)
    return state.verdict()


class _Static:
    """What one request shape decides apart from the time and the request's own quote:
    each part is worked out the first time a request gets that far (``None``: not yet),
    so nothing is computed that the step-by-step evaluation would not have computed."""

    __slots__ = ("ak", "boot", "identity", "images", "passed", "pcrs", "quote", "replayed",
                 "simulated")

    def __init__(self, images: tuple[BaseImage, ...], simulated: bool) -> None:
        self.images = images  #: held, so that the ids in the memo's key stay theirs
        #: the crypto mode it was worked out in (part of its key: see _static_facts_keyed)
        self.simulated = simulated
        #: step 3 without the EK list: True (passes), False (fails: the step will say
        #: why) or the (from, to) window of ``now`` in which the certificate path holds
        self.identity: bool | tuple[datetime, datetime] | None = None
        self.ak: str | tuple[crypto.PublicKey, bytes, bytes, crypto.PublicKey] | None = None
        self.pcrs: tuple[int, ...] = ()  #: the quoted PCRs (set with ``replayed``)
        #: step 6's replay of the log (False: the log is malformed)
        self.replayed: _Replayed | Literal[False] | None = None
        #: steps 7-8: (version, Secure Boot, matched image) when they find nothing, or False
        self.boot: tuple[str | None, bool | None, str | None] | Literal[False] | None = None
        #: step 5: the latest quote that passed it (see :func:`_quote_form`)
        self.quote: tuple[bytes, int, int, bytes, _marshal.Attest] | None = None
        #: the verdict of the latest request that passed every step without a warning
        self.passed: Verdict | None = None


class _StaticMemo(dict[tuple[Any, ...], _Static]):
    """The request shapes seen: bounded (the oldest goes first), ``cache_clear`` like the
    other memos (the tests start each case cold)."""

    def cache_clear(self) -> None:
        self.clear()
        _SHAPES.clear()


_STATIC = _StaticMemo()
#: id of a configuration -> (that configuration, held so the id stays its own; host ->
#: the EK certificate, EK, AK, event log and PCR selection objects of the host's latest
#: request judged under it, and its _Static): a host presents the very same objects at
#: every request between two boots, and comparing five identities costs less than
#: building and hashing the memo's key. Only the latest few configurations are kept (a
#: world's TA hosts each hand out one until it changes): the worlds a checker ran
#: before must not keep their hosts' event logs.
_SHAPES: dict[int, tuple[TrustConfig, dict[str, tuple[Any, ...]]]] = {}
_SHAPES_CONFIGS = 64


def _static_facts(ev: Evidence, config: TrustConfig) -> _Static | None:
    """The memo entry for this request's shape (see :func:`_static_facts_keyed`), found
    by identity when the host presents the objects of its previous request under this
    configuration (see :data:`_SHAPES`)."""
    if type(ev.host) is not str:
        return _static_facts_keyed(ev, config)
    shapes = _SHAPES.get(id(config))
    hosts = shapes[1] if shapes is not None and shapes[0] is config else None
    if hosts is not None:
        held = hosts.get(ev.host)
        if held is not None and held[0] is ev.ek_certificate_der \
                and held[1] is ev.ek_public_der and held[2] is ev.ak_public \
                and held[3] is ev.eventlog and held[4] is ev.pcr_selection \
                and held[5].simulated is crypto.is_simulated():
            return held[5]
    known = _static_facts_keyed(ev, config)
    if known is not None:
        if hosts is None:
            if len(_SHAPES) >= _SHAPES_CONFIGS:
                del _SHAPES[next(iter(_SHAPES))]  # the oldest configuration goes first
            hosts = {}
            _SHAPES[id(config)] = (config, hosts)
        if len(hosts) >= crypto.MEMO_SIZE:
            hosts.clear()
        hosts[ev.host] = (ev.ek_certificate_der, ev.ek_public_der, ev.ak_public, ev.eventlog,
                          ev.pcr_selection, known)
    return known


def _static_facts_keyed(ev: Evidence, config: TrustConfig) -> _Static | None:
    """The memo entry for this request's shape: the EK certificate, EK, AK, event log and
    PCR selection it presents and the configuration those are judged against (the base
    images by identity: a TA host hands out the same objects until they change, and
    comparing images by content would cost more than it saves), and the crypto mode
    (simulated crypto knows the signature of a certificate it signed without checking it:
    real crypto never reuses that answer). ``None`` for inputs that are not plain bytes
    and tuples (they are evaluated step by step)."""
    cert, anchors = ev.ek_certificate_der, config.tpm_ca_certificates_der
    if type(ev.ek_public_der) is not bytes or type(ev.ak_public) is not bytes \
            or type(ev.eventlog) is not bytes or type(ev.pcr_selection) is not tuple \
            or (cert is not None and type(cert) is not bytes) or type(anchors) is not tuple:
        return None
    for anchor in anchors:
        if type(anchor) is not bytes:
            return None
    images = config.base_images
    key = (cert, anchors, ev.ek_public_der, ev.ak_public, ev.eventlog, ev.pcr_selection,
           config.settings.require_certificate_validation, tuple(map(id, images)),
           crypto.is_simulated())
    try:
        known = _STATIC.get(key)
    except TypeError:  # an unhashable PCR in the selection
        return None
    if known is None:
        if len(_STATIC) >= crypto.MEMO_SIZE:
            del _STATIC[next(iter(_STATIC))]
        known = _STATIC[key] = _Static(tuple(images), key[-1])
    return known


#: Principal tokens that passed step 2: token text -> (the principals it passed under;
#: the host, iat and exp it names). A host presents its token to each attestation service
#: in turn, and each TA host holds its own copy of the principals: step 2 for a token that
#: passed before under equal principals (the same signature check, a pure function of the
#: bytes) is the host and the time only. A token is presented to the services one after
#: the other at the same instant, then re-issued: a few thousand recent ones are enough
#: (as for _signed_by), and a 10,000-host estate does not keep 32,768 tokens of about 300
#: bytes.
_TOKENS = crypto.Memo(4096)


def _remember_token(token: str, principals: tuple[Principal, ...]) -> None:
    """Remember a token that just passed step 2 under ``principals`` (only for plain
    str tokens and certificates in bytes: a bytearray could change under the memo)."""
    if type(token) is not str or type(principals) is not tuple:
        return
    for principal in principals:
        if type(principal) is not Principal or type(principal.certificates_der) is not tuple:
            return
        for der in principal.certificates_der:
            if type(der) is not bytes:
                return
    signed = _signed_by(token, principals)  # remembered: it just answered this
    if not signed:
        return  # pragma: no cover - the step passed, so a principal signed it
    claims = signed[1]
    _TOKENS.keep(token, (principals, claims["sub"], claims["iat"], claims["exp"]))


#: an ECDSA TPMT_SIGNATURE with 32-byte r and s (the shape a P-256 AK's quotes have)
_ECDSA_SIGNATURE = struct.Struct(">HHH32sH32s")


def _quote_form(data: bytes, attest: _marshal.Attest
                ) -> tuple[bytes, int, int, bytes, _marshal.Attest] | None:
    """What :func:`_quote_passes` compares a request's quote with, from ``attest``, the
    parse of ``data``, a quote that passed step 5: (its bytes up to the nonce, where the
    nonce starts, where the clock starts, its bytes after the clock's 17 bytes -- the
    firmware version, PCR selection and digest --, and ``attest``)."""
    if type(data) is not bytes:
        return None
    at = 8 + len(attest.qualified_signer) + 2  # magic, type, signer, nonce's size
    clock_at = at + len(attest.extra_data)
    if data[at:clock_at] != attest.extra_data:  # pragma: no cover - the layout parsed
        return None
    return data[:at], at, clock_at, data[clock_at + _CLOCK.size:], attest


def _quote_passes(ev: Evidence, ak: crypto.PublicKey, nonce: bytes,
                  counters: dict[bytes, tuple[int, int, int]] | None,
                  form: tuple[bytes, int, int, bytes, _marshal.Attest]
                  ) -> tuple[int, int] | None:
    """Step 5 for the plain good quote, checked in one go: ``(resetCount, restartCount)``
    when the quote is, byte for byte, the one of ``form`` (:func:`_quote_form`: a quote
    of this request shape that passed the step) but for the nonce, which is ``nonce``,
    and the clock, which is safe and does not go back, and its signature verifies with
    the AK. Its counters are then remembered, as the step does. ``None`` for anything
    else, with nothing changed: the step itself then judges the quote and says why.

    Passing here means :meth:`_Evaluation.quote` passes without a finding or warning:
    the quote parses as the form's did, with the same magic, type, qualifiedSigner, PCR
    selection and digest (tests/domain/test_attestation_fast_path.py compares them)."""
    data, sig = ev.quote_attest, ev.quote_signature
    head, at, clock_at, tail, _ = form
    if type(data) is not bytes or type(nonce) is not bytes or type(sig) is not bytes \
            or len(data) != clock_at + _CLOCK.size + len(tail) \
            or len(nonce) != clock_at - at or len(sig) != _ECDSA_SIGNATURE.size \
            or not (data.startswith(head) and data.startswith(nonce, at)
                    and data.endswith(tail)):
        return None
    clock, reset, restart, safe = _CLOCK.unpack_from(data, clock_at)
    if safe != 1:
        return None
    alg, hash_alg, r_size, r, s_size, s = _ECDSA_SIGNATURE.unpack(sig)
    if alg != _marshal.TPM_ALG_ECDSA or hash_alg != _marshal.TPM_ALG_SHA256 \
            or r_size != 32 or s_size != 32 \
            or not crypto.ecdsa_verify(ak, data, int.from_bytes(r, "big"),
                                       int.from_bytes(s, "big")):
        return None
    if counters is not None:
        now = (reset, restart, clock)
        last = counters.get(ev.ek_public_der)
        # _counters' rollback test is the tuples' order: resetCount, then restartCount
        # within one resetCount, then the clock within both
        if last is not None and now < last:
            return None
        counters[ev.ek_public_der] = now
    return reset, restart


#: TPMS_CLOCK_INFO: clock, resetCount, restartCount, safe
_CLOCK = struct.Struct(">QIIB")


def _passed(known: _Static, boot: tuple[str | None, bool | None, str | None],
            replayed: _Replayed, reset_count: int, restart_count: int) -> Verdict:
    """The verdict on a request of this shape that passed every step and warned of
    nothing (so its clock was safe): everything in it but the quote's counters is the
    shape's, so it is the same (frozen) object as the previous such request's while the
    counters stay -- they change only at a reboot -- and its PCRs, a dict, are shared by
    those requests: read-only, like every remembered result here."""
    held = known.passed
    if held is not None and held.reset_count == reset_count \
            and held.restart_count == restart_count:
        return held
    version, secure_boot, matched = boot
    known.passed = Verdict(attested=True, measured_version=version, matched_base_image=matched,
                           secure_boot=secure_boot, reset_count=reset_count,
                           restart_count=restart_count, safe=True,
                           pcrs=dict(replayed.pcrs_hex))
    return known.passed


def _identity_window(cert: bytes | None, anchors: tuple[bytes, ...], ek: bytes,
                     validate: bool) -> bool | tuple[datetime, datetime]:
    """When step 3's certificate check passes (see :attr:`_Static.identity`): every
    window of the path must hold and the path must end at an anchor, so it passes
    exactly from the latest ``notBefore`` to the earliest ``notAfter``."""
    if not validate:
        return True
    if not cert:
        return False
    facts = _ek_certificate(cert, anchors, crypto.is_simulated())
    if facts.unusable is not None or facts.final is not None or facts.certified != ek:
        return False
    if not facts.steps:
        return True
    return (max(step[0] for step in facts.steps), min(step[1] for step in facts.steps))


def _replayed_or_false(data: bytes, pcrs: tuple[int, ...]) -> _Replayed | Literal[False]:
    try:
        return _quoted_replay(data, pcrs)
    except ValueError:
        return False


def _boot_outcome(ev: Evidence, config: TrustConfig, quoted_log: tuple[bytes, tuple[int, ...]]
                  ) -> tuple[str | None, bool | None, str | None] | Literal[False]:
    """Steps 7-8 on their own (they do not depend on the time): what a request that
    gets this far learns when they find nothing, or False when they find something."""
    scratch = _Evaluation(ev, config, _EPOCH)
    try:
        scratch.measured(quoted_log)
    except _Stop:
        return False
    if scratch.policy:
        return False
    k = scratch.known
    return k["measured_version"], k["secure_boot"], k["matched_base_image"]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- tokens ----------------------------------------------------------------------------------
def issue_tokens(verdict: Verdict, *, host: str, service_name: str, group: str,
                 key: crypto.PrivateKey, kid: str, iat: int, lifetime: int) -> tuple[str, str]:
    """``(KMS_AUTH_JWT, REPORTING_JWT)`` for an attested host, ES256-signed by the service:
    the claims of :func:`token_claims`, signed. Attestation services hand them out as
    :class:`AttestationTokens` (the reporting token signed when first read)."""
    kms, reporting = token_claims(verdict, host=host, service_name=service_name, group=group,
                                  iat=iat, lifetime=lifetime)
    return crypto.jwt_encode_json(kms, key, kid), crypto.jwt_encode_json(reporting, key, kid)


def token_claims(verdict: Verdict, *, host: str, service_name: str, group: str, iat: int,
                 lifetime: int) -> tuple[str, str]:
    """The claims (canonical JSON text, as :func:`crypto.jwt_claims_json` makes it) of the
    ``KMS_AUTH_JWT`` and the ``REPORTING_JWT`` for an attested host.

    Claims: ``iss`` = service name, ``sub`` = host, ``aud`` (``kms``/``reporting``),
    ``group``, ``iat``, ``exp = iat + lifetime``, ``ver`` = measured ESXi version, ``typ``.
    The lifetime is a parameter because VMware does not publish it [assumed]. Issuing
    tokens for a verdict that did not attest is a simulator bug (``ValueError``).
    """
    if not verdict.attested:
        raise ValueError(f"no attestation token for {host}: the verdict is not attested")
    if lifetime <= 0:
        raise ValueError(f"token lifetime must be positive, got {lifetime}")
    iat, exp = int(iat), int(iat) + int(lifetime)
    # A host's tokens from one service differ from its previous ones only in iat and exp,
    # so the claims text around those two is kept per (service, host, group, version) --
    # for str values and a None version only: their text is a function of the key
    # (True == 1 as a key, but not as JSON).
    ver = verdict.measured_version
    if type(service_name) is str and type(host) is str and type(group) is str \
            and (ver is None or type(ver) is str):
        memo = (service_name, host, group, ver)
        parts = _CLAIMS.get(memo)
        if parts is None:
            parts = _claims_parts(service_name, host, group, ver)
            _CLAIMS.keep(memo, parts)
        kms, reporting, mid, kms_tail, reporting_tail = parts
        exp_text, iat_text = str(exp), str(iat)  # ints: the JSON encoder's text exactly
        return (kms + exp_text + mid + iat_text + kms_tail,
                reporting + exp_text + mid + iat_text + reporting_tail)
    return (crypto.jwt_claims_json(_claims(service_name, host, group, ver, AUD_KMS, TYP_KMS,
                                           iat, exp)),
            crypto.jwt_claims_json(_claims(service_name, host, group, ver, AUD_REPORTING,
                                           TYP_REPORTING, iat, exp)))


class AttestationTokens:
    """What an attestation service hands a host that passed: ``(KMS_AUTH_JWT,
    REPORTING_JWT)`` as :func:`issue_tokens` makes them, indexable like that pair.

    Each token is signed when it is first read. The ``REPORTING_JWT`` never authorizes
    anything and nothing in a run reads it, yet a simulated 64-host day signed 4,608 of
    them (real ES256 under real crypto) for nobody. The ``KMS_AUTH_JWT`` is read when the
    host asks kmxd for a key -- at a power-on, not at every hourly renewal -- so most are
    replaced unread (signing one was about 5 % of a steady attestation). A token is the
    same whenever it is signed: its claims are fixed at issue and it is signed in the
    crypto mode of the issue (ECDSA signs deterministically, RFC 6979)."""

    __slots__ = ("_kms", "_reporting", "_unsigned")

    def __init__(self, kms_claims: str, reporting_claims: str, key: crypto.PrivateKey,
                 kid: str, simulated: bool) -> None:
        self._kms: str | None = None
        self._reporting: str | None = None
        self._unsigned = (kms_claims, reporting_claims, key, kid, simulated)

    @property
    def kms(self) -> str:
        if self._kms is None:
            self._kms = self._sign(0)
        return self._kms

    @property
    def reporting(self) -> str:
        if self._reporting is None:
            self._reporting = self._sign(1)
        return self._reporting

    def _sign(self, which: int) -> str:
        kms, reporting, key, kid, simulated = self._unsigned
        with crypto.simulated(simulated):
            return crypto.jwt_encode_json(reporting if which else kms, key, kid)

    def pair(self) -> tuple[str, str]:
        return self.kms, self.reporting

    def __getitem__(self, index: int) -> str:
        return self.kms if index in (0, -2) else self.pair()[index]

    def __len__(self) -> int:
        return 2

    def __iter__(self) -> Iterator[str]:
        yield self.kms
        yield self.reporting

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AttestationTokens):
            return self.pair() == other.pair()
        return self.pair() == other if isinstance(other, tuple) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a tuple, but not one

    def __repr__(self) -> str:
        return f"AttestationTokens{self.pair()!r}"


def _claims(service_name: str, host: str, group: str, ver: Any, aud: str, typ: str,
            iat: int, exp: int) -> dict[str, Any]:
    """The claims of one attestation token (see :func:`issue_tokens`)."""
    return {"iss": service_name, "sub": host, "aud": aud, "group": group, "iat": iat,
            "exp": exp, "ver": ver, "typ": typ}


def _claims_parts(service_name: str, host: str, group: str, ver: str | None
                  ) -> tuple[str, str, str, str, str]:
    """The claims text of both tokens cut around the values of ``exp`` and ``iat``: (the
    KMS text up to ``exp``'s value, the same for REPORTING, the text from after it up to
    ``iat``'s value, the rest of the KMS text, the rest of the REPORTING text).

    Canonical (key-sorted) JSON puts ``aud`` first, then ``exp``, ``group``, ``iat``:
    the zeros put in their places are found after those keys, which no string value can
    fake (a quote inside a string is escaped, so ``,"`` never occurs in one)."""
    cut = []
    for aud, typ in ((AUD_KMS, TYP_KMS), (AUD_REPORTING, TYP_REPORTING)):
        text = crypto.jwt_claims_json(_claims(service_name, host, group, ver, aud, typ, 0, 0))
        e = text.index(',"exp":0,') + len(',"exp":')
        i = text.index(',"iat":0,', e) + len(',"iat":')
        cut.append((text[:e], text[e + 1:i], text[i + 1:]))
    (kms, mid, kms_tail), (reporting, mid_reporting, reporting_tail) = cut
    if mid != mid_reporting:  # pragma: no cover - the same claims lie between
        raise AssertionError("the claims between exp and iat differ between the tokens")
    return kms, reporting, mid, kms_tail, reporting_tail


#: The claims text of :func:`issue_tokens` per (service, host, group, version).
_CLAIMS = crypto.Memo()


def verify_kms_token(token: str | None, *, trusted_keys: Mapping[str, crypto.PublicKey],
                     host: str, group: str, now_epoch: int, leeway: int = 0) -> Reason | None:
    """Why the Key Provider Service refuses ``token`` from ``host`` (``None``: it is valid).

    ``trusted_keys`` maps ``kid`` to the public keys of the attestation services the key
    provider trusts. Order: ``no_token``; ``token_forged`` (malformed, unknown ``kid``, bad
    signature, or not a ``KMS_AUTH_JWT`` — a ``REPORTING_JWT`` never authorizes);
    ``token_wrong_group``; ``token_wrong_host``; ``token_not_yet_valid``;
    ``token_expired`` (at or after ``exp``). ``leeway`` seconds of clock skew are tolerated
    on both bounds.
    """
    if not token:
        return Reason.NO_TOKEN
    decoded = crypto.jwt_decode(token)
    if decoded is None:
        return Reason.TOKEN_FORGED
    key = trusted_keys.get(str(decoded.header.get("kid")))
    if key is None:
        return Reason.TOKEN_FORGED
    claims = crypto.jwt_verify(token, key)
    if claims is None or claims.get("typ") != TYP_KMS or claims.get("aud") != AUD_KMS:
        return Reason.TOKEN_FORGED
    iat, exp = claims.get("iat"), claims.get("exp")
    if not _is_int(iat) or not _is_int(exp):
        return Reason.TOKEN_FORGED
    if claims.get("group") != group:
        return Reason.TOKEN_WRONG_GROUP
    if claims.get("sub") != host:
        return Reason.TOKEN_WRONG_HOST
    if now_epoch + leeway < iat:
        return Reason.TOKEN_NOT_YET_VALID
    if now_epoch - leeway >= exp:
        return Reason.TOKEN_EXPIRED
    return None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _key_id_of(spki_der: bytes) -> str:
    if type(spki_der) is bytes:
        return _key_id_of_bytes(spki_der)
    return _key_id_of_bytes.__wrapped__(spki_der)


@functools.lru_cache(maxsize=crypto.MEMO_SIZE)
def _key_id_of_bytes(spki_der: bytes) -> str:
    try:
        return crypto.key_id(crypto.public_from_der(spki_der))
    except ValueError:
        return "malformed"
