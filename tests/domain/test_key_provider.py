"""The Key Provider Service (kmxd): trusted key providers and key release."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from vtalab.core import crypto
from vtalab.core.kernel import SIM_EPOCH
from vtalab.domain.attestation import Verdict, issue_tokens
from vtalab.domain.key_provider import (
    KeyProviderService,
    KmipServerRef,
    TrustedKeyProvider,
    build_kms,
    provider_for,
)
from vtalab.domain.kms import ServerState
from vtalab.domain.reasons import Reason
from vtalab.errors import OperationError

NOW = SIM_EPOCH
EPOCH = int(NOW.timestamp())
GROUP = "group-1"
HOST = "esx-01.lab.local"
LIFETIME = 3600


def attestation_key(label: str = "ta-01/attestd"):
    key = crypto.derive_private_key(3, label)
    return key, crypto.key_id(key)


def make_token(*, host: str = HOST, group: str = GROUP, iat: int = EPOCH,
               lifetime: int = LIFETIME, label: str = "ta-01/attestd",
               kid: str | None = None, reporting: bool = False) -> str:
    """A KMS_AUTH_JWT (or REPORTING_JWT) as the Attestation Service issues it."""
    key, key_kid = attestation_key(label)
    verdict = Verdict(attested=True, measured_version="8.0.3")
    kms_jwt, reporting_jwt = issue_tokens(verdict, host=host, service_name="ta-01/attestd",
                                          group=group, key=key, kid=kid or key_kid, iat=iat,
                                          lifetime=lifetime)
    return reporting_jwt if reporting else kms_jwt


@pytest.fixture()
def lab():
    kms, ident = build_kms(5, "kms", ["kms-01.lab.local", "kms-02.lab.local"], now=NOW)
    key_id = kms.create_key(now=NOW)
    service = KeyProviderService("ta-01.lab.local", GROUP)
    key, kid = attestation_key()
    service.trust_attestation_key(kid, key.public_key())
    service.add_provider(provider_for("tkp-1", kms, ident, key_id))
    return service, kms, ident, key_id


def release(service, kms, *, token, host=HOST, provider="tkp-1", key_id=None, at=0):
    return service.release_key(token=token, host=host, provider=provider, key_id=key_id,
                               kms=kms, now=NOW + timedelta(seconds=at),
                               now_epoch=EPOCH + at)


def test_valid_token_releases_primary_key(lab):
    service, kms, ident, key_id = lab
    result = release(service, kms, token=make_token(), at=60)
    assert result.ok and result.reason is None
    assert result.key_id == key_id
    assert result.material == crypto.sha256(f"kms|5|{key_id}".encode())
    assert result.server == "kms-01"
    assert result.log and "released" in result.log[-1]
    assert result.material.hex() not in repr(result)


def test_explicit_key_id(lab):
    service, kms, _, _ = lab
    other = kms.create_key(now=NOW)
    result = release(service, kms, token=make_token(), key_id=other)
    assert result.ok and result.key_id == other


def _refused(result, reason):
    assert not result.ok
    assert result.material is None
    assert result.reason == reason
    assert result.log and f"reason={reason.value}" in result.log[-1]


def test_no_token(lab):
    service, kms, *_ = lab
    _refused(release(service, kms, token=None), Reason.NO_TOKEN)
    _refused(release(service, kms, token=""), Reason.NO_TOKEN)


def test_expired_token(lab):
    service, kms, *_ = lab
    _refused(release(service, kms, token=make_token(), at=LIFETIME + 60), Reason.TOKEN_EXPIRED)


def test_token_not_yet_valid(lab):
    service, kms, *_ = lab
    _refused(release(service, kms, token=make_token(iat=EPOCH + 3 * 3600)),
             Reason.TOKEN_NOT_YET_VALID)


def test_token_from_another_group(lab):
    service, kms, *_ = lab
    result = release(service, kms, token=make_token(group="group-2"))
    _refused(result, Reason.TOKEN_WRONG_GROUP)


def test_token_from_attestation_service_of_another_group(lab):
    service, kms, *_ = lab
    # Signed by an Attestation Service whose key this group's kmxd does not trust.
    token = make_token(label="ta-other/attestd")
    result = release(service, kms, token=token)
    assert not result.ok
    assert result.reason in (Reason.TOKEN_FORGED, Reason.TOKEN_WRONG_GROUP)


def test_forged_token(lab):
    service, kms, *_ = lab
    _, trusted_kid = attestation_key()
    # A token signed by an untrusted key that claims the trusted key's id.
    forged = make_token(label="attacker", kid=trusted_kid)
    _refused(release(service, kms, token=forged), Reason.TOKEN_FORGED)
    # A valid token whose claims were edited after signing.
    header, claims, sig = make_token().split(".")
    tampered = crypto.b64url(crypto.b64url_decode(claims).replace(b"group-1", b"group-9"))
    _refused(release(service, kms, token=f"{header}.{tampered}.{sig}"), Reason.TOKEN_FORGED)
    _refused(release(service, kms, token="not-a-jwt"), Reason.TOKEN_FORGED)
    # A REPORTING_JWT never authorizes a key release.
    _refused(release(service, kms, token=make_token(reporting=True)), Reason.TOKEN_FORGED)


def test_token_for_another_host(lab):
    service, kms, *_ = lab
    stolen = make_token(host="esx-02.lab.local")
    _refused(release(service, kms, token=stolen), Reason.TOKEN_WRONG_HOST)


def test_kms_down(lab):
    service, kms, *_ = lab
    for s in kms.servers:
        s.set_available(False)
    result = release(service, kms, token=make_token())
    _refused(result, Reason.KMS_UNREACHABLE)
    assert len(result.attempts) == 2
    assert sum("UNREACHABLE" in line for line in result.log) == 2


def test_kms_failover(lab):
    service, kms, *_ = lab
    kms.servers[0].set_available(False)
    result = release(service, kms, token=make_token())
    assert result.ok and result.server == "kms-02"
    assert any("kms-01" in line and "kms_unreachable" in line for line in result.log)


def test_kms_password_rotated_without_updating_provider(lab):
    service, kms, ident, _ = lab
    for s in kms.servers:
        s.rotate_password(ident.username, "new-secret")
    _refused(release(service, kms, token=make_token()), Reason.KMS_AUTH_FAILED)
    service.set_provider(service.provider("tkp-1").with_password("new-secret"))
    assert release(service, kms, token=make_token()).ok


def test_kms_certificate_expired(lab):
    service, kms, *_ = lab
    later = 366 * 86400
    token = make_token(iat=EPOCH + later - 60)
    _refused(release(service, kms, token=token, at=later), Reason.KMS_CERTIFICATE_EXPIRED)


def test_key_missing(lab):
    service, kms, _, key_id = lab
    kms.revoke(key_id)
    kms.destroy(key_id)
    _refused(release(service, kms, token=make_token()), Reason.KEY_NOT_FOUND)


def test_service_stopped(lab):
    service, kms, *_ = lab
    service.stop()
    result = release(service, kms, token=make_token())
    _refused(result, Reason.SERVICE_STOPPED)
    service.start()
    assert release(service, kms, token=make_token()).ok


def test_provider_not_configured(lab):
    service, kms, *_ = lab
    _refused(release(service, kms, token=make_token(), provider="tkp-9"),
             Reason.KEY_PROVIDER_NOT_CONFIGURED)


def test_provider_pointing_at_wrong_address(lab):
    service, kms, *_ = lab
    config = service.provider("tkp-1")
    service.set_provider(replace(config, servers=(KmipServerRef("kms-x", "10.0.0.9"),)))
    _refused(release(service, kms, token=make_token()), Reason.KMS_UNREACHABLE)


def test_check_order_stopped_before_token(lab):
    service, kms, *_ = lab
    service.stop()
    _refused(release(service, kms, token=None, provider="nope"), Reason.SERVICE_STOPPED)
    service.start()
    _refused(release(service, kms, token=None, provider="nope"),
             Reason.KEY_PROVIDER_NOT_CONFIGURED)


def test_password_never_shown(lab):
    service, kms, ident, _ = lab
    config = service.provider("tkp-1")
    assert ident.password not in repr(config)
    assert ident.password not in str(config)
    assert "'***'" in repr(config)
    assert config.record()["password"] == "***"
    assert ident.password not in repr(config.record())
    for s in kms.servers:
        s.set_available(False)
    result = release(service, kms, token=make_token())
    assert all(ident.password not in line for line in result.log)


def test_provider_management(lab):
    service, kms, ident, key_id = lab
    with pytest.raises(OperationError) as err:
        service.add_provider(provider_for("tkp-1", kms, ident, key_id))
    assert err.value.value == "tkp-1"
    with pytest.raises(OperationError) as err:
        service.provider("tkp-2")
    assert err.value.suggestion == "tkp-1"
    with pytest.raises(OperationError):
        service.set_provider(provider_for("tkp-2", kms, ident, key_id))
    removed = service.remove_provider("tkp-1")
    assert isinstance(removed, TrustedKeyProvider)
    assert service.providers == {}
    with pytest.raises(OperationError):
        service.distrust_attestation_key("unknown")


def test_status(lab):
    service, kms, ident, key_id = lab
    rows = service.status(kms, NOW)
    assert [(r.provider, r.server, r.status) for r in rows] == [
        ("tkp-1", "kms-01", ServerState.CONNECTED), ("tkp-1", "kms-02", ServerState.CONNECTED)]
    assert rows[0].status == "CONNECTED"
    kms.servers[0].set_available(False)
    kms.servers[1].rotate_password(ident.username, "x")
    assert [r.status for r in service.status(kms, NOW)] == ["UNREACHABLE", "AUTH_FAILED"]
    assert [r.status for r in service.status(kms, NOW + timedelta(days=400), "tkp-1")] == [
        "UNREACHABLE", "CERT_EXPIRED"]
    with pytest.raises(OperationError):
        service.status(kms, NOW, "nope")


def test_release_is_deterministic():
    def run():
        kms, ident = build_kms(5, "kms", ["kms-01.lab.local"], now=NOW)
        key_id = kms.create_key(now=NOW)
        service = KeyProviderService("ta-01.lab.local", GROUP)
        key, kid = attestation_key()
        service.trust_attestation_key(kid, key.public_key())
        service.add_provider(provider_for("tkp-1", kms, ident, key_id))
        return release(service, kms, token=make_token())

    assert run() == run()


# -- recorded at the source; the latest-verdict what-if (issue 13) ---------------------------
def test_every_answer_is_recorded_with_the_accepted_token(lab):
    service, kms, ident, key_id = lab
    seen: list[dict] = []
    service.record = lambda **f: seen.append(f)
    token = make_token()
    assert release(service, kms, token=token, at=60).ok
    assert not release(service, kms, token=None, at=61).ok
    ok, refused = seen
    kid = attestation_key()[1]
    assert ok == {"host": HOST, "key_id": key_id, "provider": "tkp-1", "ok": True,
                  "reason": None, "token_sub": HOST, "token_exp": EPOCH + LIFETIME,
                  "now_epoch": EPOCH + 60, "group": GROUP,
                  "message": f"kmxd on ta-01.lab.local: key {key_id[:8]}… released to {HOST}",
                  "token": token, "token_kid": kid, "token_iss": "ta-01/attestd",
                  "token_iat": EPOCH, "token_group": GROUP}
    assert refused == {"host": HOST, "key_id": key_id, "provider": "tkp-1", "ok": False,
                       "reason": "no_token", "token_sub": None, "token_exp": None,
                       "now_epoch": EPOCH + 61, "group": GROUP,
                       "message": f"kmxd on ta-01.lab.local: key {key_id[:8]}… refused to "
                                  f"{HOST} (no_token)"}


def test_latest_verdict_policy(lab):
    service, kms, ident, key_id = lab
    verdicts: dict[str, tuple[float, bool, str | None]] = {}
    service.latest_verdict = verdicts.get
    assert release(service, kms, token=make_token(), at=1).ok  # policy "token": not asked
    service.policy = "latest_verdict"
    assert release(service, kms, token=make_token(), at=1).ok  # no verdict known
    verdicts[HOST] = (30.0, True, None)
    assert release(service, kms, token=make_token(), at=1).ok
    verdicts[HOST] = (90.0, False, "untrusted_base_image")
    r = release(service, kms, token=make_token(), at=100)
    assert (r.ok, r.reason) == (False, Reason.TOKEN_SUPERSEDED)
    assert "(untrusted_base_image, at T+00:01:30)" in r.message
    assert not release(service, kms, token=None, at=100).ok  # the token rule still first
    with pytest.raises(ValueError, match="key release policy"):
        KeyProviderService("ta", GROUP, policy="verdict")


def _answers(service, kms, key_id):
    """One answer per path through release_key, as (reason, message, log, provider,
    key_id, attempts) -- what kmxd.log and the caller see."""
    out = {}

    def take(name, result):
        out[name] = (result.reason.value if result.reason else None, result.message,
                     result.log, result.provider, result.key_id, len(result.attempts))

    take("no_token", release(service, kms, token=None))
    take("forged", release(service, kms, token="not-a-jwt"))
    take("wrong_group", release(service, kms, token=make_token(group="group-2")))
    take("not_configured", release(service, kms, token=make_token(), provider="tkp-9"))
    service.policy = "latest_verdict"
    service.latest_verdict = lambda host: (90.0, False, None)
    take("superseded", release(service, kms, token=make_token(), at=100))
    service.policy = "token"
    for s in kms.servers:
        s.set_available(False)
    take("kms_down", release(service, kms, token=make_token()))
    for s in kms.servers:
        s.set_available(True)
    later = 366 * 86400
    take("cert_expired", release(service, kms, token=make_token(iat=EPOCH + later - 60),
                                 at=later))
    take("released", release(service, kms, token=make_token(), key_id=key_id))
    service.stop()
    take("stopped", release(service, kms, token=make_token()))
    return out


def test_every_refusal_says_exactly_why(lab):
    service, kms, _, key_id = lab
    a = _answers(service, kms, key_id)
    pre = f"Key request from {HOST} for key "

    def refused(reason, message, key=key_id, provider="tkp-1", extra=()):
        return [*extra, f"{pre}{key} of provider {provider} refused: reason={reason}: {message}"]

    msg = "Host esx-01.lab.local asked for a key without an attestation token (it is not attested)."
    assert a["no_token"] == ("no_token", msg, refused("no_token", msg), "tkp-1", key_id, 0)
    msg = ("The attestation token of esx-01.lab.local is not signed by a trusted Attestation "
           "Service.")
    assert a["forged"] == ("token_forged", msg, refused("token_forged", msg), "tkp-1", key_id, 0)
    msg = ("The attestation token of esx-01.lab.local is for group group-2, not this key "
           "provider's group group-1.")
    assert a["wrong_group"] == ("token_wrong_group", msg, refused("token_wrong_group", msg),
                                "tkp-1", key_id, 0)
    msg = ("No trusted key provider tkp-9 is configured for group group-1. (TA host "
           "ta-01.lab.local has: tkp-1)")
    assert a["not_configured"] == ("key_provider_not_configured", msg,
                                   refused("key_provider_not_configured", msg, key="<primary>",
                                           provider="tkp-9"), "tkp-9", None, 0)
    msg = ("The attestation token of esx-01.lab.local is valid, but the host has since been "
           "judged notAttested (?, at T+00:01:30); key_release_policy latest_verdict refuses "
           "it.")
    assert a["superseded"] == ("token_superseded", msg, refused("token_superseded", msg),
                               "tkp-1", key_id, 0)
    reason, message, log, provider, key, attempts = a["kms_down"]
    assert (reason, provider, key, attempts) == ("kms_unreachable", "tkp-1", key_id, 2)
    assert message.startswith("No KMIP server of key provider tkp-1 could be reached. (")
    assert log[0] == f"Attestation token of {HOST} accepted (group group-1)"
    assert log[-1] == refused("kms_unreachable", message)[-1]
    reason, message, log, provider, key, attempts = a["cert_expired"]
    assert reason == "kms_certificate_expired" and not message.endswith(")")
    assert message.startswith("A certificate between key provider tkp-1 and its KMIP server "
                              "has expired (")
    assert a["released"][:2] == (None, f"Key {key_id} of provider tkp-1 released to {HOST} "
                                       "(KMIP server kms-01)")
    assert a["released"][2][-1] == a["released"][1] and a["released"][3:] == ("tkp-1",
                                                                              key_id, 1)
    msg = f"kmxd on TA host ta-01.lab.local is stopped; key request from {HOST} not served"
    assert a["stopped"] == ("service_stopped", msg,
                            refused("service_stopped", msg, key="<primary>"), "tkp-1", None, 0)


def test_refusals_name_the_token_host_the_key_and_the_expired_certificate(lab):
    service, kms, _, key_id = lab
    r = release(service, kms, token=make_token(host="esx-02.lab.local"))
    assert r.message == (f"The attestation token presented by {HOST} was issued to another "
                         "host (esx-02.lab.local).")
    kms.revoke(key_id)
    kms.destroy(key_id)
    r = release(service, kms, token=make_token())
    assert r.message.startswith(f"Key {key_id} was not found on the KMIP servers of key "
                                "provider tkp-1.")
    later = 366 * 86400
    r = release(service, kms, token=make_token(iat=EPOCH + later - 60), at=later,
                key_id="k-1")
    assert "has expired (" in r.message and "(None)" not in r.message
    assert r.message.endswith("has expired (the key could not be fetched from any of the 2 "
                              "KMIP servers of kms; KMS server kms-01 (kms-01.lab.local:5696): "
                              "server certificate expired at 2027-01-05T08:00:00Z).")
    service.stop()
    assert release(service, kms, token=None, key_id="k-1").key_id == "k-1"
    service.start()
    assert release(service, kms, token=None, key_id="k-1", provider="tkp-9").key_id == "k-1"


def test_fallback_words_of_refusals(lab):
    service, kms, ident, key_id = lab
    key, kid = attestation_key()
    no_group = crypto.jwt_encode({"iss": "ta-01/attestd", "sub": HOST, "typ": "KMS_AUTH_JWT",
                                  "aud": "kms", "iat": EPOCH, "exp": EPOCH + 60}, key, kid)
    r = release(service, kms, token=no_group)
    assert r.reason is Reason.TOKEN_WRONG_GROUP and "is for group ?, not" in r.message
    no_sub = crypto.jwt_encode({"iss": "ta-01/attestd", "group": GROUP, "typ": "KMS_AUTH_JWT",
                                "aud": "kms", "iat": EPOCH, "exp": EPOCH + 60}, key, kid)
    r = release(service, kms, token=no_sub)
    assert r.reason is Reason.TOKEN_WRONG_HOST
    assert r.message == (f"The attestation token presented by {HOST} was issued to another "
                         "host (?).")
    service.add_provider(provider_for("tkp-2", kms, ident, key_id))
    r = release(service, kms, token=make_token(), provider="tkp-9")
    assert r.message.endswith("(TA host ta-01.lab.local has: tkp-1, tkp-2)")
    service.remove_provider("tkp-1")
    service.remove_provider("tkp-2")
    r = release(service, kms, token=make_token(), provider="tkp-9")
    assert r.message.endswith("(TA host ta-01.lab.local has: none)")


def test_a_provider_pinning_the_wrong_kmip_server_certificate_is_refused(lab):
    """kmxd checks the KMIP server's certificate against what the provider pins.

    Pinning another KMS's CA (or nothing at all) is refused with ``kms_auth_failed`` and
    the attempt names the untrusted server certificate; pinning the KMS CA or the server's
    own certificate releases the key. (Passing no pinned certificates at all would skip the
    check and release: this test tells the two apart.)
    """
    service, kms, *_ = lab
    other_kms, other_ident = build_kms(6, "other", ["kms-09.lab.local"], now=NOW)
    config = service.provider("tkp-1")
    wrong = other_ident.trusted_server_certificates_der
    assert wrong != config.trusted_server_certificates_der
    service.set_provider(replace(config, trusted_server_certificates_der=wrong))
    result = release(service, kms, token=make_token())
    _refused(result, Reason.KMS_AUTH_FAILED)
    assert [a.ok for a in result.attempts] == [False, False]
    assert all("is not trusted by the client" in a.message for a in result.attempts)
    service.set_provider(replace(config, trusted_server_certificates_der=()))
    _refused(release(service, kms, token=make_token()), Reason.KMS_AUTH_FAILED)
    pinned_leaf = (kms.servers[0].server_certificate_der,)
    service.set_provider(replace(config, trusted_server_certificates_der=pinned_leaf))
    result = release(service, kms, token=make_token())
    assert result.ok and result.server == "kms-01"
    service.set_provider(config)
    assert release(service, kms, token=make_token()).ok
