"""Sessions: save/resume across processes (same trace digest), rewind and what-if, and
the debrief (terminal and self-contained HTML)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vtalab.cli import main
from vtalab.training.debrief import STATUS_COLOURS, attestation_lanes, debrief_html
from vtalab.training.exercises import exercise
from vtalab.training.session import Session, parse_sim_time

REMOVE = "Remove-TrustAuthorityVMHostBaseImage -VMHostBaseImage {} -Confirm:$false"
REMOVE_U1 = REMOVE.format("8.0.1-21495797")
REMOVE_U2 = REMOVE.format("8.0.2-22380479")


def digest(session: Session) -> str:
    return str(session.world.kernel.trace.digest())


def solved(name: str, upto: int | None = None) -> Session:
    s = Session.start(name)
    for line in exercise(name).solution[:upto]:
        assert s.run(line).ok, line
    return s


def test_a_saved_session_resumes_in_another_process_with_the_same_digest(
        tmp_path: Path) -> None:
    s = solved("quick-boot-old-image-removed", upto=2)
    s.run("hint")
    saved = tmp_path / "session.json"
    assert "session saved" in s.run(f"save {saved}").text
    doc = json.loads(saved.read_text())
    assert doc["version"] == 1 and doc["exercise"] == "quick-boot-old-image-removed"
    assert [c["line"] for c in doc["commands"]] == [
        "set-quick-boot -Enabled $false",
        "Restart-VMHost -VMHost esx-01 -Force -Confirm:$false", "hint"]
    assert doc["commands"][1]["time"] > doc["commands"][0]["time"] - 1e-9
    empty = tmp_path / "empty.ps1"
    empty.write_text("", encoding="utf-8")
    env = dict(os.environ, PYTHONHASHSEED="123")
    proc = subprocess.run([sys.executable, "-m", "vtalab", "train", "--resume", str(saved),
                           "--commands", str(empty)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr  # not solved yet
    assert f"digest sha256:{digest(s)}" in proc.stdout
    assert "hints used             1 of 3" not in proc.stdout  # scorecard only on success
    # ... and finishing it there reaches the goal
    rest = tmp_path / "rest.ps1"
    rest.write_text("\n".join(exercise("quick-boot-old-image-removed").solution[2:]) + "\n",
                    encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "vtalab", "train", "--resume", str(saved),
                           "--commands", str(rest)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "hints used             1 of 3" in proc.stdout


def test_rewind_then_what_if() -> None:
    s = Session.start("quick-boot-intermediate-images")
    fresh = digest(s)
    start = s.now
    s.run(REMOVE_U1)  # the trap
    s.run("advance 10m")
    assert not s.grade().passed
    reply = s.run(f"rewind T+{int(start // 3600):02d}:{int(start % 3600 // 60):02d}:00")
    assert reply.session is not None and "replayed 0 of 2 commands" in reply.text
    back = reply.session
    assert back.now == start and digest(back) == fresh
    back.run(REMOVE_U2)
    assert back.grade().passed


def test_rewind_replays_the_log_up_to_the_time_and_waits_to_it() -> None:
    s = solved("quick-boot-old-image-removed")
    first, reboot = s.entries[0], s.entries[1]
    # during the first reboot: the commands typed before are replayed (a command runs to
    # its end, so the rebuilt lab stands where that reboot finished)
    back = s.rewound(reboot.time + 1)
    assert [e.line for e in back.entries if e.kind == "command"] == [
        first.line, reboot.line]
    assert back.now == reboot.end
    # beyond the last command: time passes to the target, and that is logged too
    later = s.now + 600
    ahead = s.rewound(later)
    assert ahead.now == later and ahead.entries[-1].kind == "advance"
    resumed = Session.from_document(json.loads(ahead.to_json()))
    assert digest(resumed) == digest(ahead)
    assert "(the last of them ended after" in s.run(f"rewind {reboot.time + 1}").text


@pytest.mark.parametrize("text,seconds", [("T+00:30:00", 1800.0), ("T+1d 01:00:00", 90000.0),
                                          ("30m", 1800.0), ("1h30m", 5400.0)])
def test_sim_times(text: str, seconds: float) -> None:
    assert parse_sim_time(text) == seconds


@pytest.mark.parametrize("doc,needle", [
    ("{", "s.json:1:2: not valid JSON"),
    ('{"version": 9, "exercise": "restart-kmxa", "seed": 1, "commands": []}', "version"),
    ('{"version": 1, "exercise": "restart-kmx", "seed": 1, "commands": []}',
     "did you mean 'restart-kmxa'"),
    ('{"version": 1, "exercise": "restart-kmxa", "seed": 1, "commands": [{"line": 3}]}',
     "commands[0]"),
    ('{"version": 1, "exercise": "restart-kmxa", "seed": 16, "commands": '
     '[{"time": 5, "kind": "command", "line": "Get-VM"}]}', "was issued at T+00:00:05"),
])
def test_a_bad_saved_session_exits_2(doc: str, needle: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.json"
    path.write_text(doc, encoding="utf-8")
    assert main(["train", "--resume", str(path)]) == 2
    out, err = capsys.readouterr()
    assert needle in err and "Traceback" not in out + err


def test_debrief_text_interleaves_commands_events_and_logs() -> None:
    s = solved("upgrade-before-import")
    text = s.run("debrief").text
    lines = text.splitlines()
    cmd = next(i for i, line in enumerate(lines) if "PS> New-TrustAuthorityVMHostBaseImage" in line)
    after = "\n".join(lines[cmd:])
    assert "Add trusted ESXi base image" in after  # what the command caused comes after it
    assert "[kmxa.log]" in text and "attestation by ta-esx-01/attestd: passed" in after
    assert "Goal reached, trust intact." in text
    assert lines[cmd].startswith("T+00:")


def test_html_debrief_is_self_contained_with_host_lanes(tmp_path: Path) -> None:
    s = Session.start("quick-boot-old-image-removed")
    s.run("Start-VM -VM db01")  # refused: locked
    for line in exercise("quick-boot-old-image-removed").solution:
        s.run(line)
    out = tmp_path / "debrief.html"
    assert "debrief written" in s.run(f"debrief --html {out}").text
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and not re.search(r"\b(src|href)=", page)
    assert "<style>" in page and "<svg" in page
    for host in ("esx-01", "esx-02"):  # one lane per trusted host
        assert f'class="lane">{host}</text>' in page
    statuses = set(re.findall(r'data-status="(\w+)"', page))
    assert {"attested", "notAttested", "booting"} <= statuses
    for _colour, label in STATUS_COLOURS.values():
        assert label in page
    assert STATUS_COLOURS["notAttested"][0] in page
    assert "PS&gt; Restart-VMHost -VMHost esx-01 -Force" in page  # the trainee's commands
    assert "trainee takes over" in page
    assert "The virtual machine is locked" in page
    assert page == debrief_html(s)  # byte-stable


def test_attestation_lanes_follow_the_story() -> None:
    s = solved("quick-boot-old-image-removed")
    lane = attestation_lanes(s)["esx-01"]
    states = [seg.status for seg in lane]
    # attested at first, failed after the removal, booting, attested after the full boot
    assert states[0] == "attested" and states[-1] == "attested"
    assert states.index("notAttested") < states.index("booting", states.index("notAttested"))
    assert all(a.end == b.start for a, b in zip(lane, lane[1:], strict=False))
    assert lane[-1].end == s.now


def test_rewind_by_command_number_equals_a_session_that_ran_only_those() -> None:
    # most of these take no simulated time: "rewind TIME" cannot tell them apart
    lines = ["$vTA = Get-TrustAuthorityCluster -Name vTA",
             "Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster $vTA | select *",
             REMOVE_U1,  # the trap
             "advance 10m"]
    s = Session.start("quick-boot-intermediate-images")
    for line in lines[:2]:
        s.run(line)
    s.run("hint")
    for line in lines[2:]:
        s.run(line)
    history = s.run("history").text
    assert "3 Remove-TrustAuthorityVMHostBaseImage" in " ".join(history.split())
    reply = s.run("rewind #3")
    assert reply.session is not None, reply.text
    assert reply.text.startswith("Rewound to just before command #3 "
                                 "(Remove-TrustAuthorityVMHostBaseImage")
    assert "replayed 2 of 5 commands" in reply.text  # "history" is #5
    back = reply.session
    fresh = Session.start("quick-boot-intermediate-images")
    for line in lines[:2]:
        fresh.run(line)
    assert digest(back) == digest(fresh) and back.now == fresh.now
    assert back.hints_used == 1 and back.state.variables["vTA"].get("Name") == "vTA Cluster"
    assert [e.line for e in back.entries if e.kind == "command"] == lines[:2]
    back.run(REMOVE_U2)  # what-if
    assert back.grade().passed
    assert digest(s.run("rewind #1").session) == digest(  # type: ignore[union-attr]
        Session.start("quick-boot-intermediate-images"))


@pytest.mark.parametrize("arg,needle", [("#0", "no command #0"), ("#5", "#1 to #4"),
                                        ("#x", "not a command number")])
def test_rewind_to_a_command_that_does_not_exist_changes_nothing(arg: str, needle: str) -> None:
    s = Session.start("restart-kmxa")
    for line in ["Get-VM", "Get-VMHost", "hosts", "Get-VMHost esx-02"]:
        s.run(line)
    before = digest(s)
    reply = s.run(f"rewind {arg}")
    assert not reply.ok and reply.session is None and needle in reply.text
    assert digest(s) == before


def test_debrief_keeps_the_history_the_rewinds_and_what_they_undid() -> None:
    """Issue 16: the history that broke the lab (collapsed in HTML), the commands a rewind
    took back and the rewind itself are part of the lesson; only commands that reached the
    lab count as used."""
    ex = exercise("upgrade-before-import")
    s = Session.start(ex.id)
    for line in ["hots", "help", "hosts",
                 "Export-VMHostImageDb -VMHost esx-03 -FilePath first.tgz", "rewind #2"]:
        reply = s.run(line)
        s = reply.session or s
    for line in ex.solution:
        s.run(line)
    text = s.run("debrief").text
    history, session = text.split("The session (", 1)
    assert "History: how the exercise broke the lab" in history
    assert "> upgrade-host vmhost=esx-03" in history  # the step that broke it
    assert "PS> Export-VMHostImageDb -VMHost esx-03 -FilePath first.tgz   (undone by " \
           "rewind #2)" in session
    lines = session.splitlines()
    rewind = next(i for i, line in enumerate(lines) if "rewind #2 (typed at" in line)
    assert "2 commands undone" in lines[rewind]
    fix = next(i for i, line in enumerate(lines) if "PS> " + ex.solution[0] in line
               and "undone" not in line)
    undone = next(i for i, line in enumerate(lines) if "(undone by rewind #2)" in line)
    assert undone < rewind < fix  # in the order it was typed
    page = debrief_html(s)
    assert "<details><summary>History: how the exercise broke the lab" in page
    assert "<details open" not in page  # collapsed by default
    assert 'class="undone"' in page and 'class="rewind"' in page
    # hots (typo) and help do not count; hosts and Export were undone: the fix's own count.
    assert f"commands used          {len(ex.solution)}\n" in s.run("check").text


def test_reached_lab_counts_refusals_but_not_typos_or_help() -> None:
    from vtalab.training.grading import reached_lab

    s = Session.start("upgrade-before-import")
    for line in ["hots", "help hosts", "history", "hosts", "Start-VM -VM db01",
                 "Start-VM -VM nosuchvm"]:
        s.run(line)
    counted = [e.line for e in s.entries if reached_lab(e)]
    assert counted == ["hosts", "Start-VM -VM db01"]  # the lab refused db01: it counts
