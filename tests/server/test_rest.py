"""The REST mapping with httpx: the same Quick Boot repair as the SDK test, plus the
session life cycle, ``?vmw-task=true`` and the lab clock."""

from __future__ import annotations

import base64
from collections.abc import Callable

from servekit import TI, Rest

from vtalab.domain.vcenter import EVENT_SEVERITY
from vtalab.server import Served

OLD, NEW = "8.0.1-21495797", "8.0.2-22380479"
BI = f"{TI}/trust-authority-clusters/domain-c8/attestation/os/esx/base-images"


def _finish(api: Rest, task_id: str, limit: int = 60) -> dict[str, object]:
    for _ in range(limit):
        info = api.task(task_id)
        if info["status"] != "RUNNING":
            return info
        api.advance("1m")
    raise AssertionError(f"task {task_id} did not finish")


def test_quick_boot_repair_over_rest(served: Served, rest: Callable[[str], Rest]) -> None:
    api = rest("ta")
    r = api.get(f"{TI}/trust-authority-clusters")
    assert r.status_code == 200 and r.json() == [{"cluster": "domain-c8", "state": "ENABLE"}]

    # list$task with ?vmw-task=true: a task id; its result is the list.
    r = api.get(BI, params={"vmw-task": "true"})
    assert r.status_code == 200
    info = api.task(r.json())
    assert info["status"] == "SUCCEEDED" and info["progress"]["completed"] == 100
    assert [b["version"] for b in info["result"]] == [OLD]
    # Without it, the lab answers with the result of a task that finished at once.
    r = api.get(f"{BI}/{OLD}")
    assert r.status_code == 200 and r.json()["last_attested_time"].endswith("Z")

    # Quick Boot esx-01 (a lab verb, RUNNING in simulated time), then download its imgdb.
    r = api.request("POST", "/api/vtalab/verbs", params={"vmw-task": "true"},
                    json={"verb": "upgrade-host",
                          "arguments": {"vmhost": "esx-01", "release": "8.0 U2"}})
    assert r.status_code == 200, r.text
    assert api.task(r.json())["status"] == "RUNNING"
    assert _finish(api, r.json())["status"] == "SUCCEEDED"
    r = api.get("/hosts/esx-01/boot_imgdb.tgz")
    assert r.status_code == 200 and "Quick Boot" in r.headers["x-vtalab-quick-boot-notice"]
    imgdb = r.content

    # Import as JSON (base64), then again as a multipart upload: AlreadyExists.
    r = api.request("POST", BI, params={"action": "import-from-imgdb", "vmw-task": "true"},
                    json=base64.b64encode(imgdb).decode())
    assert r.status_code == 200, r.text
    info = api.task(r.json())
    assert info["status"] == "SUCCEEDED" and info["result"] == NEW
    r = api.request("POST", BI, params={"action": "import-from-imgdb", "vmw-task": "true"},
                    files={"imgdb": ("boot_imgdb.tgz", imgdb, "application/gzip")})
    info = api.task(r.json())
    assert info["status"] == "FAILED"
    assert info["error"]["error_type"] == "ALREADY_EXISTS"
    # Synchronously, the same refusal is an HTTP 400 with the vAPI error body.
    r = api.request("POST", BI, params={"action": "import-from-imgdb"}, content=imgdb,
                    headers={"content-type": "application/octet-stream"})
    assert r.status_code == 400 and r.json()["error_type"] == "ALREADY_EXISTS"

    r = api.request("DELETE", f"{BI}/{OLD}", params={"vmw-task": "true"})
    assert api.task(r.json())["status"] == "SUCCEEDED"
    r = api.get(f"{BI}/{OLD}")
    assert r.status_code == 404 and r.json()["error_type"] == "NOT_FOUND"
    assert [b["version"] for b in api.get(BI).json()] == [NEW]

    wl = rest("workload")
    sac = f"{TI}/trusted-clusters/domain-c10/services-applied-config"
    r = wl.get(sac)
    assert r.status_code == 200 and r.json()["health"] in ("OK", "ERROR", "NONE")
    r = wl.request("PATCH", sac, params={"vmw-task": "true"})
    assert wl.task(r.json())["status"] == "SUCCEEDED"
    assert wl.get(sac).json()["health"] == "OK"
    hosts = wl.get("/api/vcenter/host").json()
    assert {h["name"] for h in hosts} == {"esx-01", "esx-02"}
    assert wl.get("/api/vcenter/vm", params={"power_states": "POWERED_ON"}).json()[0][
        "name"] == "db01"
    # Recent Tasks of the TA vCenter, as the lab shows them.
    names = [t["name"] for t in api.get("/api/vtalab/recent-tasks").json()]
    assert "Remove trusted ESXi base image" in names


def test_session_life_cycle(served: Served, rest: Callable[[str], Rest]) -> None:
    api = rest("ta")
    info = api.get("/api/session").json()
    assert info["user"] == served.lab.user
    assert api.request("DELETE", "/api/session").status_code == 204
    r = api.get(f"{TI}/trust-authority-clusters")
    assert r.status_code == 401 and r.json()["error_type"] == "UNAUTHENTICATED"
    r = api.client.post("/api/session", auth=(served.lab.user, "wrong"))
    assert r.status_code == 401


def test_clock(served: Served, rest: Callable[[str], Rest]) -> None:
    api = rest("ta")
    c = api.get("/api/vtalab/clock").json()
    assert c["running"] is False and c["seconds"] == 0.0
    assert c["now"] == "2026-01-05T08:00:00.000Z"
    c = api.advance("90s")
    assert c["seconds"] == 90.0
    r = api.request("PATCH", "/api/vtalab/clock", json={"advance": "forever"})
    assert r.status_code == 400 and "spec.advance" in r.json()["messages"][0]["default_message"]
    r = api.request("PATCH", "/api/vtalab/clock", json={"speed": -1})
    assert r.status_code == 400
    c = api.request("PATCH", "/api/vtalab/clock", json={"speed": 120, "running": True}).json()
    assert c["running"] is True and c["speed"] == 120.0
    c = api.request("PATCH", "/api/vtalab/clock", json={"running": False}).json()
    assert c["running"] is False and c["seconds"] >= 90.0
    # The workload vCenter shares the one clock.
    assert rest("workload").get("/api/vtalab/clock").json()["seconds"] == c["seconds"]


def test_lab_events_carry_the_one_severity_table(served: Served,
                                                 rest: Callable[[str], Rest]) -> None:
    """The console's Events view shows each event's severity from here (it used to guess
    it from the event id with a regular expression of its own)."""
    events = rest("workload").get("/api/vtalab/events").json()
    assert events, "the served lab has posted no event"
    for e in events:
        assert e["severity"] == EVENT_SEVERITY[e["event_type_id"]], e
