"""The vAPI ``list`` operations' filter specs: each field narrows the list (an empty or
missing field: no filter), as the SDK's ``FilterSpec`` documents; and each vCenter lists
its own tasks (``com.vmware.cis.tasks.list``, ``GET /api/cis/tasks``)."""

from __future__ import annotations

from typing import Any

from servekit import make_lab

from vtalab.server import ServedLab
from vtalab.server.lab import Call

TAC = "com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters"
BI = f"{TAC}.attestation.os.esx.base_images"
CP = f"{TAC}.consumer_principals"


def _call(lab: ServedLab, side: str, sid: str, service: str, op: str, **args: Any) -> Any:
    reply = lab.invoke(Call(side, service, op, args, session=sid))
    assert reply.error is None, reply.error
    return reply.output


def _listed(lab: ServedLab, side: str, sid: str, **spec: Any) -> dict[str, str]:
    out = _call(lab, side, sid, "com.vmware.cis.tasks", "list",
                filter_spec=spec or None, result_spec=None)
    return {tid: info["status"] for tid, info in out.items()}


def _sessions(lab: ServedLab) -> dict[str, str]:
    return {side: str(lab.invoke(Call(side, "com.vmware.cis.session", "create",
                                      login=(lab.user, lab.password))).output)
            for side in ("ta", "workload")}


def _result(lab: ServedLab, sid: str, service: str, **args: Any) -> Any:
    """What a ``list$task`` on the TA vCenter returns, read from its finished task."""
    task = _call(lab, "ta", sid, service, "list$task", **args)
    info = _call(lab, "ta", sid, "com.vmware.cis.tasks", "get", task=task,
                 spec={"return_all": True, "exclude_result": False})
    assert info["status"] == "SUCCEEDED", info
    return info["result"].value


def test_each_vcenter_lists_its_own_tasks_and_the_filter_narrows_them() -> None:
    lab = make_lab()
    sid = _sessions(lab)
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


def test_the_ta_cluster_list_filters_by_cluster_and_state() -> None:
    lab = make_lab()
    sid = _sessions(lab)["ta"]
    row = {"cluster": "domain-c8", "state": "ENABLE"}

    def listed(**spec: Any) -> Any:
        return _call(lab, "ta", sid, TAC, "list", spec=spec or None)

    assert listed() == listed(state=["ENABLE"]) == listed(cluster=["domain-c8"]) == [row]
    assert listed(cluster=["vTA Cluster"]) == [row]  # by name too
    assert listed(state=["DISABLE"]) == []
    assert listed(cluster=["domain-c9"]) == []


def test_base_image_and_principal_lists_filter_by_each_field() -> None:
    lab = make_lab()
    sid = _sessions(lab)["ta"]
    [image] = _result(lab, sid, BI, cluster="domain-c8", spec=None)
    for field in ("version", "display_name", "health"):
        assert _result(lab, sid, BI, cluster="domain-c8",
                       spec={field: [image[field]]}) == [image]
    assert _result(lab, sid, BI, cluster="domain-c8", spec={"health": ["ERROR"]}) == []
    assert _result(lab, sid, BI, cluster="domain-c8", spec={"version": ["8.0.9-1"]}) == []
    assert _result(lab, sid, BI, cluster="domain-c8",
                   spec={"display_name": ["ESXi 9"]}) == []
    [principal] = _result(lab, sid, CP, cluster="domain-c8", spec=None)
    assert _result(lab, sid, CP, cluster="domain-c8",
                   spec={"issuer": [principal["issuer"]]}) == [principal]
    assert _result(lab, sid, CP, cluster="domain-c8", spec={"issuer": ["elsewhere"]}) == []
    assert _result(lab, sid, CP, cluster="domain-c8", spec={"id": ["elsewhere"]}) == []
