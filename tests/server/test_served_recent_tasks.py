"""The power verbs the console offers (Stop-VM, Stop-/Start-VMHost, the cluster's Quick
Boot setting) show in the served vCenter's Recent Tasks, as the other verbs' tasks do:
the world makes the task, the API only lists it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from servekit import Rest

from vtalab.server import Served


def _run(api: Rest, verb: str, **arguments: str) -> dict[str, Any]:
    r = api.request("POST", "/api/vtalab/verbs", params={"vmw-task": "true"},
                    json={"verb": verb, "arguments": arguments})
    assert r.status_code == 200, r.text
    for _ in range(20):  # bounded: host power changes take simulated minutes
        info = api.task(r.json())
        if info["status"] != "RUNNING":
            return info
        api.advance("5m")
    raise AssertionError(f"{verb} did not finish")


def test_power_verbs_show_in_recent_tasks(served: Served,
                                          rest: Callable[[str], Rest]) -> None:
    wl = rest("workload")
    wl.advance("1m")  # db01 is powering on at T=0 (it takes simulated seconds)
    before = len(wl.get("/api/vtalab/recent-tasks").json())
    assert _run(wl, "Stop-VM", vm="db01")["status"] == "SUCCEEDED"
    assert _run(wl, "Set-VMHost", vmhost="esx-02", state="Maintenance")["status"] \
        == "SUCCEEDED"
    assert _run(wl, "Stop-VMHost", vmhost="esx-02")["status"] == "SUCCEEDED"
    assert _run(wl, "Start-VMHost", vmhost="esx-02")["status"] == "SUCCEEDED"
    assert _run(wl, "set-quick-boot", enabled="false")["status"] == "SUCCEEDED"
    again = _run(wl, "Stop-VM", vm="db01")  # off already: the world's task fails
    assert again["result"]["ok"] is False and again["result"]["error"] == "invalid_state"
    tasks = wl.get("/api/vtalab/recent-tasks").json()[before:]
    shown = [(t["name"], t["target"], t["status"]) for t in tasks]
    assert ("Power Off virtual machine", "db01", "success") in shown
    assert ("Shut down host", "esx-02", "success") in shown
    assert ("Exit standby mode", "esx-02", "success") in shown
    assert ("Power Off virtual machine", "db01", "error") in shown
    assert any(name == "Edit remediation settings" for name, _, _ in shown)
    failed = next(t for t in tasks if t["status"] == "error")
    assert "current state (Powered off)" in failed["error"]
