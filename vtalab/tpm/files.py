"""Files for the real tpm2-tools: the PCR file ``tpm2_checkquote -f`` reads, and the
verification command line for a directory written from :meth:`vtalab.world.assembly.World.evidence`.

Why a special PCR file
----------------------
``tpm2_checkquote`` (tpm2-tools 5.4) accepts the quoted PCR values in two forms:

* ``-f pcrs.bin -l sha256:0,1,...`` — the raw 32-byte values concatenated in selection
  order. 5.4's reader for this form (``pcrs_from_file``) is broken for **8 or more PCRs**:
  it moves on to a new ``TPML_DIGEST`` when a list holds 7 digests but never counts the
  8th, so every 8th value is dropped and the tool fails with "Something wrong, trying to
  print but nothing more". vTA quotes 12 PCRs (0–7 and 11–14), so this form cannot work.
* ``-f pcrs.out`` **without** ``-l`` — the file ``tpm2_quote -o`` writes, which is the
  tool's in-memory C structures dumped as they are (``tpm2_util_pcr_fwrite`` / ``pcr_fread``
  in 5.4, x86-64, little-endian, natural alignment). This form handles any number of PCRs
  and is what :func:`tss_pcrs_file` produces.

The layout of that file:

========  ====================================================================
bytes     content
========  ====================================================================
132       ``TPML_PCR_SELECTION``: UINT32 ``count`` (1) and 16 ``TPMS_PCR_SELECTION``
          of 8 bytes each — UINT16 ``hash`` (``TPM_ALG_SHA256`` = 0x000B), UINT8
          ``sizeofSelect`` (3), 4-byte ``pcrSelect`` bitmap, 1 padding byte; only the
          first is used, the other 15 are zero.
4         UINT32: the number of ``TPML_DIGEST`` lists that follow (``ceil(n / 8)``).
532 each  ``TPML_DIGEST``: UINT32 ``count`` (≤ 8) and 8 ``TPM2B_DIGEST`` of 66 bytes —
          UINT16 ``size`` (32) and a 64-byte buffer (the value, zero-padded); unused
          entries are zero.
========  ====================================================================

The values go in ascending PCR order, 8 per list (the tool's own chunking).
"""

from __future__ import annotations

import shlex
import struct
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

__all__ = [
    "CHECKQUOTE_FILES",
    "PCRS_OUT",
    "checkquote_command",
    "tss_pcrs_file",
]

_TPM_ALG_SHA256 = 0x000B
_PCR_SELECT_MAX = 3  # sizeofSelect for 24 PCRs
_SELECTIONS = 16  # TPM2_NUM_PCR_BANKS: TPMS_PCR_SELECTION slots in a TPML_PCR_SELECTION
_DIGESTS_PER_LIST = 8  # TPML_DIGEST holds at most 8 digests
_DIGEST_BUFFER = 64  # sizeof(TPMU_HA): the buffer of a TPM2B_DIGEST

#: The name ``World.evidence`` gives the :func:`tss_pcrs_file` PCR file.
PCRS_OUT = "pcrs.out"

#: The evidence files ``tpm2_checkquote`` reads (see :func:`checkquote_command`).
CHECKQUOTE_FILES = ("ak.pub.pem", "quote.msg", "quote.sig", PCRS_OUT, "eventlog.bin",
                    "nonce.hex")


def tss_pcrs_file(pcrs: Sequence[int], values: Sequence[bytes]) -> bytes:
    """The SHA-256 PCR values ``values`` of PCRs ``pcrs`` in the ``tpm2_quote -o`` layout
    that ``tpm2_checkquote -f FILE`` reads when ``-l`` is **not** given (module docstring).

    ``pcrs`` must be ascending and unique (a quote's selection order); every value is
    32 bytes. Works for any number of PCRs, unlike 5.4's ``-l`` reader.
    """
    pcrs = list(pcrs)
    values = list(values)
    if len(pcrs) != len(values):
        raise ValueError(f"{len(pcrs)} PCR indexes but {len(values)} values")
    if pcrs != sorted(set(pcrs)):
        raise ValueError("PCR indexes must be ascending and unique (the quote's order)")
    if any(not 0 <= p < 8 * _PCR_SELECT_MAX for p in pcrs):
        raise ValueError("PCR index out of range (0-23)")
    if any(len(v) != 32 for v in values):
        raise ValueError("SHA-256 PCR values are 32 bytes")
    bitmap = bytearray(4)  # pcrSelect[TPM2_PCR_SELECT_MAX = 4]; sizeofSelect says 3 are used
    for p in pcrs:
        bitmap[p // 8] |= 1 << (p % 8)
    first = struct.pack("<HB", _TPM_ALG_SHA256, _PCR_SELECT_MAX) + bytes(bitmap) + b"\x00"
    out = struct.pack("<I", 1) + first + bytes(8 * (_SELECTIONS - 1))
    lists = [values[i:i + _DIGESTS_PER_LIST] for i in range(0, len(values), _DIGESTS_PER_LIST)]
    out += struct.pack("<I", len(lists))
    for chunk in lists:
        out += struct.pack("<I", len(chunk))
        out += b"".join(struct.pack("<H", len(v)) + v.ljust(_DIGEST_BUFFER, b"\x00")
                        for v in chunk)
        out += bytes((2 + _DIGEST_BUFFER) * (_DIGESTS_PER_LIST - len(chunk)))
    return out


def checkquote_command(directory: str | PathLike[str]) -> str:
    """The ``tpm2_checkquote`` command line that verifies evidence written to ``directory``
    (one file per key of ``World.evidence``), to run from inside that directory::

        tpm2_checkquote -u ak.pub.pem -m quote.msg -s quote.sig -f pcrs.out -g sha256 \\
            -q <nonce hex> -e eventlog.bin

    It checks the AK signature, the nonce, that the PCR values give the quoted digest,
    and that replaying the event log gives those PCR values. No ``-l``: with 8 or more PCRs
    5.4 needs the ``pcrs.out`` layout (see the module docstring). The nonce is read from
    ``nonce.hex`` in ``directory``.
    """
    nonce = Path(directory, "nonce.hex").read_text(encoding="ascii").strip()
    bytes.fromhex(nonce)  # refuse anything that is not hex before it reaches a shell
    return ("tpm2_checkquote -u ak.pub.pem -m quote.msg -s quote.sig -f "
            f"{PCRS_OUT} -g sha256 -q {shlex.quote(nonce)} -e eventlog.bin")
