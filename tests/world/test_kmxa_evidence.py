"""kmxa remembers the parts of its evidence that are pure functions of its TPM's keys (EK
SPKI, AK public area) and the text of the end of a token's validity; what it presents must
always be what it would compute afresh -- also across a replaced TPM and a changed key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vtalab.core import crypto
from vtalab.domain.attestation import Evidence
from vtalab.domain.ta_cluster import AttestationService
from vtalab.tpm.marshal import ak_public_area, marshal_public
from vtalab.world.assembly import World
from vtalab.world.registry import Outcome
from vtalab.world.topology import TrustedHostSpec


def test_evidence_always_carries_the_current_tpms_keys(
        make_world: Callable[..., World], do: Callable[..., Outcome],
        settle: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(ta_hosts=("ta-01", "ta-02"),
                       hosts=(TrustedHostSpec(name="esx-01"), TrustedHostSpec(name="esx-02")))
    presented: list[tuple[Evidence, bytes, bytes]] = []
    original = AttestationService.attest

    def spy(self: AttestationService, evidence: Evidence, config: Any, activate: Any) -> Any:
        tpm = world.trusted_host(evidence.host).host.tpm
        # the reference, computed afresh (not even the TPM's cached public area)
        presented.append((evidence, crypto.public_der(tpm.ek),
                          marshal_public(ak_public_area(tpm.ak))))
        return original(self, evidence, config, activate)

    monkeypatch.setattr(AttestationService, "attest", spy)
    for name in ("esx-01", "esx-02"):
        world.trusted_host(name).agent.wake()
    settle(world, 5)
    before = {e.host: e.ek_public_der for e, _, _ in presented}
    assert set(before) == {"esx-01", "esx-02"}
    assert do(world, "tpm-replaced", vmhost="esx-01").ok
    settle(world, 600)
    # and a key changed in place on the same TPM object (never done by the lab today)
    tpm = world.trusted_host("esx-02").host.tpm
    tpm.ek = crypto.derive_private_key(99, "another ek")
    world.trusted_host("esx-02").agent.wake()
    settle(world, 5)
    for evidence, ek_der, ak_public in presented:
        assert evidence.ek_public_der == ek_der
        assert evidence.ak_public == ak_public
    after = {e.host: e.ek_public_der for e, _, _ in presented}
    assert after["esx-01"] != before["esx-01"]  # the new TPM's EK is presented
    assert after["esx-02"] == crypto.public_der(tpm.ek) != before["esx-02"]


def test_the_logged_end_of_validity_is_the_calendar_time(
        make_world: Callable[..., World]) -> None:
    world = make_world()
    agent = world.trusted_host("esx-01").agent
    for at in (0.0, 3600.0, 3600.0, 3600.5, 86400 * 3 + 0.25, 3600.0):
        assert agent._iso_utc(at) == world.kernel.utc(at).isoformat()
    lines = world.kernel.log_lines("esx-01", "kmxa.log")
    assert any("token valid until 2026-01-0" in line for line in lines)
