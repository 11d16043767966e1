"""``evaluate`` remembers what a request shape decides apart from the time and the quote
(vtalab.domain.attestation._Static); the plain step-by-step evaluator
(``_evaluate_steps``) is the reference it must always agree with.

Every case here is judged by both, the fast path twice (the first request of a shape
fills its memo entry, the second is answered from it), on genuine evidence, damaged
evidence (bytes flipped, truncated, swapped with another TPM's), other configurations,
other times and a host's evidence judged in sequences that share memo entries. Agreement
means the same verdict (findings, their order, messages and details, warnings, PCRs,
counters), the same side effects (bound EK/AK pairs, TPM counters) and the same calls of
the host's TPM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_attestation import (
    HOST,
    IMAGE,
    NONCE,
    NOW,
    YEAR,
    config,
    evidence,
    make_tpm,
    principal_token,
    vendor_ca,
)

from vtalab.core import crypto
from vtalab.domain import attestation
from vtalab.domain.attestation import Evidence, Tpm2Settings, TrustConfig, Verdict, evaluate
from vtalab.domain.base_image import BaseImage
from vtalab.esxi.image import HostSpecific, standard_image
from vtalab.esxi.measure import FirmwareProfile, measure_esx_boot, measure_firmware
from vtalab.tpm import Tpm
from vtalab.tpm.eventlog import EV_S_CRTM_VERSION

OTHER_IMAGE = standard_image("8.0.3", 24022510)


def _rebooted(host: str, *, orderly: bool, undecodable: bool) -> Tpm:
    """A TPM booted twice: after a power loss (``safe`` = 0) unless ``orderly``, with an
    undecodable claim-only record in PCR 0 (a warning) if ``undecodable``."""
    tpm = make_tpm(host)
    if orderly:
        tpm.shutdown()
    tpm.power_off()
    tpm.power_on(1)
    tpm.startup_clear()
    if undecodable:
        tpm.extend(0, EV_S_CRTM_VERSION, b"U30 v2.90\x00\x00"[:11])  # odd: not UCS-2
    measure_firmware(tpm, FirmwareProfile.for_vendor("Dell"))
    measure_esx_boot(tpm, IMAGE, HostSpecific.for_host(host, IMAGE.build))
    return tpm


def _tpms() -> dict[str, Tpm]:
    return {
        "undecodable": _rebooted("esx-07.lab.local", orderly=True, undecodable=True),
        "power-lost": _rebooted("esx-08.lab.local", orderly=False, undecodable=False),
        "genuine": make_tpm(),
        "peer": make_tpm("esx-02.lab.local"),
        "no-secure-boot": make_tpm("esx-03.lab.local", secure_boot=False),
        "other-ca": make_tpm("esx-04.lab.local", ca=vendor_ca("Nuvoton")),
        "ek-expiring": make_tpm("esx-05.lab.local", ek_valid_until=NOW + timedelta(days=1)),
        "other-image": make_tpm("esx-06.lab.local", image=OTHER_IMAGE),
    }


TPMS = _tpms()
GOOD = BaseImage.from_image(IMAGE)
NEWER = BaseImage.from_image(OTHER_IMAGE)
TAMPERED = dataclasses.replace(GOOD, modules=((GOOD.modules[0][0], bytes(32)),
                                              *GOOD.modules[1:]))
INFINEON = crypto.cert_der(vendor_ca("Infineon")[0])
NUVOTON = crypto.cert_der(vendor_ca("Nuvoton")[0])
#: configurations, each built once (the base images are the same objects every time,
#: as a TA host hands them out) and by name
CONFIGS: dict[str, TrustConfig] = {
    "default": config(base_images=(GOOD,)),
    "disabled": config(enabled=False, base_images=(GOOD,)),
    "two-images": config(base_images=(NEWER, GOOD)),
    "newer-only": config(base_images=(NEWER,)),
    "tampered": config(base_images=(TAMPERED,)),
    "no-images": config(base_images=()),
    "two-cas": config(base_images=(GOOD,), tpm_ca_certificates_der=(NUVOTON, INFINEON)),
    "no-ca": config(base_images=(GOOD,), tpm_ca_certificates_der=()),
    "garbage-ca": config(base_images=(GOOD,), tpm_ca_certificates_der=(b"\x30\x03junk",)),
    "ek-list": config(base_images=(GOOD,), settings=Tpm2Settings(True, True),
                      endorsement_keys_der=frozenset(
                          {crypto.public_der(TPMS["genuine"].ek)})),
    "ek-list-only": config(base_images=(GOOD,), settings=Tpm2Settings(False, True),
                           endorsement_keys_der=(crypto.public_der(TPMS["peer"].ek),)),
    "anything": config(base_images=(GOOD,), settings=Tpm2Settings(False, False)),
}
TIMES = (NOW, NOW + timedelta(days=2), NOW + 20 * YEAR, NOW - 4 * YEAR,
         NOW.replace(tzinfo=None))
FIELDS = ("ek_certificate_der", "ek_public_der", "ak_public", "quote_attest",
          "quote_signature", "eventlog")


def _evidence(name: str) -> Evidence:
    """A host's evidence, its principal token valid at every time in :data:`TIMES` (so
    that the later steps are reached at each of them)."""
    ev = evidence(TPMS[name], host=_host(name))
    now = int(NOW.timestamp())
    wide = principal_token(ev.host, iat=now - 5 * 366 * 86400, exp=now + 30 * 366 * 86400)
    return dataclasses.replace(ev, principal_token=wide)


def _host(name: str) -> str:
    return {"peer": "esx-02.lab.local", "no-secure-boot": "esx-03.lab.local",
            "other-ca": "esx-04.lab.local", "ek-expiring": "esx-05.lab.local",
            "other-image": "esx-06.lab.local", "undecodable": "esx-07.lab.local",
            "power-lost": "esx-08.lab.local"}.get(name, HOST)


EVIDENCE = {name: _evidence(name) for name in TPMS}


@st.composite
def damaged(draw: st.DrawFn, ev: Evidence) -> Evidence:
    """``ev``, perhaps with one field damaged or swapped with another host's."""
    how = draw(st.sampled_from(("none", "none", "flip", "truncate", "swap", "token",
                                "selection", "no-cert", "types")))
    if how == "none":
        return ev
    field = draw(st.sampled_from(FIELDS))
    value = getattr(ev, field) or b""
    if how == "flip" and value:
        at = draw(st.integers(0, len(value) - 1))
        bit = 1 << draw(st.integers(0, 7))
        return dataclasses.replace(ev, **{field: value[:at] + bytes([value[at] ^ bit])
                                          + value[at + 1:]})
    if how == "truncate":
        return dataclasses.replace(ev, **{field: value[:draw(st.integers(0, len(value)))]})
    if how == "swap":
        other = EVIDENCE[draw(st.sampled_from(sorted(EVIDENCE)))]
        return dataclasses.replace(ev, **{field: getattr(other, field)})
    if how == "token":
        kind = draw(st.sampled_from(("expired", "future", "other-host", "other-signer",
                                     "garbage", "empty", "other-issuer")))
        now = int(NOW.timestamp())
        token = {"expired": lambda: principal_token(ev.host, iat=now - 7200, exp=now - 60),
                 "future": lambda: principal_token(ev.host, iat=now + 600, exp=now + 7200),
                 "other-host": lambda: principal_token("esx-99"),
                 "other-signer": lambda: principal_token(
                     ev.host, signer=crypto.derive_private_key(1, "rogue")),
                 "garbage": lambda: "a.b.c",
                 "empty": lambda: "",
                 "other-issuer": lambda: principal_token(ev.host, iss="vcsa-other")}[kind]()
        return dataclasses.replace(ev, principal_token=token)
    if how == "selection":
        selection = draw(st.sampled_from(((0, 7, 11, 12, 13, 14), (14, 13, 12, 11, 7, 0, 1, 2,
                                           3, 4, 5, 6), ev.pcr_selection + (0,), ())))
        return dataclasses.replace(ev, pcr_selection=selection)
    if how == "no-cert":
        return dataclasses.replace(ev, ek_certificate_der=None)
    # types the memo does not key (evaluated step by step, with the same verdict)
    kind = draw(st.sampled_from(("memoryview-log", "list-selection", "memoryview-ak")))
    if kind == "memoryview-log":
        return dataclasses.replace(ev, eventlog=memoryview(ev.eventlog))
    if kind == "list-selection":
        return dataclasses.replace(ev, pcr_selection=list(ev.pcr_selection))
    return dataclasses.replace(ev, ak_public=memoryview(ev.ak_public))


@dataclasses.dataclass
class Side:
    """What a verifier keeps between requests, and the TPM calls it made."""

    bound: set[tuple[bytes, bytes]] | None
    counters: dict[bytes, tuple[int, int, int]] | None
    activations: list[tuple[bytes, bytes]] = dataclasses.field(default_factory=list)

    def activate(self, tpm: Tpm) -> Callable[[bytes, bytes], bytes | None]:
        def call(blob: bytes, seed: bytes) -> bytes | None:
            self.activations.append((blob, seed))
            return tpm.activate_credential(blob, seed)
        return call


def _both(ev: Evidence, tpm: Tpm, cfg: TrustConfig, now: datetime, fast: Side, plain: Side,
          **kw: Any) -> tuple[Verdict, Verdict]:
    args = dict(nonce=kw.get("nonce", NONCE), now=now, challenge_label="fast/1",
                unsafe_clock=kw.get("unsafe_clock", "report"))
    got = evaluate(ev, cfg, activate=fast.activate(tpm), bound_aks=fast.bound,
                   counters=fast.counters, **args)  # type: ignore[arg-type]
    state = attestation._Evaluation(ev, cfg, now, args["unsafe_clock"])  # type: ignore[arg-type]
    want = attestation._evaluate_steps(state, args["nonce"], plain.activate(tpm),  # type: ignore[arg-type]
                                       "fast/1", plain.bound, plain.counters)
    return got, want


def _same(got: Verdict, want: Verdict, fast: Side, plain: Side) -> None:
    assert got == want
    assert got.as_dict() == want.as_dict()
    assert [f.message for f in got.warnings] == [f.message for f in want.warnings]
    assert fast.bound == plain.bound
    assert fast.counters == plain.counters
    assert fast.activations == plain.activations


def _sides(registry: str) -> tuple[Side, Side]:
    def one() -> Side:
        bound: set[tuple[bytes, bytes]] | None = None if registry == "none" else set()
        counters: dict[bytes, tuple[int, int, int]] | None = (
            None if registry == "none" else {})
        if registry == "rolled-back":
            assert counters is not None
            counters.update({e.ek_public_der: (9, 0, 0) for e in EVIDENCE.values()})
        return Side(bound, counters)
    return one(), one()


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fast_path_agrees_with_the_steps_on_generated_and_damaged_evidence(
        data: st.DataObject) -> None:
    attestation._STATIC.cache_clear()
    registry = data.draw(st.sampled_from(("none", "fresh", "rolled-back")))
    fast, plain = _sides(registry)
    unsafe = data.draw(st.sampled_from(("report", "reject")))
    # a few requests in a row: the same shape again (answered from the memo), another
    # time, another configuration, other damage -- sharing the memo's entries
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from(sorted(TPMS)))
        ev = data.draw(damaged(EVIDENCE[name]))
        cfg = CONFIGS[data.draw(st.sampled_from(sorted(CONFIGS)))]
        now = data.draw(st.sampled_from(TIMES))
        nonce = data.draw(st.sampled_from((NONCE, bytes(32))))
        for _ in range(2):
            got, want = _both(ev, TPMS[name], cfg, now, fast, plain, nonce=nonce,
                              unsafe_clock=unsafe)
            _same(got, want, fast, plain)


@pytest.mark.parametrize("name", sorted(TPMS))
@pytest.mark.parametrize("order", [1, -1])
def test_every_host_under_every_configuration_at_every_time(name: str, order: int) -> None:
    """The whole grid, one memo throughout: what was learnt under one configuration or
    at one time must not answer for another (both orders: each goes first once)."""
    fast, plain = _sides("fresh")
    for cfg in sorted(CONFIGS)[::order]:
        for now in (*TIMES, *TIMES):
            got, want = _both(EVIDENCE[name], TPMS[name], CONFIGS[cfg], now, fast, plain,
                              unsafe_clock="reject" if now is TIMES[1] else "report")
            _same(got, want, fast, plain)
    assert any(e.boot is not None for e in attestation._STATIC.values())  # it answered


@pytest.mark.parametrize("name", sorted(TPMS))
@pytest.mark.parametrize("field", FIELDS + ("pcr_selection",))
def test_one_field_changed_is_another_request_shape(name: str, field: str) -> None:
    """After a host's own evidence filled the memo, the same evidence with one field
    taken from each other host (or damaged, or the PCRs presented in another order)."""
    fast, plain = _sides("fresh")
    ev, tpm = EVIDENCE[name], TPMS[name]
    variants = [dataclasses.replace(ev, **{field: getattr(other, field)})
                for other in EVIDENCE.values()]
    if field == "pcr_selection":
        variants.append(dataclasses.replace(ev, pcr_selection=ev.pcr_selection[::-1]))
    else:
        value = getattr(ev, field)
        variants += [dataclasses.replace(ev, **{field: value[:at] + bytes([value[at] ^ 1])
                                                + value[at + 1:]})
                     for at in range(0, len(value), max(1, len(value) // 7))]
    for cfg in ("default", "anything", "ek-list"):
        for variant in (ev, *variants, ev):
            got, want = _both(variant, tpm, CONFIGS[cfg], NOW, fast, plain)
            _same(got, want, fast, plain)


def test_the_memo_is_used_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attestation.crypto, "MEMO_SIZE", 3)
    ev, tpm = EVIDENCE["genuine"], TPMS["genuine"]
    fast, plain = _sides("fresh")
    got, want = _both(ev, tpm, CONFIGS["default"], NOW, fast, plain)
    assert got.attested and got == want
    (entry,) = attestation._STATIC.values()
    assert entry.identity is not None and entry.identity is not False
    assert entry.boot == (got.measured_version, True, got.matched_base_image)
    for name in ("peer", "other-ca", "no-secure-boot", "other-image"):
        _both(EVIDENCE[name], TPMS[name], CONFIGS["default"], NOW, *_sides("fresh"))
    assert len(attestation._STATIC) == 3  # the oldest went first
    assert entry not in attestation._STATIC.values()


def test_a_window_answer_is_the_time_not_the_first_request() -> None:
    """An EK certificate valid for one more day: attested now, refused in two days, from
    the same memo entry."""
    ev, tpm = EVIDENCE["ek-expiring"], TPMS["ek-expiring"]
    fast, plain = _sides("none")
    assert _both(ev, tpm, CONFIGS["default"], NOW, fast, plain)[0].attested
    got, want = _both(ev, tpm, CONFIGS["default"], NOW + timedelta(days=2), fast, plain)
    assert not got.attested and got == want and len(attestation._STATIC) == 1


def test_a_failing_principal_is_reported_before_a_failing_identity() -> None:
    """Step 2 before step 3 even when the memo already knows step 3 fails."""
    ev, tpm = EVIDENCE["other-ca"], TPMS["other-ca"]
    fast, plain = _sides("fresh")
    first = _both(ev, tpm, CONFIGS["default"], NOW, fast, plain)[0]
    assert first.reasons == (attestation.Reason.UNTRUSTED_EK_CA,)
    forged = dataclasses.replace(ev, principal_token="a.b.c")
    got, want = _both(forged, tpm, CONFIGS["default"], NOW, fast, plain)
    assert got == want and got.reasons == (attestation.Reason.UNTRUSTED_PRINCIPAL,)


# -- issue_tokens: the shared claims encoded once -------------------------------------------
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) \
    | st.sampled_from(('esx-01', ',"ver":"x"', '"', '\\', 'é', '\u2028', 'a,"typ":"b'))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(host=_TEXT, service=_TEXT, group=_TEXT, ver=st.none() | _TEXT,
       iats=st.lists(st.integers(0, 2**40), min_size=1, max_size=3),
       lifetime=st.integers(1, 2**31), simulated=st.booleans())
def test_tokens_are_the_claims_jwt_encode_signs(host: str, service: str, group: str,
                                                ver: str | None, iats: list[int],
                                                lifetime: int, simulated: bool) -> None:
    """The tokens are jwt_encode of their claims, the first time (the claims text is
    cut around iat and exp) and the next times (from the remembered text), in both
    crypto modes."""
    key = crypto.derive_private_key(7, "attestd")
    verdict = Verdict(attested=True, measured_version=ver)
    with crypto.simulated(simulated):
        for iat in iats:
            got = attestation.issue_tokens(verdict, host=host, service_name=service,
                                           group=group, key=key, kid="kid-1", iat=iat,
                                           lifetime=lifetime)
            base = {"iss": service, "sub": host, "group": group, "iat": iat,
                    "exp": iat + lifetime, "ver": ver}
            want = (crypto.jwt_encode({**base, "aud": "kms", "typ": "KMS_AUTH_JWT"}, key,
                                      "kid-1"),
                    crypto.jwt_encode({**base, "aud": "reporting", "typ": "REPORTING_JWT"},
                                      key, "kid-1"))
            assert got == want
            assert crypto.jwt_verify(got[0], key.public_key()) == {
                **base, "aud": "kms", "typ": "KMS_AUTH_JWT"}
    assert (service, host, group, ver) in attestation._CLAIMS


class _Str(str):
    """A str subclass: equal to its text, but not remembered as text."""


@pytest.mark.parametrize("odd", [{"ver": 1}, {"ver": True}, {"host": _Str("esx-01")},
                                 {"group": ["g"]}])
def test_tokens_with_claims_of_other_types_are_encoded_each_time(odd: dict[str, Any]) -> None:
    """Only str values (and a None version) are remembered as text (True == 1 as a key,
    but not as JSON); others are encoded as jwt_encode does, every time."""
    key = crypto.derive_private_key(7, "attestd")
    args: dict[str, Any] = {"host": "esx-01", "service_name": "ta/attestd", "group": "g"}
    ver = odd.pop("ver", "8.0.2")
    args.update(odd)
    attestation._CLAIMS.cache_clear()
    for iat in (1000, 2000):
        got = attestation.issue_tokens(Verdict(attested=True, measured_version=ver),
                                       key=key, kid="k", iat=iat, lifetime=60, **args)
        base = {"iss": args["service_name"], "sub": args["host"], "group": args["group"],
                "iat": iat, "exp": iat + 60, "ver": ver}
        assert got == (crypto.jwt_encode({**base, "aud": "kms", "typ": "KMS_AUTH_JWT"}, key,
                                         "k"),
                       crypto.jwt_encode({**base, "aud": "reporting", "typ": "REPORTING_JWT"},
                                         key, "k"))
    assert not attestation._CLAIMS


# -- step 2 from memory: a token that passed, for its host, its time, its principals -------
def test_a_remembered_token_answers_only_for_its_host_its_time_and_its_principals() -> None:
    """A token that passed step 2 is remembered (with the principals object it passed
    under) and passes again from memory; for another host, before ``iat``, at or after
    ``exp``, or under other principals (equal or not) the step runs and says the same as
    the plain evaluator."""
    attestation._TOKENS.cache_clear()
    now = int(NOW.timestamp())
    token = principal_token(HOST, iat=now - 60, exp=now + 3600)
    ev = dataclasses.replace(EVIDENCE["genuine"], principal_token=token)
    tpm, cfg = TPMS["genuine"], CONFIGS["default"]
    fast, plain = _sides("fresh")
    got, want = _both(ev, tpm, cfg, NOW, fast, plain)
    _same(got, want, fast, plain)
    assert got.attested
    assert attestation._TOKENS[token] == (cfg.principals, HOST, now - 60, now + 3600)
    rogue = crypto.derive_private_key(1, "rogue-sts")
    other_sts = config(base_images=(GOOD,), principals=(attestation.Principal(
        "vcsa-wld.lab.local", (crypto.cert_der(crypto.make_ca(
            "rogue", rogue, NOW - YEAR, NOW + YEAR)),)),))
    cases = [
        (ev, cfg, NOW),  # from memory
        (ev, cfg, NOW + timedelta(seconds=3539)),  # the last second before exp
        (ev, cfg, NOW + timedelta(seconds=3540)),  # at exp: expired
        (ev, cfg, NOW - timedelta(seconds=61)),  # before iat: not yet valid
        (dataclasses.replace(ev, host="esx-02.lab.local"), cfg, NOW),  # another host's
        (ev, config(base_images=(GOOD,)), NOW),  # equal principals, another object
        (ev, other_sts, NOW),  # principals that never signed it
        (ev, cfg, NOW),
    ]
    for case_ev, case_cfg, at in cases:
        for _ in range(2):
            got, want = _both(case_ev, tpm, case_cfg, at, fast, plain)
            _same(got, want, fast, plain)
    assert [r for f in (_both(ev, tpm, cfg, NOW + timedelta(hours=2), fast, plain)[0],)
            for r in f.reasons] == [attestation.Reason.UNTRUSTED_PRINCIPAL]


def test_only_tokens_under_plain_principals_are_remembered() -> None:
    """A certificate held in a bytearray could change under the memo: not remembered."""
    attestation._TOKENS.cache_clear()
    cfg = CONFIGS["default"]
    mutable = dataclasses.replace(cfg, principals=tuple(
        dataclasses.replace(p, certificates_der=tuple(bytearray(d) for d in
                                                      p.certificates_der))
        for p in cfg.principals))
    fast, plain = _sides("fresh")
    got, want = _both(EVIDENCE["genuine"], TPMS["genuine"], mutable, NOW, fast, plain)
    _same(got, want, fast, plain)
    assert got.attested and not attestation._TOKENS


# -- step 5 in one go: the plain good quote ----------------------------------------------
def _requote(tpm: Tpm, attest: bytes, **clock: Any) -> tuple[bytes, bytes]:
    """``attest`` with other clock fields, signed by ``tpm``'s AK (what a TPM whose
    counters or clock moved would quote)."""
    from vtalab.tpm import marshal as m
    a = m.parse_attest(attest)
    data = m.marshal_attest(a.qualified_signer, a.extra_data,
                            dataclasses.replace(a.clock_info, **clock), a.firmware_version,
                            a.pcrs, a.pcr_digest)
    return data, m.marshal_signature(*crypto.ecdsa_sign(tpm.ak, data))


@pytest.mark.parametrize("simulated", [False, True])
def test_the_plain_good_quote_checked_in_one_go_agrees_with_the_step(
        simulated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a request shape passed step 5 once, a good quote of it is checked by
    ``_quote_passes``; every other quote (another nonce, signer, signature, PCR
    selection, a counter or clock going back, an unsafe clock) falls back to the step,
    with the same verdict, warnings and remembered counters as the plain evaluator."""
    passed: list[bool] = []
    real = attestation._quote_passes

    def spy(*args: Any) -> Any:
        out = real(*args)
        passed.append(out is not None)
        return out

    monkeypatch.setattr(attestation, "_quote_passes", spy)
    with crypto.simulated(simulated):
        tpm = _rebooted("esx-09.lab.local", orderly=True, undecodable=False)
        peer = TPMS["peer"]
        first = evidence(tpm, host="esx-09.lab.local")
        now = int(NOW.timestamp())
        wide = principal_token("esx-09.lab.local", iat=now - 60, exp=now + 86400)
        first = dataclasses.replace(first, principal_token=wide)
        n2, n3 = b"\x02" * 32, b"\x03" * 32
        q2 = tpm.quote(n2, list(first.pcr_selection), now_ms=120_000)
        second = dataclasses.replace(first, quote_attest=q2.attest, quote_signature=q2.signature)
        clock = attestation._marshal.parse_attest(q2.attest).clock_info
        flipped = bytearray(q2.signature)
        flipped[10] ^= 1
        other_pcrs = tpm.quote(n2, [*first.pcr_selection, 15], now_ms=130_000)
        fewer = tpm.quote(n2, [0, 7, 11], now_ms=130_000)
        by_peer = peer.quote(n2, list(first.pcr_selection), now_ms=130_000)
        # the quotes above fail after their counters are remembered: the ones below go on
        # from the latest of them
        top = attestation._marshal.parse_attest(fewer.attest).clock_info.clock

        def variant(attest: bytes, signature: bytes) -> Evidence:
            return dataclasses.replace(first, quote_attest=attest, quote_signature=signature)

        cases: list[tuple[str, Evidence, bytes, str]] = [
            ("good", second, n2, "report"),
            ("good again", second, n2, "report"),
            ("other nonce", second, n3, "report"),
            ("bad signature", variant(q2.attest, bytes(flipped)), n2, "report"),
            ("other quote's signature", variant(q2.attest, first.quote_signature), n2,
             "report"),
            ("other PCRs", variant(other_pcrs.attest, other_pcrs.signature), n2, "report"),
            ("fewer PCRs", variant(fewer.attest, fewer.signature), n2, "report"),
            ("peer's quote", variant(by_peer.attest, by_peer.signature), n2, "report"),
            ("unsafe, reported", variant(*_requote(tpm, q2.attest, clock=top + 10,
                                                   safe=False)), n2, "report"),
            ("unsafe, rejected", variant(*_requote(tpm, q2.attest, clock=top + 11,
                                                   safe=False)), n2, "reject"),
            ("later", variant(*_requote(tpm, q2.attest, clock=top + 20,
                                        restart_count=clock.restart_count + 1)), n2,
             "report"),
            ("clock back", variant(*_requote(tpm, q2.attest, clock=top + 19,
                                             restart_count=clock.restart_count + 1)),
             n2, "report"),
            ("restart back", variant(*_requote(tpm, q2.attest, clock=top + 30)),
             n2, "report"),
            ("reset back", variant(*_requote(tpm, q2.attest, clock=top + 30,
                                             reset_count=clock.reset_count - 1,
                                             restart_count=clock.restart_count + 1)),
             n2, "report"),
            ("good, behind the later one", second, n2, "report"),
        ]
        # a good quote of other PCR values (PCR 14 extended once more; the log presented
        # is the old one): step 5 passes, step 6 must find the digest is not the log's
        tpm.extend(14, EV_S_CRTM_VERSION, b"one more")
        moved = tpm.quote(n2, list(first.pcr_selection), now_ms=900_000)
        cases.append(("other PCR values", variant(*_requote(
            tpm, moved.attest, restart_count=clock.restart_count + 1)), n2, "report"))
        for registry in ("fresh", "none"):
            attestation._STATIC.cache_clear()
            fast, plain = _sides(registry)
            got, want = _both(first, tpm, CONFIGS["default"], NOW, fast, plain)
            _same(got, want, fast, plain)
            assert got.attested
            seen = {}
            verdicts: dict[str, Verdict] = {}
            for label, ev, nonce, unsafe in cases:
                passed.clear()
                got, want = _both(ev, tpm, CONFIGS["default"], NOW, fast, plain,
                                  nonce=nonce, unsafe_clock=unsafe)
                _same(got, want, fast, plain)
                seen[label] = (passed == [True], got.attested, got.reasons, got.warning_reasons)
                verdicts[label] = got
            # a request that passes as the previous one did is answered with its verdict
            assert verdicts["good again"] is verdicts["good"]
            assert verdicts["later"].restart_count == verdicts["good"].restart_count + 1
            assert seen["good"][:2] == seen["good again"][:2] == (True, True)
            assert seen["later"][:2] == (True, True)
            for label in ("other nonce", "bad signature", "other quote's signature",
                          "other PCRs", "fewer PCRs", "peer's quote", "unsafe, reported",
                          "unsafe, rejected"):
                assert seen[label][0] is False, label
            assert seen["other PCR values"][:3] == (
                False, False, (attestation.Reason.EVENTLOG_MISMATCH,))
            assert seen["unsafe, reported"][1:] == (
                True, (), (attestation.Reason.QUOTE_CLOCK_UNSAFE,))
            rolled = (False, False, (attestation.Reason.QUOTE_ROLLBACK,), ())
            for label in ("clock back", "restart back", "reset back",
                          "good, behind the later one"):
                assert seen[label] == (rolled if registry == "fresh" else
                                       (True, True, (), ())), label


def test_the_token_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attestation._TOKENS, "limit", 2)
    attestation._TOKENS.cache_clear()
    now = int(NOW.timestamp())
    fast, plain = _sides("fresh")
    for k in range(5):
        token = principal_token(HOST, iat=now - 60 - k, exp=now + 3600)
        ev = dataclasses.replace(EVIDENCE["genuine"], principal_token=token)
        got, want = _both(ev, TPMS["genuine"], CONFIGS["default"], NOW, fast, plain)
        _same(got, want, fast, plain)
        assert got.attested and token in attestation._TOKENS
        assert len(attestation._TOKENS) <= 2


@pytest.mark.parametrize("simulated", [False, True])
def test_each_token_is_signed_when_read_in_the_mode_of_the_issue(simulated: bool) -> None:
    """attestd hands out AttestationTokens: each token signed when first read -- in the
    crypto mode of the issue, whatever the mode when it is read -- reading one does not
    sign the other, and both are the tokens issue_tokens makes."""
    key = crypto.derive_private_key(7, "attestd")
    verdict = Verdict(attested=True, measured_version="8.0.2-22380479")
    args: dict[str, Any] = {"host": "esx-01", "service_name": "ta-01/attestd",
                            "group": "g", "iat": 1_717_243_200, "lifetime": 3600}
    with crypto.simulated(simulated):
        want = attestation.issue_tokens(verdict, key=key, kid="k", **args)
        kms, reporting = attestation.token_claims(verdict, **args)
        tokens = attestation.AttestationTokens(kms, reporting, key, "k",
                                               crypto.is_simulated())
    assert tokens._kms is None and tokens._reporting is None  # nothing signed yet
    with crypto.simulated(not simulated):
        assert tokens[0] == tokens[-2] == tokens.kms == want[0]
        assert tokens._reporting is None  # reading the KMS token does not sign it
        assert tokens.reporting == tokens[1] == tokens[-1] == want[1]
    later = attestation.AttestationTokens(kms, reporting, key, "k", simulated)
    assert later.reporting == want[1] and later._kms is None  # nor the other way round
    assert tokens == want and tuple(tokens) == want and len(tokens) == 2
    assert tokens != (want[0], want[0]) and tokens != list(want)
    assert tokens == later
    with pytest.raises(IndexError):
        tokens[2]
    with pytest.raises(TypeError):
        hash(tokens)


def test_shapes_are_found_by_identity_and_only_for_the_latest_configurations(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A host's next request under the same configuration finds its memo entry by the
    identity of what it presents; the objects of configurations no longer in use (a
    checker's earlier worlds) are let go: only the latest few configurations are kept."""
    monkeypatch.setattr(attestation, "_SHAPES_CONFIGS", 2)
    attestation._STATIC.cache_clear()
    ev, tpm = EVIDENCE["genuine"], TPMS["genuine"]
    configs = [config(base_images=(GOOD,)) for _ in range(4)]
    for cfg in configs:
        for _ in range(2):
            fast, plain = _sides("fresh")
            got, want = _both(ev, tpm, cfg, NOW, fast, plain)
            _same(got, want, fast, plain)
        held = attestation._SHAPES[id(cfg)]
        assert held[0] is cfg and held[1][HOST][3] is ev.eventlog
        assert len(attestation._SHAPES) <= 2
    assert [held[0] for held in attestation._SHAPES.values()] == configs[2:]
    # an equal request in other objects: found by its key, and the same entry
    copy = dataclasses.replace(ev, eventlog=bytes(bytearray(ev.eventlog)))
    entry = attestation._SHAPES[id(configs[-1])][1][HOST][5]
    assert attestation._static_facts(copy, configs[-1]) is entry
    assert attestation._SHAPES[id(configs[-1])][1][HOST][3] is copy.eventlog


# -- simulated crypto: the EK certificate a CA issued here is known, any other checked -----
def _simulated_world() -> tuple[dict[str, Tpm], dict[str, Evidence]]:
    """The hosts of :data:`TPMS` (new TPMs) with their evidence made under simulated
    crypto (simulated quote and token signatures; the certificates are real X.509), plus
    an EK certificate from an impostor CA that takes the Infineon CA's name and one with
    its signature damaged."""
    with crypto.simulated():
        tpms = _tpms()
        tpms["impostor-ca"] = make_tpm("esx-09.lab.local", ca=(
            crypto.make_ca("Infineon TPM Root CA", crypto.derive_private_key(1, "impostor"),
                           NOW - 5 * YEAR, NOW + 15 * YEAR, org="Infineon"),
            crypto.derive_private_key(1, "impostor")))
        tpms["damaged-ek-certificate"] = make_tpm("esx-10.lab.local")
        der = tpms["damaged-ek-certificate"].ek_certificate_der
        assert der is not None
        tpms["damaged-ek-certificate"].ek_certificate_der = der[:-1] + bytes([der[-1] ^ 1])
        hosts = {"impostor-ca": "esx-09.lab.local", "damaged-ek-certificate": "esx-10.lab.local"}
        evidences = {}
        for name, tpm in tpms.items():
            ev = evidence(tpm, host=hosts.get(name) or _host(name))
            now = int(NOW.timestamp())
            evidences[name] = dataclasses.replace(ev, principal_token=principal_token(
                ev.host, iat=now - 5 * 366 * 86400, exp=now + 30 * 366 * 86400))
    return tpms, evidences


def _real_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The certificates whose signature is checked for real from now on (cold memos)."""
    for memo in (crypto._chain_path, crypto._signed_by_der, crypto._issued_by_der):
        memo.cache_clear()
    checked: list[bytes] = []
    real = crypto._issued_by_der

    def counted(cert: bytes, issuer: bytes) -> bool:
        checked.append(cert)
        return real(cert, issuer)
    monkeypatch.setattr(crypto, "_issued_by_der", counted)
    return checked


def test_fast_path_agrees_with_the_steps_under_simulated_crypto(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated crypto knows the signature of an EK certificate the CA issued here, and
    checks any other for real: the impostor's and the damaged certificate are refused as
    real crypto refuses them, by both evaluators, and the genuine hosts attest."""
    tpms, evidences = _simulated_world()
    checked = _real_checks(monkeypatch)
    with crypto.simulated():
        for name in sorted(tpms):
            fast, plain = _sides("fresh")
            for cfg in ("default", "two-cas", "anything", "ek-list"):
                for now in TIMES[:3]:
                    got, want = _both(evidences[name], tpms[name], CONFIGS[cfg], now,
                                      fast, plain)
                    _same(got, want, fast, plain)
                    if cfg == "default" and now is NOW:
                        assert got.attested is (name in ("genuine", "peer", "undecodable",
                                                         "power-lost", "ek-expiring")), name
                        if name in ("impostor-ca", "damaged-ek-certificate"):
                            assert got.findings[0].detail["problem"] == "untrusted_issuer"
    ek_der = {name: tpm.ek_certificate_der for name, tpm in tpms.items()}
    assert ek_der["impostor-ca"] in checked and ek_der["damaged-ek-certificate"] in checked
    assert ek_der["genuine"] not in checked and ek_der["peer"] not in checked


def test_real_crypto_checks_what_simulated_crypto_knew(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    """The same EK certificate judged under simulated crypto, then under real crypto:
    the real judgement checks its signature itself (the memos keep the modes apart)."""
    tpms, evidences = _simulated_world()
    checked = _real_checks(monkeypatch)
    genuine = tpms["genuine"].ek_certificate_der
    with crypto.simulated():
        for _ in range(2):
            got, want = _both(evidences["genuine"], tpms["genuine"], CONFIGS["default"], NOW,
                              *_sides("fresh"))
            assert got.attested and got == want
    assert genuine not in checked
    # the real evidence of the same host, its EK certificate the same bytes: the fast
    # path alone (the steps would check it anyway) ...
    assert EVIDENCE["genuine"].ek_certificate_der == genuine
    fast = _sides("fresh")[0]
    got = evaluate(EVIDENCE["genuine"], CONFIGS["default"], nonce=NONCE, now=NOW,
                   activate=fast.activate(TPMS["genuine"]), challenge_label="fast/1",
                   bound_aks=fast.bound, counters=fast.counters)
    assert got.attested and genuine in checked
    # ... and it agrees with the steps
    got, want = _both(EVIDENCE["genuine"], TPMS["genuine"], CONFIGS["default"], NOW,
                      *_sides("fresh"))
    assert got.attested and got == want


# -- steps 7-8 and the claims check, shared by the hosts of one image ------------------------
def _outcome(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return ("value", fn(*args))
    except ValueError as exc:
        return ("raises", type(exc), str(exc))


def _claims_reference(log: bytes, pcrs: tuple[int, ...]) -> None:
    attestation._check_claims(attestation._quoted_events(log, pcrs))


def _variants(log: bytes, peer: bytes) -> list[bytes]:
    """``log`` changed one record at a time: a digest bit, a data byte (first and last),
    the record taken from ``peer``'s log, the record dropped, the record twice."""
    from vtalab.tpm.eventlog import Event, parse_eventlog
    events, others = list(parse_eventlog(log)), list(parse_eventlog(peer))
    header = log[:len(log) - sum(len(e.to_bytes()) for e in events)]

    def rebuilt(records: list[Any]) -> bytes:
        return header + b"".join(r if isinstance(r, bytes) else r.to_bytes() for r in records)

    def raw(e: Any, digest: bytes, data: bytes) -> bytes:
        return Event(e.pcr, e.event_type, digest, data).to_bytes()  # parsed again on reading

    out = []
    for i, e in enumerate(events):
        flipped = [raw(e, e.digest[:-1] + bytes([e.digest[-1] ^ 1]), e.data)]
        if e.data:
            flipped += [raw(e, e.digest, bytes([e.data[0] ^ 1]) + e.data[1:]),
                        raw(e, e.digest, e.data[:-1] + bytes([e.data[-1] ^ 0x20]))]
        for record in flipped:
            out.append(rebuilt(events[:i] + [record] + events[i + 1:]))
        if i < len(others):
            out.append(rebuilt(events[:i] + [others[i]] + events[i + 1:]))
        out.append(rebuilt(events[:i] + events[i + 1:]))
        out.append(rebuilt(events[:i + 1] + events[i:]))
    return out


def test_boot_facts_and_claims_are_the_reference_on_logs_changed_record_by_record() -> None:
    """What steps 7-8 and the claims check answer for a log -- remembered per records as
    they read them (attestation._records_key), so shared by the hosts of one image -- is
    what working them out for that log answers, on logs changed record by record."""
    pcrs = tuple(EVIDENCE["genuine"].pcr_selection)
    genuine, peer = EVIDENCE["genuine"].eventlog, EVIDENCE["peer"].eventlog
    assert genuine != peer
    assert attestation._boot_facts(genuine, pcrs) is attestation._boot_facts(peer, pcrs)
    attestation._check_claims_cached(genuine, pcrs)
    attestation._check_claims_cached(peer, pcrs)
    assert len(attestation._FACTS) == len(attestation._CLAIMS_HOLD) == 1  # one image
    other = EVIDENCE["other-image"].eventlog
    assert attestation._boot_facts(other, pcrs) != attestation._boot_facts(genuine, pcrs)
    variants = _variants(genuine, peer) + _variants(EVIDENCE["undecodable"].eventlog, peer)
    assert len(variants) > 300
    for log in variants:
        assert _outcome(attestation._check_claims_cached, log, pcrs) == \
            _outcome(_claims_reference, log, pcrs)
        assert _outcome(attestation._boot_facts, log, pcrs) == \
            _outcome(attestation._boot_facts_of, log, pcrs)
    assert 1 < len(attestation._FACTS) < len(variants)  # remembered, and shared
