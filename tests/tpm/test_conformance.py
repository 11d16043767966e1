"""Conformance with the real tpm2-tools 5.4: the lab's quotes, keys and event logs must be
accepted by the tools verifiers use (and rejected when tampered with).

These tests FAIL (never skip) when the tools are missing: see ``tools.require_tool``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vtalab.core import crypto
from vtalab.tpm import Tpm
from vtalab.tpm.marshal import marshal_public

from .conftest import make_tpm
from .tools import (
    credential_parts,
    eventlog_pcrs,
    run_tool,
    tpm2_checkquote,
    tpm2_eventlog,
    tpm2_print,
    tss_pcrs_file,
    write_quote_files,
)

pytestmark = pytest.mark.conformance

NONCE = bytes.fromhex("5ca1ab1e" * 8)
#: Firmware + esx-boot PCRs: 12 PCRs, so checkquote needs the serialized PCR file (5.4's
#: ``-l`` reader handles at most 7 PCRs, see tools.tss_pcrs_file).
PCRS = [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14]
#: Up to 7 PCRs: the plain concatenated-values file with ``-l sha256:...`` works.
FEW = [0, 7, 11, 12, 13, 14]


def test_tpm2_print_decodes_attest(booted: Tpm, tmp_path: Path) -> None:
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, PCRS, now_ms=9_000))
    out = tpm2_print("TPMS_ATTEST", files.message)
    assert out.returncode == 0, out.stderr
    assert "magic: ff544347" in out.stdout
    assert "type: 8018" in out.stdout
    assert f"extraData: {NONCE.hex()}" in out.stdout
    assert "resetCount: 1" in out.stdout and "clock: 8000" in out.stdout
    assert "pcrSelect: ff7800" in out.stdout  # PCRs 0-7 and 11-14
    pub = tpm2_print("TPM2B_PUBLIC", files.ak_pub)
    assert pub.returncode == 0, pub.stderr
    assert "restricted|sign" in pub.stdout and "ecdsa" in pub.stdout


@pytest.mark.parametrize("kwargs", [{}, {"use_tss_public": True}, {"eventlog": True}])
def test_checkquote_accepts_good_quote_values_file(booted: Tpm, tmp_path: Path,
                                                   kwargs: dict[str, bool]) -> None:
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, FEW))
    out = tpm2_checkquote(files, NONCE, **kwargs)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("kwargs", [{}, {"use_tss_public": True}, {"eventlog": True}])
def test_checkquote_accepts_full_boot_quote(booted: Tpm, tmp_path: Path,
                                            kwargs: dict[str, bool]) -> None:
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, list(range(24))))
    out = tpm2_checkquote(files, NONCE, serialized=True, **kwargs)
    assert out.returncode == 0, out.stderr
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, PCRS))
    out = tpm2_checkquote(files, NONCE, serialized=True, **kwargs)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("serialized", [False, True])
def test_checkquote_rejects_wrong_nonce(booted: Tpm, tmp_path: Path, serialized: bool) -> None:
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, PCRS if serialized else FEW))
    out = tpm2_checkquote(files, b"\x00" + NONCE[1:], serialized=serialized)
    assert out.returncode != 0
    assert "nonce" in out.stderr.lower()


def test_checkquote_rejects_tampered_pcr(booted: Tpm, tmp_path: Path) -> None:
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, FEW))
    values = bytearray(files.pcrs.read_bytes())
    values[32 * FEW.index(13)] ^= 0x01
    bad = tmp_path / "pcrs.tampered.bin"
    bad.write_bytes(bytes(values))
    assert tpm2_checkquote(files, NONCE, pcrs=bad).returncode != 0
    # Same with the serialized layout and all 12 boot PCRs.
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, PCRS))
    pcr_values = [booted.pcrs[p] for p in PCRS]
    pcr_values[PCRS.index(12)] = bytes(32)
    bad.write_bytes(tss_pcrs_file(PCRS, pcr_values))
    out = tpm2_checkquote(files, NONCE, pcrs=bad, serialized=True)
    assert out.returncode != 0
    assert "digest" in out.stderr.lower()


def test_checkquote_rejects_tampered_eventlog(booted: Tpm, tmp_path: Path) -> None:
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, PCRS))
    log = bytearray(files.eventlog.read_bytes())
    last = booted.log.events[-1]
    at = bytes(log).rfind(last.digest)
    log[at] ^= 0x01
    files.eventlog.write_bytes(bytes(log))
    out = tpm2_checkquote(files, NONCE, eventlog=True, serialized=True)
    assert out.returncode != 0
    assert "mismatch" in out.stderr.lower()


def test_checkquote_rejects_other_ak(booted: Tpm, tmp_path: Path) -> None:
    files = write_quote_files(tmp_path, booted, booted.quote(NONCE, FEW))
    files.ak_pem.write_bytes(crypto.public_pem(make_tpm(seed=8).ak))
    assert tpm2_checkquote(files, NONCE).returncode != 0


def test_tpm2_eventlog_parses_full_boot(booted: Tpm, tmp_path: Path) -> None:
    path = tmp_path / "eventlog.bin"
    path.write_bytes(booted.log.to_bytes())
    out = tpm2_eventlog(path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.count("- EventNum:") == len(booted.log) + 1  # + Spec ID header
    for name in ("SecureBoot", "PK", "KEK", "db", "dbx"):
        assert f"UnicodeName: {name}\n" in out.stdout
    assert "EV_EFI_BOOT_SERVICES_APPLICATION" in out.stdout
    assert eventlog_pcrs(out.stdout) == {p: v for p, v in enumerate(booted.pcrs)
                                         if v != bytes(32)}


def test_tpm2_eventlog_and_our_parser_both_read_an_ascii_crtm_version(tmp_path: Path) -> None:
    """An 11-byte ASCII EV_S_CRTM_VERSION (not UCS-2): tpm2_eventlog reads the log, and so
    do we; the record's data is kept as Undecoded (a warning for the verifier)."""
    from vtalab.tpm.eventlog import EV_S_CRTM_VERSION, Undecoded, parse_eventlog

    tpm = make_tpm()
    tpm.power_on(0)
    tpm.startup_clear()
    tpm.extend(0, EV_S_CRTM_VERSION, b"U30 v2.90\x00\x00"[:11])
    path = tmp_path / "eventlog.bin"
    path.write_bytes(tpm.log.to_bytes())
    out = tpm2_eventlog(path)
    assert out.returncode == 0, out.stderr
    assert "EV_S_CRTM_VERSION" in out.stdout
    assert eventlog_pcrs(out.stdout) == {0: tpm.pcrs[0]}
    (record,) = parse_eventlog(path.read_bytes())
    assert isinstance(record.parsed, Undecoded) and "UCS-2" in record.parsed.problem


def test_activate_credential_opens_tpm2_makecredential_blob(tmp_path: Path) -> None:
    """tpm2_makecredential (offline, OpenSSL, random ephemeral key) → our ActivateCredential."""
    tpm = make_tpm()
    (tmp_path / "ek.pub").write_bytes(marshal_public(tpm.ek_public_area))
    secret = b"0123456789abcdef0123456789abcdef"
    (tmp_path / "secret.bin").write_bytes(secret)
    out = run_tool("tpm2_makecredential", "-T", "none", "-u", tmp_path / "ek.pub",
                   "-s", tmp_path / "secret.bin", "-n", tpm.ak_name.hex(),
                   "-o", tmp_path / "cred.out")
    assert out.returncode == 0, out.stderr
    blob, seed = credential_parts((tmp_path / "cred.out").read_bytes())
    assert tpm.activate_credential(blob, seed) == secret
    assert make_tpm(seed=99).activate_credential(blob, seed) is None
