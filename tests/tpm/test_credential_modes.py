"""The credential round trip answers alike under real and simulated crypto.

Simulated crypto replaces the ephemeral key pair and ECDH of MakeCredential by hashes
(``credential._sim_point``, ``_sim_z``), and the blob's AES-CFB and integrity HMAC by
keyed-hash stand-ins of the KDFe seed (``_sim_cipher``, ``_sim_integrity``). Whatever
the mode, a blob opens only with the TPM holding the EK it was made for, only for the
Name it was made for, and not once a byte of it or of its seed is changed: every case
here is answered in both modes and the answers (the secret, or None) must be equal.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vtalab.core import crypto
from vtalab.tpm import Tpm, credential
from vtalab.tpm.credential import make_credential

from .conftest import make_tpm

TPMS = [make_tpm(11, "esx-01"), make_tpm(11, "esx-02")]
SECRET = bytes(range(32))


def answers(simulated: bool, ek_of: Tpm, name_of: Tpm, ephemeral: bytes | None,
            change: tuple[str, int, int] | None, opener: Tpm) -> bytes | None:
    """Make a credential for ``ek_of``'s EK and ``name_of``'s AK Name, change it as told,
    and ask ``opener``'s TPM to activate it (``_activate_credential``: not remembered)."""
    with crypto.simulated(simulated):
        eph: bytes | crypto.PrivateKey = (ephemeral if ephemeral is not None
                                          else crypto.derive_private_key(11, "eph"))
        blob, seed = credential._make_credential(  # noqa: SLF001
            ek_of.ek.public_key(), name_of.ak_name, SECRET, eph)
        if change is not None:
            what, at, xor = change
            if what == "blob":
                b = bytearray(blob)
                b[at % len(b)] ^= xor
                blob = bytes(b)
            elif what == "seed":
                b = bytearray(seed)
                b[at % len(b)] ^= xor
                seed = bytes(b)
            elif what == "cut-blob":
                blob = blob[:at % len(blob)]
            else:
                seed = seed[:at % len(seed)]
        return credential._activate_credential(  # noqa: SLF001
            opener.ek, opener.ak_name, blob, seed)


@pytest.mark.parametrize("ephemeral", [b"nonce-1", b"", None], ids=["bytes", "empty", "key"])
@pytest.mark.parametrize("maker,named,opener", [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0),
                                                (1, 1, 1), (1, 1, 0)])
def test_who_can_open_a_credential_is_the_same_in_both_modes(
        ephemeral: bytes | None, maker: int, named: int, opener: int) -> None:
    real = answers(False, TPMS[maker], TPMS[named], ephemeral, None, TPMS[opener])
    sim = answers(True, TPMS[maker], TPMS[named], ephemeral, None, TPMS[opener])
    assert real == sim
    assert (real == SECRET) is (maker == named == opener)


@settings(max_examples=120, deadline=None)
@given(change=st.tuples(st.sampled_from(["blob", "seed", "cut-blob", "cut-seed"]),
                        st.integers(0, 200), st.integers(1, 255)),
       ephemeral=st.binary(max_size=8))
def test_a_changed_blob_or_seed_is_refused_in_both_modes(change: tuple[str, int, int],
                                                        ephemeral: bytes) -> None:
    tpm = TPMS[0]
    real = answers(False, tpm, tpm, ephemeral, change, tpm)
    sim = answers(True, tpm, tpm, ephemeral, change, tpm)
    assert real == sim


def test_the_simulated_seed_has_the_shape_of_a_real_one() -> None:
    """A TPM2B_ENCRYPTED_SECRET holding a TPMS_ECC_POINT of two 32-byte coordinates, and
    a blob of the same size, in both modes; the simulated one is not the real one."""
    ek = TPMS[0].ek.public_key()
    with crypto.simulated(False):
        real = make_credential(ek, TPMS[0].ak_name, SECRET, b"n")
    with crypto.simulated(True):
        sim = make_credential(ek, TPMS[0].ak_name, SECRET, b"n")
        again = make_credential(ek, TPMS[0].ak_name, SECRET, b"n")
        other = make_credential(ek, TPMS[0].ak_name, SECRET, b"m")
    assert [len(x) for x in real] == [len(x) for x in sim] and sim[1][:2] == real[1][:2]
    assert sim[1][2:4] == sim[1][36:38] == b"\x00\x20"
    assert sim != real and sim == again and sim[1] != other[1]


def test_simulated_activation_derives_no_key() -> None:
    """The point of the stand-in: no P-256 key is derived, encoded or validated, and no
    AES key is scheduled."""
    tpm = TPMS[1]
    calls: list[str] = []
    saved = (crypto.derive_private_key, crypto.public_from_point, crypto.ecdh,
             crypto.aes_cfb)

    def spy(name: str, f: object) -> object:
        def inner(*a: object, **kw: object) -> object:
            calls.append(name)
            return f(*a, **kw)  # type: ignore[operator]
        return inner

    crypto.derive_private_key, crypto.public_from_point, crypto.ecdh, crypto.aes_cfb = (  # type: ignore[assignment]
        spy("derive", saved[0]), spy("from_point", saved[1]), spy("ecdh", saved[2]),
        spy("aes", saved[3]))
    try:
        with crypto.simulated(True):
            blob, seed = credential._make_credential(  # noqa: SLF001
                tpm.ek.public_key(), tpm.ak_name, SECRET, b"fresh")
            assert credential._activate_credential(  # noqa: SLF001
                tpm.ek, tpm.ak_name, blob, seed) == SECRET
        assert calls == []
        with crypto.simulated(False):
            blob, seed = credential._make_credential(  # noqa: SLF001
                tpm.ek.public_key(), tpm.ak_name, SECRET, b"fresh")
            assert credential._activate_credential(  # noqa: SLF001
                tpm.ek, tpm.ak_name, blob, seed) == SECRET
        assert calls == ["derive", "ecdh", "aes", "from_point", "ecdh", "aes"]
    finally:
        (crypto.derive_private_key, crypto.public_from_point, crypto.ecdh,  # type: ignore[assignment]
         crypto.aes_cfb) = saved


@pytest.mark.parametrize("maker,named,opener", [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0),
                                                (1, 1, 1), (1, 1, 0)])
def test_a_blob_made_here_is_opened_from_the_registry_as_the_algorithm_opens_it(
        maker: int, named: int, opener: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated crypto answers the activation of a blob make_credential made in this
    process from what it was made for (credential._MADE_FOR): the same answer as the
    algorithm for the right TPM, another TPM and another Name, without running it; a
    changed or cut blob or seed still runs it and is refused."""
    ek_of, name_of, tpm = TPMS[maker], TPMS[named], TPMS[opener]
    credential._MADE_FOR.clear()  # noqa: SLF001
    credential._ACTIVATED.clear()  # noqa: SLF001
    with crypto.simulated(True):
        secret = bytes([maker, named, opener]) * 8
        blob, seed = make_credential(ek_of.ek.public_key(), name_of.ak_name, secret,
                                     b"registry")
        want = credential._activate_credential(  # noqa: SLF001
            tpm.ek, tpm.ak_name, blob, seed)
        assert (want == secret) is (maker == named == opener)
        assert want is None or want == secret
        ran: list[bytes] = []
        algorithm = credential._activate_credential  # noqa: SLF001

        def counted(ek: crypto.PrivateKey, name: bytes, b: bytes, s: bytes) -> bytes | None:
            ran.append(b)
            return algorithm(ek, name, b, s)

        monkeypatch.setattr(credential, "_activate_credential", counted)
        assert tpm.activate_credential(blob, seed) == want
        assert ran == []  # answered from the registry
        changed = [(blob[:-1] + bytes([blob[-1] ^ 1]), seed), (blob[:20], seed),
                   (blob, seed[:-1] + bytes([seed[-1] ^ 1])), (blob, seed[:30])]
        for b, s in changed:
            assert tpm.activate_credential(b, s) is None
        assert len(ran) == len(changed)  # each ran the algorithm
    with crypto.simulated(False):  # real crypto never reads the registry
        assert tpm.activate_credential(blob, seed) is None
    assert len(ran) == len(changed) + 1


@settings(max_examples=150, deadline=None)
@given(secret=st.binary(max_size=32), ephemeral=st.binary(max_size=40),
       name=st.sampled_from([TPMS[0].ak_name, TPMS[1].ak_name, b"", b"\x00\x0b" + bytes(32)]),
       which=st.integers(0, 1))
def test_the_simulated_make_in_bytes_is_the_reference(secret: bytes, ephemeral: bytes,
                                                     name: bytes, which: int) -> None:
    """credential._sim_make (what make_credential runs under simulated crypto) gives the
    very blob and seed of _make_credential, for any secret, ephemeral bytes and Name."""
    ek = TPMS[which].ek.public_key()
    with crypto.simulated(True):
        want = credential._make_credential(ek, name, secret, ephemeral)  # noqa: SLF001
        got = credential._sim_make(ek, crypto.public_der(ek), name, secret,  # noqa: SLF001
                                   ephemeral)
        assert got == want
        assert credential._activate_credential(  # noqa: SLF001
            TPMS[which].ek, name, *got) == secret
