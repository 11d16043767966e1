"""The Attestation Service's verdict and tokens, on evidence from a real simulated TPM."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from vtalab.core import crypto
from vtalab.domain.attestation import (
    REQUIRED_PCRS,
    Evidence,
    Principal,
    Tpm2Settings,
    TrustConfig,
    Verdict,
    evaluate,
    issue_tokens,
    verify_kms_token,
)
from vtalab.domain.base_image import BaseImage
from vtalab.domain.reasons import (
    ATTESTATION_REASONS,
    KEY_RELEASE_REASONS,
    REASONS,
    Reason,
    reasons_markdown,
    render,
)
from vtalab.esxi.image import HostSpecific, standard_image
from vtalab.esxi.measure import FirmwareProfile, measure_esx_boot, measure_firmware
from vtalab.tpm import Event, EventLog, Tpm, marshal_public, parse_eventlog
from vtalab.tpm.eventlog import EV_EVENT_TAG, tagged_event_data
from vtalab.tpm.marshal import marshal_signature

SEED = 20240601
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
NOW_EPOCH = int(NOW.timestamp())
HOST = "esx-01.lab.local"
WLD = "vcsa-wld.lab.local"
PCRS = (0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14)
NONCE = bytes.fromhex("6e6f6e63652d3031") * 4
IMAGE = standard_image("8.0.2", 22380479)
YEAR = timedelta(days=365)


def key(label: str) -> crypto.PrivateKey:
    return crypto.derive_private_key(SEED, label)


def vendor_ca(name: str) -> tuple[crypto.Certificate, crypto.PrivateKey]:
    k = key(f"ca/{name}")
    return crypto.make_ca(f"{name} TPM Root CA", k, NOW - 5 * YEAR, NOW + 15 * YEAR,
                          org=name), k


def make_tpm(host: str = HOST, *, ca: tuple[crypto.Certificate, crypto.PrivateKey] | None = None,
             secure_boot: bool = True, image=IMAGE, ek_valid_until: datetime | None = None
             ) -> Tpm:
    """A TPM after a full boot of ``image`` (firmware + esx-boot measured)."""
    tpm = Tpm(key(f"{host}/ek"), key(f"{host}/ak"))
    ca_cert, ca_key = ca or vendor_ca("Infineon")
    tpm.ek_certificate_der = crypto.cert_der(crypto.issue_certificate(
        f"{host} EK", tpm.ek.public_key(), ca_cert, ca_key, NOW - 2 * YEAR,
        ek_valid_until or NOW + 10 * YEAR, key_agreement=True))
    tpm.power_on(0)
    tpm.startup_clear()
    measure_firmware(tpm, FirmwareProfile.for_vendor("Dell", secure_boot=secure_boot))
    measure_esx_boot(tpm, image, HostSpecific.for_host(host, image.build))
    return tpm


def sts() -> tuple[crypto.Certificate, crypto.PrivateKey]:
    vmca_key = key("vcsa-wld/vmca")
    vmca = crypto.make_ca("VMCA", vmca_key, NOW - YEAR, NOW + 10 * YEAR)
    sts_key = key("vcsa-wld/sts")
    cert = crypto.issue_certificate("ssoserverSign", sts_key, vmca, vmca_key,
                                    NOW - YEAR, NOW + 2 * YEAR)
    return cert, sts_key


def principal_token(host: str = HOST, signer: crypto.PrivateKey | None = None,
                    iat: int = NOW_EPOCH - 60, exp: int = NOW_EPOCH + 3600,
                    iss: str = WLD) -> str:
    k = signer or sts()[1]
    return crypto.jwt_encode({"iss": iss, "sub": host, "iat": iat, "exp": exp}, k,
                             crypto.key_id(k))


def evidence(tpm: Tpm, nonce: bytes = NONCE, host: str = HOST) -> Evidence:
    q = tpm.quote(nonce, list(PCRS), now_ms=60_000)
    return Evidence(
        host=host,
        principal_token=principal_token(host),
        ek_certificate_der=tpm.ek_certificate_der,
        ek_public_der=crypto.public_der(tpm.ek),
        ak_public=marshal_public(tpm.ak_public_area),
        quote_attest=q.attest,
        quote_signature=q.signature,
        eventlog=tpm.log.to_bytes(),
        pcr_selection=q.pcrs,
    )


def config(**changes) -> TrustConfig:
    base = TrustConfig(
        enabled=True,
        principals=(Principal(WLD, (crypto.cert_der(sts()[0]),)),),
        base_images=(BaseImage.from_image(IMAGE),),
        tpm_ca_certificates_der=(crypto.cert_der(vendor_ca("Infineon")[0]),),
        endorsement_keys_der=(),
        settings=Tpm2Settings(),
    )
    return dataclasses.replace(base, **changes)


def judge(ev: Evidence, tpm: Tpm, cfg: TrustConfig | None = None, *, nonce: bytes = NONCE,
          now: datetime = NOW) -> Verdict:
    return evaluate(ev, cfg or config(), nonce=nonce, activate=tpm.activate_credential,
                    now=now, challenge_label=f"attest/{ev.host}/1")


def only(verdict: Verdict) -> Reason:
    assert not verdict.attested
    assert len(verdict.findings) == 1, verdict.findings
    return verdict.findings[0].reason


@pytest.fixture
def tpm() -> Tpm:
    return make_tpm()


# -- passing ----------------------------------------------------------------------------------
def test_genuine_host_is_attested(tpm: Tpm) -> None:
    v = judge(evidence(tpm), tpm)
    assert v.attested, v.findings
    assert v.findings == ()
    assert v.measured_version == "8.0.2-22380479"
    assert v.matched_base_image == "8.0.2-22380479"
    assert v.secure_boot is True
    assert (v.reset_count, v.restart_count, v.safe) == (1, 0, True)
    assert sorted(v.pcrs) == list(PCRS)
    assert v.pcrs[7] == tpm.pcrs[7].hex()
    assert v.as_dict()["reasons"] == []


def test_verdict_is_deterministic(tpm: Tpm) -> None:
    ev = evidence(tpm)
    assert judge(ev, tpm) == judge(ev, tpm)
    assert judge(ev, tpm).as_dict() == judge(evidence(make_tpm()), make_tpm()).as_dict()


def test_naive_now_is_taken_as_utc(tpm: Tpm) -> None:
    assert judge(evidence(tpm), tpm, now=NOW.replace(tzinfo=None)).attested


def test_registered_ek_without_certificate_attests(tpm: Tpm) -> None:
    ev = dataclasses.replace(evidence(tpm), ek_certificate_der=None)
    cfg = config(settings=Tpm2Settings(require_certificate_validation=False,
                                       require_endorsement_keys=True),
                 endorsement_keys_der=(crypto.public_der(tpm.ek),))
    assert judge(ev, tpm, cfg).attested


def test_neither_setting_accepts_any_ek(tpm: Tpm) -> None:
    ev = dataclasses.replace(evidence(tpm), ek_certificate_der=None)
    cfg = config(settings=Tpm2Settings(False, False), tpm_ca_certificates_der=())
    assert judge(ev, tpm, cfg).attested


def test_host_specific_items_are_tolerated() -> None:
    other = make_tpm("esx-02.lab.local")
    v = judge(evidence(other, host="esx-02.lab.local"), other)
    assert v.attested, v.findings


# -- cluster and principal ------------------------------------------------------------------
def test_disabled_cluster(tpm: Tpm) -> None:
    v = judge(evidence(tpm), tpm, config(enabled=False))
    assert only(v) is Reason.TA_CLUSTER_DISABLED
    assert v.measured_version is None  # nothing was examined


def test_token_signed_by_another_key_is_untrusted_principal(tpm: Tpm) -> None:
    ev = dataclasses.replace(evidence(tpm),
                             principal_token=principal_token(signer=key("rotated-sts")))
    v = judge(ev, tpm)
    assert only(v) is Reason.UNTRUSTED_PRINCIPAL
    assert "not signed" in v.findings[0].detail["problem"]


@pytest.mark.parametrize("token_kw, problem", [
    ({"host": "esx-09.lab.local"}, "token is for"),
    ({"exp": NOW_EPOCH - 1}, "expired"),
    ({"iat": NOW_EPOCH + 600}, "not yet valid"),
    ({"iss": "vcsa-other.lab.local"}, "issuer"),
])
def test_principal_token_claims(tpm: Tpm, token_kw: dict, problem: str) -> None:
    ev = dataclasses.replace(evidence(tpm), principal_token=principal_token(**token_kw))
    v = judge(ev, tpm)
    assert only(v) is Reason.UNTRUSTED_PRINCIPAL
    assert problem in v.findings[0].detail["problem"]


def test_garbage_principal_token(tpm: Tpm) -> None:
    ev = dataclasses.replace(evidence(tpm), principal_token="not-a-jwt")
    assert only(judge(ev, tpm)) is Reason.UNTRUSTED_PRINCIPAL


# -- TPM identity -----------------------------------------------------------------------------
def test_ek_certificate_from_unimported_ca() -> None:
    tpm = make_tpm(ca=vendor_ca("Nuvoton"))
    v = judge(evidence(tpm), tpm)
    assert only(v) is Reason.UNTRUSTED_EK_CA
    assert v.findings[0].detail["problem"] == "untrusted_issuer"


def test_expired_ek_certificate() -> None:
    tpm = make_tpm(ek_valid_until=NOW - timedelta(days=1))
    v = judge(evidence(tpm), tpm)
    assert only(v) is Reason.UNTRUSTED_EK_CA
    assert v.findings[0].detail["problem"] == "expired"


def test_no_tpm_ca_imported(tpm: Tpm) -> None:
    assert only(judge(evidence(tpm), tpm, config(tpm_ca_certificates_der=()))) \
        is Reason.UNTRUSTED_EK_CA


def test_missing_ek_certificate_while_validation_required(tpm: Tpm) -> None:
    ev = dataclasses.replace(evidence(tpm), ek_certificate_der=None)
    assert only(judge(ev, tpm)) is Reason.EK_CERTIFICATE_MISSING


def test_ek_certificate_for_another_key() -> None:
    tpm, other = make_tpm(), make_tpm("esx-02.lab.local")
    ev = dataclasses.replace(evidence(tpm), ek_certificate_der=other.ek_certificate_der)
    assert only(judge(ev, tpm)) is Reason.EK_CERTIFICATE_MISMATCH


def test_unregistered_ek(tpm: Tpm) -> None:
    other = make_tpm("esx-02.lab.local")
    cfg = config(settings=Tpm2Settings(require_endorsement_keys=True),
                 endorsement_keys_der=(crypto.public_der(other.ek),))
    v = judge(evidence(tpm), tpm, cfg)
    assert only(v) is Reason.EK_NOT_REGISTERED
    assert v.findings[0].detail["ek_key_id"] == crypto.key_id(tpm.ek)


# -- AK binding and quote -------------------------------------------------------------------
def test_ak_from_another_tpm_is_not_bound(tpm: Tpm) -> None:
    """A host presents its EK but quotes with another TPM's AK: activation fails."""
    rogue = make_tpm("rogue.lab.local")
    ev = dataclasses.replace(evidence(rogue), principal_token=principal_token(),
                             ek_certificate_der=tpm.ek_certificate_der,
                             ek_public_der=crypto.public_der(tpm.ek))
    assert only(judge(ev, tpm)) is Reason.AK_NOT_BOUND
    # ... whichever TPM is asked to activate.
    assert only(judge(ev, rogue)) is Reason.AK_NOT_BOUND


def test_ak_that_is_not_a_restricted_signing_key(tpm: Tpm) -> None:
    ev = dataclasses.replace(evidence(tpm), ak_public=marshal_public(tpm.ek_public_area))
    v = judge(ev, tpm)
    assert only(v) is Reason.AK_NOT_BOUND
    assert "restricted" in v.findings[0].detail["problem"]


def test_malformed_ak_public(tpm: Tpm) -> None:
    ev = dataclasses.replace(evidence(tpm), ak_public=b"\x00\x05junk!")
    assert only(judge(ev, tpm)) is Reason.AK_NOT_BOUND


def test_quote_with_flipped_signature_byte(tpm: Tpm) -> None:
    ev = evidence(tpm)
    sig = bytearray(ev.quote_signature)
    sig[-1] ^= 0x01
    ev = dataclasses.replace(ev, quote_signature=bytes(sig))
    assert only(judge(ev, tpm)) is Reason.BAD_QUOTE_SIGNATURE


def test_quote_signed_by_another_key(tpm: Tpm) -> None:
    ev = evidence(tpm)
    r, s = crypto.ecdsa_sign(key("mallory"), ev.quote_attest)
    ev = dataclasses.replace(ev, quote_signature=marshal_signature(r, s))
    assert only(judge(ev, tpm)) is Reason.BAD_QUOTE_SIGNATURE


def test_replayed_old_quote_has_stale_nonce(tpm: Tpm) -> None:
    old = evidence(tpm, nonce=b"yesterday's nonce")
    v = judge(old, tpm, nonce=NONCE)
    assert only(v) is Reason.NONCE_MISMATCH
    assert v.findings[0].detail["quoted"] == b"yesterday's nonce".hex()


def test_truncated_quote_is_malformed(tpm: Tpm) -> None:
    ev = evidence(tpm)
    ev = dataclasses.replace(ev, quote_attest=ev.quote_attest[:-3])
    assert only(judge(ev, tpm)) is Reason.QUOTE_MALFORMED


def test_quote_missing_required_pcrs(tpm: Tpm) -> None:
    ev = evidence(tpm)
    q = tpm.quote(NONCE, [0, 7], now_ms=61_000)
    ev = dataclasses.replace(ev, quote_attest=q.attest, quote_signature=q.signature,
                             pcr_selection=q.pcrs)
    v = judge(ev, tpm)
    assert only(v) is Reason.QUOTE_PCRS_MISSING
    assert v.findings[0].detail["missing"] == [p for p in REQUIRED_PCRS if p != 7]


# -- event log ------------------------------------------------------------------------------
def test_eventlog_not_matching_the_quote(tpm: Tpm) -> None:
    ev = evidence(tpm)
    events = list(parse_eventlog(ev.eventlog))
    extra = tagged_event_data(2, b"rootkit.v00\x00")
    forged = EventLog(events + [Event.make(13, EV_EVENT_TAG, crypto.sha256(b"evil"), extra)])
    v = judge(dataclasses.replace(ev, eventlog=forged.to_bytes()), tpm)
    assert only(v) is Reason.EVENTLOG_MISMATCH


def test_eventlog_lying_about_secure_boot() -> None:
    """Same digests (so replay matches) but the SecureBoot record's data claims 1."""
    tpm = make_tpm(secure_boot=False)
    ev = evidence(tpm)
    events = list(parse_eventlog(ev.eventlog))
    lied = []
    for e in events:
        if e.pcr == 7 and e.data.endswith(b"\x00") and "SecureBoot".encode("utf-16-le") in e.data:
            e = Event.make(e.pcr, e.event_type, e.digest, e.data[:-1] + b"\x01")
        lied.append(e)
    assert lied != events
    v = judge(dataclasses.replace(ev, eventlog=EventLog(lied).to_bytes()), tpm)
    assert only(v) is Reason.EVENTLOG_MISMATCH


def test_garbage_eventlog(tpm: Tpm) -> None:
    ev = dataclasses.replace(evidence(tpm), eventlog=b"\x00" * 10)
    assert only(judge(ev, tpm)) is Reason.EVENTLOG_MALFORMED


# -- measured software and Secure Boot ------------------------------------------------------
def test_untrusted_base_image(tpm: Tpm) -> None:
    cfg = config(base_images=(BaseImage.from_image(standard_image("8.0.1", 21495797)),))
    v = judge(evidence(tpm), tpm, cfg)
    assert only(v) is Reason.UNTRUSTED_BASE_IMAGE
    assert v.measured_version == "8.0.2-22380479"
    assert v.matched_base_image is None
    # the operator's message does not name the measured version (the lab's detail does)
    assert "8.0.2-22380479" not in v.findings[0].message
    assert v.findings[0].detail["measured_version"] == "8.0.2-22380479"


def test_base_image_with_tampered_module_digest(tpm: Tpm) -> None:
    good = BaseImage.from_image(IMAGE)
    modules = tuple((n, crypto.sha256(b"tampered") if n == "vmx.v00" else d)
                    for n, d in good.modules)
    cfg = config(base_images=(dataclasses.replace(good, modules=modules),))
    v = judge(evidence(tpm), tpm, cfg)
    assert only(v) is Reason.BASE_IMAGE_MISMATCH
    assert v.findings[0].detail["modules"] == ["vmx.v00"]
    assert v.matched_base_image is None


def test_secure_boot_off() -> None:
    tpm = make_tpm(secure_boot=False)
    v = judge(evidence(tpm), tpm)
    assert only(v) is Reason.SECURE_BOOT_OFF
    assert v.secure_boot is False


def test_policy_findings_are_collected_together() -> None:
    tpm = make_tpm(secure_boot=False)
    v = judge(evidence(tpm), tpm, config(base_images=()))
    assert not v.attested
    assert v.reasons == (Reason.UNTRUSTED_BASE_IMAGE, Reason.SECURE_BOOT_OFF)


# -- tokens ---------------------------------------------------------------------------------
SERVICE_KEY = key("ta-01/attestd")
KID = crypto.key_id(SERVICE_KEY)
TRUSTED = {KID: SERVICE_KEY.public_key()}


def tokens(tpm: Tpm, **kw) -> tuple[str, str]:
    args = {"host": HOST, "service_name": "ta-01.lab.local/attestd", "group": "group-a",
            "key": SERVICE_KEY, "kid": KID, "iat": NOW_EPOCH, "lifetime": 3600, **kw}
    return issue_tokens(judge(evidence(tpm), tpm), **args)


def check(token: str | None, **kw) -> Reason | None:
    args = {"trusted_keys": TRUSTED, "host": HOST, "group": "group-a",
            "now_epoch": NOW_EPOCH + 60, **kw}
    return verify_kms_token(token, **args)


def test_valid_kms_token(tpm: Tpm) -> None:
    kms, reporting = tokens(tpm)
    assert check(kms) is None
    claims = crypto.jwt_verify(kms, SERVICE_KEY.public_key())
    assert claims == {"iss": "ta-01.lab.local/attestd", "sub": HOST, "aud": "kms",
                      "group": "group-a", "iat": NOW_EPOCH, "exp": NOW_EPOCH + 3600,
                      "ver": "8.0.2-22380479", "typ": "KMS_AUTH_JWT"}
    assert crypto.jwt_verify(reporting, SERVICE_KEY.public_key())["typ"] == "REPORTING_JWT"
    assert tokens(tpm) == (kms, reporting)  # deterministic


def test_expired_kms_token(tpm: Tpm) -> None:
    kms, _ = tokens(tpm)
    assert check(kms, now_epoch=NOW_EPOCH + 3600) is Reason.TOKEN_EXPIRED
    assert check(kms, now_epoch=NOW_EPOCH + 3599) is None
    assert check(kms, now_epoch=NOW_EPOCH + 3600, leeway=30) is None


def test_kms_token_not_yet_valid(tpm: Tpm) -> None:
    kms, _ = tokens(tpm)
    assert check(kms, now_epoch=NOW_EPOCH - 5) is Reason.TOKEN_NOT_YET_VALID


def test_kms_token_wrong_group(tpm: Tpm) -> None:
    kms, _ = tokens(tpm, group="group-b")
    assert check(kms) is Reason.TOKEN_WRONG_GROUP


def test_kms_token_wrong_host(tpm: Tpm) -> None:
    kms, _ = tokens(tpm)
    assert check(kms, host="esx-02.lab.local") is Reason.TOKEN_WRONG_HOST


def test_forged_kms_token(tpm: Tpm) -> None:
    forged, _ = tokens(tpm, key=key("mallory"))  # same kid, wrong key
    assert check(forged) is Reason.TOKEN_FORGED
    kms, _ = tokens(tpm)
    head, body, sig = kms.split(".")
    assert check(f"{head}.{body}.{sig[:-2]}AA") is Reason.TOKEN_FORGED
    assert check("garbage") is Reason.TOKEN_FORGED
    assert check(kms, trusted_keys={}) is Reason.TOKEN_FORGED  # unknown kid


def test_reporting_token_never_authorizes(tpm: Tpm) -> None:
    _, reporting = tokens(tpm)
    assert check(reporting) is Reason.TOKEN_FORGED


def test_no_token() -> None:
    assert check(None) is Reason.NO_TOKEN
    assert check("") is Reason.NO_TOKEN


def test_no_tokens_for_a_failed_verdict() -> None:
    with pytest.raises(ValueError, match="not attested"):
        issue_tokens(Verdict(attested=False), host=HOST, service_name="s", group="g",
                     key=SERVICE_KEY, kid=KID, iat=NOW_EPOCH, lifetime=60)


# -- reason registry ------------------------------------------------------------------------
def test_every_reason_is_registered_once() -> None:
    assert list(REASONS) == [i.code for i in REASONS.values()]
    assert set(REASONS) == set(Reason)
    assert set(ATTESTATION_REASONS) | set(KEY_RELEASE_REASONS) == set(Reason)
    assert not set(ATTESTATION_REASONS) & set(KEY_RELEASE_REASONS)
    for code, info in REASONS.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code.value)
        assert info.severity in ("error", "warning")
        assert info.message and info.check and info.source


def test_required_codes_exist() -> None:
    required = """ta_cluster_disabled untrusted_principal ek_certificate_missing untrusted_ek_ca
    ek_not_registered ak_not_bound quote_malformed bad_quote_signature nonce_mismatch
    eventlog_malformed eventlog_mismatch untrusted_base_image base_image_mismatch
    secure_boot_off attestation_unreachable service_stopped no_token token_expired
    token_not_yet_valid token_forged token_wrong_group token_wrong_host kms_unreachable
    kms_auth_failed kms_certificate_expired key_not_found key_provider_not_configured"""
    assert {r.value for r in Reason} >= set(required.split())


def test_reasons_markdown_and_render() -> None:
    table = reasons_markdown()
    for code in Reason:
        assert f"`{code.value}`" in table
    assert render(Reason.TOKEN_WRONG_GROUP, {"host": "h", "token_group": "a"}) == (
        "The attestation token of h is for group a, not this key provider's group {group}.")
