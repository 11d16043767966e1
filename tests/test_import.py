"""`vtalab import`: estates from the PowerCLI samples in tests/data/powercli/, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vtalab.cli import main
from vtalab.explain import explain
from vtalab.scenario import load_scenario, load_scenario_text, run_scenario

DATA = Path(__file__).resolve().parent / "data" / "powercli"


def _import(tmp_path: Path, hosts: str = "hosts.json", images: str = "images.json",
            *extra: str) -> tuple[int, Path]:
    out = tmp_path / "estate.yaml"
    code = main(["import", "--hosts", str(DATA / hosts), "--base-images", str(DATA / images),
                 "--quickboot", str(DATA / "quickboot.txt"), "--out", str(out), *extra])
    return code, out


def test_import_infers_last_full_boot_and_runs(tmp_path: Path) -> None:
    code, out = _import(tmp_path)
    assert code == 0
    data = yaml.safe_load(out.read_text())
    esx01 = data["topology"]["trusted_clusters"][0]["hosts"][0]
    assert esx01["last_full_boot"] == "8.0.1-21495797" and esx01["quick_boots_since"] == 1
    result = run_scenario(load_scenario(str(out)))
    status = result.world.attestation_status("esx-01.lab.local")
    assert status["status"] == "attested" and status["measured_version"] == "8.0.1-21495797"
    # Removing the "old" image reproduces the field failure.
    data["steps"].append({"do": "Remove-TrustAuthorityVMHostBaseImage",
                          "with": {"version": "8.0.1-21495797"}})
    data["expect"] = [{"attestation": {"host": "esx-01.lab.local", "status": "notAttested",
                                       "reason": "untrusted_base_image"}},
                      {"attestation": {"host": "esx-02.lab.local", "status": "notAttested"}}]
    assert run_scenario(load_scenario_text(yaml.safe_dump(data))).ok


def test_import_after_removal_needs_the_override_and_reproduces(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _import(tmp_path, "hosts.json", "images-after-removal.json")
    assert code == 2 and "--last-full-boot esx-01.lab.local=RELEASE" in capsys.readouterr().err
    assert not out.exists()
    code, out = _import(tmp_path, "hosts.json", "images-after-removal.json",
                        "--last-full-boot", "esx-01.lab.local=8.0 U1")
    assert code == 0
    x = explain(load_scenario(str(out)), "esx-01.lab.local", fixes=False)
    assert x.chain["status"]["reason"] == "untrusted_base_image"
    assert x.chain["versions"]["measured"] == "8.0.1-21495797"


@pytest.mark.parametrize(("hosts", "needle"), [
    ("hosts-bad-build.json", "hosts-bad-build.json:2: field 'Build': unknown ESXi build "
                             "22380480"),
    ("hosts-missing-field.json", "hosts-missing-field.json:3: missing field 'Version'"),
    ("hosts-wrong-type.json", "hosts-wrong-type.json:2: field 'Version': expected str"),
    ("hosts-bad-json.json", "hosts-bad-json.json:4:4: not valid JSON"),
])
def test_bad_input_names_file_line_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         hosts: str, needle: str) -> None:
    code, out = _import(tmp_path, hosts)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err
    assert not out.exists()


def test_bad_build_lists_nearest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _import(tmp_path, "hosts-bad-build.json")
    assert "8.0.2-22380479" in capsys.readouterr().err


def test_bad_quickboot_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "qb.txt"
    bad.write_text("esx-01.lab.local yes\n")
    code = main(["import", "--hosts", str(DATA / "hosts.json"), "--base-images",
                 str(DATA / "images.json"), "--quickboot", str(bad), "--out",
                 str(tmp_path / "e.yaml")])
    assert code == 2 and "qb.txt:1:" in capsys.readouterr().err
