"""The public Hypothesis strategies and the pytest plugin, as a user's test suite uses them."""

from __future__ import annotations

import json
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtalab.analysis.pytest_plugin import Lab, assert_plan_safe
from vtalab.analysis.strategies import FAULT_KINDS, fault_schedules, plans, topologies
from vtalab.errors import ScenarioError
from vtalab.invariants import LIVENESS_SETTLE_SECONDS
from vtalab.scenario.model import load_scenario_text
from vtalab.scenario.run import run_scenario
from vtalab.world.registry import FAULTS, lookup
from vtalab.world.topology import Topology

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
FAST = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def as_scenario(topology: Topology, steps: list[dict], faults: list[dict]) -> str:
    doc = {"name": "generated", "topology": topology.model_dump(mode="json"),
           "steps": steps + [{"at": f["at"], "do": f["do"], "with": f["with"]}
                             for f in faults]}
    return json.dumps(doc)


@FAST
@given(st.data())
def test_generated_plans_and_faults_are_valid_for_their_topology(data):
    topology = data.draw(topologies(max_trusted=4))
    steps = data.draw(plans(topology))
    faults = data.draw(fault_schedules(topology, horizon=7200))
    n = len(topology.trusted_clusters[0].hosts)
    assert 1 <= n <= 4 and 1 <= len(topology.ta_cluster.hosts) <= 3
    assert [f["at"] for f in faults] == sorted(f["at"] for f in faults)
    assert all(0 <= f["at"] <= 7200 and f["do"] in FAULT_KINDS for f in faults)
    for step in steps:
        lookup(step["do"]).parse(step["with"])  # every step validates against its verb
    # ... and the scenario loader accepts them (host and VM names, arguments).
    load_scenario_text(as_scenario(topology, steps, []))
    load_scenario_text(as_scenario(topology, [], faults))


@FAST
@given(st.data())
def test_safe_plans_follow_the_documented_procedure(data):
    topology = data.draw(topologies(max_trusted=3, max_ta=2))
    steps = data.draw(plans(topology, unsafe=False))
    verbs = [s["do"] for s in steps]
    assert verbs[-1] == "Remove-TrustAuthorityVMHostBaseImage"
    imported = verbs.index("New-TrustAuthorityVMHostBaseImage")
    assert verbs.index("Export-VMHostImageDb") < imported
    upgrades = [(i, s["with"]["vmhost"]) for i, s in enumerate(steps)
                if s["do"] == "upgrade-host"]
    ta = [u for u in upgrades if u[1].startswith("ta-")]
    assert upgrades[:len(ta)] == ta  # TA hosts first, then the test host, then the import
    assert all(i > imported for i, _ in upgrades[len(ta) + 1:])
    result = Lab(topology, seed=1).run_plan(steps)
    # Carried out (every step succeeded), the documented procedure never removes an image
    # a host still measures. (A step can be refused: one host cannot be evacuated.)
    if all(s.ok for s in result.run.steps):
        assert "no-base-image-removed-while-reported" not in [
            v.invariant for v in result.violations]


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_strategies_refuse_impossible_requests():
    with pytest.raises(ValueError, match="min_trusted"):
        topologies(min_trusted=3, max_trusted=2).example()
    topology = Topology.model_validate(
        {"trusted_clusters": [{"hosts": [{"name": "esx-01", "release": "8.0 U3b"}]}]})
    with pytest.raises(ValueError, match="newer than 8.0 U3b"):
        plans(topology).example()
    with pytest.raises(ValueError, match="cannot generate 'nope'"):
        fault_schedules(topology, 60, max_faults=1, kinds=("nope",)).filter(bool).example()


QUICK_BOOT = {"trusted_clusters": [{"quick_boot": True,
                                    "hosts": [{"name": "esx-01", "release": "8.0 U1"},
                                              {"name": "esx-02", "release": "8.0 U1"}],
                                    "vms": [{"name": "db01", "host": "esx-01",
                                             "encrypted": True}]}]}
TRAP_PLAN = [
    {"do": "upgrade-host", "with": {"vmhost": "esx-01", "release": "8.0 U2"}},
    {"do": "Export-VMHostImageDb", "with": {"vmhost": "esx-01", "file": "u2.tgz"}},
    {"do": "New-TrustAuthorityVMHostBaseImage", "with": {"file": "u2.tgz"}},
    {"do": "upgrade-host", "with": {"vmhost": "esx-02", "release": "8.0 U2"}},
    {"do": "Remove-TrustAuthorityVMHostBaseImage", "with": {"version": "8.0 U1"}},
]


def test_lab_runs_a_plan_with_faults_long_enough_and_judges_it():
    lab = Lab(Topology.model_validate(QUICK_BOOT), seed=4)
    faults = [{"at": 7200, "do": "network-partition",
               "with": {"vmhost": "esx-02", "duration": 600}}]
    result = lab.run_plan(TRAP_PLAN, faults)
    assert result.run.end >= 7200 + 600 + LIVENESS_SETTLE_SECONDS
    assert any(e.kind == "fault.healed" for e in result.world.kernel.trace)
    found = {v.invariant for v in result.violations}
    assert "no-base-image-removed-while-reported" in found
    assert "liveness-reattested" in found  # both hosts stay notAttested
    assert {w.invariant for w in result.warnings} <= {"documented-upgrade-order"}
    with pytest.raises(AssertionError, match=r"\[no-base-image-removed-while-reported\]"):
        result.assert_safe()
    assert "4. Remove-TrustAuthorityVMHostBaseImage version='8.0 U1'" in result.report()
    assert "network-partition" in result.timeline()


def test_assert_plan_safe_passes_the_careful_plan_and_rejects_bad_input():
    careful = [*TRAP_PLAN[:4],
               {"do": "set-quick-boot", "with": {"enabled": False}},
               {"do": "Set-VMHost", "with": {"vmhost": "esx-01", "state": "Maintenance"}},
               {"do": "Restart-VMHost", "with": {"vmhost": "esx-01"}},
               {"do": "Set-VMHost", "with": {"vmhost": "esx-01", "state": "Connected"}},
               {"do": "Set-VMHost", "with": {"vmhost": "esx-02", "state": "Maintenance"}},
               {"do": "Restart-VMHost", "with": {"vmhost": "esx-02"}},
               {"do": "Set-VMHost", "with": {"vmhost": "esx-02", "state": "Connected"}},
               TRAP_PLAN[4]]
    result = assert_plan_safe(Topology.model_validate(QUICK_BOOT), careful, seed=4)
    assert result.ok and result.violations == []
    with pytest.raises(ScenarioError, match="did you mean 'esx-01'"):
        Lab(Topology.model_validate(QUICK_BOOT)).run_plan(
            [{"do": "Restart-VMHost", "with": {"vmhost": "esx-1"}}])
    with pytest.raises(ScenarioError, match="<faults>"):
        Lab(Topology.model_validate(QUICK_BOOT)).run_plan(
            [], [{"at": 10, "do": "kms-outage", "with": {"duration": -1}}])


def test_lab_from_a_scenario_file_keeps_its_parameters():
    lab = Lab.from_source(ROOT / "scenarios" / "quick-boot-upgrade.yaml", seed=2)
    assert lab.seed == 2 and lab.topology.trusted_clusters[0].quick_boot
    with pytest.raises(TypeError, match="Topology or a scenario file path"):
        Lab.from_source(42)  # type: ignore[arg-type]


def test_entry_point_is_declared():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points.pytest11]\nvtalab = "vtalab.analysis.pytest_plugin"' in text


USER_TEST = '''
    """A team's own runbook tests, as docs/testing-your-runbooks.md shows them."""
    from hypothesis import given, settings, strategies as st

    from vtalab.analysis.strategies import fault_schedules, plans, topologies

    def test_fixture_runs_a_plan(vtalab_lab):
        lab = vtalab_lab(TOPOLOGY, seed=1)
        result = lab.run_plan([{"do": "Stop-VM", "with": {"vm": "vm-01"}}])
        assert result.ok, result.report()

    def test_unsafe_plan_is_reported(vtalab_lab):
        result = vtalab_lab(TOPOLOGY).run_plan(
            [{"do": "Restart-VMHost", "with": {"vmhost": "esx-01", "force": True},
              "after": 60}])
        result.assert_safe()  # fails: the encrypted VM stops

    @settings(max_examples=3, deadline=None, derandomize=True, database=None)
    @given(data=st.data())
    def test_generated_runbooks(vtalab_lab, data):
        topology = data.draw(topologies(max_trusted=2, max_ta=1))
        steps = data.draw(plans(topology, unsafe=False))
        faults = data.draw(fault_schedules(topology, horizon=3600, max_faults=1))
        result = vtalab_lab(topology).run_plan(steps, faults)
        assert isinstance(result.violations, list)
'''


def test_plugin_fixture_in_a_users_test_suite(pytester):
    topology = Topology.model_validate(
        {"trusted_clusters": [{"hosts": [{"name": "esx-01"}, {"name": "esx-02"}],
                               "vms": [{"name": "vm-01", "host": "esx-01",
                                        "encrypted": True}]}]})
    pytester.makepyfile(
        test_runbook="from vtalab import Topology\nTOPOLOGY = Topology.model_validate_json("
                     f"{topology.model_dump_json()!r})\n" + textwrap.dedent(USER_TEST))
    installed = any(e.name == "vtalab" for e in entry_points(group="pytest11"))
    args = ["-p", "no:cacheprovider", "-W", "error"] + (
        [] if installed else ["-p", "vtalab.analysis.pytest_plugin"])
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*the plan is not safe*",
                                 "*[[]running-encrypted-vm-keeps-running[]]*vm-01*"])


def test_the_worked_example_in_the_docs_runs_as_shown(pytester):
    text = (ROOT / "docs" / "testing-your-runbooks.md").read_text(encoding="utf-8")
    yaml_block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    python_block = text.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makefile(".yaml", estate=yaml_block)
    pytester.makepyfile(test_runbook=python_block)
    installed = any(e.name == "vtalab" for e in entry_points(group="pytest11"))
    args = ["-p", "no:cacheprovider", "-W", "error"] + (
        [] if installed else ["-p", "vtalab.analysis.pytest_plugin"])
    for seed in ("1", "2"):
        result = pytester.runpytest_subprocess(*args, "--hypothesis-seed", seed)
        result.assert_outcomes(passed=4)



@pytest.mark.parametrize("kind", sorted(FAULTS))
@settings(max_examples=3, deadline=None, derandomize=True, database=None)
@given(st.data())
def test_every_registry_fault_can_be_drawn_and_run(kind: str, data: st.DataObject) -> None:
    """One definition, many uses: each fault of the registry is one fault_schedules can
    draw (``kinds=``), and a world runs it (kms-certificate-expired raised AttributeError
    and the KMS faults could not be drawn at all: no test ever ran them)."""
    topology = Topology.model_validate(
        {"kms": {"servers": ["kms-01.lab.local", "kms-02.lab.local"]},
         "trusted_clusters": [{"hosts": [{"name": "esx-01"}, {"name": "esx-02"}],
                               "vms": [{"name": "db01", "host": "esx-01",
                                        "encrypted": True}]}]})
    faults = data.draw(fault_schedules(topology, horizon=600, max_faults=1, kinds=(kind,))
                       .filter(bool))
    assert [f["do"] for f in faults] == [kind]
    scenario = load_scenario_text(as_scenario(topology, [], faults))
    result = run_scenario(scenario, seed=1, until=3600)
    assert [s.ok for s in result.steps] == [True], result.steps
