"""The invariant registry: each invariant catches a violation and stays quiet on a clean run.

Violations are built two ways: by running the lab into the situation an operator could
create (the Quick Boot trap, a stale TA host, a forced reboot ...), and, where the lab
itself prevents the breach, by sabotaging the component that should prevent it (attestd
accepting any TPM) or by forging the trace event it would have written.
"""

from __future__ import annotations

import textwrap
from functools import cache
from pathlib import Path

import pytest

from vtalab.core.parameters import Parameters
from vtalab.errors import InputError
from vtalab.invariants import (
    INVARIANTS,
    KINDS,
    LIVENESS_SETTLE_SECONDS,
    Violation,
    check_all,
    check_liveness,
    invariants_markdown,
    liveness_bound,
)
from vtalab.scenario.model import RunResult, load_scenario, load_scenario_text, run_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def run_text(text: str, **kw: object) -> RunResult:
    return run_scenario(load_scenario_text(textwrap.dedent(text)), **kw)  # type: ignore[arg-type]


@cache
def clean_run() -> RunResult:
    """The documented rolling upgrade, run long enough for liveness (shared, read-only)."""
    scenario = load_scenario(str(SCENARIOS / "best-practice-upgrade.yaml"))
    return run_scenario(scenario.model_copy(update={"settle": LIVENESS_SETTLE_SECONDS}))


@cache
def quick_boot_run() -> RunResult:
    scenario = load_scenario(str(SCENARIOS / "quick-boot-upgrade.yaml"))
    return run_scenario(scenario.model_copy(update={"settle": LIVENESS_SETTLE_SECONDS}))


def names(violations: list[Violation]) -> list[str]:
    return [v.invariant for v in violations]


TWO_HOSTS = """
    name: two-hosts
    seed: 5
    topology:
      ta_cluster:
        hosts: [{name: ta-esx-01}, {name: ta-esx-02}]
        base_images: ["8.0 U2", "8.0 U3"]
      trusted_clusters:
        - hosts: [{name: esx-01}, {name: esx-02}]
          vms: [{name: db01, host: esx-01, encrypted: true}]
"""


# -- the registry ----------------------------------------------------------------------

def test_registry_entries_are_complete():
    required = {"no-key-without-token", "attested-only-if-trusted",
                "encrypted-vm-availability", "running-encrypted-vm-keeps-running",
                "no-base-image-removed-while-reported", "ta-objects-consistent-at-end",
                "documented-upgrade-order", "liveness-reattested"}
    assert required <= set(INVARIANTS)
    for name, inv in INVARIANTS.items():
        assert inv.name == name and name == name.lower() and " " not in name
        assert inv.kind in KINDS
        assert inv.statement.endswith(".") and inv.source
        assert callable(inv.check) and callable(inv.at_risk)
    assert INVARIANTS["documented-upgrade-order"].kind == "advice"
    assert INVARIANTS["liveness-reattested"].kind == "liveness"
    assert INVARIANTS["ta-objects-consistent-at-end"].kind == "final"


def test_clean_rolling_upgrade_violates_nothing_even_advice():
    result = clean_run()
    assert result.ok
    assert check_all(result.world, include_advice=True) == []
    risk = {n: inv.at_risk(result.world) for n, inv in INVARIANTS.items()}
    # The run really put the invariants at risk: keys, upgrades, moves, a removal.
    assert risk["no-key-without-token"] > 0
    assert risk["documented-upgrade-order"] == 5
    assert risk["no-base-image-removed-while-reported"] == 1
    assert risk["running-encrypted-vm-keeps-running"] >= 2
    assert risk["attested-only-if-trusted"] > 0


def test_check_all_sorts_filters_and_rejects_unknown_names():
    world = quick_boot_run().world
    found = check_all(world)
    assert found == sorted(found, key=lambda v: (v.time, v.invariant, v.subject, v.detail))
    assert "documented-upgrade-order" not in names(found)
    assert set(names(check_all(world, ["liveness-reattested"]))) == {"liveness-reattested"}
    with pytest.raises(InputError, match="did you mean 'no-key-without-token'"):
        check_all(world, ["no-key-without-tokens"])


def test_violation_text_names_time_and_subject():
    v = Violation("x", 3723.0, "esx-01", "went wrong")
    assert str(v) == "T+01:02:03 esx-01: went wrong"


# -- no-key-without-token --------------------------------------------------------------

def test_key_released_without_own_valid_token_is_caught():
    # a run of its own: the forged releases below stay in its trace and its folds
    scenario = load_scenario(str(SCENARIOS / "best-practice-upgrade.yaml"))
    world = run_scenario(scenario).world
    assert INVARIANTS["no-key-without-token"].check(world) == []
    real = next(e.fields for e in world.kernel.trace
                if e.kind == "key.release" and e.fields.get("ok"))
    owner = real["host"]
    other = "esx-02" if owner != "esx-02" else "esx-01"
    head, body, _ = real["token"].split(".")
    unsigned = f"{head}.{body}."
    # Forge what a broken kmxd would write (the lab's kmxd refuses all three).
    for host, token, now in ((other, real["token"], real["now_epoch"]),
                             (owner, real["token"], real["token_exp"] + 5),
                             (owner, unsigned, real["now_epoch"])):
        world.kernel.record("trust-authority/ta-esx-01/kmxd", "key.release", host=host,
                            key_id="k" * 32, ok=True, token=token, group=real["group"],
                            now_epoch=now)
    found = INVARIANTS["no-key-without-token"].check(world)
    assert [v.subject for v in found] == [other, owner, owner]
    assert f"issued to {owner}" in found[0].detail
    assert "had expired 5 s earlier" in found[1].detail
    assert "not signed by any Attestation Service" in found[2].detail


# -- attested-only-if-trusted ----------------------------------------------------------

def test_stale_ta_host_attesting_a_removed_image_is_caught():
    # ta-esx-02 is down while 8.0 U3 is removed; it comes back with its stale copy and
    # attests esx-01, upgraded to 8.0 U3 with a full boot, which ta-esx-01 rightly refuses.
    result = run_text(TWO_HOSTS + """
    steps:
      - {at: 5m, do: ta-host-down, with: {vmhost: ta-esx-02}}
      - {do: Remove-TrustAuthorityVMHostBaseImage, with: {version: "8.0 U3"}}
      - {do: Start-VMHost, with: {vmhost: ta-esx-02}}
      - {do: upgrade-host, with: {vmhost: esx-01, release: "8.0 U3", reboot: full}}
    """)
    found = INVARIANTS["attested-only-if-trusted"].check(result.world)
    assert found and {v.subject for v in found} == {"esx-01"}
    assert "ta-esx-02/attestd reported esx-01 attested" in found[0].detail
    assert "measured ESXi 8.0.3-24022510, which is not a trusted base image" in found[0].detail
    assert "ta-objects-consistent-at-end" in names(check_all(result.world))


def test_untrusted_tpm_attested_by_a_sabotaged_attestd_is_caught(monkeypatch):
    from vtalab.domain import attestation

    monkeypatch.setattr(attestation._Evaluation, "tpm_identity", lambda self: None)
    result = run_text("""
    name: tpm
    seed: 5
    topology:
      trusted_clusters:
        - hosts: [{name: esx-01, tpm: {ek_certificate: false}}]
    steps:
      - {at: 5m, do: tpm-replaced, with: {vmhost: esx-01}}
    """)
    found = INVARIANTS["attested-only-if-trusted"].check(result.world)
    assert found and all(v.subject == "esx-01" for v in found)
    assert "is not a registered endorsement key" in found[0].detail
    assert found[0].time > 300


def test_attested_only_if_trusted_quiet_on_quick_boot_trap():
    # Quick Boot: the host runs 8.0 U2 but measured 8.0 U1, which was trusted when attested.
    assert INVARIANTS["attested-only-if-trusted"].check(quick_boot_run().world) == []
    assert INVARIANTS["attested-only-if-trusted"].check(clean_run().world) == []


# -- encrypted VMs ---------------------------------------------------------------------

def test_encrypted_vm_refused_power_on_is_caught():
    found = INVARIANTS["encrypted-vm-availability"].check(quick_boot_run().world)
    assert [(v.subject, v.time) for v in found] == [("db01", 88 * 60.0)]
    assert "refused power-on on esx-01 (untrusted_base_image)" in found[0].detail
    assert INVARIANTS["encrypted-vm-availability"].check(clean_run().world) == []


def test_refused_move_and_host_down_start_are_caught():
    result = run_text(TWO_HOSTS + """
    steps:
      - {at: 5m, do: Stop-VM, with: {vm: db01}}
      - {do: Stop-VMHost, with: {vmhost: esx-01, force: true}}
      - {do: Start-VM, with: {vm: db01}, expect_error: host_down}
      - {do: Start-VMHost, with: {vmhost: esx-01}}
      - {do: Start-VM, with: {vm: db01}}
      - {do: set-vmhost, with: {vmhost: esx-02, state: Maintenance}}
      - {do: Move-VM, with: {vm: db01, destination: esx-02}, expect_error: host_unavailable}
    """)
    found = INVARIANTS["encrypted-vm-availability"].check(result.world)
    assert [v.detail for v in found] == [
        "Start-VM of encrypted VM db01 was refused (host_down)",
        "Move-VM of encrypted VM db01 to esx-02 was refused (host_unavailable)"]


def test_encrypted_vm_stopped_by_a_forced_reboot_is_caught():
    result = run_text(TWO_HOSTS + """
    steps:
      - {at: 5m, do: Restart-VMHost, with: {vmhost: esx-01, force: true}}
      - {do: Stop-VM, with: {vm: db01}, expect_error: null}
    """)
    found = INVARIANTS["running-encrypted-vm-keeps-running"].check(result.world)
    assert [(v.subject, v.time) for v in found] == [("db01", 300.0)]
    assert "stopped on esx-01 because of host reboot" in found[0].detail


def test_operator_stop_is_not_a_violation():
    world = quick_boot_run().world  # db01 is stopped there by Stop-VM
    assert INVARIANTS["running-encrypted-vm-keeps-running"].check(world) == []
    assert INVARIANTS["running-encrypted-vm-keeps-running"].at_risk(world) >= 1


# -- base images -----------------------------------------------------------------------

def test_quick_boot_trap_is_caught():
    found = INVARIANTS["no-base-image-removed-while-reported"].check(quick_boot_run().world)
    assert [(v.subject, v.time) for v in found] == [("8.0.1-21495797", 27 * 60.0)]
    # esx-01 was Quick Booted to a newer release, esx-02 still runs it (full boot).
    assert ("esx-01 still reports it: its last full boot ran 8.0.1-21495797 and the Quick "
            "Boot since did not re-measure") in found[0].detail
    assert "esx-02 still reports it: its last boot was a full boot of 8.0.1-21495797" \
        in found[0].detail


def test_trap_sentence_names_quick_boot_only_when_one_happened() -> None:
    """Removing the image hosts booted fully (no Quick Boot at all) says so, not 'a Quick
    Boot does not re-measure' (issue 16: the sentence comes from what happened)."""
    text = """
name: remove-running-image
seed: 1
topology:
  trusted_clusters:
    - hosts: [{name: esx-01, release: "8.0 U2"}]
steps:
  - at: 5m
    do: Remove-TrustAuthorityVMHostBaseImage
    with: {version: "8.0 U2"}
"""
    world = run_scenario(load_scenario_text(text)).world
    found = INVARIANTS["no-base-image-removed-while-reported"].check(world)
    assert len(found) == 1
    detail = found[0].detail
    assert "esx-01 still reports it: its last boot was a full boot of 8.0.2-22380479" in detail
    assert "Quick Boot" not in detail
    assert INVARIANTS["no-base-image-removed-while-reported"].check(clean_run().world) == []


def test_trap_sentence_forgets_a_quick_boot_once_a_full_boot_followed() -> None:
    """A host Quick Booted into 8.0 U2 and then rebooted fully measures 8.0 U2 because of
    that full boot: removing 8.0 U2 then says so, not that a Quick Boot did not
    re-measure (the count of Quick Boots since the last full boot starts again at 0)."""
    text = """
name: quick-then-full-then-remove
seed: 1
topology:
  trusted_clusters:
    - quick_boot: true
      hosts: [{name: esx-01, release: "8.0 U1"}]
steps:
  - {id: upgrade, at: 10m, do: upgrade-host, with: {vmhost: esx-01, release: "8.0 U2"}}
  - {do: Export-VMHostImageDb, with: {vmhost: esx-01, file: esx-01-imgdb.tgz}}
  - {do: New-TrustAuthorityVMHostBaseImage, with: {file: esx-01-imgdb.tgz}}
  - {do: set-quick-boot, with: {enabled: false}}
  - {do: Restart-VMHost, with: {vmhost: esx-01, force: true}}
  - {after: 1m, do: Remove-TrustAuthorityVMHostBaseImage, with: {version: "8.0 U2"}}
"""
    world = run_scenario(load_scenario_text(text)).world
    modes = [e.fields["mode"] for e in world.kernel.trace if e.kind == "host.boot.complete"]
    assert modes == ["quick", "full"]
    found = INVARIANTS["no-base-image-removed-while-reported"].check(world)
    assert len(found) == 1
    detail = found[0].detail
    assert "esx-01 still reports it: its last boot was a full boot of 8.0.2" in detail
    assert "Quick Boot" not in detail


def test_refused_removal_is_not_a_removal():
    # Both TA hosts down: the removal is refused (ta_unreachable) and nothing was removed.
    result = run_text(TWO_HOSTS + """
    steps:
      - {at: 5m, do: ta-host-down, with: {vmhost: ta-esx-01}}
      - {do: ta-host-down, with: {vmhost: ta-esx-02}}
      - {do: Remove-TrustAuthorityVMHostBaseImage, with: {version: "8.0 U2"},
         expect_error: ta_unreachable}
    """)
    assert result.steps[2].error == "ta_unreachable"
    assert INVARIANTS["no-base-image-removed-while-reported"].check(result.world) == []
    assert INVARIANTS["no-base-image-removed-while-reported"].at_risk(result.world) == 0


def test_scenario_invariant_expectation_fails_on_the_quick_boot_steps():
    source = (SCENARIOS / "quick-boot-upgrade.yaml").read_text(encoding="utf-8")
    body = source[source.index("topology:"):source.index("expect:")]
    body = body.replace("    expect_error: untrusted_base_image\n", "")
    text = ("name: trap\nseed: 7\n" + body
            + "expect:\n  - invariant: no-base-image-removed-while-reported\n"
            + "  - invariant: no-key-without-token\n")
    result = run_scenario(load_scenario_text(text))
    by_label = {v.label: v for v in result.verdicts}
    trap = by_label["invariant no-base-image-removed-while-reported at end"]
    assert not trap.ok
    assert "removed while esx-01 still reports it" in trap.detail
    assert by_label["invariant no-key-without-token at end"].ok


def test_unknown_invariant_in_a_scenario_names_the_nearest():
    from vtalab.errors import ScenarioError

    with pytest.raises(ScenarioError, match="did you mean 'no-key-without-token'"):
        load_scenario_text(textwrap.dedent(TWO_HOSTS) + "expect:\n"
                           "  - invariant: no-key-without-tokn\n")


# -- TA objects ------------------------------------------------------------------------

def test_re_added_ta_host_without_objects_is_caught_at_the_end():
    result = run_text(TWO_HOSTS + """
    steps:
      - {at: 5m, do: remove-ta-host, with: {vmhost: ta-esx-02}}
      - {do: add-ta-host, with: {vmhost: ta-esx-02}}
    """)
    found = INVARIANTS["ta-objects-consistent-at-end"].check(result.world)
    assert "ta_cluster/base_images" in {v.subject for v in found}
    base = next(v for v in found if v.subject == "ta_cluster/base_images")
    assert base.time == result.end
    assert ("ta-esx-01 (8.0.2-22380479, 8.0.3-24022510) vs ta-esx-02 (no base image)"
            in base.detail)
    assert INVARIANTS["ta-objects-consistent-at-end"].at_risk(result.world) == 2
    assert INVARIANTS["ta-objects-consistent-at-end"].check(clean_run().world) == []


# -- advice ----------------------------------------------------------------------------

def test_upgrade_order_warnings_say_which_rule():
    result = run_text(TWO_HOSTS + """
    steps:
      - {id: early, at: 5m, do: upgrade-host, with: {vmhost: esx-01, release: "8.0 U3"}}
      - {id: ta, do: upgrade-host, with: {vmhost: ta-esx-01, release: "8.0 U3"}}
      - {id: unimported, do: upgrade-host, with: {vmhost: esx-02, release: "8.0 U3b"}}
      - {id: next, do: upgrade-host, with: {vmhost: esx-01, release: "8.0 U3b"}}
    """)
    found = check_all(result.world, ["documented-upgrade-order"])
    text = "\n".join(v.detail for v in found)
    assert "TA host ta-esx-01 upgraded (step 'ta') after trusted host esx-01" in text
    assert ("trusted host esx-02 upgraded (step 'unimported') to 8.0.3-24280767 before "
            "that version was imported") in text
    assert "esx-01 upgraded (step 'next') while esx-02 is not back in service" in text
    assert len(found) == 4  # esx-01 to 8.0 U3b is not imported either
    assert "documented-upgrade-order" not in names(check_all(result.world))  # advice only


# -- liveness --------------------------------------------------------------------------

def test_liveness_bound_and_settle_time():
    p = Parameters()
    assert liveness_bound(p) == 2 * p.failed_reattest_seconds + p.full_boot_seconds
    assert LIVENESS_SETTLE_SECONDS == liveness_bound(p) == 1140
    assert liveness_bound(Parameters(full_boot_seconds=100)) == 700


def test_host_never_attested_again_is_caught_with_its_reason():
    found = INVARIANTS["liveness-reattested"].check(quick_boot_run().world)
    assert [v.subject for v in found] == ["esx-02"]
    assert "not attested again within 1140 s" in found[0].detail
    assert "notAttested (untrusted_base_image)" in found[0].detail
    assert INVARIANTS["liveness-reattested"].check(clean_run().world) == []


def test_run_stopped_too_early_says_how_much_longer():
    scenario = load_scenario(str(SCENARIOS / "quick-boot-upgrade.yaml"))
    world = run_scenario(scenario).world  # default settle (600 s) < the bound
    found = check_liveness(world)
    assert [v.subject for v in found] == ["esx-02"]
    assert "the run stopped before the liveness deadline" in found[0].detail
    assert "run at least 540 s longer" in found[0].detail
    # A generous explicit bound turns the same run into "not enough evidence" too.
    assert "run at least" in check_liveness(world, bound=10_000)[0].detail


def test_host_attested_again_after_a_healed_partition_is_live():
    result = run_text(TWO_HOSTS + f"""
    settle: {LIVENESS_SETTLE_SECONDS}
    steps:
      - {{at: 5m, do: network-partition, with: {{vmhost: esx-02, duration: 600}}}}
    """)
    assert INVARIANTS["liveness-reattested"].check(result.world) == []
    assert INVARIANTS["liveness-reattested"].at_risk(result.world) >= 2


def test_invariants_doc_lists_every_invariant():
    text = invariants_markdown()
    for name in INVARIANTS:
        assert f"`{name}`" in text
    assert "LIVENESS_SETTLE_SECONDS" in text
