"""Base-image files on the Trust Authority side: damaged imports, duplicates, removal, listing.

``New-TrustAuthorityVMHostBaseImage`` reads a ``boot_imgdb.tgz`` (put straight into
``world.files``, as an operator's upload would be). A damaged file is a refusal by the
simulated world — ``Outcome(ok=False, error="invalid_argument")`` and a failed Recent
Tasks entry — and must leave every TA host's base images as they were. Importing a version
that exists is ``already_exists``; removing a version that does not exist is bad input
(``InputError`` listing the versions that do). ``Get-TrustAuthorityVMHostBaseImage``
shows version, display name, health and the last time a host attested with the image.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable

import pytest

from vtalab.domain.base_image import export_imagedb
from vtalab.errors import InputError
from vtalab.esxi.releases import image_for
from vtalab.world.assembly import World
from vtalab.world.topology import TrustedHostSpec

TA_HOSTS = ("ta-01", "ta-02")
MEMBER = "imgdb/base-image.json"  # the one member a boot_imgdb.tgz holds


def _targz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _doc(release: str = "8.0 U3") -> dict:
    with tarfile.open(fileobj=io.BytesIO(export_imagedb(image_for(release), mtime=0)),
                      mode="r:gz") as tar:
        member = tar.extractfile(MEMBER)
        assert member is not None
        return json.loads(member.read())


def _with(**changes: object) -> bytes:
    doc = _doc() | changes
    return _targz({MEMBER: json.dumps(doc).encode()})


def _short_digest() -> bytes:
    doc = _doc()
    doc["modules"][0]["sha256"] = doc["modules"][0]["sha256"][:-2]  # 31 bytes
    return _targz({MEMBER: json.dumps(doc).encode()})


GOOD = export_imagedb(image_for("8.0 U3"), mtime=0)
DAMAGED: dict[str, Callable[[], bytes]] = {
    "truncated": lambda: GOOD[: len(GOOD) // 2],
    "random-bytes": lambda: bytes(range(256)) * 3,
    "empty": lambda: b"",
    "gzip-not-tar": lambda: gzip.compress(b"not a tar archive\n" * 40, mtime=0),
    "tar-without-member": lambda: _targz({"imgdb/other.json": b"{}"}),
    "member-not-json": lambda: _targz({MEMBER: b"version: 8.0.3\n"}),
    "bad-digest-length": _short_digest,
    "unknown-format": lambda: _with(format="vtalab.boot_imgdb/2"),
    "missing-field": lambda: _with(modules=None),
}


def _stores(world: World) -> dict[str, list[str]]:
    return {h.name: h.config.base_images.versions() for h in world.ta_cluster.hosts.values()}


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world(ta_hosts=TA_HOSTS, settle=120,
                      hosts=(TrustedHostSpec(name="esx-01", release="8.0 U2"),))


def test_a_good_export_is_accepted_so_the_damaged_cases_mean_something(world, do):
    world.files["good.tgz"] = GOOD
    outcome = do(world, "New-TrustAuthorityVMHostBaseImage", file="good.tgz")
    assert outcome.ok, outcome
    assert all(image_for("8.0 U3").key in v for v in _stores(world).values())


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_damaged_boot_imgdb_is_invalid_argument_and_changes_nothing(world, do, failed_tasks,
                                                                    damage):
    name = f"{damage}.tgz"
    world.files[name] = DAMAGED[damage]()
    before = _stores(world)
    assert all(before.values()), before  # setup imported the running image on every TA host
    tasks_before = len(failed_tasks(world))

    outcome = do(world, "New-TrustAuthorityVMHostBaseImage", file=name)

    assert (outcome.ok, outcome.error) == (False, "invalid_argument"), outcome
    assert name in outcome.message
    assert _stores(world) == before
    errors = failed_tasks(world)
    assert len(errors) == tasks_before + 1
    task = errors[-1]
    assert (task["task"], task["target"], task["reason"]) == (
        "Add trusted ESXi base image", name, "invalid_argument")
    assert task["error"].startswith("invalid_argument: ")
    assert world.health()["ta_cluster/base_images"] == "OK"


def test_importing_the_same_image_twice_is_already_exists(world, do, failed_tasks):
    do(world, "Export-VMHostImageDb", vmhost="esx-01", file="esx-01.tgz")
    version = world.host("esx-01").version
    first = do(world, "New-TrustAuthorityVMHostBaseImage", file="esx-01.tgz")
    # setup already imported the running image: the export is a duplicate at once
    assert (first.ok, first.error) == (False, "already_exists")
    world.files["u3.tgz"] = GOOD
    assert do(world, "New-TrustAuthorityVMHostBaseImage", file="u3.tgz").ok
    before = _stores(world)
    again = do(world, "New-TrustAuthorityVMHostBaseImage", file="u3.tgz")
    assert (again.ok, again.error) == (False, "already_exists")
    assert _stores(world) == before
    assert [t["reason"] for t in failed_tasks(world)] == ["already_exists"] * 2
    assert [t["target"] for t in failed_tasks(world)] == [version, image_for("8.0 U3").key]


def test_removing_an_unknown_version_is_input_error_listing_present_versions(world):
    present = sorted(_stores(world)["ta-01"])
    before = _stores(world)
    trace_len = len(world.kernel.trace.events)
    with pytest.raises(InputError) as info:
        world.perform("Remove-TrustAuthorityVMHostBaseImage", {"version": "8.0 U3"})
    err = info.value
    assert err.value == "8.0 U3" and sorted(err.choices) == present
    assert all(v in str(err) for v in present)
    with pytest.raises(InputError, match="no trusted base image"):
        world.perform("Remove-TrustAuthorityVMHostBaseImage", {"version": "9.9.9-1"})
    assert _stores(world) == before
    assert len(world.kernel.trace.events) == trace_len  # nothing happened


def test_listing_shows_version_name_health_and_last_attested_time_that_moves(world, do,
                                                                            settle):
    """Get-TrustAuthorityVMHostBaseImage lists VMHostVersion, Name and Health (PowerCLI's
    object has no last-attested time); the base-images API has it (API 8.0.1 and later)."""
    from vtalab.world.verbs.ta import rest_time

    def last(version: str) -> str | None:
        out = do(world, "Invoke-GetClusterVersionBaseImages", version=version).output
        return out[0]["last_attested_time"]

    u2, u3 = image_for("8.0 U2"), image_for("8.0 U3")
    rows = do(world, "Get-TrustAuthorityVMHostBaseImage").output
    assert [(r["VMHostVersion"], r["Name"], r["Health"]) for r in rows] == [
        (u2.key, u2.display_name, "Ok")]
    assert "LastAttestedTime" not in rows[0]
    attested = world.kernel.trace.select("attest.result", host="esx-01", status="attested")
    assert attested
    assert last(u2.key) == rest_time(world, attested[-1].time)

    # Upgrade esx-01 (full boot) before its image is trusted: it fails, U3 is not listed.
    do(world, "upgrade-host", vmhost="esx-01", release="8.0 U3", reboot="full")
    settle(world, 30)
    assert world.attestation_status("esx-01")["status"] == "notAttested"
    u2_time = last(u2.key)

    # Export from the host and import: a row with no attestation yet, then one.
    do(world, "Export-VMHostImageDb", vmhost="esx-01", file="esx-01-u3.tgz")
    assert do(world, "New-TrustAuthorityVMHostBaseImage", file="esx-01-u3.tgz").ok
    imported_at = world.kernel.now
    assert last(u3.key) is None
    settle(world, world.params.failed_reattest_seconds + 1)  # esx-01's next retry
    assert world.attestation_status("esx-01")["status"] == "attested"
    rows = {r["VMHostVersion"]: r for r in do(world, "Get-TrustAuthorityVMHostBaseImage").output}
    assert sorted(rows) == sorted([u2.key, u3.key])
    assert (rows[u3.key]["Name"], rows[u3.key]["Health"]) == (u3.display_name, "Ok")
    passes = [e for e in world.kernel.trace.select("attest.result", host="esx-01",
                                                   status="attested")
              if e.time >= imported_at]
    assert passes
    u3_time = last(u3.key)
    assert u3_time == rest_time(world, passes[-1].time)
    assert last(u2.key) == u2_time  # nobody attests as U2 any more

    # A later re-attestation moves the time forward.
    settle(world, world.params.reattest_period_seconds + 60)
    assert str(last(u3.key)) > str(u3_time)
