"""The verifier's defences, unit by unit: nonces, boot records, quote details (issue 13).

The attacks through the world are in tests/world/test_attestation_attacks.py.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_attestation import IMAGE, NONCE, config, evidence, judge, make_tpm
from test_attestation import NOW as NOW_  # the sibling module's helpers

from vtalab.core import crypto
from vtalab.domain.attestation import Evidence, NonceBook, Verdict, evaluate, nonce_verdict
from vtalab.domain.reasons import Reason
from vtalab.esxi.image import PCR_BOOT_OPTIONS, PCR_MODULES, HostSpecific
from vtalab.esxi.measure import (
    TAG_BOOT_OPTION,
    TAG_CMDLINE,
    TAG_MODULE,
    FirmwareProfile,
    _tagged,
    measure_esx_boot,
    measure_firmware,
)
from vtalab.tpm import Tpm
from vtalab.tpm import marshal as tpm_marshal
from vtalab.tpm.eventlog import EV_S_CRTM_VERSION

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


class _ForgetEveryTime(NonceBook):
    """The book as it was: it looks for nonces to forget at every issue and redeem."""

    @property  # type: ignore[override]
    def _oldest(self) -> float:
        return -float("inf")

    @_oldest.setter
    def _oldest(self, value: float) -> None:
        pass


@settings(max_examples=200, deadline=None, derandomize=True)
@given(lifetime=st.sampled_from((0.1, 1.0, 10.0, 120.0, 1e-3)),
       steps=st.lists(st.tuples(st.sampled_from(("issue", "redeem", "wrong host")),
                                st.integers(0, 5),
                                st.floats(0, 30) | st.sampled_from((0.1, 0.2, 0.3))),
                      max_size=40))
def test_nonce_book_looks_for_old_nonces_only_when_there_are_some(
        lifetime: float, steps: list[tuple[str, int, float]]) -> None:
    """Issue and redeem call ``_forget`` only when the oldest nonce is past its second
    lifetime, with the very test ``_forget`` starts with: the same answers, details and
    held nonces as a book that looks every time, at any times (floats included)."""
    fast, slow = NonceBook("s", lifetime), _ForgetEveryTime("s", lifetime)
    now = 0.0
    for what, n, step in steps:
        now += step
        nonce = bytes([n]) * 32
        if what == "issue":
            outcomes = []
            for book in (fast, slow):
                try:
                    outcomes.append(book.issue(nonce, "h", now))
                except ValueError as exc:
                    outcomes.append(str(exc))
            assert outcomes[0] == outcomes[1]
        else:
            host = "h" if what == "redeem" else "other"
            assert fast.redeem(nonce, host, now) == slow.redeem(nonce, host, now)
        assert fast._issued == slow._issued and fast._spent == slow._spent


class _ForgetOneByOne(NonceBook):
    """The book's forgetting as it was: the first entry taken again after each deletion
    (which rescans the emptied slots at the front of the dict: quadratic)."""

    def _forget(self, now: float) -> None:
        horizon = now - self.lifetime
        issued = self._issued
        while issued:
            first = next(iter(issued.values()))
            if first.expires_at > horizon:
                self._oldest = first.expires_at
                return
            del issued[first.nonce]
            self._spent.pop(first.nonce, None)
        self._oldest = float("inf")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(lifetime=st.sampled_from((0.1, 1.0, 10.0, 1e-3)),
       steps=st.lists(st.tuples(st.sampled_from(("issue", "redeem")), st.integers(0, 40),
                                st.floats(0, 30) | st.sampled_from((0.0, 0.1, 5.0))),
                      max_size=80))
def test_nonce_book_forgets_in_one_pass_what_it_forgot_one_by_one(
        lifetime: float, steps: list[tuple[str, int, float]]) -> None:
    """Forgetting finds the expired nonces in one pass, then drops them: the same nonces
    held, spent and oldest expiry as dropping the first one again and again."""
    fast, slow = NonceBook("s", lifetime), _ForgetOneByOne("s", lifetime)
    now = 0.0
    for what, n, step in steps:
        now += step
        nonce = n.to_bytes(32, "big")
        for book in (fast, slow):
            if what == "issue":
                if nonce not in book._issued:
                    book.issue(nonce, "h", now)
            else:
                book.redeem(nonce, "h", now)
        assert list(fast._issued.items()) == list(slow._issued.items())
        assert fast._spent == slow._spent and fast._oldest == slow._oldest


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


# -- boot records bound to what esx-boot measures (issue 13, item 2) ------------------------

HOST = "esx-01.lab.local"
EVIL = crypto.sha256(b"an extra, untrusted boot module")


def booted(esx_boot) -> Tpm:  # type: ignore[no-untyped-def]
    """A TPM after firmware and ``esx_boot(tpm)`` (a hand-built esx-boot sequence)."""
    tpm = make_tpm()  # a genuine boot, then a platform reset and the forged one
    tpm.shutdown()
    tpm.power_off()
    tpm.power_on(1)
    tpm.startup_clear()
    measure_firmware(tpm, FirmwareProfile.for_vendor("Dell"))
    esx_boot(tpm)
    return tpm


def genuine_then(tpm: Tpm, before: str | None = None, extra=(), skip=()) -> None:  # type: ignore[no-untyped-def]
    """esx-boot's records for IMAGE, with ``extra`` (pcr, tag, name, digest) records
    measured just before module ``before`` (or after every module) and ``skip`` left out."""
    hs = HostSpecific.for_host(HOST, IMAGE.build)
    real = Tpm(tpm.ek, tpm.ak)
    real.power_on(0)
    real.startup_clear()
    measure_esx_boot(real, IMAGE, hs)
    inserted = False
    for e in real.log:
        name = e.parsed.data[:-1].decode() if e.parsed.tag_id in (  # type: ignore[union-attr]
            TAG_MODULE, TAG_BOOT_OPTION) else None
        if name is not None and name == before and not inserted:
            for pcr, tag, extra_name, digest in extra:
                _tagged(tpm, pcr, tag, extra_name.encode() + b"\x00", digest)
            inserted = True
        if name is not None and name in skip:
            continue
        if before is None and not inserted and e.parsed.tag_id not in (  # type: ignore[union-attr]
                TAG_MODULE, TAG_BOOT_OPTION, 8):
            for pcr, tag, extra_name, digest in extra:
                _tagged(tpm, pcr, tag, extra_name.encode() + b"\x00", digest)
            inserted = True
        tpm.extend(e.pcr, e.event_type, e.data, digest=e.digest)


def verdict_of(tpm: Tpm, **kw):  # type: ignore[no-untyped-def]
    return judge(evidence(tpm), tpm, **kw)


def test_reference_boot_has_no_layout_problem() -> None:
    v = verdict_of(booted(lambda t: genuine_then(t)))
    assert v.attested, v.findings


def test_extra_module_named_imgdb_before_a_genuine_module_is_refused() -> None:
    # the attack: an untrusted module measured under a host-specific name, early
    tpm = booted(lambda t: genuine_then(
        t, "uc_intel.b00", [(PCR_MODULES, TAG_MODULE, "imgdb.tgz", EVIL)]))
    v = verdict_of(tpm)
    assert v.reasons == (Reason.BASE_IMAGE_MISMATCH,)
    assert "imgdb.tgz measured more than once" in v.findings[0].detail["layout"]


def test_extra_module_named_onetime_in_the_wrong_position_is_refused() -> None:
    tpm = booted(lambda t: genuine_then(
        t, "uc_intel.b00", [(PCR_MODULES, TAG_MODULE, "onetime.tgz", EVIL)],
        skip=("onetime.tgz",)))
    v = verdict_of(tpm)
    assert v.reasons == (Reason.BASE_IMAGE_MISMATCH,)
    assert any("measured after the host-specific modules" in p
               for p in v.findings[0].detail["layout"])


def test_duplicate_fleet_module_hidden_by_the_genuine_one_is_refused() -> None:
    # the attack: the last record of a name wins, so an earlier copy was never compared
    tpm = booted(lambda t: genuine_then(
        t, "uc_intel.b00", [(PCR_MODULES, TAG_MODULE, "uc_intel.b00", EVIL)]))
    v = verdict_of(tpm)
    assert v.reasons == (Reason.BASE_IMAGE_MISMATCH,)
    assert "uc_intel.b00 measured more than once" in v.findings[0].detail["layout"]


@pytest.mark.parametrize(("pcr", "tag", "name", "expected"), [
    (PCR_BOOT_OPTIONS, TAG_BOOT_OPTION, "imgdb.tgz", "imgdb.tgz measured as a boot option"),
    (PCR_BOOT_OPTIONS, TAG_CMDLINE, "b.b00 extra", "2 command lines measured"),
    (PCR_MODULES, 5, "x", "unknown esx-boot tag 5"),
])
def test_host_specific_records_only_where_esx_boot_measures_them(pcr, tag, name, expected
                                                                 ) -> None:  # type: ignore[no-untyped-def]
    def boot(t: Tpm) -> None:
        genuine_then(t, skip=("imgdb.tgz",) if name == "imgdb.tgz" else ())
        if tag == TAG_CMDLINE:
            _tagged(t, pcr, tag, name.encode())
        elif tag not in (TAG_MODULE, TAG_BOOT_OPTION):  # its data is what it measures
            _tagged(t, pcr, tag, name.encode() + b"\x00")
        else:
            _tagged(t, pcr, tag, name.encode() + b"\x00", EVIL)
    v = verdict_of(booted(boot))
    assert v.reasons == (Reason.BASE_IMAGE_MISMATCH,)
    assert any(expected in p for p in v.findings[0].detail["layout"]), v.findings


def test_untagged_record_in_an_esx_boot_pcr_is_beyond_the_base_image() -> None:
    def boot(t: Tpm) -> None:
        genuine_then(t)
        t.extend(PCR_MODULES, EV_S_CRTM_VERSION, "x".encode("utf-16-le"))
    v = verdict_of(booted(boot))
    assert v.reasons == (Reason.BASE_IMAGE_MISMATCH,)
    assert "event type 0x00000008 in PCR 13" in v.findings[0].message


def test_undecodable_claim_only_record_is_a_warning_not_a_rejection() -> None:
    tpm = make_tpm()
    tpm.shutdown()
    tpm.power_off()
    tpm.power_on(1)
    tpm.startup_clear()
    tpm.extend(0, EV_S_CRTM_VERSION, b"U30 v2.90\x00\x00"[:11])  # 11 ASCII bytes
    measure_firmware(tpm, FirmwareProfile.for_vendor("Dell"))
    measure_esx_boot(tpm, IMAGE, HostSpecific.for_host(HOST, IMAGE.build))
    v = verdict_of(tpm)
    assert v.attested, v.findings
    assert v.warning_reasons == (Reason.EVENT_DATA_UNDECODED,)
    w = v.warnings[0]
    assert (w.detail["pcr"], w.detail["record"], w.detail["event_type"]) == (0, 0, "0x00000008")
    assert "UCS-2" in w.message and v.as_dict()["warnings"][0]["reason"] == "event_data_undecoded"


# -- quote details (issue 13, item 3) -------------------------------------------------------
def resigned(tpm: Tpm, *, signer: bytes | None = None, clock=None) -> Evidence:  # type: ignore[no-untyped-def]
    """Evidence whose quote the AK signed with a chosen qualifiedSigner / clockInfo."""
    ev = evidence(tpm)
    a = tpm_marshal.parse_attest(ev.quote_attest)
    attest = tpm_marshal.marshal_attest(
        a.qualified_signer if signer is None else signer, a.extra_data,
        a.clock_info if clock is None else clock, a.firmware_version, a.pcrs, a.pcr_digest)
    r, s = crypto.ecdsa_sign(tpm.ak, attest)
    return dataclasses.replace(ev, quote_attest=attest,
                               quote_signature=tpm_marshal.marshal_signature(r, s))


def test_qualified_signer_must_be_the_aks_qualified_name() -> None:
    tpm = make_tpm()
    assert judge(resigned(tpm), tpm).attested  # re-signing itself changes nothing
    for wrong in (tpm.ak_name, make_tpm("other").ak_qualified_name, b""):
        v = judge(resigned(tpm, signer=wrong), tpm)
        assert v.reasons == (Reason.QUOTE_SIGNER_MISMATCH,), wrong


def _with_counters(tpm: Tpm, ev: Evidence, counters) -> Verdict:  # type: ignore[no-untyped-def]
    return evaluate(ev, config(), nonce=NONCE, activate=tpm.activate_credential,
                    now=NOW_, challenge_label="c", counters=counters)




@pytest.mark.parametrize(("last", "counter"), [
    ((2, 0, 0), "resetCount"),        # the quote says reset 1
    ((1, 1, 0), "restartCount"),      # same reset, restart went 1 -> 0
    ((1, 0, 10**9), "clock"),         # same boot, clock went back
])
def test_counters_going_backwards_are_a_rollback(last, counter) -> None:  # type: ignore[no-untyped-def]
    tpm = make_tpm()
    ev = evidence(tpm)
    ek = ev.ek_public_der
    v = _with_counters(tpm, ev, {ek: last})
    assert v.reasons == (Reason.QUOTE_ROLLBACK,)
    assert v.findings[0].detail["counter"] == counter


def test_counters_going_forward_or_equal_are_fine_and_remembered() -> None:
    tpm = make_tpm()
    ev = evidence(tpm)
    counters: dict[bytes, tuple[int, int, int]] = {}
    assert _with_counters(tpm, ev, counters).attested
    seen = counters[ev.ek_public_der]
    assert seen[:2] == (1, 0)
    assert _with_counters(tpm, ev, counters).attested  # the same quote again: not back
    assert _with_counters(tpm, ev, {ev.ek_public_der: (0, 7, 10**12)}).attested  # a reset
    other = {crypto.public_der(make_tpm("other").ek): (9, 9, 9)}
    assert _with_counters(tpm, ev, other).attested  # another TPM's history is not this one's


def test_safe_zero_is_reported_by_default_and_refused_by_policy() -> None:
    tpm = make_tpm()
    tpm.power_off()  # power lost: no TPM2_Shutdown
    tpm.power_on(2)
    tpm.startup_clear()
    measure_firmware(tpm, FirmwareProfile.for_vendor("Dell"))
    measure_esx_boot(tpm, IMAGE, HostSpecific.for_host(HOST, IMAGE.build))
    ev = evidence(tpm)
    v = judge(ev, tpm)
    assert v.attested and v.safe is False
    assert v.warning_reasons == (Reason.QUOTE_CLOCK_UNSAFE,)
    strict = evaluate(ev, config(), nonce=NONCE, activate=tpm.activate_credential, now=NOW_,
                      challenge_label="c", unsafe_clock="reject")
    assert strict.reasons == (Reason.QUOTE_CLOCK_UNSAFE,) and not strict.attested
    with pytest.raises(ValueError, match="unsafe_clock"):
        evaluate(ev, config(), nonce=NONCE, activate=tpm.activate_credential, now=NOW_,
                 challenge_label="c", unsafe_clock="ignore")
