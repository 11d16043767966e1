"""The command line on the real World: exit codes 0/1/2/3, no traceback ever, nothing
written on bad input.

Every command here runs the real simulation (the world, its crypto and its TPMs) on a
small scenario in ``tests/data/cli/``: a trusted host upgraded before its base image was
imported, then repaired by exporting and importing the image.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import vtalab
from vtalab.cli import app, main

SCENARIO = Path(__file__).resolve().parent / "data" / "cli" / "upgrade-before-import.yaml"
TEXT = SCENARIO.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str = TEXT, name: str = "s.yaml") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def replace(old: str, new: str, text: str = TEXT) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_run_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    code, out, err = run(capsys, "run", path)
    assert code == 0, out + err
    assert "6 passed, 0 failed" in out and "digest sha256:" in out
    assert "PASS  step 'start-locked' (Start-VM): was refused (untrusted_base_image)" in out
    assert "> upgrade-host vmhost=esx-01 release=\"8.0 U3\"" in out
    assert "[attestd.log]" not in out
    code, with_logs, _ = run(capsys, "run", path, "--logs")
    assert code == 0 and "[attestd.log]" in with_logs
    # Byte-stable: the same run prints the same text.
    assert run(capsys, "run", path)[1] == out


def test_run_fail_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, replace("power_state: poweredOn", "power_state: poweredOff"))
    code, out, _ = run(capsys, "run", path)
    assert code == 1 and "FAIL  vm vm-01 at end" in out and "5 passed, 1 failed" in out


def test_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", write(tmp_path), "--json", "--seed", "3")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    run0 = report["runs"][0]
    assert run0["seed"] == 3 and len(run0["digest"]) == 64
    assert all(v["ok"] for v in run0["verdicts"]) and len(run0["verdicts"]) == 6
    assert [s["id"] for s in run0["steps"]] == ["upgrade", "start-locked", "export", "import",
                                                "start"]


def test_run_until(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Stopped on purpose: what was not reached is neither passed nor failed (exit 0).
    code, out, _ = run(capsys, "run", write(tmp_path), "--until", "20m")
    assert code == 0 and "not reached" in out and "FAIL" not in out
    assert "SKIP  " in out and ", 0 failed, " in out and " not reached" in out.splitlines()[-2]
    code, out, _ = run(capsys, "run", write(tmp_path), "--until", "20m", "--json")
    verdicts = json.loads(out)["runs"][0]["verdicts"]
    assert code == 0 and {v["status"] for v in verdicts} <= {"PASS", "SKIP"}
    assert any(v["ok"] is None and v["status"] == "SKIP" for v in verdicts)
    code, _, err = run(capsys, "run", write(tmp_path), "--until", "soon")
    assert code == 2 and "'10m'" in err


def test_bad_input_exit_2_nothing_written(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, replace("seed: 7", "sed: 7"))
    trace = tmp_path / "t.jsonl"
    code, out, err = run(capsys, "run", path, "--trace", str(trace))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}:3:1: sed: unknown key 'sed'; did you mean 'seed'?")
    assert err.count("\n") == 1
    assert not trace.exists()
    # Several files: all are checked before anything runs.
    code, out, err = run(capsys, "run", write(tmp_path, name="ok.yaml"), path)
    assert code == 2 and out == ""


def test_unknown_verb_argument_names_the_real_ones(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, replace("with: {vmhost: esx-01, release:",
                                   "with: {host: esx-01, release:"))
    code, out, err = run(capsys, "run", path)
    assert code == 2 and out == "" and f"error: {path}:" in err
    assert "'host'" in err and "vmhost" in err


def test_missing_file_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and "invalid choice" in err
    assert run(capsys, "--version")[0] == 0


def test_a_docs_scenarios_path_outside_a_checkout_names_the_bundled_copy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """README's `vtalab run scenarios/quick-boot-upgrade.yaml`, typed outside the repository:
    exit 2 with the nearest valid choice, the bundled library's copy (which then runs)."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "run", "scenarios/quick-boot-upgrade.yaml")
    assert code == 2 and out == ""
    assert "no such file; the bundled library has it" in err
    bundled = err.rsplit(": ", 1)[1].strip()
    assert Path(bundled).is_file() and bundled.endswith("quick-boot-upgrade.yaml")
    assert run(capsys, "run", "--until", "1m", bundled)[0] in (0, 1)
    code, _, err = run(capsys, "check", "scenarios/plans/safe-rolling-upgrade.yaml")
    assert code == 2 and "plans/safe-rolling-upgrade.yaml" in err.rsplit(": ", 1)[1]
    code, _, err = run(capsys, "run", "scenarios/no-such-scenario.yaml")
    assert code == 2 and "bundled" not in err  # no hint that is not true


def test_trace_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    trace = tmp_path / "t.jsonl"
    code, out, _ = run(capsys, "run", path, "--trace", str(trace))
    assert code == 0
    lines = trace.read_text(encoding="ascii").splitlines()
    header, last = json.loads(lines[0]), json.loads(lines[-1])
    assert header == {"kind": "vtalab.trace", "version": vtalab.__version__, "file": path,
                      "scenario_text": TEXT, "seed": 7, "until": None}
    assert last["kind"] == "vtalab.digest" and f"digest sha256:{last['sha256']}" in out
    events = [json.loads(x) for x in lines[1:-1]]
    assert events and all({"t", "seq", "src", "kind", "f"} <= set(e) for e in events)
    assert any(e["kind"] == "step.start" for e in events)
    assert any(e["kind"] == "attest.result" for e in events)

    code, out, _ = run(capsys, "replay", str(trace))
    assert code == 0 and last["sha256"] in out

    tampered = tmp_path / "bad.jsonl"
    assert '"seq":2,' in lines[3] and '"t":0' in lines[3]
    lines[3] = lines[3].replace('"t":0', '"t":1')
    tampered.write_text("\n".join(lines) + "\n", encoding="ascii")
    code, out, _ = run(capsys, "replay", str(tampered))
    assert code == 1 and "replay diverges at event 2" in out
    assert "expected:" in out and "got:" in out


def test_replay_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text("not json\n", encoding="ascii")
    code, _, err = run(capsys, "replay", str(p))
    assert code == 2 and f"{p}:1:1" in err
    p.write_text('{"kind":"vtalab.trace","seed":0,"scenario_text":"name: [x"}\n'
                 '{"kind":"vtalab.digest","sha256":"' + "0" * 64 + '"}\n', encoding="ascii")
    code, _, err = run(capsys, "replay", str(p))
    assert code == 2 and "invalid YAML" in err


def test_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "ev"
    code, out, _ = run(capsys, "evidence", write(tmp_path), "--host", "esx-01",
                       "--at", "1h", "--out", str(out_dir))
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "ak.pub.pem", "eventlog.bin", "nonce.hex", "pcrs.bin", "pcrs.json", "pcrs.out",
        "quote.msg", "quote.sig"]
    nonce = (out_dir / "nonce.hex").read_text(encoding="ascii").strip()
    assert (f"tpm2_checkquote -u ak.pub.pem -m quote.msg -s quote.sig -f pcrs.out -g sha256 "
            f"-q {nonce} -e eventlog.bin") in out
    code, _, err = run(capsys, "evidence", write(tmp_path), "--host", "esx-1",
                       "--out", str(tmp_path / "ev2"))
    assert code == 2 and "did you mean 'esx-01'?" in err
    assert not (tmp_path / "ev2").exists()


@pytest.mark.conformance
def test_evidence_command_verifies_with_tpm2_checkquote(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command `vtalab evidence` prints is the one that verifies its files."""
    if shutil.which("tpm2_checkquote") is None:
        pytest.fail("tpm2_checkquote not found: install tpm2-tools (conformance tests must "
                    "not be skipped)")
    out_dir = tmp_path / "ev"
    code, out, _ = run(capsys, "evidence", write(tmp_path), "--host", "esx-01", "--at", "40m",
                       "--out", str(out_dir))
    assert code == 0
    command = out.splitlines()[-1].split("&& ", 1)[1]
    done = subprocess.run(command, shell=True, cwd=out_dir, capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    code, out, _ = run(capsys, "logs", path, "--host", "ta-esx-01", "--log", "attestd.log")
    assert code == 0 and "Attestation of esx-01 failed: untrusted_base_image" in out
    code, out, _ = run(capsys, "logs", path, "--host", "esx-01", "--log", "kmxa.log",
                       "--at", "20m")
    assert code == 0 and "failed" not in out
    code, _, err = run(capsys, "logs", path, "--host", "esx-01", "--log", "atestd.log")
    assert code == 2 and "did you mean 'attestd.log'?" in err


def test_verbs_and_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verbs")
    assert code == 0 and "upgrade-host" in out and "kms-outage" in out
    code, out, _ = run(capsys, "verbs", "--markdown")
    assert code == 0 and "| `Start-VM` |" in out and "`vm: str`" in out
    assert out.startswith("# Verbs\n") and "\n# Faults\n" in out
    code, out, _ = run(capsys, "schema")
    enum = json.loads(out)["$defs"]["Step"]["properties"]["do"]["enum"]
    assert code == 0 and "Start-VM" in enum and "upgrade-host" in enum


def test_internal_error_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(app, "run_scenario", boom)
    code, out, err = run(capsys, "run", write(tmp_path))
    assert code == 3 and "internal error: RuntimeError: kaboom" in err


def test_python_dash_m() -> None:
    done = subprocess.run([sys.executable, "-m", "vtalab", "--version"], capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0 and vtalab.__version__ in done.stdout


def test_explain_finds_a_bundled_bug_by_name(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Bundled bug stories are package data: found by name from any folder."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "explain", "intermediate-images", "--host", "esx-01",
                       "--no-fixes")
    assert code == 0 and out.startswith("== explain esx-01 at ")
    assert "(intermediate-images, seed 12)" in out
