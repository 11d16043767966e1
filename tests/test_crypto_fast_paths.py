"""The fast paths of ``vtalab.core.crypto`` give exactly what the straightforward code gives.

Every attestation encodes, parses and verifies tokens, so ``crypto`` does that with as
little Python as it can: tokens built as bytes, base64url and JSON decoding without the
standard library's Python-level wrappers, ES256 ``(r, s)`` remembered with the parse, the
simulated stand-in's SHA-256 prefix states found by key identity. Here each is compared
with the plain standard-library code it replaces (the reference), on arbitrary input:
non-ASCII and lone surrogates, huge integers, NaN, nested values, damaged tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vtalab.core import crypto

KEY = crypto.derive_private_key(5, "test/fast-paths/signer")
OTHER = crypto.derive_private_key(5, "test/fast-paths/other")
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Any character, lone surrogates included (json escapes them; the encoder must too).
_CHARS = st.characters(codec=None, categories=None)
_TEXT = st.text(_CHARS, max_size=12) | st.sampled_from(["", "ä", "\ud800", "é\u2028", "\x00"])
_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-2**300, 2**300)
            | st.floats(allow_nan=True, allow_infinity=True) | _TEXT)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=12)
_CLAIMS = st.dictionaries(_TEXT, _JSON, max_size=8)


def _outcome(fn: Any, *args: Any) -> Any:
    """What ``fn(*args)`` gives: its value's repr, or its exception's type and text."""
    try:
        return ("value", repr(fn(*args)))
    except Exception as exc:  # noqa: BLE001 - the outcome *is* the exception
        return ("raises", type(exc), str(exc))


# -- references: the straightforward code ---------------------------------------------------
def _ref_b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _ref_b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _ref_canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _ref_sign(key: crypto.PrivateKey, data: bytes, simulated: bool) -> tuple[int, int]:
    if simulated:  # the stand-in's one-line definition
        pub = crypto.public_der(key)
        return (crypto._sim_scalar(b"r", pub, data),  # noqa: SLF001
                crypto._sim_scalar(b"s", pub, data))  # noqa: SLF001
    return crypto.raw_ecdsa_sign(key, data)


def _ref_jwt_encode(claims: dict[str, Any], key: crypto.PrivateKey, kid: str,
                    simulated: bool) -> str:
    header = _ref_canonical({"alg": "ES256", "kid": kid, "typ": "JWT"})
    signing_input = _ref_b64url(header.encode()) + "." + _ref_b64url(
        _ref_canonical(claims).encode())
    r, s = _ref_sign(key, signing_input.encode("ascii"), simulated)
    return signing_input + "." + _ref_b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def _ref_parse(token: Any) -> crypto.DecodedJwt | None:
    try:
        h, c, s = token.split(".")
        header = json.loads(_ref_b64url_decode(h))
        claims = json.loads(_ref_b64url_decode(c))
        sig = _ref_b64url_decode(s)
    except (ValueError, TypeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return crypto.DecodedJwt(header, claims, f"{h}.{c}".encode("ascii"), sig)


def _ref_verify(token: Any, key: crypto.PublicKey) -> dict[str, Any] | None:
    parsed = _ref_parse(token)
    if parsed is None or parsed.header.get("alg") != "ES256" or len(parsed.signature) != 64:
        return None
    r = int.from_bytes(parsed.signature[:32], "big")
    s = int.from_bytes(parsed.signature[32:], "big")
    if crypto.is_simulated():
        pub = crypto.public_der(key)
        ok = (r, s) == (crypto._sim_scalar(b"r", pub, parsed.signing_input),  # noqa: SLF001
                        crypto._sim_scalar(b"s", pub, parsed.signing_input))  # noqa: SLF001
    else:
        ok = crypto.raw_ecdsa_verify(key, parsed.signing_input, r, s)
    return parsed.claims if ok else None


# -- base64url ------------------------------------------------------------------------------
@SETTINGS
@given(st.binary(max_size=300))
def test_b64url_is_unpadded_urlsafe_base64(data: bytes) -> None:
    assert crypto.b64url(data) == _ref_b64url(data)


_B64ISH = st.text(st.sampled_from("ABCxyz019-_+/=!. \n\u00e9\U0001f600"), max_size=40)


@SETTINGS
@given(_B64ISH | st.text(_CHARS, max_size=20) | st.binary(max_size=60).map(_ref_b64url))
@example("é")  # non-ASCII: ValueError with base64's text
@example("abcde")  # bad padding: binascii.Error
@example("a+b/c-d_")  # standard and URL-safe alphabets both decode, as in base64
def test_b64url_decode_is_urlsafe_b64decode_of_the_padded_text(text: str) -> None:
    assert _outcome(crypto.b64url_decode, text) == _outcome(_ref_b64url_decode, text)


def test_b64url_decode_refuses_what_base64_refuses_with_the_same_errors() -> None:
    with pytest.raises(ValueError, match="only ASCII"):
        crypto.b64url_decode("é")
    with pytest.raises(binascii.Error):
        crypto.b64url_decode("abcde")
    with pytest.raises(TypeError):
        crypto.b64url_decode(b"abcd")  # type: ignore[arg-type]


# -- JSON decoding ----------------------------------------------------------------------------
def _encodings(value: Any) -> st.SearchStrategy[bytes]:
    text = json.dumps(value, ensure_ascii=False)
    return st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                            "utf-32", "utf-32-le", "utf-32-be"]).map(
        lambda enc: text.encode(enc, "surrogatepass"))


_JSON_BYTES = (st.binary(max_size=40) | st.binary(max_size=40).map(lambda b: b"{" + b)
               | _CLAIMS.flatmap(_encodings) | _JSON.flatmap(_encodings))


@SETTINGS
@given(_JSON_BYTES)
@example(b"{\x00\x00\x00")  # '{' then NUL: detect_encoding says UTF-16/32, not UTF-8
@example(b"{\x00}")
@example(b'{"a":"\xed\xa0\x80"}')  # a surrogate in UTF-8: surrogatepass, as json.loads
@example(b'{"a":1} x')  # trailing data
@example(b"{")
def test_json_loads_fast_path_is_json_loads(raw: bytes) -> None:
    assert _outcome(crypto._json_loads, raw) == _outcome(json.loads, raw)  # noqa: SLF001


# -- tokens ----------------------------------------------------------------------------------
@SETTINGS
@given(claims=_CLAIMS, kid=_TEXT, simulated=st.booleans())
@example(claims={"sub": "esx-01", "iat": 2**70, "n": {"nested": [1, None, "ü"]}},
         kid="kid", simulated=False)
@example(claims={"x": float("nan"), "\ud800": -0.0, "big": -(10**80)}, kid="é",
         simulated=True)
def test_jwt_encode_is_the_straightforward_token(claims: dict[str, Any], kid: str,
                                                  simulated: bool) -> None:
    with crypto.simulated(simulated):
        token = crypto.jwt_encode(claims, KEY, kid)
    assert token == _ref_jwt_encode(claims, KEY, kid, simulated)
    assert token.isascii()


_FLAT = st.none() | st.booleans() | st.integers() | st.integers(-2**300, 2**300) | _TEXT


@SETTINGS
@given(claims=st.dictionaries(_TEXT, _FLAT, max_size=8), kid=_TEXT, simulated=st.booleans())
@example(claims={"sub": "esx-01", "iat": 1, "exp": 2, "ok": True, "none": None, "z": "\ud800"},
         kid="\u2028", simulated=False)
def test_a_token_remembered_as_encoded_is_the_token_parsed(claims: dict[str, Any], kid: str,
                                                          simulated: bool) -> None:
    """jwt_encode remembers what parsing its token gives, for flat claims: the very
    header, claims (order and types: True is not 1), signing input, signature and (r, s)
    a parse of the text gives."""
    crypto._JWT_PARSED.cache_clear()  # noqa: SLF001
    with crypto.simulated(simulated):
        token = crypto.jwt_encode(claims, KEY, kid)
    remembered = crypto._JWT_PARSED[token]  # noqa: SLF001 - made without a parse
    assert repr(remembered) == repr(crypto._jwt_parse_facts(token))  # noqa: SLF001
    with crypto.simulated(simulated):
        assert crypto.jwt_verify(token, KEY.public_key()) == claims


@pytest.mark.parametrize("claims", [{"n": {"nested": 1}}, {"f": 1.0}, {"l": [1]}, {1: "x"}])
def test_only_flat_claims_are_remembered_as_encoded(claims: dict[Any, Any]) -> None:
    crypto._JWT_PARSED.cache_clear()  # noqa: SLF001
    token = crypto.jwt_encode(claims, KEY, "kid")
    assert token not in crypto._JWT_PARSED  # noqa: SLF001
    assert crypto.jwt_encode({"sub": "x"}, KEY, 7) not in crypto._JWT_PARSED  # type: ignore[arg-type]  # noqa: SLF001,E501


@pytest.mark.parametrize("claims", [{"a": object()}, {1: "x", "b": "y"}, {"a": {2: 1, "b": 0}}])
def test_jwt_encode_refuses_what_json_dumps_refuses(claims: dict[str, Any]) -> None:
    want = _outcome(_ref_canonical, claims)
    assert want[0] == "raises"
    got = _outcome(crypto.jwt_encode, claims, KEY, "kid")
    assert got[:2] == want[:2]


_ALG_NONE = _ref_b64url(b'{"alg":"none"}')
_LIST = _ref_b64url(b"[1]")
_EMPTY = _ref_b64url(b"{}")


def _damaged(token: str) -> st.SearchStrategy[str]:
    head, body, sig = token.split(".")
    return st.one_of(
        st.just(token),
        st.builds(lambda i, c: token[:i] + c + token[i + 1:],
                  st.integers(0, len(token) - 1), st.sampled_from("A.=-_!é")),
        st.builds(lambda i: token[:i], st.integers(0, len(token))),
        st.sampled_from([f"{head}.{body}", f"{head}.{body}.{sig}.x", f"{head}..{sig}",
                         f"{head}.{body}.{sig[:-2]}", f"{head}.{body}.{sig}AA",
                         f"{_ALG_NONE}.{body}.{sig}", f"{_LIST}.{body}.{sig}",
                         f"{head}.{_EMPTY}.{sig}"]),
        st.text(_CHARS, max_size=30))


_TOKENS = st.tuples(_CLAIMS, st.booleans()).map(
    lambda cs: _ref_jwt_encode(cs[0], KEY, "kid", cs[1])).flatmap(_damaged)


@SETTINGS
@given(_TOKENS)
def test_jwt_parse_is_the_straightforward_parse(token: str) -> None:
    crypto._JWT_PARSED.cache_clear()  # noqa: SLF001 - parse afresh, then from memory
    want = repr(_ref_parse(token))
    assert repr(crypto._jwt_parse(token)) == want  # noqa: SLF001
    for _ in range(2):
        assert repr(crypto.jwt_decode(token)) == want
        assert crypto.jwt_wellformed(token) is (want != "None")


@SETTINGS
@given(_TOKENS, st.booleans(), st.booleans())
def test_jwt_verify_is_the_straightforward_verify(token: str, simulated: bool,
                                                  other: bool) -> None:
    key = (OTHER if other else KEY).public_key()
    with crypto.simulated(simulated):
        want = repr(_ref_verify(token, key))
        for _ in range(2):  # afresh, then with the parse (and its r, s) remembered
            got = crypto.jwt_verify(token, key)
            assert repr(got) == want
            if got is not None:
                got.clear()  # what a caller does with its copy never reaches the memo


def test_jwt_verify_and_decode_take_non_str_tokens_as_before() -> None:
    token = crypto.jwt_encode({"sub": "esx-01"}, KEY, "kid").encode()
    assert crypto.jwt_verify(token, KEY.public_key()) is None  # type: ignore[arg-type]
    assert crypto.jwt_decode(token) is None  # type: ignore[arg-type]
    assert not crypto.jwt_wellformed(token)  # type: ignore[arg-type]


# -- keys ------------------------------------------------------------------------------------
def _public(key: Any) -> crypto.PublicKey:
    return key.public_key() if isinstance(key, crypto.PrivateKey) else key


def test_key_id_is_the_spki_digest_prefix() -> None:
    for key in (KEY, KEY.public_key(), OTHER.public_key()):
        want = hashlib.sha256(crypto.public_der(key)).hexdigest()[:16]
        assert crypto.key_id(key) == want and crypto.key_id(key) == want


def test_public_point_and_public_from_point_are_remembered_pure_functions() -> None:
    for key in (KEY, KEY.public_key(), OTHER):
        nums = _public(key).public_numbers()
        assert crypto.public_point(key) == (nums.x, nums.y) == crypto.public_point(key)
    x, y = crypto.public_point(KEY)
    pub = crypto.public_from_point(x, y)
    assert crypto.public_der(pub) == crypto.public_der(KEY)
    assert crypto.public_from_point(x, y) is pub  # the same object: identity memos hit
    for _ in range(2):  # off the curve: refused every time (errors are not remembered)
        with pytest.raises(ValueError):
            crypto.public_from_point(x, y + 1)
    with pytest.raises(TypeError):  # equal to x, but not an int: not the remembered key
        crypto.public_from_point(Decimal(x), y)  # type: ignore[arg-type]


@pytest.mark.parametrize("memo", ["_SIM_BY_ID", "_POINT_BY_ID"])
def test_memos_by_key_identity_stay_bounded_and_right(monkeypatch: pytest.MonkeyPatch,
                                                      memo: str) -> None:
    monkeypatch.setattr(crypto, "_DER_LIMIT", 8)
    monkeypatch.setattr(crypto, memo, {})
    table = getattr(crypto, memo)
    keys = [KEY.public_key() for _ in range(30)] + [OTHER, OTHER.public_key()]
    data = b"quote"
    for round_ in range(2):
        for key in keys:
            if memo == "_SIM_BY_ID":
                want = _ref_sign(OTHER if key in (OTHER, keys[-1]) else KEY, data, True)
                assert crypto.sim_sign(key, data) == want  # type: ignore[arg-type]
                assert crypto.sim_verify(key, data, *want)  # type: ignore[arg-type]
                assert not crypto.sim_verify(key, data + b"!", *want)  # type: ignore[arg-type]
            else:
                nums = _public(key).public_numbers()
                assert crypto.public_point(key) == (nums.x, nums.y)
            assert 0 < len(table) <= 8, round_
            for held in table.values():
                assert held[0] in keys  # holds its key: an id cannot be reused meanwhile


@pytest.mark.parametrize("memo", ["_SIM_BY_ID", "_POINT_BY_ID", "_DER_BY_ID"])
def test_a_memo_entry_for_a_reused_id_is_not_used(monkeypatch: pytest.MonkeyPatch,
                                                  memo: str) -> None:
    """An object's id can be reused once it is gone: an entry holding another object
    (what a reused id would find) is ignored and replaced."""
    key = OTHER.public_key()
    other_pub = KEY.public_key()
    der = crypto.public_der(KEY)
    stale = {"_SIM_BY_ID": (other_pub, der, *crypto._sim_prefixes(der)),  # noqa: SLF001
             "_POINT_BY_ID": (other_pub, crypto.public_point(KEY)),
             "_DER_BY_ID": (other_pub, crypto.public_der(KEY))}[memo]
    monkeypatch.setattr(crypto, memo, {id(key): stale})
    monkeypatch.setattr(crypto, "_SIM_SIGNED", {})
    assert crypto.sim_sign(key, b"x") == _ref_sign(OTHER, b"x", True)  # type: ignore[arg-type]
    assert crypto.public_point(key) == crypto.public_point(OTHER)
    assert crypto.public_der(key) == crypto.public_der(OTHER)
    assert getattr(crypto, memo)[id(key)][0] is key


def test_simulated_signature_by_identity_is_by_key_pair() -> None:
    """A private key and its public key (and a copy of it) share the stand-in's states."""
    data = b"TPMS_ATTEST"
    want = _ref_sign(KEY, data, True)
    with crypto.simulated():
        assert crypto.ecdsa_sign(KEY, data) == want
        for pub in (KEY.public_key(), crypto.public_from_der(crypto.public_der(KEY))):
            assert crypto.ecdsa_verify(pub, data, *want)
            assert not crypto.ecdsa_verify(OTHER.public_key(), data, *want)


def test_simulated_signatures_are_remembered_for_the_exact_key_and_bytes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What is signed is verified moments later: the stand-in's value is remembered for the
    exact (key pair, bytes), in a bounded memo, and never serves other bytes or keys."""
    monkeypatch.setattr(crypto, "_SIM_SIGNED", {})
    monkeypatch.setattr(crypto, "_SIM_SIGNED_LIMIT", 5)
    memo = crypto._SIM_SIGNED  # noqa: SLF001
    datas = [b"quote %d" % i for i in range(12)]
    for data in datas:
        want = _ref_sign(KEY, data, True)
        assert crypto.sim_sign(KEY, data) == want
        assert memo[(crypto.public_der(KEY), data)] == want
        assert crypto.sim_verify(KEY.public_key(), data, *want)  # from memory
        assert crypto.sim_verify(KEY.public_key(), bytes(data), *want)  # equal bytes
        assert not crypto.sim_verify(KEY.public_key(), data + b"!", *want)
        assert not crypto.sim_verify(OTHER.public_key(), data, *want)
        assert crypto.sim_sign(OTHER, data) == _ref_sign(OTHER, data, True)
        assert 0 < len(memo) <= 5
    mutable = bytearray(b"quote 0")  # not hashable: computed, not remembered
    assert crypto.sim_sign(KEY, mutable) == _ref_sign(KEY, b"quote 0", True)  # type: ignore[arg-type]
    assert all(type(d) is bytes for _, d in memo)


def test_a_token_nested_past_the_parsers_depth_is_malformed_not_a_crash() -> None:
    """Claims nested deeper than the JSON decoder can recurse make a malformed token
    (``None``), never a ``RecursionError`` out of the verifier or the key provider."""
    deep = "[" * 100_000 + "]" * 100_000
    claims = crypto.b64url(f'{{"sub":{deep}}}'.encode())
    header = crypto.b64url(b'{"alg":"ES256","typ":"JWT"}')
    token = f"{header}.{claims}.{crypto.b64url(bytes(64))}"
    key = crypto.derive_private_key(1, "deep").public_key()
    assert crypto.jwt_decode(token) is None
    assert crypto.jwt_wellformed(token) is False
    assert crypto.jwt_verify(token, key) is None


def _issuer_reference(der: bytes) -> str | None:
    try:
        return str(x509.load_der_x509_certificate(der).issuer.rfc4514_string())
    except (ValueError, x509.InvalidVersion):
        return None


def _issuer_fast(der: bytes) -> str | None:
    try:
        return crypto.cert_issuer(der)
    except ValueError:
        return None


_START = datetime(2026, 1, 1, tzinfo=UTC)
_ROOT = crypto.make_ca("Vendor TPM Root CA", KEY, _START, _START + timedelta(days=9), org="V")
_LONG = crypto.make_ca("A" * 50 + " Intermediate", OTHER, _START, _START + timedelta(days=9),
                       org="B" * 64, issuer=(_ROOT, KEY))
_CERTS = [crypto.cert_der(c) for c in (
    _ROOT, _LONG,
    crypto.issue_certificate("esx-01 EK", OTHER, _ROOT, KEY, _START,
                             _START + timedelta(days=9), org="V", key_agreement=True),
    crypto.issue_certificate("é" * 30, KEY, _LONG, OTHER, _START, _START + timedelta(days=9)))]


def test_cert_issuer_is_the_parsed_issuer_name() -> None:
    """The issuer read from the DER (remembered by the issuer Name's bytes) is the one
    ``cryptography`` parses, for short and long (multi-byte length) names alike."""
    crypto._ISSUER_NAMES.clear()  # noqa: SLF001
    for _ in range(2):  # the second time remembered
        for der in _CERTS:
            assert crypto.cert_issuer(der) == _issuer_reference(der)
    assert crypto.cert_issuer(_CERTS[2]) == "O=V,CN=Vendor TPM Root CA"
    assert crypto._issuer_der(_CERTS[3]) != crypto._issuer_der(_CERTS[2])  # noqa: SLF001
    assert len(crypto._ISSUER_NAMES) == 2  # noqa: SLF001


@SETTINGS
@given(which=st.integers(0, len(_CERTS) - 1), at=st.integers(0, 2000),
       xor=st.integers(1, 255), cut=st.booleans())
# the serial's sign bit: a negative serial, which cryptography parses with a deprecation
# warning (pyproject's filterwarnings lets that one through, as the lab does)
@example(which=0, at=15, xor=0x80, cut=False)
def test_cert_issuer_of_damaged_bytes_is_the_reference(which: int, at: int, xor: int,
                                                       cut: bool) -> None:
    """A changed or cut certificate: ValueError exactly where ``cryptography`` refuses it,
    otherwise the issuer it parses (a changed issuer Name is another entry)."""
    der = bytearray(_CERTS[which])
    if cut:
        der = der[:at % len(der)]
    else:
        der[at % len(der)] ^= xor
    assert _issuer_fast(bytes(der)) == _issuer_reference(bytes(der))


def test_keys_read_back_from_their_own_encoding_are_the_keys(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """public_from_der / public_from_point of bytes or a point this process got from a key
    hand back that key's public key (one object per private key: crypto._pub), equal to
    what decoding gives; anything else is decoded and validated as before."""
    for table in ("_KEY_BY_DER", "_KEY_BY_POINT", "_PUBLIC_OF", "_DER_BY_ID",
                  "_POINT_BY_ID"):
        monkeypatch.setattr(crypto, table, {})
    crypto.public_from_der.cache_clear()
    crypto.public_from_point.cache_clear()
    key = crypto.derive_private_key(5, "test/fast-paths/registry")
    der, point = crypto.public_der(key), crypto.public_point(key)
    pub = crypto._pub(key)  # noqa: SLF001
    assert crypto._pub(key) is pub and crypto._pub(pub) is pub  # noqa: SLF001
    loaded = serialization.load_der_public_key(der)
    assert crypto.public_from_der(der) is pub and crypto.public_from_point(*point) is pub
    assert pub.public_numbers() == loaded.public_numbers()
    assert crypto.public_der(pub) == der and crypto.public_point(pub) == point
    # not this process's encoding of a key: decoded (and an off-curve point refused)
    other = OTHER.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    read = crypto.public_from_der(other)
    assert read is not crypto._pub(OTHER)  # noqa: SLF001
    assert read.public_numbers() == OTHER.public_key().public_numbers()
    with pytest.raises(ValueError):
        crypto.public_from_point(point[0], point[1] + 1)
    with pytest.raises(ValueError):
        crypto.public_from_der(der[:-1])


def test_a_certificate_with_a_bad_version_is_a_value_error() -> None:
    """cryptography refuses a changed version number with InvalidVersion, not a
    ValueError: cert_from_der makes it one, as for any other unreadable certificate (the
    verifier then reports the EK certificate as unparseable instead of crashing)."""
    der = bytearray(_CERTS[0])
    der[12] ^= 1  # the [0] version INTEGER: 2 (v3) -> 3
    with pytest.raises(x509.InvalidVersion):
        x509.load_der_x509_certificate(bytes(der))
    with pytest.raises(ValueError, match="version"):
        crypto.cert_from_der(bytes(der))
    assert _issuer_fast(bytes(der)) is None


def test_a_point_read_from_a_known_encoding_is_the_keys_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """public_point of a key whose SPKI DER crypto encoded reads the point from those
    bytes: the point OpenSSL gives, for private and public keys; any other encoding (not
    P-256 uncompressed) is not read so."""
    for table in ("_DER_BY_ID", "_POINT_BY_ID", "_PUBLIC_OF", "_KEY_BY_DER", "_KEY_BY_POINT"):
        monkeypatch.setattr(crypto, table, {})
    keys = [crypto.derive_private_key(6, f"test/fast-paths/point/{i}") for i in range(40)]
    for i, key in enumerate(keys):
        k: Any = key if i % 2 else key.public_key()
        crypto.public_der(k)  # the encoding first, then the point
        nums = k.public_numbers() if i % 2 == 0 else k.public_key().public_numbers()
        assert crypto.public_point(k) == (nums.x, nums.y)
    odd = KEY.public_key()
    crypto._DER_BY_ID[id(odd)] = (odd, b"\x30" + bytes(90))  # noqa: SLF001
    nums = odd.public_numbers()
    assert crypto.public_point(odd) == (nums.x, nums.y)  # not read from those bytes
