"""A software TPM 2.0: SHA-256 PCRs, the boot counters, quotes and credential activation.

What the simulator needs from a host's TPM, and nothing else:

* **24 SHA-256 PCRs**, extended as ``PCR = SHA256(PCR || digest)``; every extend also
  appends a record to the host's TCG event log (firmware keeps the log, but keeping it
  beside the PCRs guarantees the two never drift apart).
* **Clock and counters** (Part 1 §36, Part 3 TPM2_Startup/TPM2_Shutdown): ``clock`` is
  milliseconds of powered time since manufacture (the caller passes simulated ms).
  ``Startup(CLEAR)`` after anything but ``Shutdown(STATE)`` is a *TPM Reset* —
  ``resetCount += 1``, ``restartCount = 0``, PCRs and log cleared; after
  ``Shutdown(STATE)`` it is a *TPM Restart* and ``Startup(STATE)`` a *TPM Resume* — both
  ``restartCount += 1`` (Resume keeps the PCRs). Losing power without an orderly
  ``TPM2_Shutdown`` means the saved clock may be stale: ``safe`` is 0 until the next
  orderly shutdown/startup cycle.
* **Quotes** signed by the AK (a restricted P-256 ECDSA key) over a ``TPMS_ATTEST``.
* **ActivateCredential** with the EK, to prove the AK and EK share this TPM.

Keys are passed in (derived from the world seed by the caller); nothing here is random.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vtalab.core import crypto
from vtalab.core.frozen import maker
from vtalab.errors import OperationError
from vtalab.tpm import credential, marshal
from vtalab.tpm.eventlog import EV_NO_ACTION, NUM_PCRS, Event, EventLog, Measurements

__all__ = ["NUM_PCRS", "Quote", "Tpm", "pcr_digest", "verify_quote"]

#: TPM_PT_FIRMWARE_VERSION_1/2 of the simulated part (vendor-defined; fixed for determinism).
DEFAULT_FIRMWARE_VERSION = 0x0007_0055_0000_0000

#: TPMS_ATTEST's magic and type
_MAGIC_TYPE = struct.Struct(">IH")


@functools.lru_cache(maxsize=256)
def _selection(pcrs: tuple[int, ...]) -> tuple[int, ...]:
    """A quote's PCR selection: ascending, without repeats, each a PCR this TPM has
    (``ValueError`` otherwise; errors are not remembered). Every quote of a host asks for
    the same PCRs, so this is worked out once."""
    selected = tuple(sorted(set(pcrs)))
    if any(not 0 <= p < NUM_PCRS for p in selected):
        raise ValueError("PCR index out of range")
    return selected


#: (id(key), encoder) -> (key, public area): a key's TPMT_PUBLIC, by the key's identity.
#: Keys come from ``crypto.derive_private_key`` (remembered), so every world built from
#: one seed gives a host's new TPM the same key objects, and reading their point back
#: out of OpenSSL costs more than the rest of a quote. The entry holds the key, so its id
#: cannot be reused while remembered. Two areas (EK, AK) per TPM: room for 10,000 hosts
#: several times over.
_AREAS: dict[tuple[int, Callable[[crypto.PrivateKey], bytes]],
             tuple[crypto.PrivateKey, bytes]] = {}
_AREAS_LIMIT = 2 * crypto.MEMO_SIZE


def _public_area(key: crypto.PrivateKey, encode: Callable[[crypto.PrivateKey], bytes]
                 ) -> bytes:
    held = _AREAS.get((id(key), encode))
    if held is not None and held[0] is key:
        return held[1]
    area = encode(key)
    if len(_AREAS) >= _AREAS_LIMIT:  # bounded: start afresh
        _AREAS.clear()
    _AREAS[(id(key), encode)] = (key, area)
    return area


def pcr_digest(values: list[bytes]) -> bytes:
    """The quote's ``pcrDigest``: SHA-256 over the selected PCR values in ascending order."""
    return crypto.sha256(b"".join(values))


@dataclass(frozen=True, slots=True)
class Quote:
    """What TPM2_Quote returns, plus the PCR values it covers (as ``tpm2_quote -o`` does)."""

    attest: bytes  #: marshalled TPMS_ATTEST
    signature: bytes  #: marshalled TPMT_SIGNATURE
    pcrs: tuple[int, ...]  #: quoted PCR indexes, ascending
    pcr_values: tuple[bytes, ...]  #: their values, in the same order

    @property
    def pcr_values_bin(self) -> bytes:
        """Concatenated 32-byte values (the ``-f pcrs.bin`` of ``tpm2_checkquote``)."""
        return b"".join(self.pcr_values)


#: ``Quote(...)`` at every attestation, without the frozen dataclass's ``__init__``
_quote = maker(Quote)


class Tpm:
    """One host's TPM. ``ek``/``ak`` are P-256 private keys supplied by the caller."""

    def __init__(self, ek: crypto.PrivateKey, ak: crypto.PrivateKey, *,
                 firmware_version: int = DEFAULT_FIRMWARE_VERSION) -> None:
        self.ek = ek
        self.ak = ak
        self.firmware_version = firmware_version
        self.ek_certificate_der: bytes | None = None  # provisioned by the caller
        self.pcrs: list[bytes] = [bytes(32)] * NUM_PCRS
        self.log = EventLog()
        self.reset_count = 0
        self.restart_count = 0
        self.safe = True
        self.powered = False
        self.started = False
        self._clock_base = 0  # clock (ms) saved at the last power-off
        self._powered_at = 0  # caller time (ms) of the last power-on
        self._now = 0  # caller time (ms) last seen
        # How the previous power cycle ended: "clear"/"state" for an orderly
        # TPM2_Shutdown, None for power loss. A new TPM counts as orderly.
        self._last_shutdown: str | None = "clear"
        self._shutdown_this_cycle: str | None = None
        #: (PCRs asked for when a tuple, their selection, their values, the
        #: TPMS_QUOTE_INFO over them) of the last quote: see :meth:`quote`
        self._quoted: tuple[Sequence[int] | None, tuple[int, ...], tuple[bytes, ...],
                            bytes] | None = None

    # -- identity (the keys never change, so their TPM encodings are computed once) --------
    @functools.cached_property
    def ek_public_area(self) -> bytes:
        return _public_area(self.ek, marshal.ek_public_area)

    @functools.cached_property
    def ak_public_area(self) -> bytes:
        return _public_area(self.ak, marshal.ak_public_area)

    @functools.cached_property
    def ek_name(self) -> bytes:
        return marshal.object_name(self.ek_public_area)

    @functools.cached_property
    def ak_name(self) -> bytes:
        return marshal.object_name(self.ak_public_area)

    @functools.cached_property
    def _attest_head(self) -> bytes:
        """The start of every TPMS_ATTEST this TPM's AK signs (:func:`marshal.attest_head`)."""
        return marshal.attest_head(self.ak_qualified_name)

    @functools.cached_property
    def ak_qualified_name(self) -> bytes:
        """The AK's qualified name, as created under the EK (``tpm2_createak`` layout)."""
        ek_qn = marshal.qualified_name(marshal.u32(marshal.TPM_RH_ENDORSEMENT), self.ek_name)
        return marshal.qualified_name(ek_qn, self.ak_name)

    # -- power and counters ----------------------------------------------------------------
    def _tick(self, now_ms: int | None) -> None:
        if now_ms is not None:
            if now_ms < self._now:
                raise OperationError(f"TPM time went backwards ({now_ms} < {self._now} ms)")
            self._now = now_ms

    @property
    def clock(self) -> int:
        """Milliseconds the TPM has been powered since manufacture."""
        if not self.powered:
            return self._clock_base
        return self._clock_base + (self._now - self._powered_at)

    def clock_info(self) -> marshal.ClockInfo:
        return marshal.ClockInfo(self.clock, self.reset_count, self.restart_count, self.safe)

    def power_on(self, now_ms: int) -> None:
        if self.powered:
            raise OperationError("TPM is already powered")
        self._tick(now_ms)
        self.powered = True
        self.started = False
        self._powered_at = now_ms
        self._shutdown_this_cycle = None

    def startup_clear(self) -> None:
        """TPM2_Startup(CLEAR): a TPM Reset, or a TPM Restart after Shutdown(STATE)."""
        self._require_power()
        if self._last_shutdown == "state":
            self.restart_count += 1  # TPM Restart
        else:
            self.reset_count += 1  # TPM Reset
            self.restart_count = 0
        self._startup_common()
        self.pcrs = [bytes(32)] * NUM_PCRS
        self.log = EventLog()

    def startup_state(self) -> None:
        """TPM2_Startup(STATE): a TPM Resume (only after Shutdown(STATE)); PCRs are kept."""
        self._require_power()
        if self._last_shutdown != "state":
            raise OperationError("TPM2_Startup(STATE) needs a preceding TPM2_Shutdown(STATE)")
        self.restart_count += 1
        self._startup_common()

    def _startup_common(self) -> None:
        if self.started:
            raise OperationError("TPM2_Startup already done this power cycle")
        # Only an orderly shutdown saved the clock, so only then is it safe.
        self.safe = self._last_shutdown is not None
        self.started = True

    def shutdown(self, orderly: bool = True, *, save_state: bool = False) -> None:
        """TPM2_Shutdown(CLEAR or STATE). ``orderly=False`` models the OS never sending it."""
        self._require_power()
        self._shutdown_this_cycle = ("state" if save_state else "clear") if orderly else None

    def power_off(self, now_ms: int | None = None) -> None:
        """Remove power; without a preceding :meth:`shutdown` this is a power loss."""
        self._require_power()
        self._tick(now_ms)
        self._clock_base = self.clock
        self.powered = False
        self.started = False
        self._last_shutdown = self._shutdown_this_cycle

    def _require_power(self) -> None:
        if not self.powered:
            raise OperationError("TPM is not powered")

    def _require_started(self) -> None:
        if not (self.powered and self.started):
            raise OperationError("TPM2_Startup has not been run")

    # -- measurement ------------------------------------------------------------------------
    def extend(self, pcr: int, event_type: int, event_data: bytes,
               digest: bytes | None = None) -> Event:
        """Extend ``pcr`` and log the event. ``digest`` defaults to SHA-256(event_data);
        pass it when the spec measures something other than the logged data (a firmware
        volume, a PE image, an esx-boot module payload)."""
        self._require_started()
        if digest is None:
            digest = crypto.sha256(event_data)
        event = Event.make(pcr, event_type, digest, event_data)
        if event_type != EV_NO_ACTION:  # informational records are logged, never extended
            self.pcrs[pcr] = crypto.sha256(self.pcrs[pcr] + digest)
        self.log.append(event)
        return event

    def measure(self, *batches: Measurements) -> None:
        """Extend and log prepared records, batch after batch: exactly :meth:`extend` of each
        record in order (the same PCR values, the same log), with the work done once per
        distinct batch and starting state (see :class:`~vtalab.tpm.eventlog.Measurements`)."""
        self._require_started()
        pcrs = self.pcrs
        for measurements in batches:
            selected = measurements.pcrs
            after = measurements.after(tuple([pcrs[p] for p in selected]))
            for p, value in zip(selected, after, strict=True):
                pcrs[p] = value
            self.log.extend(measurements)

    # -- attestation ------------------------------------------------------------------------
    def quote(self, nonce: bytes, pcrs: Sequence[int], now_ms: int | None = None) -> Quote:
        """TPM2_Quote with the AK over the SHA-256 PCRs ``pcrs`` (``nonce`` = extraData)."""
        self._require_started()
        self._tick(now_ms)
        if len(nonce) > 64:
            raise ValueError("qualifyingData is at most 64 bytes")
        # What the last quote selected, the PCR values it covered and the TPMS_QUOTE_INFO
        # over them: a host quotes the same PCRs at every attestation, and between two
        # boots their values do not change, so the digest is not computed again. The
        # values are compared every time (the same bytes objects unless a PCR was
        # extended or reset), which holds however ``self.pcrs`` was changed.
        held = self._quoted
        selected = (held[1] if held is not None and held[0] is pcrs  # the same tuple
                    else _selection(tuple(pcrs)))
        current = self.pcrs
        values = tuple([current[p] for p in selected])
        if held is None or held[1] is not selected or held[2] != values:
            held = (pcrs if type(pcrs) is tuple else None, selected, values,
                    marshal.attest_quote_info(selected, crypto.sha256(b"".join(values))))
            self._quoted = held
        # marshal.marshal_attest(self.ak_qualified_name, nonce, self.clock_info(), ...)
        # from its three parts, two of them kept (tests/tpm/test_quote_fast_path.py)
        attest = b"".join((self._attest_head, marshal.attest_middle(
            nonce, self.clock, self.reset_count, self.restart_count, self.safe,
            self.firmware_version), held[3]))
        r, s = crypto.ecdsa_sign(self.ak, attest)
        return _quote(attest, marshal.marshal_signature(r, s), selected, values)

    def activate_credential(self, credential_blob: bytes, encrypted_seed: bytes
                            ) -> bytes | None:
        """TPM2_ActivateCredential for this TPM's AK with its EK; ``None`` on failure."""
        return credential.activate_credential(self.ek, self.ak_name, credential_blob,
                                              encrypted_seed)


def verify_quote(ak_public: crypto.PublicKey, attest_bytes: bytes, signature_bytes: bytes,
                 nonce: bytes, pcr_values: list[bytes] | None = None) -> list[str]:
    """Problems with a quote (empty list = good): ``malformed_attest``, ``bad_magic``,
    ``bad_type``, ``nonce_mismatch``, ``malformed_signature``, ``bad_signature`` and, when
    ``pcr_values`` (in selection order) are given, ``pcr_digest_mismatch``."""
    problems: list[str] = []
    if not isinstance(attest_bytes, (bytes, bytearray, memoryview)) or len(attest_bytes) < 6:
        return ["malformed_attest"]
    magic, typ = _MAGIC_TYPE.unpack_from(attest_bytes, 0)
    if magic != marshal.TPM_GENERATED_VALUE:
        problems.append("bad_magic")
    if typ != marshal.TPM_ST_ATTEST_QUOTE:
        problems.append("bad_type")
    attest = None
    if typ == marshal.TPM_ST_ATTEST_QUOTE:
        try:
            attest = (marshal.parse_attest_shared(attest_bytes)
                      if type(attest_bytes) is bytes else marshal.parse_attest(attest_bytes))
        except ValueError:
            problems.append("malformed_attest")
    if attest is not None:
        if attest.extra_data != nonce:
            problems.append("nonce_mismatch")
        if pcr_values is not None and pcr_digest(list(pcr_values)) != attest.pcr_digest:
            problems.append("pcr_digest_mismatch")
    try:
        sig = marshal.parse_signature(signature_bytes)
    except ValueError:
        problems.append("malformed_signature")
    else:
        if sig.hash_alg != marshal.TPM_ALG_SHA256 or not crypto.ecdsa_verify(
                ak_public, attest_bytes, sig.r, sig.s):
            problems.append("bad_signature")
    return problems
