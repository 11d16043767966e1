"""All cryptography vtalab does, in one place (the only module that imports ``cryptography``).

Every key is **derived from the world's seed** and a label (``ec.derive_private_key`` on a
SHA-256 of both), ECDSA signs deterministically (RFC 6979), and certificate validity comes
from the simulated calendar passed in by the caller, so the same seed produces the same
keys, certificates, quotes and tokens byte for byte.

Curve: NIST P-256 throughout (TPM ECC endorsement/attestation keys, TA service keys, CAs).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac as _hmac
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from json.encoder import c_make_encoder  # type: ignore[attr-defined]
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

# CFB lives in 'decrepit' since cryptography 44 (the minimum we require); TPM credential
# blobs still need it.
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.x509.oid import NameOID

__all__ = [
    "PrivateKey",
    "PublicKey",
    "Certificate",
    "Memo",
    "aes_cfb",
    "b64url",
    "b64url_decode",
    "cert_der",
    "cert_from_der",
    "cert_issuer",
    "cert_key_der",
    "cert_pem",
    "certs_from_pem",
    "cert_public_key",
    "chain_path",
    "chain_problem",
    "derive_private_key",
    "ecdh",
    "ecdsa_sign",
    "ecdsa_verify",
    "hmac_sha256",
    "is_simulated",
    "issue_certificate",
    "make_client_certificate",
    "make_csr",
    "path_problem",
    "make_server_certificate",
    "csr_from_pem",
    "csr_pem",
    "csr_public_key",
    "private_from_pem",
    "private_pem",
    "sign_csr",
    "jwt_decode",
    "jwt_claims_json",
    "jwt_encode",
    "jwt_encode_json",
    "jwt_verify",
    "jwt_wellformed",
    "key_id",
    "make_ca",
    "public_der",
    "public_from_der",
    "public_from_pem",
    "public_from_point",
    "public_pem",
    "public_point",
    "sha1_hex",
    "sha256",
    "sim_ecdh",
    "sim_sign",
    "sim_verify",
    "simulated",
]

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey
Certificate = x509.Certificate

_CURVE = ec.SECP256R1()
_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha1_hex(data: bytes) -> str:
    """SHA-1 of ``data`` in hex: only as a certificate *thumbprint*, as Windows shows one."""
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - a display fingerprint, not security


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return _hmac.new(key, data, hashlib.sha256).digest()


# -- keys -------------------------------------------------------------------------------
#: How many results each memo of a per-host pure function keeps (EK certificates, public
#: keys, event logs, ...). A memo smaller than the hosts it serves, read round-robin as
#: hosts attest one after the other, misses every time: at 1,024 entries a 10,000-host
#: world re-parsed every log and re-verified every EK certificate at every attestation
#: (growth 20x per 10x hosts). 32,768 entries = a 10,000-host estate three times over.
MEMO_SIZE = 1 << 15


@functools.lru_cache(maxsize=MEMO_SIZE)
def derive_private_key(seed: int, label: str) -> PrivateKey:
    """The P-256 private key for ``label`` in the world with ``seed`` (never random).

    Remembered: a key is immutable and a pure function of (seed, label), so every world
    built from the same seed shares the same key objects, and the caches below (keyed on
    a private key's identity) serve them all -- the plan checker runs one plan hundreds
    of times."""
    material = hashlib.sha512(f"vtalab-key|{int(seed)}|{label}".encode()).digest()
    value = int.from_bytes(material, "big") % (_ORDER - 1) + 1
    return ec.derive_private_key(value, _CURVE)


def _pub(key: PrivateKey | PublicKey) -> PublicKey:
    """The public key of ``key``: for a private key, one object each time (remembered by
    identity, held), so that what the memos below learn of it by identity serves every
    later use; the keys come from :func:`derive_private_key` and live as long anyway."""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return key
    held = _PUBLIC_OF.get(id(key))
    if held is not None and held[0] is key:
        return held[1]
    pub = key.public_key()
    _remember(_PUBLIC_OF, id(key), (key, pub), limit=_DER_LIMIT)
    return pub


def public_pem(key: PrivateKey | PublicKey) -> bytes:
    return _pub(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_der(key: PrivateKey | PublicKey) -> bytes:
    # Keys are immutable but public keys are not hashable: remember the encoding by
    # identity, holding the key so its id cannot be reused while remembered.
    held = _DER_BY_ID.get(id(key))
    if held is not None and held[0] is key:
        return held[1]
    pub = _pub(key)
    der = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _remember(_DER_BY_ID, id(key), (key, der), limit=_DER_LIMIT)
    if pub is not key:
        _remember(_DER_BY_ID, id(pub), (pub, der), limit=_DER_LIMIT)
    _remember(_KEY_BY_DER, der, pub, limit=_DER_LIMIT)
    return der


_DER_BY_ID: dict[int, tuple[Any, bytes]] = {}
#: Keys this process encoded, by their encoding: what :func:`public_from_der` and
#: :func:`public_from_point` would load from those bytes is that very key (the same
#: point on the curve, valid since it is a key's), so they hand it back instead of
#: decoding and validating the point again, and whatever is remembered of it by identity
#: (its encoding, its point) serves the verifier too. A host's EK and AK are encoded by
#: the host (its TPM's public areas, the EK certificate) and read back from those bytes
#: by the verifier at their first attestation: three P-256 point conversions a host.
#: Any other bytes are decoded as before. (A pure function's answer, known: both modes.)
_KEY_BY_DER: dict[bytes, Any] = {}
_KEY_BY_POINT: dict[tuple[int, int], Any] = {}
#: private key's id -> (the key, its public key): see _pub
_PUBLIC_OF: dict[int, tuple[Any, Any]] = {}
#: A world holds about 12 keys per trusted host whose encoding is asked at every
#: attestation (EK, AK, certificates' keys ...; counted: 11,909 at 1,000 hosts after 3
#: simulated hours). At the shared limit (65,536) a 10,000-host world emptied this memo
#: over and over and re-encoded every key after each emptying (49,515 encodings in 2
#: hours, none at 1,000 hosts); 262,144 entries = 10,000 hosts twice over (about 250 bytes
#: an entry; the keys themselves are alive anyway).
_DER_LIMIT = 8 * MEMO_SIZE


def public_from_pem(data: bytes) -> PublicKey:
    """An EC public key from PEM; ``ValueError`` for anything else (even a key type or
    curve ``cryptography`` does not support, which it reports as ``UnsupportedAlgorithm``)."""
    try:
        key = serialization.load_pem_public_key(data)
    except UnsupportedAlgorithm as e:
        raise ValueError(f"unsupported public key: {e}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an EC public key")
    return key


@functools.lru_cache(maxsize=MEMO_SIZE)
def public_from_der(data: bytes) -> PublicKey:
    """An EC public key from DER (SubjectPublicKeyInfo); errors as :func:`public_from_pem`."""
    known = _KEY_BY_DER.get(data)
    if known is not None:  # a key this process encoded as these bytes (_KEY_BY_DER)
        return known
    try:
        key = serialization.load_der_public_key(data)
    except UnsupportedAlgorithm as e:
        raise ValueError(f"unsupported public key: {e}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an EC public key")
    return key


def public_point(key: PrivateKey | PublicKey) -> tuple[int, int]:
    # Remembered by identity like public_der: every credential round trip asks for the
    # EK's and the ephemeral key's point, and ``public_numbers`` costs several us.
    held = _POINT_BY_ID.get(id(key))
    if held is not None and held[0] is key:
        return held[1]
    pub = _pub(key)
    encoded = _DER_BY_ID.get(id(key))
    if encoded is not None and encoded[0] is key and len(encoded[1]) == _P256_SPKI_SIZE \
            and encoded[1].startswith(_P256_SPKI_PREFIX):
        # its SPKI DER is known (a host's EK: encoded for its certificate): the point is
        # the uncompressed point those bytes end with, read without asking OpenSSL
        der = encoded[1]
        point = (int.from_bytes(der[-64:-32], "big"), int.from_bytes(der[-32:], "big"))
    else:
        nums = pub.public_numbers()
        point = (nums.x, nums.y)
    _remember(_POINT_BY_ID, id(key), (key, point), limit=_DER_LIMIT)
    if pub is not key:
        _remember(_POINT_BY_ID, id(pub), (pub, point), limit=_DER_LIMIT)
    _remember(_KEY_BY_POINT, point, pub, limit=_DER_LIMIT)
    return point


_POINT_BY_ID: dict[int, tuple[Any, tuple[int, int]]] = {}
#: A P-256 SubjectPublicKeyInfo in DER with an uncompressed point, up to the point's
#: coordinates: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING 04 || x || y }
_P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d03010703420004")
_P256_SPKI_SIZE = len(_P256_SPKI_PREFIX) + 64


@functools.lru_cache(maxsize=MEMO_SIZE, typed=True)
def public_from_point(x: int, y: int) -> PublicKey:
    """The P-256 public key at ``(x, y)``; ``ValueError`` off the curve. Remembered (a key
    is immutable): the same point gives the same key object, so the memos by identity
    (encoding, point, agreement) serve it the next time too."""
    if type(x) is int and type(y) is int:
        known = _KEY_BY_POINT.get((x, y))
        if known is not None:  # a key this process read this point of (_KEY_BY_DER)
            return known
    return ec.EllipticCurvePublicNumbers(x, y, _CURVE).public_key()


def key_id(key: PrivateKey | PublicKey) -> str:
    """A short stable identifier: first 16 hex digits of SHA-256 over the SPKI DER."""
    der = public_der(key)
    kid = _KEY_IDS.get(der)
    if kid is None:
        kid = hashlib.sha256(der).hexdigest()[:16]
        _remember(_KEY_IDS, der, kid)  # service keys and one EK a host: the shared limit
    return kid


_KEY_IDS: dict[bytes, str] = {}


# -- signatures ---------------------------------------------------------------------------
_DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())  #: verifying (immutable: built once)


# Signing, verifying and key agreement are pure functions of their inputs (signatures are
# deterministic), so their results are remembered: runs of one estate repeat the same
# attestations (same keys, nonces and quotes) until they diverge. A private key is a cache
# key by identity (the cache holds it, so its id cannot be reused); a public key, which is
# not hashable, by its DER bytes.
# The ``raw_*`` functions do the work every time; benchmarks measure them, because the
# public functions below would measure their own memory.
def raw_ecdsa_sign(key: PrivateKey, data: bytes) -> tuple[int, int]:
    return decode_dss_signature(key.sign(data, _DETERMINISTIC))


def raw_ecdsa_verify(key: PublicKey, data: bytes, r: int, s: int) -> bool:
    try:
        key.verify(encode_dss_signature(r, s), data, _ECDSA_SHA256)
    except (InvalidSignature, ValueError):
        return False
    return True


def raw_ecdh(key: PrivateKey, peer: PublicKey) -> bytes:
    return key.exchange(ec.ECDH(), peer)


def ecdsa_sign(key: PrivateKey, data: bytes) -> tuple[int, int]:
    """ECDSA P-256/SHA-256 signature ``(r, s)`` over ``data``, deterministic (RFC 6979).

    Under :func:`simulated` crypto: the keyed-hash stand-in :func:`sim_sign`."""
    if _SIMULATED:
        return _sim_rs_of(key, data)
    return _ecdsa_sign(key, data)


@functools.lru_cache(maxsize=16384)
def _ecdsa_sign(key: PrivateKey, data: bytes) -> tuple[int, int]:
    return raw_ecdsa_sign(key, data)


def ecdsa_verify(key: PublicKey, data: bytes, r: int, s: int) -> bool:
    if _SIMULATED:
        return (r, s) == _sim_rs_of(key, data)
    memo = (public_der(key), data, r, s)
    ok = _VERIFIED.get(memo)
    if ok is None:
        ok = raw_ecdsa_verify(key, data, r, s)
        _remember(_VERIFIED, memo, ok)
    return ok


# -- key agreement and symmetric primitives (TPM credential protection) --------------------
def ecdh(key: PrivateKey, peer: PublicKey) -> bytes:
    """The ECDH shared secret (x coordinate, 32 bytes); :func:`sim_ecdh` when simulated."""
    if _SIMULATED:
        return sim_ecdh(key, peer)
    memo = (key, public_der(peer))
    secret = _AGREED.get(memo)
    if secret is None:
        secret = raw_ecdh(key, peer)
        _remember(_AGREED, memo, secret)
    return secret


_VERIFIED: dict[tuple[bytes, bytes, int, int], bool] = {}
_AGREED: dict[tuple[PrivateKey, bytes], bytes] = {}
_MEMO_LIMIT = 2 * MEMO_SIZE


# -- simulated crypto: for search, never for evidence -------------------------------------
# A plan checker or a campaign tries thousands of fault schedules, and at scale real
# ECDSA/ECDH is most of a run's time. Under ``simulated()`` signatures and key agreement
# are keyed SHA-256 stand-ins behind the same functions: deterministic, the same shapes
# (``(r, s)`` in [1, n-1], 32-byte secrets) and the same accept/reject semantics -- a
# signature verifies only with the key pair that made it, over the same bytes, so a forged,
# tampered or other-key signature is refused exactly as before. They are keyed by the key
# pair's public encoding: a stand-in for deciding what the lab does, not security. Key
# derivation and X.509 certificates stay real (built once per seed and remembered); a
# certificate signed here is not checked again (see _SIGNED_HERE below).
# ``vtalab run``, evidence, bundles and the conformance tests never enter this mode; the
# checker confirms every counterexample with real crypto before reporting it.
_SIMULATED = False


class simulated:  # noqa: N801 - used as a function: ``with crypto.simulated(): ...``
    """Context manager: simulated crypto inside (``on=False``: real crypto inside)."""

    def __init__(self, on: bool = True) -> None:
        self.on = on
        self.saved = False

    def __enter__(self) -> None:
        global _SIMULATED
        self.saved, _SIMULATED = _SIMULATED, self.on

    def __exit__(self, *exc: object) -> None:
        global _SIMULATED
        _SIMULATED = self.saved


def is_simulated() -> bool:
    """Whether crypto is simulated right now (:class:`simulated`)."""
    return _SIMULATED


def _sim_scalar(tag: bytes, pub: bytes, data: bytes) -> int:
    digest = hashlib.sha256(b"vtalab-sim|" + tag + b"|" + pub + b"|" + data).digest()
    return int.from_bytes(digest, "big") % (_ORDER - 1) + 1


def _sim_prefixes(pub: bytes) -> tuple[Any, Any]:
    """The SHA-256 states after ``b"vtalab-sim|r|" + pub + b"|"`` and its ``s`` twin."""
    prefixes = _SIM_PREFIXES.get(pub)
    if prefixes is None:
        prefixes = (hashlib.sha256(b"vtalab-sim|r|" + pub + b"|"),
                    hashlib.sha256(b"vtalab-sim|s|" + pub + b"|"))
        _remember(_SIM_PREFIXES, pub, prefixes)
    return prefixes


def _sim_finish(prefix_r: Any, prefix_s: Any, data: bytes) -> tuple[int, int]:
    """``(_sim_scalar(b"r", pub, data), _sim_scalar(b"s", pub, data))``: the same values,
    from the two states :func:`_sim_prefixes` gives for ``pub``."""
    hr, hs = prefix_r.copy(), prefix_s.copy()
    hr.update(data)
    hs.update(data)
    return (int.from_bytes(hr.digest(), "big") % _ORDER_1 + 1,
            int.from_bytes(hs.digest(), "big") % _ORDER_1 + 1)


_ORDER_1 = _ORDER - 1
_SIM_PREFIXES: dict[bytes, tuple[Any, Any]] = {}


def _sim_rs_of(key: PrivateKey | PublicKey, data: bytes) -> tuple[int, int]:
    """The simulated ``(r, s)`` of ``data`` by ``key`` (:func:`_sim_finish`), with the
    key's DER and two SHA-256 prefix states found by the key's identity (one look-up
    instead of encoding the key and a look-up by its bytes), and the result remembered for
    the exact ``(key, data)``: what is signed in an attestation is verified moments later
    (the quote once, a host's principal token by each attestation service), and the
    stand-in is a pure function of the two.

    About five of these run per attestation (the quote, its check, two tokens ...), so
    :func:`_sim_finish` and :func:`_remember` are written out here (the same statements:
    tests/test_crypto_fast_paths.py compares the values with :func:`_sim_scalar`)."""
    held = _SIM_BY_ID.get(id(key))
    if held is None or held[0] is not key:
        der = public_der(key)
        held = (key, der, *_sim_prefixes(der))
        _remember(_SIM_BY_ID, id(key), held, limit=_DER_LIMIT)
    if type(data) is not bytes:  # a bytearray, say: not hashable, nothing to remember
        return _sim_finish(held[2], held[3], data)
    memo = (held[1], data)
    signed = _SIM_SIGNED
    rs = signed.get(memo)
    if rs is None:
        hr, hs = held[2].copy(), held[3].copy()
        hr.update(data)
        hs.update(data)
        rs = (int.from_bytes(hr.digest(), "big") % _ORDER_1 + 1,
              int.from_bytes(hs.digest(), "big") % _ORDER_1 + 1)
        if len(signed) >= _SIM_SIGNED_LIMIT:  # bounded, as _remember
            signed.clear()
        signed[memo] = rs
    return rs


_SIM_BY_ID: dict[int, tuple[Any, bytes, Any, Any]] = {}
_SIM_SIGNED: dict[tuple[bytes, bytes], tuple[int, int]] = {}
#: A signature is verified within the attestation that made it, so a few thousand recent
#: ones are enough (each entry holds the signed bytes: about 0.5 KB).
_SIM_SIGNED_LIMIT = 4096


def sim_sign(key: PrivateKey, data: bytes) -> tuple[int, int]:
    """The simulated signature of ``data`` by ``key``: ``(r, s)`` from keyed SHA-256."""
    return _sim_rs_of(key, data)


def sim_verify(key: PublicKey, data: bytes, r: int, s: int) -> bool:
    """Whether ``(r, s)`` is :func:`sim_sign` of ``data`` by the pair of ``key``."""
    return (r, s) == _sim_rs_of(key, data)


def sim_ecdh(key: PrivateKey, peer: PublicKey) -> bytes:
    """The simulated shared secret: the same from both sides, distinct for other pairs."""
    a, b = sorted((public_der(key), public_der(peer)))
    return hashlib.sha256(b"vtalab-sim-ecdh|" + a + b"|" + b).digest()


def _remember(memo: dict[Any, Any], key: Any, value: Any, limit: int = _MEMO_LIMIT) -> None:
    if len(memo) >= limit:  # bounded: start afresh rather than grow without end
        memo.clear()
    memo[key] = value


class Memo(dict[Any, Any]):
    """A memo of a pure function's answers outside this module: a dict that holds at most
    ``limit`` entries (full, it starts afresh rather than grow without end: :meth:`keep`)
    and empties with ``cache_clear`` like the ``lru_cache`` memos (the benchmarks and
    tests start cold by calling every ``cache_clear`` they find)."""

    def __init__(self, limit: int = MEMO_SIZE) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: Any, value: Any) -> None:
        """Remember ``value`` for ``key``."""
        _remember(self, key, value, self.limit)

    def cache_clear(self) -> None:
        self.clear()


def aes_cfb(key: bytes, data: bytes, *, decrypt: bool = False, iv: bytes | None = None) -> bytes:
    """AES-CFB (128-bit segments) with a zero IV by default, as TPM credential blobs use."""
    cipher = Cipher(algorithms.AES(key), CFB(iv or bytes(16)))
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


# -- certificates -------------------------------------------------------------------------
def _name(common_name: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _serial(label: str) -> int:
    digest = hashlib.sha256(f"vtalab-serial|{label}".encode()).digest()
    return int.from_bytes(digest[:16], "big") >> 1


def make_ca(common_name: str, key: PrivateKey, not_before: datetime, not_after: datetime,
            org: str | None = None, issuer: tuple[Certificate, PrivateKey] | None = None
            ) -> Certificate:
    """A CA certificate (self-signed, or issued by ``issuer`` for an intermediate)."""
    issuer_der = cert_der(issuer[0]) if issuer else None
    der = _make_ca_der(common_name, key, not_before, not_after, org, issuer_der,
                       issuer[1] if issuer else None)
    _signed_here(der, issuer[1] if issuer else key, issuer_der or der)
    return cert_from_der(der)


# Certificates are pure functions of their inputs (deterministic signatures, serials from
# the names), so each is built once and handed out as its DER bytes, parsed afresh: every
# world of the same seed builds the same CAs and service certificates at T=0.
@functools.lru_cache(maxsize=1024)
def _make_ca_der(common_name: str, key: PrivateKey, not_before: datetime, not_after: datetime,
                 org: str | None, issuer_der: bytes | None, issuer_key: PrivateKey | None
                 ) -> bytes:
    # make_ca passes the issuer's certificate and key together or not at all; a half
    # issuer is a simulator bug, not something to sign with a missing key.
    if (issuer_der is None) != (issuer_key is None):
        raise ValueError(f"CA {common_name!r}: issuer certificate and key must come together")
    issuer = ((cert_from_der(issuer_der), issuer_key)
              if issuer_der is not None and issuer_key is not None else None)
    subject = _name(common_name, org)
    issuer_name = issuer[0].subject if issuer else subject
    signer = issuer[1] if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(_serial(f"ca|{common_name}|{key_id(key)}"))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False), critical=True)
    )
    return cert_der(builder.sign(signer, hashes.SHA256(), ecdsa_deterministic=True))


def issue_certificate(common_name: str, subject_key: PublicKey | PrivateKey,
                      issuer_cert: Certificate, issuer_key: PrivateKey,
                      not_before: datetime, not_after: datetime, *,
                      org: str | None = None, key_agreement: bool = False) -> Certificate:
    """An end-entity certificate for ``subject_key`` issued by ``issuer_cert``."""
    subject = public_der(subject_key)
    der = _issue_der(common_name, subject, cert_der(issuer_cert), issuer_key, not_before,
                     not_after, org, key_agreement)
    _signed_here(der, issuer_key, cert_der(issuer_cert))
    if _ISSUED_FOR.get(der) != subject:
        _remember(_ISSUED_FOR, der, subject)
    return cert_from_der(der)


@functools.lru_cache(maxsize=MEMO_SIZE)
def _issue_der(common_name: str, subject_der: bytes, issuer_der: bytes, issuer_key: PrivateKey,
               not_before: datetime, not_after: datetime, org: str | None,
               key_agreement: bool) -> bytes:
    pub = public_from_der(subject_der)
    issuer_cert = cert_from_der(issuer_der)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, org))
        .issuer_name(issuer_cert.subject)
        .public_key(pub)
        .serial_number(_serial(f"ee|{common_name}|{key_id(pub)}"))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=not key_agreement, content_commitment=False,
                          key_encipherment=False, data_encipherment=False,
                          key_agreement=key_agreement, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False), critical=True)
    )
    return cert_der(builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True))


def cert_der(cert: Certificate) -> bytes:
    # Remembered by identity, holding the certificate so its id cannot be reused while
    # remembered (as public_der): hashing a certificate for an lru_cache, and comparing
    # it on a hit, cost ~11 us a call, as much as encoding it again, and the plan checker
    # asked ~46 times per run (chain paths, issued certificates, services info).
    # cert_from_der hands every world the same certificate objects, so they are found.
    held = _CERT_DER_BY_ID.get(id(cert))
    if held is not None and held[0] is cert:
        return held[1]
    der = cert.public_bytes(serialization.Encoding.DER)
    _remember(_CERT_DER_BY_ID, id(cert), (cert, der))
    return der


_CERT_DER_BY_ID: dict[int, tuple[Any, bytes]] = {}


def cert_pem(cert: Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_from_der(data: bytes) -> Certificate:
    # Certificates are immutable and a pure function of their DER: remembered, because
    # every attestation parses the same EK, TPM CA and STS certificates again.
    if type(data) is bytes:
        return _cert_from_der(data)
    return _load_certificate(data)


def _load_certificate(data: bytes,
                          load: Callable[[bytes], Certificate] = x509.load_der_x509_certificate
                          ) -> Certificate:
    """``x509.load_der_x509_certificate`` (or ``load``: the PEM loader), with a bad version
    number a ``ValueError`` too (cryptography raises ``InvalidVersion``, which is not one:
    a certificate with its version byte changed crashed every caller that refuses
    unreadable certificates)."""
    try:
        return load(data)
    except x509.InvalidVersion as e:
        raise ValueError(f"invalid X.509 version: {e}") from None


@functools.lru_cache(maxsize=MEMO_SIZE)
def _cert_from_der(data: bytes) -> Certificate:
    cert = _load_certificate(data)
    # its DER is these bytes (cryptography parses DER strictly and hands back what it
    # parsed): cert_der need not encode it again (~35 us a certificate, at its first use)
    _remember(_CERT_DER_BY_ID, id(cert), (cert, data))
    return cert


def cert_issuer(data: bytes) -> str:
    """The issuer of the certificate ``data`` (DER) as an RFC 4514 string; ``ValueError`` if
    it does not parse. A pure function of the issuer Name's own DER, remembered by those
    bytes: every EK certificate of a vendor names the same issuer, and building the Name's
    Python objects to write it out cost ~40 us per host at its first boot."""
    cert = cert_from_der(data)
    raw = _issuer_der(data) if type(data) is bytes else None
    if raw is None:
        return str(cert.issuer.rfc4514_string())
    name = _ISSUER_NAMES.get(raw)
    if name is None:
        name = str(cert.issuer.rfc4514_string())
        _remember(_ISSUER_NAMES, raw, name)
    return name


#: the issuer Name's DER -> its RFC 4514 string (a few per world: the TPM vendors' CAs)
_ISSUER_NAMES: dict[bytes, str] = {}


def _issuer_der(cert: bytes) -> bytes | None:
    """The issuer Name's TLV in a DER certificate (Certificate > TBSCertificate: the
    optional [0] version, serialNumber, signature, then issuer), None if the bytes are not
    laid out so (the caller then asks ``cryptography``, which parsed them)."""
    def tlv(pos: int) -> tuple[int, int, int]:  # (tag, content start, end)
        if pos + 2 > len(cert):
            raise IndexError
        tag, size, pos = cert[pos], cert[pos + 1], pos + 2
        if size & 0x80:
            n = size & 0x7F
            if not 0 < n <= 4:
                raise IndexError
            size, pos = int.from_bytes(cert[pos:pos + n], "big"), pos + n
        if pos + size > len(cert):
            raise IndexError
        return tag, pos, pos + size

    try:
        tag, body, _ = tlv(0)  # Certificate
        if tag != 0x30:
            return None
        tag, pos, _ = tlv(body)  # TBSCertificate
        if tag != 0x30:
            return None
        tag, _, end = tlv(pos)
        if tag == 0xA0:  # [0] EXPLICIT version
            pos = end
            tag, _, end = tlv(pos)
        if tag != 0x02:  # serialNumber
            return None
        tag, _, pos = tlv(end)
        if tag != 0x30:  # signature AlgorithmIdentifier
            return None
        tag, _, end = tlv(pos)
        if tag != 0x30:  # issuer Name
            return None
    except IndexError:
        return None
    return cert[pos:end]


def cert_key_der(cert: Certificate) -> bytes:
    """The SPKI DER of the key ``cert`` certifies: ``public_der(cert_public_key(cert))``
    (``ValueError`` as there). For a certificate :func:`issue_certificate` made, that is
    the subject key's encoding it was given (the certificate holds that key, and both are
    its canonical encoding), known without loading the key (~30 us at a certificate's
    first use: every host's EK certificate at its first attestation)."""
    der = cert_der(cert)
    subject = _ISSUED_FOR.get(der)
    if subject is not None:
        return subject
    return public_der(cert_public_key(cert))


#: certificate DER -> the SPKI DER of the key it was issued for (see cert_key_der)
_ISSUED_FOR: dict[bytes, bytes] = {}


@functools.lru_cache(maxsize=MEMO_SIZE)
def cert_public_key(cert: Certificate) -> Any:
    """``cert.public_key()``, one object per certificate (so the encodings, signatures and
    verifications remembered by key identity above serve every later use).

    ``ValueError`` if ``cryptography`` parsed the certificate but cannot load its key (an
    unknown key algorithm or curve: ``UnsupportedAlgorithm``, which is not a ``ValueError``).
    """
    try:
        return cert.public_key()
    except UnsupportedAlgorithm as e:
        raise ValueError(f"unsupported public key: {e}") from None


def _signed_by(cert: Certificate, issuer: Certificate) -> bool:
    return _signed_by_der(cert_der(cert), cert_der(issuer), _SIMULATED)


@functools.lru_cache(maxsize=MEMO_SIZE)
def _signed_by_der(cert: bytes, issuer: bytes, simulated: bool) -> bool:
    """Whether ``issuer`` is named as and signed ``cert`` (pure in the DER bytes; the
    crypto mode is in the key because simulated crypto may know the answer without
    reading the names or checking the signature, :func:`_known_signed`, and real crypto
    never takes that answer)."""
    if simulated and _known_signed(cert, issuer):
        return True
    if cert_from_der(cert).issuer != cert_from_der(issuer).subject:
        return False
    return _issued_by_der(cert, issuer)


# -- certificates signed here (simulated crypto) -------------------------------------------
# Under simulated crypto X.509 certificates stay real (real ECDSA signatures, made once per
# seed), but checking one's signature need not be: a certificate this process issued
# itself -- these very DER bytes, naming this very issuer certificate's subject as its
# issuer and signed with the private key of the public key that certificate holds --
# is named by and verifies against that issuer, by construction and ECDSA's correctness,
# so the answer is known without reading the names or checking the signature (~200 us a
# certificate: one EK certificate per host, every host's first attestation). Any other
# certificate -- issued elsewhere, by another key, under another issuer certificate, or
# one byte changed -- is checked for real as before, so a certificate the CA did not
# issue is refused exactly as real crypto refuses it. Real crypto always checks (the mode
# is in the key of every remembered answer built on this).
_SIGNED_HERE: dict[bytes, tuple[bytes, bytes]] = {}


def _signed_here(der: bytes, signer: PrivateKey, issuer: bytes) -> None:
    """Note that ``der`` is a certificate issued just now under the issuer certificate
    ``issuer`` (its subject named as ``der``'s issuer) and signed with ``signer``."""
    noted = (issuer, public_der(signer))
    if _SIGNED_HERE.get(der) != noted:
        _remember(_SIGNED_HERE, der, noted)


def _known_signed(cert: bytes, issuer: bytes) -> bool:
    """Whether this process issued ``cert`` under ``issuer`` with the key ``issuer``
    certifies (then ``issuer`` is named as and signed ``cert``: :func:`_signed_by_der`
    with real crypto says True)."""
    noted = _SIGNED_HERE.get(cert)
    if noted is None or noted[0] != issuer:
        return False
    try:
        return noted[1] == public_der(cert_public_key(cert_from_der(issuer)))
    except ValueError:  # an issuer key nobody can load: it signed nothing here
        return False


@functools.lru_cache(maxsize=MEMO_SIZE)
def _issued_by_der(cert: bytes, issuer: bytes) -> bool:
    """Whether ``issuer`` signed ``cert`` (pure in the DER bytes, so it is remembered:
    every attestation re-checks the same EK certificate against the same TPM CA)."""
    try:
        cert_from_der(cert).verify_directly_issued_by(cert_from_der(issuer))
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def chain_problem(cert: Certificate, anchors: list[Certificate], at: datetime,
                  intermediates: list[Certificate] | None = None) -> str | None:
    """Why ``cert`` does not chain to one of ``anchors`` at time ``at`` (``None`` if it does).

    Returns one of ``"expired"``, ``"not_yet_valid"``, ``"untrusted_issuer"``.
    """
    if not intermediates:  # the common case: the path is remembered, only times are checked
        return path_problem(*chain_path(cert, anchors), at)
    return _chain_problem(cert, anchors, at, intermediates)


def chain_path(cert: Certificate, anchors: list[Certificate]
               ) -> tuple[tuple[tuple[datetime, datetime, bool], ...], str | None]:
    """What :func:`chain_problem` (without intermediates) decides apart from the time:
    the validity windows to check and the answer if they all hold (see ``_chain_path``).
    Callers that remember it give it to :func:`path_problem` with each new time."""
    return _chain_path(cert_der(cert), tuple(cert_der(a) for a in anchors), _SIMULATED)


def path_problem(steps: tuple[tuple[datetime, datetime, bool], ...], final: str | None,
                 at: datetime) -> str | None:
    """:func:`chain_problem` at ``at`` of a path from :func:`chain_path`."""
    for not_before, not_after, is_anchor in steps:
        if not (not_before <= at <= not_after):
            return "expired" if is_anchor or at > not_after else "not_yet_valid"
    return final


@functools.lru_cache(maxsize=MEMO_SIZE)
def _chain_path(cert: bytes, anchors: tuple[bytes, ...], simulated: bool
                ) -> tuple[tuple[tuple[datetime, datetime, bool], ...], str | None]:
    """What :func:`_chain_problem` checks, without the time: the validity windows it checks
    in order (``True``: an anchor reached as a parent, outside its window = ``expired``)
    and the answer if every window holds. Which certificate signed which does not depend
    on the time, so this is a pure function of the DER bytes (and of the crypto mode
    ``simulated``, which it is asked in: see :func:`_signed_by_der`)."""
    steps: list[tuple[datetime, datetime, bool]] = []
    pool = [cert_from_der(a) for a in anchors]
    current = cert_from_der(cert)
    for _ in range(8):
        steps.append((current.not_valid_before_utc, current.not_valid_after_utc, False))
        if cert_der(current) in anchors:
            return tuple(steps), None
        current_der = cert_der(current)
        parent = next((c for c in pool
                       if _signed_by_der(current_der, cert_der(c), simulated)), None)
        if parent is None:
            return tuple(steps), "untrusted_issuer"
        if cert_der(parent) in anchors:
            steps.append((parent.not_valid_before_utc, parent.not_valid_after_utc, True))
            return tuple(steps), None
        current = parent
    return tuple(steps), "untrusted_issuer"


def _chain_problem(cert: Certificate, anchors: list[Certificate], at: datetime,
                   intermediates: list[Certificate] | None = None) -> str | None:
    pool = list(intermediates or []) + list(anchors)
    anchor_ders = {cert_der(a) for a in anchors}  # membership only: no order reaches output
    current = cert
    for _ in range(8):
        if not (current.not_valid_before_utc <= at <= current.not_valid_after_utc):
            return "expired" if at > current.not_valid_after_utc else "not_yet_valid"
        if cert_der(current) in anchor_ders:
            return None
        parent = next((c for c in pool if _signed_by(current, c)), None)
        if parent is None:
            return "untrusted_issuer"
        if cert_der(parent) in anchor_ders:
            if not (parent.not_valid_before_utc <= at <= parent.not_valid_after_utc):
                return "expired"
            return None
        current = parent
    return "untrusted_issuer"


# -- JSON Web Tokens (ES256) ----------------------------------------------------------------
# Every attestation encodes two or three tokens and parses and verifies one, so the Python
# around the signature is kept short: tokens are built as ASCII bytes and decoded once,
# and each step below says which standard-library call it matches byte for byte (tests
# compare them with those calls on arbitrary input: tests/test_crypto_fast_paths.py).
def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515): ``base64.urlsafe_b64encode(data)`` without ``=``."""
    return _b64url(data).decode("ascii")


def _b64url(data: bytes) -> bytes:
    # base64.urlsafe_b64encode without its two Python-level calls (the same bytes)
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def b64url_decode(text: str) -> bytes:
    """``base64.urlsafe_b64decode`` of ``text`` padded to a multiple of four: the same bytes
    and the same errors (characters outside the alphabet are skipped, non-ASCII text is a
    ``ValueError``, bad padding a ``binascii.Error``), without its three Python-level calls."""
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = padded.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("string argument should contain only ASCII characters") from None
    return binascii.a2b_base64(raw.translate(_FROM_URLSAFE))


def jwt_encode(claims: dict[str, Any], key: PrivateKey, kid: str) -> str:
    """A compact JWS (RFC 7515) with ``alg: ES256`` over canonical JSON claims.

    A token whose claims are flat (string keys; string, integer, boolean or null values)
    is read back by whoever it is handed to -- vCenter's principal token by attestd, in the
    same simulated second -- so what parsing it gives is remembered now, from what was
    just encoded (see :func:`_parsed_as_encoded`), instead of decoded again there."""
    signing_input, r, s = _jwt_sign(jwt_claims_json(claims), key, kid)
    token = _jwt_token(signing_input, r, s)
    if type(kid) is str and all(type(k) is str and type(v) in _FLAT_JSON
                                for k, v in claims.items()):
        _JWT_PARSED.keep(token, _parsed_as_encoded(signing_input, r, s, claims, kid))
    return token


#: The value types whose JSON text decodes to an equal value of the same type.
_FLAT_JSON = frozenset({str, int, bool, type(None)})


def _parsed_as_encoded(signing_input: bytes, r: int, s: int, claims: dict[str, Any],
                       kid: str) -> tuple[DecodedJwt, bool, tuple[int, int] | None]:
    """What :func:`_jwt_parse_facts` gives for the token :func:`jwt_encode` just made of
    flat ``claims`` and ``kid`` (its signing input and signature ``r``, ``s``): decoding
    canonical JSON gives the keys in sorted order and equal values of the same types, and
    the header is ``_jwt_head``'s (tests/test_crypto_fast_paths.py compares the two on
    arbitrary claims)."""
    parsed = DecodedJwt({"alg": "ES256", "kid": kid, "typ": "JWT"},
                        dict(sorted(claims.items())), signing_input,
                        r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return parsed, True, (r, s)


def jwt_claims_json(claims: dict[str, Any]) -> str:
    """The canonical JSON :func:`jwt_encode` signs ``claims`` as (sorted keys, compact)."""
    return "".join(_JWT_ENCODE(claims, 0))


def jwt_encode_json(claims_json: str, key: PrivateKey, kid: str) -> str:
    """:func:`jwt_encode` of claims already made :func:`jwt_claims_json` text: a service
    issuing tokens that share most claims encodes the shared ones once.

    :func:`b64url` and :func:`ecdsa_sign` are written out in the two steps below (the
    same calls)."""
    return _jwt_token(*_jwt_sign(claims_json, key, kid))


def _jwt_sign(claims_json: str, key: PrivateKey, kid: str) -> tuple[bytes, int, int]:
    """The signing input of a token of ``claims_json`` and its ES256 signature ``(r, s)``."""
    signing_input = _jwt_head(kid) + binascii.b2a_base64(
        claims_json.encode(), newline=False).translate(_URLSAFE).rstrip(b"=")
    r, s = _sim_rs_of(key, signing_input) if _SIMULATED else _ecdsa_sign(key, signing_input)
    return signing_input, r, s


def _jwt_token(signing_input: bytes, r: int, s: int) -> str:
    """The compact JWS of ``signing_input`` signed ``(r, s)``."""
    return (signing_input + b"." + binascii.b2a_base64(
        r.to_bytes(32, "big") + s.to_bytes(32, "big"), newline=False
    ).translate(_URLSAFE).rstrip(b"=")).decode("ascii")


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: ``json.dumps(..., sort_keys=True, separators=(",", ":"))``: the C encoder that
#: ``JSONEncoder.encode`` builds at every call (ASCII-only, NaN allowed), built once.
_JWT_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_JWT_ENCODE = c_make_encoder(None, _not_json, _json_str, None, ":", ",", True, False, True)
#: What ``json.loads`` decodes with (a decoder with default settings).
_JSON_DECODER = json.JSONDecoder()


@functools.lru_cache(maxsize=1024)
def _jwt_head(kid: str) -> bytes:
    """The encoded JOSE header and the dot after it: a pure function of ``kid``."""
    return _b64url(_JWT_JSON.encode({"alg": "ES256", "kid": kid, "typ": "JWT"}).encode()) + b"."


@dataclass(frozen=True)
class DecodedJwt:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def jwt_decode(token: str) -> DecodedJwt | None:
    """Parse a compact JWS without verifying it (``None`` when malformed)."""
    if not isinstance(token, str):
        return _jwt_parse(token)
    parsed, flat, _ = _jwt_parse_cached(token)
    if parsed is None or not flat:
        return _jwt_parse(token) if parsed is not None else None
    # Hand out fresh dicts: callers may mutate what they get (flat JSON objects only, so
    # a shallow copy is a full one).
    return DecodedJwt(dict(parsed.header), dict(parsed.claims), parsed.signing_input,
                      parsed.signature)


def jwt_wellformed(token: str) -> bool:
    """Whether :func:`jwt_decode` would decode ``token`` (without copying what it reads)."""
    if isinstance(token, str):
        return _jwt_parse_cached(token)[0] is not None
    return _jwt_parse(token) is not None


def _jwt_parse(token: str) -> DecodedJwt | None:
    try:
        h, c, s = token.split(".")
        header = _json_loads(b64url_decode(h))
        claims = _json_loads(b64url_decode(c))
        sig = b64url_decode(s)
    except (ValueError, TypeError, RecursionError):  # nested past the parser's depth
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return DecodedJwt(header, claims, f"{h}.{c}".encode("ascii"), sig)


def _json_loads(raw: bytes) -> Any:
    """``json.loads(raw)``. ``json.loads`` decodes bytes in the encoding ``detect_encoding``
    finds, which is UTF-8 whenever the first byte is neither NUL nor a BOM's first byte and
    the second is not NUL -- always so for a JSON object's ``{`` followed by anything but
    NUL -- and then calls a default decoder: done here directly for that case."""
    if raw[:1] == b"{" and raw[1:2] != b"\x00":
        return _JSON_DECODER.decode(raw.decode("utf-8", "surrogatepass"))
    return json.loads(raw)


_SCALAR_JSON = (str, int, float, bool, type(None))


def _jwt_parse_cached(token: str) -> tuple[DecodedJwt | None, bool, tuple[int, int] | None]:
    """:func:`_jwt_parse_facts`, remembered: a pure function of the token text (a token
    :func:`jwt_encode` made is remembered as it is made)."""
    held = _JWT_PARSED.get(token)
    if held is None:
        held = _jwt_parse_facts(token)
        _JWT_PARSED.keep(token, held)
    return held


#: token text -> :func:`_jwt_parse_facts` of it (read-only: copies are handed out)
_JWT_PARSED = Memo(4096)


def _jwt_parse_facts(token: str) -> tuple[DecodedJwt | None, bool, tuple[int, int] | None]:
    """``_jwt_parse``; whether its header and claims are flat (only flat ones may be
    handed out as shallow copies); and the ``(r, s)`` of its signature if it claims ES256
    with a 64-byte signature (``None``: no key can verify it)."""
    parsed = _jwt_parse(token)
    if parsed is None:
        return None, False, None
    flat = all(isinstance(v, _SCALAR_JSON)
               for v in (*parsed.header.values(), *parsed.claims.values()))
    return parsed, flat, _es256_rs(parsed)


def _es256_rs(parsed: DecodedJwt) -> tuple[int, int] | None:
    """``(r, s)`` of an ES256 signature (``None`` if ``alg`` is not ES256 or the signature
    is not 64 bytes)."""
    sig = parsed.signature
    if parsed.header.get("alg") != "ES256" or len(sig) != 64:
        return None
    return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")


def jwt_verify(token: str, key: PublicKey) -> dict[str, Any] | None:
    """The claims of ``token`` if its ES256 signature verifies with ``key``, else ``None``."""
    if isinstance(token, str):
        parsed, flat, rs = _jwt_parse_cached(token)  # read-only here; a copy is handed out
    else:
        parsed, flat = _jwt_parse(token), False
        rs = _es256_rs(parsed) if parsed is not None else None
    if parsed is None or rs is None or not ecdsa_verify(key, parsed.signing_input, *rs):
        return None
    if flat:
        return dict(parsed.claims)
    fresh = _jwt_parse(token)  # nested values: a deep copy, as a fresh parse gives
    return fresh.claims if fresh is not None else None


# -- serving (vtalab serve): a TLS server certificate and PEM input from API clients ------
def private_pem(key: PrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM (for a TLS server's key file)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def certs_from_pem(text: str) -> list[Certificate]:
    """Every certificate in a PEM text; ``ValueError`` when there is none or one is bad."""
    blocks = [b for b in text.split("-----END CERTIFICATE-----") if
              "-----BEGIN CERTIFICATE-----" in b]
    if not blocks:
        raise ValueError("no PEM certificate (-----BEGIN CERTIFICATE-----)")
    return [_load_certificate((b.strip() + "\n-----END CERTIFICATE-----\n")
                                  .encode("ascii", "replace"), x509.load_pem_x509_certificate)
            for b in blocks]


def make_server_certificate(common_name: str, key: PrivateKey, *, dns_names: tuple[str, ...],
                            ip_addresses: tuple[str, ...], not_before: datetime,
                            not_after: datetime, org: str | None = None) -> Certificate:
    """A self-signed TLS server certificate (SAN, serverAuth), deterministic in its inputs."""

    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    name = _name(common_name, org)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial(f"server|{common_name}|{key_id(key)}"))
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
    )
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)


# -- client certificates and certificate signing requests (a key provider's KMIP identity) --
def make_client_certificate(common_name: str, key: PrivateKey, *, not_before: datetime,
                            not_after: datetime, org: str | None = None) -> Certificate:
    """A self-signed TLS client certificate (clientAuth), deterministic in its inputs."""
    name = _name(common_name, org)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial(f"client|{common_name}|{key_id(key)}"))
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
    )
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)


def make_csr(common_name: str, key: PrivateKey, *, org: str | None = None) -> bytes:
    """A PKCS#10 certificate signing request for ``key`` (DER; deterministic signature)."""
    csr = (x509.CertificateSigningRequestBuilder().subject_name(_name(common_name, org))
           .sign(key, hashes.SHA256(), ecdsa_deterministic=True))
    return csr.public_bytes(serialization.Encoding.DER)


def csr_pem(csr_der: bytes) -> str:
    """A CSR as PEM text (what ``Get-TrustAuthorityKeyProviderClientCertificateCSR`` prints)."""
    csr = x509.load_der_x509_csr(csr_der)
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def csr_from_pem(text: str) -> bytes:
    """The DER of a PEM CSR; ``ValueError`` when it is not one or its signature is bad."""
    try:
        csr = x509.load_pem_x509_csr(text.encode("ascii", "replace"))
    except _UNREADABLE as exc:
        raise ValueError(f"not a PEM certificate signing request ({exc})") from None
    _csr_signature_valid(csr)
    return csr.public_bytes(serialization.Encoding.DER)


#: What cryptography raises for bytes it cannot read: besides ``ValueError``, an unknown
#: version (``InvalidVersion``) and an unknown algorithm or curve (``UnsupportedAlgorithm``),
#: which are not ``ValueError`` -- a damaged CSR crashed its caller instead of being refused.
_UNREADABLE = (ValueError, x509.InvalidVersion, UnsupportedAlgorithm)


def _csr_signature_valid(csr: x509.CertificateSigningRequest) -> None:
    """``ValueError`` unless the request's own signature verifies (an algorithm
    cryptography does not know is one that does not)."""
    try:
        valid = csr.is_signature_valid
    except _UNREADABLE as exc:
        raise ValueError(f"the certificate signing request's signature cannot be checked "
                         f"({exc})") from None
    if not valid:
        raise ValueError("the certificate signing request's signature does not verify")


def csr_public_key(csr_der: bytes) -> PublicKey:
    try:
        key = x509.load_der_x509_csr(csr_der).public_key()
    except _UNREADABLE as exc:
        raise ValueError(f"the CSR's key cannot be read ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the CSR's key is not an EC key")
    return key


def sign_csr(csr_der: bytes, issuer_cert: Certificate, issuer_key: PrivateKey,
             not_before: datetime, not_after: datetime, *, org: str | None = None
             ) -> Certificate:
    """Issue the certificate a CSR asks for (its subject's common name and key), after
    checking the request's own signature (``ValueError`` when it does not verify)."""
    try:
        csr = x509.load_der_x509_csr(csr_der)
    except _UNREADABLE as exc:
        raise ValueError(f"not a certificate signing request ({exc})") from None
    _csr_signature_valid(csr)
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else "unnamed"
    return issue_certificate(common_name, csr_public_key(csr_der), issuer_cert, issuer_key,
                             not_before, not_after, org=org)


def private_from_pem(text: str) -> PrivateKey:
    """An EC private key from PKCS#8/SEC1 PEM text; ``ValueError`` when it is not one."""
    try:
        key = serialization.load_pem_private_key(text.encode("ascii", "replace"), None)
    except (*_UNREADABLE, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the private key is not an EC key")
    return key
