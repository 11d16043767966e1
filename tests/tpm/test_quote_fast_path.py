"""``Tpm.quote`` keeps the fixed parts of its TPMS_ATTEST (the head per AK, the quote info
while the quoted PCRs keep their values): every quote must still be exactly the one built
from scratch by ``marshal.marshal_attest`` over the TPM's state at that moment."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vtalab.core import crypto
from vtalab.tpm import Tpm, marshal, parse_attest
from vtalab.tpm.eventlog import EV_POST_CODE

from .conftest import make_tpm

PCRS = (0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14)


def reference(tpm: Tpm, nonce: bytes, pcrs: tuple[int, ...] | list[int]) -> tuple[bytes, bytes]:
    """What a quote is, built field by field from the TPM's state (no kept parts)."""
    selected = sorted(set(pcrs))
    values = [tpm.pcrs[p] for p in selected]
    attest = marshal.marshal_attest(tpm.ak_qualified_name, nonce, tpm.clock_info(),
                                    tpm.firmware_version, selected,
                                    crypto.sha256(b"".join(values)))
    return attest, marshal.marshal_signature(*crypto.ecdsa_sign(tpm.ak, attest))


def started(seed: int = 7) -> Tpm:
    t = make_tpm(seed)
    t.power_on(1_000)
    t.startup_clear()
    return t


def check(tpm: Tpm, nonce: bytes, pcrs: tuple[int, ...] | list[int], now_ms: int) -> None:
    q = tpm.quote(nonce, pcrs, now_ms=now_ms)
    assert (q.attest, q.signature) == reference(tpm, nonce, pcrs)
    assert q.pcrs == tuple(sorted(set(pcrs)))
    assert q.pcr_values == tuple(tpm.pcrs[p] for p in q.pcrs)
    parsed = parse_attest(q.attest)
    assert parsed.extra_data == nonce
    assert parsed.clock_info == tpm.clock_info()


def test_the_parts_make_marshal_attest() -> None:
    info = marshal.ClockInfo(123456, 3, 1, True)
    whole = marshal.marshal_attest(b"\x00\x0b" + bytes(32), b"nonce", info, 7, [0, 7, 11],
                                   bytes(32))
    assert whole == (marshal.attest_head(b"\x00\x0b" + bytes(32))
                     + marshal.attest_middle(b"nonce", 123456, 3, 1, True, 7)
                     + marshal.attest_quote_info([0, 7, 11], bytes(32)))


def test_repeated_quotes_follow_every_change_of_the_pcrs_and_clock() -> None:
    tpm = started()
    now = 2_000
    for round_ in range(3):
        for i in range(3):  # the same PCRs, new nonces and times: the kept parts are used
            now += 500
            check(tpm, bytes([round_, i]) * 16, PCRS, now)
        tpm.extend(PCRS[round_ + 3], EV_POST_CODE, b"", digest=crypto.sha256(b"%d" % round_))
        now += 1
        check(tpm, b"after extend", PCRS, now)
        tpm.pcrs[12] = crypto.sha256(b"written directly")  # not through extend
        check(tpm, b"after a direct write", PCRS, now)
    # a reset clears the PCRs (the kept digest is of other values) and moves the counters
    tpm.shutdown()
    tpm.power_off(now + 10)
    tpm.power_on(now + 20)
    tpm.startup_clear()
    check(tpm, b"after reset", PCRS, now + 30)


def test_other_selections_lists_and_a_mutated_list() -> None:
    tpm = started()
    tpm.extend(0, EV_POST_CODE, b"", digest=crypto.sha256(b"zero"))
    tpm.extend(7, EV_POST_CODE, b"", digest=crypto.sha256(b"seven"))
    asked = [0, 7]
    check(tpm, b"a", asked, 1_100)
    check(tpm, b"b", PCRS, 1_200)
    check(tpm, b"c", asked, 1_300)
    asked.append(3)  # the same list object, other PCRs: selected afresh
    check(tpm, b"d", asked, 1_400)
    check(tpm, b"e", (7, 0, 7), 1_500)  # unsorted, repeated: selected as before
    check(tpm, b"f", (7, 0, 7), 1_600)
    tpm.firmware_version = 0x1234  # read at every quote
    check(tpm, b"g", (7, 0, 7), 1_700)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["quote", "extend", "reset", "resume"]),
                          st.integers(0, 23), st.binary(min_size=0, max_size=64)),
                min_size=1, max_size=12))
def test_any_sequence_of_quotes_extends_and_resets(steps: list[tuple[str, int, bytes]]) -> None:
    tpm = started(seed=11)
    now = 1_000
    for op, pcr, data in steps:
        now += 250
        if op == "quote":
            check(tpm, data, PCRS if pcr % 2 else (pcr, 0, 23), now)
        elif op == "extend":
            tpm.extend(pcr, EV_POST_CODE, data)
        elif op == "reset":  # PCRs cleared, resetCount moves
            tpm.shutdown(orderly=bool(pcr % 2))
            tpm.power_off(now)
            tpm.power_on(now + 1)
            tpm.startup_clear()
        else:  # a TPM Resume: PCRs kept (the kept quote info holds), restartCount moves
            tpm.shutdown(save_state=True)
            tpm.power_off(now)
            tpm.power_on(now + 1)
            tpm.startup_state()


def test_attest_pcrs_of_one_bank_and_of_several() -> None:
    info = marshal.ClockInfo(1, 2, 3, True)

    def pcrs(select: list[tuple[int, list[int]]]) -> list[int]:
        return marshal.Attest(0, 0, b"", b"", info, 0, select, b"").pcrs

    one = [(marshal.TPM_ALG_SHA256, [0, 7, 13])]
    assert pcrs(one) == [0, 7, 13]
    assert pcrs(one) is not one[0][1]  # a list of its own: the caller may change it
    assert pcrs([(0x0004, [1, 2])]) == []  # SHA-1 only
    assert pcrs([(0x0004, [1]), (marshal.TPM_ALG_SHA256, [2, 3])]) == [2, 3]
    assert pcrs([(marshal.TPM_ALG_SHA256, [2]), (marshal.TPM_ALG_SHA256, [5])]) == [2, 5]
    assert pcrs([]) == []
