"""Training exercises: every reference fix reaches the goal in scripted mode, and a wrong
or weakening fix fails with the reason (the issue's "done when")."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtalab.cli import main
from vtalab.errors import ScenarioError
from vtalab.scenario.model import run_scenario
from vtalab.training.exercises import exercise, exercises, load_exercise_text
from vtalab.training.session import Session

IDS = list(exercises())


def train(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str,
          lines: list[str] | str, *extra: str) -> tuple[int, str, str]:
    script = tmp_path / "fix.ps1"
    script.write_text(lines if isinstance(lines, str) else "\n".join(lines) + "\n",
                      encoding="utf-8")
    code = main(["train", name, "--commands", str(script), *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_the_documented_failure_modes_are_all_there() -> None:
    required = {"upgrade-before-import", "quick-boot-old-image-removed",
                "quick-boot-intermediate-images", "quick-booted-before-joining",
                "failed-ta-host-upgrade", "restart-kmxa", "restore-rebuilt-ta-host"}
    assert required <= set(IDS)
    assert set(IDS) & {"tpm-replaced", "sts-rotation", "kms-outage"}
    assert len(IDS) >= 8


@pytest.mark.parametrize("name", IDS)
def test_exercise_starts_broken_and_untouched_it_fails(name: str) -> None:
    ex = exercise(name)
    assert len(ex.hints) == 3 and all(h.section for h in ex.hints)
    prefix = run_scenario(ex.scenario)
    bad = [v.detail for v in prefix.verdicts if not v.ok]
    assert not bad, f"the prefix does not break the lab as intended: {bad}"
    grade = Session.start(name).grade()
    assert not grade.passed  # doing nothing is a wrong fix


@pytest.mark.parametrize("name", IDS)
def test_reference_solution_passes_in_scripted_mode(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex = exercise(name)
    code, out, err = train(capsys, tmp_path, name, ["# the reference fix", *ex.solution,
                                                    "check"])
    assert code == 0, out + err
    assert "Goal reached, trust intact." in out
    assert "Scorecard" in out and "hints used             0 of 3" in out
    for line in ex.solution:
        # the transcript is echoed after the prompt (PowerCLI's or, after ssh, ESXi's)
        assert f"]> {line}\n" in out or f":~] {line}\n" in out
    assert "digest sha256:" in out


def test_doing_nothing_fails_with_exit_1(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = train(capsys, tmp_path, "upgrade-before-import", "# nothing\n")
    assert code == 1
    assert "FAIL  goal: vm db01" in out and "Goal not reached yet." in out


@pytest.mark.parametrize("name,lines,reason", [
    ("upgrade-before-import",
     ["Set-TrustAuthorityTpm2AttestationSettings -TrustAuthorityCluster vTA "
      "-RequireCertificateValidation:$false",
      "Export-VMHostImageDb -VMHost esx-03 -FilePath x.tgz",
      "New-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster vTA -FilePath x.tgz",
      "wait-until attested esx-03", "Start-VM -VM db01"],
     "FAIL  trust-not-weakened: certificate validation of TPM endorsement keys turned off"),
    ("tpm-replaced",
     ["Set-TrustAuthorityTpm2AttestationSettings -TrustAuthorityCluster vTA "
      "-RequireEndorsementKey:$false",
      "wait-until attested esx-02", "Start-VM -VM db01"],
     "FAIL  trust-not-weakened: the registered endorsement key check turned off"),
    ("quick-boot-intermediate-images",
     ["Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster vTA "
      "| where VMHostVersion -ne 8.0.3-24022510 | "
      "Remove-TrustAuthorityVMHostBaseImage -Confirm:$false", "advance 10m"],
     "FAIL  no-base-image-removed-while-reported"),
    ("upgrade-before-import",  # a workaround, not a fix: esx-03 stays unattested
     ["Move-VM -VM db01 -Destination esx-01", "Start-VM -VM db01"],
     "FAIL  hosts-attested: esx-03 is notAttested (untrusted_base_image)"),
    ("quick-boot-old-image-removed",  # trust the removed image again: the goal forbids it
     ["New-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster vTA -FilePath 8.0.1-21495797.tgz",
      "wait-until attested esx-01", "Start-VM -VM db01"],
     "FAIL  goal-constraints: the goal says to fix it without trusting 8.0 U1 again: base "
     "image 8.0.1-21495797 imported (trusted again) at T+"),
    ("quick-boot-old-image-removed",  # re-import nothing and Quick Boot again
     ["reboot-host -VMHost esx-01 -Mode quick", "reboot-host -VMHost esx-02 -Mode quick",
      "Start-VM -VM db01"],
     "FAIL  goal: attestation esx-01: expected esx-01 attested; got notAttested (reason "
     "untrusted_base_image)"),
    ("quick-boot-intermediate-images",  # a full reboot first: esx-02 drops out meanwhile
     ["Restart-VMHost -VMHost esx-02 -Force -Confirm:$false",
      "Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage 8.0.2-22380479 -Confirm:$false"],
     "FAIL  goal-constraints: the goal says every host stays attested: esx-02 went down"),
    ("quick-boot-intermediate-images",  # db01 off "for safety" during the clean-up
     ["Stop-VM -VM db01 -Confirm:$false",
      "Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage 8.0.2-22380479 -Confirm:$false",
      "Start-VM -VM db01"],
     "FAIL  goal-constraints: the goal says db01 keeps running: VM db01 powered off"),
    ("quick-booted-before-joining",  # re-import nothing and Quick Boot again
     ["reboot-host -VMHost esx-01 -Mode quick", "reboot-host -VMHost esx-02 -Mode quick",
      "Start-VM -VM db01"],
     "FAIL  goal: attestation esx-01: expected esx-01 attested; got notAttested (reason "
     "untrusted_base_image)"),
    ("failed-ta-host-upgrade",  # patch in place instead of the runbook's roll-back
     ["Get-VMHostService -VMHost ta-esx-02 | where Key -ne kmxa | Start-VMHostService"],
     "FAIL  goal: host ta-esx-02: host ta-esx-02: version '8.0.3-24022510' (expected "
     "'8.0.2-22380479')"),
    ("failed-ta-host-upgrade",  # the runbook, plus certificate validation turned off
     [*exercise("failed-ta-host-upgrade").solution[:3],
      "Set-TrustAuthorityTpm2AttestationSettings -TrustAuthorityCluster vTA "
      "-RequireCertificateValidation:$false",
      *exercise("failed-ta-host-upgrade").solution[3:]],
     "FAIL  trust-not-weakened: certificate validation of TPM endorsement keys turned off"),
    ("restart-kmxa",  # reboot the host: kmxa comes back, but the goal said not to
     ["Restart-VMHost -VMHost esx-02 -Force -Confirm:$false", "Start-VM -VM db01"],
     "FAIL  goal-constraints: the goal says to fix it without rebooting the host: esx-02 "
     "shut down (Restart-VMHost) at T+"),
    ("restart-kmxa",  # ... or pull the plug: the same effect, another way
     ["power-loss -VMHost esx-02 -Duration 60", "advance 10m", "Start-VM -VM db01"],
     "FAIL  goal-constraints: the goal says to fix it without rebooting the host: esx-02 "
     "lost power at T+"),
    ("restore-rebuilt-ta-host",  # enable the TA cluster, restore nothing
     ["Set-TrustAuthorityCluster -TrustAuthorityCluster vTA -State Enabled", "Start-VM -VM db01"],
     "FAIL  goal: health ta_cluster/principals: ta_cluster/principals health is NONE"),
    ("restore-rebuilt-ta-host",  # the restore, plus certificate validation turned off
     ["restore-ta-config -FilePath vta-backup.json",
      "Set-TrustAuthorityTpm2AttestationSettings -TrustAuthorityCluster vTA "
      "-RequireCertificateValidation:$false",
      "wait-until attested esx-01", "Start-VM -VM db01"],
     "FAIL  trust-not-weakened: certificate validation of TPM endorsement keys turned off"),
    ("kms-server-certificate-rotated",  # a new KMIP password: the password was never it
     ["Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider -KmipServerPassword x",
      "Start-VM -VM db01"],
     "FAIL  goal: vm db01: VM db01: power_state 'poweredOff' (expected 'poweredOn')"),
    ("kms-password-rotated",  # trusting certificates again: the password was the problem
     ["$kp = Get-TrustAuthorityKeyProvider -TrustAuthorityCluster (Get-TrustAuthorityCluster)",
      "Get-TrustAuthorityKeyProviderServerCertificate -KeyProvider $kp | "
      "Add-TrustAuthorityKeyProviderServerCertificate", "Start-VM -VM db01"],
     "FAIL  goal: vm db01: VM db01: power_state 'poweredOff' (expected 'poweredOn')"),
    ("kms-password-rotated",  # the password together with a setting: PowerShell's set error
     ["Set-TrustAuthorityKeyProvider -KeyProvider vTA-KeyProvider -KmipServerPassword "
      "kms-cluster-rotated -Description rotated", "Start-VM -VM db01"],
     "FAIL  goal: vm db01: VM db01: power_state 'poweredOff' (expected 'poweredOn')"),
    ("sts-rotation",  # take the cluster out of vTA instead of trusting the new certificates
     ["Set-TrustedCluster -TrustedCluster 'Trusted Cluster' -State Disabled -Confirm:$false",
      "Start-VM -VM db01"],
     "FAIL  trust-not-weakened: Trusted cluster Trusted Cluster was disabled"),
    ("upgrade-before-import",  # switch vTA off instead of importing the new image
     ["Set-TrustAuthorityCluster -TrustAuthorityCluster vTA -State Disabled -Confirm:$false",
      "Start-VM -VM db01"],
     "FAIL  trust-not-weakened: the Trust Authority cluster was disabled"),
    ("sts-rotation",  # remove the principal check
     ["Get-TrustAuthorityPrincipal -TrustAuthorityCluster vTA "
      "| Remove-TrustAuthorityPrincipal -Confirm:$false",
      "Start-VM -VM db01"],
     "FAIL  trust-not-weakened: principal removed: vcsa-wld.lab.local"),
])
def test_weakening_or_wrong_fix_fails_with_the_reason(
        name: str, lines: list[str], reason: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = train(capsys, tmp_path, name, lines)
    assert code == 1
    assert reason in out
    assert "Goal reached, trust intact." not in out


def test_every_exercise_has_a_wrong_fix_that_fails() -> None:
    marks = test_weakening_or_wrong_fix_fails_with_the_reason.pytestmark  # type: ignore[attr-defined]
    covered = {case[0] for m in marks if m.name == "parametrize" for case in m.args[1]}
    assert covered == set(IDS)


def test_a_forbidden_effect_is_a_risky_action_of_the_line_that_caused_it() -> None:
    s = Session.start("restart-kmxa")
    s.run("host-service -VMHost esx-02 -Service kmxa -Action restart")
    assert s.entries[-1].risky == ()
    s.run("reboot-host -VMHost esx-02")
    risky = s.entries[-1].risky
    assert risky and all(r.startswith("forbidden by the goal: the goal says to fix it "
                                      "without rebooting the host: esx-02") for r in risky)
    s.run("Start-VM -VM db01")
    text = s.grade().text()
    assert "Goal reached, but not the right way: goal-constraints." in text
    assert "Risky actions: forbidden by the goal" in text and "(reboot-host -VMHost" in text


def test_the_reference_fix_keeps_the_goal_constraints() -> None:
    s = Session.start("restart-kmxa")
    for line in exercise("restart-kmxa").solution:
        s.run(line)
    finding = next(f for f in s.grade().invariants if f.name == "goal-constraints")
    assert finding.ok and "without rebooting the host" in finding.detail


FORBID_DO = """\
forbid:
  - do: [Set-TrustAuthorityTpm2AttestationSettings]
    with: {require_endorsement_keys: false}
    reason: the EK check stays on
"""


def test_an_action_rule_is_judged_before_the_verb_runs() -> None:
    ex = load_exercise_text(EXERCISE.replace("hints:", FORBID_DO + "hints:"), "demo.yaml")
    assert ex.forbid[0].do == ("Set-TrustAuthorityTpm2AttestationSettings",)
    s = Session.start(ex)
    s.run("Set-TrustAuthorityTpm2AttestationSettings -TrustAuthorityCluster vTA "
          "-RequireEndorsementKey")
    assert not any("forbidden" in r for r in s.entries[-1].risky)
    s.run("set-trustauthoritytpm2attestationsettings -trustauthoritycluster vTA "
          "-RequireEndorsementKey:$false")
    assert "forbidden by the goal: the EK check stays on " \
           "(Set-TrustAuthorityTpm2AttestationSettings)" in s.entries[-1].risky
    finding = next(f for f in s.grade().invariants if f.name == "goal-constraints")
    assert not finding.ok and finding.detail.startswith(
        "the EK check stays on: set-trustauthoritytpm2attestationsettings "
        "-trustauthoritycluster vTA -RequireEndorsementKey:$false at T+")


@pytest.mark.parametrize("rule,needle", [
    ("{effect: host-reboot, reason: r}", "unknown effect 'host-reboot'; did you mean "
                                         "'host-restart'"),
    ("{do: Restart-VMHots, reason: r}", "unknown verb 'Restart-VMHots'; did you mean "
                                        "'Restart-VMHost'"),
    ("{effect: host-restart, with: {vmhost: esx-01}, reason: r}",
     "'with' has 'vmhost', which effect host-restart does not have; did you mean 'host'"),
    ("{effect: host-restart, with: {host: esx-09}, reason: r}",
     "forbid.0.with.host: unknown host 'esx-09'; did you mean 'esx-01'"),
    ("{do: Restart-VMHost, effect: host-restart, reason: r}", "not both"),
    ("{effect: host-restart}", "reason"),
])
def test_a_bad_forbid_rule_is_a_located_error(rule: str, needle: str) -> None:
    text = EXERCISE.replace("hints:", f"forbid:\n  - {rule}\nhints:")
    with pytest.raises(ScenarioError) as info:
        load_exercise_text(text, "demo.yaml")
    assert "demo.yaml:" in str(info.value) and needle in str(info.value)


def test_risky_actions_and_locked_vms_reach_the_scorecard(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex = exercise("upgrade-before-import")
    lines = ["Start-VM -VM db01", "hint", *ex.solution]  # too early: db01 is locked again
    code, out, _ = train(capsys, tmp_path, ex.id, lines)
    assert code == 0, out
    assert "Hint 1 of 3:" in out and "(from seed: vTA administration page" in out
    assert "hints used             1 of 3" in out
    locked = next(line for line in out.splitlines() if "VMs locked on the way" in line)
    assert "db01 at T+00:" in locked
    assert f"commands used          {len(ex.solution) + 1}" in out


@pytest.mark.parametrize("argv,needle", [
    (["train", "upgrade-before-imprt"], "did you mean 'upgrade-before-import'"),
    (["train", "upgrade-before-import", "--commands", "/nonexistent/fix.ps1"],
     "cannot read the transcript"),
    (["train", "--commands", "x"], "need an EXERCISE"),
])
def test_invalid_invocations_exit_2(argv: list[str], needle: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert needle in err and "Traceback" not in out + err


@pytest.mark.parametrize("bad,needle", [
    ("Export-VMHostImgDb -VMHost esx-03 -FilePath x", "fix.ps1:3: "),
    ("Start-VM -VM 'db01", "fix.ps1:3: syntax error"),
    ("rewind yesterday", "fix.ps1:3: not a simulated time"),
    ("rewind #x", "fix.ps1:3: not a command number"),
])
def test_invalid_transcript_exits_2_before_running_anything(
        bad: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = train(capsys, tmp_path, "upgrade-before-import",
                           ["# header", "goal", bad, "check"])
    assert code == 2
    assert needle in err
    assert "PS vTA" not in out  # nothing ran


def test_listing_names_every_exercise(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 0
    out = capsys.readouterr().out
    for ex in exercises().values():
        assert f"{ex.id}  [{ex.difficulty}]" in out
        assert ex.title in out and f"source:  {ex.source}" in out


def test_hints_escalate_then_run_out_and_solution_is_shown() -> None:
    s = Session.start("restart-kmxa")
    texts = [s.run("hint").text for _ in range(3)]
    assert [t.split(":")[0] for t in texts] == ["Hint 1 of 3", "Hint 2 of 3", "Hint 3 of 3"]
    assert "/etc/init.d/kmxa restart" in texts[2] and "/etc/init.d" not in texts[0]
    assert "No more hints" in s.run("hint").text
    assert s.hints_used == 3
    assert "ssh root@esx-02\n  /etc/init.d/kmxa restart" in s.run("solution").text
    assert "esx-02" in s.run("goal").text


EXERCISE = """\
id: demo
title: Demo
difficulty: beginner
teaches: t
source: s
goal: g
scenario:
  name: demo
  topology:
    trusted_clusters:
      - hosts: [{name: esx-01}]
        vms: [{name: db01, host: esx-01, encrypted: true}]
check:
  - vm: {vm: db01, power_state: poweredOn}
hints:
  - {text: a, section: s1}
  - {text: b, section: s2}
  - {text: c, section: s3}
solution: [Get-VM]
"""


def test_a_valid_exercise_file_loads() -> None:
    ex = load_exercise_text(EXERCISE, "demo.yaml")
    assert ex.id == "demo" and ex.scenario.topology.trusted_clusters[0].hosts[0].name == "esx-01"


@pytest.mark.parametrize("old,new,needle", [
    ("difficulty: beginner", "difficulty: easy", "demo.yaml:3:13: difficulty:"),
    ("  - {text: c, section: s3}\n", "", "hints"),
    ("vm: {vm: db01, power_state", "vm: {vm: db02, power_state", "unknown VM 'db02'"),
    ("      - hosts: [{name: esx-01}]", "      - hostz: [{name: esx-01}]",
     "demo.yaml:11:9: scenario.topology.trusted_clusters.0.hostz: unknown key 'hostz'; "
     "did you mean 'hosts'"),
    ("solution: [Get-VM]", "solution: [Get-VM]\nhint: x", "unknown key 'hint'"),
])
def test_a_bad_exercise_file_is_a_located_error(old: str, new: str, needle: str) -> None:
    assert old in EXERCISE
    with pytest.raises(ScenarioError) as info:
        load_exercise_text(EXERCISE.replace(old, new), "demo.yaml")
    assert needle in str(info.value)


def test_the_trainer_guide_names_every_exercise() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text(
        encoding="utf-8")
    for name in IDS:
        assert f"`{name}`" in guide
