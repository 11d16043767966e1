"""The command line: exit codes 0/1/2/3, no traceback ever, nothing written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_scenario_loader import VALID, install_fakes, replace

import vtalab
from vtalab.cli.app import checkquote_command, main


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fakes(monkeypatch)


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_run_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", write(tmp_path, VALID))
    assert code == 0, out + err
    assert "PASS  attestation esx-01 after step 'upgrade'" in out
    assert "> upgrade-host host=esx-01" in out
    assert "Upgrade staged: ESXi 8.0 U3" in out and "digest sha256:" in out
    assert "[attestd.log]" not in out
    code, out2, _ = run(capsys, "run", write(tmp_path, VALID), "--logs")
    assert "[attestd.log] host esx-01 measured 8.0 U3" in out2
    # Byte-stable: the same run prints the same text.
    assert run(capsys, "run", write(tmp_path, VALID))[1] == out


def test_run_fail_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, replace("power_state: poweredOn", "power_state: poweredOff"))
    code, out, _ = run(capsys, "run", path)
    assert code == 1 and "FAIL  vm vm-01 at end" in out


def test_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", write(tmp_path, VALID), "--json", "--seed", "3")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert report["runs"][0]["seed"] == 3 and len(report["runs"][0]["digest"]) == 64
    assert all(v["ok"] for v in report["runs"][0]["verdicts"])


def test_run_until(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Stopped on purpose: what was not reached is neither passed nor failed (exit 0).
    code, out, _ = run(capsys, "run", write(tmp_path, VALID), "--until", "2m")
    assert code == 0 and "not reached" in out and "FAIL" not in out
    assert "SKIP  " in out and ", 0 failed, " in out and " not reached" in out.splitlines()[-2]
    code, out, _ = run(capsys, "run", write(tmp_path, VALID), "--until", "2m", "--json")
    verdicts = json.loads(out)["runs"][0]["verdicts"]
    assert code == 0 and {v["status"] for v in verdicts} <= {"PASS", "SKIP"}
    assert any(v["ok"] is None and v["status"] == "SKIP" for v in verdicts)
    code, _, err = run(capsys, "run", write(tmp_path, VALID), "--until", "soon")
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
    code, out, err = run(capsys, "run", write(tmp_path, VALID, "ok.yaml"), path)
    assert code == 2 and out == ""


def test_missing_file_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and "invalid choice" in err
    assert run(capsys, "--version")[0] == 0


def test_trace_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)
    trace = tmp_path / "t.jsonl"
    code, out, _ = run(capsys, "run", path, "--trace", str(trace))
    assert code == 0
    lines = trace.read_text(encoding="ascii").splitlines()
    header, last = json.loads(lines[0]), json.loads(lines[-1])
    assert header == {"kind": "vtalab.trace", "version": vtalab.__version__, "file": path,
                      "scenario_text": VALID, "seed": 7, "until": None}
    assert last["kind"] == "vtalab.digest" and f"digest sha256:{last['sha256']}" in out
    events = [json.loads(x) for x in lines[1:-1]]
    assert events and all({"t", "seq", "src", "kind", "f"} <= set(e) for e in events)
    assert any(e["kind"] == "step.start" for e in events)

    code, out, _ = run(capsys, "replay", str(trace))
    assert code == 0 and last["sha256"] in out

    tampered = tmp_path / "bad.jsonl"
    lines[3] = lines[3].replace('"seq":2', '"seq":2,"x":1').replace('"t":0', '"t":1')
    tampered.write_text("\n".join(lines) + "\n", encoding="ascii")
    code, out, _ = run(capsys, "replay", str(tampered))
    assert code == 1 and "replay diverges at event 2" in out
    assert "expected:" in out and "got:" in out


def test_replay_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text("not json\n", encoding="ascii")
    code, _, err = run(capsys, "replay", str(p))
    assert code == 2 and f"{p}:1:1" in err
    p.write_text('{"kind":"vtalab.trace","seed":0,"scenario_text":"name: [x"}\n',
                 encoding="ascii")
    code, _, err = run(capsys, "replay", str(p))
    assert code == 2 and "invalid YAML" in err


def test_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "ev"
    code, out, _ = run(capsys, "evidence", write(tmp_path, VALID), "--host", "esx-01",
                       "--at", "1h", "--out", str(out_dir))
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "ak.pub.pem", "nonce.hex", "pcrs.bin", "pcrs.json", "quote.msg", "quote.sig"]
    assert "tpm2_checkquote -u ak.pub.pem -m quote.msg -s quote.sig" in out
    code, _, err = run(capsys, "evidence", write(tmp_path, VALID), "--host", "esx-1",
                       "--out", str(tmp_path / "ev2"))
    assert code == 2 and "did you mean 'esx-01'?" in err
    assert not (tmp_path / "ev2").exists()


def test_checkquote_command_fallback() -> None:
    cmd = checkquote_command({"pcrs.bin": b"", "pcrs.json": b'{"sha256": {"11": "", "0": ""}}'})
    assert "-f pcrs.bin -l sha256:0,11 -g sha256 -q $(cat nonce.hex)" in cmd
    assert "-f pcrs.out -g" in checkquote_command({"pcrs.out": b"", "pcrs.bin": b""})


def test_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)
    code, out, _ = run(capsys, "logs", path, "--host", "esx-01", "--log", "attestd.log")
    assert code == 0 and "attestd: host esx-01 measured 8.0 U3" in out
    code, out, _ = run(capsys, "logs", path, "--host", "esx-01", "--log", "attestd.log",
                       "--at", "1m")
    assert code == 0 and out == ""
    code, _, err = run(capsys, "logs", path, "--host", "esx-01", "--log", "atestd.log")
    assert code == 2 and "did you mean 'attestd.log'?" in err


def test_verbs_and_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verbs")
    assert code == 0 and "upgrade-host" in out and "kms-outage" in out
    code, out, _ = run(capsys, "verbs", "--markdown")
    assert code == 0 and "### `Start-VM`" in out and "| `vm` |" in out
    code, out, _ = run(capsys, "schema")
    assert code == 0 and "Start-VM" in json.loads(out)["$defs"]["Step"]["properties"]["do"][
        "enum"]


def test_internal_error_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    import vtalab.scenario.model as scenario_mod

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(scenario_mod, "run_scenario", boom)
    code, out, err = run(capsys, "run", write(tmp_path, VALID))
    assert code == 3 and "internal error: RuntimeError: kaboom" in err


def test_python_dash_m() -> None:
    done = subprocess.run([sys.executable, "-m", "vtalab", "--version"], capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0 and vtalab.__version__ in done.stdout
