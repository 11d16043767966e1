"""Simulated crypto (for search) behaves exactly like real crypto (for evidence).

``crypto: simulated`` replaces ECDSA signatures and ECDH by keyed SHA-256 stand-ins with
the same accept/reject semantics. Every bundled scenario and every exercise's starting
scenario must give the same events and verdicts in both modes (the traces equal once the
signature part of recorded tokens is masked), and the checker's counterexamples found
with simulated crypto are the ones real crypto finds, confirmed with real crypto.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vtalab.analysis.checker.search import Checker
from vtalab.core import crypto
from vtalab.errors import InputError
from vtalab.scenario.model import load_scenario, run_scenario
from vtalab.training.exercises import exercises
from vtalab.world.assembly import World

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
    (ROOT / "scenarios" / "bugs").glob("*.yaml"))


def _masked(value: Any) -> Any:
    """A JWT's signature (its third part) masked; everything else as it is."""
    if isinstance(value, str) and value.count(".") == 2 and value.startswith("eyJ"):
        return value.rsplit(".", 1)[0] + ".<signature>"
    return value


def _events(result: Any) -> list[tuple[Any, ...]]:
    return [(e.time, e.seq, e.source, e.kind, {k: _masked(v) for k, v in e.fields.items()})
            for e in result.world.kernel.trace]


def _verdicts(result: Any) -> list[tuple[Any, ...]]:
    return [(v.label, v.ok, v.detail, v.at) for v in result.verdicts]


def _same_in_both_modes(scenario: Any) -> None:
    real = run_scenario(scenario)
    simulated = run_scenario(scenario, crypto="simulated")
    assert simulated.world.crypto == "simulated" and real.world.crypto == "real"
    assert _verdicts(simulated) == _verdicts(real)
    assert _events(simulated) == _events(real)
    assert not crypto.is_simulated()  # the mode ends with the run


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_scenarios_run_the_same_with_simulated_crypto(path: Path) -> None:
    _same_in_both_modes(load_scenario(str(path)))


@pytest.mark.parametrize("name", sorted(exercises()))
def test_exercise_scenarios_run_the_same_with_simulated_crypto(name: str) -> None:
    _same_in_both_modes(exercises()[name].scenario)


def test_simulated_signatures_accept_and_reject_as_real_ones_do() -> None:
    key = crypto.derive_private_key(1, "test/sim/a")
    other = crypto.derive_private_key(1, "test/sim/b")
    data = b"TPMS_ATTEST bytes"
    for mode in (False, True):
        with crypto.simulated(mode):
            assert crypto.is_simulated() is mode
            r, s = crypto.ecdsa_sign(key, data)
            assert 1 <= r < 2**256 and 1 <= s < 2**256
            assert crypto.ecdsa_sign(key, data) == (r, s)  # deterministic
            assert crypto.ecdsa_verify(key.public_key(), data, r, s)
            assert not crypto.ecdsa_verify(key.public_key(), data + b"!", r, s)  # tampered
            assert not crypto.ecdsa_verify(other.public_key(), data, r, s)  # other key
            assert not crypto.ecdsa_verify(key.public_key(), data, r, s + 1)  # forged
            signed_by_other = crypto.ecdsa_sign(other, data)
            assert not crypto.ecdsa_verify(key.public_key(), data, *signed_by_other)
            token = crypto.jwt_encode({"sub": "esx-01"}, key, "kid")
            assert crypto.jwt_verify(token, key.public_key()) == {"sub": "esx-01"}
            assert crypto.jwt_verify(token, other.public_key()) is None
            head, body, sig = token.split(".")
            forged = crypto.jwt_encode({"sub": "esx-02"}, key, "kid").split(".")[1]
            assert crypto.jwt_verify(f"{head}.{forged}.{sig}", key.public_key()) is None
            ab = crypto.ecdh(key, other.public_key())
            assert ab == crypto.ecdh(other, key.public_key()) and len(ab) == 32
            third = crypto.derive_private_key(1, "test/sim/c")
            assert crypto.ecdh(key, third.public_key()) != ab
    assert not crypto.is_simulated()
    with crypto.simulated():  # a simulated signature is not a real one, and back
        sim = crypto.ecdsa_sign(key, data)
    assert not crypto.ecdsa_verify(key.public_key(), data, *sim)


def test_simulated_signature_is_its_keyed_hash_definition() -> None:
    """``sim_sign`` hashes the key's part once and copies the state: the values are still
    those of its one-line definition, ``_sim_scalar`` (so simulated runs keep their bytes)."""
    for i in range(20):
        key = crypto.derive_private_key(1, f"test/sim/def/{i}")
        pub = crypto.public_der(key)
        for data in (b"", b"x" * i, bytes(range(256)) * (i + 1)):
            expected = (crypto._sim_scalar(b"r", pub, data),  # noqa: SLF001
                        crypto._sim_scalar(b"s", pub, data))  # noqa: SLF001
            assert crypto.sim_sign(key, data) == expected
            assert crypto.sim_verify(key.public_key(), data, *expected)
            assert not crypto.sim_verify(key.public_key(), data, expected[0], expected[1] ^ 1)


def test_a_world_refuses_an_unknown_crypto_mode() -> None:
    scenario = load_scenario(str(BUNDLED[0]))
    with pytest.raises(InputError, match="crypto"):
        World(scenario.topology, crypto="fake")


def test_the_checker_finds_and_confirms_the_same_counterexamples_in_both_modes() -> None:
    plan = load_scenario(str(ROOT / "scenarios" / "plans" /
                             "unsafe-remove-old-image-after-quick-boot.yaml"))

    def found(mode: str) -> list[tuple[Any, ...]]:
        report = Checker(plan, examples=4, seed=3, crypto=mode).run()
        assert not crypto.is_simulated()
        return [(ce.invariant, ce.case, [str(v) for v in ce.violations], ce.reproduced)
                for ce in report.counterexamples]

    simulated = found("simulated")
    assert simulated and all(reproduced for *_, reproduced in simulated)
    assert simulated == found("real")


def test_jwt_wellformed_is_whether_jwt_decode_decodes() -> None:
    key = crypto.derive_private_key(1, "test/jwt/wellformed")
    token = crypto.jwt_encode({"sub": "esx-01", "n": {"nested": [1]}}, key, "kid")
    head, body, sig = token.split(".")
    for candidate in (token, f"{head}.{body}", f"{head}.{body}.{sig}.x", "a.b.c", "",
                      f"{head}.{crypto.b64url(b'[1]')}.{sig}", f"{head}.!!.{sig}",
                      f"{crypto.b64url(b'not json')}.{body}.{sig}", b"bytes.are.not"):
        assert crypto.jwt_wellformed(candidate) is (  # type: ignore[arg-type]
            crypto.jwt_decode(candidate) is not None)  # type: ignore[arg-type]
    assert crypto.jwt_wellformed(token)
    assert not crypto.jwt_wellformed("a.b.c")


# -- X.509 under simulated crypto: a certificate signed here is known, any other checked ---
_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_T1 = datetime(2036, 1, 1, tzinfo=UTC)


def _pki(tag: str) -> tuple[Any, ...]:
    """A CA, a certificate it issued, an impostor CA of the same name (another key) and
    a certificate the impostor issued: the impostor's names the real CA as its issuer."""
    ca_key = crypto.derive_private_key(7, f"test/x509/{tag}/ca")
    impostor_key = crypto.derive_private_key(7, f"test/x509/{tag}/impostor")
    ca = crypto.make_ca(f"TPM CA {tag}", ca_key, _T0, _T1)
    impostor = crypto.make_ca(f"TPM CA {tag}", impostor_key, _T0, _T1)
    subject = crypto.derive_private_key(7, f"test/x509/{tag}/ek")
    good = crypto.issue_certificate(f"ek {tag}", subject, ca, ca_key, _T0, _T1)
    forged = crypto.issue_certificate(f"ek {tag}", subject, impostor, impostor_key, _T0, _T1)
    assert forged.issuer == ca.subject  # named as issued by the CA
    return ca, good, forged


def _checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """The real signature checks made from now on (cold memos)."""
    for memo in (crypto._chain_path, crypto._signed_by_der, crypto._issued_by_der):  # noqa: SLF001
        memo.cache_clear()
    made: list[tuple[bytes, bytes]] = []
    real = crypto._issued_by_der  # noqa: SLF001

    def counted(cert: bytes, issuer: bytes) -> bool:
        made.append((cert, issuer))
        return real(cert, issuer)
    monkeypatch.setattr(crypto, "_issued_by_der", counted)
    return made


def _tampered(cert: Any) -> Any:
    """``cert`` with the last byte of its signature changed (still parses)."""
    der = bytearray(crypto.cert_der(cert))
    der[-1] ^= 0x01
    return crypto.cert_from_der(bytes(der))


@pytest.mark.parametrize("simulated", [False, True])
def test_certificate_chains_accept_and_refuse_alike_in_both_modes(
        monkeypatch: pytest.MonkeyPatch, simulated: bool) -> None:
    ca, good, forged = _pki("alike")
    checks = _checks(monkeypatch)
    with crypto.simulated(simulated):
        assert crypto.chain_problem(good, [ca], _T0) is None
        assert crypto.chain_problem(forged, [ca], _T0) == "untrusted_issuer"
        assert crypto.chain_problem(_tampered(good), [ca], _T0) == "untrusted_issuer"
    checked = {cert for cert, _ in checks}
    # the forged and the tampered certificates are always checked for real (and fail) ...
    assert crypto.cert_der(forged) in checked and crypto.cert_der(_tampered(good)) in checked
    # ... the CA's own is checked only by real crypto: simulated crypto signed it here
    assert (crypto.cert_der(good) in checked) is not simulated


def test_real_crypto_never_takes_an_answer_simulated_crypto_knew(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ca, good, _ = _pki("modes")
    checks = _checks(monkeypatch)
    with crypto.simulated():
        assert crypto.chain_path(good, [ca])[1] is None
    assert checks == []  # known: signed here with the CA's key
    assert crypto.chain_path(good, [ca])[1] is None  # real crypto: checked
    assert checks == [(crypto.cert_der(good), crypto.cert_der(ca))]


def test_a_certificate_signed_here_is_known_only_for_its_issuer_and_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ca, good, forged = _pki("known")
    monkeypatch.setattr(crypto, "_SIGNED_HERE", {})
    assert not crypto._known_signed(crypto.cert_der(good), crypto.cert_der(ca))  # noqa: SLF001
    _pki("known")  # signed again (the DER comes from the memo): known again
    good_der, ca_der = crypto.cert_der(good), crypto.cert_der(ca)
    assert crypto._known_signed(good_der, ca_der)  # noqa: SLF001
    assert not crypto._known_signed(crypto.cert_der(forged), ca_der)  # noqa: SLF001
    assert not crypto._known_signed(crypto.cert_der(_tampered(good)), ca_der)  # noqa: SLF001
    assert not crypto._known_signed(good_der, crypto.cert_der(good))  # noqa: SLF001
    # named by the CA's very certificate but signed with another key: not known, refused
    ca_key = crypto.derive_private_key(7, "test/x509/known/ca")
    subject = crypto.derive_private_key(7, "test/x509/known/ek")
    rogue = crypto.issue_certificate("rogue", subject, ca,
                                     crypto.derive_private_key(7, "test/x509/known/impostor"),
                                     _T0, _T1)
    assert not crypto._known_signed(crypto.cert_der(rogue), ca_der)  # noqa: SLF001
    with crypto.simulated():
        assert crypto.chain_problem(rogue, [ca], _T0) == "untrusted_issuer"
    # the CA's key under another name, and the CA re-issued (same name and key, another
    # validity): known only for the certificate it was issued under; the names decide
    # the first, the signature the second, as real crypto does
    renamed = crypto.make_ca("Another CA", ca_key, _T0, _T1)
    reissued = crypto.make_ca("TPM CA known", ca_key, _T0, _T1 + (_T1 - _T0))
    for other_ca, problem in ((renamed, "untrusted_issuer"), (reissued, None)):
        assert not crypto._known_signed(good_der, crypto.cert_der(other_ca))  # noqa: SLF001
        for mode in (False, True):
            with crypto.simulated(mode):
                assert crypto.chain_problem(good, [other_ca], _T0) == problem


def test_a_parsed_certificates_der_and_key_are_what_encoding_them_gives() -> None:
    """cert_der of a parsed certificate is the bytes it was parsed from (remembered at
    the parse), cert_key_der of one issued here the key it was issued for (remembered
    at the issue): what encoding them again gives."""
    ca, good, forged = _pki("der")
    key = crypto.derive_private_key(7, "test/x509/der/server")
    server = crypto.make_server_certificate("lab", key, dns_names=("lab",), ip_addresses=(),
                                            not_before=_T0, not_after=_T1)
    for cert in (ca, good, forged, _tampered(good), server):
        der = cert.public_bytes(crypto.serialization.Encoding.DER)
        parsed = crypto.cert_from_der(bytes(bytearray(der)))
        assert crypto.cert_der(parsed) == der
        assert crypto.cert_der(parsed) == parsed.public_bytes(crypto.serialization.Encoding.DER)
        # the certified key's encoding: known for a certificate issued here, the same
        assert crypto.cert_key_der(parsed) == crypto.cert_key_der(cert) == \
            cert.public_key().public_bytes(crypto.serialization.Encoding.DER,
                                           crypto.serialization.PublicFormat.SubjectPublicKeyInfo)
    assert crypto.cert_der(good) in crypto._ISSUED_FOR  # noqa: SLF001

