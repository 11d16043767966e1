"""Verdicts that do not contradict each other (issue 16): a bug bundle of an imported
estate fails while the failure reproduces and passes once it is fixed; host names
resolve by short name or unique prefix; suggestions rank by similarity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vtalab.cli.app import main
from vtalab.errors import InputError, nearest, resolve_name

DATA = Path(__file__).resolve().parent / "data" / "powercli"


def _estate(tmp_path: Path) -> Path:
    out = tmp_path / "estate.yaml"
    code = main(["import", "--hosts", str(DATA / "hosts.json"), "--base-images",
                 str(DATA / "images-after-removal.json"), "--base-images-api",
                 str(DATA / "base-images-api-after-removal.json"), "--quickboot",
                 str(DATA / "quickboot.txt"), "--last-full-boot",
                 "esx-01.lab.local=8.0 U1", "--out", str(out)])
    assert code == 0
    return out


def test_imported_bundle_fails_while_the_bug_reproduces_then_passes_fixed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estate = _estate(tmp_path)
    bug = tmp_path / "BUG.tgz"
    assert main(["bundle", str(estate), "--out", str(bug)]) == 0
    capsys.readouterr()
    # The imported estate has no expectations; the bundle carries the failure.
    assert main(["run", str(bug)]) == 1
    out = capsys.readouterr().out
    assert "reproduced: trace digest" in out
    assert ("FAIL  bundle: attestation esx-01.lab.local at T+00:20:00: notAttested "
            "(untrusted_base_image), as recorded: the failure reproduces") in out
    assert "0 passed, 2 failed" in out
    # One of explain's fixes, applied to the recorded run: the failure is gone.
    assert main(["run", str(bug), "--fix", "import-measured"]) == 0
    out = capsys.readouterr().out
    assert "with fix import-measured for esx-01.lab.local from T+00:20:00" in out
    assert "attested: the failure no longer reproduces" in out and "FAIL  " not in \
        out.split("with fix", 1)[1]
    # A fix that does not repair it keeps the exit code at 1, and says so.
    assert main(["run", str(bug), "--fix", "revert"]) == 1
    assert "the fix does not repair it" in capsys.readouterr().out
    # The estate fixed by hand (explain's steps added) and bundled again: exit 0.
    data = yaml.safe_load(estate.read_text())
    data["steps"] += [
        {"do": "Export-VMHostImageDb",
         "with": {"vmhost": "esx-02.lab.local", "file": "esx-02.tgz"}},
        {"do": "New-TrustAuthorityVMHostBaseImage", "with": {"file": "esx-02.tgz"}}]
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump(data, sort_keys=False))
    bug2 = tmp_path / "FIXED.tgz"
    assert main(["bundle", str(fixed), "--out", str(bug2)]) == 0
    capsys.readouterr()
    assert main(["run", str(bug2), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    bundle_verdicts = [v for v in report["run"]["verdicts"]
                       if v["label"].startswith("bundle: ")]
    assert len(bundle_verdicts) == 2 and all(v["ok"] for v in bundle_verdicts)


def test_fix_errors_are_input_errors(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    estate = _estate(tmp_path)
    bug = tmp_path / "BUG.tgz"
    assert main(["bundle", str(estate), "--out", str(bug)]) == 0
    capsys.readouterr()
    assert main(["run", str(bug), "--fix", "import-measure"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'import-measured'?" in err
    assert main(["run", str(estate), "--fix", "import-measured"]) == 2
    assert "--fix applies to a bug bundle" in capsys.readouterr().err


HOSTS = ["ta-esx-01", "esx-a.corp.local", "esx-b.corp.local", "esx-01.lab.local"]


@pytest.mark.parametrize(("typed", "meant"), [
    ("esx-a.corp.local", "esx-a.corp.local"),  # exact
    ("ESX-A.corp.local", "esx-a.corp.local"),  # case
    ("esx-a", "esx-a.corp.local"),  # short name
    ("esx-b.corp", "esx-b.corp.local"),  # unique prefix
    ("ta", "ta-esx-01"),
])
def test_host_names_resolve(typed: str, meant: str) -> None:
    assert resolve_name(typed, HOSTS, "host", option="--host") == meant


def test_ambiguous_and_unknown_names() -> None:
    with pytest.raises(InputError, match="'esx' is ambiguous: it could be any of "
                                         "esx-a.corp.local, esx-b.corp.local"):
        resolve_name("esx", HOSTS, "host", option="--host")
    with pytest.raises(InputError, match="did you mean 'esx-a.corp.local'"):
        resolve_name("esx-aa", HOSTS, "host", option="--host")


def test_suggestions_rank_by_similarity() -> None:
    assert nearest("esx-a", ["ta-esx-01", "esx-a.corp.local"]) == ["esx-a.corp.local"]
    assert nearest("esx1", ["esx-01", "esx-02", "ta-esx-01"]) == ["esx-01"]
    assert nearest("Remove-TrustAuthorityVMHostBaseImag",
                   ["New-TrustAuthorityVMHostBaseImage",
                    "Remove-TrustAuthorityVMHostBaseImage"]) == [
        "Remove-TrustAuthorityVMHostBaseImage"]
    assert nearest("zzzz", ["esx-01"]) == []


def test_cli_host_option_accepts_the_short_name(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    estate = _estate(tmp_path)
    capsys.readouterr()
    assert main(["explain", str(estate), "--host", "esx-01", "--no-fixes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("== explain esx-01.lab.local at ") and out.endswith("\n")
