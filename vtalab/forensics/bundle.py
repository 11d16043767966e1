"""Bug bundles: one file that carries an attestation failure from one lab to another.

``vtalab bundle FILE [--host HOST ...] [--at TIME] --out BUG.tgz`` packs what someone else
needs to see the failure happen again and to check it without trusting the sender's words.
Without ``--host`` the bundle is about every trusted host that is **not attested** at
``--at`` (all trusted hosts when every one is attested); a host that is powered off then
has no TPM to quote and is left out, with a note. ``--host`` (repeatable) chooses:

================================  ==========================================================
member                            content
================================  ==========================================================
``scenario.yaml``                 the scenario text, byte for byte as written
``trace.jsonl``                   the whole run's trace, as ``vtalab run --trace`` writes it
                                  (header with scenario text and seed, events, digest line)
``evidence/HOST/*``               each host's TPM evidence at ``--at`` (``World.evidence``):
                                  ``quote.msg``, ``quote.sig``, ``ak.pub.pem``,
                                  ``eventlog.bin``, ``pcrs.bin``, ``pcrs.out``,
                                  ``pcrs.json``, ``nonce.hex`` — it verifies with the real
                                  ``tpm2_checkquote`` (:func:`vtalab.tpm.files.checkquote_command`)
``explain.txt``, ``explain.json``  ``vtalab explain FILE --host HOST --at TIME`` (with fixes)
                                  for each host, in host order (the JSON is a list)
``manifest.json``                 format and vtalab version, scenario name, seed, ``at``,
                                  hosts, the trace digest, the SHA-256 of every other
                                  member and, for a scenario without expectations (an
                                  imported estate), ``expect``: the failure it reproduces
================================  ==========================================================

``vtalab run BUG.tgz`` reads the bundle **in memory** (nothing is extracted), checks every
member against the manifest, re-runs the scenario with the recorded seed, prints the
timeline as ``vtalab run`` does and says whether the trace reproduces bit for bit
(``reproduced: trace digest … identical``, or the first divergent event), and whether each
host's evidence at ``at`` is byte-identical too. Format 1 bundles (one ``host``, a JSON
object in ``explain.json``) are still read.

The verdict of a bug bundle
---------------------------
A scenario with expectations is judged by them. A scenario without any (an estate made
by ``vtalab import``) would pass whatever happens, so its bundle carries one: every
bundled host **attested** at ``at``, with the status each one had when it was bundled.
``vtalab run BUG.tgz`` then exits **1 while the failure reproduces** and **0 once it no
longer does**: after the estate is fixed and bundled again, or with ``--fix KEY``, which
applies one of ``vtalab explain``'s fixes (``import-measured``, ``full-reboot``, ...) at
``at`` to the recorded run and judges the result after ``explain``'s bound.

Why the version is enforced
---------------------------
A trace is reproducible only by the simulator that wrote it: another vtalab version may
model a boot or a timer differently. A bundle recorded by another version is refused
(exit 2) with both versions named; ``--force-version`` runs it anyway and reports the
comparison as it is — it never claims a reproduction the digests do not show.

Why the archive is deterministic
--------------------------------
The same scenario, hosts and time give a byte-identical ``.tgz``: members sorted by name,
the tar ``mtime`` and the gzip header time set to :data:`vtalab.core.kernel.SIM_EPOCH`, uid/gid
0 with empty owner names, mode 0644, no file name in the gzip header. Two engineers who
bundle the same bug can compare the files' hashes.

A manifest holds exactly the keys of its format (:data:`MANIFEST_KEYS`, ``expect``:
:data:`EXPECT_KEYS`) and lists exactly the members above for its hosts: anything else (a
misspelt key, an inner archive, another host's evidence) is refused with the nearest valid
name, never dropped or carried along unchecked.

The manifest's hashes detect a damaged or edited member (integrity); they are not a
signature (the manifest itself can be rewritten), so a bundle is evidence of a
*reproducible simulation*, not of who made it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from typing import Any

import vtalab
from vtalab.core import files
from vtalab.core.kernel import SIM_EPOCH, format_time
from vtalab.core.simtime import parse_time
from vtalab.errors import InputError, OperationError, ScenarioError
from vtalab.forensics.explain import explain
from vtalab.scenario.expect import Verdict
from vtalab.scenario.model import check_name, run_scenario
from vtalab.scenario.tracefile import load_file, trace_text

__all__ = ["EXPECT_KEYS", "FORMAT", "FORMAT_VERSION", "MANIFEST", "MANIFEST_KEYS", "SCENARIO",
           "TRACE", "Bundle", "build_bundle", "default_hosts", "is_bundle", "open_bundle",
           "sha256_hex"]

#: What ``manifest.json`` says a bundle is; its layout version (bump on any change).
#: 2: several hosts (``hosts``; ``explain.json`` a list). 1: one ``host`` (still read).
#: 3: ``expect`` (the failure a bundle of a scenario without expectations reproduces).
FORMAT, FORMAT_VERSION = "vtalab.bundle", 3
_READS = (1, 2, 3)

MANIFEST, SCENARIO, TRACE = "manifest.json", "scenario.yaml", "trace.jsonl"
EXPLAIN_TXT, EXPLAIN_JSON = "explain.txt", "explain.json"

#: The evidence files a bundle must carry for its host (``World.evidence`` names).
EVIDENCE_FILES = ("ak.pub.pem", "eventlog.bin", "nonce.hex", "pcrs.bin", "pcrs.json",
                  "pcrs.out", "quote.msg", "quote.sig")

#: The keys a manifest of each format version holds (``build_bundle`` writes them): any
#: other key is a typo or an edit, refused with the nearest (never silently dropped).
_COMMON_KEYS = ("at", "evidence_time", "file", "format", "format_version", "members",
                "scenario", "seed", "trace_digest", "vtalab_version")
MANIFEST_KEYS = {1: frozenset({*_COMMON_KEYS, "host"}), 2: frozenset({*_COMMON_KEYS, "hosts"}),
                 3: frozenset({*_COMMON_KEYS, "hosts", "expect"})}
#: The keys of a manifest's ``expect``.
EXPECT_KEYS = frozenset({"at", "attested", "recorded"})

_MODE = 0o644
_MTIME = int(SIM_EPOCH.timestamp())
_GZIP_MAGIC = b"\x1f\x8b"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _evidence_dir(host: str) -> str:
    return f"evidence/{host}"


# -- building -------------------------------------------------------------------------------

def default_hosts(world: Any) -> list[str]:
    """The hosts a bundle is about without ``--host``: the trusted hosts not attested now,
    or every trusted host when all are attested (sorted by name)."""
    trusted = sorted(h for c in world.trusted_clusters.values() for h in c.hosts)
    failing = [h for h in trusted if world.attestation_status(h)["status"] != "attested"]
    return failing or trusted


def build_bundle(file: str, hosts: list[str] | None = None, at: float | None = None
                 ) -> tuple[bytes, list[str]]:
    """The ``.tgz`` bytes of the bug bundle of scenario ``file`` at ``at``, and notes.

    ``hosts``: the trusted hosts it is about (each must have TPM evidence at ``at``);
    ``None``: :func:`default_hosts`, leaving out (with a note) those without evidence.
    """

    text, scenario = load_file(file)
    trusted = [h.name for c in scenario.topology.trusted_clusters for h in c.hosts]
    hosts = [check_name(scenario.topology, h, "host", option="--host") for h in hosts or []]
    for host in hosts:  # a misspelt --host fails before anything runs
        if host not in trusted:
            raise InputError(f"--host: {host!r} is a Trust Authority host; a bug bundle is "
                             "about trusted hosts", what="trusted hosts", value=host,
                             choices=trusted)
    full = run_scenario(scenario)  # the run `vtalab run FILE --trace` records
    moment = full if at is None else run_scenario(scenario, until=at)
    when = format_time(moment.end)
    notes: list[str] = []
    evidence: dict[str, dict[str, bytes]] = {}
    for host in sorted(set(hosts)) if hosts else default_hosts(moment.world):
        try:
            evidence[host] = moment.world.evidence(host)
        except (OperationError, InputError) as exc:
            if hosts:
                raise InputError(f"--host {host}: no evidence at {when}: {exc}; choose an "
                                 "--at when the host is powered on") from None
            notes.append(f"left out {host}: no evidence at {when} ({exc})")
    if not evidence:
        raise InputError(f"no trusted host has TPM evidence at {when} (all are powered off); "
                         "choose an --at when one is powered on, or a --host")
    explanations = [explain(scenario, host, at) for host in sorted(evidence)]
    name = os.path.basename(file)
    members = {
        SCENARIO: text.encode("utf-8"),
        TRACE: trace_text(name, text, full).encode("ascii"),
        EXPLAIN_TXT: "\n".join(x.text() for x in explanations).encode("utf-8"),
        EXPLAIN_JSON: (json.dumps([x.to_dict() for x in explanations], indent=2,
                                  sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"),
    }
    for host in sorted(evidence):
        for fname in sorted(evidence[host]):
            members[f"{_evidence_dir(host)}/{fname}"] = evidence[host][fname]
    expect = None
    if not scenario.expect:  # nothing else judges the run: the bundle says what must hold
        expect = {"attested": sorted(evidence), "at": moment.end,
                  "recorded": {h: _symptom(moment.world, h) for h in sorted(evidence)}}
    manifest = {
        **({"expect": expect} if expect is not None else {}),
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "vtalab_version": vtalab.__version__,
        "scenario": scenario.name, "file": name, "seed": full.seed,
        "hosts": sorted(evidence), "at": at, "evidence_time": moment.end,
        "trace_digest": full.digest,
        "members": {n: sha256_hex(members[n]) for n in sorted(members)},
    }
    members[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
                         + "\n").encode("utf-8")
    return _pack(members), notes


def _symptom(world: Any, host: str) -> str:
    """``attested`` or ``notAttested (reason)``: a host's status in a few words."""
    status = world.attestation_status(host)
    reason = status.get("reason")
    return str(status["status"]) + (f" ({reason})" if reason else "")


def expect_verdicts(manifest: dict[str, Any], world: Any, at: float, *,
                    fixed: bool = False) -> list[Any]:
    """The verdicts of a bundle's ``expect`` (none without one) in ``world`` at ``at``."""

    expect = manifest.get("expect")
    if not expect:
        return []
    recorded = expect.get("recorded", {})
    out = []
    for host in expect["attested"]:
        now = _symptom(world, host)
        ok = now == "attested"
        was = recorded.get(host)
        if ok:
            detail = ("attested: the failure no longer reproduces" if was != "attested"
                      else "attested, as recorded")
        elif was == now:
            detail = f"{now}, as recorded: the failure reproduces"
        else:
            detail = f"{now} (recorded: {was}): a failure, not the recorded one"
        if fixed and not ok:
            detail += "; the fix does not repair it"
        out.append(Verdict(ok, detail, label=f"bundle: attestation {host} at "
                                             f"{format_time(at)}", at=at))
    return out


def _pack(members: dict[str, bytes]) -> bytes:
    """A deterministic tar.gz of ``members`` (see the module docstring)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            data = members[name]
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), _MTIME, _MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=_MTIME) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


# -- reading --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bundle:
    """A bundle read into memory and checked against its manifest."""

    path: str
    manifest: dict[str, Any]
    members: dict[str, bytes]

    @property
    def hosts(self) -> list[str]:
        return _hosts(self.manifest)

    @property
    def version(self) -> str:
        return str(self.manifest["vtalab_version"])

    @property
    def scenario_text(self) -> str:
        return files.decode_text(self.members[SCENARIO], f"{self.path}:{SCENARIO}")

    def evidence(self, host: str) -> dict[str, bytes]:
        prefix = _evidence_dir(host) + "/"
        return {n[len(prefix):]: d for n, d in self.members.items() if n.startswith(prefix)}


def _hosts(manifest: dict[str, Any]) -> list[str]:
    """The bundle's hosts (format 1 names one ``host``)."""
    if manifest.get("format_version") == 1:
        return [str(manifest["host"])]
    return [str(h) for h in manifest["hosts"]]


def is_bundle(path: str) -> bool:
    """Whether ``vtalab run`` should treat ``path`` as a bundle (by name or gzip magic)."""
    if path.endswith((".tgz", ".tar.gz")):
        return True
    return files.peek(path, 2) == _GZIP_MAGIC  # a FIFO or device: not a bundle, no wait


def open_bundle(path: str) -> Bundle:
    """Read ``path`` into memory and check it; an :class:`InputError` names what is wrong.

    Bounded: the file is read only if regular and at most ``MAX_INPUT_BYTES``, and it
    inflates to at most ``MAX_ARCHIVE_BYTES`` before tar reads a header
    (:func:`vtalab.core.files.read_tgz`)."""
    try:
        data = files.read_bytes(path, what="bug bundle")
    except ScenarioError as exc:
        raise ScenarioError(f"cannot read bundle: {exc.reason}", file=path) from None
    members = _unpack(path, data)
    if MANIFEST not in members:
        listed = ", ".join(sorted(members)[:8]) or "nothing"
        raise InputError(f"{path} is not a vtalab bug bundle: it has no {MANIFEST} "
                         f"(it holds {listed}); make one with `vtalab bundle`")
    manifest = _manifest(path, members.pop(MANIFEST))
    recorded: dict[str, str] = manifest["members"]
    for name in sorted(recorded):
        if name not in members:
            raise InputError(f"{path}: member {name} is missing (the manifest lists it); "
                             "the bundle is damaged or was edited")
        got = sha256_hex(members[name])
        if got != recorded[name]:
            raise InputError(f"{path}: member {name} does not match the manifest (SHA-256 "
                             f"{got}, recorded {recorded[name]}); the bundle is damaged or "
                             "was edited")
    for name in sorted(members):
        if name not in recorded:
            raise InputError(f"{path}: member {name} is not in the manifest; the bundle "
                             "was edited")
    return Bundle(path, manifest, members)


def _unpack(path: str, data: bytes) -> dict[str, bytes]:
    if not data.startswith(_GZIP_MAGIC):
        raise InputError(f"{path} is not a vtalab bug bundle: not a gzip-compressed tar "
                         "archive (a bundle is the .tgz `vtalab bundle --out` writes)")
    try:
        return files.read_tgz(data, path)
    except InputError as exc:
        raise InputError(f"{exc}; not a readable vtalab bug bundle") from None


def _manifest(path: str, raw: bytes) -> dict[str, Any]:
    def bad(why: str) -> InputError:
        return InputError(f"{path}: {MANIFEST} {why}; the bundle is damaged or was edited")

    label = f"{path}:{MANIFEST}"
    try:
        manifest = files.load_json(files.decode_text(raw, label), label)
    except ScenarioError as exc:
        raise bad(f"is not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{path} is not a vtalab bug bundle: its {MANIFEST} does not say "
                         f"format {FORMAT!r}")
    version = manifest.get("format_version")
    if isinstance(version, bool) or version not in _READS:  # true == 1: not a version
        raise InputError(f"{path}: bundle format version {version!r} is not one this vtalab "
                         f"{vtalab.__version__} reads ({', '.join(map(str, _READS))})")
    known = MANIFEST_KEYS[version]
    for key in sorted(manifest):
        if key in known:
            continue
        other = [str(v) for v, keys in sorted(MANIFEST_KEYS.items()) if key in keys]
        if other:  # a key of another format: no "nearest" to suggest
            raise InputError(f"{path}: {MANIFEST} has the key {key!r} of format "
                             f"{' and '.join(other)} but says format_version {version}; "
                             "the bundle is damaged or was edited")
        raise InputError(f"{path}: {MANIFEST} has an unknown key {key!r}; the bundle is "
                         "damaged or was edited", what=f"keys (format {version})",
                         value=key, choices=sorted(known))
    fields = {"vtalab_version": str, "seed": int, "trace_digest": str, "members": dict,
              **({"host": str} if version == 1 else {"hosts": list})}
    for key, kind in fields.items():
        if not isinstance(manifest.get(key), kind):
            raise bad(f"has no valid {key!r}")
    if version != 1 and (not manifest["hosts"]
                         or not all(isinstance(h, str) for h in manifest["hosts"])):
        raise bad("has no valid 'hosts'")
    for key in ("at", "evidence_time"):  # times a person could have edited
        if manifest.get(key) is not None:
            try:
                manifest[key] = parse_time(manifest[key])
            except ValueError as exc:
                raise bad(f"has no valid {key!r} ({exc})") from None
    if not isinstance(manifest.get("scenario", ""), str):
        raise bad("has no valid 'scenario' (the scenario's name)")
    if not isinstance(manifest.get("file", ""), str):
        raise bad("has no valid 'file' (the scenario's file name)")
    expect = manifest.get("expect")
    if expect is not None and not (
            isinstance(expect, dict) and isinstance(expect.get("attested"), list)
            and all(isinstance(h, str) for h in expect["attested"])
            and isinstance(expect.get("recorded", {}), dict)
            and all(isinstance(v, str) for v in expect.get("recorded", {}).values())):
        raise bad("has no valid 'expect'")
    if expect is not None:
        for key in sorted(expect):
            if key not in EXPECT_KEYS:
                raise InputError(f"{path}: {MANIFEST} has an unknown key 'expect.{key}'; the "
                                 "bundle is damaged or was edited", what="keys of 'expect'",
                                 value=key, choices=sorted(EXPECT_KEYS))
        if expect.get("at") is not None:
            try:
                expect["at"] = parse_time(expect["at"])
            except ValueError as exc:
                raise bad(f"has no valid 'expect.at' ({exc})") from None
    members = manifest["members"]
    required = [SCENARIO, TRACE, EXPLAIN_TXT, EXPLAIN_JSON,
                *(f"{_evidence_dir(h)}/{n}" for h in _hosts(manifest) for n in EVIDENCE_FILES)]
    for name in required:
        if name not in members:
            raise bad(f"lists no member {name}")
    for name in sorted(members):
        # Only what build_bundle writes: another member (an inner archive, a file for
        # another host) would be carried along unchecked by anything but its hash.
        if name not in required:
            raise InputError(f"{path}: {MANIFEST} lists member {name!r}, which is not part "
                             f"of a bundle of {', '.join(_hosts(manifest))}; the bundle was "
                             "edited", what="members", value=name, choices=required)
    if not all(isinstance(v, str) for v in members.values()):
        raise bad("has a member hash that is not text")
    return manifest
