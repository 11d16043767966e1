"""ActivateCredential of a blob whose ephemeral x has fewer than 32 bytes.

tpm2_makecredential (tpm2-tools, OpenSSL) writes the ephemeral point's x without its
leading zero bytes, and hashes those bytes into the seed's KDFe (partyUInfo), as the TPM
reference code hashes the TPM2B it receives. ActivateCredential re-padded x to 32 bytes,
so one tpm2_makecredential blob in 256 did not open (the conformance test
``test_activate_credential_opens_tpm2_makecredential_blob`` failed about once in 200 runs).
The blob below is such a one, made by tpm2_makecredential 5.4 for the test TPM's EK.
"""

from __future__ import annotations

import pytest

from vtalab.core import crypto

from .conftest import make_tpm
from .tools import credential_parts

#: tpm2_makecredential -T none -u ek.pub -s secret.bin -n <ak name> -o cred.out, for
#: make_tpm() (seed 7); its seed's x is 31 bytes (0x001f)
CRED_OUT = bytes.fromhex(
    "badcc0de00000001004400206644d677b2351bc13b1288057718c0ab4d2b92e36a16239f2651875c"
    "f875ccb7b2fea2e3d606402aee30d9f254fb59da16d40201e9821028c569fc28406fbd0e82f50043"
    "001faac1013d653f9a96c82eda19d529e9be1f09e5455a5a754679592fed9b8ed6002004e83dcc69"
    "2c2d88427f6749ce33716f97e68da4f6fd6ddb7cd375f159e09b4d")
SECRET = b"0123456789abcdef0123456789abcdef"


def _parts() -> tuple[bytes, bytes]:
    blob, seed = credential_parts(CRED_OUT)
    assert seed[2:4] == b"\x00\x1f"  # x: 31 bytes, its leading zero left out
    return blob, seed


@pytest.fixture(autouse=True)
def _real_crypto() -> None:
    assert not crypto.is_simulated()


def test_a_blob_with_a_short_x_opens() -> None:
    blob, seed = _parts()
    assert make_tpm().activate_credential(blob, seed) == SECRET


def test_it_opens_for_that_tpm_only() -> None:
    blob, seed = _parts()
    assert make_tpm(seed=99).activate_credential(blob, seed) is None
    assert make_tpm().activate_credential(blob, seed[:4] + bytes([seed[4] ^ 1]) + seed[5:]) \
        is None
