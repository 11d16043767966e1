"""``vtalab import``: an estate scenario from what an operator can export with PowerCLI.

Three inputs (the exact commands are in ``docs/quick-boot.md``):

``hosts.json``
    ``Get-VMHost | Select Name,Version,Build,Parent | ConvertTo-Json`` — a list (or one
    object) with ``Name``, ``Version`` (``8.0.2``), ``Build`` (``22380479``, string or
    number) and ``Parent`` (the cluster: a name, or an object with ``Name``).
``images.json``
    the trusted base images. PowerCLI's ``TrustAuthorityVMHostBaseImage`` object has
    ``VMHostVersion``, ``Name``, ``Health`` (no last-attested time); the REST
    ``…/attestation/os/esx/base-images/{version}`` Info adds ``last_attested_time``. Each
    entry needs ``VMHostVersion`` (or REST ``version``); ``LastAttestedTime`` /
    ``last_attested_time`` (ISO 8601 or null) is optional and feeds the inference below.
``quickboot.txt``
    one ``HOST VALUE`` line per host, VALUE being what ``vsish -e get
    /system/loadESX/isBootLoadESX`` prints (``1``: the last boot was a Quick Boot).

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
from typing import Any

import yaml

from vtalab.errors import InputError
from vtalab.esxi.releases import Release, lookup, sort_key

__all__ = ["import_estate", "read_json_objects"]


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def read_json_objects(path: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a ConvertTo-Json file, each with the line it starts on."""
    try:
        with open(path, encoding="utf-8-sig") as fh:  # PowerShell 5 writes a BOM
            text = fh.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
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
            value, _ = dec.raw_decode(text, i)
            out = [(_line(text, i), value)]
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
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


def _release(path: str, line: int, field: str, text: str) -> Release:
    try:
        return lookup(text)
    except InputError as exc:
        raise InputError(f"{path}:{line}: field {field!r}: {exc.reason}", what="ESXi releases",
                         value=text, choices=exc.choices) from None


def _quickboot(path: str) -> dict[str, bool]:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
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
    return out


def import_estate(hosts_path: str, images_path: str, quickboot_path: str, *,
                  last_full_boot: dict[str, str] | None = None, name: str = "imported-estate",
                  seed: int = 0) -> tuple[str, list[str]]:
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
    images = []
    for line, obj in read_json_objects(images_path):
        v = _field(images_path, line, obj, ("VMHostVersion", "version", "Version"), (str,))
        last = _field(images_path, line, obj, ("LastAttestedTime", "last_attested_time"),
                      (str,), required=False)
        images.append((_release(images_path, line, "VMHostVersion", v), last))
    quick = _quickboot(quickboot_path)
    names = [h[0] for h in hosts]
    for hname in list(quick) + list(overrides):
        if hname not in names:
            raise InputError(f"unknown host {hname!r} (not in {hosts_path})", what="hosts",
                             value=hname, choices=names)
    notes: list[str] = []
    clusters: dict[str, dict[str, Any]] = {}
    for hname, rel, parent in hosts:
        spec: dict[str, Any] = {"name": hname, "release": rel.key}
        if hname in overrides:
            full = _release("--last-full-boot", 1, hname, overrides[hname])
            notes.append(f"{hname}: last full boot {full.key} (given)")
        elif quick.get(hname):
            older = [(last, r) for r, last in images
                     if last and sort_key(r) < sort_key(rel)]
            if not older:
                raise InputError(
                    f"{hname} was Quick Booted (isBootLoadESX = 1) and runs {rel.key}, but no "
                    "older base image has a last-attested time to infer its last full boot "
                    f"from; give it: --last-full-boot {hname}=RELEASE")
            last, full = max(older, key=lambda t: (t[0], sort_key(t[1])))
            notes.append(f"{hname}: Quick-Booted into {rel.key}; last full boot inferred as "
                         f"{full.key} (the older base image attested most recently, {last}); "
                         f"override with --last-full-boot {hname}=RELEASE")
        else:
            full = None
        if full is not None and full.key != rel.key:
            spec["last_full_boot"] = full.key
            spec["quick_boots_since"] = 1
        c = clusters.setdefault(parent, {"name": parent, "quick_boot": False, "hosts": []})
        c["quick_boot"] = c["quick_boot"] or bool(quick.get(hname))
        c["hosts"].append(spec)
    newest = max((r for r, _ in images), key=sort_key, default=None)
    data = {
        "name": name,
        "description": "Imported from PowerCLI exports (vtalab import): "
                       + "; ".join(notes or ["no Quick-Booted host"]),
        "seed": seed,
        "topology": {
            "ta_cluster": {"hosts": [{"name": "ta-esx-01",
                                      "release": newest.key if newest else "8.0 U2"}],
                           "base_images": [r.key for r, _ in images]},
            "trusted_clusters": [clusters[k] for k in sorted(clusters)],
        },
        "steps": [{"id": "observe", "at": 600, "do": "Get-TrustAuthorityVMHostBaseImage"}],
    }
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)
    from vtalab.scenario import load_scenario_text

    load_scenario_text(text, file="<imported>")  # what we write must load
    return text, notes
