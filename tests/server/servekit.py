"""Helpers for the ``vtalab serve`` tests (a module of its own: test modules must not
import a conftest, whose name other test directories share)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from vtalab.scenario.model import load_scenario_text
from vtalab.server import Limits, Served, ServedLab

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "quick-boot-upgrade.yaml"
TI = "/api/vcenter/trusted-infrastructure"


def make_lab(*, topology_only: bool = True, limits: Limits | None = None,
             **kw: Any) -> ServedLab:
    scenario = load_scenario_text(SCENARIO.read_text(encoding="utf-8"), file=str(SCENARIO))
    return ServedLab(scenario, topology_only=topology_only, paused=True, limits=limits, **kw)


class Rest:
    """A REST client of one served vCenter, logged in."""

    def __init__(self, served: Served, side: str) -> None:
        self.served = served
        self.client = httpx.Client(base_url=served.url(side), verify=False, trust_env=False,
                                   timeout=30)
        lab = served.lab
        r = self.client.post("/api/session", auth=(lab.user, lab.password))
        assert r.status_code == 201, r.text
        self.sid = r.json()
        self.client.headers["vmware-api-session-id"] = self.sid

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.client.request(method, path, **kw)

    def task(self, task_id: str) -> dict[str, Any]:
        r = self.client.get(f"/api/cis/tasks/{task_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def advance(self, duration: str) -> dict[str, Any]:
        r = self.client.patch("/api/vtalab/clock", json={"advance": duration})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def close(self) -> None:
        self.client.close()
