"""A software TPM 2.0 whose artefacts real tpm2-tools accept.

* :mod:`~vtalab.tpm.marshal` — TPM 2.0 wire structures (quotes, signatures, public areas).
* :mod:`~vtalab.tpm.eventlog` — the TCG crypto-agile event log, parse and replay.
* :mod:`~vtalab.tpm.credential` — MakeCredential/ActivateCredential (AK bound to EK).
* :mod:`~vtalab.tpm.device` — the TPM: PCRs, clock and boot counters, quotes.

What firmware and esx-boot measure into it on a full boot is :mod:`vtalab.esxi.measure`.
"""

from vtalab.tpm.credential import activate_credential, make_credential
from vtalab.tpm.device import NUM_PCRS, Quote, Tpm, pcr_digest, verify_quote
from vtalab.tpm.eventlog import Event, EventLog, parse_eventlog, replay
from vtalab.tpm.marshal import (
    Attest,
    ClockInfo,
    EccPublic,
    Signature,
    ak_public_area,
    ek_public_area,
    marshal_public,
    object_name,
    parse_attest,
    parse_public,
    parse_signature,
)

__all__ = [
    "NUM_PCRS",
    "Attest",
    "ClockInfo",
    "EccPublic",
    "Event",
    "EventLog",
    "Quote",
    "Signature",
    "Tpm",
    "activate_credential",
    "ak_public_area",
    "ek_public_area",
    "make_credential",
    "marshal_public",
    "object_name",
    "parse_attest",
    "parse_eventlog",
    "parse_public",
    "parse_signature",
    "pcr_digest",
    "replay",
    "verify_quote",
]
