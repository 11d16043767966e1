"""Loose ends a demanding user trips on (helper brief H5): each test fails on the code
before its fix."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vtalab.cli import main
from vtalab.cli.explain import BUGS
from vtalab.forensics.bundle import MANIFEST, _pack
from vtalab.forensics.explain import explain
from vtalab.scenario.model import load_scenario, load_scenario_text
from vtalab.world.assembly import World
from vtalab.world.registry import Outcome
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)

SCENARIOS = BUGS.parent

# -- 1. explain before the setup ------------------------------------------------------------


@pytest.mark.parametrize("path", [BUGS / "intermediate-images.yaml",
                                  BUGS / "quick-boot-refused-txt.yaml",
                                  SCENARIOS / "setup-from-scratch.yaml"])
def test_explain_at_zero_says_the_lab_is_not_set_up(path: object) -> None:
    x = explain(load_scenario(str(path)), "esx-01", 0)
    text = x.text()
    # T=0 stops before the setup: no "power it on", no fix, the truth instead
    assert "power it on" not in text
    assert not x.fixes
    assert [f["key"] for f in x.not_tried] == ["any"]
    assert "the lab is not set up yet at T+00:00:00" in x.not_tried[0]["why"]
    assert "--at 1s or later" in x.chain["conclusion"]
    assert x.chain["setup"] == {"done": False, "started": False,
                                "why": x.not_tried[0]["why"]}
    assert "base images at T+00:00:00: none" in text
    configured = load_scenario(str(path)).topology.configured
    assert ("the documented setup verbs configure vTA" in text) is configured


def test_explain_cli_at_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "intermediate-images", "--host", "esx-01", "--at", "0",
                 "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert "The lab is not set up yet at T+00:00:00" in out
    assert "power it on" not in out


def test_explain_before_vta_is_set_up_names_what_is_missing() -> None:
    x = explain(load_scenario(str(SCENARIOS / "setup-from-scratch.yaml")), "esx-01", 1)
    assert x.chain["setup"]["done"] is False and x.chain["setup"]["started"] is True
    why = x.not_tried[0]["why"]
    assert "at T+00:00:01 vTA is not set up for esx-01" in why
    assert "Set-TrustedCluster -State Enabled" in why
    assert "Add-TrustedClusterAttestationServiceInfo" in why
    assert not x.fixes  # no re-run could make it attested: none is offered as failing


_OFF = """
name: host-off
seed: 3
topology:
  ta_cluster:
    hosts: [{name: ta-esx-01, release: "8.0 U3"}]
  trusted_clusters:
    - name: Trusted Cluster
      hosts:
        - {name: esx-01, release: "8.0 U3", powered_on: false}
        - {name: esx-02, release: "8.0 U3"}
steps:
  - {at: 10m, do: Get-TrustAuthorityVMHostBaseImage}
"""


def test_explain_of_a_host_left_off_still_says_power_it_on() -> None:
    scenario = load_scenario_text(_OFF, "host-off.yaml")
    early = explain(scenario, "esx-01", 0, fixes=True)
    assert "stays powered off then (the topology says powered_on: false)" in \
        early.not_tried[0]["why"]
    later = explain(scenario, "esx-01", 600)
    assert later.chain["setup"]["done"] is True
    assert later.not_tried == [{"key": "any", "why": "esx-01 is poweredOff; power it on "
                                                     "first (Start-VMHost)"}]



# -- 3. -Server is checked once per cmdlet ---------------------------------------------------

_CHECKED = ["Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster 'vTA Cluster' "
            "-Server vcsa-ta.lab.local",
            "Get-VMHost -Server vcsa-ta.lab.local",
            "Get-VMHost -Server vcsa-ta.lab.local,vcsa-wld.lab.local",  # one run per server
            "Get-VMHost esx-01,esx-02 -Server vcsa-wld.lab.local",
            "Get-VMHost -Server vcsa-wld.lab.local | Get-VMHostService -Server vcsa-wld.lab.local"]


@pytest.mark.parametrize("line", _CHECKED)
def test_server_is_checked_once_per_cmdlet(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The binder checked ``-Server`` for the TA cluster, again for the names, and the
    shell a third time before running; now once per cmdlet invocation (a pipeline of two
    cmdlets: twice). That the output and errors stay the same is the training shell's
    tests' and goldens' job."""
    from vtalab.training import commands, lab
    from vtalab.training.pwsh import binding, servers
    from vtalab.training.session import Session

    calls: list[object] = []

    def counted(command: str, server: object, known: list[str]) -> list[str]:
        calls.append(server)
        return servers.check_servers(command, server, known)

    for module in (binding, commands, lab):  # every module that calls it, by its name
        monkeypatch.setattr(module, "check_servers", counted, raising=False)
    reply = Session.start("failed-ta-host-upgrade").run(line)
    assert reply.ok, reply.text
    assert len(calls) == line.count("-Server"), calls


# -- 4. Restart-VMHost: what vSphere does, and no check that can never refuse ------------------


def _hosts_world() -> World:
    topology = Topology(
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-1", release="8.0 U2")]),
        trusted_clusters=[TrustedClusterSpec(name="TC", hosts=[
            TrustedHostSpec(name="esx-01", release="8.0 U2"),
            TrustedHostSpec(name="esx-02", release="8.0 U2")],
            vms=[VmSpec(name="db", host="esx-01"),
                 VmSpec(name="web", host="esx-01", powered_on=False)])])
    world = World(topology, seed=4)
    world.run(60)
    return world


def _do(world: World, verb: str, **args: object) -> Outcome:
    outcome = world.kernel.env.run(until=world.perform(verb, args))
    assert isinstance(outcome, Outcome)
    return outcome


def _failed_tasks(world: World) -> list[tuple[str, str | None]]:
    return [(t.name, t.reason) for t in world.workload_vcenter.tasks if t.error]


def test_restart_outside_maintenance_needs_force_and_keeps_the_vms() -> None:
    world = _hosts_world()
    refused = _do(world, "Restart-VMHost", vmhost="esx-01")
    assert (refused.ok, refused.error) == (False, "not_in_maintenance")
    assert world.vms["db"].power_state == "poweredOn" and world.hosts["esx-01"].is_up
    assert ("Reboot host", "not_in_maintenance") in _failed_tasks(world)


def test_restart_force_with_vms_running_stops_them_with_the_host() -> None:
    """RebootHost_Task(force=true): "rebooted, even if there are virtual machines running"."""
    world = _hosts_world()
    boots = len(world.hosts["esx-01"].boots)
    assert _do(world, "Restart-VMHost", vmhost="esx-01", force=True).ok
    assert world.vms["db"].power_state == "poweredOff"
    assert len(world.hosts["esx-01"].boots) == boots + 1
    off = [e for e in world.kernel.trace if e.kind == "vm.power" and e.fields.get("vm") == "db"
           and e.fields.get("state") == "poweredOff"]
    assert off and "host reboot" in str(off[-1].fields)


def test_a_host_in_maintenance_mode_runs_no_vm_so_restart_needs_no_force() -> None:
    """vSphere: a host in maintenance mode does not allow a VM to power on, so a host in
    maintenance mode with VMs still powered on cannot exist: entering it moved db away,
    Start-VM of web there is refused (a failed Recent Task), and Restart-VMHost reboots
    it without -Force. (Before, Start-VM powered web on and the restart's check of running
    VMs could never refuse: it sat behind the maintenance-mode test.)"""
    world = _hosts_world()
    assert _do(world, "Set-VMHost", vmhost="esx-01", state="Maintenance").ok
    assert world.vms["db"].host == "esx-02" and world.vms["db"].power_state == "poweredOn"
    refused = _do(world, "Start-VM", vm="web")
    assert (refused.ok, refused.error) == (False, "host_in_maintenance")
    assert "not allowed in the current state of the host" in refused.message
    assert world.vms["web"].power_state == "poweredOff"
    assert ("Power On virtual machine", "host_in_maintenance") in _failed_tasks(world)
    assert _do(world, "Restart-VMHost", vmhost="esx-01").ok
    assert world.vms["db"].power_state == "poweredOn"  # on esx-02, untouched
    assert _do(world, "Set-VMHost", vmhost="esx-01", state="Connected").ok
    assert _do(world, "Start-VM", vm="web").ok  # out of maintenance mode it powers on


@pytest.mark.parametrize("verb", ["reboot-host", "Stop-VMHost", "revert-host"])
def test_lab_verbs_in_maintenance_mode_are_not_refused_for_vms(verb: str) -> None:
    """The other callers of the running-VM check: in maintenance mode nothing runs, so
    they go ahead without force (revert has none)."""
    world = _hosts_world()
    if verb == "revert-host":
        assert _do(world, "upgrade-host", vmhost="esx-02", release="8.0 U3",
                   reboot="full").ok
        host = "esx-02"
    else:
        host = "esx-01"
    assert _do(world, "Set-VMHost", vmhost=host, state="Maintenance").ok
    assert _do(world, verb, vmhost=host).ok


# -- 5. bundle manifests: unknown keys and members are refused, not dropped or carried ------


@pytest.fixture(scope="module")
def bug_bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("bundle") / "BUG.tgz"
    assert main(["bundle", str(BUGS / "remove-original-before-full-reboot.yaml"), "--host",
                 "esx-01", "--at", "90m", "--out", str(out)]) == 0
    return out.read_bytes()


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {i.name: tar.extractfile(i).read()  # type: ignore[union-attr]
                for i in tar}


def _edited(data: bytes, edit: Callable[[dict[str, Any], dict[str, bytes]], None]) -> bytes:
    """``data`` with its manifest and members edited, the hashes made consistent again (an
    edit the hashes alone cannot catch)."""
    members = _members(data)
    manifest = json.loads(members.pop(MANIFEST))
    edit(manifest, members)
    manifest["members"] = {n: hashlib.sha256(d).hexdigest() for n, d in sorted(members.items())}
    members[MANIFEST] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    return _pack(members)


def _inner_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../../etc/cron.d/x")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    return buf.getvalue()


def _typo(m: dict[str, Any], _: dict[str, bytes]) -> None:
    m["sceanrio"] = m.pop("scenario")


def _expect_typo(m: dict[str, Any], _: dict[str, bytes]) -> None:
    m["expect"] = {"attested": ["esx-01"], "recoded": {"esx-01": "attested"}}


def _inner(m: dict[str, Any], members: dict[str, bytes]) -> None:
    members["evidence/esx-01/more.tar"] = _inner_tar()


def _other_host(m: dict[str, Any], members: dict[str, bytes]) -> None:
    members["evidence/esx-02/quote.msg"] = members["evidence/esx-01/quote.msg"]


def _v2_with_expect(m: dict[str, Any], _: dict[str, bytes]) -> None:
    m["format_version"] = 2
    m["expect"] = {"attested": ["esx-01"]}


def _file_list(m: dict[str, Any], _: dict[str, bytes]) -> None:
    m["file"] = ["x.yaml"]


@pytest.mark.parametrize(("edit", "message"), [
    (_typo, "manifest.json has an unknown key 'sceanrio'; the bundle is damaged or was "
            "edited; did you mean 'scenario'?"),
    (_expect_typo, "manifest.json has an unknown key 'expect.recoded'; the bundle is damaged "
                   "or was edited; did you mean 'recorded'?"),
    (_inner, "manifest.json lists member 'evidence/esx-01/more.tar', which is not part of a "
             "bundle of esx-01; the bundle was edited; did you mean "
             "'evidence/esx-01/"),
    (_other_host, "manifest.json lists member 'evidence/esx-02/quote.msg', which is not part"
                  " of a bundle of esx-01; the bundle was edited; did you mean "
                  "'evidence/esx-01/quote.msg'?"),
    (_v2_with_expect, "manifest.json has the key 'expect' of format 3 but says "
                      "format_version 2; the bundle is damaged or was edited\n"),
    (_file_list, "manifest.json has no valid 'file'"),
], ids=["typo", "expect-typo", "inner-tar", "other-host", "v2-expect", "file-list"])
def test_a_bundle_manifest_with_unknown_keys_or_members_is_refused(
        edit: Callable[[dict[str, Any], dict[str, bytes]], None], message: str,
        bug_bundle: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "EDITED.tgz"
    path.write_bytes(_edited(bug_bundle, edit))
    capsys.readouterr()
    code = main(["run", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", err
    assert err.startswith(f"error: {path}: {message}"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["EDITED.tgz"]  # nothing extracted


def test_an_unedited_bundle_still_runs(bug_bundle: bytes, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "BUG.tgz"
    path.write_bytes(_edited(bug_bundle, lambda m, members: None))
    assert main(["run", str(path)]) == 0, capsys.readouterr()


# -- 6. -match's wall-clock timeout is part of the session's record --------------------------

_SLOW = "Get-VMHost | where {'" + "a" * 60 + "!' -match '(a|aa)+$'} | select Name"
_FAST = "Get-VMHost | where {$_.Name -match '^esx-0[12]$'} | select Name"


def _session() -> Any:
    from vtalab.training.session import Session

    return Session.start("failed-ta-host-upgrade")


def _replayed(session: Any, records: list[dict[str, Any]]) -> Any:
    from vtalab.training.session import Session

    return Session.replay(session.exercise, session.seed, records)


def test_a_match_timeout_is_recorded_and_replayed_as_recorded() -> None:
    live = _session()
    reply = live.run(_SLOW)  # times out here (the wall-clock limit)
    assert not reply.ok and "The RegEx engine has timed out" in reply.text
    records = live.records()
    assert records[-1]["match_timeouts"] == [0]
    again = _replayed(live, records)  # reproduced from the record, not re-timed
    assert (again.entries[-1].ok, again.entries[-1].output) == (False, reply.text)
    assert again.records() == records
    assert json.loads(live.to_json())["commands"][-1]["match_timeouts"] == [0]


def test_a_replay_follows_the_record_not_this_machine() -> None:
    """A record made where a match timed out (a slower machine) replays as a timeout
    here, where the same match is fast; a record without timeouts replays as matches."""
    live = _session()
    assert live.run(_FAST).ok
    records = live.records()
    assert "match_timeouts" not in records[-1]
    slower = [*records[:-1], {**records[-1], "match_timeouts": [1]}]
    again = _replayed(live, slower)
    last = again.entries[-1]
    assert not last.ok and "The RegEx engine has timed out" in last.output
    assert last.match_timeouts == (1,)  # the second evaluation, as recorded
    assert _replayed(live, records).entries[-1].ok


def test_a_replay_that_cannot_finish_a_recorded_match_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from vtalab.errors import ReplayError
    from vtalab.training.pwsh import filters

    live = _session()
    assert live.run(_FAST).ok
    records = live.records()
    faster = [*records[:-1], {**records[-1], "line": _SLOW}]  # it finished when recorded
    monkeypatch.setattr(filters, "REPLAY_MATCH_SECONDS", 0.05)
    with pytest.raises(ReplayError, match="its -match evaluation 1 finished when recorded"):
        _replayed(live, faster)


@pytest.mark.parametrize("bad", [[-1], ["0"], [True], 3, [2**31]])
def test_a_saved_session_with_bad_match_timeouts_is_refused(bad: object) -> None:
    from vtalab.errors import InputError
    from vtalab.training.session import Session

    doc = json.loads(_session().to_json())
    doc["commands"] = [{"time": 0, "kind": "command", "line": "Get-VMHost",
                        "match_timeouts": bad}]
    with pytest.raises(InputError, match=r"commands\[0\]"):
        Session.from_document(doc, "saved.json")
