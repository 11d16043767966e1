"""A second mutation spot check, forensics: `vtalab explain`, its fixes and `vtalab import`
on the side of each rule no test reached. Each test here failed against a hand-made
mutant of vtalab/forensics/{explain,fixes,estate}.py that the suite let pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from vtalab.cli import main
from vtalab.cli.explain import BUGS
from vtalab.errors import InputError
from vtalab.forensics import estate
from vtalab.forensics.estate import import_estate
from vtalab.forensics.explain import explain, fixed_scenario
from vtalab.scenario.model import load_scenario

TXT = str(BUGS / "quick-boot-refused-txt.yaml")


# -- vtalab explain -----------------------------------------------------------------------

def test_explain_answers_for_trusted_hosts_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", TXT, "--host", "ta-esx-01"]) == 2
    err = capsys.readouterr().err
    assert ("--host: 'ta-esx-01' is a Trust Authority host; explain answers for trusted "
            "hosts; did you mean 'esx-01'?") in err, err


def _explain_text(tmp_path: Path, text: str, host: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return explain(load_scenario(str(path)), host, fixes=False).text()


HEAD = """name: story
topology:
  ta_cluster:
    hosts: [{name: ta-esx-01, release: "8.0 U2"}]
  trusted_clusters:
    - name: Trusted Cluster
      quick_boot: true
      hosts:
        - {name: esx-01, release: "8.0 U1"}
        - {name: esx-02, release: "8.0 U1", txt: true}
steps:
"""


def test_a_full_reboot_after_quick_boots_starts_the_count_again(tmp_path: Path) -> None:
    """esx-01 is Quick Booted into 8.0 U2, then rebooted fully; esx-02 (TXT) had its
    Quick Boot refused, then a plain full reboot: neither last full boot is explained by
    what happened before it."""
    text = HEAD + """\
  - {id: up-01, at: 10m, do: upgrade-host, with: {vmhost: esx-01, release: "8.0 U2"}}
  - {id: up-02, after: 5m, do: upgrade-host, with: {vmhost: esx-02, release: "8.0 U2"}}
  - {id: full-01, after: 10m, do: reboot-host, with: {vmhost: esx-01, mode: full}}
  - {id: full-02, after: 10m, do: reboot-host, with: {vmhost: esx-02, mode: full}}
"""
    one = _explain_text(tmp_path, text, "esx-01")
    assert "\nfull boot   T+00:50:30: full reboot, by step 3 'full-01'" in one
    assert "\nquick boots 0 since the last full boot" in one
    two = _explain_text(tmp_path, text, "esx-02")
    assert "by step 4 'full-02'" in two and "\nquick boots 0 since the last full boot" in two
    assert "Quick Boot was refused" not in two and "loadESX.log:" not in two


def test_the_conclusion_names_the_last_removal_of_an_image(tmp_path: Path) -> None:
    text = HEAD.replace("quick_boot: true", "quick_boot: false") + """\
  - {id: remove-1, at: 10m, do: Remove-TrustAuthorityVMHostBaseImage, with: {version: "8.0 U1"}}
  - {id: export, after: 1m, do: Export-VMHostImageDb, with: {vmhost: esx-01, file: u1.tgz}}
  - {id: import, after: 1m, do: New-TrustAuthorityVMHostBaseImage, with: {file: u1.tgz}}
  - {id: remove-2, at: 30m, do: Remove-TrustAuthorityVMHostBaseImage, with: {version: "8.0 U1"}}
  - {id: reboot, after: 1m, do: reboot-host, with: {vmhost: esx-01, mode: full}}
"""
    got = _explain_text(tmp_path, text, "esx-01")
    assert ("8.0.1-21495797 was a trusted base image until T+00:30:00, when step 4 "
            "'remove-2' (Remove-TrustAuthorityVMHostBaseImage") in got, got


def test_an_unknown_fix_lists_the_fixes_not_why_others_were_not_tried() -> None:
    """import-running-after-quick-boot at T+5m has fixes and one candidate not tried
    (nothing left to import the measured image from): --fix bogus lists the fixes."""
    scenario = load_scenario(str(BUGS / "import-running-after-quick-boot.yaml"))
    with pytest.raises(InputError) as err:
        fixed_scenario(scenario, "esx-01", 300.0, "bogus")
    message = str(err.value)
    assert "--fix: 'bogus' is not a fix for esx-01 at T+00:05:00" in message
    assert "full-reboot" in message and "no host in the lab runs" not in message, message


# -- vtalab import (forensics/estate.py) ------------------------------------------------------

U1, U2, U3 = "8.0.1-21495797", "8.0.2-22380479", "8.0.3-24022510"


def _estate(tmp_path: Path, hosts: list[tuple[str, str]], quick: str,
            times: dict[str, str | None], **kw: Any) -> tuple[dict[str, Any], list[str]]:
    """import_estate of hosts (name, version-build) in one cluster, images with their
    last-attested times, and quickboot.txt lines: the scenario (as data) and the notes."""
    (tmp_path / "hosts.json").write_text(json.dumps([
        {"Name": n, "Version": v.split("-")[0], "Build": v.split("-")[1],
         "Parent": "Trusted Cluster"} for n, v in hosts]), encoding="utf-8")
    (tmp_path / "images.json").write_text(json.dumps([
        {"VMHostVersion": v} for v in times]), encoding="utf-8")
    (tmp_path / "api.json").write_text(json.dumps({
        v: {"last_attested_time": t} for v, t in times.items()}), encoding="utf-8")
    (tmp_path / "quickboot.txt").write_text(quick, encoding="utf-8")
    text, notes = import_estate(str(tmp_path / "hosts.json"), str(tmp_path / "images.json"),
                                str(tmp_path / "quickboot.txt"),
                                base_images_api_path=str(tmp_path / "api.json"), **kw)
    return yaml.safe_load(text), notes


def _hosts(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for c in data["topology"]["trusted_clusters"] for h in c["hosts"]}


def test_the_inferred_full_boot_is_the_older_image_attested_last(tmp_path: Path) -> None:
    """8.0 U1 was attested after 8.0 U2: a host Quick-Booted into 8.0 U3 still measures
    8.0 U1, the newer release notwithstanding."""
    data, notes = _estate(tmp_path, [("esx-01", U3)], "esx-01 1\n",
                          {U1: "2026-01-05T07:55:00Z", U2: "2026-01-05T06:00:00Z",
                           U3: None})
    assert _hosts(data)["esx-01"]["last_full_boot"] == U1
    assert notes[0].startswith(f"esx-01: Quick-Booted into {U3}; last full boot inferred as "
                               f"{U1}")


def test_a_last_full_boot_given_as_the_running_release_is_no_quick_boot(tmp_path: Path
                                                                       ) -> None:
    data, _notes = _estate(tmp_path, [("esx-01", U2)], "esx-01 1\n",
                           {U1: "2026-01-05T07:55:00Z", U2: None},
                           last_full_boot={"esx-01": U2})
    host = _hosts(data)["esx-01"]
    assert "last_full_boot" not in host and "quick_boots_since" not in host, host


@pytest.mark.parametrize("hosts, kw, message", [
    ([("esx-01", U2), ("ESX-01", U2)], {},
     "hosts.json:1: host ESX-01 is given twice (also on line 1)"),
    ([("esx-01", U2)], {"last_full_boot": {"esx-99": U1}},
     "--last-full-boot esx-99: unknown host 'esx-99' (not in"),
])
def test_exports_naming_a_host_twice_or_an_unknown_host_are_refused(
        tmp_path: Path, hosts: list[tuple[str, str]], kw: dict[str, Any],
        message: str) -> None:
    quick = "".join(f"{n} 0\n" for n, _ in hosts)
    with pytest.raises(InputError) as err:
        _estate(tmp_path, hosts, quick, {U1: None, U2: None}, **kw)
    assert message in str(err.value).replace(str(tmp_path) + "/", ""), str(err.value)


def test_a_cluster_is_quick_boot_when_any_of_its_hosts_was_quick_booted(tmp_path: Path
                                                                       ) -> None:
    data, _notes = _estate(tmp_path, [("esx-01", U2), ("esx-02", U1)],
                           "esx-01 1\nesx-02 0\n", {U1: "2026-01-05T07:55:00Z", U2: None})
    [cluster] = data["topology"]["trusted_clusters"]
    assert cluster["quick_boot"] is True


def test_the_generated_ta_host_runs_the_newest_image_and_a_cluster_may_have_80_characters(
        tmp_path: Path) -> None:
    name = "C" * 80
    (tmp_path / "hosts.json").write_text(json.dumps(
        [{"Name": "esx-01", "Version": "8.0.1", "Build": "21495797", "Parent": name}]),
        encoding="utf-8")
    (tmp_path / "images.json").write_text(json.dumps(
        [{"VMHostVersion": U2}, {"VMHostVersion": U1}]), encoding="utf-8")
    (tmp_path / "quickboot.txt").write_text("esx-01 0\n", encoding="utf-8")
    text, _notes = import_estate(str(tmp_path / "hosts.json"), str(tmp_path / "images.json"),
                                 str(tmp_path / "quickboot.txt"))
    data = yaml.safe_load(text)
    assert data["topology"]["ta_cluster"]["hosts"] == [{"name": "ta-esx-01", "release": U2}]
    assert [c["name"] for c in data["topology"]["trusted_clusters"]] == [name]


def test_an_estate_with_as_many_hosts_as_a_lab_holds_has_no_room_for_its_ta_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(estate, "MAX_HOSTS", 3)
    hosts = [(f"esx-{i:02d}", U1) for i in range(1, 3)]
    _estate(tmp_path, hosts, "".join(f"{n} 0\n" for n, _ in hosts), {U1: None})
    hosts.append(("esx-03", U1))
    with pytest.raises(InputError, match=r"3 hosts; a lab holds at most 3 \(MAX_HOSTS, with "
                                         r"its TA host\)"):
        _estate(tmp_path, hosts, "".join(f"{n} 0\n" for n, _ in hosts), {U1: None})
