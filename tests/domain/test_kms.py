"""The simulated KMIP key server and the active-active KMS cluster."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from vtalab.core import crypto
from vtalab.core.kernel import SIM_EPOCH
from vtalab.domain.kms import (
    KmsCluster,
    KmsServer,
    ServerState,
    build_kms,
)
from vtalab.domain.reasons import Reason
from vtalab.errors import OperationError

NOW = SIM_EPOCH
ADDRESSES = ["kms-01.lab.local", "kms-02.lab.local"]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture()
def world():
    kms, ident = build_kms(7, "kms", ADDRESSES, now=NOW)
    key_id = kms.create_key(now=NOW)
    return kms, ident, key_id


def creds(ident, **over):
    args = dict(username=ident.username, password=ident.password,
                client_cert_der=ident.certificate_der, now=NOW,
                trusted_server_certs_der=ident.trusted_server_certificates_der)
    args.update(over)
    return args


def test_create_and_get(world):
    kms, ident, key_id = world
    assert UUID.match(key_id)
    result = kms.get_key(key_id, **creds(ident))
    assert result.ok and result.reason is None
    assert result.material is not None and len(result.material) == 32
    assert result.server == "kms-01"
    assert result.key_id == key_id
    assert [a.status for a in result.attempts] == [ServerState.CONNECTED]
    assert kms.key(key_id).state == "Active"
    assert kms.key(key_id).created_at == NOW
    # The material never shows in a repr.
    assert result.material.hex() not in repr(result)
    assert result.material.hex() not in repr(kms.key(key_id))


def test_single_server_get(world):
    kms, ident, key_id = world
    server = kms.servers[1]
    result = server.get_key(key_id, **creds(ident))
    assert result.ok and result.server == "kms-02"


def test_outage_is_unreachable(world):
    kms, ident, key_id = world
    for s in kms.servers:
        s.set_available(False)
    result = kms.get_key(key_id, **creds(ident))
    assert not result.ok and result.material is None
    assert result.reason == Reason.KMS_UNREACHABLE
    assert [a.status for a in result.attempts] == [ServerState.UNREACHABLE] * 2
    kms.servers[0].set_available(True)
    assert kms.get_key(key_id, **creds(ident)).ok


def test_wrong_password(world):
    kms, ident, key_id = world
    result = kms.get_key(key_id, **creds(ident, password="not-it"))
    assert result.reason == Reason.KMS_AUTH_FAILED
    assert all(a.status == ServerState.AUTH_FAILED for a in result.attempts)
    assert "not-it" not in result.message


def test_rotated_password(world):
    kms, ident, key_id = world
    for s in kms.servers:
        s.rotate_password(ident.username, "rotated")
    assert kms.get_key(key_id, **creds(ident)).reason == Reason.KMS_AUTH_FAILED
    assert kms.get_key(key_id, **creds(ident, password="rotated")).ok
    with pytest.raises(OperationError) as err:
        kms.servers[0].rotate_password("vtalab-kmdx", "x")
    assert err.value.suggestion == ident.username


def test_untrusted_client_certificate(world):
    kms, ident, key_id = world
    rogue_key = crypto.derive_private_key(7, "rogue/ca")
    rogue_ca = crypto.make_ca("Rogue CA", rogue_key, NOW, NOW + timedelta(days=30))
    rogue = crypto.issue_certificate(ident.username, rogue_key, rogue_ca, rogue_key, NOW,
                                     NOW + timedelta(days=30))
    result = kms.get_key(key_id, **creds(ident, client_cert_der=crypto.cert_der(rogue)))
    assert result.reason == Reason.KMS_AUTH_FAILED
    assert "not trusted" in result.message
    # Registering it explicitly makes it trusted; revoking ours makes ours untrusted.
    server = kms.servers[0]
    server.trust_client_certificate(crypto.cert_der(rogue))
    assert server.get_key(key_id, **creds(ident, client_cert_der=crypto.cert_der(rogue))).ok
    server.untrust_client_certificate(ident.certificate_der)
    assert server.get_key(key_id, **creds(ident)).reason == Reason.KMS_AUTH_FAILED
    assert kms.get_key(key_id, **creds(ident)).server == "kms-02"  # failover
    assert kms.get_key(key_id, **creds(ident, client_cert_der=b"garbage")).reason == (
        Reason.KMS_AUTH_FAILED)


def test_expired_client_certificate(world):
    kms, ident, key_id = world
    later = NOW + timedelta(days=400)  # server and client certificates last 365 days
    renewal_key = crypto.derive_private_key(7, "renewed-server")
    # Renew the server certificates so that only the client certificate is expired.
    for s in kms.servers:
        ca_key = crypto.derive_private_key(7, "kms/kms/ca")
        s.set_server_certificate(crypto.issue_certificate(
            s.address, renewal_key, s.ca_cert, ca_key, NOW, later + timedelta(days=1)),
            renewal_key)
    result = kms.get_key(key_id, **creds(ident, now=later))
    # an expiry, not a distrust: vCenter's KMSClientCertExpirationEvent follows from it
    assert result.reason == Reason.KMS_CERTIFICATE_EXPIRED
    assert "client certificate" in result.message and "expired" in result.message


def test_expired_server_certificate(world):
    kms, ident, key_id = world
    later = NOW + timedelta(days=366)
    result = kms.get_key(key_id, **creds(ident, now=later))
    assert result.reason == Reason.KMS_CERTIFICATE_EXPIRED
    assert all(a.status == ServerState.CERT_EXPIRED for a in result.attempts)
    # Not yet valid either, before its notBefore.
    early = kms.servers[0].get_key(key_id, **creds(ident, now=NOW - timedelta(days=1)))
    assert early.reason == Reason.KMS_CERTIFICATE_EXPIRED
    assert "not valid before" in early.message


def test_one_expired_server_fails_over(world):
    kms, ident, key_id = world
    ca_key = crypto.derive_private_key(7, "kms/kms/ca")
    first = kms.servers[0]
    key = crypto.derive_private_key(7, "short")
    first.set_server_certificate(crypto.issue_certificate(
        first.address, key, first.ca_cert, ca_key, NOW - timedelta(days=10),
        NOW - timedelta(days=1)), key)
    result = kms.get_key(key_id, **creds(ident))
    assert result.ok and result.server == "kms-02"
    assert [a.status for a in result.attempts] == [ServerState.CERT_EXPIRED,
                                                   ServerState.CONNECTED]


def test_untrusted_server_certificate(world):
    kms, ident, key_id = world
    other, other_ident = build_kms(8, "other", ["x.lab"], now=NOW)
    result = kms.get_key(key_id, **creds(
        ident, trusted_server_certs_der=other_ident.trusted_server_certificates_der))
    assert result.reason == Reason.KMS_AUTH_FAILED
    assert "server certificate" in result.message
    # Trusting the server certificate itself (not the CA) works too.
    pinned = kms.servers[0].get_key(key_id, **creds(
        ident, trusted_server_certs_der=(ident.server_certificates_der[0],)))
    assert pinned.ok


def test_missing_and_destroyed_keys(world):
    kms, ident, key_id = world
    missing = kms.get_key("no-such-key", **creds(ident))
    assert missing.reason == Reason.KEY_NOT_FOUND
    # The session was fine: the servers report CONNECTED.
    assert all(a.status == ServerState.CONNECTED for a in missing.attempts)
    kms.revoke(key_id)
    assert kms.key(key_id).state == "Deactivated"
    assert kms.get_key(key_id, **creds(ident)).reason == Reason.KEY_NOT_FOUND
    kms.destroy(key_id)
    for s in kms.servers:
        assert s.key(key_id).state == "Destroyed"
        assert s.key(key_id).material == b""
    result = kms.get_key(key_id, **creds(ident))
    assert result.reason == Reason.KEY_NOT_FOUND and "Destroyed" in result.message


def test_key_life_cycle_rules(world):
    kms, _, key_id = world
    with pytest.raises(OperationError, match="revoke"):
        kms.destroy(key_id)
    with pytest.raises(OperationError):
        kms.activate(key_id)
    pending = kms.create_key(activate=False)
    assert kms.key(pending).state == "PreActive"
    kms.activate(pending)
    assert all(s.key(pending).state == "Active" for s in kms.servers)
    kms.revoke(pending, compromised=True)
    assert kms.key(pending).state == "Compromised"
    with pytest.raises(OperationError) as err:
        kms.key(key_id[:-1])
    assert err.value.suggestion == key_id
    with pytest.raises(OperationError):
        kms.create_key(key_id)
    assert kms.create_key("my-key") == "my-key"


def test_replication_and_failover(world):
    kms, ident, key_id = world
    assert kms.servers[0].key_ids == kms.servers[1].key_ids == [key_id]
    assert kms.servers[0].key(key_id) == kms.servers[1].key(key_id)
    kms.servers[0].set_available(False)
    result = kms.get_key(key_id, **creds(ident))
    assert result.ok and result.server == "kms-02"
    assert [a.status for a in result.attempts] == [ServerState.UNREACHABLE,
                                                   ServerState.CONNECTED]
    # A key created while a member is down still reaches it (vendor replication).
    second = kms.create_key()
    kms.servers[0].set_available(True)
    kms.servers[1].set_available(False)
    assert kms.get_key(second, **creds(ident)).server == "kms-01"


def test_endpoints_select_and_order_servers(world):
    kms, ident, key_id = world
    result = kms.get_key(key_id, **creds(ident), endpoints=[("kms-02.lab.local", 5696)])
    assert result.server == "kms-02" and len(result.attempts) == 1
    wrong = kms.get_key(key_id, **creds(ident), endpoints=[("kms-09.lab.local", 5696)])
    assert wrong.reason == Reason.KMS_UNREACHABLE
    probe = kms.probe(username=ident.username, password=ident.password,
                      client_cert_der=ident.certificate_der, now=NOW)
    assert [a.status for a in probe] == [ServerState.CONNECTED] * 2


def test_most_telling_failure_wins(world):
    kms, ident, key_id = world
    kms.servers[0].set_available(False)
    kms.servers[1].rotate_password(ident.username, "changed")
    result = kms.get_key(key_id, **creds(ident))
    assert result.reason == Reason.KMS_AUTH_FAILED


def test_determinism():
    def run(seed):
        kms, ident = build_kms(seed, "kms", ADDRESSES, now=NOW)
        ids = [kms.create_key(now=NOW) for _ in range(3)]
        material = [kms.get_key(k, **creds(ident)).material for k in ids]
        return ids, material, ident.certificate_der, ident.password, \
            kms.servers[0].server_certificate_der

    assert run(1) == run(1)
    ids1, mat1, *_ = run(1)
    ids2, mat2, *_ = run(2)
    assert len(set(ids1)) == 3 and len(set(mat1)) == 3
    assert set(ids1).isdisjoint(ids2) and set(mat1).isdisjoint(mat2)
    # Material is SHA-256("kms|seed|key_id").
    assert mat1[0] == crypto.sha256(f"kms|1|{ids1[0]}".encode())


def test_cluster_validation():
    kms, _ = build_kms(1, "kms", ["a"], now=NOW)
    with pytest.raises(OperationError):
        KmsCluster("empty", [])
    with pytest.raises(OperationError):
        KmsCluster("dupe", [kms.servers[0], kms.servers[0]])
    assert isinstance(kms.server("kms-01"), KmsServer)
    with pytest.raises(OperationError):
        kms.server("kms-99")
    with pytest.raises(OperationError):
        kms.servers[0].add_account("vtalab-kmxd", "again")
    assert "password" not in repr(build_kms(1, "kms", ["a"], now=NOW)[1])
