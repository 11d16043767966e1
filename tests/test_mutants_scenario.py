"""A second mutation spot check, scenarios: expectations, the timeline and golden
transcripts on the side of each rule no test reached. Each test here failed against a
hand-made mutant of vtalab/scenario/{expect,timeline,golden}.py that the suite let pass."""

from __future__ import annotations

import textwrap

# The expectation language's scenario (one host whose 8.0 U3 base image is removed at
# 10m) and its verdicts, as tests/test_expect_language.py defines them
from test_expect_language import _verdicts

from vtalab.scenario.model import load_scenario_text, run_scenario
from vtalab.scenario.timeline import render_run, timeline_line

# -- expectations (scenario/expect.py) -------------------------------------------------------

def test_base_images_absent_fails_while_the_image_is_there() -> None:
    got = _verdicts("""\
        - {at: 5m, base_images: {absent: ["8.0 U3"]}}
        - {at: 15m, base_images: {absent: ["8.0 U3"]}}
        """)
    assert got[0][0] is False and "still present 8.0 U3" in got[0][1], got
    assert got[1][0] is True, got


TWO = textwrap.dedent("""\
    name: spot
    seed: 2
    topology:
      trusted_clusters:
        - hosts: [{name: esx-01, release: "8.0 U3"}, {name: esx-02, release: "8.0 U2"}]
    steps:
      - {id: images, at: 5m, do: Get-TrustAuthorityVMHostBaseImage}
      - {id: rm, at: 10m, do: Remove-TrustAuthorityVMHostBaseImage, with: {version: "8.0 U3"}}
      - id: rm-again
        at: 20m
        do: Remove-TrustAuthorityVMHostBaseImage
        with: {version: "8.0 U3"}
        expect_error: "*"
    """)


def _oks(expect: str) -> list[bool | None]:
    """The verdicts of the expectations (the step's expected refusal left out)."""
    text = TWO + "expect:\n" + textwrap.indent(textwrap.dedent(expect), "  ")
    result = run_scenario(load_scenario_text(text, file="spot.yaml"))
    n = len(textwrap.dedent(expect).strip().splitlines())
    return [v.ok for v in result.verdicts[-n:]]


def test_a_step_check_compares_the_error_code_and_the_message() -> None:
    assert _oks("""\
        - step: {step: rm-again, ok: false, error: invalid_request}
        - step: {step: rm-again, ok: false, error: untrusted_base_image}
        - step: {step: rm, ok: true, contains: "applied on 1 TA host"}
        - step: {step: rm, ok: true, contains: "applied on 2 TA hosts"}
        """) == [True, False, True, False]


def test_an_output_check_reads_every_object_in_any_case() -> None:
    """Two base images (8.0 U3 first): counts are exact, a property must hold for every
    object, and values and `where` compare ignoring case."""
    assert _oks("""\
        - output: {step: images, count: 2}
        - output: {step: images, count: 1}
        - output: {step: images, property: VMHostVersion, equals: 8.0.3-24022510}
        - output: {step: images, where: {Health: ok}, count: 2}
        - output: {step: images, property: Name, contains: esxi 8.0}
        """) == [True, False, False, True, True]


# -- the timeline (scenario/timeline.py) --------------------------------------------------

def test_log_lines_show_a_level_only_when_it_is_not_info() -> None:
    result = run_scenario(load_scenario_text(TWO, file="spot.yaml"))
    lines = render_run(result, logs=True).splitlines()
    kmxa = [x for x in lines if "[kmxa.log]" in x]
    assert kmxa and all("] info: " not in x for x in kmxa), kmxa
    assert any(x.endswith("[kmxa.log] Attested by ta-esx-01/attestd; token valid until "
                          "2026-01-06T08:00:00+00:00") for x in kmxa), kmxa


def test_a_carriage_return_in_a_message_starts_an_indented_line() -> None:
    """A lone CR (a message from a Windows tool) must not rewind the terminal line."""
    got = timeline_line(0.0, "esx-01", "first\rsecond\r\nthird")
    pad = " " * 36
    assert got == f"T+00:00:00      esx-01              first\n{pad}second\n{pad}third"


def test_what_a_run_stopped_by_until_did_not_reach_is_skipped_not_failed() -> None:
    text = TWO + "expect:\n  - {at: 1h, base_images: {absent: [\"8.0 U3\"]}}\n"
    result = run_scenario(load_scenario_text(text, file="spot.yaml"), until=15 * 60)
    report = render_run(result).splitlines()
    assert any(x.startswith("SKIP  ") for x in report), report
    assert not any(x.startswith("FAIL  ") for x in report), report
    assert report[-2] == "0 passed, 0 failed, 2 not reached", report  # and rm-again
