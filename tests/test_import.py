"""`vtalab import` and estate snapshots: estates from the PowerCLI samples in
tests/data/powercli/, end to end, and the snapshot fields of the topology."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from vtalab.cli import main
from vtalab.core.files import MAX_INT_DIGITS
from vtalab.core.kernel import SIM_EPOCH
from vtalab.errors import ScenarioError
from vtalab.forensics.explain import explain
from vtalab.scenario.model import load_scenario, load_scenario_text, run_scenario

DATA = Path(__file__).resolve().parent / "data" / "powercli"


_API = {"images.json": "base-images-api.json",
        "images-with-history.json": "base-images-api-with-history.json",
        "images-after-removal.json": "base-images-api-after-removal.json",
        "images.clixml": "base-images-api.json"}


def _import(tmp_path: Path, hosts: str = "hosts.json", images: str = "images.json",
            *extra: str) -> tuple[int, Path]:
    """Import the sample estate: the PowerCLI exports plus, for the last-attested times,
    the REST base-images Info of the same images."""
    out = tmp_path / "estate.yaml"
    code = main(["import", "--hosts", str(DATA / hosts), "--base-images", str(DATA / images),
                 "--base-images-api", str(DATA / _API[images]),
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
    data["settle"] = 3700  # the removal is noticed at each host's next (hourly) attestation
    assert run_scenario(load_scenario_text(yaml.safe_dump(data))).ok


def test_import_after_removal_needs_the_override_and_reproduces(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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


# -- estate snapshots: base images with their last-attested times, TPM 2.0 settings --------

def _full_import(tmp_path: Path, *extra: str) -> Path:
    code, out = _import(tmp_path, "hosts.json", "images-with-history.json",
                        "--tpm2-settings", str(DATA / "tpm2-settings.json"), *extra)
    assert code == 0
    return out


def test_import_carries_last_attested_and_tpm2_settings(tmp_path: Path) -> None:
    data = yaml.safe_load(_full_import(tmp_path).read_text())
    ta = data["topology"]["ta_cluster"]
    # The newest time in the export (07:55Z) is T=0; the others are ages before it.
    # 8.0.0's /Date(1766395800000)/ (PowerShell 5.1) is 2025-12-22T09:30Z: 13d22h25m before.
    assert ta["base_images"] == [
        {"release": "8.0.0-20513097", "last_attested": "-13d22h25m"},
        {"release": "8.0.1-21495797", "last_attested": 0},
        {"release": "8.0.2-22380479", "last_attested": None}]
    assert ta["tpm2_settings"] == {"require_certificate_validation": False,
                                   "require_endorsement_keys": True}


def test_imported_lab_shows_the_estate_base_images_and_settings(tmp_path: Path) -> None:
    """End to end: what the lab's cmdlets print matches the PowerCLI export."""
    result = run_scenario(load_scenario(str(_full_import(tmp_path))))
    world = result.world
    rows = {r["VMHostVersion"]: r
            for r in world.call("Get-TrustAuthorityVMHostBaseImage").output}
    exported = json.loads((DATA / "base-images-api-with-history.json").read_text())
    assert sorted(rows) == sorted(exported)
    # No host measures 8.0.0 any more: its time is the export's, moved onto the lab's
    # calendar (T=0 = the export's newest time, 07:55Z; the lab's T=0 is SIM_EPOCH);
    # the lab shows it where vCenter does: in the base-images API.
    shift = SIM_EPOCH - datetime(2026, 1, 5, 7, 55, tzinfo=UTC)
    (info,) = world.call("Invoke-GetClusterVersionBaseImages",
                         version="8.0.0-20513097").output
    assert info["last_attested_time"] == (
        datetime(2025, 12, 22, 9, 30, tzinfo=UTC) + shift).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # 8.0.1 is still measured (esx-02 runs it, esx-01 Quick-Booted from it): stamped again.
    def last(version: str) -> str | None:
        out = world.call("Invoke-GetClusterVersionBaseImages", version=version).output
        return out[0]["last_attested_time"]  # type: ignore[no-any-return]

    assert last("8.0.1-21495797") is not None
    assert last("8.0.2-22380479") is None  # never, as exported
    (settings,) = world.call("Get-TrustAuthorityTpm2AttestationSettings").output
    assert (settings["RequireCertificateValidation"], settings["RequireEndorsementKey"]) == (
        False, True)
    # The settings went through the cmdlet, after the endorsement keys they require.
    tasks = [t["task"] for t in world.tasks() if t["time"] == 0]
    assert tasks.index("Update TPM 2.0 attestation settings") > max(
        i for i, t in enumerate(tasks) if t == "Add TPM 2.0 endorsement key")
    for host in ("esx-01.lab.local", "esx-02.lab.local"):
        assert world.attestation_status(host)["status"] == "attested"


def test_snapshot_history_is_a_named_bootstrap_step(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = _full_import(tmp_path)
    capsys.readouterr()
    assert main(["run", "--reveal", str(out)]) == 0
    text = capsys.readouterr().out
    assert ("[lab] snapshot history: base image 8.0.0-20513097 last attested "
            "2025-12-22T09:35:00+00:00 (13d 22:25:00 before the lab started)") in text
    x = explain(load_scenario(str(out)), "esx-01.lab.local", fixes=False)
    u0 = next(b for b in x.chain["base_images"] if b["version"] == "8.0.0-20513097")
    assert u0["last_attested_time"] == -(13 * 86400 + 22 * 3600 + 25 * 60)
    assert "last attested T-13d 22:25:00" in x.text()


@pytest.mark.parametrize(("name", "content", "option", "needle"), [
    ("api.json", '{"8.0.1-21495797":\n  {"last_attested_time": "yesterday"}}',
     "--base-images-api", "api.json:2: field 'last_attested_time': expected an ISO 8601 time"),
    ("api.json", '{"8.0.1-21495797": {"display_name": "ESXi 8.0.1-21495797"}}',
     "--base-images-api", "api.json:1: 8.0.1-21495797: missing field 'last_attested_time'"),
    ("api.json", '{"8.0.1-21495797": {"last_attested_time": null},\n'
                 ' "8.0.0-20513097": {"last_attested_time": null}}',
     "--base-images-api", "api.json:2: base image 8.0.0-20513097 is not in"),
    ("api.json", '[{"version": "8.0.1-21495797"}]', "--base-images-api",
     "api.json:1:1: expected a JSON object keyed by base image version"),
    # the old hand-made file: PowerCLI never exported LastAttestedTime
    ("images.json", '[{"VMHostVersion": "8.0.1-21495797",\n  "LastAttestedTime": null}]',
     "--base-images", "images.json:1: field 'LastAttestedTime': PowerCLI's "
                      "TrustAuthorityVMHostBaseImage has no such property; last-attested "
                      "times come from the REST/vAPI base-images API"),
    ("images.json", '{"version": "8.0.1-21495797", "last_attested_time": null}',
     "--base-images", "images.json:1: field 'last_attested_time': the REST base-images list "
                      "has no such field"),
    ("images.xml", '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n'
                   '<Objs xmlns="http://schemas.microsoft.com/powershell/2004/04"/>',
     "--base-images", "images.xml:2: a DTD or an entity is not CLIXML"),
    ("images.xml", '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/'
                   '2004/04">\n<Obj RefId="0"><TN RefId="0"><T>VMware.VimAutomation.ViCore.'
                   'Impl.V1.Inventory.VMHostImpl</T></TN><Props><S N="Name">esx-01</S>'
                   '</Props></Obj></Objs>',
     "--base-images", "images.xml:2: a VMware.VimAutomation.ViCore.Impl.V1.Inventory."
                      "VMHostImpl object; expected TrustAuthorityVMHostBaseImage"),
    ("images.xml", '<Objs xmlns="http://schemas.microsoft.com/powershell/2004/04">\n<Obj>',
     "--base-images", "images.xml:2:6: not valid CLIXML"),
    ("settings.json", '{"RequireCertificateValidation": "True", "RequireEndorsementKey": true}',
     "--tpm2-settings", "settings.json:1: field 'RequireCertificateValidation': expected "
                        "true or false"),
    ("settings.json", '{"RequireCertificateValidation": true}', "--tpm2-settings",
     "settings.json:1: missing field 'RequireEndorsementKey'"),
    ("settings.json", '[\n{"RequireCertificateValidation": true, "RequireEndorsementKey": true},'
                      '\n{"RequireCertificateValidation": false, "RequireEndorsementKey": true}]',
     "--tpm2-settings", "settings.json:3: these settings differ from those on line 2"),
])
def test_bad_history_or_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 name: str, content: str, option: str, needle: str) -> None:
    bad = tmp_path / name
    bad.write_text(content)
    files = {"--hosts": str(DATA / "hosts.json"), "--base-images": str(DATA / "images.json"),
             "--base-images-api": str(DATA / "base-images-api.json"),
             "--quickboot": str(DATA / "quickboot.txt"), option: str(bad)}
    out = tmp_path / "estate.yaml"
    code = main(["import", *(x for kv in files.items() for x in kv), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert not out.exists()


def test_rest_spellings_are_accepted(tmp_path: Path) -> None:
    """The REST API's own outputs work as PowerCLI's do: the base-images list (Summary:
    version, display_name, health), each version's Info for last_attested_time, and the
    settings' require_* names."""
    images = tmp_path / "images.json"
    images.write_text(json.dumps([
        {"version": "8.0.1-21495797", "display_name": "ESXi 8.0.1", "health": "OK"},
        {"version": "8.0.2-22380479", "display_name": "ESXi 8.0.2", "health": "OK"}]))
    api = tmp_path / "api.json"
    api.write_text(json.dumps({
        "8.0.1-21495797": {"display_name": "ESXi 8.0.1", "health": "OK", "details": [],
                           "last_attested_time": "2026-01-05T09:55:00+02:00"},
        "8.0.2-22380479": {"display_name": "ESXi 8.0.2", "health": "OK", "details": [],
                           "last_attested_time": "2026-01-05T08:55:00"}}))
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"require_certificate_validation": True,
                                    "require_endorsement_keys": False}))
    out = tmp_path / "estate.yaml"
    assert main(["import", "--hosts", str(DATA / "hosts.json"), "--base-images", str(images),
                 "--base-images-api", str(api),
                 "--quickboot", str(DATA / "quickboot.txt"), "--tpm2-settings", str(settings),
                 "--out", str(out)]) == 0
    ta = yaml.safe_load(out.read_text())["topology"]["ta_cluster"]
    # +02:00 is 07:55Z; a time without a zone is UTC (08:55Z, the newest: T=0).
    assert [b["last_attested"] for b in ta["base_images"]] == ["-1h", 0]
    assert ta["tpm2_settings"] == {"require_certificate_validation": True,
                                   "require_endorsement_keys": False}


def test_export_clixml_is_read_like_convertto_json(tmp_path: Path) -> None:
    """Export-Clixml of the real objects (types checked, enums by their ToString, a
    repeated type by TNRef) gives the same estate as ConvertTo-Json."""
    (tmp_path / "json").mkdir()
    (tmp_path / "xml").mkdir()
    code, from_json = _import(tmp_path / "json", "hosts.json", "images.json")
    assert code == 0
    code, from_xml = _import(tmp_path / "xml", "hosts.json", "images.clixml")
    assert code == 0
    assert from_xml.read_text() == from_json.read_text()


def test_without_the_api_times_the_quick_booted_host_needs_the_override(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """PowerCLI's export alone has no last-attested time to infer from."""
    out = tmp_path / "estate.yaml"
    code = main(["import", "--hosts", str(DATA / "hosts.json"), "--base-images",
                 str(DATA / "images.json"), "--quickboot", str(DATA / "quickboot.txt"),
                 "--out", str(out)])
    assert code == 2 and "--last-full-boot esx-01.lab.local=RELEASE" in (
        capsys.readouterr().err)
    assert not out.exists()


SNAPSHOT = """\
name: snapshot
topology:
  ta_cluster:
    hosts: [{{name: ta-esx-01}}]
    base_images:
      - 8.0 U2
      - {{release: 8.0 U1, last_attested: {last}}}
{extra}  trusted_clusters:
    - hosts: [{{name: esx-01, release: 8.0 U2}}]
steps: []
"""


@pytest.mark.parametrize(("last", "seconds"), [("-2d", -172800.0), ("-90", -90.0),
                                               ("0", 0.0), ("null", None)])
def test_topology_last_attested_forms(last: str, seconds: float | None) -> None:
    scenario = load_scenario_text(SNAPSHOT.format(last=last, extra=""))
    spec = scenario.topology.ta_cluster.base_image_specs()
    assert spec is not None and spec[1].last_attested == seconds
    world = run_scenario(scenario).world
    (row,) = world.call("Invoke-GetClusterVersionBaseImages", version="8.0.1-21495797").output
    want = None if seconds is None else (SIM_EPOCH + timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    assert row["last_attested_time"] == want


@pytest.mark.parametrize(("last", "extra", "needle"), [
    ("3600", "", "snap.yaml:7:42: topology.ta_cluster.base_images.1.last_attested: "
                 "last_attested is history"),
    ("soon", "", "last_attested is history"),
    ("-1d", "    tpm2_settings: {require_certificate_validation: yes}\n",
     "missing required key 'require_endorsement_keys'"),
    ("-1d", "    tpm2_settings: {require_certificate_validation: true, "
            "require_endorsement_keys: false}\n  configured: false\n",
     "ta_cluster tpm2_settings describes a configured estate"),
])
def test_topology_snapshot_errors_name_the_line(last: str, extra: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(SNAPSHOT.format(last=last, extra=extra), file="snap.yaml")
    assert needle in str(info.value), str(info.value)


def test_plain_releases_keep_the_old_setup() -> None:
    """Without last-attested times there is no history event (old traces stay identical)."""
    text = SNAPSHOT.format(last="null", extra="")
    trace = run_scenario(load_scenario_text(text)).world.kernel.trace
    assert not trace.select("ta.base_image.last_attested")


@pytest.mark.parametrize("interpreter_limit", [0, 4300])
@pytest.mark.parametrize("flag", ["--hosts", "--base-images-api"])
def test_a_huge_integer_in_an_export_is_refused_with_vtalabs_limit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], interpreter_limit: int,
        flag: str) -> None:
    """An integer of more than MAX_INT_DIGITS digits in a ConvertTo-Json export is refused
    as every JSON input refuses it (core.files), at its object's line, whatever the
    interpreter allows; it was Python's 'use sys.set_int_max_str_digits()' hint."""
    huge = "9" * (MAX_INT_DIGITS + 1)
    if flag == "--hosts":
        bad = tmp_path / "hosts.json"
        bad.write_text('[\n {"Name": "esx-01", "Version": "8.0.2", "Build": ' + huge
                       + ', "Parent": "C"}\n]\n', encoding="utf-8")
        args = ["--hosts", str(bad), "--base-images-api", str(DATA / _API["images.json"])]
    else:
        bad = tmp_path / "api.json"
        bad.write_text('{\n "8.0.2-22380479": {"last_attested_time": ' + huge + "}\n}\n",
                       encoding="utf-8")
        args = ["--hosts", str(DATA / "hosts.json"), "--base-images-api", str(bad)]
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(interpreter_limit)
    try:
        code = main(["import", *args, "--base-images", str(DATA / "images.json"),
                     "--quickboot", str(DATA / "quickboot.txt"),
                     "--out", str(tmp_path / "estate.yaml")])
    finally:
        sys.set_int_max_str_digits(before)
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}:2: not valid JSON: a value is an integer of {MAX_INT_DIGITS + 1:,} " \
           f"digits; at most {MAX_INT_DIGITS:,} digits are read" in err, err
    assert "set_int_max_str_digits" not in err
    assert not (tmp_path / "estate.yaml").exists()
