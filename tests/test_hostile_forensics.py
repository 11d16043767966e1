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


# -- vtalab import: PowerCLI exports that do not describe one estate -------------------------

POWERCLI = ROOT / "tests" / "data" / "powercli"
HOSTS = json.loads((POWERCLI / "hosts.json").read_text(encoding="utf-8"))
QUICKBOOT = "esx-01.lab.local 1\nesx-02.lab.local 0\n"


def _import(tmp_path: Path, capsys: pytest.CaptureFixture[str], *, hosts: Any = None,
            images: str | None = None, quickboot: str = QUICKBOOT,
            extra: tuple[str, ...] = (), out: Path | None = None) -> tuple[int, str, str]:
    files = {"hosts.json": json.dumps(HOSTS if hosts is None else hosts, indent=4),
             "images.json": images or (POWERCLI / "images.json").read_text(encoding="utf-8"),
             "quickboot.txt": quickboot}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return cli(capsys, "import", "--hosts", str(tmp_path / "hosts.json"),
               "--base-images", str(tmp_path / "images.json"),
               "--base-images-api", str(POWERCLI / "base-images-api.json"),
               "--quickboot", str(tmp_path / "quickboot.txt"),
               "--out", str(out or tmp_path / "estate.yaml"), *extra)


@pytest.mark.parametrize(("hosts", "quickboot", "message"), [
    ([*HOSTS, HOSTS[0]], QUICKBOOT, "hosts.json:16: host esx-01.lab.local is given twice "
                                    "(also on line 2)"),
    ([dict(HOSTS[1], Name="ESX-01.lab.local"), HOSTS[0]], QUICKBOOT,
     "hosts.json:8: host esx-01.lab.local is given twice (also on line 2)"),
    ([dict(HOSTS[1], Name="")], "", "hosts.json:2: field 'Name': \"\" is not a host name"),
    ([dict(HOSTS[1], Name="esx 03")], "", "field 'Name': \"esx 03\" is not a host name"),
    ([dict(HOSTS[1], Name="=cmd|' /C calc'!A0")], "", "is not a host name"),
    ([dict(HOSTS[1], Name="x" * 300)], "", "is not a host name"),
    ([dict(HOSTS[1], Parent="")], "", "field 'Parent': \"\" is not a cluster name"),
    ([dict(HOSTS[1], Parent="a\nb")], "", "is not a cluster name"),
    ([], "", "hosts.json: no hosts"),
    (HOSTS, "esx-01.lab.local 1\nesx-02.lab.local 0\nesx-01.lab.local 0\n",
     "quickboot.txt:3: host esx-01.lab.local is given twice (also on line 1)"),
    (HOSTS, "esx-01.lab.local 1\n", "quickboot.txt: no line for esx-02.lab.local"),
], ids=["duplicate-host", "duplicate-in-another-case", "empty-name", "space-in-name",
        "formula-cell", "long-name", "empty-parent", "control-in-parent", "no-hosts",
        "duplicate-quickboot-line", "host-without-quickboot-line"])
def test_exports_that_do_not_describe_one_estate_are_located_errors(
        hosts: Any, quickboot: str, message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _import(tmp_path, capsys, hosts=hosts, quickboot=quickboot)
    assert code == 2 and out == "" and message in err, err
    assert not (tmp_path / "estate.yaml").exists()


def test_a_base_image_listed_twice_names_both_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = json.loads((POWERCLI / "images.json").read_text(encoding="utf-8"))
    code, _, err = _import(tmp_path, capsys, images=json.dumps([*images, images[0]], indent=4))
    assert code == 2 and "base image 8.0.2-22380479 is given twice (also on line 2)" in err


def test_a_host_named_like_the_generated_ta_host_gets_another_ta_host(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _import(tmp_path, capsys, hosts=[*HOSTS, dict(HOSTS[1], Name="ta-esx-01")],
                           quickboot=QUICKBOOT + "ta-esx-01 0\n")
    assert code == 0, err
    topology = yaml.safe_load((tmp_path / "estate.yaml").read_text(encoding="utf-8"))["topology"]
    assert [h["name"] for h in topology["ta_cluster"]["hosts"]] == ["ta-esx-02"]


@pytest.mark.parametrize(("extra", "message"), [
    (("--seed", "-1"), "--seed must be 0 or more"),
    (("--name", ""), "--name '': a scenario name is 1 to 200 characters"),
    (("--name", "a\nb"), "without control characters"),
    (("--last-full-boot", "esx-01.lab.local=8.0.1", "--last-full-boot",
      "esx-01.lab.local=8.0.2"), "esx-01.lab.local is given twice"),
    (("--last-full-boot", "esx-01.lab.local=9.9"),
     "--last-full-boot esx-01.lab.local=9.9: unknown ESXi release '9.9'"),
], ids=["negative-seed", "empty-name", "newline-in-name", "override-twice",
        "override-unknown-release"])
def test_bad_import_options_name_the_option(
        extra: tuple[str, ...], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _import(tmp_path, capsys, extra=extra)
    assert code == 2 and message in err and "<imported>" not in err, err


def test_import_never_writes_over_one_of_its_inputs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _import(tmp_path, capsys, out=tmp_path / "hosts.json")
    assert code == 2 and "it is the --hosts file" in err, err
    assert json.loads((tmp_path / "hosts.json").read_text(encoding="utf-8")) == HOSTS


# -- vtalab replay: a recorded trace that was truncated or edited ----------------------------

@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The lines of a `vtalab run --trace` of a small scenario (written once)."""
    path = tmp_path_factory.mktemp("trace") / "run.jsonl"
    assert main(["run", str(ROOT / "scenarios" / "restart-vta-services.yaml"),
                 "--trace", str(path)]) == 0
    return path.read_text(encoding="ascii").splitlines()


def _event(lines: list[str], n: int, **change: Any) -> list[str]:
    event = json.loads(lines[n])
    for key, value in change.items():
        if value is None:
            event.pop(key)
        else:
            event[key] = value
    return [*lines[:n], json.dumps(event), *lines[n + 1:]]


@pytest.mark.parametrize(("edit", "where", "message"), [
    (lambda ls: ls[:100], 101, "the trace ends after 100 lines without its digest line"),
    (lambda ls: ls[:-1], -1, "without its digest line"),
    (lambda ls: [*ls[:-1], '{"kind":"vtalab.digest","sha256":"00"}'], -2,
     "the digest line's sha256 must be 64 lower-case hex digits"),
    (lambda ls: [*ls[:-1], '{"kind":"vtalab.digest"}'], -2, "got null"),
    (lambda ls: _event(ls, 5, extra=1), 6, "unknown key 'extra' in a trace event"),
    (lambda ls: _event(ls, 5, f=None), 6, "this one has no 'f'"),
    (lambda ls: _event(ls, 5, t="abc"), 6, "'t' (the simulated time) must be a number"),
    (lambda ls: _event(ls, 5, t=-1), 6, "'t' (the simulated time) must be a number"),
    (lambda ls: _event(ls, 5, seq=True), 6, "'seq' must be an integer >= 0; got true"),
    (lambda ls: _event(ls, 5, kind=None), 6, "this one has no 'kind'"),
    (lambda ls: _event(ls, 5, src=""), 6, "'src' must be a non-empty text"),
    (lambda ls: _event(ls, 5, f=[1]), 6, "'f' (the event's fields) must be a JSON object"),
    (lambda ls: [*ls[:5], "[1, 2]", *ls[6:]], 6, "a trace event is a JSON object"),
], ids=["truncated", "no-digest", "short-digest", "null-digest", "unknown-key", "no-fields",
        "time-text", "time-negative", "seq-bool", "no-kind", "empty-source", "fields-list",
        "not-an-object"])
def test_a_truncated_or_edited_trace_is_a_located_error(
        edit: Callable[[list[str]], list[str]], where: int, message: str,
        recorded: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = edit(list(recorded))
    path = tmp_path / "edited.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    line = where if where > 0 else len(lines) + 2 + where
    code, out, err = cli(capsys, "replay", str(path))
    assert code == 2 and out == "", out
    assert err.startswith(f"error: {path}:{line}:1: ") and message in err, err


def test_a_divergence_names_the_line_of_the_recorded_event(
        recorded: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    event = json.loads(recorded[5])
    path = tmp_path / "moved.jsonl"
    path.write_text("\n".join(_event(recorded, 5, t=event["t"] + 1)) + "\n", encoding="utf-8")
    code, out, _ = cli(capsys, "replay", str(path))
    assert code == 1 and out.startswith(f"replay diverges at event 4 ({path}:6):"), out


@pytest.mark.parametrize(("serve", "message"), [
    ({"topology_only": "no"}, "serve.topology_only must be true or false; got \"no\""),
    ({"user": ["x"]}, "serve.user must be text"),
    ({"topology_only": True, "usr": "x"}, "unknown option 'usr'; did you mean 'user'?"),
], ids=["flag-as-text", "user-as-list", "misspelt-option"])
def test_a_served_header_that_lies_about_its_options_is_a_located_error(
        serve: dict[str, Any], message: str, recorded: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    header = json.loads(recorded[0])
    header["serve"] = serve
    path = tmp_path / "served.jsonl"
    path.write_text("\n".join([json.dumps(header), *recorded[1:]]) + "\n", encoding="utf-8")
    code, _, err = cli(capsys, "replay", str(path))
    assert code == 2 and err.startswith(f"error: {path}:1:1: ") and message in err, err


# -- evidence, logs, explain: times, hosts and output folders --------------------------------

SMALL = str(ROOT / "scenarios" / "restart-vta-services.yaml")


@pytest.fixture
def small_event_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs stop at 1,500 events instead of MAX_EVENTS_PER_RUN: the same error, found in a
    fraction of the time (restart-vta-services ends well within it)."""
    from vtalab.core.kernel import Kernel
    monkeypatch.setattr(Kernel.bounded.__wrapped__, "__defaults__", (1500,))  # type: ignore[attr-defined]


@pytest.mark.parametrize("argv", [
    ["logs", SMALL, "--host", "esx-01", "--log", "kmxa.log", "--at", "30d"],
    ["evidence", SMALL, "--host", "esx-01", "--at", "30d", "--out", "{tmp}/ev"],
    ["run", SMALL, "--until", "30d"],
], ids=["logs", "evidence", "run"])
def test_a_time_past_the_event_limit_names_the_option_and_what_fits(
        argv: list[str], small_event_limit: None, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    option = argv[-2] if argv[0] != "evidence" else "--at"
    code, out, err = cli(capsys, *(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert code == 2 and out == "", out
    assert err.startswith(f"error: {option} 30d 00:00:00 is more than this lab can "
                          "simulate: the world stopped at T+"), err
    assert "MAX_EVENTS_PER_RUN); a time of at most T+" in err and "settle" not in err, err
    assert not (tmp_path / "ev").exists()


def test_an_explain_bound_past_the_event_limit_names_bound(
        small_event_limit: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "explain", str(REMOVE), "--host", "esx-01", "--at", "90m",
                       "--bound", "30d")
    assert code == 2 and err.startswith("error: --bound 30d 00:00:00 (each fix runs from "
                                        "T+01:30:00 to T+30d 01:30:00) is more than"), err
    assert "a bound of at most " in err and "<scenario>" not in err, err


def test_a_trace_header_until_past_the_event_limit_is_located_at_line_1(
        small_event_limit: None, recorded: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    header = json.loads(recorded[0]) | {"until": "30d"}
    path = tmp_path / "far.jsonl"
    path.write_text("\n".join([json.dumps(header), *recorded[1:]]) + "\n", encoding="utf-8")
    code, _, err = cli(capsys, "replay", str(path))
    assert code == 2 and err.startswith(f"error: {path}:1:1: the trace header's until "
                                        "(T+30d 00:00:00) is more than this lab"), err


@pytest.mark.parametrize(("host", "log", "message"), [
    ("esx-01", "vpxd.log", "--log vpxd.log: esx-01 is an ESXi host; vpxd.log is written by "
                           "vCenter: --host vcsa-wld.lab.local (which manages esx-01)"),
    ("ta-esx-01", "vpxd.log", "--host vcsa-ta.lab.local (which manages ta-esx-01)"),
    ("vcsa-wld", "attestd.log", "--log attestd.log: vcsa-wld.lab.local is a vCenter; "
                                "attestd.log is an ESXi host's log"),
], ids=["vpxd-on-a-trusted-host", "vpxd-on-a-ta-host", "host-log-on-a-vcenter"])
def test_a_log_asked_of_the_wrong_machine_is_an_error_not_an_empty_log(
        host: str, log: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "logs", SMALL, "--host", host, "--log", log)
    assert code == 2 and out == "" and message in err, err


@pytest.mark.parametrize("out_dir", ["", "afile", "dangling", "afile/sub"],
                         ids=["empty", "a-file", "dangling-link", "under-a-file"])
def test_an_evidence_folder_that_cannot_be_made_is_refused_before_the_run(
        out_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("mine\n", encoding="utf-8")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    monkeypatch.chdir(tmp_path)
    import vtalab.cli.app as app
    monkeypatch.setattr(app, "_run_to", lambda *a: pytest.fail("ran before checking --out"))
    code, _, err = cli(capsys, "evidence", SMALL, "--host", "esx-01", "--out", out_dir)
    assert code == 2 and err.startswith(f"error: --out {out_dir or repr('')}"), err
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "mine\n"


def test_evidence_before_the_host_booted_names_the_options(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "evidence", SMALL, "--host", "esx-01", "--at", "0",
                       "--out", str(tmp_path / "ev"))
    assert code == 2 and err.startswith("error: --host esx-01 --at 00:00:00: host 'esx-01' "
                                        "has no running TPM to quote then, nor has any "
                                        "host: give a later --at"), err


def test_explain_before_the_host_booted_says_so_instead_of_none(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "explain", SMALL, "--host", "esx-01", "--at", "0")
    assert code == 0 and "None" not in out, out
    assert "full boot   none by T+00:00:00 (the host has not booted yet)" in out
    # --at 0 stops before the lab's setup at T=0: said so, not "power it on"
    assert "No attestation of esx-01 is recorded yet. The lab is not set up yet" in out
    assert "power it on" not in out
    assert "Attestation fails" not in out and "differs from the running" not in out
    code, out, _ = cli(capsys, "explain", SMALL, "--host", "esx-01", "--at", "0", "--json")
    assert json.loads(out)["versions"]["differ"] is False


# -- the command line itself: negative times, misspelt options -------------------------------

@pytest.mark.parametrize("argv", [
    ["logs", SMALL, "--host", "esx-01", "--log", "kmxa.log", "--at", "-5h"],
    ["evidence", SMALL, "--host", "esx-01", "--out", "ev", "--at", "-5h"],
    ["explain", SMALL, "--host", "esx-01", "--at", "-1"],
], ids=["logs", "evidence", "explain"])
def test_a_negative_time_is_called_negative(argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "", out
    assert "argument --at: '-" in err and "a simulated time is not negative" in err, err
    assert "expected one argument" not in err


@pytest.mark.parametrize(("argv", "message"), [
    (["explain", SMALL, "--host", "esx-01", "--att", "5m"],
     "vtalab explain: unrecognized arguments: --att 5m; did you mean '--at'?"),
    (["verbs", "--markdwn"], "vtalab verbs: unrecognized arguments: --markdwn; did you mean "
                             "'--markdown'?"),
    (["replay", "a.jsonl", "b.jsonl"], "vtalab replay: unrecognized arguments: b.jsonl\n"
                                       "usage: vtalab replay"),
], ids=["explain-att", "verbs-markdwn", "replay-two-traces"])
def test_a_misspelt_option_is_named_by_its_command_with_the_nearest(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "" and message in err, err


@pytest.mark.parametrize("command", ["verbs", "schema"])
def test_color_is_taken_by_every_command(command: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, command, "--color", "always")
    assert code == 0 and err == "" and "\x1b[" not in out


# -- vtalab import: Export-Csv, Select-Object's types, exports of a million objects -----------

HOSTS_CSV = ('#TYPE Selected.VMware.VimAutomation.ViCore.Impl.V1.Inventory.VMHostImpl\n'
             '"Name","Version","Build","Parent"\n'
             '"esx-01.lab.local","8.0.2","22380479","Trusted Cluster"\n'
             '"esx-02.lab.local","8.0.1","21495797","Trusted Cluster"\n')
IMAGES_CSV = ('#TYPE VMware.VimAutomation.Security.Types.V1.TrustedInfrastructure.'
              'TrustAuthorityVMHostBaseImage\n'
              '"VMHostVersion","Name","Health","Id"\n'
              '"8.0.2-22380479","ESXi 8.0.2-22380479","Ok","x"\n'
              '"8.0.1-21495797","ESXi 8.0.1-21495797","Ok","y"\n')
TPM2_CSV = ('#TYPE VMware.VimAutomation.Security.Types.V1.TrustedInfrastructure.'
            'TrustAuthorityTpm2AttestationSettings\n'
            '"RequireCertificateValidation","RequireEndorsementKey","Health"\n'
            '"False","True","Ok"\n')


def _import_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], hosts: str,
                  images: str = IMAGES_CSV, hosts_name: str = "hosts.csv",
                  extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    (tmp_path / hosts_name).write_text(hosts, encoding="utf-8")
    (tmp_path / "images.csv").write_text(images, encoding="utf-8")
    (tmp_path / "quickboot.txt").write_text(QUICKBOOT, encoding="utf-8")
    return cli(capsys, "import", "--hosts", str(tmp_path / hosts_name),
               "--base-images", str(tmp_path / "images.csv"),
               "--base-images-api", str(POWERCLI / "base-images-api.json"),
               "--quickboot", str(tmp_path / "quickboot.txt"),
               "--out", str(tmp_path / "estate.yaml"), *extra)


@pytest.mark.parametrize("hosts", [
    HOSTS_CSV, HOSTS_CSV.split("\n", 1)[1],  # PowerShell 7 writes no #TYPE line
    HOSTS_CSV.split("\n", 1)[1].replace(",", ";").replace("\n", "\r\n"),  # -UseCulture
], ids=["powershell-5.1", "powershell-7", "semicolons-crlf"])
def test_export_csv_is_read_like_convertto_json(
        hosts: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tpm2.csv").write_text(TPM2_CSV, encoding="utf-8")
    code, _, err = _import_files(tmp_path, capsys, hosts,
                                 extra=("--tpm2-settings", str(tmp_path / "tpm2.csv")))
    assert code == 0, err
    csv_estate = yaml.safe_load((tmp_path / "estate.yaml").read_text(encoding="utf-8"))
    (tmp_path / "json").mkdir()
    code, _, err = _import(tmp_path / "json", capsys)  # the same estate, as ConvertTo-Json
    assert code == 0, err
    json_estate = yaml.safe_load((tmp_path / "json" / "estate.yaml").read_text("utf-8"))
    settings = csv_estate["topology"]["ta_cluster"].pop("tpm2_settings")
    assert settings == {"require_certificate_validation": False,
                        "require_endorsement_keys": True}
    assert csv_estate["topology"] == json_estate["topology"]


def test_a_selected_vmhost_export_clixml_is_a_vmhost_export(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`Get-VMHost | Select Name,Version,Build,Parent | Export-Clixml` writes objects of type
    Selected.VMware.VimAutomation.ViCore.Impl.V1.Inventory.VMHostImpl; they were refused as
    'expected VMHost'."""
    def obj(name: str, version: str, build: str) -> str:
        return ('<Obj><TN RefId="0"><T>Selected.VMware.VimAutomation.ViCore.Impl.V1.Inventory.'
                'VMHostImpl</T><T>System.Management.Automation.PSCustomObject</T></TN><MS>'
                f'<S N="Name">{name}</S><S N="Version">{version}</S><S N="Build">{build}</S>'
                '<Obj N="Parent"><ToString>Trusted Cluster</ToString></Obj></MS></Obj>\n')
    clixml = ('<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/'
              '04">\n' + obj("esx-01.lab.local", "8.0.2", "22380479")
              + obj("esx-02.lab.local", "8.0.1", "21495797") + "</Objs>\n")
    code, _, err = _import_files(tmp_path, capsys, clixml, hosts_name="hosts.xml",
                                 images=(POWERCLI / "images.json").read_text("utf-8"))
    assert code == 0, err


@pytest.mark.parametrize(("hosts", "message"), [
    ('"Name","Version","Build","Parent"\n"esx-01.lab.local","8.0.2","22380479"\n',
     "hosts.csv:2: 3 values for 4 columns (Name, Version, Build, Parent)"),
    ('"Name","Name","Build","Parent"\n', "hosts.csv:1: column 2 of the header is 'Name' again"),
    ('"Name","Version","Build","Parent"\n"esx-01.lab.local,"8.0.2","1","C"\n',
     "hosts.csv:2: not valid CSV"),
    ('"Name","Version","Build","Parent"\n"=HYPERLINK(""x"")","8.0.2","22380479","C"\n',
     "hosts.csv:2: field 'Name': \"=HYPERLINK(\\\"x\\\")\" is not a host name"),
    ("\n\n", "hosts.csv: the PowerCLI export is empty"),
], ids=["ragged-row", "duplicate-column", "bad-quote", "formula-cell", "empty"])
def test_a_broken_csv_export_is_a_located_error(
        hosts: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _import_files(tmp_path, capsys, hosts)
    assert code == 2 and message in err, err


@pytest.mark.parametrize(("name", "text", "line"), [
    ("hosts.json", "[" + ",".join(["{}"] * 20_001) + "]", 1),
    ("hosts.csv", "N,V,B,P\n" + "a,8,1,C\n" * 20_001, 20_002),
    ("hosts.xml", '<Objs xmlns="http://schemas.microsoft.com/powershell/2004/04">\n'
     + "<Obj/>\n" * 20_001 + "</Objs>\n", 20_002),
], ids=["json", "csv", "clixml"])
def test_an_export_of_more_objects_than_a_lab_holds_is_refused_as_it_is_read(
        name: str, text: str, line: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _import_files(tmp_path, capsys, text, hosts_name=name)
    assert code == 2 and f"{name}:{line}: more than 20,000 objects (MAX_HOSTS" in err, err


# -- options asked for are never silently dropped; a misspelt bundled name is suggested --------

def test_an_empty_fix_is_an_unknown_fix_not_no_fix(
        bare_bundle: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "BARE.tgz"
    path.write_bytes(bare_bundle)
    code, out, err = cli(capsys, "run", str(path), "--fix", "")
    assert code == 2 and out == "" and "--fix: '' is not a fix for esx-01" in err, err


def test_force_version_on_a_scenario_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", SMALL, "--force-version")
    assert code == 2 and out == "" and "--force-version applies to a bug bundle" in err, err


def test_a_misspelt_bundled_bug_story_is_suggested(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "explain", "intermediate-image", "--host", "esx-01")
    assert code == 2 and "did you mean 'intermediate-images'?" in err, err


# -- one kind of vtalab file given where another goes ------------------------------------------

@pytest.mark.parametrize(("command", "given", "message"), [
    ("run", "trace", "not a scenario: this is a trace (vtalab run --trace): re-run it with "
                     "`vtalab replay "),
    ("explain", "trace", "not a scenario: this is a trace"),
    ("replay", "scenario", "not a trace: this is a scenario: run it with `vtalab run "),
    ("replay", "bundle", "not a trace: this is gzip-compressed: a bug bundle runs with "
                         "`vtalab run "),
    ("evidence", "bundle", "not a scenario: this is gzip-compressed"),
], ids=["run-a-trace", "explain-a-trace", "replay-a-scenario", "replay-a-bundle",
        "evidence-of-a-bundle"])
def test_a_vtalab_file_of_another_kind_is_named_with_its_command(
        command: str, given: str, message: str, recorded: list[str], bare_bundle: bytes,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / {"trace": "run.jsonl", "scenario": "s.yaml", "bundle": "BUG.tgz"}[given]
    if given == "trace":
        path.write_text("\n".join(recorded) + "\n", encoding="utf-8")
    elif given == "scenario":
        path.write_bytes(Path(SMALL).read_bytes())
    else:
        path.write_bytes(bare_bundle)
    extra = {"run": [], "replay": [], "explain": ["--host", "esx-01"],
             "evidence": ["--host", "esx-01", "--out", str(tmp_path / "ev")]}[command]
    code, out, err = cli(capsys, command, str(path), *extra)
    assert code == 2 and out == "" and err.startswith(f"error: {path}: {message}"), err


def test_golden_never_rewrites_a_bug_storys_explain_transcript(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """scenarios/bugs/golden/ holds explain transcripts: `vtalab golden
    scenarios/bugs/X.yaml --update` replaced one with a run transcript."""
    bugs = tmp_path / "bugs"
    (bugs / "golden").mkdir(parents=True)
    story = ROOT / "scenarios" / "bugs" / "intermediate-images.yaml"
    (bugs / story.name).write_bytes(story.read_bytes())
    golden = bugs / "golden" / "intermediate-images.txt"
    before = (story.parent / "golden" / golden.name).read_text(encoding="utf-8")
    golden.write_text(before, encoding="utf-8")
    for extra in ((), ("--update",)):
        code, out, err = cli(capsys, "golden", str(bugs / story.name), *extra)
        assert code == 2 and f"{golden} is an explain transcript" in err, err
    assert golden.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(("command", "name"), [("evidence", "quote.msg"),
                                               ("bundle", "plan.tgz")])
def test_evidence_and_bundle_never_write_over_their_scenario(
        command: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path(name).write_bytes(Path(SMALL).read_bytes())
    extra = ["--out", "."] if command == "evidence" else ["--out", name]
    code, _, err = cli(capsys, command, name, "--host", "esx-01", *extra)
    assert code == 2 and "it is the scenario file" in err, err
    assert Path(name).read_bytes() == Path(SMALL).read_bytes()


def test_standard_output_on_a_full_device_is_an_error_not_an_internal_one(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`vtalab schema > /dev/full` ended in 'internal error: OSError ... (this is a bug in
    vtalab)'."""
    import errno
    import sys

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sys, "stdout", Full())
    code = main(["schema"])
    err = capsys.readouterr().err
    assert code == 2 and err == "error: cannot write the output: No space left on device\n"


def test_a_zero_bound_is_refused_and_a_short_one_is_a_duration(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "explain", str(REMOVE), "--host", "esx-01", "--bound", "0")
    assert code == 2 and "--bound 0: a fix needs time to take effect" in err, err
    code, out, _ = cli(capsys, "explain", str(REMOVE), "--host", "esx-01", "--bound", "1s")
    assert code == 0 and "the fix had not finished after 00:00:01" in out, out
    assert "after T+" not in out


@pytest.mark.parametrize(("where", "key", "message"), [
    ("header", "untl", "unknown key 'untl' in the trace header; did you mean 'until'?"),
    ("digest", "sha", "unknown key 'sha' in the digest line; valid keys: kind, sha256, until"),
], ids=["header", "digest-line"])
def test_an_unknown_key_in_the_header_or_digest_line_is_located(
        where: str, key: str, message: str, recorded: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt header key was ignored: the replay ran to another end than recorded."""
    n = 0 if where == "header" else len(recorded) - 1
    line = json.loads(recorded[n]) | {key: 60}
    lines = [*recorded[:n], json.dumps(line), *recorded[n + 1:]]
    path = tmp_path / "keys.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = cli(capsys, "replay", str(path))
    assert code == 2 and err.startswith(f"error: {path}:{n + 1}:1: ") and message in err, err


def test_a_host_known_by_an_ipv6_address_has_its_quick_boot_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'HOST: 1' lines were split at every colon: an IPv6 host could not be listed."""
    hosts = [HOSTS[0], dict(HOSTS[1], Name="fd00::12")]
    code, _, err = _import(tmp_path, capsys, hosts=hosts,
                           quickboot="esx-01.lab.local: 1\nfd00::12 0\n")
    assert code == 0, err
    topology = yaml.safe_load((tmp_path / "estate.yaml").read_text(encoding="utf-8"))["topology"]
    names = [h["name"] for c in topology["trusted_clusters"] for h in c["hosts"]]
    assert names == ["esx-01.lab.local", "fd00::12"]


def test_an_empty_log_is_said_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """A log with no lines printed nothing at all: empty, or the wrong name, or no run?"""
    code, out, err = cli(capsys, "logs", SMALL, "--host", "esx-01", "--log", "esxupdate.log")
    assert code == 0 and out == "", out
    assert err.startswith("(esxupdate.log of esx-01 has no lines by T+"), err
