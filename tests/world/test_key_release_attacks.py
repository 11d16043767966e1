"""Key release seen at the source (issue 13, items 4 and 5): a mutated kmxd that accepts an
unsigned token is caught by the invariants, and a release on a stale token is shown."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import pytest

from vtalab.core.kernel import format_time
from vtalab.domain import key_provider
from vtalab.domain.trusted import Kmxa
from vtalab.invariants import INVARIANTS, check_all
from vtalab.invariants.safety import stale_token_releases
from vtalab.scenario.model import load_scenario_text, run_scenario

UNTRUSTED = """
name: untrusted
seed: 5
topology:
  ta_cluster:
    hosts: [{name: ta-esx-01}]
    base_images: ["8.0 U2"]
  trusted_clusters:
    - hosts: [{name: esx-01, release: "8.0 U3"}]
      vms: [{name: db01, host: esx-01, encrypted: true, powered_on: false}]
steps:
  - {at: 10m, do: Start-VM, with: {vm: db01}, expect_error: untrusted_base_image}
"""


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned_token(self: Kmxa) -> str:
    """What a compromised host presents: an alg=none KMS_AUTH_JWT naming itself."""
    now = self.world.kernel.epoch_seconds()
    claims = {"iss": "ta-esx-01/attestd", "sub": self.host.name, "group": "vTA-group",
              "iat": now, "exp": now + 3600, "aud": "kms", "typ": "KMS_AUTH_JWT"}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _run(text: str, **params: object):  # type: ignore[no-untyped-def]
    scenario = load_scenario_text(textwrap.dedent(text))
    if params:
        scenario = scenario.model_copy(update={"parameters": params})
    return run_scenario(scenario)


def test_unsigned_token_is_refused_by_the_real_kmxd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Kmxa, "token", _unsigned_token)
    result = _run(UNTRUSTED.replace("expect_error: untrusted_base_image",
                                    "expect_error: token_forged"))
    assert result.ok, result
    refused = [e.fields for e in result.world.kernel.trace if e.kind == "key.release"]
    assert refused and not any(f["ok"] for f in refused)
    assert {f["reason"] for f in refused} == {"token_forged"}
    assert check_all(result.world, ["no-key-without-token", "key-only-after-attestation"]) == []


def test_kmxd_mutated_to_accept_an_unsigned_token_is_caught(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setattr(Kmxa, "token", _unsigned_token)
    # the mutation: kmxd's token check accepts anything
    monkeypatch.setattr(key_provider, "verify_kms_token", lambda *a, **k: None)
    result = _run(UNTRUSTED.replace(", expect_error: untrusted_base_image", ""))
    world = result.world
    released = [e for e in world.kernel.trace if e.kind == "key.release" and e.fields["ok"]]
    assert released, "the mutated kmxd released the key to the unattested host"
    statuses = {e.fields["status"] for e in world.kernel.trace if e.kind == "attest.result"}
    assert statuses == {"notAttested"}
    found = check_all(world, ["no-key-without-token", "key-only-after-attestation"])
    assert {v.invariant for v in found} == {"no-key-without-token", "key-only-after-attestation"}
    assert all(v.subject == "esx-01" for v in found)
    assert any("not signed by any Attestation Service" in v.detail for v in found)


def test_a_release_on_a_token_the_trace_never_issued_is_caught(monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """A token genuinely signed by attestd but never issued by an attestation (a leaked
    signing key, a forged issuance): signature checks pass, the attestation match fails."""
    from vtalab.core import crypto
    from vtalab.domain.ta_cluster import attestd_signing_key

    def signed_but_never_issued(self: Kmxa) -> str:
        now = self.world.kernel.epoch_seconds()
        key = attestd_signing_key(self.world.kernel.seed, "ta-esx-01")
        claims = {"iss": "ta-esx-01/attestd", "sub": self.host.name, "group": "vTA-group",
                  "iat": now - 7, "exp": now + 3600, "aud": "kms", "typ": "KMS_AUTH_JWT",
                  "ver": "8.0.2-22380479"}
        return crypto.jwt_encode(claims, key, crypto.key_id(key))

    monkeypatch.setattr(Kmxa, "token", signed_but_never_issued)
    result = _run(UNTRUSTED.replace(", expect_error: untrusted_base_image", ""))
    found = check_all(result.world, ["no-key-without-token", "key-only-after-attestation"])
    assert [v.invariant for v in found] == ["key-only-after-attestation"]
    assert "no passed attestation of esx-01 by ta-esx-01/attestd" in found[0].detail


STALE = (Path(__file__).resolve().parents[1] / "data" / "stale-token.yaml").read_text(
    encoding="utf-8")


def test_release_on_a_stale_token_is_shown_with_its_exposure_window() -> None:
    result = _run(STALE)
    world = result.world
    (item,) = stale_token_releases(world)
    assert (item["host"], item["issuer"], item["failed_by"], item["reason"]) == (
        "esx-01", "ta-esx-02/attestd", "ta-esx-01/attestd", "untrusted_base_image")
    assert item["issued"] < item["failed_at"] <= item["time"] < item["expires"]
    # the host notices the removal at its next scheduled attestation (ta_change_notice)
    assert item["failed_at"] == pytest.approx(world.params.reattest_period_seconds, abs=5)
    assert item["exposure"] == item["time"] - item["failed_at"] > 0
    assert item["exposure_bound"] == item["expires"] - item["failed_at"]
    (advice,) = check_all(world, ["no-release-on-stale-token"])
    assert "judged the host notAttested (untrusted_base_image)" in advice.detail
    assert f"exposed for {format_time(item['exposure']).removeprefix('T+')} so far" in \
        advice.detail
    # vTA's documented rule: not a violation of the safety invariants
    assert check_all(world, ["no-key-without-token", "key-only-after-attestation"]) == []


def test_latest_verdict_policy_refuses_the_stale_token() -> None:
    # kmxd on ta-esx-01 refuses the token; kmxa then tries ta-esx-02's kmxd, which is down
    result = _run(STALE.replace("{vm: db02}}",
                                "{vm: db02}, expect_error: key_provider_unreachable}"),
                  key_release_policy="latest_verdict")
    assert result.ok, result
    assert stale_token_releases(result.world) == []
    refused = [e.fields for e in result.world.kernel.trace if e.kind == "key.release"]
    assert [f["reason"] for f in refused] == ["token_superseded"]
    assert "untrusted_base_image" in next(
        line for line in result.world.log_lines("ta-esx-01", "kmxd.log")
        if "token_superseded" in line)
    assert INVARIANTS["no-release-on-stale-token"].check(result.world) == []


def test_explain_shows_the_stale_token_exposure_of_the_host() -> None:
    from vtalab.forensics.explain import explain

    scenario = load_scenario_text(textwrap.dedent(STALE))
    x = explain(scenario, "esx-01", fixes=False)
    (item,) = x.chain["exposure"]
    assert item["failed_by"] == "ta-esx-01/attestd" and item["issuer"] == "ta-esx-02/attestd"
    line = next(line for line in x.text().splitlines() if line.startswith("exposure"))
    assert "exposed for " in line and "untrusted_base_image" in line
    assert x.to_dict()["exposure"][0]["exposure"] == item["exposure"]
