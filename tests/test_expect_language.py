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


# -- Get-… steps: their objects in the timeline, in --json, and the `output` check --------

RM = ("  - {id: rm, at: 10m, do: Remove-TrustAuthorityVMHostBaseImage, "
      "with: {version: \"8.0 U3\"}}\n")
HEAD_GETS = HEAD.replace(RM, "") + (
    "  - {id: before, at: 5m, do: Get-TrustAuthorityVMHostBaseImage}\n"
    "  - {id: settings, at: 6m, do: Get-TrustAuthorityTpm2AttestationSettings}\n"
    + RM + "  - {id: after, at: 11m, do: Get-TrustAuthorityVMHostBaseImage}\n")


def _output_verdicts(expect: str) -> list[tuple[bool | None, str]]:
    text = HEAD_GETS + "expect:\n" + textwrap.indent(textwrap.dedent(expect), "  ")
    result = run_scenario(load_scenario_text(text, file="lang.yaml"))
    return [(v.ok, v.detail) for v in result.verdicts]


def test_output_checks_read_a_get_steps_objects() -> None:
    got = _output_verdicts("""\
        - output: {step: before, count: 1}
        - output: {step: after, count: 0}
        - output: {step: before, where: {vmhostversion: 8.0.3-24022510}, property: health,
                   equals: OK}
        - output: {step: settings, property: RequireCertificateValidation, equals: true}
        - output: {step: before, property: Name, contains: "8.0 U3"}
        - output: {step: before, count: 2}
        - output: {step: before, where: {VMHostVersion: 8.0.2-22380479}, property: Health,
                   equals: Ok}
        - output: {step: settings, property: RequireEndorsementKey, equals: true}
        - output: {step: before, where: {Version: x}, count: 0}
        - output: {step: before, property: Name, contains: "8.0 U2"}
        - not: {output: {step: after, count: 0}}
        """)
    assert [ok for ok, _ in got] == [True, True, True, True, True,
                                     False, False, False, False, False, False]
    assert got[5][1] == ("step 'before' (Get-TrustAuthorityVMHostBaseImage) returned 1 "
                         "TrustAuthorityVMHostBaseImage object(s); expected 2")
    assert got[6][1].endswith("returned no TrustAuthorityVMHostBaseImage object where "
                              "VMHostVersion = 8.0.2-22380479")
    assert "shows RequireEndorsementKey = 'False'; expected 'True'" in got[7][1]
    assert "has no property 'Version' (it has Health," in got[8][1]
    assert "expected it to contain '8.0 U2'" in got[9][1]


def test_the_timeline_and_json_show_a_get_steps_objects() -> None:
    from vtalab.scenario.timeline import render_run
    from vtalab.scenario.tracefile import json_run

    text = HEAD_GETS + "expect: []\n"
    result = run_scenario(load_scenario_text(text, file="lang.yaml"))
    shown = render_run(result)
    assert ("T+00:05:00      scenario            VMHostVersion  Name"
            "                         Health\n"
            "                                    -------------  ----"
            "                         ------\n"
            "                                    8.0.3-24022510 ESXi 8.0.3-24022510 (8.0 U3) Ok"
            ) in shown
    assert "T+00:11:00      scenario            (no TrustAuthorityVMHostBaseImage objects)" \
        in shown
    steps = json_run("lang.yaml", result)["steps"]
    before = next(s for s in steps if s["id"] == "before")
    assert before["output_type"] == "TrustAuthorityVMHostBaseImage"
    assert [o["VMHostVersion"] for o in before["output"]] == ["8.0.3-24022510"]
    assert "output" not in next(s for s in steps if s["id"] == "rm")  # a change: no objects
    # byte-stable: the same run prints the same bytes
    again = run_scenario(load_scenario_text(text, file="lang.yaml"))
    assert render_run(again) == shown and again.digest == result.digest


@pytest.mark.parametrize(("expect", "needle"), [
    ("- output: {step: rm, count: 1}", "lang.yaml:12:20: expect.0.output.step: step 'rm' "
     "(Remove-TrustAuthorityVMHostBaseImage) returns no PowerCLI objects"),
    ("- output: {step: before, equals: Ok}", "`equals`/`contains` need the `property`"),
    ("- output: {step: before, property: Health}", "`property` needs `equals` or `contains`"),
    ("- output: {step: before}", "say what to check"),
    ("- output: {step: nope, count: 1}", "nope"),
])
def test_output_checks_are_validated_where_written(expect: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario_text(HEAD_GETS + "expect:\n  " + expect + "\n", file="lang.yaml")
    assert needle in str(err.value)


def test_each_field_of_a_check_is_compared() -> None:
    """A check with a field given fails when that field differs, whatever the others: the
    attestation's reason, a VM's encryption, a base image's last attestation time."""
    text = textwrap.dedent("""\
        name: fields
        seed: 2
        topology:
          trusted_clusters:
            - hosts: [{name: esx-01, release: "8.0 U3"}]
              vms: [{name: db, host: esx-01, encrypted: true}]
        steps:
          - {at: 10m, do: Remove-TrustAuthorityVMHostBaseImage, with: {version: "8.0 U3"}}
        expect:
          - {at: 5m, base_image: {version: 8.0.3-24022510, last_attested: 0s}}
          - {at: 5m, base_image: {version: 8.0.3-24022510, last_attested: 1m}}
          - {at: 5m, vm: {vm: db, encrypted: true}}
          - {at: 5m, vm: {vm: db, encrypted: false}}
          - {at: 2h, attestation: {host: esx-01, status: notAttested,
                                   reason: untrusted_base_image}}
          - {at: 2h, attestation: {host: esx-01, status: notAttested,
                                   reason: tpm_quote_invalid}}
        """)
    result = run_scenario(load_scenario_text(text, file="fields.yaml"))
    got = [(v.ok, v.detail) for v in result.verdicts]
    assert [ok for ok, _ in got] == [True, False, True, False, True, False], got
    assert "expected an attestation at or after T+00:01:00" in got[1][1]
    assert "encrypted True (expected False)" in got[3][1]
    assert "got notAttested (reason untrusted_base_image)" in got[5][1]


def test_base_image_checks_take_a_release_name_as_the_steps_do() -> None:
    got = _verdicts("""\
        - {at: 5m, base_image: {version: "8.0 U3", last_attested: set}}
        - {at: 5m, base_images: {present: ["8.0 U3"], absent: ["8.0 U2"]}}
        - {base_images: {absent: ["8.0 U3"]}}
        - {base_image: {version: "8.0 U3"}}
        - {at: 5m, base_image: {version: "8.0 U9"}}
        """)
    assert [ok for ok, _ in got] == [True, True, True, False, False], got
    assert got[3][1].startswith("no trusted base image 8.0 U3")


def test_host_health_and_base_image_health_fields_are_compared() -> None:
    text = textwrap.dedent("""\
        name: more-fields
        seed: 2
        topology:
          ta_cluster:
            hosts: [{name: ta-esx-01}]
          trusted_clusters:
            - hosts: [{name: esx-01, release: "8.0 U3"}]
        expect:
          - {at: 5m, base_image: {version: "8.0 U3", health: OK}}
          - {at: 5m, base_image: {version: "8.0 U3", health: ERROR}}
          - {at: 5m, host: {host: esx-01, measured_version: "8.0 U3"}}
          - {at: 5m, host: {host: esx-01, measured_version: "8.0 U2"}}
          - {at: 5m, host: {host: ta-esx-01, ta_member: true}}
          - {at: 5m, host: {host: ta-esx-01, ta_member: false}}
          - {at: 5m, health: {object: ta_cluster/state, value: OK}}
          - {at: 5m, health: {object: ta_cluster/state, value: ERROR}}
        """)
    result = run_scenario(load_scenario_text(text, file="more-fields.yaml"))
    got = [(v.ok, v.detail) for v in result.verdicts]
    assert [ok for ok, _ in got] == [True, False] * 4, got
    assert "measured_version '8.0.3-24022510' (expected '8.0.2-22380479')" in got[3][1]
    assert "ta_member True (expected False)" in got[5][1]
    assert got[7][1] == "ta_cluster/state health is OK, expected ERROR"
