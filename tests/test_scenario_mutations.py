"""Mutation checks: break the mechanism a scenario documents, and its expectations fail.

Each test swaps one piece of the simulator for a plausible wrong version (a bug someone
could write) and shows that the bundled scenario built around that piece notices: at
least one named expectation fails. The unmutated scenarios pass in test_scenarios.py and
test_golden.py, so these tests prove that the scenarios' expectations can fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vtalab.scenario.model import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parent.parent


def _failed(name: str) -> list[str]:
    result = run_scenario(load_scenario(ROOT / "scenarios" / f"{name}.yaml"))
    return [f"{v.label}: {v.detail}" for v in result.verdicts if not v.ok]


def _assert_fails(failed: list[str], *labels: str) -> None:
    for label in labels:
        assert any(f.startswith(label) for f in failed), (label, failed)


def test_unmutated_scenarios_used_below_pass() -> None:
    for name in ("several-quick-boot-upgrades", "clock-skew-and-partition",
                 "kms-outage-key-persistence", "upgrade-before-import"):
        assert _failed(name) == [], name


def test_removing_a_base_image_that_does_nothing_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove-TrustAuthorityVMHostBaseImage silently keeping the image."""
    from vtalab.domain.base_image import BaseImageStore

    monkeypatch.setattr(BaseImageStore, "remove", lambda self, version: None)
    failed = _failed("several-quick-boot-upgrades")
    _assert_fails(failed, "base images after step 'remove-intermediate'", "base images at end")
    failed = _failed("upgrade-before-import")
    _assert_fails(failed, "base images at end")


def test_quick_boot_that_re_measures_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """If Quick Boot measured the new image, the intermediate version would be attested
    and the hosts would never report their last full boot."""
    from vtalab.esxi import host as host_mod

    original = host_mod.EsxiHost._boot

    def measuring_boot(self: Any, mode: Any, reason: str) -> Any:
        if mode is host_mod.BootMode.QUICK:
            self._tpm_orderly_off()  # as if loadESX reset the platform and measured
        yield from original(self, host_mod.BootMode.FULL, reason)

    monkeypatch.setattr(host_mod.EsxiHost, "_boot", measuring_boot)
    _assert_fails(_failed("several-quick-boot-upgrades"),
                  "base image 8.0.2-22380479 after step 'list-images'",
                  "event com.vmware.vc.TaHostAttestFailEvent at end")


def test_kmxa_reporting_unreachable_as_not_attested_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Unreachable is not untrusted: a kmxa that reports notAttested breaks the scenario."""
    from vtalab.domain.trusted import HostAttestation, Kmxa

    original = Kmxa.attest_once

    def pessimistic(self: Kmxa, info: Any) -> HostAttestation:
        result = original(self, info)
        if result.reason == "attestation_unreachable":
            result = HostAttestation(status="notAttested", reason=result.reason,
                                     messages=list(result.messages))
            self.results[info.name] = result
        return result

    monkeypatch.setattr(Kmxa, "attest_once", pessimistic)
    _assert_fails(_failed("clock-skew-and-partition"),
                  "attestation esx-02 at T+07:45:00", "attestation esx-02 at T+09:00:00",
                  "event com.vmware.vc.TaHostAttestFailEvent at end")


def test_key_cache_surviving_reboots_without_persistence_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without key persistence a reboot must empty the host's key cache."""
    from vtalab.domain.trusted import Kmxa

    original = Kmxa.on_down

    def keep_cache(self: Kmxa, host: Any, reason: str) -> None:
        cache = dict(self.key_cache)
        original(self, host, reason)
        self.key_cache = cache

    def restore_cache(self: Kmxa, host: Any, mode: Any) -> None:
        self.wake()  # the mutation: on_up no longer replaces the cache

    monkeypatch.setattr(Kmxa, "on_down", keep_cache)
    monkeypatch.setattr(Kmxa, "on_up", restore_cache)
    _assert_fails(_failed("kms-outage-key-persistence"),
                  "step 'start-volatile' (Start-VM)", "vm v-db01 after step 'start-volatile'")


def test_key_provider_ignoring_token_expiry_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """kmxd must check the token's exp against its own (true) clock."""
    from vtalab.domain import key_provider

    original = key_provider.verify_kms_token

    def lenient(token: Any, **kw: Any) -> Any:
        return original(token, **{**kw, "leeway": 10**9})

    monkeypatch.setattr(key_provider, "verify_kms_token", lenient)
    _assert_fails(_failed("clock-skew-and-partition"),
                  "step 'start-db01-expired-token' (Start-VM)",
                  "task Power On virtual machine db01 after step 'start-db01-expired-token'")
