"""PowerCLI objects of a large estate: values a real host could show, and ids in order.

Was: a host's CpuUsageMhz and MemoryUsageGB grew with its place in the inventory (1,200 +
37 MHz and 24.5 + 1 GB per host before it), so from the 488th host on Get-VMHost showed a
host using more memory than it has (524.5 of 511.7 GB at the 500th), and every listing
looked each host's place up with ``list(...).index`` (quadratic in the hosts).
"""

from __future__ import annotations

import pytest

from vtalab.world.assembly import World
from vtalab.world.registry import lookup
from vtalab.world.topology import Topology


@pytest.fixture(scope="module")
def world() -> World:
    n = 520  # the 488th host on showed more memory used than it has
    topology = Topology.model_validate({"trusted_clusters": [{
        "hosts": [{"name": f"esx-{i:03d}"} for i in range(1, n + 1)],
        "vms": [{"name": f"vm-{i:03d}", "host": f"esx-{i:03d}"} for i in range(1, n + 1)]}]})
    w = World(topology, seed=1, crypto="simulated")
    w.run(1)
    return w


def _rows(world: World, verb: str) -> list[dict]:
    entry = lookup(verb)
    return list(entry.run(world, entry.parse({})).output)


def test_no_host_shows_more_load_than_it_has(world: World) -> None:
    rows = _rows(world, "Get-VMHost")
    assert len(rows) == len(world.hosts)
    for row in rows:
        assert 0 < row["CpuUsageMhz"] <= row["CpuTotalMhz"], row["Name"]
        assert 0 < row["MemoryUsageGB"] <= row["MemoryTotalGB"], row["Name"]
    # the first hosts keep the figures every transcript shows (esx-01: 1,237 MHz, 25.5 GB)
    first = {r["Name"]: (r["CpuUsageMhz"], r["MemoryUsageGB"]) for r in rows[:3]}
    assert list(first.values()) == [(1200, 24.5), (1237, 25.5), (1274, 26.5)]


def test_ids_count_in_inventory_order(world: World) -> None:
    hosts = _rows(world, "Get-VMHost")
    assert [r["Id"] for r in hosts] == [f"HostSystem-host-{1001 + i}"
                                        for i in range(len(world.hosts))]
    assert world.ordinal("vm", "vm-100") == 99
    assert world.ordinal("host", "esx-500") == 500  # the TA host comes first
