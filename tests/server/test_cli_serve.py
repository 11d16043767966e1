"""``vtalab serve`` as a command: the banner, HTTPS with the seed's certificate, curl-style
REST, Ctrl-C stops cleanly and writes a trace that ``vtalab replay`` reproduces; bad input
exits 2 without serving."""

from __future__ import annotations

import hashlib
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from servekit import ROOT, SCENARIO

from vtalab.cli.app import main
from vtalab.server import derive_password, tls_material


def _serve(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vtalab", "serve", str(SCENARIO), "--ta-port", "0",
         "--workload-port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT)
    assert proc.stdout is not None
    banner: dict[str, str] = {}
    lines = []
    deadline = time.monotonic() + 60  # wall-clock ok: bounded wait for the banner
    for line in proc.stdout:
        lines.append(line)
        words = line.split()
        if "Trust Authority vCenter" in line:
            banner["ta"] = words[-1]
        elif line.strip().startswith("workload vCenter"):
            banner["workload"] = words[-1]
        elif line.strip().startswith("password "):
            banner["password"] = words[-1]
        elif "SHA-256" in line:
            banner["fingerprint"] = words[-1]
        if line.startswith("Ctrl-C") or time.monotonic() > deadline:  # wall-clock ok
            break
    banner["text"] = "".join(lines)
    return proc, banner


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out + err


def test_serve_https_ctrl_c_and_replay(tmp_path: Path,
                                       capsys: object) -> None:
    trace = tmp_path / "served.trace"
    proc, banner = _serve("--paused", "--trace", str(trace))
    try:
        assert banner["ta"].startswith("https://127.0.0.1:"), banner["text"]
        assert banner["password"] == derive_password(7)
        names = ("vcsa-ta.lab.local", "vcsa-wld.lab.local")
        assert banner["fingerprint"] == tls_material(7, names).fingerprint  # seed-derived
        assert "create_vsphere_client" in banner["text"] and "curl" in banner["text"]
        # The certificate served is the one printed.
        host, port = banner["ta"].removeprefix("https://").split(":")
        der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((host, int(port))))
        digest = hashlib.sha256(der).hexdigest().upper()
        assert ":".join(digest[i:i + 2] for i in range(0, 64, 2)) == banner["fingerprint"]
        with httpx.Client(base_url=banner["ta"], verify=False, trust_env=False) as c:
            sid = c.post("/api/session", auth=("administrator@vsphere.local",
                                               banner["password"])).json()
            h = {"vmware-api-session-id": sid}
            r = c.get("/api/vcenter/trusted-infrastructure/trust-authority-clusters",
                      headers=h)
            assert r.status_code == 200 and r.json()[0]["cluster"] == "domain-c8"
            c.patch("/api/vtalab/clock", json={"advance": "20m"}, headers=h)
            r = c.get("/hosts/esx-01/boot_imgdb.tgz", headers=h)  # upgraded at 10m
            assert r.status_code == 200 and "x-vtalab-quick-boot-notice" in r.headers
    finally:
        code, output = _stop(proc)
    assert code == 0, output
    assert "trace written to" in output and trace.exists()
    assert main(["replay", str(trace)]) == 0


def test_serve_bad_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntopology: {ta_cluster: {hosts: [{name: a, release: '9.9'}]}}\n")
    r = subprocess.run([sys.executable, "-m", "vtalab", "serve", str(bad), "--http"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "9.9" in r.stderr
    r = subprocess.run([sys.executable, "-m", "vtalab", "serve", str(SCENARIO), "--speed",
                        "-3"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2 and "speed" in r.stderr
    r = subprocess.run([sys.executable, "-m", "vtalab", "serve", str(SCENARIO),
                        "--trace", str(tmp_path / "no" / "dir" / "t.trace")],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2 and "does not exist" in r.stderr
