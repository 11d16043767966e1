"""attestd's registry of (EK, AK) pairs that already passed a credential challenge."""

from __future__ import annotations

import dataclasses

from test_attestation import NONCE, NOW, config, evidence, make_tpm, principal_token

from vtalab.core import crypto
from vtalab.domain.attestation import evaluate
from vtalab.domain.reasons import Reason
from vtalab.tpm import Tpm


def _judge(ev, activate, bound):  # type: ignore[no-untyped-def]
    return evaluate(ev, config(), nonce=NONCE, activate=activate, now=NOW,
                    challenge_label=f"attest/{ev.host}/1", bound_aks=bound)


def test_a_registered_pair_is_not_challenged_again() -> None:
    tpm: Tpm = make_tpm()
    calls: list[int] = []

    def activate(blob: bytes, seed: bytes) -> bytes | None:
        calls.append(1)
        return tpm.activate_credential(blob, seed)

    bound: set[tuple[bytes, bytes]] = set()
    assert _judge(evidence(tpm), activate, bound).attested
    assert len(calls) == 1 and len(bound) == 1
    assert _judge(evidence(tpm), activate, bound).attested
    assert len(calls) == 1  # registered: no second challenge


def test_a_new_ak_is_challenged_and_an_unbound_one_rejected() -> None:
    tpm: Tpm = make_tpm()
    bound: set[tuple[bytes, bytes]] = set()
    assert _judge(evidence(tpm), tpm.activate_credential, bound).attested
    rogue = make_tpm("rogue.lab.local")
    forged = dataclasses.replace(evidence(rogue), principal_token=principal_token(),
                                 ek_certificate_der=tpm.ek_certificate_der,
                                 ek_public_der=crypto.public_der(tpm.ek))
    verdict = _judge(forged, tpm.activate_credential, bound)
    assert not verdict.attested
    assert verdict.findings[0].reason is Reason.AK_NOT_BOUND
    assert len(bound) == 1  # the rogue pair was not registered
