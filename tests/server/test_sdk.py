"""The official vSphere Automation SDK (vmware-vcenter 8.0.3.0) against ``vtalab serve``.

The seed's Quick Boot repair, end to end over HTTPS and vAPI JSON-RPC, with typed results
at each step: log in; list the base images and read ``last_attested_time``; Quick Boot a
host to a new release (a lab verb, as a task that runs in simulated time); download its
``boot_imgdb.tgz``; ``import_from_imgdb``; import it again (the task FAILS with
``AlreadyExists``); delete the old image; read the Trusted cluster's applied-config
health; remediate.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

pytest.importorskip("com.vmware.vcenter.trusted_infrastructure_client")

from com.vmware.cis_client import Tasks  # noqa: E402
from com.vmware.vapi.std.errors_client import (  # noqa: E402
    AlreadyExists,
    NotFound,
    OperationNotFound,
    Unauthenticated,
)
from com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters.attestation.os.esx_client import (  # noqa: E402, E501
    BaseImages,
)
from com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters_client import (  # noqa: E402, E501
    ConsumerPrincipals,
)
from com.vmware.vcenter.trusted_infrastructure.trusted_clusters_client import (  # noqa: E402
    ServicesAppliedConfig,
)
from com.vmware.vcenter.trusted_infrastructure_client import TrustAuthorityClusters  # noqa: E402
from vmware.vapi.lib.connect import get_requests_connector  # noqa: E402
from vmware.vapi.security.session import create_session_security_context  # noqa: E402
from vmware.vapi.stdlib.client.factories import StubConfigurationFactory  # noqa: E402
from vmware.vapi.vsphere.client import create_vsphere_client  # noqa: E402

from vtalab.server import Served  # noqa: E402

OLD, NEW = "8.0.1-21495797", "8.0.2-22380479"


_OPEN: list[requests.Session] = []


@pytest.fixture(autouse=True)
def _close_sessions() -> Any:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _http() -> requests.Session:
    s = requests.Session()
    _OPEN.append(s)
    s.verify = False  # the lab's self-signed certificate (its fingerprint is printed)
    s.trust_env = False
    return s


def _stub_config(url: str, session_id: str) -> Any:
    connector = get_requests_connector(session=_http(), msg_protocol="json", url=url + "/api")
    connector.set_security_context(create_session_security_context(session_id))
    return StubConfigurationFactory.new_std_configuration(connector)


def _wait(task: Any, served: Served, limit: int = 50) -> Any:
    """Poll a task; move simulated time a minute per poll while it runs (bounded)."""
    for _ in range(limit):
        info = task.get_info()
        if info.status not in ("RUNNING", "PENDING"):
            return info
        _http().patch(served.ta_url + "/api/vtalab/clock", json={"advance": "1m"},
                      headers={"vmware-api-session-id": _SID[served.ta_url]})
    raise AssertionError("task did not finish")


_SID: dict[str, str] = {}


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_quick_boot_repair_with_the_official_sdk(served_https: Served) -> None:
    served = served_https
    lab = served.lab
    ta_server = served.ta_url.split("://")[1]
    with create_vsphere_client(server=ta_server, username=lab.user, password=lab.password,
                               session=_http()) as client:
        sid = client.get_session_id()
        _SID[served.ta_url] = sid
        cfg = _stub_config(served.ta_url, sid)

        recent_before = len(lab.world.ta_vcenter.tasks)

        # Which TA cluster, and its state.
        clusters = TrustAuthorityClusters(cfg).list()
        assert [(c.cluster, c.state) for c in clusters] == [("domain-c8", "ENABLE")]
        cluster = clusters[0].cluster

        # Base images, with when a host last attested with each.
        images = BaseImages(cfg)
        summaries = images.list_task(cluster).get_result()
        assert [s.version for s in summaries] == [OLD]
        assert summaries[0].health == "OK"
        info = images.get_task(cluster, OLD).get_result()
        assert isinstance(info.last_attested_time, dt.datetime)
        assert info.details == []

        # Quick Boot esx-01 to 8.0 U2 (a lab verb; the task runs in simulated time).
        r = _http().post(served.ta_url + "/api/vtalab/verbs?vmw-task=true",
                          json={"verb": "upgrade-host",
                                "arguments": {"vmhost": "esx-01", "release": "8.0 U2"}},
                         headers={"vmware-api-session-id": sid})
        assert r.status_code == 200, r.text
        upgrade = Tasks(cfg).get(r.json())
        assert upgrade.status == "RUNNING" and upgrade.progress.completed < 100
        from vmware.vapi.stdlib.client.task import Task

        done = _wait(Task(r.json(), Tasks(cfg), None), served)
        assert done.status == "SUCCEEDED"
        assert done.end_time > done.start_time

        # Download the image from the Quick-Booted host: the notice says what it holds.
        r = _http().get(served.ta_url + "/hosts/esx-01/boot_imgdb.tgz",
                        headers={"vmware-api-session-id": sid})
        assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
        assert "Quick Boot" in r.headers["x-vtalab-quick-boot-notice"]
        imgdb = r.content

        # Import it; importing it again fails with AlreadyExists.
        task = images.import_from_imgdb_task(cluster, imgdb)
        assert task.get_info().status == "SUCCEEDED"
        assert task.get_result() == NEW
        again = images.import_from_imgdb_task(cluster, imgdb).get_info()
        assert again.status == "FAILED"
        assert isinstance(again.error, AlreadyExists)
        assert NEW in again.error.messages[0].default_message
        assert {s.version for s in images.list_task(cluster).get_result()} == {OLD, NEW}

        # Delete the old image; it is gone, and getting it is NotFound.
        deleted = images.delete_task(cluster, OLD).get_info()
        assert deleted.status == "SUCCEEDED"
        assert [s.version for s in images.list_task(cluster).get_result()] == [NEW]
        missing = images.get_task(cluster, OLD).get_info()
        assert missing.status == "FAILED" and isinstance(missing.error, NotFound)

        # The Recent Tasks of the TA vCenter show the import, the refusal and the removal.
        recent = [t.name for t in lab.world.ta_vcenter.tasks[recent_before:]]
        assert recent.count("Add trusted ESXi base image") == 2
        assert "Remove trusted ESXi base image" in recent

    # The workload vCenter: the Trusted cluster's applied configuration, and remediate.
    wl = served.workload_url.split("://")[1]
    with create_vsphere_client(server=wl, username=lab.user, password=lab.password,
                               session=_http()) as client:
        cfg = _stub_config(served.workload_url, client.get_session_id())
        hosts = client.vcenter.Host.list()
        assert {h.name for h in hosts} == {"esx-01", "esx-02"}
        assert all(h.power_state == "POWERED_ON" for h in hosts)
        vms = client.vcenter.VM.list()
        assert [(v.name, v.power_state) for v in vms] == [("db01", "POWERED_ON")]
        sac = ServicesAppliedConfig(cfg)
        health = sac.get_task("domain-c10").get_result()
        assert health.health in ("OK", "ERROR", "NONE")
        remediate = sac.update_task("domain-c10").get_info()
        assert remediate.status == "SUCCEEDED"
        assert sac.get_task("domain-c10").get_result().health == "OK"
        # A TA-only service is not on the workload vCenter.
        with pytest.raises(OperationNotFound):
            TrustAuthorityClusters(cfg).list()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_sdk_errors_are_typed(served_https: Served) -> None:
    served = served_https
    cfg = _stub_config(served.ta_url, "not-a-session")
    with pytest.raises(Unauthenticated):
        TrustAuthorityClusters(cfg).list()
    lab = served.lab
    with create_vsphere_client(server=served.ta_url.split("://")[1], username=lab.user,
                               password=lab.password, session=_http()) as client:
        cfg = _stub_config(served.ta_url, client.get_session_id())
        with pytest.raises(NotFound):
            TrustAuthorityClusters(cfg).get("domain-c999")
        principals = ConsumerPrincipals(cfg).list_task("domain-c8").get_result()
        assert [p.issuer for p in principals] == [lab.vcenter_name("workload")]


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_per_service_applied_config_with_the_official_sdk(served_https: Served) -> None:
    """The SDK's ``trusted_clusters.attestation``/``kms`` ``ServicesAppliedConfig`` and
    ``Services.create_task`` with type SERVICE decode the lab's replies into their types."""
    from com.vmware.vcenter.trusted_infrastructure.trusted_clusters import (
        attestation_client,
        kms_client,
    )
    from com.vmware.vcenter.trusted_infrastructure_client import NetworkAddress

    served = served_https
    lab = served.lab
    wl = served.workload_url.split("://")[1]
    with create_vsphere_client(server=wl, username=lab.user, password=lab.password,
                               session=_http()) as client:
        cfg = _stub_config(served.workload_url, client.get_session_id())
        att = attestation_client.ServicesAppliedConfig(cfg)
        kms = kms_client.ServicesAppliedConfig(cfg)
        where = NetworkAddress(hostname="ta-esx-01", port=443)
        rows = att.list_task("domain-c10").get_result()
        assert [(r.health, r.address.hostname, r.service) for r in rows] == [
            ("OK", "ta-esx-01", "ta-esx-01:attestd")]
        assert kms.delete_task("domain-c10").get_info().status == "SUCCEEDED"
        info = kms.get_task("domain-c10", where).get_result()
        assert isinstance(info, kms_client.ServicesAppliedConfig.Info)
        assert info.health == "ERROR" and info.service == "ta-esx-01:kmxd"
        assert {d.args[0] for d in info.details} == {"esx-01", "esx-02"}
        assert att.get_task("domain-c10", where).get_result().health == "OK"
        errors = kms.list_task("domain-c10", kms_client.ServicesAppliedConfig.FilterSpec(
            health={"ERROR"})).get_result()
        assert [r.address.hostname for r in errors] == ["ta-esx-01"]
        missing = att.get_task("domain-c10", NetworkAddress(hostname="x", port=443))
        assert isinstance(missing.get_info().error, NotFound)
        assert kms.update_task("domain-c10").get_info().status == "SUCCEEDED"
        assert kms.get_task("domain-c10", where).get_result().health == "OK"
        # One service by id (type SERVICE): remove the attestation service, add it back.
        services = attestation_client.Services(cfg)
        assert services.delete_task("domain-c10", "ta-esx-01:attestd").get_info().status \
            == "SUCCEEDED"
        assert services.list("domain-c10") == []
        spec = attestation_client.Services.CreateSpec(
            type=attestation_client.Services.CreateSpec.SourceType.SERVICE,
            service="ta-esx-01:attestd")
        created = services.create_task("domain-c10", spec)
        assert created.get_info().status == "SUCCEEDED"
        assert created.get_result() == "ta-esx-01:attestd"
        assert [s.service for s in services.list("domain-c10")] == ["ta-esx-01:attestd"]
