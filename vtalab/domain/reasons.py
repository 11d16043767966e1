"""Reason codes: why an attestation failed or a key was not released, in one registry.

Every refusal in the simulated world is a *value* carrying one of these codes, and the
codes reach traces, scenario files and exercise answers, so **they are API**: stable
snake_case strings, never renamed, only added.

Each code has a :class:`ReasonInfo`:

``severity``
    ``"error"``: the host is not attested / the key is not released because of a finding
    about it; ``"warning"``: no verdict could be reached (the service could not be asked),
    which is *not* the same as untrusted ("unreachable is not untrusted").
``recoverable``
    ``True`` when the condition can clear by itself on a later retry, without anybody
    changing configuration (a fresh nonce, a re-attestation, a service coming back);
    ``False`` when an operator must fix something (import a base image, a TPM CA, a
    principal, turn Secure Boot on ...).
``message``
    An operator-readable template (``str.format`` fields filled from a finding's detail;
    unknown fields stay as ``{name}``). VMware does not publish the exact texts the
    Attestation Service, ``kmxd`` or ``kmxa`` log, so **every message text here is
    [assumed]**: written for the lab, not copied from a product. It states what was found,
    never what to do about it: it reaches what operators see (vCenter's attestation
    messages, the error of a failed Power On task), and no real tool tells them which
    cmdlet fixes it.
``advice``
    What an operator does about it (cmdlets, settings), or ``""``: for ``vtalab explain``
    and the docs, never the operator's view (:func:`advise`).
``check``
    Which attestation or key-release check produces the code.
``source``
    Where the modelled behaviour comes from (``shared/reference/vta-domain.md`` sections,
    tagged [doc]/[spec]/[seed]/[inferred]/[assumed]).

:func:`reasons_markdown` renders the registry as a Markdown table for the docs, so the
documentation cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "ATTESTATION_REASONS",
    "KEY_RELEASE_REASONS",
    "REASONS",
    "Reason",
    "ReasonInfo",
    "Severity",
    "advise",
    "info",
    "operator_text",
    "reasons_markdown",
    "render",
]

Severity = Literal["error", "warning"]


class Reason(StrEnum):
    """A stable reason code (its value is what traces and scenario files carry)."""

    # -- attestation (Attestation Service, attestd) ---------------------------------------
    TA_CLUSTER_DISABLED = "ta_cluster_disabled"
    UNTRUSTED_PRINCIPAL = "untrusted_principal"
    EK_CERTIFICATE_MISSING = "ek_certificate_missing"
    UNTRUSTED_EK_CA = "untrusted_ek_ca"
    EK_CERTIFICATE_MISMATCH = "ek_certificate_mismatch"
    EK_NOT_REGISTERED = "ek_not_registered"
    AK_NOT_BOUND = "ak_not_bound"
    QUOTE_MALFORMED = "quote_malformed"
    BAD_QUOTE_SIGNATURE = "bad_quote_signature"
    NONCE_MISMATCH = "nonce_mismatch"
    NONCE_NOT_ISSUED = "nonce_not_issued"
    NONCE_REUSED = "nonce_reused"
    NONCE_WRONG_HOST = "nonce_wrong_host"
    NONCE_EXPIRED = "nonce_expired"
    QUOTE_SIGNER_MISMATCH = "quote_signer_mismatch"
    QUOTE_ROLLBACK = "quote_rollback"
    QUOTE_CLOCK_UNSAFE = "quote_clock_unsafe"
    QUOTE_PCRS_MISSING = "quote_pcrs_missing"
    EVENTLOG_MALFORMED = "eventlog_malformed"
    EVENTLOG_MISMATCH = "eventlog_mismatch"
    EVENT_DATA_UNDECODED = "event_data_undecoded"
    UNTRUSTED_BASE_IMAGE = "untrusted_base_image"
    BASE_IMAGE_MISMATCH = "base_image_mismatch"
    SECURE_BOOT_OFF = "secure_boot_off"
    ATTESTATION_UNREACHABLE = "attestation_unreachable"
    SERVICE_STOPPED = "service_stopped"
    # -- key release (Key Provider Service kmxd, trusted-host agent kmxa) -----------------
    NO_TOKEN = "no_token"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    TOKEN_FORGED = "token_forged"
    TOKEN_WRONG_GROUP = "token_wrong_group"
    TOKEN_WRONG_HOST = "token_wrong_host"
    TOKEN_SUPERSEDED = "token_superseded"
    KMS_UNREACHABLE = "kms_unreachable"
    KMS_AUTH_FAILED = "kms_auth_failed"
    KMS_CERTIFICATE_EXPIRED = "kms_certificate_expired"
    KEY_NOT_FOUND = "key_not_found"
    KEY_PROVIDER_NOT_CONFIGURED = "key_provider_not_configured"
    KEY_PROVIDER_UNREACHABLE = "key_provider_unreachable"


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    """What a reason code means (see the module docstring for each field)."""

    code: Reason
    severity: Severity
    recoverable: bool
    message: str
    check: str
    source: str
    advice: str = ""


_D = "vta-domain.md"


def _r(code: Reason, severity: Severity, recoverable: bool, check: str, source: str,
       message: str, advice: str = "") -> ReasonInfo:
    return ReasonInfo(code, severity, recoverable, message, check, source, advice)


_ALL: tuple[ReasonInfo, ...] = (
    # -- attestation, in the order the Attestation Service checks -------------------------
    _r(Reason.TA_CLUSTER_DISABLED, "error", False, "cluster",
       f"{_D} §2 [doc] (Set-TrustAuthorityCluster -State)",
       "The Trust Authority cluster is disabled; no host can be attested.",
       "Enable it: Set-TrustAuthorityCluster -State Enabled."),
    _r(Reason.UNTRUSTED_PRINCIPAL, "error", False, "principal",
       f"{_D} §2, §5 [doc] (principals; STS certificate rotation)",
       "The request for {host} is not signed by a trusted principal ({problem}).",
       "Import the workload vCenter's current STS certificates (Export-TrustedPrincipal, "
       "New-TrustAuthorityPrincipal)."),
    _r(Reason.EK_CERTIFICATE_MISSING, "error", False, "tpm_identity",
       f"{_D} §2, §5 [doc] (require_certificate_validation)",
       "Host {host} presented no TPM endorsement key certificate but certificate "
       "validation is required.",
       "Import its endorsement key and use require_endorsement_keys."),
    _r(Reason.UNTRUSTED_EK_CA, "error", False, "tpm_identity",
       f"{_D} §2, §5, §8 [doc] (TPM 2.0 CA certificates)",
       "The TPM endorsement key certificate of {host} does not chain to an imported TPM CA "
       "certificate ({problem}).",
       "Import the TPM vendor's CA chain (New-TrustAuthorityTpm2CACertificate)."),
    _r(Reason.EK_CERTIFICATE_MISMATCH, "error", False, "tpm_identity",
       f"{_D} §5, §8 [inferred] (TPM replaced: TpmEndorsementKeyMismatch)",
       "The endorsement key certificate of {host} certifies a different key than the one "
       "its TPM uses."),
    _r(Reason.EK_NOT_REGISTERED, "error", False, "tpm_identity",
       f"{_D} §2, §5, §8 [doc] (require_endorsement_keys)",
       "The TPM endorsement key of {host} (key id {ek_key_id}) is not in the imported "
       "endorsement keys.",
       "Export it (Export-Tpm2EndorsementKey) and import it "
       "(New-TrustAuthorityTpm2EndorsementKey)."),
    _r(Reason.AK_NOT_BOUND, "error", False, "ak_binding",
       f"{_D} §3 [spec] (MakeCredential/ActivateCredential)",
       "The attestation key of {host} is not bound to its endorsement key: credential "
       "activation failed."),
    _r(Reason.QUOTE_MALFORMED, "error", False, "quote",
       f"{_D} §3 [spec] (TPMS_ATTEST magic 0xFF544347, type 0x8018)",
       "The TPM quote from {host} is malformed ({problem})."),
    _r(Reason.BAD_QUOTE_SIGNATURE, "error", False, "quote",
       f"{_D} §3, §5 [spec]",
       "The TPM quote from {host} is not signed by its attestation key."),
    _r(Reason.NONCE_MISMATCH, "error", True, "quote",
       f"{_D} §3, §5 [spec] (extraData = verifier nonce)",
       "The TPM quote from {host} does not carry this attestation's nonce (a replayed or "
       "stale quote)."),
    _r(Reason.NONCE_NOT_ISSUED, "error", True, "nonce",
       f"{_D} §3, §5 [spec, assumed] (verifier-issued nonce)",
       "Host {host} answered with a nonce {service} never issued (or issued so long ago it "
       "is forgotten); a quote must be over a nonce the Attestation Service just issued."),
    _r(Reason.NONCE_REUSED, "error", True, "nonce",
       f"{_D} §3, §5 [spec, assumed] (a nonce is single use)",
       "Host {host} answered with a nonce {service} issued at {issued_at} and already "
       "used: a replayed attestation request."),
    _r(Reason.NONCE_WRONG_HOST, "error", True, "nonce",
       f"{_D} §3, §5 [spec, assumed] (a nonce is bound to the requesting host)",
       "Host {host} answered with a nonce {service} issued to {issued_to}."),
    _r(Reason.NONCE_EXPIRED, "error", True, "nonce",
       f"{_D} §3, §5 [assumed] (nonce_lifetime_seconds)",
       "Host {host} answered with a nonce {service} issued at {issued_at} that expired at "
       "{expired_at}."),
    _r(Reason.QUOTE_SIGNER_MISMATCH, "error", False, "quote",
       f"{_D} §3 [spec] (TPMS_ATTEST.qualifiedSigner = the AK's qualified name)",
       "The TPM quote from {host} names another signing key (qualifiedSigner) than the "
       "attestation key it presented."),
    _r(Reason.QUOTE_ROLLBACK, "error", False, "quote",
       f"{_D} §3 [spec, assumed] (TPMS_CLOCK_INFO counters only go forward)",
       "The TPM quote from {host} has a {counter} lower than an earlier quote of the same "
       "TPM ({quoted} after {last}): an old quote or a rolled-back TPM."),
    _r(Reason.QUOTE_CLOCK_UNSAFE, "warning", True, "quote",
       f"{_D} §3 [spec] (TPMS_CLOCK_INFO.safe); policy: unsafe_clock_policy [assumed]",
       "The TPM of {host} reports safe = 0: its Clock may have gone back since it was "
       "last reported (power lost without TPM2_Shutdown); policy {policy}."),
    _r(Reason.QUOTE_PCRS_MISSING, "error", False, "quote",
       f"{_D} §3 [inferred]",
       "The TPM quote from {host} does not cover the PCRs attestation needs (missing {missing})."),
    _r(Reason.EVENTLOG_MALFORMED, "error", False, "eventlog",
       f"{_D} §3 [doc] (TCG crypto-agile log)",
       "The boot event log of {host} cannot be parsed ({problem})."),
    _r(Reason.EVENTLOG_MISMATCH, "error", False, "eventlog",
       f"{_D} §3 [spec] (replay vs. quoted PCR digest)",
       "The boot event log of {host} does not match what its TPM measured ({problem})."),
    _r(Reason.EVENT_DATA_UNDECODED, "warning", False, "eventlog",
       f"{_D} §3 [spec] (claim-only record data; as tpm2_eventlog)",
       "Record {record} of the boot event log of {host} (PCR {pcr}, event type "
       "{event_type}) has data that does not decode ({problem}); its digest is replayed, "
       "its data is not believed."),
    _r(Reason.UNTRUSTED_BASE_IMAGE, "error", False, "base_image",
       f"{_D} §2, §4, §5, §6 [doc, seed]",
       "Host {host} booted an ESXi version that is not a trusted base image.",
       "Export the image its TPM measured from a representative host (Export-VMHostImageDb) "
       "and import it (New-TrustAuthorityVMHostBaseImage); after a Quick Boot the TPM "
       "still describes the last full boot's version."),
    _r(Reason.BASE_IMAGE_MISMATCH, "error", False, "base_image",
       f"{_D} §2, §3 [doc, inferred]",
       "The measured boot modules of host {host} differ from the trusted base image of "
       "its version ({modules})."),
    _r(Reason.SECURE_BOOT_OFF, "error", False, "secure_boot",
       f"{_D} §1, §5, §8 [doc] (PCR 7)",
       "UEFI Secure Boot is off on {host}.",
       "Turn it on in the firmware and reboot."),
    _r(Reason.ATTESTATION_UNREACHABLE, "warning", True, "service",
       f"{_D} §5, §10 [doc, inferred] (unreachable is not untrusted)",
       "No Attestation Service could be reached for {host}; its attestation status is "
       "unknown, not failed."),
    _r(Reason.SERVICE_STOPPED, "warning", False, "service",
       f"{_D} §1, §7, §8 [doc, seed] (attestd, kmxd, kmxa)",
       "The {service} service on {host} is stopped.",
       "Start it (vSphere Client on TA hosts, on the host itself for trusted hosts)."),
    # -- key release ------------------------------------------------------------------------
    _r(Reason.NO_TOKEN, "error", True, "token",
       f"{_D} §6 [doc]",
       "Host {host} asked for a key without an attestation token (it is not attested)."),
    _r(Reason.TOKEN_EXPIRED, "error", True, "token",
       f"{_D} §6, §8 [doc, assumed lifetime]",
       "The attestation token of {host} has expired; the host must attest again."),
    _r(Reason.TOKEN_NOT_YET_VALID, "error", True, "token",
       f"{_D} §8 [doc] (clock skew against token validity)",
       "The attestation token of {host} is not valid yet (clock skew between hosts)."),
    _r(Reason.TOKEN_FORGED, "error", False, "token",
       f"{_D} §6 [doc]",
       "The attestation token of {host} is not signed by a trusted Attestation Service."),
    _r(Reason.TOKEN_WRONG_GROUP, "error", False, "token",
       f"{_D} §2, §6 [doc] (services pair when groups match)",
       "The attestation token of {host} is for group {token_group}, not this key "
       "provider's group {group}."),
    _r(Reason.TOKEN_WRONG_HOST, "error", False, "token",
       f"{_D} §6 [inferred]",
       "The attestation token presented by {host} was issued to another host ({token_host})."),
    _r(Reason.TOKEN_SUPERSEDED, "error", True, "token",
       f"{_D} §6 [assumed] (what-if: key_release_policy latest_verdict; vTA documents "
       "only the token rule)",
       "The attestation token of {host} is valid, but the host has since been judged "
       "notAttested ({failed_reason}, at {failed_at}); key_release_policy latest_verdict "
       "refuses it."),
    _r(Reason.KMS_UNREACHABLE, "error", True, "kms",
       f"{_D} §6, §8 [doc] (KmsUnhealthy)",
       "No KMIP server of key provider {provider} could be reached."),
    _r(Reason.KMS_AUTH_FAILED, "error", False, "kms",
       f"{_D} §8 [doc] (wrong password); vSphere Security guide, Establish the Trusted "
       "Key Provider Trusted Connection (certificate trust both ways)",
       "Key provider {provider} and the KMIP server could not authenticate each other "
       "(untrusted certificate or wrong credentials)."),
    _r(Reason.KMS_CERTIFICATE_EXPIRED, "error", False, "kms",
       f"{_D} §6, §8 [doc] (KMS client/server certificate expiry)",
       "A certificate between key provider {provider} and its KMIP server has expired "
       "({which})."),
    _r(Reason.KEY_NOT_FOUND, "error", False, "kms",
       f"{_D} §6 [doc] (VMLocked.TAKeyMissingOnHost)",
       "Key {key_id} was not found on the KMIP servers of key provider {provider}."),
    _r(Reason.KEY_PROVIDER_NOT_CONFIGURED, "error", False, "key_provider",
       f"{_D} §2, §6 [doc]",
       "No trusted key provider {provider} is configured for group {group}."),
    _r(Reason.KEY_PROVIDER_UNREACHABLE, "warning", True, "key_provider",
       f"{_D} §6, §10 [inferred] ('unreachable is not untrusted')",
       "The Key Provider Service (kmxd) on {ta_host} cannot be reached from {host}: "
       "{problem}."),
)

#: Every reason code, in registry order (attestation checks in evaluation order first).
REASONS: dict[Reason, ReasonInfo] = {i.code: i for i in _ALL}

_KEY_RELEASE_CHECKS = frozenset({"token", "kms", "key_provider"})

#: Codes produced by the Attestation Service (and its reachability).
ATTESTATION_REASONS: tuple[Reason, ...] = tuple(
    i.code for i in _ALL if i.check not in _KEY_RELEASE_CHECKS)
#: Codes produced when a key is requested from the Key Provider Service.
KEY_RELEASE_REASONS: tuple[Reason, ...] = tuple(
    i.code for i in _ALL if i.check in _KEY_RELEASE_CHECKS)


def info(reason: Reason | str) -> ReasonInfo:
    """The registry entry for ``reason`` (a :class:`Reason` or its code string)."""
    return REASONS[Reason(reason)]


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(reason: Reason | str, detail: Mapping[str, Any] | None = None) -> str:
    """The operator message of ``reason`` with ``detail`` filled in (unknown fields kept):
    what was found, no advice."""
    return info(reason).message.format_map(_Keep({k: _text(v) for k, v in (detail or {}).items()}))


#: ``<reason code>: `` as the lab writes it before a message (an attestation report's
#: messages, kmxa's refusals); the longest code first
_CODE_PREFIX = re.compile(
    r"\b(?:" + "|".join(sorted((re.escape(r.value) for r in Reason), key=len, reverse=True))
    + r"): ")


def operator_text(text: str) -> str:
    """``text`` as vCenter shows it: without the lab's reason codes (``untrusted_base_image:
    Host esx-03 booted ...`` is ``Host esx-03 booted ...``). The codes are the lab's (its
    traces, scenario files, ``explain``); an operator's tools show the message only."""
    return _CODE_PREFIX.sub("", text)


def advise(reason: Reason | str) -> str:
    """What an operator does about ``reason`` (``""`` when the message says it all): for
    ``vtalab explain`` and the docs, never the operator's view."""
    return info(reason).advice


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or "none"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return str(value)


def reasons_markdown() -> str:
    """The registry as a Markdown table (for the generated docs)."""
    lines = [
        "| code | check | severity | recoverable | message [assumed] | advice (`vtalab "
        "explain`; never shown to the operator) | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in _ALL:
        message = i.message.replace("|", "\\|")
        advice = i.advice.replace("|", "\\|")
        lines.append(
            f"| `{i.code.value}` | {i.check} | {i.severity} | "
            f"{'yes' if i.recoverable else 'no'} | {message} | {advice} | {i.source} |")
    return "\n".join(lines) + "\n"
