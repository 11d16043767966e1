"""Credential protection: binding an attestation key to an endorsement key.

A verifier trusts the EK (its certificate chains to the TPM vendor) but the quotes are
signed by the AK. TPM 2.0 Part 1 §24 closes the gap: the verifier runs **MakeCredential**
with the EK public key and the AK *Name*, producing a blob only a TPM holding that EK
can open, and that TPM only opens it (**ActivateCredential**) for an object with that
Name. If the TPM returns the secret, the AK lives in the same TPM as the EK.

With an ECC EK (Part 1 Annex C.6.4 / Part 4 ``CryptSecretEncrypt``):

* an ephemeral P-256 key ``(d_e, Q_e)``; ``Z = x(d_e · Q_EK)``;
* ``seed = KDFe(SHA256, Z, "IDENTITY", x(Q_e), x(Q_EK), 256)``; the *encrypted seed*
  is the marshalled ephemeral point ``TPMS_ECC_POINT`` in a ``TPM2B_ENCRYPTED_SECRET``;
* ``symKey = KDFa(SHA256, seed, "STORAGE", Name, "", 128)`` and
  ``encIdentity = AES-128-CFB(symKey, IV=0, TPM2B_DIGEST(secret))``;
* ``HMACkey = KDFa(SHA256, seed, "INTEGRITY", "", "", 256)``,
  ``integrityHMAC = HMAC(HMACkey, encIdentity || Name)``;
* the credential blob is ``TPM2B_ID_OBJECT { TPM2B_DIGEST integrityHMAC, encIdentity }``.

This is the full algorithm (no simplification); the ephemeral key is derived from
caller-supplied bytes so the blob is reproducible.

Under simulated crypto (search only, :func:`vtalab.core.crypto.simulated`) key agreement
is a keyed-hash stand-in, and so is the ephemeral key pair it would need: the ephemeral
"point" in the encrypted seed is two hashes of the caller's bytes (the real point when
the caller passes a key), and ``Z`` is SHA-256 over the EK's public key and that point.
KDFe gives the seed as above; the blob's cipher and integrity check are keyed-hash
stand-ins of the seed with the real ones' sizes (encIdentity: the secret XOR a SHAKE-256
stream of the seed and the Name; integrityHMAC: an HMAC keyed by the seed over
encIdentity and the Name), so a blob still opens only with that EK's TPM, for that Name,
untampered (tests/tpm/test_credential_modes.py holds the two modes to the same answers).
What it spares is three P-256 operations per round trip (deriving the ephemeral key, and
encoding and validating its point) and two KDFa and two AES-CFB key schedules. It also
answers the activation of a blob this process made from what the blob was made for
(``_MADE_FOR``), as a certificate ``crypto`` issued itself is known to verify; any other
bytes run the algorithm.
"""

from __future__ import annotations

import hashlib

from vtalab.core import crypto
from vtalab.tpm.marshal import Reader, tpm2b, u32

__all__ = ["activate_credential", "kdfa", "kdfe", "make_credential"]

_SYM_KEY_BITS = 128  # the EK template's AES-128-CFB
_DIGEST_BITS = 256


def _label(label: bytes) -> bytes:
    # Both KDFs hash the label *with* its terminating NUL (Part 1 §11.4.10.4).
    return label if label.endswith(b"\x00") else label + b"\x00"


def kdfa(key: bytes, label: bytes, context_u: bytes, context_v: bytes, bits: int) -> bytes:
    """KDFa with SHA-256: SP 800-108 counter-mode HMAC (Part 1 §11.4.10.2)."""
    out = b""
    counter = 1
    while len(out) * 8 < bits:
        out += crypto.hmac_sha256(
            key, u32(counter) + _label(label) + context_u + context_v + u32(bits))
        counter += 1
    return out[:bits // 8]


def kdfe(z: bytes, label: bytes, party_u: bytes, party_v: bytes, bits: int) -> bytes:
    """KDFe with SHA-256: SP 800-56A concatenation KDF (Part 1 §11.4.10.3)."""
    out = b""
    counter = 1
    while len(out) * 8 < bits:
        out += crypto.sha256(u32(counter) + z + _label(label) + party_u + party_v)
        counter += 1
    return out[:bits // 8]


def _point(x: int, y: int) -> bytes:
    return tpm2b(x.to_bytes(32, "big")) + tpm2b(y.to_bytes(32, "big"))


def _sim_point(ephemeral: crypto.PrivateKey | bytes) -> tuple[int, int]:
    """The simulated ephemeral point: hashes of the caller's bytes (a key: its point)."""
    if isinstance(ephemeral, bytes):
        return (int.from_bytes(crypto.sha256(b"vtalab-sim-ephemeral|x|" + ephemeral), "big"),
                int.from_bytes(crypto.sha256(b"vtalab-sim-ephemeral|y|" + ephemeral), "big"))
    return crypto.public_point(ephemeral)


def _sim_z(ek: crypto.PrivateKey | crypto.PublicKey, x: int, y: int) -> bytes:
    """The simulated shared secret of an EK and an ephemeral point: the same for the
    maker (EK public key) and the TPM (EK private key), another for any other pair."""
    return crypto.sha256(b"vtalab-sim-credential-z|" + crypto.public_der(ek) + b"|"
                         + x.to_bytes(32, "big") + y.to_bytes(32, "big"))


def _ephemeral(ephemeral: crypto.PrivateKey | bytes) -> crypto.PrivateKey:
    if isinstance(ephemeral, bytes):
        seed = int.from_bytes(crypto.sha256(b"vtalab-make-credential|" + ephemeral), "big")
        return crypto.derive_private_key(seed, "tpm-make-credential")
    return ephemeral


#: Both ends of the round trip are pure functions of their inputs and of the crypto mode
#: (ECDH is a stand-in under simulated crypto), and a plan checker's examples, which start
#: from one seed, challenge the same EK/AK pairs with the same labels at the same
#: instants again and again: each answer is remembered for the exact inputs. A replaced
#: TPM has other keys (new objects, another EK encoding), so it is a new entry.
_MADE = crypto.Memo()
_ACTIVATED = crypto.Memo()

#: Simulated crypto only: each (blob, encrypted seed) :func:`make_credential` made in this
#: process, with the EK (SPKI DER) and Name it was made for and its secret. Those bytes
#: open exactly for that EK and that Name (any other EK gives another ``Z``, any other
#: Name another integrity HMAC), so activating them is answered from here, not by
#: KDFe, two KDFa, an HMAC and AES-CFB again (~20 us, a third of a host's first
#: attestation with a service); bytes not made here (changed, cut, another process's)
#: run the algorithm. The simulated counterpart of the certificates ``crypto`` knows it
#: issued itself; real crypto always runs the algorithm. (test_credential_modes.py holds
#: the answers from here to the algorithm's.)
_MADE_FOR = crypto.Memo()


def make_credential(ek_public: crypto.PublicKey, ak_name: bytes, secret: bytes,
                    ephemeral: crypto.PrivateKey | bytes) -> tuple[bytes, bytes]:
    """``(credential_blob, encrypted_seed)`` for ``secret`` (≤ 32 bytes), openable only by the
    TPM holding ``ek_public`` and only for the object named ``ak_name``.

    ``ephemeral`` is the ephemeral ECDH key, or bytes (e.g. a nonce) to derive it from.
    Both outputs are sized TPM structures (``TPM2B_ID_OBJECT``, ``TPM2B_ENCRYPTED_SECRET``).
    """
    if len(secret) > 32:
        raise ValueError("a credential is a TPM2B_DIGEST: at most 32 bytes")
    if type(ephemeral) is not bytes or type(ak_name) is not bytes \
            or type(secret) is not bytes:
        return _make_credential(ek_public, ak_name, secret, ephemeral)
    simulated, ek_der = crypto.is_simulated(), crypto.public_der(ek_public)
    memo = (simulated, ek_der, ak_name, secret, ephemeral)
    made = _MADE.get(memo)
    if made is None:
        made = (_sim_make(ek_public, ek_der, ak_name, secret, ephemeral) if simulated
                else _make_credential(ek_public, ak_name, secret, ephemeral))
        _MADE.keep(memo, made)
    if simulated and made not in _MADE_FOR:
        _MADE_FOR.keep(made, (ek_der, ak_name, secret))
    return made


_IDENTITY_LABEL = _label(b"IDENTITY")
_KDFE_COUNTER = u32(1)  # KDFe of 256 bits: one SHA-256 block, counter 1
_POINT_SIZES = b"\x00\x44\x00\x20"  # TPM2B of a TPMS_ECC_POINT (68 bytes), x's TPM2B (32)
_Y_SIZE = b"\x00\x20"
_INTEGRITY_SIZE = b"\x00\x20"


def _sim_make(ek_public: crypto.PublicKey, ek_der: bytes, ak_name: bytes, secret: bytes,
              ephemeral: bytes) -> tuple[bytes, bytes]:
    """:func:`_make_credential` under simulated crypto with bytes for the ephemeral, in
    the bytes themselves (a hash is already the 32-byte big-endian coordinate it stands
    for): the same blob and seed, without the int round trips and helper calls (a
    host's three first attestations make one each; tests/tpm/test_credential_modes.py
    compares the two on arbitrary inputs)."""
    ex = crypto.sha256(b"vtalab-sim-ephemeral|x|" + ephemeral)
    ey = crypto.sha256(b"vtalab-sim-ephemeral|y|" + ephemeral)
    z = crypto.sha256(b"vtalab-sim-credential-z|" + ek_der + b"|" + ex + ey)
    kx = crypto.public_point(ek_public)[0].to_bytes(32, "big")
    seed = crypto.sha256(_KDFE_COUNTER + z + _IDENTITY_LABEL + ex + kx)
    identity = len(secret).to_bytes(2, "big") + secret
    enc_identity = _sim_cipher(seed, ak_name, identity)
    inner = _INTEGRITY_SIZE + _sim_integrity(seed, enc_identity, ak_name) + enc_identity
    return (len(inner).to_bytes(2, "big") + inner,
            _POINT_SIZES + ex + _Y_SIZE + ey)


def _make_credential(ek_public: crypto.PublicKey, ak_name: bytes, secret: bytes,
                     ephemeral: crypto.PrivateKey | bytes) -> tuple[bytes, bytes]:
    if crypto.is_simulated():
        ex, ey = _sim_point(ephemeral)
        z = _sim_z(ek_public, ex, ey)
    else:
        eph = _ephemeral(ephemeral)
        z = crypto.ecdh(eph, ek_public)
        ex, ey = crypto.public_point(eph)
    kx, _ = crypto.public_point(ek_public)
    seed = kdfe(z, b"IDENTITY", ex.to_bytes(32, "big"), kx.to_bytes(32, "big"), _DIGEST_BITS)
    if crypto.is_simulated():
        enc_identity = _sim_cipher(seed, ak_name, tpm2b(secret))
        integrity = _sim_integrity(seed, enc_identity, ak_name)
    else:
        sym_key = kdfa(seed, b"STORAGE", ak_name, b"", _SYM_KEY_BITS)
        enc_identity = crypto.aes_cfb(sym_key, tpm2b(secret))
        hmac_key = kdfa(seed, b"INTEGRITY", b"", b"", _DIGEST_BITS)
        integrity = crypto.hmac_sha256(hmac_key, enc_identity + ak_name)
    blob = tpm2b(tpm2b(integrity) + enc_identity)
    return blob, tpm2b(_point(ex, ey))


def _sim_cipher(seed: bytes, ak_name: bytes, data: bytes) -> bytes:
    """The simulated encIdentity (its own inverse): ``data`` XOR a SHAKE-256 stream of the
    seed and the Name, as long as ``data`` (AES-CFB's length, one hash instead of two
    KDFa and an AES key schedule)."""
    stream = hashlib.shake_256(b"vtalab-sim-credential|" + seed + ak_name).digest(len(data))
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(
        len(data), "big")


def _sim_integrity(seed: bytes, enc_identity: bytes, ak_name: bytes) -> bytes:
    """The simulated integrityHMAC: an HMAC keyed by the seed over encIdentity and the
    Name, as the real one is keyed by KDFa of the seed (32 bytes, like it)."""
    return crypto.hmac_sha256(seed, b"vtalab-sim-integrity|" + enc_identity + ak_name)


def activate_credential(ek: crypto.PrivateKey, ak_name: bytes, credential_blob: bytes,
                        encrypted_seed: bytes) -> bytes | None:
    """The secret inside ``credential_blob``, or ``None`` if it was not made for this EK
    and this Name (the integrity HMAC fails) or is malformed."""
    if type(ak_name) is not bytes or type(credential_blob) is not bytes \
            or type(encrypted_seed) is not bytes:
        return _activate_credential(ek, ak_name, credential_blob, encrypted_seed)
    simulated = crypto.is_simulated()
    if simulated:
        made_for = _MADE_FOR.get((credential_blob, encrypted_seed))
        if made_for is not None:
            return (made_for[2] if made_for[1] == ak_name
                    and made_for[0] == crypto.public_der(ek) else None)
    # (the key object itself in the key: the memo holds it, so its identity stays its own)
    memo = (simulated, ek, ak_name, credential_blob, encrypted_seed)
    if memo in _ACTIVATED:
        return _ACTIVATED[memo]
    secret = _activate_credential(ek, ak_name, credential_blob, encrypted_seed)
    _ACTIVATED.keep(memo, secret)
    return secret


def _activate_credential(ek: crypto.PrivateKey, ak_name: bytes, credential_blob: bytes,
                         encrypted_seed: bytes) -> bytes | None:
    try:
        r = Reader(encrypted_seed)
        point = Reader(r.tpm2b())
        r.end()
        # partyUInfo is the ephemeral x as sent, not re-padded: the TPM reference code
        # hashes the TPM2B it received, and OpenSSL-based makers (tpm2_makecredential)
        # send x without its leading zero bytes (1 blob in 256).
        x_bytes = point.tpm2b(32)
        x = int.from_bytes(x_bytes, "big")
        y = int.from_bytes(point.tpm2b(32), "big")
        point.end()
        peer = None if crypto.is_simulated() else crypto.public_from_point(x, y)
        b = Reader(credential_blob)
        inner = Reader(b.tpm2b())
        b.end()
        integrity = inner.tpm2b(32)
        enc_identity = inner.take(len(inner.data) - inner.pos)
    except ValueError:
        return None
    kx, _ = crypto.public_point(ek)
    z = _sim_z(ek, x, y) if peer is None else crypto.ecdh(ek, peer)
    seed = kdfe(z, b"IDENTITY", x_bytes, kx.to_bytes(32, "big"), _DIGEST_BITS)
    if peer is None:  # simulated crypto: the stand-ins of _make_credential
        if _sim_integrity(seed, enc_identity, ak_name) != integrity:
            return None
        identity = _sim_cipher(seed, ak_name, enc_identity)
    else:
        hmac_key = kdfa(seed, b"INTEGRITY", b"", b"", _DIGEST_BITS)
        if crypto.hmac_sha256(hmac_key, enc_identity + ak_name) != integrity:
            return None
        sym_key = kdfa(seed, b"STORAGE", ak_name, b"", _SYM_KEY_BITS)
        identity = crypto.aes_cfb(sym_key, enc_identity, decrypt=True)
    try:
        r = Reader(identity)
        secret = r.tpm2b(32)
        r.end()
    except ValueError:
        return None
    return secret
