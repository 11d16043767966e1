"""TPM 2.0 wire format: big-endian marshalling of the structures a quote needs.

TPM 2.0 Part 2 ("Structures") defines every structure a TPM emits as a big-endian byte
string: integers are fixed width, ``TPM2B_*`` values are a ``UINT16`` size followed by that
many bytes, and lists (``TPML_*``) are a ``UINT32`` count followed by the elements. The
attestation service receives those bytes from a host and must parse them *defensively*:
every ``parse_*`` function here raises ``ValueError`` on truncated, oversized or
inconsistent input (the service maps that to a reason code), and rejects trailing bytes.

Only what vtalab uses is modelled: SHA-256 and NIST P-256, quotes (``TPMS_ATTEST`` with
``TPMS_QUOTE_INFO``), ECDSA ``TPMT_SIGNATURE`` and ECC ``TPMT_PUBLIC`` for the AK and EK.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from vtalab.core import crypto

__all__ = [
    "AK_ATTRIBUTES",
    "EK_ATTRIBUTES",
    "EK_AUTH_POLICY",
    "TPM_ALG_AES",
    "TPM_ALG_CFB",
    "TPM_ALG_ECC",
    "TPM_ALG_ECDSA",
    "TPM_ALG_NULL",
    "TPM_ALG_SHA256",
    "TPM_ECC_NIST_P256",
    "TPM_GENERATED_VALUE",
    "TPM_RH_ENDORSEMENT",
    "TPM_ST_ATTEST_QUOTE",
    "Attest",
    "ClockInfo",
    "EccPublic",
    "Reader",
    "Signature",
    "ak_public_area",
    "attest_head",
    "attest_middle",
    "attest_quote_info",
    "ek_public_area",
    "marshal_attest",
    "marshal_pcr_selection",
    "marshal_public",
    "marshal_signature",
    "object_name",
    "parse_attest",
    "parse_pcr_selection",
    "parse_public",
    "parse_signature",
    "qualified_name",
    "tpm2b",
]

TPM_GENERATED_VALUE = 0xFF544347  #: "\xffTCG": proves the TPM itself built the structure
TPM_ST_ATTEST_QUOTE = 0x8018
TPM_ALG_SHA256 = 0x000B
TPM_ALG_AES = 0x0006
TPM_ALG_NULL = 0x0010
TPM_ALG_ECDSA = 0x0018
TPM_ALG_ECC = 0x0023
TPM_ALG_CFB = 0x0043
TPM_ECC_NIST_P256 = 0x0003
TPM_RH_ENDORSEMENT = 0x4000000B

# TPMA_OBJECT bits (Part 2 §8.3).
_FIXED_TPM = 1 << 1
_FIXED_PARENT = 1 << 4
_SENSITIVE_DATA_ORIGIN = 1 << 5
_USER_WITH_AUTH = 1 << 6
_ADMIN_WITH_POLICY = 1 << 7
_RESTRICTED = 1 << 16
_DECRYPT = 1 << 17
_SIGN = 1 << 18

#: A restricted signing key: it only signs structures the TPM generated (quotes).
AK_ATTRIBUTES = (_FIXED_TPM | _FIXED_PARENT | _SENSITIVE_DATA_ORIGIN | _USER_WITH_AUTH
                 | _RESTRICTED | _SIGN)
#: TCG EK Credential Profile template L-2 (ECC NIST P-256): 0x000300B2.
EK_ATTRIBUTES = (_FIXED_TPM | _FIXED_PARENT | _SENSITIVE_DATA_ORIGIN | _ADMIN_WITH_POLICY
                 | _RESTRICTED | _DECRYPT)
#: PolicySecret(TPM_RH_ENDORSEMENT), the EK template's authPolicy.
EK_AUTH_POLICY = bytes.fromhex(
    "837197674484B3F81A90CC8D46A5D724FD52D76E06520B64F2A1DA1B331469AA")

_PCR_SELECT_BYTES = 3  # 24 PCRs -> 3 bitmap bytes, what PC Client TPMs report


# -- writing --------------------------------------------------------------------------
def u8(v: int) -> bytes:
    return struct.pack(">B", v)


def u16(v: int) -> bytes:
    return struct.pack(">H", v)


def u32(v: int) -> bytes:
    return struct.pack(">I", v)


def u64(v: int) -> bytes:
    return struct.pack(">Q", v)


def tpm2b(data: bytes) -> bytes:
    """A ``TPM2B_*``: UINT16 size then the bytes."""
    if len(data) > 0xFFFF:
        raise ValueError("TPM2B payload too large")
    return u16(len(data)) + data


# -- reading --------------------------------------------------------------------------
class Reader:
    """A cursor over TPM bytes; every read past the end raises ``ValueError``."""

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError("expected bytes")
        self.data = bytes(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"truncated: need {n} bytes at offset {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])

    def tpm2b(self, limit: int = 0xFFFF) -> bytes:
        size = self.u16()
        if size > limit:
            raise ValueError(f"TPM2B size {size} exceeds {limit}")
        return self.take(size)

    def end(self) -> None:
        """Reject trailing bytes: a structure with junk after it is not that structure."""
        if self.pos != len(self.data):
            raise ValueError(f"{len(self.data) - self.pos} trailing bytes")


# -- PCR selection --------------------------------------------------------------------
def marshal_pcr_selection(pcrs: Sequence[int]) -> bytes:
    """``TPML_PCR_SELECTION`` with one SHA-256 bank selecting ``pcrs``."""
    return _pcr_selection(tuple(pcrs))


@functools.lru_cache(maxsize=256)
def _pcr_selection(pcrs: tuple[int, ...]) -> bytes:
    # A pure function of the PCRs (every quote of a host selects the same ones).
    bitmap = bytearray(_PCR_SELECT_BYTES)
    for p in pcrs:
        if not 0 <= p < 8 * _PCR_SELECT_BYTES:
            raise ValueError(f"PCR {p} out of range")
        bitmap[p // 8] |= 1 << (p % 8)
    return u32(1) + u16(TPM_ALG_SHA256) + u8(_PCR_SELECT_BYTES) + bytes(bitmap)


def _read_pcr_selection(r: Reader) -> list[tuple[int, list[int]]]:
    count = r.u32()
    if count > 16:  # more banks than any TPM implements
        raise ValueError(f"TPML_PCR_SELECTION count {count} too large")
    banks = []
    for _ in range(count):
        alg = r.u16()
        size = r.u8()
        if size > 32:
            raise ValueError(f"sizeofSelect {size} too large")
        banks.append((alg, list(_selected(r.take(size)))))
    return banks


@functools.lru_cache(maxsize=256)
def _selected(bitmap: bytes) -> tuple[int, ...]:
    """The PCRs a ``pcrSelect`` bitmap selects, ascending (a pure function of its bytes)."""
    return tuple(i for i in range(8 * len(bitmap)) if bitmap[i // 8] >> (i % 8) & 1)


def parse_pcr_selection(data: bytes) -> list[tuple[int, list[int]]]:
    """``[(hashAlg, [pcr, ...]), ...]`` from a ``TPML_PCR_SELECTION``."""
    r = Reader(data)
    out = _read_pcr_selection(r)
    r.end()
    return out


# -- TPMS_ATTEST (quote) ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClockInfo:
    """``TPMS_CLOCK_INFO``: ms since manufacture, boot counters, and whether clock is safe."""

    clock: int
    reset_count: int
    restart_count: int
    safe: bool


@dataclass(frozen=True, slots=True)
class Attest:
    """A parsed ``TPMS_ATTEST`` of type quote."""

    magic: int
    type: int
    qualified_signer: bytes
    extra_data: bytes
    clock_info: ClockInfo
    firmware_version: int
    pcr_select: list[tuple[int, list[int]]]
    pcr_digest: bytes

    @property
    def pcrs(self) -> list[int]:
        """The SHA-256 PCRs quoted (ascending, the order the digest covers)."""
        select = self.pcr_select
        if len(select) == 1 and select[0][0] == TPM_ALG_SHA256:  # a quote's one bank
            return list(select[0][1])
        return [p for alg, sel in select if alg == TPM_ALG_SHA256 for p in sel]


def marshal_attest(qualified_signer: bytes, extra_data: bytes, clock_info: ClockInfo,
                   firmware_version: int, pcrs: Sequence[int], pcr_digest: bytes) -> bytes:
    """The ``TPMS_ATTEST`` bytes a TPM2_Quote signs: :func:`attest_head`,
    :func:`attest_middle` and :func:`attest_quote_info` one after the other."""
    return b"".join((
        attest_head(qualified_signer),
        attest_middle(extra_data, clock_info.clock, clock_info.reset_count,
                      clock_info.restart_count, clock_info.safe, firmware_version),
        attest_quote_info(pcrs, pcr_digest)))


# A TPM quoting again and again changes only the middle part of its TPMS_ATTEST (the
# nonce and the clock): the head is fixed per AK, and the quote info is fixed while the
# quoted PCRs keep their values, so a TPM keeps those two parts (``Tpm.quote``).
def attest_head(qualified_signer: bytes) -> bytes:
    """``TPMS_ATTEST`` up to its ``extraData``: magic, type (quote), ``qualifiedSigner``."""
    if len(qualified_signer) > 0xFFFF:
        raise ValueError("TPM2B payload too large")
    # One pack per fixed-width run (the same bytes as field-by-field u32/u16/tpm2b ...).
    return _ATTEST_HEAD.pack(TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE,
                             len(qualified_signer)) + qualified_signer


def attest_middle(extra_data: bytes, clock: int, reset_count: int, restart_count: int,
                  safe: bool, firmware_version: int) -> bytes:
    """``TPMS_ATTEST``'s ``extraData``, ``clockInfo`` and ``firmwareVersion``."""
    if len(extra_data) > 0xFFFF:
        raise ValueError("TPM2B payload too large")
    return b"".join((_U16.pack(len(extra_data)), extra_data,
                     _CLOCK_FW.pack(clock, reset_count, restart_count, 1 if safe else 0,
                                    firmware_version)))


def attest_quote_info(pcrs: Sequence[int], pcr_digest: bytes) -> bytes:
    """``TPMS_ATTEST``'s ``attested`` member for a quote: ``TPMS_QUOTE_INFO``."""
    if len(pcr_digest) > 0xFFFF:
        raise ValueError("TPM2B payload too large")
    return _pcr_selection(tuple(pcrs)) + _U16.pack(len(pcr_digest)) + pcr_digest


_U16 = struct.Struct(">H")
#: magic, type, qualifiedSigner.size
_ATTEST_HEAD = struct.Struct(">IHH")
#: TPMS_CLOCK_INFO (clock, resetCount, restartCount, safe) + firmwareVersion
_CLOCK_FW = struct.Struct(">QIIBQ")
#: a TPML_PCR_SELECTION of one bank: count, hash, sizeofSelect (then the bitmap)
_ONE_BANK = struct.Struct(">IHB")
#: an ECDSA TPMT_SIGNATURE with 32-byte r and s (what a P-256 key makes)
_ECDSA_SIG = struct.Struct(">HHH32sH32s")


def parse_attest(data: bytes) -> Attest:
    """Parse a quote's ``TPMS_ATTEST``. Magic and type are returned, not judged here:
    ``verify_quote`` reports them as problems so the verifier can name the reason."""
    if type(data) is bytes:
        fast = _parse_attest_fast(data)
        if fast is not None:
            return fast
    r = Reader(data)
    magic = r.u32()
    typ = r.u16()
    if typ != TPM_ST_ATTEST_QUOTE:
        # Other attestation types carry a different union member: we cannot parse on.
        raise ValueError(f"not a quote (type 0x{typ:04x})")
    signer = r.tpm2b(2 + 64)  # TPM2B_NAME: at most an algorithm + a SHA-512 digest
    extra = r.tpm2b(64)  # TPM2B_DATA: sizeof(TPMT_HA) on a SHA-512 TPM
    clock = r.u64()
    reset, restart = r.u32(), r.u32()
    safe_byte = r.u8()
    if safe_byte > 1:
        raise ValueError(f"TPMI_YES_NO value {safe_byte}")
    fw = r.u64()
    sel = _read_pcr_selection(r)
    digest = r.tpm2b(64)
    r.end()
    return Attest(magic, typ, signer, extra, ClockInfo(clock, reset, restart, safe_byte == 1),
                  fw, sel, digest)


def _parse_attest_fast(data: bytes) -> Attest | None:
    """:func:`parse_attest` of a well-formed quote in a few ``unpack_from`` calls, or
    ``None`` for anything else (then the field-by-field reader decides, with its error)."""
    n = len(data)
    if n < 8:
        return None
    magic, typ, size = _ATTEST_HEAD.unpack_from(data, 0)
    if typ != TPM_ST_ATTEST_QUOTE or size > 2 + 64:
        return None
    p = 8 + size
    if p + 2 > n:
        return None
    extra_size = _U16.unpack_from(data, p)[0]
    if extra_size > 64:
        return None
    q = p + 2 + extra_size
    if q + 25 + 7 > n:
        return None
    clock, reset, restart, safe, fw = _CLOCK_FW.unpack_from(data, q)
    count, alg, select = _ONE_BANK.unpack_from(data, q + 25)
    d = q + 32 + select
    if safe > 1 or count != 1 or select > 32 or d + 2 > n:
        return None
    digest_size = _U16.unpack_from(data, d)[0]
    if digest_size > 64 or d + 2 + digest_size != n:
        return None
    return Attest(magic, typ, data[8:p], data[p + 2:q],
                  ClockInfo(clock, reset, restart, safe == 1), fw,
                  [(alg, list(_selected(data[q + 32:d])))], data[d + 2:])


@functools.lru_cache(maxsize=256)
def parse_attest_shared(data: bytes) -> Attest:
    """``parse_attest``, remembered (a pure function of the bytes): the verifier parses
    each quote twice (``verify_quote``, then the PCR checks). The result is shared, so
    callers must treat it as read-only; errors are raised again on every call."""
    return parse_attest(data)


# -- TPMT_SIGNATURE ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Signature:
    """An ECDSA ``TPMT_SIGNATURE``."""

    sig_alg: int
    hash_alg: int
    r: int
    s: int


def marshal_signature(r: int, s: int) -> bytes:
    """ECDSA/SHA-256 ``TPMT_SIGNATURE``; r and s are padded to the 32-byte key size."""
    return _ECDSA_SIG.pack(TPM_ALG_ECDSA, TPM_ALG_SHA256, 32, r.to_bytes(32, "big"),
                           32, s.to_bytes(32, "big"))


def parse_signature(data: bytes) -> Signature:
    if type(data) is bytes and len(data) == _ECDSA_SIG.size:
        # the common shape in one unpack; anything else is read field by field below
        alg, hash_alg, r_size, r, s_size, s = _ECDSA_SIG.unpack(data)
        if alg == TPM_ALG_ECDSA and r_size == 32 and s_size == 32:
            return Signature(alg, hash_alg, int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    rd = Reader(data)
    alg = rd.u16()
    if alg != TPM_ALG_ECDSA:
        raise ValueError(f"unsupported signature algorithm 0x{alg:04x}")
    hash_alg = rd.u16()
    r = rd.tpm2b(66)
    s = rd.tpm2b(66)
    rd.end()
    if not r or not s:
        raise ValueError("empty ECDSA component")
    return Signature(alg, hash_alg, int.from_bytes(r, "big"), int.from_bytes(s, "big"))


# -- TPMT_PUBLIC for ECC keys -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EccPublic:
    """A parsed ECC ``TPMT_PUBLIC``."""

    name_alg: int
    attributes: int
    auth_policy: bytes
    symmetric: tuple[int, int, int] | None  # (algorithm, keyBits, mode) or None
    scheme: tuple[int, int] | None  # (scheme, hashAlg) or None
    curve: int
    x: int
    y: int

    @property
    def restricted(self) -> bool:
        return bool(self.attributes & _RESTRICTED)

    @property
    def sign(self) -> bool:
        return bool(self.attributes & _SIGN)

    @property
    def decrypt(self) -> bool:
        return bool(self.attributes & _DECRYPT)

    def public_key(self) -> crypto.PublicKey:
        return crypto.public_from_point(self.x, self.y)


def _ecc_public(key: crypto.PrivateKey | crypto.PublicKey, attributes: int, policy: bytes,
                symmetric: tuple[int, int, int] | None, scheme: tuple[int, int] | None
                ) -> bytes:
    x, y = crypto.public_point(key)
    sym = (u16(TPM_ALG_NULL) if symmetric is None
           else u16(symmetric[0]) + u16(symmetric[1]) + u16(symmetric[2]))
    sch = u16(TPM_ALG_NULL) if scheme is None else u16(scheme[0]) + u16(scheme[1])
    return (u16(TPM_ALG_ECC) + u16(TPM_ALG_SHA256) + u32(attributes) + tpm2b(policy)
            + sym + sch + u16(TPM_ECC_NIST_P256) + u16(TPM_ALG_NULL)  # kdf: none
            + tpm2b(x.to_bytes(32, "big")) + tpm2b(y.to_bytes(32, "big")))


def ak_public_area(key: crypto.PrivateKey | crypto.PublicKey) -> bytes:
    """``TPMT_PUBLIC`` of a restricted ECDSA-SHA256 signing key (the AK)."""
    return _ecc_public(key, AK_ATTRIBUTES, b"", None, (TPM_ALG_ECDSA, TPM_ALG_SHA256))


def ek_public_area(key: crypto.PrivateKey | crypto.PublicKey) -> bytes:
    """``TPMT_PUBLIC`` of an EK per the TCG EK profile (template L-2, AES-128-CFB)."""
    return _ecc_public(key, EK_ATTRIBUTES, EK_AUTH_POLICY, (TPM_ALG_AES, 128, TPM_ALG_CFB),
                       None)


def marshal_public(public_area: bytes) -> bytes:
    """``TPM2B_PUBLIC`` around a ``TPMT_PUBLIC``."""
    return tpm2b(public_area)


def _read_public(r: Reader) -> EccPublic:
    typ = r.u16()
    if typ != TPM_ALG_ECC:
        raise ValueError(f"unsupported key type 0x{typ:04x}")
    name_alg = r.u16()
    attrs = r.u32()
    policy = r.tpm2b(64)
    sym_alg = r.u16()
    symmetric = None if sym_alg == TPM_ALG_NULL else (sym_alg, r.u16(), r.u16())
    scheme_alg = r.u16()
    scheme = None if scheme_alg == TPM_ALG_NULL else (scheme_alg, r.u16())
    curve = r.u16()
    kdf = r.u16()
    if kdf != TPM_ALG_NULL:
        r.u16()  # the KDF's hash algorithm
    x = r.tpm2b(66)
    y = r.tpm2b(66)
    if curve != TPM_ECC_NIST_P256 or len(x) != 32 or len(y) != 32:
        raise ValueError("only NIST P-256 points are supported")
    return EccPublic(name_alg, attrs, policy, symmetric, scheme, curve,
                     int.from_bytes(x, "big"), int.from_bytes(y, "big"))


def parse_public(data: bytes, *, sized: bool = True) -> EccPublic:
    """Parse a ``TPM2B_PUBLIC`` (or a bare ``TPMT_PUBLIC`` with ``sized=False``)."""
    r = Reader(data)
    if sized:
        inner = r.tpm2b()
        r.end()
        r = Reader(inner)
    pub = _read_public(r)
    r.end()
    try:
        pub.public_key()
    except ValueError as exc:  # point not on the curve
        raise ValueError(f"invalid ECC point: {exc}") from None
    return pub


def object_name(public_area: bytes) -> bytes:
    """An object's Name: ``nameAlg || SHA256(TPMT_PUBLIC)`` (Part 1 §16)."""
    return u16(TPM_ALG_SHA256) + crypto.sha256(public_area)


def qualified_name(parent_qualified_name: bytes, name: bytes) -> bytes:
    """Qualified Name: ``nameAlg || SHA256(QN(parent) || Name)``; a hierarchy's QN is its
    4-byte handle (Part 1 §16)."""
    return u16(TPM_ALG_SHA256) + crypto.sha256(parent_qualified_name + name)
