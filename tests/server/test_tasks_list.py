"""``com.vmware.cis.tasks.list`` (``GET /api/cis/tasks``): each vCenter lists its own
tasks, and every field of the filter spec narrows the list (an empty field: no filter)."""

from __future__ import annotations

from typing import Any

from servekit import make_lab

from vtalab.server import ServedLab
from vtalab.server.lab import Call

BI = ("com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters.attestation.os.esx."
      "base_images")


def _call(lab: ServedLab, side: str, sid: str, service: str, op: str, **args: Any) -> Any:
    reply = lab.invoke(Call(side, service, op, args, session=sid))
    assert reply.error is None, reply.error
    return reply.output


def _listed(lab: ServedLab, side: str, sid: str, **spec: Any) -> dict[str, str]:
    out = _call(lab, side, sid, "com.vmware.cis.tasks", "list",
                filter_spec=spec or None, result_spec=None)
    return {tid: info["status"] for tid, info in out.items()}


def test_each_vcenter_lists_its_own_tasks_and_the_filter_narrows_them() -> None:
    lab = make_lab()
    sid = {side: str(lab.invoke(Call(side, "com.vmware.cis.session", "create",
                                     login=(lab.user, lab.password))).output)
           for side in ("ta", "workload")}
    ok = _call(lab, "ta", sid["ta"], BI, "list$task", cluster="domain-c8", spec=None)
    failed = _call(lab, "ta", sid["ta"], BI, "delete$task", cluster="domain-c8",
                   version="no-such-version")
    assert _listed(lab, "ta", sid["ta"]) == {ok: "SUCCEEDED", failed: "FAILED"}
    assert _listed(lab, "workload", sid["workload"]) == {}
    assert _listed(lab, "ta", sid["ta"], status=["FAILED"]) == {failed: "FAILED"}
    assert _listed(lab, "ta", sid["ta"], status=["SUCCEEDED", "FAILED"]) == {
        ok: "SUCCEEDED", failed: "FAILED"}
    assert _listed(lab, "ta", sid["ta"], tasks=[ok]) == {ok: "SUCCEEDED"}
    assert _listed(lab, "ta", sid["ta"], operations=["delete"]) == {failed: "FAILED"}
    assert _listed(lab, "ta", sid["ta"], operations=["list$task"]) == {ok: "SUCCEEDED"}
    assert _listed(lab, "ta", sid["ta"], services=["com.vmware.cis.session"]) == {}
    assert _listed(lab, "ta", sid["ta"], users=["nobody@vsphere.local"]) == {}
    assert len(_listed(lab, "ta", sid["ta"], users=[lab.user])) == 2
