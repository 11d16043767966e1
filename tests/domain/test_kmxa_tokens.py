"""kmxa keeps the tokens an attestation service issued it unsigned until one is read
(HostAttestation / AttestationTokens): a host renews every hour and asks kmxd for a key
far more rarely. A token read is the one the service would have signed at issue, and kmxd
accepts it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vtalab.core import crypto
from vtalab.domain.attestation import (
    AttestationTokens,
    Verdict,
    issue_tokens,
    token_claims,
    verify_kms_token,
)
from vtalab.domain.trusted import HostAttestation
from vtalab.world.assembly import World

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_scale  # noqa: E402 - its topology: trusted hosts with encrypted VMs


def _tokens(simulated: bool) -> tuple[AttestationTokens, tuple[str, str]]:
    key = crypto.derive_private_key(3, "ta/t/attestd")
    verdict = Verdict(attested=True, measured_version="8.0.3-24022510")
    args = {"host": "esx-01", "service_name": "t/attestd", "group": "g",
            "iat": 1_767_225_600, "lifetime": 3600}
    with crypto.simulated(simulated):
        kms, reporting = token_claims(verdict, **args)  # type: ignore[arg-type]
        want = issue_tokens(verdict, key=key, kid="k", **args)  # type: ignore[arg-type]
        return AttestationTokens(kms, reporting, key, "k", simulated), want


@pytest.mark.parametrize("simulated", [False, True])
def test_a_result_signs_its_token_when_read_and_equals_one_given_as_text(
        simulated: bool) -> None:
    tokens, want = _tokens(simulated)
    lazy = HostAttestation(status="attested", token=tokens, token_exp=5)
    assert lazy.holds_token and tokens._kms is None  # issued, not signed
    text = HostAttestation(status="attested", token=want[0], token_exp=5)
    assert lazy == text  # (reading it for the comparison signs it)
    assert lazy.token == want[0] and lazy._token == want[0]
    assert repr(lazy) == repr(text) == (
        f"HostAttestation(status='attested', reason=None, messages=(), attested_at=None, "
        f"attested_until=None, token={want[0]!r}, token_exp=5, measured_version=None)")
    assert not HostAttestation().holds_token and HostAttestation().token is None
    assert HostAttestation(status="attested") != HostAttestation()
    assert HostAttestation(messages=["x"]) == HostAttestation(messages=("x",))
    assert HostAttestation(messages=["x"]) != HostAttestation(messages=["y"])
    with pytest.raises(TypeError):
        hash(lazy)


@pytest.mark.parametrize("mode", ["real", "simulated"])
def test_renewed_tokens_stay_unsigned_and_the_one_handed_out_is_accepted(mode: str) -> None:
    bench_scale.forget_crypto()
    world = World(bench_scale.topology(3, 2), seed=4, crypto=mode)
    world.run(3 * 3600.0 + 60)
    services = world.ta_cluster.hosts.values()
    keys = {ta.attestd.kid: ta.attestd.key.public_key() for ta in services}
    group = next(iter(services)).attestd.group
    for name in world.host_names():
        if name not in world.trusted_cluster(None).hosts:
            continue
        kmxa = world.trusted_host(name).agent
        results = list(kmxa.results.values())
        assert len(results) == 3 and all(r.status == "attested" for r in results)
        # renewed in the last hour and not read since: issued, not signed
        assert all(isinstance(r._token, AttestationTokens) and r._token._kms is None
                   for r in results)
        with world.crypto_mode():
            token = kmxa.token()
            assert token is not None
            signed = [r for r in results if isinstance(r._token, str)]
            assert len(signed) == 1 and signed[0].token == token  # only the one handed out
            assert verify_kms_token(token, trusted_keys=keys, host=name, group=group,
                                    now_epoch=world.kernel.epoch_seconds()) is None


def _attested_world() -> World:
    world = World(bench_scale.topology(2), seed=7, crypto="simulated")
    world.run(3600.0)
    return world


def test_a_token_is_not_valid_at_its_exp_second_by_the_host_clock() -> None:
    """RFC 7519 ``exp``: the time *on or after which* the token must not be accepted. The
    host's own clock decides (kmxa asks kmxd only with a token it believes valid)."""
    world = _attested_world()
    kmxa = world.trusted_host("esx-00001").agent
    exp = max(r.token_exp or 0 for r in kmxa.results.values() if r.holds_token)
    host = kmxa.host
    with world.crypto_mode():
        host.clock_skew = exp - world.kernel.epoch_seconds() - 1  # one second before exp
        assert kmxa.token() is not None
        host.clock_skew += 1  # exactly at exp
        assert kmxa.token() is None


def test_a_host_clock_past_its_tokens_renews_no_faster_than_the_retry_delay() -> None:
    """A clock so far ahead that every fresh token looks due for renewal: kmxa renews, but
    at ``retry_initial_seconds``, never at the loop's 1-second floor (a hot loop)."""
    world = _attested_world()
    p = world.params
    host = world.trusted_host("esx-00001").agent.host
    host.clock_skew = int(p.token_lifetime_seconds)  # every new token ends "now"
    world.trusted_host("esx-00001").agent.wake()
    start = world.kernel.now
    world.run(start + 10 * p.retry_initial_seconds)
    times: dict[str, list[float]] = {}
    for e in world.kernel.trace:
        if e.kind == "attest.result" and e.time >= start and e.fields["host"] == host.name:
            times.setdefault(str(e.fields["service"]), []).append(e.time)
    assert len(times) == 3
    for got in times.values():
        gaps = [b - a for a, b in zip(got, got[1:], strict=False)]
        assert gaps and min(gaps) == p.retry_initial_seconds, gaps
