"""Attacks on attestation, reproduced through the world (issue 13).

Each test first builds the attack the way the review found it, then asserts the verifier
refuses it with its reason code. Unit tests of the pieces live in
tests/domain/test_attestation_security.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vtalab.domain.attestation import Evidence
from vtalab.domain.reasons import Reason
from vtalab.domain.ta_cluster import AttestationService
from vtalab.world.assembly import World
from vtalab.world.topology import TrustedHostSpec

U1 = "8.0.1-21495797"


def _capture(world: World) -> list[tuple[Evidence, Any]]:
    """Record every (evidence, activate) attestd on ta-01 receives from now on."""
    attestd = world.ta_cluster.hosts["ta-01"].attestd
    seen: list[tuple[Evidence, Any]] = []
    original = attestd.attest

    def spy(evidence: Evidence, config: Any, activate: Any) -> Any:
        seen.append((evidence, activate))
        return original(evidence, config, activate)

    attestd.attest = spy  # type: ignore[method-assign]
    return seen


def _replay(world: World, evidence: Evidence, activate: Any) -> Any:
    ta = world.ta_cluster.hosts["ta-01"]
    # the attacker refreshes what it can: a current vCenter assertion for the host
    fresh = dataclasses.replace(
        evidence, principal_token=world.workload_vcenter.host_assertion(evidence.host))
    return AttestationService.attest(ta.attestd, fresh, ta.config, activate)


def test_replayed_quote_with_its_own_old_nonce_is_refused(make_world, do, status):
    world = make_world(hosts=(TrustedHostSpec(name="esx-01", release="8.0 U1"),), settle=0)
    seen = _capture(world)
    world.run(60)
    assert status(world, "esx-01") == ("attested", None)
    old, activate = seen[0]
    verdict, tokens = _replay(world, old, activate)  # at once: a spent nonce
    assert tokens is None and verdict.reasons == (Reason.NONCE_REUSED,)
    assert "already used" in verdict.messages[0]
    # the host full-boots a release that is not a trusted base image
    assert do(world, "upgrade-host", vmhost="esx-01", release="8.0 U2", reboot="full").ok
    assert status(world, "esx-01") == ("notAttested", "untrusted_base_image")
    verdict, tokens = _replay(world, old, activate)
    assert tokens is None and not verdict.attested
    # long spent and forgotten: no longer one this service knows it issued
    assert verdict.reasons == (Reason.NONCE_NOT_ISSUED,)

    # the old quote under a nonce freshly issued to the host: the quote does not carry it
    ta = world.ta_cluster.hosts["ta-01"]
    fresh = ta.attestd.issue_nonce("esx-01").nonce
    verdict, tokens = _replay(world, dataclasses.replace(old, nonce=fresh), activate)
    assert tokens is None and verdict.reasons == (Reason.NONCE_MISMATCH,)


def test_nonce_is_bound_to_the_host_it_was_issued_to(make_world, status):
    world = make_world(hosts=(TrustedHostSpec(name="esx-01"), TrustedHostSpec(name="esx-02")),
                       settle=0)
    seen = _capture(world)
    world.run(60)
    ta = world.ta_cluster.hosts["ta-01"]
    ev1 = next(e for e, _ in seen if e.host == "esx-01")
    activate = next(a for e, a in seen if e.host == "esx-01")
    for_esx02 = ta.attestd.issue_nonce("esx-02").nonce
    verdict, tokens = _replay(world, dataclasses.replace(ev1, nonce=for_esx02), activate)
    assert tokens is None and verdict.reasons == (Reason.NONCE_WRONG_HOST,)
    assert "issued to esx-02" in verdict.messages[0]
    # presenting it did not void esx-02's nonce
    assert ta.attestd.nonces.redeem(for_esx02, "esx-02", world.kernel.now)[0] is None

    invented = bytes(32)
    verdict, _ = _replay(world, dataclasses.replace(ev1, nonce=invented), activate)
    assert verdict.reasons == (Reason.NONCE_NOT_ISSUED,)


def test_nonce_expires_after_its_lifetime(make_world):
    world = make_world(settle=60)
    ta = world.ta_cluster.hosts["ta-01"]
    seen = _capture(world)
    world.run(world.kernel.now + world.params.reattest_period_seconds + 1)
    ev, activate = seen[-1]
    issued = ta.attestd.issue_nonce("esx-01")
    world.run(issued.expires_at)
    verdict, _ = _replay(world, dataclasses.replace(ev, nonce=issued.nonce), activate)
    assert verdict.reasons == (Reason.NONCE_EXPIRED,)
    # and it is spent: presenting it again is a replay
    verdict, _ = _replay(world, dataclasses.replace(ev, nonce=issued.nonce), activate)
    assert verdict.reasons == (Reason.NONCE_REUSED,)


def test_every_attestation_redeems_a_nonce_the_service_issued(make_world):
    world = make_world(settle=0)
    seen = _capture(world)
    world.run(4 * 3600)
    issued = [e for e in world.kernel.trace.events if e.kind == "attest.nonce"]
    assert len(issued) == len(seen) >= 4
    assert [bytes.fromhex(e.fields["nonce"]) for e in issued] == [ev.nonce for ev, _ in seen]
    assert len({ev.nonce for ev, _ in seen}) == len(seen)  # never the same nonce twice
    assert all(e.fields["host"] == "esx-01" and e.fields["service"] == "ta-01/attestd"
               for e in issued)
