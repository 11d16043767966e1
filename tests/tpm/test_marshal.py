"""TPM 2.0 marshalling: round trips and rejection of malformed bytes."""

from __future__ import annotations

import pytest

from vtalab.core import crypto
from vtalab.tpm import marshal
from vtalab.tpm.marshal import (
    ClockInfo,
    marshal_attest,
    marshal_pcr_selection,
    marshal_signature,
    parse_attest,
    parse_pcr_selection,
    parse_public,
    parse_signature,
)

KEY = crypto.derive_private_key(1, "marshal/ak")


def _attest() -> bytes:
    return marshal_attest(b"\x00\x0b" + bytes(32), b"nonce-123", ClockInfo(123456, 3, 1, True),
                          0x0102030405060708, [0, 7, 13], bytes(range(32)))


def test_attest_round_trip() -> None:
    a = parse_attest(_attest())
    assert a.magic == marshal.TPM_GENERATED_VALUE
    assert a.type == marshal.TPM_ST_ATTEST_QUOTE
    assert a.extra_data == b"nonce-123"
    assert a.clock_info == ClockInfo(123456, 3, 1, True)
    assert a.firmware_version == 0x0102030405060708
    assert a.pcrs == [0, 7, 13]
    assert a.pcr_digest == bytes(range(32))


def test_attest_layout_is_big_endian() -> None:
    data = _attest()
    assert data[:6] == bytes.fromhex("ff5443478018")
    assert data[6:8] == b"\x00\x22"  # TPM2B_NAME size 34


@pytest.mark.parametrize("cut", [0, 3, 6, 10, 40, 60, 70, -1])
def test_attest_truncated_is_rejected(cut: int) -> None:
    with pytest.raises(ValueError):
        parse_attest(_attest()[:cut])


def test_attest_trailing_bytes_rejected() -> None:
    with pytest.raises(ValueError, match="trailing"):
        parse_attest(_attest() + b"\x00")


def test_attest_bad_safe_and_type_rejected() -> None:
    data = bytearray(_attest())
    safe_at = 6 + 2 + 34 + 2 + 9 + 8 + 4 + 4
    assert data[safe_at] == 1
    data[safe_at] = 2
    with pytest.raises(ValueError, match="YES_NO"):
        parse_attest(bytes(data))
    other = bytearray(_attest())
    other[4:6] = b"\x80\x17"  # TPM_ST_ATTEST_CERTIFY
    with pytest.raises(ValueError, match="not a quote"):
        parse_attest(bytes(other))


def test_oversized_tpm2b_rejected() -> None:
    data = bytearray(_attest())
    data[6:8] = b"\xff\xff"
    with pytest.raises(ValueError):
        parse_attest(bytes(data))


def test_pcr_selection() -> None:
    raw = marshal_pcr_selection([0, 7, 11, 23])
    assert raw == bytes.fromhex("00000001" "000b" "03" "810880")
    assert parse_pcr_selection(raw) == [(marshal.TPM_ALG_SHA256, [0, 7, 11, 23])]
    with pytest.raises(ValueError):
        marshal_pcr_selection([24])
    with pytest.raises(ValueError):
        parse_pcr_selection(bytes.fromhex("ffffffff"))


def test_signature_round_trip_and_rejections() -> None:
    r, s = crypto.ecdsa_sign(KEY, b"x")
    raw = marshal_signature(r, s)
    assert len(raw) == 2 + 2 + 34 + 34
    sig = parse_signature(raw)
    assert (sig.sig_alg, sig.hash_alg, sig.r, sig.s) == (0x18, 0x0B, r, s)
    with pytest.raises(ValueError):
        parse_signature(raw[:-1])
    with pytest.raises(ValueError, match="algorithm"):
        parse_signature(b"\x00\x14" + raw[2:])  # RSASSA
    with pytest.raises(ValueError):
        parse_signature(b"")


def test_public_areas() -> None:
    ak = parse_public(marshal.marshal_public(marshal.ak_public_area(KEY)))
    assert ak.restricted and ak.sign and not ak.decrypt
    assert ak.scheme == (marshal.TPM_ALG_ECDSA, marshal.TPM_ALG_SHA256)
    assert ak.symmetric is None
    assert (ak.x, ak.y) == crypto.public_point(KEY)
    ek = parse_public(marshal.ek_public_area(KEY), sized=False)
    assert ek.attributes == 0x000300B2
    assert ek.restricted and ek.decrypt and not ek.sign
    assert ek.symmetric == (marshal.TPM_ALG_AES, 128, marshal.TPM_ALG_CFB)
    assert ek.auth_policy == marshal.EK_AUTH_POLICY
    assert ek.public_key().public_numbers() == KEY.public_key().public_numbers()


def test_public_rejections() -> None:
    area = marshal.ak_public_area(KEY)
    with pytest.raises(ValueError):
        parse_public(area[:-3], sized=False)
    with pytest.raises(ValueError, match="key type"):
        parse_public(b"\x00\x01" + area[2:], sized=False)  # RSA
    bad_point = area[:-32] + bytes(31) + b"\x01"
    with pytest.raises(ValueError, match="point"):
        parse_public(bad_point, sized=False)


def test_object_name() -> None:
    area = marshal.ak_public_area(KEY)
    name = marshal.object_name(area)
    assert name[:2] == b"\x00\x0b" and name[2:] == crypto.sha256(area)
    assert len(name) == 34


def _both(parse, data: bytes):  # type: ignore[no-untyped-def]
    """``parse`` of ``data`` as bytes (the one-unpack fast path) and as a bytearray (the
    field-by-field reader): the result, or the error's type and text."""
    out = []
    for arg in (data, bytearray(data)):
        try:
            out.append(("ok", parse(arg)))
        except ValueError as exc:
            out.append(("error", str(exc)))
    return out


def _mutations(data: bytes, rng) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Cut, extended, byte-flipped and size-field-edited variants of ``data``."""
    out = [data[:n] for n in range(len(data) + 1)] + [data + b"\x00", data + b"\x01\x02"]
    for _ in range(600):
        b = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.choice([0, 1, 2, 3, 0x20, 0x22, 0x40, 0x41, 0xFF,
                                                    rng.randrange(256)])
        out.append(bytes(b))
    return out


def test_fast_attest_parse_equals_the_reader() -> None:
    """The one-unpack parse of a quote gives what the field-by-field reader gives, or the
    same error, for well-formed quotes and for thousands of damaged ones."""
    import random

    rng = random.Random(14)
    quotes = [_attest(),
              marshal_attest(b"", b"", ClockInfo(0, 0, 0, False), 0, [], b""),
              marshal_attest(b"\x00\x0b" + bytes(32), bytes(64), ClockInfo(2**64 - 1, 1, 2,
                             False), 7, list(range(24)), bytes(64))]
    checked = 0
    for q in quotes:
        for data in _mutations(q, rng):
            fast, slow = _both(parse_attest, data)
            assert fast == slow, data.hex()
            checked += fast[0] == "ok"
    assert checked > 100  # the comparison saw many successful parses, not only errors


def test_fast_signature_parse_equals_the_reader() -> None:
    import random

    rng = random.Random(15)
    r, s = crypto.ecdsa_sign(KEY, b"data")
    for sig in (marshal_signature(r, s), marshal_signature(1, 2)):
        for data in _mutations(sig, rng):
            fast, slow = _both(parse_signature, data)
            assert fast == slow, data.hex()
