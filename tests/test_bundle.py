"""Bug bundles: ``vtalab bundle`` packs a reproducible bug, ``vtalab run BUG.tgz`` replays it.

Round trips on the Quick Boot bug family, byte-identical archives, the version guard,
tampering, corrupt files, and the bundled evidence checked by the real ``tpm2_checkquote``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

import vtalab
from vtalab.cli import main
from vtalab.core.kernel import SIM_EPOCH
from vtalab.forensics.bundle import EVIDENCE_FILES, MANIFEST, _pack, open_bundle
from vtalab.tpm.files import checkquote_command

BUGS = Path(__file__).resolve().parent.parent / "scenarios" / "bugs"
REMOVE = BUGS / "remove-original-before-full-reboot.yaml"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture(scope="module")
def remove_bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bundle of remove-original-before-full-reboot, esx-01 at 40m (built once)."""
    out = tmp_path_factory.mktemp("bundle") / "BUG.tgz"
    assert main(["bundle", str(REMOVE), "--host", "esx-01", "--at", "90m",
                 "--out", str(out)]) == 0
    return out.read_bytes()


def members_of(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {i.name: tar.extractfile(i).read() for i in tar}  # type: ignore[union-attr]


def repack(data: bytes, edit: Callable[[dict[str, bytes]], None], *,
           rehash: bool = False) -> bytes:
    """``data`` with its members edited; ``rehash`` also updates the manifest's hashes
    (a consistent bundle whose content no longer matches the simulation)."""
    members = members_of(data)
    edit(members)
    if rehash:
        manifest = json.loads(members[MANIFEST])
        manifest["members"] = {n: hashlib.sha256(d).hexdigest()
                               for n, d in sorted(members.items()) if n != MANIFEST}
        members[MANIFEST] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    return _pack(members)


# -- round trips ----------------------------------------------------------------------------

@pytest.mark.parametrize(("stem", "host", "at", "code"), [
    ("remove-original-before-full-reboot", "esx-01", "90m", 0),
    ("quick-boot-refused-txt", "esx-02", None, 0),
    ("intermediate-images", "esx-01", None, 0),
])
def test_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str], stem: str,
                    host: str, at: str | None, code: int) -> None:
    out = tmp_path / "BUG.tgz"
    at_args = ["--at", at] if at else []
    rc, text, err = cli(capsys, "bundle", str(BUGS / f"{stem}.yaml"), "--host", host,
                        *at_args, "--out", str(out))
    assert rc == 0, err
    assert f"reproduce it with: vtalab run {out}" in text
    digest = json.loads(members_of(out.read_bytes())[MANIFEST])["trace_digest"]

    rc, text, err = cli(capsys, "run", str(out))
    assert rc == code, text + err
    assert f"reproduced: trace digest {digest} identical\n" in text
    assert f"evidence of {host} at " in text and "8 files identical" in text
    # The timeline is the one `vtalab run FILE` prints, under the bundle's name.
    rc_plain, plain, _ = cli(capsys, "run", str(BUGS / f"{stem}.yaml"))
    assert rc_plain == code
    body = plain.split("\n", 1)[1]  # past the heading, which names the file
    assert body in text


def test_bundle_contents(remove_bundle: bytes) -> None:
    members = members_of(remove_bundle)
    evidence = {f"evidence/esx-01/{n}" for n in EVIDENCE_FILES}
    assert set(members) == {"manifest.json", "scenario.yaml", "trace.jsonl", "explain.txt",
                            "explain.json", *evidence}
    assert members["scenario.yaml"] == REMOVE.read_bytes()  # as written
    manifest = json.loads(members[MANIFEST])
    assert manifest["format"] == "vtalab.bundle" and manifest["format_version"] == 3
    assert manifest["vtalab_version"] == vtalab.__version__
    assert (manifest["scenario"], manifest["seed"], manifest["hosts"], manifest["at"]) == (
        "remove-original-before-full-reboot", 11, ["esx-01"], 5400.0)
    for name, data in members.items():
        if name != MANIFEST:
            assert manifest["members"][name] == hashlib.sha256(data).hexdigest()
    # The trace is the `vtalab run --trace` format: header, events, digest line.
    lines = members["trace.jsonl"].decode().splitlines()
    header, last = json.loads(lines[0]), json.loads(lines[-1])
    assert header["kind"] == "vtalab.trace" and header["seed"] == 11
    assert header["scenario_text"] == REMOVE.read_text(encoding="utf-8")
    assert last == {"kind": "vtalab.digest", "sha256": manifest["trace_digest"]}
    [explanation] = json.loads(members["explain.json"])
    assert explanation["host"] == "esx-01" and explanation["at"] == 5400.0
    assert explanation["status"]["reason"] == "untrusted_base_image"
    assert members["explain.txt"].startswith(b"== explain esx-01 at T+01:30:00")


def test_bundled_trace_replays(tmp_path: Path, remove_bundle: bytes,
                               capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_bytes(members_of(remove_bundle)["trace.jsonl"])
    rc, out, _ = cli(capsys, "replay", str(trace))
    assert rc == 0 and out.startswith("replay identical:")


def test_byte_identical(tmp_path: Path, remove_bundle: bytes,
                        capsys: pytest.CaptureFixture[str]) -> None:
    # Same scenario text (copied elsewhere: the bundle keeps only the file's base name).
    copy = tmp_path / "elsewhere" / REMOVE.name
    copy.parent.mkdir()
    shutil.copy(REMOVE, copy)
    out = tmp_path / "again.tgz"
    assert cli(capsys, "bundle", str(copy), "--host", "esx-01", "--at", "90m",
               "--out", str(out))[0] == 0
    assert out.read_bytes() == remove_bundle
    # ... and the archive is normalised: sorted, epoch times, root-owned, 0644.
    with tarfile.open(fileobj=io.BytesIO(remove_bundle), mode="r:gz") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    epoch = int(SIM_EPOCH.timestamp())
    assert {(i.mtime, i.uid, i.gid, i.mode, i.uname, i.gname) for i in infos} == {
        (epoch, 0, 0, 0o644, "", "")}
    assert int.from_bytes(remove_bundle[4:8], "little") == epoch  # gzip header MTIME
    # A different moment is a different bundle.
    other = tmp_path / "other.tgz"
    assert cli(capsys, "bundle", str(REMOVE), "--host", "esx-01", "--at", "20m",
               "--out", str(other))[0] == 0
    assert other.read_bytes() != remove_bundle


def test_json_report(tmp_path: Path, remove_bundle: bytes,
                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "BUG.tgz"
    path.write_bytes(remove_bundle)
    rc, out, _ = cli(capsys, "run", str(path), "--json")
    report = json.loads(out)
    assert rc == 0 and report["ok"] and report["reproduced"]
    assert report["divergence"] is None and report["evidence_differs"] == {}
    assert report["hosts"] == ["esx-01"]
    assert report["run"]["seed"] == 11


# -- which hosts: the failing ones by default, or --host ------------------------------------

def test_without_host_bundles_every_host_not_attested(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's form: at 90m esx-01 (Quick-Booted) and esx-02 both fail to attest."""
    out = tmp_path / "BUG.tgz"
    rc, text, err = cli(capsys, "bundle", str(REMOVE), "--at", "90m", "--out", str(out))
    assert rc == 0, err
    assert "evidence of esx-01, esx-02 at T+01:30:00" in text
    members = members_of(out.read_bytes())
    assert json.loads(members[MANIFEST])["hosts"] == ["esx-01", "esx-02"]
    for host in ("esx-01", "esx-02"):
        assert {n for n in members if n.startswith(f"evidence/{host}/")} == {
            f"evidence/{host}/{n}" for n in EVIDENCE_FILES}
    explained = json.loads(members["explain.json"])
    assert [(x["host"], x["status"]["status"]) for x in explained] == [
        ("esx-01", "notAttested"), ("esx-02", "notAttested")]
    assert members["explain.txt"].decode().count("== explain ") == 2
    rc, text, err = cli(capsys, "run", str(out))
    assert rc == 0, text + err
    assert "hosts esx-01, esx-02 at T+01:30:00" in text
    assert "evidence of esx-01 at T+01:30:00: 8 files identical" in text
    assert "evidence of esx-02 at T+01:30:00: 8 files identical" in text


def test_without_host_when_all_attest_bundles_all(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "BUG.tgz"
    assert cli(capsys, "bundle", str(REMOVE), "--at", "10m", "--out", str(out))[0] == 0
    members = members_of(out.read_bytes())
    assert json.loads(members[MANIFEST])["hosts"] == ["esx-01", "esx-02"]
    assert {x["status"]["status"] for x in json.loads(members["explain.json"])} == {"attested"}


def test_only_the_failing_host_by_default(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """quick-boot-refused-txt: esx-02 fails, esx-01 attests; only esx-02 is bundled."""
    out = tmp_path / "BUG.tgz"
    assert cli(capsys, "bundle", str(BUGS / "quick-boot-refused-txt.yaml"),
               "--out", str(out))[0] == 0
    manifest = json.loads(members_of(out.read_bytes())[MANIFEST])
    assert manifest["hosts"] == ["esx-02"]


POWERED_OFF = """\
name: one-host-off
seed: 5
topology:
  ta_cluster: {hosts: [{name: ta-esx-01}], base_images: ["8.0 U1"]}
  trusted_clusters:
    - hosts:
        - {name: esx-01, release: 8.0 U2}
        - {name: esx-02, release: 8.0 U2, powered_on: false}
steps: []
"""


def test_default_leaves_out_a_host_without_evidence(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "off.yaml"
    scenario.write_text(POWERED_OFF)
    out = tmp_path / "BUG.tgz"
    rc, text, err = cli(capsys, "bundle", str(scenario), "--out", str(out))
    assert rc == 0, err
    assert "left out esx-02: no evidence at T+" in text
    assert json.loads(members_of(out.read_bytes())[MANIFEST])["hosts"] == ["esx-01"]
    # Chosen explicitly, the same host is an error, and nothing is written.
    out2 = tmp_path / "BUG2.tgz"
    rc, _, err = cli(capsys, "bundle", str(scenario), "--host", "esx-02", "--out", str(out2))
    assert rc == 2 and "--host esx-02: no evidence at" in err and not out2.exists()


def test_repeated_host_chooses_several(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "BUG.tgz"
    assert cli(capsys, "bundle", str(REMOVE), "--host", "esx-02", "--host", "esx-01",
               "--at", "90m", "--out", str(out))[0] == 0
    assert json.loads(members_of(out.read_bytes())[MANIFEST])["hosts"] == ["esx-01",
                                                                            "esx-02"]
    rc, _, err = cli(capsys, "bundle", str(REMOVE), "--host", "ta-esx-01",
                     "--out", str(tmp_path / "TA.tgz"))
    assert rc == 2 and "Trust Authority host" in err


def test_format_1_bundle_still_runs(tmp_path: Path, remove_bundle: bytes,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A bundle written before several hosts (one ``host``) is still read and checked."""
    def as_format_1(members: dict[str, bytes]) -> None:
        manifest = json.loads(members[MANIFEST])
        manifest["format_version"] = 1
        manifest["host"] = manifest.pop("hosts")[0]
        members[MANIFEST] = json.dumps(manifest).encode()
        members["explain.json"] = json.dumps(json.loads(members["explain.json"])[0]).encode()

    path = tmp_path / "V1.tgz"
    path.write_bytes(repack(remove_bundle, as_format_1, rehash=True))
    rc, out, err = cli(capsys, "run", str(path))
    assert rc == 0, out + err
    assert "reproduced: trace digest" in out
    assert "evidence of esx-01 at T+01:30:00: 8 files identical" in out

    def as_format_9(members: dict[str, bytes]) -> None:
        manifest = json.loads(members[MANIFEST])
        manifest["format_version"] = 9
        members[MANIFEST] = json.dumps(manifest).encode()

    path.write_bytes(repack(remove_bundle, as_format_9))
    rc, _, err = cli(capsys, "run", str(path))
    assert rc == 2 and "bundle format version 9 is not one this vtalab" in err


# -- the version guard ----------------------------------------------------------------------

def test_other_version_refused_unless_forced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "OLD.tgz"
    with monkeypatch.context() as m:
        m.setattr(vtalab, "__version__", "0.0.9")
        assert cli(capsys, "bundle", str(REMOVE), "--host", "esx-01", "--at", "90m",
                   "--out", str(path))[0] == 0
    assert json.loads(members_of(path.read_bytes())[MANIFEST])["vtalab_version"] == "0.0.9"
    rc, out, err = cli(capsys, "run", str(path))
    assert rc == 2 and out == ""
    assert "recorded by vtalab 0.0.9" in err and f"this is vtalab {vtalab.__version__}" in err
    assert "--force-version" in err
    rc, out, _ = cli(capsys, "run", str(path), "--force-version")
    assert rc == 0
    assert f"recorded by vtalab 0.0.9, running vtalab {vtalab.__version__}" in out
    assert "reproduced: trace digest" in out


def test_forced_version_reports_divergence(tmp_path: Path, remove_bundle: bytes,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """An 'other version' whose trace differs: forcing it shows the first divergent event."""
    def other_simulator(members: dict[str, bytes]) -> None:
        manifest = json.loads(members[MANIFEST])
        manifest["vtalab_version"] = "9.9.9"
        members[MANIFEST] = json.dumps(manifest).encode()
        lines = members["trace.jsonl"].decode().split("\n")
        event = json.loads(lines[5])
        event["t"] = event["t"] + 1.0
        lines[5] = json.dumps(event, sort_keys=True, separators=(",", ":"))
        members["trace.jsonl"] = "\n".join(lines).encode()

    path = tmp_path / "OTHER.tgz"
    path.write_bytes(repack(remove_bundle, other_simulator, rehash=True))
    assert cli(capsys, "run", str(path))[0] == 2
    rc, out, _ = cli(capsys, "run", str(path), "--force-version")
    assert rc == 1
    assert f"NOT reproduced: replay diverges at event 4 ({path}:trace.jsonl:6):" in out
    assert "reproduced: trace digest" not in out.replace("NOT reproduced", "")


def test_different_evidence_is_not_reproduced(tmp_path: Path, remove_bundle: bytes,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def other_nonce(members: dict[str, bytes]) -> None:
        members["evidence/esx-01/nonce.hex"] = b"00" * 32

    path = tmp_path / "NONCE.tgz"
    path.write_bytes(repack(remove_bundle, other_nonce, rehash=True))
    rc, out, _ = cli(capsys, "run", str(path))
    assert rc == 1
    assert "reproduced: trace digest" in out  # the trace does reproduce ...
    assert "evidence of esx-01 at T+01:30:00 differs: nonce.hex" in out  # ... not this
    rc, out, _ = cli(capsys, "run", str(path), "--json")
    assert rc == 1 and json.loads(out)["evidence_differs"] == {"esx-01": ["nonce.hex"]}


# -- damaged, edited and foreign files ------------------------------------------------------

@pytest.mark.parametrize(("member", "change"), [
    ("explain.txt", "edit"), ("trace.jsonl", "edit"), ("evidence/esx-01/quote.sig", "edit"),
    ("evidence/esx-01/pcrs.out", "drop"), ("scenario.yaml", "drop"), ("extra.txt", "add"),
])
def test_tampering(tmp_path: Path, remove_bundle: bytes, capsys: pytest.CaptureFixture[str],
                   member: str, change: str) -> None:
    def tamper(members: dict[str, bytes]) -> None:
        if change == "edit":
            members[member] = members[member].replace(b"0", b"1", 1) + b"\n"
        elif change == "drop":
            del members[member]
        else:
            members[member] = b"hello\n"

    path = tmp_path / "BUG.tgz"
    path.write_bytes(repack(remove_bundle, tamper))
    rc, out, err = cli(capsys, "run", str(path))
    assert rc == 2 and out == ""
    assert f"member {member} " in err
    expected = {"edit": "does not match the manifest", "drop": "is missing",
                "add": "is not in the manifest"}[change]
    assert expected in err


def test_edited_manifest(tmp_path: Path, remove_bundle: bytes,
                         capsys: pytest.CaptureFixture[str]) -> None:
    def no_trace(members: dict[str, bytes]) -> None:
        manifest = json.loads(members[MANIFEST])
        del manifest["members"]["trace.jsonl"]
        members[MANIFEST] = json.dumps(manifest).encode()

    path = tmp_path / "BUG.tgz"
    path.write_bytes(repack(remove_bundle, no_trace))
    rc, _, err = cli(capsys, "run", str(path))
    assert rc == 2 and "manifest.json lists no member trace.jsonl" in err

    def broken(members: dict[str, bytes]) -> None:
        members[MANIFEST] = b"{not json"

    path.write_bytes(repack(remove_bundle, broken))
    rc, _, err = cli(capsys, "run", str(path))
    assert rc == 2 and "manifest.json is not JSON" in err


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("random.tgz", bytes(range(256)) * 4, "not a gzip-compressed tar archive"),
    ("truncated.tgz", None, "corrupt or truncated"),
    ("plain.tgz", gzip.compress(b"just text\n", mtime=0), "corrupt or truncated"),
    ("other.tgz", _tgz({"README": b"hi\n"}), "it has no manifest.json (it holds README)"),
    ("sneaky.tar.gz", _tgz({"../manifest.json": b"{}"}), "not a plain file with a relative"),
])
def test_not_a_bundle(tmp_path: Path, remove_bundle: bytes,
                      capsys: pytest.CaptureFixture[str], name: str, content: bytes | None,
                      message: str) -> None:
    path = tmp_path / name
    path.write_bytes(remove_bundle[: len(remove_bundle) // 2] if content is None else content)
    rc, out, err = cli(capsys, "run", str(path))
    assert rc == 2 and out == "" and message in err, err


def test_bad_requests(tmp_path: Path, remove_bundle: bytes,
                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "BUG.tgz"
    path.write_bytes(remove_bundle)
    for argv, message in [
        (["run", str(path), "--seed", "3"], "--seed does not apply to a bug bundle"),
        (["run", str(path), "--until", "5m"], "--until does not apply to a bug bundle"),
        (["run", str(path), str(REMOVE)], "a bug bundle runs alone"),
        (["run", str(tmp_path / "missing.tgz")], "cannot read bundle"),
        (["bundle", str(REMOVE), "--host", "esx-1", "--out", str(tmp_path / "x.tgz")],
         "did you mean 'esx-01'"),
        (["bundle", str(REMOVE), "--host", "esx-01", "--out", str(tmp_path / "x.zip")],
         "a bug bundle is a .tgz file"),
        (["bundle", str(REMOVE), "--host", "esx-01", "--out",
          str(tmp_path / "no" / "x.tgz")], "does not exist"),
    ]:
        rc, out, err = cli(capsys, *argv)
        assert rc == 2 and message in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BUG.tgz"]  # nothing written


def test_open_bundle_reads_in_memory(tmp_path: Path, remove_bundle: bytes) -> None:
    path = tmp_path / "BUG.tgz"
    path.write_bytes(remove_bundle)
    bundle = open_bundle(str(path))
    assert bundle.hosts == ["esx-01"]
    assert sorted(bundle.evidence("esx-01")) == sorted(EVIDENCE_FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BUG.tgz"]  # nothing extracted


# -- the evidence is real -------------------------------------------------------------------

@pytest.mark.conformance
def test_bundled_evidence_verifies_with_tpm2_checkquote(tmp_path: Path,
                                                        remove_bundle: bytes) -> None:
    if shutil.which("tpm2_checkquote") is None:
        pytest.fail("tpm2_checkquote not found on PATH: install tpm2-tools 5.4 "
                    "(conformance tests must not be skipped)")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for name, data in members_of(remove_bundle).items():
        if name.startswith("evidence/esx-01/"):
            (evidence / name.rsplit("/", 1)[1]).write_bytes(data)
    command = checkquote_command(evidence)
    done = subprocess.run(command, shell=True, cwd=evidence, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # Tampered evidence must fail the same check (the test can fail).
    # Byte 142 of pcrs.out is the first byte of the first PCR value (vtalab.tpm.files).
    pcrs = bytearray((evidence / "pcrs.out").read_bytes())
    pcrs[142] ^= 0xFF
    (evidence / "pcrs.out").write_bytes(bytes(pcrs))
    bad = subprocess.run(command, shell=True, cwd=evidence, capture_output=True, text=True,
                         timeout=60, check=False)
    assert bad.returncode != 0
