"""``vtalab import``: an estate scenario from what an operator can export with PowerCLI.

Three inputs and two optional ones (the exact commands are in ``docs/quick-boot.md``).
Every PowerCLI export may be ``ConvertTo-Json`` (PowerShell 5.1 or 7), ``Export-Clixml``
(PowerShell's CLIXML, read without entities or DTDs) or ``Export-Csv`` (with or without
the ``#TYPE`` line; ``,`` or, from ``-UseCulture``, ``;``), at most ``MAX_HOSTS`` objects:

``hosts.json``
    ``Get-VMHost | Select Name,Version,Build,Parent | ConvertTo-Json`` — a list (or one
    object) with ``Name``, ``Version`` (``8.0.2``), ``Build`` (``22380479``, string or
    number) and ``Parent`` (the cluster: a name, or an object with ``Name``).
``images.json``
    the trusted base images as PowerCLI exports them:
    ``Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster $vTA | ConvertTo-Json`` (or
    ``| Export-Clixml``), or the REST list ``GET …/attestation/os/esx/base-images``
    (``version``, ``display_name``, ``health``). Each entry needs ``VMHostVersion`` (REST
    ``version``). Neither has a last-attested time: an entry carrying ``LastAttestedTime``
    (which earlier versions of vtalab asked operators to add by hand) is refused with the
    way to give it now.
``base-images-api.json`` (optional, ``--base-images-api``)
    the last-attested times, from where vCenter publishes them: the REST/vAPI
    ``GET …/base-images/{version}`` Info (``display_name``, ``last_attested_time``,
    ``health``, ``details``; API 8.0.1 and later) of each version, saved as one JSON object
    keyed by version (``$info[$v] = Invoke-RestMethod …/base-images/$v`` in a loop, then
    ``$info | ConvertTo-Json``; the Python SDK's ``images.get(cluster, v).to_dict()``
    likewise). ``last_attested_time`` is ISO 8601 (without a zone taken as UTC),
    PowerShell 5.1's ``/Date(ms)/`` or null (never attested).
``quickboot.txt``
    one ``HOST VALUE`` line per host, VALUE being what ``vsish -e get
    /system/loadESX/isBootLoadESX`` prints (``1``: the last boot was a Quick Boot).
``tpm2-settings.json`` (optional)
    ``Get-TrustAuthorityTpm2AttestationSettings -TrustAuthorityCluster $vTA |
    ConvertTo-Json``: ``RequireCertificateValidation`` and ``RequireEndorsementKey``
    (PowerCLI) or the REST ``require_certificate_validation`` /
    ``require_endorsement_keys``; becomes ``ta_cluster.tpm2_settings``.

**Last-attested times on the lab's calendar.** The lab runs on a fixed simulated calendar,
so the export's times are carried as *ages*: the newest last-attested time in
``base-images-api.json`` becomes T=0 and every image's ``last_attested`` is its distance before
that, in whole seconds, written as a duration (``-5m``: five minutes before T=0).
``Get-TrustAuthorityVMHostBaseImage`` in the lab then shows the estate's order and
spacing, at the lab's dates; an image a host still attests with is stamped again at T=0.

**Inference of the last full boot.** A host whose last boot was a Quick Boot measures
the release of its last *full* boot, which nothing exports. vtalab takes, among the base
images older than the host's running build that have a last-attested time, the one
attested most recently: some host still attests with it, and a Quick-Booted host is the
usual reason. Limits: the time is per image, not per host (another host may be the one
attesting it); several Quick Boots in a row are counted as one; with no candidate the
import stops and asks for ``--last-full-boot HOST=RELEASE``, which always wins.

Malformed input is an :class:`~vtalab.errors.InputError` naming the file, the line (from
the JSON decoder's position) and the field; nothing is written. So are exports that do not
describe one estate: a host or base image given twice, a host ``Name`` that is not a DNS
name or address (an empty cell, a spreadsheet formula), an empty ``Parent``, no hosts, or a
host without its ``quickboot.txt`` line (a missing line is not "not Quick-Booted"). The
generated Trust Authority host is ``ta-esx-01``, or the next free number if an exported
host has that name.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.parsers.expat
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from vtalab.core import files
from vtalab.core.limits import MAX_HOSTS
from vtalab.core.text import has_control
from vtalab.errors import InputError
from vtalab.esxi.releases import Release, lookup, sort_key
from vtalab.scenario.model import load_scenario_text

__all__ = ["import_estate", "read_base_image_times", "read_csv", "read_json_objects",
           "read_objects", "read_tpm2_settings"]


def _skip(text: str, i: int, chars: str) -> int:
    """The first index from ``i`` on whose character is not in ``chars``."""
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


class _Lines:
    """Line numbers of increasing offsets in ``text``, counted incrementally: ``_line`` for
    each of a million objects would scan the text a million times (minutes for 15 MB)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        if pos < self.pos:  # not expected; still right
            return _line(self.text, pos)
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _too_many(path: str, line: int) -> InputError:
    """An export with more objects than any lab holds: refused as it is read (a 15 MB file
    of tiny objects would otherwise take a gigabyte)."""
    return InputError(f"{path}:{line}: more than {MAX_HOSTS:,} objects (MAX_HOSTS: no export "
                      "of an estate a lab can hold has more); export one vCenter's or one "
                      "cluster's objects")


def read_json_objects(path: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a ConvertTo-Json file, each with the line it starts on."""
    # Bounded, regular files only; Windows PowerShell 5.1 writes UTF-8 with a BOM
    # (Out-File -Encoding utf8) or UTF-16 with a BOM (the '>' redirection): both read.
    text = files.read_text(path, what="PowerCLI export", utf16=True)
    dec = json.JSONDecoder(parse_int=files.bounded_int)  # no 5,000-digit int()
    i = len(text) - len(text.lstrip())
    lines = _Lines(text)
    try:
        if text[i:i + 1] == "[":
            out: list[tuple[int, dict[str, Any]]] = []
            i += 1
            while True:
                i = _skip(text, i, " \t\r\n,")
                if text[i:i + 1] == "]":
                    break
                start = i
                value, i = dec.raw_decode(text, i)
                out.append((lines.at(start), value))
                if len(out) > MAX_HOSTS:
                    raise _too_many(path, out[-1][0])
        else:
            value, end = dec.raw_decode(text, i)
            if text[end:].strip():
                line, column = files.position(text, end + len(text[end:]) - len(
                    text[end:].lstrip()))
                raise InputError(f"{path}:{line}:{column}: not valid JSON: extra data after "
                                 "the object")
            out = [(_line(text, i), value)]
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        files.load_json(text, path)  # locates the nesting (raises)
        raise InputError(f"{path}: not valid JSON: nested too deeply") from None
    except files.JSONNumberError as exc:
        raise InputError(f"{path}:{_line(text, i)}: not valid JSON: {exc.reason}") from None
    for line, obj in out:
        files.check_value(obj, path, line=line)  # nesting and lone surrogates
    for line, obj in out:
        if not isinstance(obj, dict):
            raise InputError(f"{path}:{line}: expected a JSON object (ConvertTo-Json of "
                             f"one host or image), got {type(obj).__name__}")
    return out


_CLIXML_NS = "http://schemas.microsoft.com/powershell/2004/04"
#: CLIXML elements that hold one primitive value (``<S N="Name">esx-01</S>``)
_CLIXML_SCALARS = {"S": str, "I32": int, "I64": int, "I16": int, "U32": int, "U64": int,
                   "By": int, "Db": float, "Sg": float, "D": str, "DT": str, "G": str,
                   "URI": str, "Version": str, "C": str, "TS": str}


def read_clixml(path: str, text: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects of an ``Export-Clixml`` file (PowerShell's CLIXML), each with its line.

    A top-level ``<Obj>`` is one object; its ``<Props>`` and ``<MS>`` children named by
    ``N`` are its properties: primitives (``<S>``, ``<I32>``, ``<B>``, ``<DT>`` ...) as
    values, ``<Nil/>`` as ``None``, a nested object (``Parent``, an enum such as
    ``Health``) as its ``<ToString>``. ``_type`` is the object's first type name (``<T>``).
    A DTD or an entity is refused: CLIXML has neither, and they are how XML files bomb.
    """
    out: list[tuple[int, dict[str, Any]]] = []
    stack: list[tuple[str, dict[str, str]]] = []
    current: dict[str, Any] | None = None
    chars: list[str] = []
    nested: dict[int, dict[str, Any]] = {}  # depth of a nested Obj -> its N and ToString
    types: dict[str, str] = {}  # TN RefId -> its first type name (a later <TNRef> names it)
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")

    def refuse(*_: Any) -> None:
        raise InputError(f"{path}:{parser.CurrentLineNumber}: a DTD or an entity is not "
                         "CLIXML (Export-Clixml writes neither); refused")

    def local(name: str) -> str:
        ns, _, tag = name.rpartition(" ")
        if ns and ns != _CLIXML_NS:
            raise InputError(f"{path}:{parser.CurrentLineNumber}: <{tag}> is not in the "
                             f"CLIXML namespace ({_CLIXML_NS}); is this an Export-Clixml file?")
        return tag

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal current
        tag = local(name)
        depth = len(stack)
        if depth == 0 and tag != "Objs":
            raise InputError(f"{path}:{parser.CurrentLineNumber}: expected <Objs> (the "
                             f"root Export-Clixml writes), found <{tag}>")
        if depth == 1 and tag == "Obj":
            current = {"_type": None}
            out.append((parser.CurrentLineNumber, current))
            if len(out) > MAX_HOSTS:
                raise _too_many(path, parser.CurrentLineNumber)
        elif depth == 2 and tag == "TNRef" and current is not None:
            current["_type"] = types.get(attrs.get("RefId", ""))
        elif tag == "Obj" and current is not None and depth >= 3 and "N" in attrs \
                and stack[-1][0] in ("Props", "MS") and len(stack) == 3:
            nested[depth] = {"name": attrs["N"], "value": None}
        stack.append((tag, attrs))
        chars.clear()

    def end(name: str) -> None:
        tag, attrs = stack.pop()
        depth = len(stack)
        text = "".join(chars)
        chars.clear()
        if current is None:
            return
        if tag == "T" and current.get("_type") is None and depth == 3 \
                and stack[-1][0] == "TN":
            current["_type"] = text
            types.setdefault(stack[-1][1].get("RefId", ""), text)
        elif depth == 3 and stack[-1][0] in ("Props", "MS") and "N" in attrs:
            if tag in _CLIXML_SCALARS:
                try:
                    current[attrs["N"]] = _CLIXML_SCALARS[tag](text)
                except ValueError:
                    raise InputError(f"{path}:{parser.CurrentLineNumber}: property "
                                     f"{attrs['N']!r}: <{tag}> holds {text!r}") from None
            elif tag == "B":
                current[attrs["N"]] = text.strip().lower() == "true"
            elif tag == "Nil":
                current[attrs["N"]] = None
            elif tag == "Obj":
                current[attrs["N"]] = nested.pop(depth, {}).get("value")
        elif tag == "ToString" and depth == 4 and depth - 1 in nested:
            nested[depth - 1]["value"] = text

    def data(text: str) -> None:
        chars.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.offset + 1}: not valid CLIXML: "
                         f"{xml.parsers.expat.ErrorString(exc.code)}") from None
    return out


def read_csv(path: str, text: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects of an ``Export-Csv`` file, each with its line: a header row of property
    names, then one row per object. Windows PowerShell 5.1 writes ``#TYPE <type name>``
    first (PowerShell 7 with ``-IncludeTypeInformation``); ``-UseCulture`` may separate with
    ``;``. Values are text, except PowerShell's ``True``/``False``; an empty cell is null.
    """
    body = text
    type_name = None
    first_line = 1
    if text.startswith("#TYPE"):
        head, _, body = text.partition("\n")
        type_name = head[len("#TYPE"):].strip() or None
        first_line = 2
    header_line = body.split("\n", 1)[0]
    delimiter = ";" if ";" in header_line and "," not in header_line else ","
    reader = csv.reader(io.StringIO(body), delimiter=delimiter, strict=True)
    out: list[tuple[int, dict[str, Any]]] = []
    line = first_line  # where the row being read starts
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise InputError(f"{path}:{first_line}: expected a header row of property names "
                             "(Export-Csv writes one: \"Name\",\"Version\",...)")
        names = [h.strip() for h in header]
        for i, name in enumerate(names):
            if not name or name in names[:i]:
                raise InputError(f"{path}:{first_line}: column {i + 1} of the header is "
                                 + ("empty" if not name else f"{name!r} again")
                                 + "; each column names one property")
        line = first_line + reader.line_num
        for row in reader:
            if row and len(row) != len(names):
                raise InputError(f"{path}:{line}: {len(row)} values for {len(names)} columns "
                                 f"({', '.join(names)})")
            if len(out) >= MAX_HOSTS:
                raise _too_many(path, line)
            if row:
                obj: dict[str, Any] = {"_type": type_name}
                for name, value in zip(names, row, strict=True):
                    obj[name] = ({"True": True, "False": False}.get(value, value)
                                 if value != "" else None)
                out.append((line, obj))
            line = first_line + reader.line_num
    except csv.Error as exc:
        raise InputError(f"{path}:{line}: not valid CSV: {exc}") from None
    return out


def read_objects(path: str, *, what: str = "PowerCLI export"
                 ) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a PowerCLI export: ``ConvertTo-Json``, ``Export-Clixml`` or
    ``Export-Csv`` (told apart by their first character: ``[``/``{``, ``<``, else CSV)."""
    text = files.read_text(path, what=what, utf16=True)
    start = text.lstrip()[:1]
    if not start:
        raise InputError(f"{path}: the {what} is empty")
    if start == "<":
        return read_clixml(path, text)
    if start in "[{":
        return read_json_objects(path)
    return read_csv(path, text.lstrip())


def read_json_mapping(path: str, *, what: str) -> list[tuple[int, str, Any]]:
    """A JSON object's members, each with the line its value starts on."""
    text = files.read_text(path, what=what, utf16=True)
    dec = json.JSONDecoder(parse_int=files.bounded_int)  # no 5,000-digit int()
    i = len(text) - len(text.lstrip())
    out: list[tuple[int, str, Any]] = []
    lines = _Lines(text)
    try:
        if text[i:i + 1] != "{":
            line, column = files.position(text, i)
            raise InputError(f"{path}:{line}:{column}: expected a JSON object keyed by base "
                             "image version ({\"8.0.2-22380479\": {...Info...}})")
        i += 1
        while True:
            i = _skip(text, i, " \t\r\n,")
            if text[i:i + 1] == "}":
                break
            start = i
            key, i = dec.raw_decode(text, i)
            i = _skip(text, i, " \t\r\n")
            if not isinstance(key, str) or text[i:i + 1] != ":":
                line, column = files.position(text, start)
                raise InputError(f"{path}:{line}:{column}: not valid JSON: expected a "
                                 "member name and ':'")
            i += 1
            i = _skip(text, i, " \t\r\n")
            at = i
            value, i = dec.raw_decode(text, i)
            out.append((lines.at(at), key, value))
            if len(out) > MAX_HOSTS:
                raise _too_many(path, out[-1][0])
        if text[i + 1:].strip():
            line, column = files.position(text, i + 1 + len(text[i + 1:]) - len(
                text[i + 1:].lstrip()))
            raise InputError(f"{path}:{line}:{column}: not valid JSON: extra data after "
                             "the object")
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        files.load_json(text, path)  # locates the nesting (raises)
        raise InputError(f"{path}: not valid JSON: nested too deeply") from None
    except files.JSONNumberError as exc:
        raise InputError(f"{path}:{_line(text, i)}: not valid JSON: {exc.reason}") from None
    for line, _key, value in out:
        files.check_value(value, path, line=line)
    return out


def _field(path: str, line: int, obj: dict[str, Any], names: tuple[str, ...],
           kinds: tuple[type, ...], required: bool = True) -> Any:
    for name in names:
        if name in obj:
            value = obj[name]
            if value is None and not required:
                return None
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise InputError(f"{path}:{line}: field {name!r}: expected "
                                 f"{' or '.join(k.__name__ for k in kinds)}, got "
                                 f"{json.dumps(value)}")
            return value
    if required:
        raise InputError(f"{path}:{line}: missing field {names[0]!r}", what="fields",
                         value=names[0], choices=sorted(obj))
    return None


_PS51_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def _timestamp(path: str, line: int, field: str, text: str) -> datetime:
    """A last-attested time: ISO 8601 or PowerShell 5.1's ``/Date(ms)/``, in UTC."""
    m = _PS51_DATE.match(text.strip())
    if m:  # milliseconds since the Unix epoch, UTC; the optional offset is only a hint
        ms = int(m.group(1)) if len(m.group(1)) <= 20 else 10 ** 20
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        except OverflowError:
            raise InputError(f"{path}:{line}: field {field!r}: {text.strip()} is beyond any "
                             "date (years 1 to 9999); expected /Date(milliseconds since "
                             "1970)/ such as /Date(1767599700000)/", what=field,
                             value=text) from None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{path}:{line}: field {field!r}: expected an ISO 8601 time "
                         "(2026-01-05T07:55:00Z), /Date(milliseconds)/ or null; got "
                         f"{json.dumps(text)}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _flag(path: str, line: int, obj: dict[str, Any], names: tuple[str, ...]) -> bool:
    for name in names:
        if name in obj:
            if not isinstance(obj[name], bool):
                raise InputError(f"{path}:{line}: field {name!r}: expected true or false, "
                                 f"got {json.dumps(obj[name])}")
            return bool(obj[name])
    raise InputError(f"{path}:{line}: missing field {names[0]!r}", what="fields",
                     value=names[0], choices=sorted(obj))


def read_tpm2_settings(path: str) -> dict[str, bool]:
    """``ta_cluster.tpm2_settings`` from ``Get-TrustAuthorityTpm2AttestationSettings``."""
    found: list[tuple[int, dict[str, bool]]] = []
    for line, obj in read_objects(path):
        _check_type(path, line, obj, "TrustAuthorityTpm2AttestationSettings")
        found.append((line, {
            "require_certificate_validation": _flag(
                path, line, obj, ("RequireCertificateValidation",
                                  "require_certificate_validation")),
            "require_endorsement_keys": _flag(
                path, line, obj, ("RequireEndorsementKey", "RequireEndorsementKeys",
                                  "require_endorsement_keys"))}))
    if not found:
        raise InputError(f"{path}: no settings object (expected the output of "
                         "Get-TrustAuthorityTpm2AttestationSettings $vTA | ConvertTo-Json)")
    for line, settings in found[1:]:
        if settings != found[0][1]:
            raise InputError(f"{path}:{line}: these settings differ from those on line "
                             f"{found[0][0]}: several TA clusters? Export the one of your "
                             "TA cluster (-TrustAuthorityCluster $vTA)")
    return found[0][1]


def _check_type(path: str, line: int, obj: dict[str, Any], want: str) -> None:
    """An ``Export-Clixml`` object says its type: it must be the one this file holds."""
    got = obj.pop("_type", None)
    # PowerCLI's objects are ...Impl classes (VMHostImpl), and Select-Object makes them
    # Selected.<type>: `Get-VMHost | Select ... | Export-Clixml` is a VMHost export too.
    if got is not None and not str(got).split(".")[-1].removesuffix("Impl").endswith(want):
        raise InputError(f"{path}:{line}: a {got} object; expected {want} (the output of "
                         "the cmdlet docs/quick-boot.md gives for this file)",
                         what="type", value=got, choices=[want])


def read_base_image_times(path: str) -> dict[str, tuple[int, datetime | None]]:
    """Version -> (line, last-attested time) from the REST/vAPI base-images Info of each
    version, saved as one JSON object keyed by version."""
    out: dict[str, tuple[int, datetime | None]] = {}
    for line, key, info in read_json_mapping(path, what="base-images API export"):
        rel = _release(path, line, "version", key)
        if not isinstance(info, dict):
            raise InputError(f"{path}:{line}: {key}: expected the base image's Info object "
                             "(display_name, last_attested_time, health, details), got "
                             f"{type(info).__name__}")
        if "last_attested_time" not in info:
            raise InputError(f"{path}:{line}: {key}: missing field 'last_attested_time' "
                             "(vCenter API 8.0.1 and later return it; null if never attested)",
                             what="fields", value="last_attested_time", choices=sorted(info))
        last = _field(path, line, info, ("last_attested_time",), (str,), required=False)
        if rel.key in out:
            raise InputError(f"{path}:{line}: base image {rel.key} given twice (also on line "
                             f"{out[rel.key][0]})")
        out[rel.key] = (line, None if last is None
                        else _timestamp(path, line, "last_attested_time", last))
    return out


def _ago(seconds: int) -> int | str:
    """``last_attested`` for an age in seconds: ``0``, or ``-13d22h25m`` (readable YAML)."""
    if seconds <= 0:
        return 0
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    return "-" + "".join(parts)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _release(path: str, line: int, field: str, text: str) -> Release:
    try:
        return lookup(text)
    except InputError as exc:
        raise InputError(f"{path}:{line}: field {field!r}: {exc.reason}", what="ESXi releases",
                         value=text, choices=exc.choices) from None


_QUICKBOOT_LINE = re.compile(r"(\S+?):?\s+(\S+)|(\S+):([01])")


def _quickboot(path: str, where: dict[str, int] | None = None) -> dict[str, bool]:
    """Host -> isBootLoadESX; ``where`` gets the line each host is on."""
    lines = files.read_text(path, what="isBootLoadESX listing", utf16=True).splitlines()
    out: dict[str, bool] = {}
    for n, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        # 'HOST 1', 'HOST: 1' or 'HOST:1'; an IPv6 address keeps its colons
        m = _QUICKBOOT_LINE.fullmatch(text)
        parts = [m.group(1) or m.group(3), m.group(2) or m.group(4)] if m else []
        if len(parts) != 2 or parts[1] not in ("0", "1"):
            raise InputError(f"{path}:{n}: expected 'HOST 0' or 'HOST 1' (the host and what "
                             f"vsish -e get /system/loadESX/isBootLoadESX prints); got {raw!r}")
        if parts[0] in out:
            first = f" (also on line {where[parts[0]]})" if where and parts[0] in where else ""
            raise InputError(f"{path}:{n}: host {parts[0]} is given twice{first}; give each "
                             "host's isBootLoadESX once", what="hosts", value=parts[0])
        out[parts[0]] = parts[1] == "1"
        if where is not None:
            where[parts[0]] = n
    return out


#: A host name as vCenter shows an ESXi host: a DNS name (RFC 1123 labels) or an IP address.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")
#: vCenter's limit on an inventory object's name (a cluster): 80 characters.
_MAX_CLUSTER_NAME = 80


def _host_name(path: str, line: int, name: str) -> str:
    """A host's ``Name``: the DNS name or address vCenter knows it by (at most 253
    characters); anything else (empty, spaces, a spreadsheet formula) is refused."""
    if len(name) > 253 or not _HOST_NAME.fullmatch(name):
        shown = json.dumps(name[:60] + ("..." if len(name) > 60 else ""))
        raise InputError(f"{path}:{line}: field 'Name': {shown} is not a host name (a DNS "
                         "name such as esx-01.corp.local, or an IP address, as vCenter shows "
                         "it)", what="Name", value=name)
    return name


def _cluster_name(path: str, line: int, name: str) -> str:
    """A host's ``Parent``: a cluster name as vCenter allows it (1 to 80 characters, no
    control characters)."""
    if not name.strip() or len(name) > _MAX_CLUSTER_NAME or has_control(name):
        raise InputError(f"{path}:{line}: field 'Parent': {json.dumps(name[:90])} is not a "
                         f"cluster name (1 to {_MAX_CLUSTER_NAME} characters, no control "
                         "characters)", what="Parent", value=name)
    return name


def _ta_host_name(taken: list[str]) -> str:
    """The generated Trust Authority host: ``ta-esx-01``, or the first free number."""
    used = {n.lower() for n in taken}
    return next(f"ta-esx-{n:02d}" for n in range(1, len(taken) + 2)
                if f"ta-esx-{n:02d}" not in used)


def import_estate(hosts_path: str, images_path: str, quickboot_path: str, *,
                  last_full_boot: dict[str, str] | None = None, name: str = "imported-estate",
                  seed: int = 0, tpm2_settings_path: str | None = None,
                  base_images_api_path: str | None = None) -> tuple[str, list[str]]:
    """The scenario YAML text and the notes (inferences) for the operator."""
    overrides = dict(last_full_boot or {})
    hosts = []
    host_line: dict[str, int] = {}  # lower-case name -> its line (DNS names ignore case)
    for line, obj in read_objects(hosts_path):
        _check_type(hosts_path, line, obj, "VMHost")
        hname = _host_name(hosts_path, line, _field(hosts_path, line, obj, ("Name",), (str,)))
        version = _field(hosts_path, line, obj, ("Version",), (str,))
        build = _field(hosts_path, line, obj, ("Build",), (str, int))
        parent = _field(hosts_path, line, obj, ("Parent",), (str, dict))
        if isinstance(parent, dict):
            parent = _field(hosts_path, line, parent, ("Name",), (str,))
        parent = _cluster_name(hosts_path, line, parent)
        rel = _release(hosts_path, line, "Build", f"{version}-{build}")
        if hname.lower() in host_line:
            raise InputError(f"{hosts_path}:{line}: host {hname} is given twice (also on line "
                             f"{host_line[hname.lower()]}); export each host once (one "
                             "vCenter's Get-VMHost)", what="hosts", value=hname)
        host_line[hname.lower()] = line
        hosts.append((hname, rel, parent))
    if not hosts:
        raise InputError(f"{hosts_path}: no hosts (expected the output of Get-VMHost | Select "
                         "Name,Version,Build,Parent | ConvertTo-Json)")
    if len(hosts) >= MAX_HOSTS:  # with the generated TA host, more than a topology holds
        raise InputError(f"{hosts_path}: {len(hosts):,} hosts; a lab holds at most "
                         f"{MAX_HOSTS:,} (MAX_HOSTS, with its TA host): export one vCenter's "
                         "or one cluster's hosts (Get-Cluster NAME | Get-VMHost)")
    times = (read_base_image_times(base_images_api_path)
             if base_images_api_path is not None else {})
    images: list[tuple[Release, datetime | None]] = []
    seen: dict[str, int] = {}  # version -> its line
    for line, obj in read_objects(images_path):
        for stale in ("LastAttestedTime", "last_attested_time"):
            if stale in obj:
                raise InputError(
                    f"{images_path}:{line}: field {stale!r}: "
                    + ("PowerCLI's TrustAuthorityVMHostBaseImage has no such property"
                       if stale[0] == "L" else "the REST base-images list has no such field")
                    + "; last-attested times come from the REST/vAPI base-images API "
                    "(GET …/base-images/{version}, last_attested_time, API 8.0.1 and later): "
                    "save them keyed by version and give them with --base-images-api FILE, "
                    "and export images.json unchanged (docs/quick-boot.md)",
                    what="fields", value=stale)
        _check_type(images_path, line, obj, "TrustAuthorityVMHostBaseImage")
        v = _field(images_path, line, obj, ("VMHostVersion", "version"), (str,))
        rel = _release(images_path, line, "VMHostVersion", v)
        if rel.key in seen:
            raise InputError(f"{images_path}:{line}: base image {rel.key} is given twice (also "
                             f"on line {seen[rel.key]}): several TA clusters? Export the one "
                             "of your TA cluster (-TrustAuthorityCluster $vTA)",
                             what="base images", value=rel.key)
        seen[rel.key] = line
        images.append((rel, times.get(rel.key, (0, None))[1]))
    for key, (line, _when) in times.items():
        if key not in seen:
            raise InputError(f"{base_images_api_path}:{line}: base image {key} is not in "
                             f"{images_path} (export both from the same TA cluster)",
                             what="base images", value=key, choices=sorted(seen))
    settings = read_tpm2_settings(tpm2_settings_path) if tpm2_settings_path else None
    where: dict[str, int] = {}
    quick = _quickboot(quickboot_path, where)
    names = [h[0] for h in hosts]
    for hname in list(quick) + list(overrides):
        if hname not in names:
            at = (f"{quickboot_path}:{where[hname]}: " if hname in where
                  else f"--last-full-boot {hname}: ")
            raise InputError(f"{at}unknown host {hname!r} (not in {hosts_path})",
                             what="hosts", value=hname, choices=names)
    for hname in names:  # a host left out is not "not Quick-Booted": nothing says so
        if hname not in quick:
            raise InputError(f"{quickboot_path}: no line for {hname} (from {hosts_path}:"
                             f"{host_line[hname.lower()]}); add '{hname} 0' or '{hname} 1' "
                             "(what vsish -e get /system/loadESX/isBootLoadESX prints on it)",
                             what="hosts", value=hname)
    notes: list[str] = []  # about hosts (the description's "no Quick-Booted host" if none)
    clusters: dict[str, dict[str, Any]] = {}
    for hname, rel, parent in hosts:
        spec: dict[str, Any] = {"name": hname, "release": rel.key}
        if hname in overrides:
            try:
                full = lookup(overrides[hname])
            except InputError as exc:
                raise InputError(f"--last-full-boot {hname}={overrides[hname]}: {exc.reason}",
                                 what="ESXi releases", value=overrides[hname],
                                 choices=exc.choices) from None
            notes.append(f"{hname}: last full boot {full.key} (given)")
        elif quick.get(hname):
            older = [(last, r) for r, last in images
                     if last is not None and sort_key(r) < sort_key(rel)]
            if not older:
                raise InputError(
                    f"{hname} was Quick Booted (isBootLoadESX = 1) and runs {rel.key}, but no "
                    "older base image has a last-attested time to infer its last full boot "
                    f"from; give it: --last-full-boot {hname}=RELEASE")
            when, full = max(older, key=lambda t: (t[0], sort_key(t[1])))
            notes.append(f"{hname}: Quick-Booted into {rel.key}; last full boot inferred as "
                         f"{full.key} (the older base image attested most recently, "
                         f"{_iso(when)}); override with --last-full-boot {hname}=RELEASE")
        else:
            full = None
        if full is not None and full.key != rel.key:
            spec["last_full_boot"] = full.key
            spec["quick_boots_since"] = 1
        c = clusters.setdefault(parent, {"name": parent, "quick_boot": False, "hosts": []})
        c["quick_boot"] = c["quick_boot"] or bool(quick.get(hname))
        c["hosts"].append(spec)
    newest = max((r for r, _ in images), key=sort_key, default=None)
    # The newest last-attested time is T=0 of the lab (module docstring).
    anchor = max((t for _, t in images if t is not None), default=None)
    base_images: list[Any] = []
    for r, attested in images:
        if anchor is None:  # no image has a time: plain releases, as before snapshots
            base_images.append(r.key)
        else:
            base_images.append({"release": r.key, "last_attested": None if attested is None
                                else _ago(round((anchor - attested).total_seconds()))})
    history = [] if anchor is None else [
        f"last-attested times placed before T=0, the newest one ({_iso(anchor)}) at T=0"]
    ta: dict[str, Any] = {"hosts": [{"name": _ta_host_name(names),
                                     "release": newest.key if newest else "8.0 U2"}],
                          "base_images": base_images}
    if settings is not None:
        ta["tpm2_settings"] = settings
    data = {
        "name": name,
        "description": "Imported from PowerCLI exports (vtalab import): "
                       + "; ".join((notes or ["no Quick-Booted host"]) + history),
        "seed": seed,
        "topology": {
            "ta_cluster": ta,
            "trusted_clusters": [clusters[k] for k in sorted(clusters)],
        },
        "steps": [{"id": "observe", "at": 600, "do": "Get-TrustAuthorityVMHostBaseImage"}],
    }
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)

    load_scenario_text(text, file="<imported>")  # what we write must load
    return text, notes + history
