"""Every scenario under scenarios/ is a test: its expectations hold, and it replays."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtalab.scenario.model import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_expectations_hold(path: Path) -> None:
    result = run_scenario(load_scenario(path))
    failed = [v.detail for v in result.verdicts if not v.ok]
    assert result.verdicts and not failed, failed


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_is_deterministic(path: Path) -> None:
    scenario = load_scenario(path)
    assert run_scenario(scenario).digest == run_scenario(scenario).digest


def test_quick_boot_scenario_breaks_without_the_quick_boot_mechanism(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation check: if Quick Boot re-measured the image, the documented trap vanishes."""
    from vtalab.esxi import host as host_mod

    original = host_mod.EsxiHost._boot

    def measuring_boot(self, mode, reason):  # type: ignore[no-untyped-def]
        yield from original(self, host_mod.BootMode.FULL, reason)

    monkeypatch.setattr(host_mod.EsxiHost, "_boot", measuring_boot)
    result = run_scenario(load_scenario(ROOT / "scenarios" / "quick-boot-upgrade.yaml"))
    assert not all(v.ok for v in result.verdicts)
