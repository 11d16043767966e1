"""Shell-out helpers for checking vtalab's TPM artefacts with the real tpm2-tools (5.4).

Missing tools are a test *failure*, never a skip: CI installs tpm2-tools, and a silently
skipped conformance test would let the artefacts drift from what real verifiers accept.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from vtalab.core import crypto
from vtalab.tpm import Quote, Tpm, marshal_public
from vtalab.tpm.files import tss_pcrs_file
from vtalab.tpm.marshal import Reader

__all__ = [
    "QuoteFiles",
    "credential_parts",
    "eventlog_pcrs",
    "require_tool",
    "run_tool",
    "tss_pcrs_file",
    "tpm2_checkquote",
    "tpm2_eventlog",
    "tpm2_print",
    "write_quote_files",
]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found on PATH: install tpm2-tools 5.4 (conformance tests "
                    "must not be skipped)")
    return path


def run_tool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tpm2-tools command; never raises on a non-zero exit (callers assert)."""
    exe = require_tool(str(args[0]))
    return subprocess.run([exe, *map(str, args[1:])], capture_output=True, text=True,
                          cwd=cwd, timeout=60, check=False)


@dataclass(frozen=True)
class QuoteFiles:
    """The files ``tpm2_checkquote`` reads, written by :func:`write_quote_files`."""

    ak_pem: Path  #: AK public key, PEM SubjectPublicKeyInfo
    ak_pub: Path  #: AK public key, TSS TPM2B_PUBLIC
    message: Path  #: TPMS_ATTEST
    signature: Path  #: TPMT_SIGNATURE
    pcrs: Path  #: concatenated 32-byte PCR values, in selection (ascending) order
    pcrs_tss: Path  #: the same values in tpm2-tools' serialized struct layout
    eventlog: Path  #: TCG crypto-agile event log
    pcr_list: str  #: e.g. "sha256:0,7,11,12,13,14"


def write_quote_files(directory: Path, tpm: Tpm, quote: Quote) -> QuoteFiles:
    directory.mkdir(parents=True, exist_ok=True)
    files = QuoteFiles(directory / "ak.pub.pem", directory / "ak.pub", directory / "quote.msg",
                       directory / "quote.sig", directory / "pcrs.bin",
                       directory / "pcrs.tss",
                       directory / "eventlog.bin",
                       "sha256:" + ",".join(str(p) for p in quote.pcrs))
    files.ak_pem.write_bytes(crypto.public_pem(tpm.ak))
    files.ak_pub.write_bytes(marshal_public(tpm.ak_public_area))
    files.message.write_bytes(quote.attest)
    files.signature.write_bytes(quote.signature)
    files.pcrs.write_bytes(quote.pcr_values_bin)
    files.pcrs_tss.write_bytes(tss_pcrs_file(list(quote.pcrs), list(quote.pcr_values)))
    files.eventlog.write_bytes(tpm.log.to_bytes())
    return files


def tpm2_checkquote(files: QuoteFiles, nonce: bytes, *, pcrs: Path | None = None,
                    serialized: bool = False, eventlog: bool = False,
                    use_tss_public: bool = False) -> subprocess.CompletedProcess[str]:
    """``tpm2_checkquote -u ak.pub.pem -m quote.msg -s quote.sig -f pcrs.bin
    -l sha256:<list> -g sha256 -q <nonce hex> [-e eventlog.bin]``; with ``serialized``
    the PCR file is :func:`tss_pcrs_file` and ``-l`` is omitted (any number of PCRs)."""
    pcr_file = pcrs or (files.pcrs_tss if serialized else files.pcrs)
    args: list[str | Path] = [
        "tpm2_checkquote", "-u", files.ak_pub if use_tss_public else files.ak_pem,
        "-m", files.message, "-s", files.signature, "-f", pcr_file,
        "-g", "sha256", "-q", nonce.hex()]
    if not serialized:
        args += ["-l", files.pcr_list]
    if eventlog:
        args += ["-e", files.eventlog]
    return run_tool(*args)


def tpm2_print(type_name: str, path: Path) -> subprocess.CompletedProcess[str]:
    return run_tool("tpm2_print", "-t", type_name, path)


def tpm2_eventlog(path: Path) -> subprocess.CompletedProcess[str]:
    return run_tool("tpm2_eventlog", path)


_PCR_LINE = re.compile(r"^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]{64})\s*$")


def eventlog_pcrs(stdout: str) -> dict[int, bytes]:
    """The final ``pcrs: sha256:`` block of ``tpm2_eventlog`` output."""
    _, _, tail = stdout.rpartition("\npcrs:\n")
    if not tail:
        raise AssertionError("no 'pcrs:' block in tpm2_eventlog output")
    out: dict[int, bytes] = {}
    bank = None
    for line in tail.splitlines():
        if line.strip().endswith(":") and not _PCR_LINE.match(line):
            bank = line.strip()[:-1]
            continue
        m = _PCR_LINE.match(line)
        if m and bank == "sha256":
            out[int(m.group(1))] = bytes.fromhex(m.group(2))
    return out


def credential_parts(raw: bytes) -> tuple[bytes, bytes]:
    """``(credential_blob, encrypted_seed)`` of a tpm2_makecredential output file (its
    tpm2-tools header, then the two TPM2B structures, each with its size)."""
    r = Reader(raw)
    assert r.take(8) == bytes.fromhex("badcc0de00000001")  # tpm2-tools file header
    start = r.pos
    r.tpm2b()
    blob = raw[start:r.pos]
    start = r.pos
    r.tpm2b()
    seed = raw[start:r.pos]
    r.end()
    return blob, seed
