"""Record and replay: a served session's trace re-runs bit for bit with ``vtalab replay``,
whatever the wall clock did (the clock running, sessions expiring, bad requests)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from servekit import SCENARIO, TI, Rest, make_lab

from vtalab.cli.app import main
from vtalab.server import Limits, Served, start

BI = f"{TI}/trust-authority-clusters/domain-c8/attestation/os/esx/base-images"


def _save(served: Served, tmp_path: Path) -> Path:
    path = tmp_path / "served.trace"
    path.write_text(served.lab.trace_text(SCENARIO.name, SCENARIO.read_text(encoding="utf-8")),
                    encoding="ascii")
    return path


def _replay(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["replay", str(path)])
    return code, capsys.readouterr().out


def test_served_session_replays_identically(served: Served, rest: Callable[[str], Rest],
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    api = rest("ta")
    api.get(BI)
    imgdb = api.get("/hosts/esx-01/boot_imgdb.tgz").content
    api.request("POST", BI, params={"action": "import-from-imgdb"},
                json=base64.b64encode(imgdb).decode())
    api.advance("10m")
    api.request("POST", "/api/vtalab/verbs", params={"vmw-task": "true"},
                json={"verb": "Restart-VMHost", "arguments": {"vmhost": "esx-02",
                                                              "force": "true"}})
    api.advance("15m")
    api.client.post("/api", content=b"{not json")
    api.get(f"{TI}/no-such-thing")
    httpx.get(served.ta_url + f"{TI}/trust-authority-clusters", trust_env=False)  # no session
    rest("workload").request("PATCH", f"{TI}/trusted-clusters/domain-c10/"
                             "services-applied-config")
    path = _save(served, tmp_path)
    kinds = [json.loads(line).get("kind") for line in path.read_text().splitlines()]
    assert kinds.count("api.request") == kinds.count("api.reply") >= 12
    code, out = _replay(path, capsys)
    assert code == 0, out
    assert out.startswith("replay identical")

    # A tampered request diverges at that event.
    lines = path.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if '\\"advance\\":{\\"OPTIONAL\\":\\"10m' in line)
    lines[i] = lines[i].replace('10m', '11m')
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    code, out = _replay(path, capsys)
    assert code == 1 and "diverges" in out


def test_running_clock_and_scenario_steps_replay(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The scenario's own steps run while requests arrive at wall-clock-paced times."""
    lab = make_lab(topology_only=False, limits=Limits(session_idle_seconds=0.2))
    lab.clock.running = True
    lab.clock.speed = 600.0
    lab.clock.rebase(0.0)
    with start(lab, http=True) as served:
        api = Rest(served, "ta")
        for _ in range(15):
            api.get(BI)
            api.get("/api/vtalab/clock")
        import time

        time.sleep(0.3)  # wall-clock ok: let the session expire (0.2 s idle limit)
        expired = api.get(BI)
        assert expired.status_code == 401
        api.close()
        path = _save(served, tmp_path)
    code, out = _replay(path, capsys)
    assert code == 0, out
