"""The TCG PC Client crypto-agile event log (``EFI_TCG2_EVENT_LOG_FORMAT_TCG_2``).

A TPM only keeps PCR *values*; the firmware and bootloader keep a log of *what* they
extended so a verifier can replay it. The log format (TCG PC Client Platform Firmware
Profile, §10) is **little-endian** (it is a UEFI structure, unlike TPM wire structures):

* first a ``TCG_PCClientPCREvent`` in the old SHA-1 layout (``pcrIndex`` 0,
  ``EV_NO_ACTION``, 20 zero bytes) whose data is the ``TCG_EfiSpecIDEventStruct``
  ("Spec ID Event03") announcing the digest banks — here only SHA-256 (32 bytes);
* then one ``TCG_PCR_EVENT2`` per measurement: ``pcrIndex``, ``eventType``,
  ``TPML_DIGEST_VALUES`` (count 1, SHA-256), ``eventSize`` and the event data.

Replaying proves only the PCR index and digest of each record: the event type and data
are *claims* a verifier must check against the digest where the spec makes them the
measured thing (``EV_SEPARATOR``, ``EV_EFI_VARIABLE_DRIVER_CONFIG`` ...).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from vtalab.core import crypto

__all__ = [
    "EFI_GLOBAL_VARIABLE",
    "EFI_IMAGE_SECURITY_DATABASE_GUID",
    "EV_ACTION",
    "EV_EFI_ACTION",
    "EV_EFI_BOOT_SERVICES_APPLICATION",
    "EV_EFI_BOOT_SERVICES_DRIVER",
    "EV_EFI_GPT_EVENT",
    "EV_EFI_HANDOFF_TABLES",
    "EV_EFI_PLATFORM_FIRMWARE_BLOB",
    "EV_EFI_VARIABLE_AUTHORITY",
    "EV_EFI_VARIABLE_BOOT",
    "EV_EFI_VARIABLE_DRIVER_CONFIG",
    "EV_EVENT_TAG",
    "EV_IPL",
    "EV_NO_ACTION",
    "EV_POST_CODE",
    "EV_S_CRTM_CONTENTS",
    "EV_S_CRTM_VERSION",
    "EV_SEPARATOR",
    "Event",
    "EventLog",
    "FirmwareBlob",
    "ImageLoad",
    "Measurements",
    "TaggedEvent",
    "UefiVariable",
    "Undecoded",
    "DevicePathNode",
    "decode_event_data",
    "device_path",
    "device_path_files",
    "device_path_text",
    "dp_file",
    "dp_hard_drive",
    "dp_pci",
    "dp_pci_root",
    "dp_sata",
    "firmware_blob_data",
    "parse_device_path",
    "guid_bytes",
    "image_load_data",
    "parse_eventlog",
    "replay",
    "share_run",
    "tagged_event_data",
    "uefi_variable_data",
]

EV_PREBOOT_CERT = 0x0
EV_POST_CODE = 0x1
EV_NO_ACTION = 0x3
EV_SEPARATOR = 0x4
EV_ACTION = 0x5
EV_EVENT_TAG = 0x6
EV_S_CRTM_CONTENTS = 0x7
EV_S_CRTM_VERSION = 0x8
EV_CPU_MICROCODE = 0x9
EV_PLATFORM_CONFIG_FLAGS = 0xA
EV_TABLE_OF_DEVICES = 0xB
EV_IPL = 0xD
EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
EV_EFI_VARIABLE_BOOT = 0x80000002
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004
EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005
EV_EFI_GPT_EVENT = 0x80000006
EV_EFI_ACTION = 0x80000007
EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008
EV_EFI_HANDOFF_TABLES = 0x80000009
EV_EFI_VARIABLE_AUTHORITY = 0x800000E0

#: Owner of SecureBoot, PK, KEK (UEFI spec §3.3).
EFI_GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
#: Owner of db and dbx (UEFI spec §32.6).
EFI_IMAGE_SECURITY_DATABASE_GUID = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"

TPM_ALG_SHA256 = 0x000B
_SPEC_ID_SIGNATURE = b"Spec ID Event03\x00"
_STARTUP_LOCALITY_SIGNATURE = b"StartupLocality\x00"
_MAX_EVENT_SIZE = 1 << 24  # sanity bound so a hostile size cannot make us allocate GBs
NUM_PCRS = 24


# -- event data structures ------------------------------------------------------------
def guid_bytes(guid: str) -> bytes:
    """An ``EFI_GUID`` in memory order (first three fields little-endian)."""
    raw = bytes.fromhex(guid.replace("-", ""))
    if len(raw) != 16:
        raise ValueError(f"bad GUID {guid!r}")
    return raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]


def _guid_text(raw: bytes) -> str:
    h = (raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class UefiVariable:
    """``UEFI_VARIABLE_DATA``: a measured UEFI variable (owner GUID, name, contents)."""

    guid: str
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class TaggedEvent:
    """``TCG_PCClientTaggedEvent``: a vendor tag and its data (esx-boot uses these)."""

    tag_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class FirmwareBlob:
    """``UEFI_PLATFORM_FIRMWARE_BLOB``: where a measured firmware volume lives."""

    base: int
    length: int


@dataclass(frozen=True, slots=True)
class ImageLoad:
    """``UEFI_IMAGE_LOAD_EVENT``: a PE/COFF image the firmware started."""

    location: int
    length: int
    link_time_address: int
    device_path: bytes


def uefi_variable_data(guid: str, name: str, data: bytes) -> bytes:
    encoded = name.encode("utf-16-le")
    return (guid_bytes(guid) + struct.pack("<QQ", len(name), len(data)) + encoded + data)


def tagged_event_data(tag_id: int, data: bytes) -> bytes:
    return struct.pack("<II", tag_id, len(data)) + data


def firmware_blob_data(base: int, length: int) -> bytes:
    return struct.pack("<QQ", base, length)


def image_load_data(location: int, length: int, device_path: bytes = b"") -> bytes:
    return struct.pack("<QQQQ", location, length, 0, len(device_path)) + device_path


# -- UEFI device paths (UEFI 2.10 §10.3), what an image-load record says it was loaded from --
_DP_END = b"\x7f\xff\x04\x00"  # End of Hardware Device Path, End Entire Device Path


@dataclass(frozen=True, slots=True)
class DevicePathNode:
    """One ``EFI_DEVICE_PATH_PROTOCOL`` node: type, sub-type and the bytes after the header."""

    type: int
    subtype: int
    data: bytes


def device_path(*nodes: bytes) -> bytes:
    """The nodes followed by the End Entire Device Path node."""
    return b"".join(nodes) + _DP_END


def dp_pci_root(uid: int = 0) -> bytes:
    """ACPI ``PciRoot(uid)``: _HID PNP0A03 in EISA form (§10.3.3)."""
    return struct.pack("<BBHII", 2, 1, 12, 0x0A0341D0, uid)


def dp_pci(device: int, function: int) -> bytes:
    """Hardware ``Pci(device,function)`` (§10.3.2.1; the function byte comes first)."""
    return struct.pack("<BBHBB", 1, 1, 6, function, device)


def dp_sata(port: int, multiplier_port: int = 0xFFFF, lun: int = 0) -> bytes:
    """Messaging ``Sata(port,multiplier,lun)`` (§10.3.4.6; 0xFFFF: directly attached)."""
    return struct.pack("<BBHHHH", 3, 0x12, 10, port, multiplier_port, lun)


def dp_hard_drive(number: int, start: int, size: int, partition_guid: str) -> bytes:
    """Media ``HD(number,GPT,guid,start,size)`` (§10.3.5.1; start and size in LBAs)."""
    return (struct.pack("<BBHIQQ", 4, 1, 42, number, start, size)
            + guid_bytes(partition_guid) + bytes([0x02, 0x02]))  # GPT, GUID signature


def dp_file(path: str) -> bytes:
    """Media File Path (§10.3.5.4): the path as a NUL-terminated UCS-2 string."""
    name = (path + "\x00").encode("utf-16-le")
    return struct.pack("<BBH", 4, 4, 4 + len(name)) + name


def parse_device_path(data: bytes) -> list[DevicePathNode]:
    """The nodes of a device path up to its End Entire node; ``ValueError`` if malformed."""
    nodes: list[DevicePathNode] = []
    pos = 0
    while True:
        if pos + 4 > len(data):
            raise ValueError("device path ends without an End Entire Device Path node")
        typ, sub, length = struct.unpack_from("<BBH", data, pos)
        if length < 4 or pos + length > len(data):
            raise ValueError(f"device path node at {pos} has a bad length {length}")
        if (typ, sub) == (0x7F, 0xFF):
            if pos + length != len(data):
                raise ValueError("bytes after the End Entire Device Path node")
            return nodes
        nodes.append(DevicePathNode(typ, sub, data[pos + 4:pos + length]))
        pos += length


def _file_node_path(n: DevicePathNode) -> str:
    if len(n.data) % 2:
        raise ValueError("File Path node is not UCS-2")
    try:
        return n.data.decode("utf-16-le").rstrip("\x00")
    except UnicodeDecodeError as exc:
        raise ValueError(f"bad File Path node: {exc}") from None


def _node_text(n: DevicePathNode) -> str:
    d = n.data
    if (n.type, n.subtype) == (2, 1) and len(d) == 8 and d[:4] == b"\xd0\x41\x03\x0a":
        return f"PciRoot(0x{struct.unpack_from('<I', d, 4)[0]:X})"
    if (n.type, n.subtype) == (1, 1) and len(d) == 2:
        return f"Pci(0x{d[1]:X},0x{d[0]:X})"
    if (n.type, n.subtype) == (3, 0x12) and len(d) == 6:
        port, mult, lun = struct.unpack("<HHH", d)
        return f"Sata(0x{port:X},0x{mult:X},0x{lun:X})"
    if (n.type, n.subtype) == (4, 1) and len(d) == 38 and d[36:38] == b"\x02\x02":
        number, start, size = struct.unpack_from("<IQQ", d)
        return f"HD({number},GPT,{_guid_text(d[20:36]).upper()},0x{start:X},0x{size:X})"
    if (n.type, n.subtype) == (4, 4):
        return _file_node_path(n)
    return f"Path({n.type},{n.subtype},{d.hex().upper()})"


def device_path_text(data: bytes) -> str:
    """The UEFI text form (§10.6) of the nodes vtalab writes; others as ``Path(t,s,hex)``."""
    return "/".join(_node_text(n) for n in parse_device_path(data))


def device_path_files(data: bytes) -> str | None:
    """The file a device path names (its File Path nodes joined), or None if it names none."""
    parts = [_file_node_path(n) for n in parse_device_path(data) if (n.type, n.subtype) == (4, 4)]
    return "".join(parts) if parts else None


def decode_event_data(event_type: int, data: bytes
                      ) -> UefiVariable | TaggedEvent | FirmwareBlob | ImageLoad | str | None:
    """The structured form of ``data`` for ``event_type``; ``ValueError`` if malformed.

    Types whose data is free-form (``EV_SEPARATOR``, ``EV_POST_CODE`` ...) decode to
    ``None``; text events (``EV_EFI_ACTION``, ``EV_ACTION``, ``EV_S_CRTM_VERSION``) to str.
    """
    if event_type in (EV_EFI_VARIABLE_DRIVER_CONFIG, EV_EFI_VARIABLE_BOOT,
                      EV_EFI_VARIABLE_AUTHORITY):
        if len(data) < 32:
            raise ValueError("UEFI_VARIABLE_DATA too short")
        n_chars, n_data = struct.unpack_from("<QQ", data, 16)
        if 32 + 2 * n_chars + n_data != len(data):
            raise ValueError("UEFI_VARIABLE_DATA lengths do not match the event size")
        try:
            name = data[32:32 + 2 * n_chars].decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise ValueError(f"bad variable name: {exc}") from None
        return UefiVariable(_guid_text(data[:16]), name, data[32 + 2 * n_chars:])
    if event_type == EV_EVENT_TAG:
        if len(data) < 8:
            raise ValueError("TCG_PCClientTaggedEvent too short")
        tag_id, size = struct.unpack_from("<II", data)
        if 8 + size != len(data):
            raise ValueError("taggedEventDataSize does not match the event size")
        return TaggedEvent(tag_id, data[8:])
    if event_type == EV_EFI_PLATFORM_FIRMWARE_BLOB:
        if len(data) != 16:
            raise ValueError("UEFI_PLATFORM_FIRMWARE_BLOB must be 16 bytes")
        return FirmwareBlob(*struct.unpack("<QQ", data))
    if event_type in (EV_EFI_BOOT_SERVICES_APPLICATION, EV_EFI_BOOT_SERVICES_DRIVER,
                      EV_EFI_RUNTIME_SERVICES_DRIVER):
        if len(data) < 32:
            raise ValueError("UEFI_IMAGE_LOAD_EVENT too short")
        loc, length, link, dp_len = struct.unpack_from("<QQQQ", data)
        if 32 + dp_len != len(data):
            raise ValueError("LengthOfDevicePath does not match the event size")
        return ImageLoad(loc, length, link, data[32:])
    if event_type == EV_S_CRTM_VERSION:
        if len(data) % 2:
            raise ValueError("EV_S_CRTM_VERSION must be UCS-2")
        try:
            return data.decode("utf-16-le").rstrip("\x00")
        except UnicodeDecodeError as exc:
            raise ValueError(f"bad CRTM version string: {exc}") from None
    if event_type in (EV_EFI_ACTION, EV_ACTION):
        try:
            return data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ValueError(f"action string is not ASCII: {exc}") from None
    return None


@dataclass(frozen=True, slots=True)
class Undecoded:
    """The data of a record whose type promises a structure it does not have.

    Kept instead of failing the whole log for types whose data a verifier only reads as
    a claim (``EV_S_CRTM_VERSION``, ``EV_EFI_ACTION``, image-load and firmware-blob
    records ...): ``tpm2_eventlog`` prints such a record and goes on, and so does the
    parser; the verifier reports it as a warning. Types whose data is the measured thing
    or is read as evidence (UEFI variables, tagged events) stay strict.
    """

    problem: str


#: Event types whose malformed data fails the parse (the rest become :class:`Undecoded`).
STRICT_TYPES = frozenset({EV_EFI_VARIABLE_DRIVER_CONFIG, EV_EFI_VARIABLE_BOOT,
                          EV_EFI_VARIABLE_AUTHORITY, EV_EVENT_TAG})


# -- records --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Event:
    """One ``TCG_PCR_EVENT2`` (SHA-256 bank only), with its decoded data."""

    pcr: int
    event_type: int
    digest: bytes
    data: bytes
    parsed: UefiVariable | TaggedEvent | FirmwareBlob | ImageLoad | Undecoded | str | None = (
        field(default=None, compare=False))

    @classmethod
    def make(cls, pcr: int, event_type: int, digest: bytes, data: bytes) -> Event:
        if cls is Event and type(digest) is bytes and type(data) is bytes:
            return _make_shared(pcr, event_type, digest, data)
        return cls._make(pcr, event_type, digest, data)

    @classmethod
    def _make(cls, pcr: int, event_type: int, digest: bytes, data: bytes) -> Event:
        if not 0 <= pcr < NUM_PCRS:
            raise ValueError(f"PCR {pcr} out of range")
        if len(digest) != 32:
            raise ValueError("SHA-256 digest must be 32 bytes")
        parsed: UefiVariable | TaggedEvent | FirmwareBlob | ImageLoad | Undecoded | str | None
        try:
            parsed = decode_event_data(event_type, data)
        except ValueError as exc:
            if event_type in STRICT_TYPES:
                raise
            parsed = Undecoded(str(exc))
        return cls(pcr, event_type, bytes(digest), bytes(data), parsed)

    def to_bytes(self) -> bytes:
        return (struct.pack("<IIIH", self.pcr, self.event_type, 1, TPM_ALG_SHA256)
                + self.digest + struct.pack("<I", len(self.data)) + self.data)


@functools.lru_cache(maxsize=4 * crypto.MEMO_SIZE, typed=True)
def _make_shared(pcr: int, event_type: int, digest: bytes, data: bytes) -> Event:
    """``Event.make``, remembered: a record is immutable and a pure function of its
    fields, and every boot of a host measures the same records again."""
    return Event._make(pcr, event_type, digest, data)


def _spec_id_event() -> bytes:
    # TCG_EfiSpecIDEventStruct: platformClass 0 (client), spec 2.0 errata 0,
    # uintnSize 2 (UINT64 firmware), one algorithm (SHA-256, 32 bytes), no vendor info.
    body = (_SPEC_ID_SIGNATURE + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1)
            + struct.pack("<HH", TPM_ALG_SHA256, 32) + b"\x00")
    return struct.pack("<II", 0, EV_NO_ACTION) + bytes(20) + struct.pack("<I", len(body)) + body


#: The log's first record (the same for every log vtalab writes).
_SPEC_ID_EVENT = _spec_id_event()
#: How many starting PCR states a :class:`Measurements` remembers its result for.
_AFTER_LIMIT = 16


def _extend_chain(value: bytes, digests: tuple[bytes, ...]) -> bytes:
    for digest in digests:
        value = crypto.sha256(value + digest)
    return value


class Measurements:
    """Records one measuring party extends in one go (the firmware's, esx-boot's),
    prepared once and applied to a TPM by :meth:`vtalab.tpm.device.Tpm.measure`.

    Applying them is extending each record in order, exactly: the same log records and the
    same PCR values. Both are pure functions -- of the records, and of the PCRs' values
    before -- and every full boot of a host measures the same records from the same reset
    state, so the records' serialisation and, for each starting state seen (at most
    :data:`_AFTER_LIMIT`), the PCR values after are worked out once. The records are
    frozen; a ``Measurements`` is never changed after it is made.
    """

    __slots__ = ("_after", "_chains", "_serialised", "events", "pcrs")

    def __init__(self, events: Iterable[Event]) -> None:
        #: the records, in measurement order
        self.events: tuple[Event, ...] = tuple(events)
        chains: dict[int, list[bytes]] = {}
        for e in self.events:
            if e.event_type != EV_NO_ACTION:  # informational records are never extended
                chains.setdefault(e.pcr, []).append(e.digest)
        #: the PCRs the records extend, ascending
        self.pcrs: tuple[int, ...] = tuple(sorted(chains))
        self._chains = tuple(tuple(chains[p]) for p in self.pcrs)
        self._after: dict[tuple[bytes, ...], tuple[bytes, ...]] = {}
        self._serialised: bytes | None = None

    def __len__(self) -> int:
        return len(self.events)

    def after(self, before: tuple[bytes, ...]) -> tuple[bytes, ...]:
        """The values of :attr:`pcrs` once the records are extended into them, from their
        values ``before`` (in the same order)."""
        after = self._after.get(before)
        if after is None:
            if len(before) != len(self.pcrs):
                raise ValueError(f"{len(before)} PCR values for {len(self.pcrs)} PCRs")
            after = tuple([_extend_chain(v, chain)
                           for v, chain in zip(before, self._chains, strict=True)])
            if len(self._after) >= _AFTER_LIMIT:  # bounded: start afresh
                self._after.clear()
            self._after[before] = after
        return after

    @property
    def serialised(self) -> bytes:
        """The records as the log holds them (one ``TCG_PCR_EVENT2`` each)."""
        data = self._serialised
        if data is None:
            data = self._serialised = b"".join(e.to_bytes() for e in self.events)
        return data


class EventLog:
    """An in-memory crypto-agile event log (the header is implicit)."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.events: list[Event] = list(events)
        # The log is append-only and its records are frozen, so the serialisation of the
        # first n records never changes: ``_bytes`` holds it for the first ``_done``
        # records (a host presents the same log at every attestation between two full
        # boots). ``_pending`` are prepared batches appended after those, not joined yet.
        self._done = 0
        self._bytes = _SPEC_ID_EVENT
        self._pending: list[Measurements] = []
        self._pending_count = 0
        #: (index, batch) of each shared run :func:`parse_eventlog` took whole, in order:
        #: what :func:`replay` may fold in one step (checked against the records first)
        self.runs: tuple[tuple[int, Measurements], ...] = ()

    def append(self, event: Event) -> None:
        self.events.append(event)

    def extend(self, measurements: Measurements) -> None:
        """Append prepared records (their serialisation is remembered with them)."""
        if self._done + self._pending_count == len(self.events):
            self._pending.append(measurements)
            self._pending_count += len(measurements.events)
        self.events.extend(measurements.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def to_bytes(self) -> bytes:
        n = len(self.events)
        if self._done == n:
            return self._bytes
        if self._done + self._pending_count > n:  # records were removed behind our back
            self._done, self._bytes = 0, _SPEC_ID_EVENT
            self._pending, self._pending_count = [], 0
        start = self._done + self._pending_count
        data = b"".join([self._bytes, *[m.serialised for m in self._pending],
                         *[e.to_bytes() for e in self.events[start:]]])
        self._done, self._bytes = n, data
        self._pending, self._pending_count = [], 0
        return data


def _parse_header(data: bytes) -> int:
    if len(data) < 32:
        raise ValueError("event log too short for the Spec ID header")
    pcr, etype = struct.unpack_from("<II", data)
    (size,) = struct.unpack_from("<I", data, 28)
    if pcr != 0 or etype != EV_NO_ACTION or data[8:28] != bytes(20):
        raise ValueError("first record is not an EV_NO_ACTION Spec ID event")
    body = data[32:32 + size]
    if len(body) != size or size < 29 or body[:16] != _SPEC_ID_SIGNATURE:
        raise ValueError("missing 'Spec ID Event03' signature")
    (n_algs,) = struct.unpack_from("<I", body, 24)
    if 28 + 4 * n_algs + 1 > size:
        raise ValueError("Spec ID algorithm list overruns the event")
    algs = [struct.unpack_from("<HH", body, 28 + 4 * i) for i in range(n_algs)]
    if algs != [(TPM_ALG_SHA256, 32)]:
        raise ValueError(f"unsupported digest banks {algs} (only SHA-256 is modelled)")
    return 32 + size


#: Runs of records many logs hold alike (a server model's firmware records, an image's
#: esx-boot records: :func:`share_run`), by their first record's header and digest: their
#: serialisation and the records it parses to.
#: How many runs are kept (one per server model and per image in use; full, it starts afresh).
_RUNS_LIMIT = 256
_RUNS = crypto.Memo(_RUNS_LIMIT)
#: A shared run: its serialisation, the records it parses to, and the batch it came from
#: when :func:`replay` may fold that batch's PCR values in one step (None: it may not).
_Run = tuple[bytes, tuple[Event, ...], "Measurements | None"]
#: A record's header and digest: PCR, type, digest count, algorithm, the 32-byte digest.
_RUN_KEY = 12 + 2 + 32


def share_run(measurements: Measurements) -> None:
    """Let :func:`parse_eventlog` take ``measurements``' records whole wherever a log holds
    exactly their bytes: the firmware and esx-boot records shared by every host of a model
    or image are then parsed once, not once per host. What is kept for them is what the
    parser itself makes of those bytes (a run it would refuse is not kept), and parsing is
    record by record, so a log parses to the same records with or without the run."""
    data = measurements.serialised
    if not data:
        return
    try:
        events = tuple(_parse_records(_SPEC_ID_EVENT + data, len(_SPEC_ID_EVENT), {}))
    except ValueError:
        return
    key = data[:_RUN_KEY]
    known = _RUNS.get(key, ())
    if any(run[0] == data for run in known):
        return
    if len(_RUNS) >= _RUNS_LIMIT:  # bounded: start afresh (keep clears a full memo)
        known = ()
    # replay() folds a run by its batch's PCR values after (Measurements.after), which
    # leave informational records out; replay reads one kind of them (StartupLocality),
    # so a run with any EV_NO_ACTION record is replayed record by record.
    foldable = all(e.event_type != EV_NO_ACTION for e in events)
    _RUNS.keep(key, (*known, (data, events, measurements if foldable else None)))


def parse_eventlog(data: bytes) -> EventLog:
    """Parse a TCG_2 event log with a SHA-256 bank; ``ValueError`` on malformed input."""
    data = bytes(data)
    taken: list[tuple[int, Measurements]] = []
    log = EventLog(_parse_records(data, _parse_header(data), _RUNS, taken))
    log.runs = tuple(taken)
    return log


def _parse_records(data: bytes, pos: int, runs: dict[bytes, tuple[_Run, ...]],
                   taken: list[tuple[int, Measurements]] | None = None) -> list[Event]:
    """The records of ``data`` from ``pos`` on; a known run (``runs``) starting at a record
    boundary is taken whole, the records it parses to (see :func:`share_run`), and noted
    in ``taken`` (its index, its batch) when :func:`replay` may fold it."""
    events: list[Event] = []
    end = len(data)
    while pos < end:
        if runs and (known := runs.get(data[pos:pos + _RUN_KEY])) is not None:
            run = next((r for r in known if data.startswith(r[0], pos)), None)
            if run is not None:
                if taken is not None and run[2] is not None:
                    taken.append((len(events), run[2]))
                events += run[1]
                pos += len(run[0])
                continue
        if pos + 12 > end:
            raise ValueError(f"truncated record header at {pos}")
        pcr, etype, count = struct.unpack_from("<III", data, pos)
        pos += 12
        if count != 1:
            raise ValueError(f"record at {pos - 12} has {count} digests (expected 1)")
        if pos + 2 + 32 + 4 > end:
            raise ValueError("truncated digest")
        (alg,) = struct.unpack_from("<H", data, pos)
        if alg != TPM_ALG_SHA256:
            raise ValueError(f"unexpected digest algorithm 0x{alg:04x}")
        digest = data[pos + 2:pos + 34]
        (size,) = struct.unpack_from("<I", data, pos + 34)
        pos += 38
        if size > _MAX_EVENT_SIZE or pos + size > end:
            raise ValueError("event data overruns the log")
        events.append(Event.make(pcr, etype, digest, data[pos:pos + size]))
        pos += size
    return events


def replay(events: Iterable[Event]) -> dict[int, bytes]:
    """PCR values from replaying ``events``: ``PCR = SHA256(PCR || digest)`` from zeros.

    ``EV_NO_ACTION`` records are informational and never extended, except that a
    ``StartupLocality`` one sets PCR 0's initial value to the locality (PC Client §10.4.5).
    """
    pcrs = {i: bytes(32) for i in range(NUM_PCRS)}
    if type(events) is EventLog and events.runs:
        # Shared runs the parser took whole (firmware, image): each run's records extend
        # the PCRs exactly as its batch does (Measurements.after, remembered from the
        # hosts' own boots), so a run still in place is folded in one step.
        records, pos = events.events, 0
        for start, batch in events.runs:
            stop = start + len(batch.events)
            if tuple(records[start:stop]) != batch.events:  # the log was changed since
                _replay_into(pcrs, records[pos:])
                return pcrs
            _replay_into(pcrs, records[pos:start])
            after = batch.after(tuple([pcrs[p] for p in batch.pcrs]))
            pcrs.update(zip(batch.pcrs, after, strict=True))
            pos = stop
        _replay_into(pcrs, records[pos:])
        return pcrs
    _replay_into(pcrs, events)
    return pcrs


def _replay_into(pcrs: dict[int, bytes], events: Iterable[Event]) -> None:
    for e in events:
        if e.event_type == EV_NO_ACTION:
            if e.pcr == 0 and e.data[:16] == _STARTUP_LOCALITY_SIGNATURE and len(e.data) == 17:
                pcrs[0] = bytes(31) + e.data[16:17]
            continue
        pcrs[e.pcr] = crypto.sha256(pcrs[e.pcr] + e.digest)
