"""The software TPM: extend, counters and clock, quotes, credential activation."""

from __future__ import annotations

import pytest

from vtalab.core import crypto
from vtalab.errors import OperationError
from vtalab.tpm import (
    Tpm,
    make_credential,
    object_name,
    parse_attest,
    pcr_digest,
    verify_quote,
)
from vtalab.tpm.eventlog import EV_EFI_ACTION, EV_POST_CODE

from .conftest import make_tpm

NONCE = bytes(range(32))


def test_extend_rule_and_log(tpm: Tpm) -> None:
    ev = tpm.extend(4, EV_EFI_ACTION, b"Calling EFI Application from Boot Option")
    assert ev.digest == crypto.sha256(b"Calling EFI Application from Boot Option")
    assert tpm.pcrs[4] == crypto.sha256(bytes(32) + ev.digest)
    d = crypto.sha256(b"payload")
    tpm.extend(4, EV_POST_CODE, b"", digest=d)
    assert tpm.pcrs[4] == crypto.sha256(crypto.sha256(bytes(32) + ev.digest) + d)
    assert [e.pcr for e in tpm.log] == [4, 4]


def test_extend_needs_startup() -> None:
    t = make_tpm()
    with pytest.raises(OperationError):
        t.extend(0, EV_POST_CODE, b"")
    t.power_on(0)
    with pytest.raises(OperationError):
        t.quote(NONCE, [0])


def _cycle(t: Tpm, now: int, *, orderly: bool = True, save_state: bool = False) -> None:
    t.shutdown(orderly=orderly, save_state=save_state)
    t.power_off(now)
    t.power_on(now + 10)


def test_reset_restart_resume_counters(tpm: Tpm) -> None:
    assert (tpm.reset_count, tpm.restart_count, tpm.safe) == (1, 0, True)
    tpm.extend(0, EV_POST_CODE, b"x")
    _cycle(tpm, 2_000)
    tpm.startup_clear()  # TPM Reset
    assert (tpm.reset_count, tpm.restart_count) == (2, 0)
    assert tpm.pcrs[0] == bytes(32) and len(tpm.log) == 0
    tpm.extend(0, EV_POST_CODE, b"y")
    before = tpm.pcrs[0]
    _cycle(tpm, 3_000, save_state=True)
    tpm.startup_state()  # TPM Resume (S3): PCRs kept
    assert (tpm.reset_count, tpm.restart_count) == (2, 1)
    assert tpm.pcrs[0] == before
    _cycle(tpm, 4_000, save_state=True)
    tpm.startup_clear()  # TPM Restart (hibernate): PCRs cleared, resetCount unchanged
    assert (tpm.reset_count, tpm.restart_count) == (2, 2)
    assert tpm.pcrs[0] == bytes(32)
    _cycle(tpm, 5_000)
    with pytest.raises(OperationError):
        tpm.startup_state()  # no saved state after Shutdown(CLEAR)
    tpm.startup_clear()
    assert (tpm.reset_count, tpm.restart_count) == (3, 0)


def test_power_loss_makes_next_quote_unsafe(tpm: Tpm) -> None:
    tpm.power_off(5_000)  # no TPM2_Shutdown: power loss
    tpm.power_on(6_000)
    tpm.startup_clear()
    a = parse_attest(tpm.quote(NONCE, [0]).attest)
    assert a.clock_info.safe is False
    assert a.clock_info.reset_count == 2
    _cycle(tpm, 7_000)
    tpm.startup_clear()
    assert parse_attest(tpm.quote(NONCE, [0]).attest).clock_info.safe is True


def test_shutdown_not_orderly_counts_as_power_loss(tpm: Tpm) -> None:
    _cycle(tpm, 2_000, orderly=False)
    tpm.startup_clear()
    assert tpm.safe is False


def test_clock_counts_powered_time_only() -> None:
    t = make_tpm()
    t.power_on(1_000)
    t.startup_clear()
    assert parse_attest(t.quote(NONCE, [0], now_ms=4_000).attest).clock_info.clock == 3_000
    t.shutdown()
    t.power_off(5_000)
    t.power_on(100_000)  # 95 s unpowered: not counted
    t.startup_clear()
    assert parse_attest(t.quote(NONCE, [0], now_ms=100_500).attest).clock_info.clock == 4_500
    with pytest.raises(OperationError):
        t.quote(NONCE, [0], now_ms=50)


def test_quote_verifies_and_covers_pcrs(booted: Tpm) -> None:
    q = booted.quote(NONCE, [14, 0, 7, 0])
    assert q.pcrs == (0, 7, 14)
    a = parse_attest(q.attest)
    assert a.extra_data == NONCE
    assert a.pcr_digest == pcr_digest([booted.pcrs[p] for p in (0, 7, 14)])
    assert a.qualified_signer == booted.ak_qualified_name
    pub = booted.ak.public_key()
    assert verify_quote(pub, q.attest, q.signature, NONCE, list(q.pcr_values)) == []
    assert booted.quote(NONCE, [0, 7, 14]) == q  # deterministic


def test_verify_quote_problems(booted: Tpm) -> None:
    q = booted.quote(NONCE, [0, 7])
    pub = booted.ak.public_key()
    assert verify_quote(pub, q.attest, q.signature, b"other") == ["nonce_mismatch"]
    other = make_tpm(seed=8).ak.public_key()
    assert verify_quote(other, q.attest, q.signature, NONCE) == ["bad_signature"]
    bad_magic = b"\x00" + q.attest[1:]
    assert verify_quote(pub, bad_magic, q.signature, NONCE) == ["bad_magic", "bad_signature"]
    bad_type = q.attest[:4] + b"\x80\x17" + q.attest[6:]
    assert "bad_type" in verify_quote(pub, bad_type, q.signature, NONCE)
    assert verify_quote(pub, q.attest[:3], q.signature, NONCE) == ["malformed_attest"]
    assert "malformed_signature" in verify_quote(pub, q.attest, q.signature[:-2], NONCE)
    tampered = [booted.pcrs[0], bytes(32)]
    assert verify_quote(pub, q.attest, q.signature, NONCE, tampered) == ["pcr_digest_mismatch"]


def test_credential_activation() -> None:
    tpm = make_tpm()
    other = make_tpm(seed=99)
    secret = b"challenge-0123456789abcdef012345"
    blob, seed = make_credential(tpm.ek.public_key(), tpm.ak_name, secret, b"verifier-nonce")
    assert tpm.activate_credential(blob, seed) == secret
    # Deterministic: the same label gives the same blob.
    assert make_credential(tpm.ek.public_key(), tpm.ak_name, secret, b"verifier-nonce") == (
        blob, seed)
    # Another TPM (different EK) cannot open it.
    assert other.activate_credential(blob, seed) is None
    # Made for another AK name: this TPM refuses.
    wrong = object_name(other.ak_public_area)
    blob2, seed2 = make_credential(tpm.ek.public_key(), wrong, secret, b"n")
    assert tpm.activate_credential(blob2, seed2) is None
    # Tampered / malformed blobs.
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    assert tpm.activate_credential(flipped, seed) is None
    assert tpm.activate_credential(blob[:5], seed) is None
    assert tpm.activate_credential(blob, seed[:10]) is None
    with pytest.raises(ValueError):
        make_credential(tpm.ek.public_key(), tpm.ak_name, bytes(33), b"n")


def test_identity_encodings_follow_the_key_objects() -> None:
    """A TPM's public areas are remembered by key object (worlds of one seed share keys):
    a TPM with the same keys gets the same bytes, another key its own, always equal to
    encoding the key afresh; the memo stays bounded."""
    from vtalab.tpm import device, marshal

    a, b = make_tpm(3, "h1"), make_tpm(3, "h1")
    assert a.ek is b.ek  # derive_private_key is remembered
    assert a.ak_public_area == b.ak_public_area == marshal.ak_public_area(a.ak)
    assert a.ek_public_area == b.ek_public_area == marshal.ek_public_area(a.ek)
    assert a.ek_public_area != a.ak_public_area  # same memo, the encoder is part of the key
    fresh = Tpm(crypto.derive_private_key.__wrapped__(3, "h1/ek"),
                crypto.derive_private_key.__wrapped__(3, "other/ak"))
    assert fresh.ek is not a.ek and fresh.ek_public_area == a.ek_public_area
    assert fresh.ak_public_area == marshal.ak_public_area(fresh.ak) != a.ak_public_area
    assert fresh.ak_name != a.ak_name
    limit = device._AREAS_LIMIT  # noqa: SLF001
    keys = [crypto.derive_private_key.__wrapped__(3, f"k{i}") for i in range(3)]
    device._AREAS.update({(i, marshal.ak_public_area): (None, b"")  # noqa: SLF001
                          for i in range(limit)})
    for k in keys:
        assert Tpm(k, k).ak_public_area == marshal.ak_public_area(k)
        assert len(device._AREAS) <= limit  # noqa: SLF001
    device._AREAS.clear()  # noqa: SLF001


@pytest.mark.parametrize("simulated", [False, True], ids=["real", "simulated"])
def test_credential_round_trip_remembered_is_computed(simulated: bool) -> None:
    """The remembered round trip answers exactly what computing it answers, per crypto
    mode, EK, Name, secret and ephemeral bytes; a blob for one TPM never opens another's,
    remembered or not."""
    from vtalab.tpm import credential as cred

    tpm, other = make_tpm(7, "esx-01"), make_tpm(7, "esx-02")
    cases = [(t.ek.public_key(), t.ak_name, secret, eph)
             for t in (tpm, other) for secret in (b"s" * 32, b"t") for eph in (b"a", b"b")]
    with crypto.simulated(simulated):
        fresh = [cred._make_credential(*c) for c in cases]  # noqa: SLF001
        for _ in range(2):  # the second time from the memo
            assert [make_credential(*c) for c in cases] == fresh
        assert len(set(fresh)) == len(fresh)
        for t in (tpm, other):
            for (ek, _name, secret, _eph), (blob, seed) in zip(cases, fresh, strict=True):
                mine = ek.public_numbers() == t.ek.public_key().public_numbers()
                want = secret if mine else None
                for _ in range(2):
                    assert t.activate_credential(blob, seed) == want
                assert cred._activate_credential(t.ek, t.ak_name, blob, seed) == want  # noqa: SLF001
    # the other mode's memo is not this one's: the blobs differ, each opens in its mode
    with crypto.simulated(not simulated):
        other_mode = make_credential(*cases[0])
        assert other_mode != fresh[0]
        assert tpm.activate_credential(*other_mode) == cases[0][2]
