"""Hostile input to replay, evidence, logs, explain, import, bundle and golden: each is a
located exit 2 (or the right verdict), never an internal error, never a file written
outside where asked, never output that says more than happened."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from vtalab.cli import main
from vtalab.forensics.bundle import MANIFEST, _pack

ROOT = Path(__file__).resolve().parent.parent
REMOVE = ROOT / "scenarios" / "bugs" / "remove-original-before-full-reboot.yaml"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err, err
    return code, out, err


# -- bug bundles: a manifest that lies -------------------------------------------------------

@pytest.fixture(scope="module")
def bare_bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A bundle of the remove-original bug without expectations: the manifest carries its
    own ``expect`` (the hosts it judges and their recorded symptoms)."""
    folder = tmp_path_factory.mktemp("bare")
    data = yaml.safe_load(REMOVE.read_text(encoding="utf-8"))
    data.pop("expect", None)
    scenario = folder / "bare.yaml"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = folder / "BARE.tgz"
    assert main(["bundle", str(scenario), "--host", "esx-01", "--out", str(out)]) == 0
    return out.read_bytes()


def _edit_manifest(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = {i.name: tar.extractfile(i).read()  # type: ignore[union-attr]
                   for i in tar}
    manifest = json.loads(members[MANIFEST])
    edit(manifest)
    members[MANIFEST] = json.dumps(manifest).encode()
    return _pack(members)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m.update(evidence_time="abc"), "has no valid 'evidence_time'"),
    (lambda m: m.update(evidence_time=[1]), "has no valid 'evidence_time'"),
    (lambda m: m.update(evidence_time=1e300), "has no valid 'evidence_time'"),
    (lambda m: m.update(scenario=["x"]), "has no valid 'scenario'"),
    (lambda m: m.update(format_version=True), "format version True is not one"),
    (lambda m: m["expect"].update(attested=["esx-99"]),
     "manifest.json expect.attested names 'esx-99', which is not a trusted host"),
    (lambda m: m["expect"].update(recorded={"esx-01": 5}), "has no valid 'expect'"),
], ids=["time-text", "time-list", "time-far", "scenario-list", "version-bool",
        "expect-unknown-host", "recorded-number"])
def test_a_manifest_that_lies_is_a_located_error(
        edit: Callable[[dict[str, Any]], None], message: str, bare_bundle: bytes,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "EDITED.tgz"
    path.write_bytes(_edit_manifest(bare_bundle, edit))
    code, out, err = cli(capsys, "run", str(path))
    assert code == 2 and out == "", err
    assert err.startswith(f"error: {path}") and message in err, err


# -- vtalab golden: broken or extra files in the golden folder -------------------------------

@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A scenarios folder with one small scenario and its current transcript."""
    lib = tmp_path / "lib"
    (lib / "golden").mkdir(parents=True)
    source = ROOT / "scenarios" / "restart-vta-services.yaml"
    (lib / source.name).write_bytes(source.read_bytes())
    assert main(["golden", "--dir", str(lib), "--update"]) == 0
    return lib


def test_a_transcript_that_is_not_utf8_is_a_located_error(
        library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    transcript = library / "golden" / "restart-vta-services.txt"
    transcript.write_bytes(b"== ok\n\xff\xfe not text\n")
    code, out, err = cli(capsys, "golden", "--dir", str(library))
    assert code == 2 and f"{transcript}:2:1: the golden transcript is not UTF-8" in err, err


def test_a_golden_folder_that_is_a_file_is_refused_before_anything_runs(
        library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    folder = library / "golden"
    (folder / "restart-vta-services.txt").unlink()
    folder.rmdir()
    folder.write_text("not a folder\n", encoding="utf-8")
    code, out, err = cli(capsys, "golden", "--dir", str(library), "--update")
    assert code == 2 and f"{folder} is a file, not the folder" in err, err
    assert folder.read_text(encoding="utf-8") == "not a folder\n"


def test_a_folder_in_place_of_a_transcript_is_not_called_missing(
        library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    transcript = library / "golden" / "restart-vta-services.txt"
    transcript.unlink()
    transcript.mkdir()
    code, out, err = cli(capsys, "golden", "--dir", str(library))
    assert code == 2 and "is a directory, not a golden transcript" in err, err


def test_an_orphaned_transcript_is_reported_and_kept(
        library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    orphan = library / "golden" / "renamed-away.txt"
    orphan.write_text("old\n", encoding="utf-8")
    code, out, _ = cli(capsys, "golden", "--dir", str(library))
    assert code == 1 and f"ORPHAN {orphan}: no scenario renamed-away.yaml" in out, out
    assert "1 identical, 0 different, 1 orphaned" in out
    code, out, _ = cli(capsys, "golden", "--dir", str(library), "--update")
    assert code == 0 and f"left alone {orphan}" in out and orphan.is_file()


def test_a_folder_without_scenarios_is_not_a_pass(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "golden", "--dir", str(tmp_path))
    assert code == 2 and out == "" and "no scenario files (*.yaml)" in err, err
