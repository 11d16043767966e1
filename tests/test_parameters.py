"""Parameters: documented defaults, ranges that refuse what would hang or crash the lab,
the rules between parameters, and the timings that used to be hard-coded.

Bad values in a scenario's ``parameters:`` block are load-time errors (exit 2, located);
whatever the parameters, kmxa never retries at zero delay.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from vtalab.cli import main
from vtalab.core import crypto
from vtalab.core.parameters import (
    MAX_OPERATION_SECONDS,
    MAX_VALIDITY_DAYS,
    RULES,
    Parameters,
    parameters_markdown,
    range_text,
)
from vtalab.core.simtime import HORIZON_SECONDS
from vtalab.domain.trusted import MIN_ATTEST_DELAY_SECONDS
from vtalab.errors import ScenarioError
from vtalab.scenario.model import DEFAULT_SETTLE_SECONDS, load_scenario_text
from vtalab.world.assembly import World
from vtalab.world.topology import Topology, TrustedClusterSpec, TrustedHostSpec, VmSpec

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: Parameters by the kind of number they are (module docstring of vtalab.core.parameters).
OPERATIONS = ["full_boot_seconds", "quick_boot_seconds", "shutdown_seconds",
              "maintenance_mode_seconds", "upgrade_stage_seconds", "service_restart_seconds",
              "vm_power_on_seconds", "vm_encrypt_seconds", "vmotion_seconds",
              "remediate_seconds", "vcenter_services_restart_seconds"]
PERIODS = ["token_lifetime_seconds", "reattest_period_seconds", "failed_reattest_seconds",
           "host_assertion_lifetime_seconds", "nonce_lifetime_seconds"]
RETRIES = ["retry_initial_seconds", "retry_max_seconds"]
DAYS = ["certificate_validity_days", "tpm_ca_validity_days"]
POLICY = ["ta_change_notice", "unsafe_clock_policy", "key_release_policy"]


def test_every_parameter_has_a_kind() -> None:
    kinds = [*OPERATIONS, *PERIODS, *RETRIES, *DAYS, *POLICY, "renew_before_expiry_seconds"]
    assert sorted(kinds) == sorted(Parameters.model_fields)


def test_defaults_are_the_former_hard_coded_values() -> None:
    p = Parameters()
    # Moved out of the code (vcenter.host_assertion, vm.encrypt): same values as before.
    assert p.host_assertion_lifetime_seconds == 600
    assert p.vm_encrypt_seconds == 1
    assert (p.token_lifetime_seconds, p.reattest_period_seconds,
            p.renew_before_expiry_seconds) == (86400, 3600, 600)
    assert (p.retry_initial_seconds, p.retry_max_seconds) == (30, 600)
    assert p.certificate_validity_days == 730 and DEFAULT_SETTLE_SECONDS == 600


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "nan",
                                   "1e400", 1e300])
@pytest.mark.parametrize("name", sorted(Parameters.model_fields))
def test_non_finite_and_huge_values_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Parameters(**{name: value})


@pytest.mark.parametrize("name", PERIODS + RETRIES + DAYS)
def test_zero_is_refused_for_periods_lifetimes_retries_and_validities(name: str) -> None:
    with pytest.raises(ValidationError):
        Parameters(**{name: 0})


@pytest.mark.parametrize("name", OPERATIONS)
def test_an_operation_may_be_instant_but_not_longer_than_a_day(name: str) -> None:
    assert getattr(Parameters(**{name: 0}), name) == 0
    assert getattr(Parameters(**{name: MAX_OPERATION_SECONDS}), name) == MAX_OPERATION_SECONDS
    with pytest.raises(ValidationError):
        Parameters(**{name: MAX_OPERATION_SECONDS + 1})
    with pytest.raises(ValidationError):
        Parameters(**{name: -1})


def test_upper_bounds() -> None:
    Parameters(reattest_period_seconds=HORIZON_SECONDS)
    with pytest.raises(ValidationError):
        Parameters(reattest_period_seconds=HORIZON_SECONDS + 1)
    Parameters(certificate_validity_days=MAX_VALIDITY_DAYS)
    with pytest.raises(ValidationError):
        Parameters(certificate_validity_days=MAX_VALIDITY_DAYS + 1)


def test_rules_between_parameters() -> None:
    with pytest.raises(ValidationError, match="renew_before_expiry_seconds .* less than"):
        Parameters(token_lifetime_seconds=600)  # renew default 600: renew at once
    with pytest.raises(ValidationError, match="renew_before_expiry_seconds"):
        Parameters(token_lifetime_seconds=300, renew_before_expiry_seconds=400)
    Parameters(token_lifetime_seconds=601)
    with pytest.raises(ValidationError, match="retry_initial_seconds .* must not exceed"):
        Parameters(retry_initial_seconds=700)
    Parameters(retry_initial_seconds=600)


def test_docs_show_ranges_and_rules() -> None:
    text = parameters_markdown()
    assert "| `reattest_period_seconds` | 3600 | s | 1 s – 400 d |" in text
    assert "| `full_boot_seconds` | 540 | s | 0 s – 1 d |" in text
    assert range_text("certificate_validity_days") == "1 – 36500 days"
    for rule in RULES:
        assert rule in text
    assert "settle" in text and "DEFAULT_SETTLE_SECONDS" in text
    assert (DOCS / "parameters.md").read_text(encoding="utf-8") == text


# -- in a scenario: load-time errors with a location ------------------------------------

SCENARIO = textwrap.dedent("""\
    name: params
    seed: 3
    parameters:
      PARAM
    topology:
      trusted_clusters:
        - hosts: [{name: esx-01}]
    """)


def _load(params: str) -> ScenarioError:
    text = SCENARIO.replace("PARAM", params)
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="p.yaml")
    return info.value


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "nan", "1e400", "1e300", "0",
                                   "-5", "'x'", "[1]"])
def test_bad_parameter_values_in_a_scenario(value: str) -> None:
    e = _load(f"reattest_period_seconds: {value}")
    assert (e.file, e.line, e.column) == ("p.yaml", 4, 28), str(e)
    assert e.path == "parameters.reattest_period_seconds"
    assert str(e).startswith("p.yaml:4:28: parameters.reattest_period_seconds: ")
    if value not in ("'x'", "[1]"):
        assert "1 s – 400 d" in str(e) and "docs/parameters.md" in str(e)


def test_a_rule_error_points_at_the_parameter_the_scenario_sets() -> None:
    e = _load("retry_max_seconds: 60\n  retry_initial_seconds: 120")
    assert e.path == "parameters.retry_initial_seconds" and e.line == 5, str(e)
    assert "must not exceed retry_max_seconds (60)" in str(e)
    e = _load("token_lifetime_seconds: 300")
    assert e.path == "parameters.token_lifetime_seconds" and e.line == 4
    assert "renew_before_expiry_seconds (600) must be less than" in str(e)


def test_bad_parameter_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(SCENARIO.replace("PARAM", "token_lifetime_seconds: .inf"),
                    encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(path)])
    assert code == 2 and out.getvalue() == ""
    assert err.getvalue().startswith(f"error: {path}:4:27: parameters.token_lifetime_seconds")
    assert err.getvalue().count("\n") == 1


# -- the world uses them -----------------------------------------------------------------

TOPOLOGY = Topology(trusted_clusters=[TrustedClusterSpec(
    hosts=[TrustedHostSpec(name="esx-01")],
    vms=[VmSpec(name="vm-01", host="esx-01", powered_on=False)])])


def test_host_assertion_lifetime_is_the_parameter() -> None:
    for lifetime in (600, 90):
        world = World(TOPOLOGY, seed=1, params=Parameters(host_assertion_lifetime_seconds=lifetime))
        world.run(10)
        decoded = crypto.jwt_decode(world.workload_vcenter.host_assertion("esx-01"))
        assert decoded is not None
        assert decoded.claims["exp"] - decoded.claims["iat"] == lifetime


def test_vm_encrypt_takes_the_parameter() -> None:
    for seconds in (1, 45):
        world = World(TOPOLOGY, seed=1, params=Parameters(vm_encrypt_seconds=seconds))
        world.run(60)
        start = world.kernel.now
        world.perform("encrypt-vm", {"vm": "vm-01"})
        world.run(start + seconds - 0.5)
        assert world.vm_state("vm-01")["encrypted"] is False
        world.run(start + seconds + 0.5)
        assert world.vm_state("vm-01")["encrypted"] is True


def test_kmxa_never_spins_at_zero_delay() -> None:
    """Parameters that bypass validation (model_construct) still cannot make kmxa loop
    without simulated time passing: the floor in its loop holds."""
    zero = Parameters.model_construct(**{
        **Parameters().model_dump(), "reattest_period_seconds": 0.0,
        "failed_reattest_seconds": 0.0, "retry_initial_seconds": 0.0,
        "retry_max_seconds": 0.0, "renew_before_expiry_seconds": 0.0})
    world = World(TOPOLOGY, seed=1, params=zero)
    env = world.kernel.env
    steps = 0
    while env.now < 30 and steps < 200_000:  # a hot loop would exhaust the steps at T≈0
        env.step()
        steps += 1
    assert env.now >= 30, f"kmxa spun: {steps} events by T+{env.now}"
    attempts = [e for e in world.kernel.trace.events
                if e.kind == "attest.result" and e.time <= 30]
    assert 0 < len(attempts) <= 30 / MIN_ATTEST_DELAY_SECONDS + 2


# -- when trusted hosts notice a TA-side change (issue 15) --------------------------------

def _removal_world(notice: str) -> tuple[World, float]:
    """A trusted host attested with 8.0 U3 whose base image is removed at T+10m."""
    topology = Topology(trusted_clusters=[TrustedClusterSpec(hosts=[TrustedHostSpec(
        name="esx-01", release="8.0 U3")])])
    world = World(topology, seed=2, params=Parameters(ta_change_notice=notice))
    world.run(600)
    assert world.attestation_status("esx-01")["status"] == "attested"
    proc = world.perform("Remove-TrustAuthorityVMHostBaseImage", {"version": "8.0 U3"})
    world.run(world.kernel.now + 1)
    assert proc.value.ok, proc.value.message
    return world, world.kernel.now


def test_by_default_a_removed_image_is_noticed_at_the_next_scheduled_attestation() -> None:
    assert Parameters().ta_change_notice == "next_reattest"
    world, removed = _removal_world("next_reattest")
    period = world.params.reattest_period_seconds
    world.run(removed + 60)
    assert world.attestation_status("esx-01")["status"] == "attested"  # nothing shows yet
    world.run(period + 1)  # esx-01 attested at T+0: next attempt at T+reattest_period
    status = world.attestation_status("esx-01")
    assert (status["status"], status["reason"]) == ("notAttested", "untrusted_base_image")


def test_immediate_notice_fails_the_host_at_once() -> None:
    world, removed = _removal_world("immediate")
    world.run(removed + 1)
    assert world.attestation_status("esx-01")["status"] == "notAttested"


def test_policy_values_in_a_scenario() -> None:
    assert range_text("ta_change_notice") == "`next_reattest` or `immediate`"
    e = _load("ta_change_notice: soon")
    assert e.path == "parameters.ta_change_notice" and e.line == 4, str(e)
    assert "`next_reattest` or `immediate`" in str(e)
    text = SCENARIO.replace("PARAM", "ta_change_notice: immediate")
    assert load_scenario_text(text, file="p.yaml").parameters["ta_change_notice"] == "immediate"


def test_docs_say_why_the_default_is_the_next_scheduled_attestation() -> None:
    text = parameters_markdown()
    assert "## TA-side changes: when trusted hosts notice them" in text
    assert "**not in the public record**" in text and "`next_reattest`" in text
