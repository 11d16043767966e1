"""The verifier's defences, unit by unit: nonces, boot records, quote details (issue 13).

The attacks through the world are in tests/world/test_attestation_attacks.py.
"""

from __future__ import annotations

import pytest

from vtalab.domain.attestation import NonceBook, nonce_verdict
from vtalab.domain.reasons import Reason

N1, N2, N3 = (bytes([i]) * 32 for i in (1, 2, 3))


def test_nonce_book_accepts_an_issued_nonce_once() -> None:
    book = NonceBook("ta-01/attestd", 120)
    record = book.issue(N1, "esx-01", 10.0)
    assert (record.host, record.service, record.issued_at, record.expires_at) == (
        "esx-01", "ta-01/attestd", 10.0, 130.0)
    assert book.redeem(N1, "esx-01", 11.0)[0] is None
    reason, detail = book.redeem(N1, "esx-01", 12.0)
    assert reason is Reason.NONCE_REUSED
    assert detail["used_at"] == "T+00:00:11" and detail["issued_at"] == "T+00:00:10"


def test_nonce_book_refuses_unknown_foreign_and_expired_nonces() -> None:
    book = NonceBook("ta-01/attestd", 120)
    book.issue(N1, "esx-01", 0.0)
    book.issue(N2, "esx-02", 0.0)
    assert book.redeem(N3, "esx-01", 1.0)[0] is Reason.NONCE_NOT_ISSUED
    reason, detail = book.redeem(N2, "esx-01", 1.0)
    assert reason is Reason.NONCE_WRONG_HOST and detail["issued_to"] == "esx-02"
    assert book.redeem(N2, "esx-02", 1.0)[0] is None  # not consumed by the wrong host
    assert book.redeem(N1, "esx-01", 119.999)[0] is None
    book.issue(N3, "esx-01", 0.5)
    assert book.redeem(N3, "esx-01", 120.5)[0] is Reason.NONCE_EXPIRED  # at expiry: expired
    assert book.redeem(N3, "esx-01", 120.6)[0] is Reason.NONCE_REUSED  # and spent


def test_nonce_book_forgets_after_two_lifetimes_and_stays_bounded() -> None:
    book = NonceBook("s", 10)
    for i in range(1000):
        book.issue(i.to_bytes(32, "big"), "h", float(i))
        assert len(book) <= 21
    assert book.redeem((0).to_bytes(32, "big"), "h", 1000.0)[0] is Reason.NONCE_NOT_ISSUED
    book2 = NonceBook("s", 10)
    book2.issue(N1, "h", 0.0)
    assert book2.redeem(N1, "h", 19.0)[0] is Reason.NONCE_EXPIRED  # remembered: expired
    assert book2.redeem(N1, "h", 19.5)[0] is Reason.NONCE_REUSED
    assert book2.redeem(N1, "h", 20.0)[0] is Reason.NONCE_NOT_ISSUED  # forgotten


def test_nonce_book_refuses_a_duplicate_issue_and_bad_lifetime() -> None:
    book = NonceBook("s", 10)
    book.issue(N1, "h", 0.0)
    with pytest.raises(ValueError, match="issued twice"):
        book.issue(N1, "h", 1.0)
    with pytest.raises(ValueError, match="positive"):
        NonceBook("s", 0)


def test_nonce_verdict_names_the_reason_in_the_operators_words() -> None:
    book = NonceBook("ta-01/attestd", 120)
    book.issue(N1, "esx-02", 0.0)
    verdict = nonce_verdict(*book.redeem(N1, "esx-01", 1.0))  # type: ignore[arg-type]
    assert not verdict.attested and verdict.reasons == (Reason.NONCE_WRONG_HOST,)
    assert verdict.messages == ("Host esx-01 answered with a nonce ta-01/attestd issued to "
                                "esx-02.",)
    assert verdict.as_dict()["findings"][0]["detail"]["issued_to"] == "esx-02"
