"""The scenario language of issue 15, item 6: `expect_error: any`, `not:`, `between:` windows
for events and logs, and log lines addressed by their T+ time (`logged_at`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vtalab.errors import ScenarioError
from vtalab.scenario.model import load_scenario, load_scenario_text, run_scenario

DATA = Path(__file__).resolve().parent / "data" / "expect-language.yaml"


def test_the_language_example_passes_and_each_check_can_fail() -> None:
    result = run_scenario(load_scenario(str(DATA)))
    assert result.ok, [v.detail for v in result.verdicts if not v.ok]
    labels = [v.label for v in result.verdicts]
    assert "not event com.vmware.vc.TaHostAttestFailEvent at end" in labels
    # The run went on to the end of the latest window (1h01m), then settled.
    assert result.end >= 61 * 60


HEAD = textwrap.dedent("""\
    name: lang
    seed: 2
    topology:
      trusted_clusters:
        - hosts: [{name: esx-01, release: "8.0 U3"}]
    steps:
      - {id: rm, at: 10m, do: Remove-TrustAuthorityVMHostBaseImage, with: {version: "8.0 U3"}}
    """)


def _verdicts(expect: str, steps: str = "") -> list[tuple[bool | None, str]]:
    text = HEAD + steps + "expect:\n" + textwrap.indent(textwrap.dedent(expect), "  ")
    result = run_scenario(load_scenario_text(text, file="lang.yaml"))
    return [(v.ok, v.detail) for v in result.verdicts]


def test_not_inverts_and_between_bounds_the_window() -> None:
    got = _verdicts("""\
        - not: {event: {event_id: com.vmware.vc.TaHostAttestFailEvent, between: [10m, 1h]}}
        - event: {event_id: com.vmware.vc.TaHostAttestFailEvent, between: [10m, 59m]}
        - event: {event_id: com.vmware.vc.TaHostAttestFailEvent, absent: true, between: [0s, 59m]}
        """)
    assert [ok for ok, _ in got] == [False, False, True]
    assert got[0][1].startswith("expected this not to hold, but it does: event")
    assert "between T+00:10:00 and T+00:59:00" in got[1][1]


def test_logged_at_addresses_a_line_by_its_simulated_time() -> None:
    got = _verdicts("""\
        - log: {host: esx-01, log: kmxa.log, contains: untrusted_base_image, logged_at: 1h}
        - log: {host: esx-01, log: kmxa.log, contains: untrusted_base_image, logged_at: 59m}
        - not: {log: {host: esx-01, log: kmxa.log, contains: failed, between: [0s, 59m]}}
        """)
    assert [ok for ok, _ in got] == [True, False, True]
    assert "2026-01-05T09:00:00.000Z" in got[0][1]


def test_expect_error_any_accepts_any_refusal_but_not_a_success() -> None:
    steps = ("  - {id: gone, at: 20m, do: Remove-TrustAuthorityVMHostBaseImage, "
             "with: {version: \"8.0 U3\"}, expect_error: any}\n"
             "  - {id: fine, at: 30m, do: Get-TrustAuthorityCluster, expect_error: any}\n")
    got = _verdicts("- not: {invariant: liveness-reattested}\n", steps)
    assert got[0] == (True, "was refused (invalid_request); expected refusal any")
    assert got[1] == (False, "succeeded; expected refusal any")


@pytest.mark.parametrize(("expect", "message"), [
    ("- not: {evnt: {event_id: x}}", "did you mean 'event'?"),
    ("- not: {}", "got none"),
    ("- not: {event: {event_id: x}, log: {host: a, log: kmxa.log, contains: b}}",
     "exactly one check"),
    ("- not: {event: {event_id: x, between: [1h, nope]}}", "expect.0.not.event.between.1"),
])
def test_bad_not_is_a_located_error(expect: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(HEAD + "expect:\n  " + expect + "\n", file="lang.yaml")
    assert message in str(info.value) and str(info.value).startswith("lang.yaml:")
