"""``public_der`` remembers the encoding of as many keys as a 10,000-host world asks for
at every attestation (about 12 a host), instead of emptying its memo over and over."""

from __future__ import annotations

from vtalab.core import crypto


def test_public_der_keeps_more_keys_than_the_shared_memo_limit() -> None:
    private = crypto.derive_private_key(3, "test/der-memo")
    saved = dict(crypto._DER_BY_ID)
    crypto._DER_BY_ID.clear()
    try:
        keys = [private.public_key() for _ in range(crypto._MEMO_LIMIT + 1000)]  # distinct
        first = crypto.public_der(keys[0])
        for key in keys[1:]:
            assert crypto.public_der(key) == first
        held = crypto._DER_BY_ID.get(id(keys[0]))
        assert held is not None and held[0] is keys[0]  # still remembered: no emptying
        assert len(crypto._DER_BY_ID) == len(keys) <= crypto._DER_LIMIT
        assert crypto._DER_LIMIT >= 12 * 10_000
    finally:
        crypto._DER_BY_ID.clear()
        crypto._DER_BY_ID.update(saved)
