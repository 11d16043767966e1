"""The operator sees only what the real tools show (issue 11, "the fog of war").

Every exercise and every bundled scenario is searched in its operator-facing output --
`vtalab run`'s timeline without --reveal, the exercise's prefix timeline, the shell's
objects and look-around commands, and the reference fix as the transcript shows it -- for
what only the lab knows: a measured version, the Quick Boot flag by its vsish name, a base
image "still measured by" a host, a reason's advice (which cmdlet fixes it: no real tool
says). The lab's own views (`lab status`, `--reveal`, explain,
the debrief) are where those facts go, and they are checked to still have them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vtalab.cli.app import main
from vtalab.domain.reasons import REASONS, Reason
from vtalab.scenario.model import load_scenario_text, run_scenario
from vtalab.scenario.timeline import LAB_MARK, render_run, render_timeline
from vtalab.training.exercises import exercise, exercises
from vtalab.training.session import Session

SCENARIOS = sorted(Path("scenarios").glob("*.yaml"))
#: what an operator's tools never print (case-insensitive)
OMNISCIENT = re.compile(r"measured ?version|measured_version|isBootLoadESX|still measured by|"
                        r"measured ESXi|measurements describe|QuickBooted|"
                        r"TPM measured", re.IGNORECASE)


#: what to do about a failure (vtalab.domain.reasons: advice), for explain only
ADVICE = [i.advice for i in REASONS.values() if i.advice]


def leaks(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if OMNISCIENT.search(line) or any(a in line for a in ADVICE)]


def test_advice_is_kept_for_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(ADVICE) >= 5  # the searches below would otherwise prove nothing
    main(["explain", "quick-booted-before-joining", "--host", "esx-01", "--no-fixes"])
    shown = capsys.readouterr().out
    assert "advice      " + REASONS[Reason.UNTRUSTED_BASE_IMAGE].advice in shown


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_timeline_hides_what_only_the_lab_knows(path: Path) -> None:
    result = run_scenario(load_scenario_text(path.read_text(encoding="utf-8"),
                                             file=str(path)))
    assert leaks(render_run(result)) == []
    assert leaks(render_run(result, logs=True)) == []


def test_reveal_shows_the_lab_view_marked() -> None:
    path = Path("scenarios/quick-boot-upgrade.yaml")
    result = run_scenario(load_scenario_text(path.read_text(encoding="utf-8"),
                                             file=str(path)))
    revealed = render_run(result, reveal=True)
    assert "lab view (--reveal)" in revealed
    lab_lines = [x for x in revealed.splitlines() if LAB_MARK in x]
    assert lab_lines and leaks("\n".join(lab_lines))
    assert all(LAB_MARK in x for x in leaks(revealed))  # every leak is marked [lab]
    plain = render_timeline(result.world.kernel.trace)
    assert not any(LAB_MARK in x for x in plain)


def test_vtalab_run_reveal_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "scenarios/quick-boot-upgrade.yaml"]) == 0
    plain = capsys.readouterr().out
    assert main(["run", "--reveal", "scenarios/quick-boot-upgrade.yaml"]) == 0
    revealed = capsys.readouterr().out
    assert leaks(plain) == [] and leaks(revealed)


LOOK = ["Get-VMHost", "Get-VMHost | select *", "Get-VM", "Get-VM | select *", "hosts",
        "hosts | select *", "tasks -All", "events -All", "files",
        "Get-TrustAuthorityVMHostBaseImage | select *"]


@pytest.mark.parametrize("name", list(exercises()))
def test_exercise_views_hide_what_only_the_lab_knows(name: str) -> None:
    ex = exercise(name)
    s = Session.start(name)
    seen = [s.intro(), s.run("goal").text,
            "\n".join(render_timeline(s.world.kernel.trace)),
            "\n".join(render_timeline(s.world.kernel.trace, logs=True))]
    lines = list(LOOK)
    lines += [f"status {h}" for h in s.world.hosts]
    lines += [f"status {v}" for v in s.world.vms]
    from vtalab.scenario.expect import LOG_NAMES
    lines += [f"log {h} {log} -All" for h in s.world.hosts for log in LOG_NAMES]
    for line in lines:
        seen.append(s.run(line).text)
    for line in ex.solution:  # the reference fix as the operator sees it run
        seen.append(s.run(line).text)
    found = [x for text in seen for x in leaks(text)]
    assert found == []
    lab = s.run("lab status").text
    assert lab.startswith("[lab view]") and "MeasuredVersion" in lab


def test_the_host_itself_says_whether_it_was_quick_booted() -> None:
    s = Session.start("quick-boot-old-image-removed")
    assert s.run("ssh root@esx-01").ok and s.prompt() == "[root@esx-01:~] "
    assert s.run("vsish -e get /system/loadESX/isBootLoadESX").text == "1"
    assert "without a platform reset" in s.run("tail -n 5 /var/log/loadESX.log").text
    version = s.run("esxcli system version get").text
    assert "Version: 8.0.2" in version and "Build: Releasebuild-22380479" in version
    assert s.run("/etc/init.d/kmxa status").text == "kmxa is running"
    r = s.run("/etc/init.d/kmxa restart")
    assert r.ok and r.text == "kmxa stopped\nkmxa started"
    assert "kmxa started" in s.run("cat /var/log/kmxa.log").text
    assert "not found" in s.run("Get-VMHost").text  # not PowerShell here
    assert s.run("exit").text == "Connection to esx-01 closed."
    assert s.prompt().startswith("PS vTA [")
    assert s.run("Get-VMHost esx-02").ok
    s.run("ssh root@esx-02")
    assert s.run("vsish -e get /system/loadESX/isBootLoadESX").text == "1"
    s.run("exit")
    s.run("set-quick-boot -Enabled $false")
    s.run("Restart-VMHost -VMHost esx-02 -Force -Confirm:$false")
    s.run("ssh root@esx-02")
    assert s.run("vsish -e get /system/loadESX/isBootLoadESX").text == "0"
    assert not s.run("cat /etc/passwd").ok


def test_a_transcript_may_log_in_to_a_host(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "t.ps1"
    script.write_text("ssh root@esx-02\nvsish -e get /system/loadESX/isBootLoadESX\nexit\n"
                      "Get-VMHost esx-02\n", encoding="utf-8")
    assert main(["train", "restart-kmxa", "--commands", str(script)]) == 1
    out = capsys.readouterr().out
    assert "[root@esx-02:~] vsish -e get /system/loadESX/isBootLoadESX\n0\n" in out
    script.write_text("ssh root@esx-02\nGet-VMHost\n", encoding="utf-8")
    assert main(["train", "restart-kmxa", "--commands", str(script)]) == 2
    assert "t.ps1:2: -sh: Get-VMHost: not found" in capsys.readouterr().err
