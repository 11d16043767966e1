"""Loose ends a demanding user trips on (helper brief H5): each test fails on the code
before its fix."""

from __future__ import annotations

import pytest

from vtalab.cli import main
from vtalab.cli.explain import BUGS
from vtalab.forensics.explain import explain
from vtalab.scenario.model import load_scenario, load_scenario_text

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
