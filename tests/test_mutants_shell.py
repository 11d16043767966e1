"""A second mutation spot check, the training shell's PowerShell: parameter binding and
the pipeline cmdlets, on the side of each rule no test reached. Each test here failed
against a hand-made mutant of vtalab/training/pwsh/{binding,filters}.py that the suite
let pass."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vtalab.training import CommandResult, ShellState, execute
from vtalab.world.assembly import World
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)

Run = Callable[[str], CommandResult]


@pytest.fixture(scope="module")
def run() -> Run:
    """esx-01 and esx-02 on 8.0 U1, esx-10 on 8.0 U2; db01 (encrypted) on esx-01. Only
    reads here: the module shares one world."""
    topology = Topology(
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]),
        trusted_clusters=[TrustedClusterSpec(hosts=[
            TrustedHostSpec(name="esx-01", release="8.0 U1"),
            TrustedHostSpec(name="esx-02", release="8.0 U1"),
            TrustedHostSpec(name="esx-10")],
            vms=[VmSpec(name="db01", host="esx-01", encrypted=True)])])
    world = World(topology, seed=7)
    world.run(60)
    state = ShellState()
    return lambda line: execute(world, line, state)


def _lines(result: CommandResult) -> list[str]:
    assert result.ok, result.error
    return result.text.split("\n") if result.text else []


# -- the pipeline cmdlets (pwsh/filters.py) --------------------------------------------------

def test_a_filter_parameter_without_its_value_is_refused(run: Run) -> None:
    r = run("Get-VMHost | select -First")
    assert not r.ok and r.error == "Select-Object: missing a value for -First"


def test_notcontains_keeps_what_does_not_contain_the_value(run: Run) -> None:
    assert _lines(run("Get-VMHost | where {$_.Name -notcontains 'ESX-01'} | "
                      "select -ExpandProperty Name")) == ["ta-esx-01", "esx-02", "esx-10"]


@pytest.mark.parametrize("line, names", [
    ("Get-VMHost | where {$_.CpuUsageMhz -ge 1274}", ["esx-02", "esx-10"]),
    ("Get-VMHost | where CpuUsageMhz -ge 1274", ["esx-02", "esx-10"]),
    ("Get-VMHost | where {$_.Name -eq 'esx-01' -or $_.Name -eq 'esx-10'}",
     ["esx-01", "esx-10"]),
    ("Get-VMHost | select -Skip 1 -First 2", ["esx-01", "esx-02"]),
    ("Get-VMHost | select -First 2 -Skip 1", ["esx-01", "esx-02"]),
    ("Get-VMHost | select -Last 0", []),
    ("Get-VMHost | select -Last 1", ["esx-10"]),
])
def test_where_and_select_keep_what_powershell_keeps(run: Run, line: str,
                                                     names: list[str]) -> None:
    """(-Skip applies before -First, whatever their order on the line.)"""
    assert _lines(run(line + " | select -ExpandProperty Name")) == names


def test_select_expandproperty_names_a_missing_property(run: Run) -> None:
    r = run("Get-VMHost | select -ExpandProperty Nope")
    assert not r.ok and r.error is not None
    assert r.error.startswith("Select-Object: property 'Nope' cannot be found; did you "
                              "mean 'Name'?")


def test_select_expandproperty_flattens_a_collection(run: Run) -> None:
    """An empty HealthDescription expands to nothing, not to one empty collection."""
    assert _lines(run("Get-TrustAuthorityPrincipal -TrustAuthorityCluster 'vTA Cluster' | "
                      "select -ExpandProperty HealthDescription | measure")) == [
        "Count", "-----", "    0"]


def test_select_unique_drops_repeats(run: Run) -> None:
    assert _lines(run("Get-VMHost | select Version -Unique")) == [
        "Version", "-------", "8.0.2", "8.0.1"]


def test_select_counts_are_whole_numbers_from_zero(run: Run) -> None:
    r = run("Get-VMHost | select -First -1")
    assert not r.ok and r.error == "Select-Object: -First needs a whole number, not '-1'"


def test_select_names_a_column_as_the_object_spells_it(run: Run) -> None:
    assert _lines(run("Get-VMHost | select name -First 1"))[:2] == ["Name", "----"]


@pytest.mark.parametrize("line, lines", [
    ("Get-VMHost | sort Name -Descending | select -ExpandProperty Name",
     ["ta-esx-01", "esx-10", "esx-02", "esx-01"]),
    ("Get-VMHost | select -ExpandProperty Version | sort -Unique", ["8.0.1", "8.0.2"]),
    ("Get-VMHost | sort Version -Descending -Unique | select -ExpandProperty Name",
     ["ta-esx-01", "esx-01"]),
    ("Get-VMHost | ft Name -HideTableHeaders", ["ta-esx-01", "esx-01", "esx-02", "esx-10"]),
    ("Get-VMHost | select Name -First 2 | ConvertTo-Json -Compress",
     ['[{"Name":"ta-esx-01"},{"Name":"esx-01"}]']),
    ("Write-Host a b", ["a b"]),
    ("Write-Host a b -Separator ', '", ["a, b"]),
    ("Get-Date -Format 'yyyy-MM-dd HH:mm:ss'", ["2026-01-05 08:01:00"]),
])
def test_sort_format_and_write_as_powershell_does(run: Run, line: str,
                                                  lines: list[str]) -> None:
    assert _lines(run(line)) == lines


def test_sort_puts_numbers_in_numeric_order() -> None:
    """Event keys 1 to 11 sort 1, 2 ... 10, 11 (not 1, 10, 11, 2 as text would)."""
    topology = Topology(
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]),
        trusted_clusters=[TrustedClusterSpec(hosts=[TrustedHostSpec(name="esx-01"),
                                                    TrustedHostSpec(name="esx-02")])])
    world = World(topology, seed=7)
    world.run(60)
    state = ShellState()
    for line in ("Restart-VMHost -VMHost esx-01,esx-02 -Force -Confirm:$false",
                 "sts-rotation", "kms-outage", "kms-outage", "kms-outage", "kms-outage"):
        assert execute(world, line, state).ok, line
    keys = _lines(execute(world, "Get-VIEvent | sort Key | select -ExpandProperty Key",
                          state))
    assert len(keys) >= 10 and keys == [str(k) for k in range(1, len(keys) + 1)], keys


def test_contains_and_notcontains_test_the_whole_collection(run: Run) -> None:
    assert run("$hosts = Get-VMHost").ok
    for op, value, vms in (("-contains", "esx-01", ["db01"]), ("-notcontains", "esx-01", []),
                           ("-notcontains", "esx-99", ["db01"])):
        line = f"Get-VM | where {{$hosts.Name {op} '{value}'}} | select -ExpandProperty Name"
        assert _lines(run(line)) == vms, line


# -- parameter binding (pwsh/binding.py) ---------------------------------------------------

def test_a_parameter_given_twice_is_refused(run: Run) -> None:
    r = run("Get-VMHost -Name esx-01 -Name esx-02")
    assert not r.ok and r.error == ("Get-VMHost: Cannot bind parameter because parameter "
                                    "'Name' is specified more than once.")


@pytest.mark.parametrize("line, error", [
    ("Export-VMHostImageDb -VMHost esx-01 -FilePath @()",
     "Export-VMHostImageDb: Cannot bind argument to parameter 'FilePath' because it is an "
     "empty array."),
    ("Export-VMHostImageDb -VMHost '' -FilePath x.tgz",
     "Export-VMHostImageDb: Cannot bind argument to parameter 'VMHost' because it is an "
     "empty string."),
    ("Export-VMHostImageDb -VMHost esx-01 -Path x.tgz",
     "Export-VMHostImageDb: A parameter cannot be found that matches parameter name "
     "'Path'."),
    ("Get-VMHost -WhatIf", "Get-VMHost: A parameter cannot be found that matches "
                           "parameter name 'WhatIf'."),
    ("Get-VMHost -RunAsync", "Get-VMHost: A parameter cannot be found that matches "
                             "parameter name 'RunAsync'."),
    ("Get-TrustAuthorityCluster -Name ''", "unknown Trust Authority cluster ''"),
])
def test_binding_refuses_what_powershell_refuses(run: Run, line: str, error: str) -> None:
    r = run(line)
    assert not r.ok and r.error is not None and r.error.startswith(error), r.error


@pytest.mark.parametrize("line, names", [
    ("Get-VMHost -Name nomatch*", []),
    ("Get-VMHost -Name ESX-01", ["esx-01"]),
])
def test_inventory_names_match_as_powercli_matches_them(run: Run, line: str,
                                                        names: list[str]) -> None:
    assert _lines(run(line + " | select -ExpandProperty Name")) == names


def test_a_set_value_matches_in_any_case(run: Run) -> None:
    r = run("Set-TrustAuthorityCluster -TrustAuthorityCluster 'vTA Cluster' -State ENABLED "
            "-WhatIf")
    assert r.ok and r.text == ('What if: Performing the operation "Set-TrustAuthorityCluster" '
                               'on target "vTA Cluster".')


def test_two_parameters_with_several_values_are_refused(run: Run) -> None:
    r = run("Export-VMHostImageDb -VMHost esx-01,esx-02 -FilePath a.tgz,b.tgz")
    assert not r.ok and r.error == ("Export-VMHostImageDb: only one parameter may take "
                                    "several values, not -VMHost and -FilePath")


def test_the_prompt_takes_every_value_of_an_array_parameter() -> None:
    """Two answers to TrustAuthorityCluster[0] and [1], then an empty one: the cmdlet
    runs for both values, as PowerShell binds the array."""
    topology = Topology(ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]),
                        trusted_clusters=[TrustedClusterSpec(hosts=[
                            TrustedHostSpec(name="esx-01", release="8.0 U1")])])
    world = World(topology, seed=7)
    world.run(60)
    answers = iter(["vTA Cluster", "vta", ""])
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text.rsplit("\n", 1)[-1])
        return next(answers)

    state = ShellState()
    state.prompt = prompt
    lines = _lines(execute(world, "Get-TrustAuthorityVMHostBaseImage", state))
    assert asked == ["TrustAuthorityCluster[0]: ", "TrustAuthorityCluster[1]: ",
                     "TrustAuthorityCluster[2]: "]
    assert [x.split()[0] for x in lines[2:]] == ["8.0.1-21495797", "8.0.1-21495797"]


@pytest.mark.parametrize("given, shown", [("10m", "600"), ("90", "90"), ("1h30m", "5400")])
def test_a_duration_is_seconds_or_written_with_units(given: str, shown: str) -> None:
    topology = Topology(ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]),
                        trusted_clusters=[TrustedClusterSpec(hosts=[
                            TrustedHostSpec(name="esx-01")])])
    world = World(topology, seed=7)
    world.run(60)
    r = execute(world, f"kms-outage -Duration {given}", ShellState())
    assert r.ok and r.text == f"kms-outage (heals after {shown} s)", (r.text, r.error)


@pytest.mark.parametrize("given, seconds", [("10m", 600.0), ("-90", -90.0), ("1h30m", 5400.0)])
def test_seconds_are_a_number_or_written_with_units(given: str, seconds: float) -> None:
    """clock-skew's -Seconds is a number (its kind is seconds): `10m` is 600."""
    topology = Topology(ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]),
                        trusted_clusters=[TrustedClusterSpec(hosts=[
                            TrustedHostSpec(name="esx-01")])])
    world = World(topology, seed=7)
    world.run(60)
    r = execute(world, f"clock-skew -VMHost esx-01 -Seconds {given}", ShellState())
    assert r.ok and r.calls == (("clock-skew", {"vmhost": "esx-01", "seconds": seconds}),), \
        (r.calls, r.error)
