"""What each finding tells the operator, exactly (kills the mutants mutmut found surviving in
the verifier: a finding's detail and message are part of the verdict, docs/security.md)."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from test_attestation import (
    HOST,
    IMAGE,
    NONCE,
    NOW,
    NOW_EPOCH,
    PCRS,
    WLD,
    config,
    evidence,
    judge,
    key,
    make_tpm,
    principal_token,
    sts,
)

from vtalab.core import crypto
from vtalab.domain.attestation import NonceBook, evaluate
from vtalab.domain.base_image import BaseImage
from vtalab.domain.reasons import Reason
from vtalab.esxi.image import HostSpecific, standard_image
from vtalab.esxi.measure import TAG_VERSION, FirmwareProfile, measure_esx_boot, measure_firmware
from vtalab.tpm import Event, EventLog, Tpm, marshal_public, parse_eventlog
from vtalab.tpm.eventlog import EV_EVENT_TAG, TaggedEvent, tagged_event_data


def only_finding(v):  # type: ignore[no-untyped-def]
    assert not v.attested and len(v.findings) == 1, v.findings
    return v.findings[0]


# -- nonces ---------------------------------------------------------------------------------
def test_nonce_book_detail_and_sub_second_lifetime() -> None:
    book = NonceBook("ta-01/attestd", 0.5)  # any positive lifetime, not only >= 1 s
    n = bytes(range(32))
    book.issue(n, "esx-01", 1.0)
    assert book.redeem(n, "esx-01", 1.25)[0] is None
    reason, detail = book.redeem(n, "esx-01", 1.3)
    assert reason is Reason.NONCE_REUSED
    assert detail == {"host": "esx-01", "service": "ta-01/attestd", "nonce": n.hex(),
                      "issued_to": "esx-01", "issued_at": "T+00:00:01",
                      "expired_at": "T+00:00:01.500", "used_at": "T+00:00:01.250"}


def test_nonce_book_forgets_spent_nonces_too() -> None:
    book = NonceBook("s", 10)
    for i in range(200):
        n = i.to_bytes(32, "big")
        book.issue(n, "h", float(i))
        assert book.redeem(n, "h", float(i))[0] is None
    assert len(book) <= 21 and len(book._spent) <= 21  # noqa: SLF001 (bounded memory)


# -- event log -------------------------------------------------------------------------------
def test_eventlog_mismatch_names_both_digests() -> None:
    tpm = make_tpm()
    ev = evidence(tpm)
    forged = EventLog([*parse_eventlog(ev.eventlog),
                       Event.make(13, EV_EVENT_TAG, crypto.sha256(b"evil"),
                                  tagged_event_data(2, b"rootkit.v00\x00"))])
    f = only_finding(judge(dataclasses.replace(ev, eventlog=forged.to_bytes()), tpm))
    assert f.reason is Reason.EVENTLOG_MISMATCH
    assert f.detail["problem"] == "replaying it does not give the quoted PCR digest"
    assert len(bytes.fromhex(f.detail["quoted_digest"])) == 32
    assert f.detail["replayed_digest"] != f.detail["quoted_digest"]
    assert len(bytes.fromhex(f.detail["replayed_digest"])) == 32


def test_garbage_eventlog_says_why() -> None:
    tpm = make_tpm()
    f = only_finding(judge(dataclasses.replace(evidence(tpm), eventlog=b"\x00" * 10), tpm))
    assert f.reason is Reason.EVENTLOG_MALFORMED
    assert f.detail["problem"] == "event log too short for the Spec ID header"


def test_a_quoted_pcr_nothing_extended_replays_as_zero() -> None:
    tpm = make_tpm()
    q = tpm.quote(NONCE, [*PCRS, 15], now_ms=60_000)
    ev = dataclasses.replace(evidence(tpm), quote_attest=q.attest, quote_signature=q.signature,
                             pcr_selection=q.pcrs)
    v = judge(ev, tpm)
    assert v.attested, v.findings
    assert v.pcrs[15] == bytes(32).hex()


def test_a_version_record_that_does_not_parse_is_malformed() -> None:
    tpm = make_tpm()
    data = b"\x00" * 8  # too short for vm_version_record_t, but its digest is honest
    tpm.extend(13, EV_EVENT_TAG, tagged_event_data(TAG_VERSION, data), digest=crypto.sha256(data))
    f = only_finding(judge(evidence(tpm), tpm))
    assert f.reason is Reason.EVENTLOG_MALFORMED
    assert f.detail["problem"] == "version record too short"


def test_a_tagged_record_whose_data_is_not_its_digest_is_named() -> None:
    tpm = make_tpm()
    data = b"b.b00 not what was measured"
    tpm.extend(14, EV_EVENT_TAG, tagged_event_data(4, data), digest=crypto.sha256(b"other"))
    f = only_finding(judge(evidence(tpm), tpm))
    assert f.reason is Reason.EVENTLOG_MISMATCH
    assert f.detail["problem"] == ("the data of a record in PCR 14 (event type 0x00000006) "
                                   "does not match its digest")


# -- policy ----------------------------------------------------------------------------------
def test_secure_boot_off_says_whether_it_was_measured() -> None:
    tpm = make_tpm(secure_boot=False)
    f = only_finding(judge(evidence(tpm), tpm))
    assert (f.reason, f.detail["problem"]) == (Reason.SECURE_BOOT_OFF, "SecureBoot=0")
    # a log without the SecureBoot variable (PCR 7 left out of what is read): not measured
    bare = Tpm(tpm.ek, tpm.ak)
    bare.ek_certificate_der = tpm.ek_certificate_der
    bare.power_on(0)
    bare.startup_clear()
    measure_esx_boot(bare, IMAGE, HostSpecific.for_host(HOST, IMAGE.build))
    f = only_finding(judge(evidence(bare), bare))
    assert (f.reason, f.detail["problem"]) == (Reason.SECURE_BOOT_OFF, "not measured")


def test_untrusted_base_image_lists_what_is_trusted() -> None:
    tpm = make_tpm()
    u1 = BaseImage.from_image(standard_image("8.0.1", 21495797))
    f = only_finding(judge(evidence(tpm), tpm, config(base_images=(u1,))))
    assert f.detail == {"host": HOST, "measured_version": "8.0.2-22380479",
                        "trusted": ["8.0.1-21495797"]}


def test_no_esx_version_record_is_reported_as_unknown() -> None:
    tpm = Tpm(make_tpm().ek, make_tpm().ak)
    ref = make_tpm()
    tpm.ek_certificate_der = ref.ek_certificate_der
    tpm.power_on(0)
    tpm.startup_clear()
    for e in ref.log:  # the same boot without its version records
        if not (e.pcr == 13 and e.parsed.tag_id == TAG_VERSION):  # type: ignore[union-attr]
            tpm.extend(e.pcr, e.event_type, e.data, digest=e.digest)
    v = judge(evidence(tpm), tpm)
    assert v.reasons == (Reason.UNTRUSTED_BASE_IMAGE,)
    assert v.findings[0].detail["measured_version"] == "unknown"


def test_base_image_mismatch_detail() -> None:
    tpm = make_tpm()
    good = BaseImage.from_image(IMAGE)
    tampered = tuple((n, crypto.sha256(b"x") if n == "vmx.v00" else d) for n, d in good.modules)
    f = only_finding(judge(evidence(tpm), tpm,
                           config(base_images=(dataclasses.replace(good, modules=tampered),))))
    assert f.detail == {"host": HOST, "measured_version": "8.0.2-22380479",
                        "modules": ["vmx.v00"]}


# -- principal --------------------------------------------------------------------------------
def _with_token(token: str):  # type: ignore[no-untyped-def]
    tpm = make_tpm()
    return judge(dataclasses.replace(evidence(tpm), principal_token=token), tpm)


def test_principal_findings_detail() -> None:
    f = only_finding(_with_token("not-a-jwt"))
    assert f.detail == {"host": HOST, "problem": "malformed token"}
    f = only_finding(_with_token(principal_token(signer=key("rotated-sts"))))
    assert f.detail == {"host": HOST, "problem": "not signed by any imported STS certificate",
                        "issuer": WLD}
    no_iss = crypto.jwt_encode({"sub": HOST, "iat": NOW_EPOCH, "exp": NOW_EPOCH + 60},
                               key("x"), "x")
    assert only_finding(_with_token(no_iss)).detail["issuer"] is None
    f = only_finding(_with_token(principal_token(host="esx-09")))
    assert f.detail == {"host": HOST, "problem": "token is for 'esx-09'", "issuer": WLD}


def test_principal_validity_bounds() -> None:
    signer = sts()[1]

    def tok(**claims: object) -> str:
        return crypto.jwt_encode({"iss": WLD, "sub": HOST, **claims}, signer,
                                 crypto.key_id(signer))

    now = int(NOW.timestamp())
    assert _with_token(tok(iat=now, exp=now + 1)).attested  # valid from iat on
    assert only_finding(_with_token(tok(iat=now, exp=now))).detail["problem"] == "token expired"
    assert only_finding(_with_token(tok(iat=now + 1, exp=now + 9))).detail["problem"] == (
        "token not yet valid")
    for claims in ({"iat": now}, {"exp": now + 9}, {"iat": "0", "exp": now + 9}):
        assert only_finding(_with_token(tok(**claims))).detail["problem"] == (
            "token has no validity period")


def test_a_bad_imported_sts_certificate_does_not_hide_a_good_one() -> None:
    from vtalab.domain.attestation import Principal

    good = crypto.cert_der(sts()[0])
    rsa_like = b"\x30\x03\x02\x01\x00"  # not a certificate at all
    cfg = config(principals=(Principal(WLD, (rsa_like, good)),))
    tpm = make_tpm()
    assert judge(evidence(tpm), tpm, cfg).attested
    cfg = config(principals=(Principal("other", (rsa_like,)), Principal(WLD, (good,))))
    assert judge(evidence(tpm), tpm, cfg).attested


# -- TPM identity -----------------------------------------------------------------------------
def test_tpm_identity_findings_detail() -> None:
    from test_attestation import vendor_ca

    tpm = make_tpm()
    bad_cert = dataclasses.replace(evidence(tpm), ek_certificate_der=b"\x30\x00")
    f = only_finding(judge(bad_cert, tpm))
    assert (f.reason, f.detail) == (Reason.UNTRUSTED_EK_CA, {
        "host": HOST, "problem": "the EK certificate cannot be parsed"})
    f = only_finding(judge(evidence(tpm), tpm, config(tpm_ca_certificates_der=())))
    assert (f.reason, f.detail) == (Reason.UNTRUSTED_EK_CA, {
        "host": HOST, "problem": "no TPM CA certificate imported"})
    f = only_finding(judge(evidence(tpm), tpm,
                           config(tpm_ca_certificates_der=(b"\x30\x00",))))
    assert f.detail["problem"] == "no TPM CA certificate imported"  # none parses
    good = crypto.cert_der(vendor_ca("Infineon")[0])
    cfg = config(tpm_ca_certificates_der=(b"\x30\x00", good))
    assert judge(evidence(tpm), tpm, cfg).attested  # a bad one does not hide a good one


def test_ek_findings_name_the_keys_and_the_issuer() -> None:
    from test_attestation import vendor_ca

    from vtalab.domain.attestation import Tpm2Settings

    tpm = make_tpm(ca=vendor_ca("Nuvoton"))
    f = only_finding(judge(evidence(tpm), tpm))
    assert f.detail == {"host": HOST, "problem": "untrusted_issuer",
                        "issuer": "O=Nuvoton,CN=Nuvoton TPM Root CA"}
    tpm, other = make_tpm(), make_tpm("esx-02.lab.local")
    ev = dataclasses.replace(evidence(tpm), ek_certificate_der=other.ek_certificate_der)
    f = only_finding(judge(ev, tpm))
    assert f.detail == {"host": HOST, "ek_key_id": crypto.key_id(tpm.ek),
                        "certified_key_id": crypto.key_id(other.ek)}
    # the AK binding check reads the EK key itself (no certificate needed to fail it)
    loose = config(settings=Tpm2Settings(require_certificate_validation=False))
    ev = dataclasses.replace(evidence(tpm), ek_public_der=b"\x30\x00")
    f = only_finding(judge(ev, tpm, loose))
    assert (f.reason, f.detail) == (Reason.AK_NOT_BOUND, {
        "host": HOST, "problem": "EK public key malformed"})


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    size = bytes([n]) if n < 128 else (
        bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big"))
    return bytes([tag]) + size + content


def _der_span(data: bytes, at: int) -> tuple[int, int]:
    """Where the content of the DER element at ``at`` starts and ends."""
    size, start = data[at + 1], at + 2
    if size & 0x80:
        width = size & 0x7F
        size, start = int.from_bytes(data[start:start + width], "big"), start + width
    return start, start + size


def _resigned(cert_der: bytes, old: bytes, new: bytes, ca_key: crypto.PrivateKey) -> bytes:
    """``cert_der`` with ``old`` replaced by ``new`` (same length) in its TBSCertificate,
    signed again by ``ca_key``: a certificate its CA really issued."""
    start, _ = _der_span(cert_der, 0)
    _, tbs_end = _der_span(cert_der, start)
    tbs = cert_der[start:tbs_end]
    assert tbs.count(old) == 1 and len(old) == len(new)
    tbs = tbs.replace(old, new)
    _, alg_end = _der_span(cert_der, tbs_end)
    r, s = crypto.raw_ecdsa_sign(ca_key, tbs)
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    return _der(0x30, tbs + cert_der[tbs_end:alg_end]
                + _der(0x03, b"\x00" + encode_dss_signature(r, s)))


P256 = bytes.fromhex("06082a8648ce3d030107")  # OID prime256v1, as a DER element
NO_CURVE = bytes.fromhex("06082a8648ce3d030163")  # 1.2.840.10045.3.1.99: no such curve
EC_KEY = bytes.fromhex("06072a8648ce3d0201")  # OID id-ecPublicKey
NO_KEY_TYPE = bytes.fromhex("06072a8648ce3d0263")  # 1.2.840.10045.2.99: no such key type


def test_an_ek_certificate_whose_key_cannot_be_read_is_a_mismatch() -> None:
    """A genuine CA signed it and ``cryptography`` parses it, but its key is of a kind
    nobody can load: the verifier says so (it never crashes, never accepts)."""
    from test_attestation import vendor_ca

    from vtalab.domain.attestation import Tpm2Settings

    tpm = make_tpm()
    ca_key = vendor_ca("Infineon")[1]
    assert tpm.ek_certificate_der is not None
    for old, new in ((P256, NO_CURVE), (EC_KEY, NO_KEY_TYPE)):
        odd = _resigned(tpm.ek_certificate_der, old, new, ca_key)
        cert = crypto.cert_from_der(odd)
        with pytest.raises(ValueError, match="unsupported public key"):
            crypto.cert_public_key(cert)
        ev = dataclasses.replace(evidence(tpm), ek_certificate_der=odd)
        f = only_finding(judge(ev, tpm))
        assert (f.reason, f.detail) == (Reason.EK_CERTIFICATE_MISMATCH, {
            "host": HOST, "ek_key_id": crypto.key_id(tpm.ek), "certified_key_id": "unreadable"})
        # even when the evidence names no EK key at all (an empty key used to equal the
        # "unreadable" placeholder and pass this check)
        ev = dataclasses.replace(ev, ek_public_der=b"")
        f = only_finding(judge(ev, tpm, config(settings=Tpm2Settings(
            require_certificate_validation=True))))
        assert (f.reason, f.detail["certified_key_id"]) == (
            Reason.EK_CERTIFICATE_MISMATCH, "unreadable")


def test_an_ek_public_key_on_an_unknown_curve_is_refused_not_fatal() -> None:
    from vtalab.domain.attestation import Tpm2Settings

    tpm = make_tpm()
    odd = crypto.public_der(tpm.ek).replace(P256, NO_CURVE)
    for load in (crypto.public_from_der,
                 lambda d: crypto.public_from_pem(
                     b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(d)
                     + b"-----END PUBLIC KEY-----\n")):
        with pytest.raises(ValueError, match="unsupported public key"):
            load(odd)
    ev = dataclasses.replace(evidence(tpm), ek_public_der=odd)
    f = only_finding(judge(ev, tpm))
    assert (f.reason, f.detail) == (Reason.EK_CERTIFICATE_MISMATCH, {
        "host": HOST, "ek_key_id": "malformed", "certified_key_id": crypto.key_id(tpm.ek)})
    loose = config(settings=Tpm2Settings(require_certificate_validation=False))
    f = only_finding(judge(ev, tpm, loose))
    assert (f.reason, f.detail["problem"]) == (Reason.AK_NOT_BOUND, "EK public key malformed")


def test_imported_certificates_whose_key_cannot_be_read_are_skipped_not_fatal() -> None:
    """A TPM CA or STS certificate with an unloadable key (``UnsupportedAlgorithm`` in
    ``cryptography``) is one that verifies nothing; a good one next to it still counts."""
    from test_attestation import vendor_ca

    from vtalab.domain.attestation import Principal

    tpm = make_tpm()
    ca_cert, ca_key = vendor_ca("Infineon")
    odd_ca = _resigned(crypto.cert_der(ca_cert), P256, NO_CURVE, ca_key)
    f = only_finding(judge(evidence(tpm), tpm, config(tpm_ca_certificates_der=(odd_ca,))))
    assert (f.reason, f.detail["problem"]) == (Reason.UNTRUSTED_EK_CA, "untrusted_issuer")
    both = config(tpm_ca_certificates_der=(odd_ca, crypto.cert_der(ca_cert)))
    assert judge(evidence(tpm), tpm, both).attested
    sts_cert, sts_key = sts()
    vmca_key = key("vcsa-wld/vmca")
    odd_sts = _resigned(crypto.cert_der(sts_cert), EC_KEY, NO_KEY_TYPE, vmca_key)
    f = only_finding(judge(evidence(tpm), tpm, config(principals=(Principal(WLD, (odd_sts,)),))))
    assert f.detail["problem"] == "not signed by any imported STS certificate"
    good = config(principals=(Principal(WLD, (odd_sts, crypto.cert_der(sts_cert))),))
    assert judge(evidence(tpm), tpm, good).attested


# -- AK binding -------------------------------------------------------------------------------
def test_a_wrong_activation_answer_is_not_a_binding() -> None:
    tpm = make_tpm()
    ev = evidence(tpm)
    for answer in (None, b"", b"\x00" * 32):
        v = evaluate(ev, config(), nonce=NONCE, activate=lambda blob, seed, a=answer: a,
                     now=NOW, challenge_label="c")
        f = only_finding(v)
        assert (f.reason, f.detail) == (Reason.AK_NOT_BOUND, {
            "host": HOST, "problem": "credential activation failed"})


def test_the_ak_must_be_restricted_sign_only_sha256() -> None:
    from vtalab.tpm import marshal as m

    tpm = make_tpm()
    base = m.AK_ATTRIBUTES
    for attributes in (base & ~m._RESTRICTED, base & ~m._SIGN,  # noqa: SLF001
                       base | m._DECRYPT):  # noqa: SLF001
        area = m._ecc_public(tpm.ak, attributes, b"", None,  # noqa: SLF001
                             (m.TPM_ALG_ECDSA, m.TPM_ALG_SHA256))
        ev = dataclasses.replace(evidence(tpm), ak_public=marshal_public(area))
        f = only_finding(judge(ev, tpm))
        assert (f.reason, f.detail) == (Reason.AK_NOT_BOUND, {
            "host": HOST, "problem": "the AK is not a restricted SHA-256 signing key"}), \
            hex(attributes)
    ev = dataclasses.replace(evidence(tpm), ak_public=b"\x00\x05junk!")
    f = only_finding(judge(ev, tpm))
    assert f.detail["problem"].startswith("AK public area malformed: ")


# -- quote --------------------------------------------------------------------------------------
def test_quote_findings_detail() -> None:
    tpm = make_tpm()
    ev = evidence(tpm)
    bad_magic = b"\x00" + ev.quote_attest[1:]
    f = only_finding(judge(dataclasses.replace(ev, quote_attest=bad_magic), tpm))
    assert (f.reason, f.detail) == (Reason.QUOTE_MALFORMED, {"host": HOST,
                                                             "problem": "bad_magic"})
    f = only_finding(judge(dataclasses.replace(ev, quote_attest=ev.quote_attest[:5]), tpm))
    assert f.detail["problem"] == "malformed_attest"
    f = only_finding(judge(dataclasses.replace(ev, quote_signature=b"\x00"), tpm))
    assert (f.reason, f.detail) == (Reason.BAD_QUOTE_SIGNATURE, {"host": HOST})
    other = bytes(32)
    f = only_finding(judge(ev, tpm, nonce=other))
    assert (f.reason, f.detail) == (Reason.NONCE_MISMATCH, {
        "host": HOST, "expected": other.hex(), "quoted": NONCE.hex()})


# -- clockInfo ----------------------------------------------------------------------------------
def test_rollback_and_unsafe_clock_details() -> None:
    tpm = make_tpm()
    ev = evidence(tpm)
    clock = 60_000  # the quote's clock (ms): evidence() quotes at now_ms=60 000

    def run(counters, **kw):  # type: ignore[no-untyped-def]
        return evaluate(ev, config(), nonce=NONCE, activate=tpm.activate_credential, now=NOW,
                        challenge_label="c", counters=counters, **kw)

    f = only_finding(run({ev.ek_public_der: (1, 3, 0)}))
    assert f.detail == {"host": HOST, "counter": "restartCount", "last": [1, 3, 0],
                        "quoted": [1, 0, clock]}
    tpm2 = make_tpm()
    tpm2.power_off()  # no TPM2_Shutdown: safe = 0 after the next startup
    tpm2.power_on(1)
    tpm2.startup_clear()
    measure_firmware(tpm2, FirmwareProfile.for_vendor("Dell"))
    measure_esx_boot(tpm2, IMAGE, HostSpecific.for_host(HOST, IMAGE.build))
    ev2 = evidence(tpm2)
    for policy in ("report", "reject"):
        v = evaluate(ev2, config(), nonce=NONCE, activate=tpm2.activate_credential, now=NOW,
                     challenge_label="c", unsafe_clock=policy)
        (f,) = v.warnings if policy == "report" else v.findings
        assert f.detail == {"host": HOST, "clock": tpm2.clock_info().clock,
                            "reset_count": 2, "policy": policy}


# -- more exact details (second mutation run) ----------------------------------------------------
def test_kms_token_shape_and_leeway() -> None:
    from vtalab.domain.attestation import verify_kms_token

    signer = key("ta-01/attestd")
    kid = crypto.key_id(signer)
    trusted = {kid: signer.public_key()}
    now = NOW_EPOCH

    def check(claims: dict, **kw: int):  # type: ignore[no-untyped-def]
        base = {"iss": "ta-01/attestd", "sub": HOST, "group": "g", "typ": "KMS_AUTH_JWT",
                "aud": "kms", "iat": now, "exp": now + 60}
        token = crypto.jwt_encode({**base, **claims}, signer, kid)
        return verify_kms_token(token, trusted_keys=trusted, host=HOST, group="g",
                                now_epoch=kw.get("at", now), leeway=kw.get("leeway", 0))

    assert check({}) is None
    assert check({"aud": "reporting"}) is Reason.TOKEN_FORGED  # right typ, wrong audience
    assert check({"typ": "REPORTING_JWT"}) is Reason.TOKEN_FORGED
    assert check({"exp": None}) is Reason.TOKEN_FORGED  # iat alone is not a validity period
    assert check({"iat": None}) is Reason.TOKEN_FORGED
    assert check({"iat": now + 3}, leeway=5) is None  # skew within the leeway
    assert check({"iat": now + 6}, leeway=5) is Reason.TOKEN_NOT_YET_VALID
    assert check({}, at=now + 64, leeway=5) is None
    assert check({}, at=now + 65, leeway=5) is Reason.TOKEN_EXPIRED


def test_quote_shape_findings_detail() -> None:
    tpm = make_tpm()
    ev = evidence(tpm)
    bad_type = ev.quote_attest[:4] + b"\x80\x17" + ev.quote_attest[6:]
    f = only_finding(judge(dataclasses.replace(ev, quote_attest=bad_type), tpm))
    assert (f.reason, f.detail["problem"]) == (Reason.QUOTE_MALFORMED, "bad_type")
    both = b"\x00" + bad_type[1:]
    f = only_finding(judge(dataclasses.replace(ev, quote_attest=both), tpm))
    assert f.detail["problem"] == "bad_magic, bad_type"
    narrow = dataclasses.replace(ev, pcr_selection=(7, 11, 12, 13, 14))
    f = only_finding(judge(narrow, tpm))
    assert (f.reason, f.detail) == (Reason.QUOTE_MALFORMED, {
        "host": HOST, "problem": "the quoted PCR selection is not the one presented",
        "presented": [7, 11, 12, 13, 14], "quoted": list(PCRS)})
    q = tpm.quote(NONCE, [0, 7], now_ms=60_000)
    few = dataclasses.replace(ev, quote_attest=q.attest, quote_signature=q.signature,
                              pcr_selection=q.pcrs)
    f = only_finding(judge(few, tpm))
    assert (f.reason, f.detail) == (Reason.QUOTE_PCRS_MISSING, {
        "host": HOST, "missing": [11, 12, 13, 14], "quoted": [0, 7]})


def test_quote_signer_mismatch_detail() -> None:
    from vtalab.tpm import marshal as m

    tpm = make_tpm()
    ev = evidence(tpm)
    a = m.parse_attest(ev.quote_attest)
    attest = m.marshal_attest(tpm.ak_name, a.extra_data, a.clock_info, a.firmware_version,
                              a.pcrs, a.pcr_digest)
    r, s = crypto.ecdsa_sign(tpm.ak, attest)
    ev = dataclasses.replace(ev, quote_attest=attest, quote_signature=m.marshal_signature(r, s))
    f = only_finding(judge(ev, tpm))
    assert f.detail == {"host": HOST, "quoted": tpm.ak_name.hex(),
                        "expected": tpm.ak_qualified_name.hex()}


def test_base_image_mismatch_names_unexpected_modules_and_version_records() -> None:
    tpm = make_tpm()
    good = BaseImage.from_image(IMAGE)
    fewer = dataclasses.replace(good, modules=tuple(x for x in good.modules if x[0] != "vmx.v00"))
    f = only_finding(judge(evidence(tpm), tpm, config(base_images=(fewer,))))
    assert f.detail == {"host": HOST, "measured_version": "8.0.2-22380479",
                        "modules": ["vmx.v00"], "unexpected": ["vmx.v00"]}
    records = dataclasses.replace(good, version_records=good.version_records[:-1])
    f = only_finding(judge(evidence(tpm), tpm, config(base_images=(records,))))
    assert f.detail["modules"] == ["version records"] and "unexpected" not in f.detail


def test_a_bad_sts_certificate_or_another_sts_key_does_not_hide_the_right_one() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from vtalab.domain.attestation import Principal

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa-sts")])
    rsa_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(rsa_key.public_key()).serial_number(1)
                .not_valid_before(NOW).not_valid_after(NOW.replace(year=NOW.year + 1))
                .sign(rsa_key, hashes.SHA256()))
    rsa_der = rsa_cert.public_bytes(Encoding.DER)
    other_ec = crypto.cert_der(crypto.make_ca("other STS", key("other-sts"), NOW, NOW))
    good = crypto.cert_der(sts()[0])
    tpm = make_tpm()
    for certs in ((rsa_der, good), (other_ec, good)):
        cfg = config(principals=(Principal(WLD, certs),))
        assert judge(evidence(tpm), tpm, cfg).attested, certs[0][:8]


def test_a_second_version_record_or_one_for_another_module_is_a_mismatch() -> None:
    """esx-boot measures only the FIRST record of b's and k's .version section (tpm.c):
    a log with k.b00's second record too (what vtalab once measured), or with a record
    before s.v00, is not what esx-boot measures for any base image."""
    from vtalab.esxi.measure import TAG_MODULE, version_record_data

    k = IMAGE.module("k.b00")
    assert len(k.version_section) == 2  # esx, esx-base: only esx is measured
    ref = make_tpm()

    def boot_with(extra: bytes, before: str) -> Tpm:
        tpm = Tpm(ref.ek, ref.ak)
        tpm.ek_certificate_der = ref.ek_certificate_der
        tpm.power_on(0)
        tpm.startup_clear()
        for e in ref.log:
            if e.parsed == TaggedEvent(TAG_MODULE, before.encode() + b"\x00"):
                tpm.extend(13, EV_EVENT_TAG, tagged_event_data(TAG_VERSION, extra),
                           digest=crypto.sha256(extra))
            tpm.extend(e.pcr, e.event_type, e.data, digest=e.digest)
        return tpm

    # between k.b00's own record and the module: two records, the first not followed by k
    second = version_record_data(k.version_section[1], "k.b00")
    tpm = boot_with(second, "k.b00")
    v = judge(evidence(tpm), tpm)
    assert v.reasons == (Reason.BASE_IMAGE_MISMATCH,), v.findings
    assert v.findings[0].detail["layout"] == [
        "the version record for k.b00 is not followed by k.b00",
        "2 version records for k.b00 (esx-boot measures only the first)"]
    other = version_record_data(k.version_section[0], "s.v00")
    tpm = boot_with(other, "s.v00")
    v = judge(evidence(tpm), tpm)
    assert v.reasons == (Reason.BASE_IMAGE_MISMATCH,), v.findings
    assert v.findings[0].detail["layout"] == [
        "a version record for s.v00 (esx-boot measures version records only for b and k)"]
    good = make_tpm()
    assert judge(evidence(good), good).attested


def test_chain_problem_from_a_remembered_path_is_the_walk_at_every_time() -> None:
    """chain_problem remembers which certificate signed which (time-free) and checks only
    the validity windows per call: the answer must be the direct walk's, before, inside and
    after every window, for a leaf, an anchor itself, an unknown issuer and an intermediate
    that is itself an anchor."""
    from datetime import UTC, datetime, timedelta

    from vtalab.core import crypto

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    year = timedelta(days=365)
    root_key = crypto.derive_private_key(11, "chain/root")
    root = crypto.make_ca("Chain Root", root_key, t0 - year, t0 + 10 * year)
    mid_key = crypto.derive_private_key(11, "chain/mid")
    mid = crypto.make_ca("Chain Mid", mid_key, t0, t0 + 2 * year, issuer=(root, root_key))
    other_key = crypto.derive_private_key(11, "chain/other")
    other = crypto.make_ca("Other Root", other_key, t0 - year, t0 + 10 * year)
    leaf_key = crypto.derive_private_key(11, "chain/leaf")
    leaf = crypto.issue_certificate("leaf", leaf_key, mid, mid_key, t0 + year / 2, t0 + year)
    by_root = crypto.issue_certificate("leaf2", leaf_key, root, root_key, t0, t0 + year)
    times = [t0 + k * year / 4 for k in range(-8, 48)]
    cases = [(leaf, [mid]), (leaf, [other, mid]), (leaf, [root]), (leaf, [other]),
             (by_root, [root]), (by_root, [other, root]), (root, [root]), (mid, [root]),
             (mid, [other])]
    answers = set()
    for cert, anchors in cases:
        for at in times:
            want = crypto._chain_problem(cert, anchors, at)  # noqa: SLF001
            assert crypto.chain_problem(cert, anchors, at) == want, (cert.subject, at)
            answers.add(want)
    assert answers == {None, "expired", "not_yet_valid", "untrusted_issuer"}
