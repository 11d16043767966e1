"""``vtalab import``: an estate scenario from what an operator can export with PowerCLI.

Three inputs and an optional fourth (the exact commands are in ``docs/quick-boot.md``):

``hosts.json``
    ``Get-VMHost | Select Name,Version,Build,Parent | ConvertTo-Json`` — a list (or one
    object) with ``Name``, ``Version`` (``8.0.2``), ``Build`` (``22380479``, string or
    number) and ``Parent`` (the cluster: a name, or an object with ``Name``).
``images.json``
    the trusted base images. PowerCLI's ``TrustAuthorityVMHostBaseImage`` object has
    ``VMHostVersion``, ``Name``, ``Health`` (no last-attested time); the REST
    ``…/attestation/os/esx/base-images/{version}`` Info adds ``last_attested_time``. Each
    entry needs ``VMHostVersion`` (or REST ``version``); ``LastAttestedTime`` /
    ``last_attested_time`` is optional: ISO 8601 (PowerShell 7, REST; without a zone it is
    taken as UTC), ``/Date(ms)/`` (PowerShell 5.1's ConvertTo-Json) or null.
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
``images.json`` becomes T=0 and every image's ``last_attested`` is its distance before
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
the JSON decoder's position) and the field; nothing is written.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from vtalab.core import files
from vtalab.errors import InputError
from vtalab.esxi.releases import Release, lookup, sort_key
from vtalab.scenario.model import load_scenario_text

__all__ = ["import_estate", "read_json_objects", "read_tpm2_settings"]


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def read_json_objects(path: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a ConvertTo-Json file, each with the line it starts on."""
    # Bounded, regular files only; Windows PowerShell 5.1 writes UTF-8 with a BOM
    # (Out-File -Encoding utf8) or UTF-16 with a BOM (the '>' redirection): both read.
    text = files.read_text(path, what="PowerCLI export", utf16=True)
    dec = json.JSONDecoder()
    i = len(text) - len(text.lstrip())
    try:
        if text[i:i + 1] == "[":
            out: list[tuple[int, dict[str, Any]]] = []
            i += 1
            while True:
                while i < len(text) and text[i] in " \t\r\n,":
                    i += 1
                if text[i:i + 1] == "]":
                    break
                start = i
                value, i = dec.raw_decode(text, i)
                out.append((_line(text, start), value))
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
    except ValueError as exc:  # an integer of more than 4300 digits
        raise InputError(f"{path}:{_line(text, i)}: not valid JSON: {exc}") from None
    for line, obj in out:
        files.check_value(obj, path, line=line)  # nesting and lone surrogates
    for line, obj in out:
        if not isinstance(obj, dict):
            raise InputError(f"{path}:{line}: expected a JSON object (ConvertTo-Json of "
                             f"one host or image), got {type(obj).__name__}")
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
    for line, obj in read_json_objects(path):
        found.append((line, {
            "require_certificate_validation": _flag(
                path, line, obj, ("RequireCertificateValidation",
                                  "require_certificate_validation")),
            "require_endorsement_keys": _flag(
                path, line, obj, ("RequireEndorsementKey", "RequireEndorsementKeys",
                                  "require_endorsement_keys"))}))
    if not found:
        raise InputError(f"{path}: no settings object (expected the output of "
                         "Get-TrustAuthorityTpm2AttestationSettings | ConvertTo-Json)")
    for line, settings in found[1:]:
        if settings != found[0][1]:
            raise InputError(f"{path}:{line}: these settings differ from those on line "
                             f"{found[0][0]}: several TA clusters? Export the one of your "
                             "TA cluster (-TrustAuthorityCluster $vTA)")
    return found[0][1]


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


def _quickboot(path: str, where: dict[str, int] | None = None) -> dict[str, bool]:
    """Host -> isBootLoadESX; ``where`` gets the line each host is on."""
    lines = files.read_text(path, what="isBootLoadESX listing", utf16=True).splitlines()
    out: dict[str, bool] = {}
    for n, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.replace(":", " ").split()
        if len(parts) != 2 or parts[1] not in ("0", "1"):
            raise InputError(f"{path}:{n}: expected 'HOST 0' or 'HOST 1' (the host and what "
                             f"vsish -e get /system/loadESX/isBootLoadESX prints); got {raw!r}")
        out[parts[0]] = parts[1] == "1"
        if where is not None:
            where[parts[0]] = n
    return out


def import_estate(hosts_path: str, images_path: str, quickboot_path: str, *,
                  last_full_boot: dict[str, str] | None = None, name: str = "imported-estate",
                  seed: int = 0, tpm2_settings_path: str | None = None
                  ) -> tuple[str, list[str]]:
    """The scenario YAML text and the notes (inferences) for the operator."""
    overrides = dict(last_full_boot or {})
    hosts = []
    for line, obj in read_json_objects(hosts_path):
        hname = _field(hosts_path, line, obj, ("Name",), (str,))
        version = _field(hosts_path, line, obj, ("Version",), (str,))
        build = _field(hosts_path, line, obj, ("Build",), (str, int))
        parent = _field(hosts_path, line, obj, ("Parent",), (str, dict))
        if isinstance(parent, dict):
            parent = _field(hosts_path, line, parent, ("Name",), (str,))
        rel = _release(hosts_path, line, "Build", f"{version}-{build}")
        hosts.append((hname, rel, parent))
    images: list[tuple[Release, datetime | None]] = []
    for line, obj in read_json_objects(images_path):
        v = _field(images_path, line, obj, ("VMHostVersion", "version", "Version"), (str,))
        fields = ("LastAttestedTime", "last_attested_time")
        last = _field(images_path, line, obj, fields, (str,), required=False)
        field = next((f for f in fields if f in obj), fields[0])
        images.append((_release(images_path, line, "VMHostVersion", v),
                       None if last is None else _timestamp(images_path, line, field, last)))
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
    notes: list[str] = []  # about hosts (the description's "no Quick-Booted host" if none)
    clusters: dict[str, dict[str, Any]] = {}
    for hname, rel, parent in hosts:
        spec: dict[str, Any] = {"name": hname, "release": rel.key}
        if hname in overrides:
            full = _release("--last-full-boot", 1, hname, overrides[hname])
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
    ta: dict[str, Any] = {"hosts": [{"name": "ta-esx-01",
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
