"""Certificates and CSRs handed in as PEM (by a person, a script or an API client) are
read or refused with a ``ValueError`` -- never another exception. cryptography refuses
some damage with exceptions that are not ``ValueError`` (``InvalidVersion`` for a changed
version number, ``UnsupportedAlgorithm`` for an unknown signature algorithm or key): the
callers, which turn a ``ValueError`` into a located input error, crashed on those (the
same for private keys given as PEM)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from vtalab import World
from vtalab.core import crypto
from vtalab.errors import InputError
from vtalab.world.topology import Topology

# cryptography warns (and will refuse, in a later release) when it parses a serial
# number that is not positive, which some damaged certificates have
pytestmark = pytest.mark.filterwarnings(
    "ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning")

KEY = crypto.derive_private_key(11, "tests/damaged-input")
START = datetime(2026, 1, 1, tzinfo=UTC)
CERT_DER = crypto.cert_der(crypto.make_ca("Damaged Input CA", KEY, START,
                                          START + timedelta(days=9), org="V"))
CSR_DER = crypto.make_csr("kp-damaged", KEY, org="V")


def _pem(der: bytes, label: str) -> str:
    return (f"-----BEGIN {label}-----\n" + base64.encodebytes(der).decode("ascii")
            + f"-----END {label}-----\n")


def _damaged(der: bytes) -> Iterator[bytes]:
    """Every byte of ``der`` set to a few other values, one at a time."""
    for i, byte in enumerate(der):
        for value in sorted({0, 1, 2, 0xFF, byte ^ 1} - {byte}):
            yield der[:i] + bytes([value]) + der[i + 1:]


def _outcome(fn: Callable[[], Any]) -> str:
    try:
        fn()
    except ValueError:
        return "refused"
    return "read"


def _csr_key(pem: str) -> Any:
    return crypto.csr_public_key(crypto.csr_from_pem(pem))


def test_damaged_pem_certificates_are_read_or_refused_with_a_value_error() -> None:
    seen = {_outcome(lambda d=d: crypto.certs_from_pem(_pem(d, "CERTIFICATE")))  # type: ignore[misc]
            for d in _damaged(CERT_DER)}
    assert seen == {"read", "refused"}  # (an exception of another type fails the test)


def test_damaged_csrs_are_read_or_refused_with_a_value_error() -> None:
    seen = set()
    for der in _damaged(CSR_DER):
        pem = _pem(der, "CERTIFICATE REQUEST")
        seen.add(_outcome(lambda pem=pem: _csr_key(pem)))  # type: ignore[misc]
        seen.add(_outcome(lambda der=der: crypto.sign_csr(  # type: ignore[misc]
            der, crypto.cert_from_der(CERT_DER), KEY, START, START + timedelta(days=1))))
    assert seen == {"read", "refused"}


def test_damaged_pem_private_keys_are_read_or_refused_with_a_value_error() -> None:
    pem = crypto.private_pem(KEY).decode("ascii")
    der = base64.b64decode("".join(pem.splitlines()[1:-1]))
    seen = {_outcome(lambda d=d: crypto.private_from_pem(_pem(d, "PRIVATE KEY")))  # type: ignore[misc]
            for d in _damaged(der)}
    assert seen == {"refused"}  # (a key's point no longer matches its scalar, and so on)


def _first(damage: Iterator[bytes], raises: type[Exception], read: Callable[[bytes], Any]
           ) -> bytes:
    """The first damaged DER on which cryptography itself raises ``raises``."""
    for der in damage:
        try:
            read(der)
        except raises:
            return der
        except Exception:  # noqa: BLE001,S112 - another kind of damage: not this one
            continue
    raise AssertionError(f"no damage makes cryptography raise {raises.__name__}")


def test_cryptographys_other_exceptions_become_value_errors() -> None:
    """The cases the tests above cover: cryptography raises these very exceptions on them."""
    bad_version = _first(_damaged(CERT_DER), x509.InvalidVersion,
                         x509.load_der_x509_certificate)
    with pytest.raises(ValueError, match="version"):
        crypto.certs_from_pem(_pem(bad_version, "CERTIFICATE"))
    unknown = _first(_damaged(CSR_DER), UnsupportedAlgorithm,
                     lambda d: x509.load_der_x509_csr(d).is_signature_valid)
    with pytest.raises(ValueError, match="cannot be checked"):
        crypto.csr_from_pem(_pem(unknown, "CERTIFICATE REQUEST"))


def test_a_damaged_csr_file_is_an_input_error_naming_it() -> None:
    """The KMS administrator's verb refuses it as the bad input it is (exit code 2 on
    the command line), instead of crashing."""
    world = World(Topology.model_validate({"ta_cluster": {"hosts": [{"name": "ta-01"}]},
                                           "trusted_clusters": []}), seed=3)
    unknown = _first(_damaged(CSR_DER), UnsupportedAlgorithm,
                     lambda d: x509.load_der_x509_csr(d).is_signature_valid)
    world.files["bad.csr"] = _pem(unknown, "CERTIFICATE REQUEST")
    with pytest.raises(InputError, match="'bad.csr' is not a certificate signing request"):
        world.call("kms-sign-csr", file="bad.csr", out="bad.pem")
    assert "bad.pem" not in world.files
