"""Bad requests about hosts: each is an ``InputError`` (or ``OperationError``) that names
the bad value and the valid choices, raised *before* anything changes.

"Unchanged" is checked three ways: the trace (length and digest) is identical, no file
appeared in ``world.files``, and running on afterwards gives exactly the trace of a twin
world that never saw the bad request (no half-started process was left behind).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vtalab.core.kernel import Kernel
from vtalab.core.parameters import Parameters
from vtalab.errors import InputError, OperationError
from vtalab.esxi.host import EsxiHost, PowerState
from vtalab.esxi.releases import image_for
from vtalab.world.assembly import World
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
)

TOPOLOGY = Topology(
    ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01")]),
    trusted_clusters=[TrustedClusterSpec(
        name="Trusted", quick_boot=True,
        hosts=[TrustedHostSpec(name="esx-01"),
               TrustedHostSpec(name="esx-02", txt=True),
               TrustedHostSpec(name="esx-03", powered_on=False)])])
ALL_HOSTS = ["ta-esx-01", "esx-01", "esx-02", "esx-03"]
UP_HOSTS = ["ta-esx-01", "esx-01", "esx-02"]


def make_world() -> World:
    w = World(TOPOLOGY, seed=3)
    w.run(600)
    return w


@pytest.fixture
def world() -> World:
    return make_world()


def refused(world: World, action: Callable[[], Any],
            error: type[InputError] = InputError) -> InputError:
    """Run ``action``; it must raise ``error`` and leave ``world`` exactly as it was."""
    length, digest = len(world.kernel.trace), world.kernel.trace.digest()
    files = dict(world.files)
    now = world.kernel.now
    with pytest.raises(error) as info:
        action()
    assert len(world.kernel.trace) == length
    assert world.kernel.trace.digest() == digest
    assert world.files == files
    assert world.kernel.now == now
    # Nothing was left scheduled: the world runs on exactly like one never asked.
    twin = make_world()
    assert twin.kernel.trace.digest() == digest
    world.run(now + 7200)
    twin.run(now + 7200)
    assert world.kernel.trace.digest() == twin.kernel.trace.digest()
    assert world.files == twin.files
    return info.value


# -- unknown host -------------------------------------------------------------------------
def test_unknown_host_names_value_and_valid_hosts(world: World) -> None:
    err = refused(world, lambda: world.host("esx-99"))
    assert not isinstance(err, OperationError)  # bad input, not a bad state
    assert "'esx-99'" in str(err)
    assert err.value == "esx-99" and err.what == "host"
    assert err.choices == ALL_HOSTS
    for name in ALL_HOSTS:
        assert name in str(err)
    assert err.suggestion in ALL_HOSTS
    assert f"did you mean {err.suggestion!r}?" in str(err)


def test_unknown_host_in_a_verb(world: World) -> None:
    err = refused(world, lambda: world.perform("reboot-host", {"vmhost": "esx-1"}))
    assert "'esx-1'" in str(err) and err.suggestion == "esx-01"


# -- unknown release --------------------------------------------------------------------------
def test_unknown_release_suggests_nearest() -> None:
    with pytest.raises(InputError) as info:
        image_for("8.0 U9")
    err = info.value
    assert "'8.0 U9'" in str(err)
    assert err.value == "8.0 U9"
    assert err.choices and err.suggestion in err.choices
    assert "8.0 U3" in str(err)  # the nearest known releases are named
    assert "did you mean" in str(err)


def test_upgrade_to_unknown_release(world: World) -> None:
    h = world.host("esx-01")
    version = h.version
    err = refused(world, lambda: world.perform(
        "upgrade-host", {"vmhost": "esx-01", "release": "8.0 U9"}))
    assert "'8.0 U9'" in str(err) and "8.0 U3" in str(err)
    assert h.version == version and not h.staged and not h.in_maintenance


# -- Quick Boot on a TXT host -------------------------------------------------------------------
def test_quick_boot_refused_on_txt_host_directly() -> None:
    kernel = Kernel(1)
    h = EsxiHost(kernel, Parameters(), "esx-txt", image_for("8.0 U2"), role="trusted",
                 txt=True)
    h.quick_boot_enabled = True
    h.start_running()
    length, digest = len(kernel.trace), kernel.trace.digest()
    with pytest.raises(OperationError) as info:
        h.reboot("quick")
    err = info.value
    assert "'esx-txt'" in str(err) and "TXT" in str(err) and "KB 425234" in str(err)
    assert err.value == "quick" and err.choices == ["full"]
    assert not h.busy and h.power_state is PowerState.POWERED_ON
    assert (len(kernel.trace), kernel.trace.digest()) == (length, digest)
    h.reboot("full")  # a full reboot is what works
    kernel.run()
    assert h.is_up and h.boots[-1].mode == "full"


def _refused_value(world: World, verb: str, args: dict[str, Any]) -> Any:
    """A refusal of the simulated world: an Outcome with a reason code, world unchanged."""
    length, digest = len(world.kernel.trace), world.kernel.trace.digest()
    outcome = world.kernel.env.run(until=world.perform(verb, args))
    assert len(world.kernel.trace) == length and world.kernel.trace.digest() == digest
    return outcome


def test_quick_boot_refused_on_txt_host_via_verb(world: World) -> None:
    h = world.host("esx-02")
    boots = len(h.boots)
    out = _refused_value(world, "reboot-host", {"vmhost": "esx-02", "mode": "quick"})
    assert (out.ok, out.error) == (False, "quick_boot_not_supported")
    assert "'esx-02'" in out.message and "TXT" in out.message
    assert len(h.boots) == boots and h.is_up


def test_quick_boot_upgrade_refused_on_txt_host(world: World) -> None:
    out = _refused_value(world, "upgrade-host", {"vmhost": "esx-02", "release": "8.0 U3",
                                                 "reboot": "quick"})
    assert (out.ok, out.error) == (False, "quick_boot_not_supported")
    assert "'esx-02'" in out.message and "TXT" in out.message


# -- export from a powered-off host ---------------------------------------------------------------
@pytest.mark.parametrize("how", ["perform", "call"])
def test_export_from_powered_off_host(world: World, how: str) -> None:
    assert world.host("esx-03").power_state is PowerState.POWERED_OFF
    args = {"vmhost": "esx-03", "file": "esx-03.tgz"}
    if how == "perform":
        err = refused(world, lambda: world.perform("Export-VMHostImageDb", args),
                      OperationError)
    else:
        err = refused(world, lambda: world.call("Export-VMHostImageDb", **args),
                      OperationError)
    assert "'esx-03'" in str(err) and "poweredOff" in str(err)
    assert err.choices == UP_HOSTS  # where an export would work
    for name in UP_HOSTS:
        assert name in str(err)
    assert "esx-03.tgz" not in world.files


@pytest.mark.parametrize("verb", ["New-TrustAuthorityTpm2CACertificate",
                                  "New-TrustAuthorityTpm2EndorsementKey", "restore-ta-config",
                                  "Import-TrustAuthorityServicesInfo"])
def test_a_file_of_the_wrong_kind_is_bad_input(verb: str) -> None:
    from vtalab import TrustedClusterSpec, TrustedHostSpec, World
    from vtalab.world.topology import Topology

    world = World(Topology(trusted_clusters=[TrustedClusterSpec(
        hosts=[TrustedHostSpec(name="esx-01")])]), seed=3)
    world.run(1)
    wrong = "principal.json" if verb == "Import-TrustAuthorityServicesInfo" else "services.json"
    digest = world.kernel.trace.digest()
    with pytest.raises(InputError, match=repr(wrong)):
        world.call(verb, file=wrong)
    assert world.kernel.trace.digest() == digest
