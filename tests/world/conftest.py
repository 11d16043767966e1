"""Fixtures for the world tests: small topologies and helpers to drive a world.

Helpers are exposed as fixtures (``do``, ``status`` ...) so test modules never import
this conftest. Topologies are kept tiny (one or two TA hosts, one to three trusted hosts)
so the whole ``tests/world`` run stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vtalab.world.assembly import World
from vtalab.world.registry import Outcome
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TpmSpec,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)

WLD_VC = "vcsa-wld.lab.local"
TA_VC = "vcsa-ta.lab.local"


def build_topology(*, ta_hosts: tuple[str, ...] = ("ta-01",), ta_release: str = "8.0 U2",
                   hosts: tuple[TrustedHostSpec, ...] | None = None,
                   vms: tuple[VmSpec, ...] = (), quick_boot: bool = False,
                   key_persistence: bool = False, configured: bool = True,
                   base_images: list[str] | None = None) -> Topology:
    hosts = hosts if hosts is not None else (TrustedHostSpec(name="esx-01"),)
    return Topology(
        configured=configured,
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name=n, release=ta_release)
                                        for n in ta_hosts], base_images=base_images),
        trusted_clusters=[TrustedClusterSpec(quick_boot=quick_boot,
                                             key_persistence=key_persistence,
                                             hosts=list(hosts), vms=list(vms))])


@pytest.fixture
def make_world() -> Callable[..., World]:
    """``make_world(seed=..., settle=..., **build_topology kwargs)``: a world run to ``settle``."""

    def make(*, seed: int = 3, settle: float = 60.0, **kw: Any) -> World:
        world = World(build_topology(**kw), seed=seed)
        world.run(settle)
        return world

    return make


def _do(world: World, verb: str, **args: Any) -> Outcome:
    """Perform ``verb`` and run the world until it finishes; return its outcome."""
    proc = world.perform(verb, args)
    outcome = world.kernel.env.run(until=proc)
    assert isinstance(outcome, Outcome), outcome
    return outcome


@pytest.fixture
def do() -> Callable[..., Outcome]:
    return _do


def _settle(world: World, seconds: float = 1.0) -> None:
    world.run(world.kernel.now + seconds)


@pytest.fixture
def settle() -> Callable[..., None]:
    return _settle


def _status(world: World, host: str) -> tuple[str, str | None]:
    s = world.attestation_status(host)
    return s["status"], s["reason"]


@pytest.fixture
def status() -> Callable[[World, str], tuple[str, str | None]]:
    return _status


def _event_ids(world: World, target: str | None = None, since: float = -1.0) -> list[str]:
    return [e["event_id"] for e in world.events()
            if (target is None or e["target"] == target) and e["time"] >= since]


@pytest.fixture
def event_ids() -> Callable[..., list[str]]:
    return _event_ids


def _failed_tasks(world: World, target: str | None = None) -> list[dict[str, Any]]:
    return [t for t in world.tasks()
            if t["status"] == "error" and (target is None or t["target"] == target)]


@pytest.fixture
def failed_tasks() -> Callable[..., list[dict[str, Any]]]:
    return _failed_tasks


__all__ = ["TA_VC", "WLD_VC", "TpmSpec", "TrustedHostSpec", "VmSpec", "build_topology"]
