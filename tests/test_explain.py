"""`vtalab explain`: the causal chain, the golden transcripts and the verified fixes.

Every fix listed as working is re-applied here independently — written as YAML steps into
the scenario text, loaded with the normal loader and run with ``run_scenario`` with an
``attestation`` expectation — and must make the host attested; every failing one must not.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path

import pytest
import yaml

from vtalab.cli import main
from vtalab.cli.explain import BUGS, GOLDENS, golden_text
from vtalab.forensics.explain import Explanation, explain
from vtalab.scenario.model import load_scenario, load_scenario_text, run_scenario

STEMS = sorted(GOLDENS)


@cache
def _explained(stem: str) -> Explanation:
    host, at = GOLDENS[stem]
    return explain(load_scenario(str(BUGS / f"{stem}.yaml")), host, at)


@pytest.mark.parametrize("stem", STEMS)
def test_bug_scenarios_run_and_hold(stem: str) -> None:
    result = run_scenario(load_scenario(str(BUGS / f"{stem}.yaml")))
    assert result.verdicts and result.ok, [v.detail for v in result.verdicts if not v.ok]


@pytest.mark.parametrize("stem", STEMS)
def test_golden_transcript(stem: str) -> None:
    path = BUGS / "golden" / f"{stem}.txt"
    want = path.read_text(encoding="utf-8")
    got = _explained(stem).text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            str(path), "explain now"))
        pytest.fail("explain output changed; if intended, run "
                    f"`python -m vtalab.cli.explain --update-goldens`\n{diff}")
    assert golden_text(stem) == got  # deterministic: a second run is identical


def _with_fix(stem: str, at: float, started: int, steps: list[str], host: str) -> str:
    """The scenario text with the fix written in as YAML steps and an attestation check."""
    data = yaml.safe_load((BUGS / f"{stem}.yaml").read_text(encoding="utf-8"))
    fix = []
    for n, text in enumerate(steps):
        verb, *args = text.split(" ", 1)
        step: dict[str, object] = {"do": verb}
        if args:
            step["with"] = {k: yaml.safe_load(v) for k, v in
                            (a.split("=", 1) for a in _split_args(args[0]))}
        if n == 0:
            step["at"] = at
        fix.append(step)
    data["steps"] = data["steps"][:started] + fix
    data["expect"] = [{"attestation": {"host": host, "status": "attested"}}]
    data["settle"] = 7200
    return yaml.safe_dump(data, sort_keys=False)


def _split_args(text: str) -> list[str]:
    out, cur, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == " " and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur] if cur else out


def _started(stem: str, at: float | None) -> tuple[int, float]:
    result = run_scenario(load_scenario(str(BUGS / f"{stem}.yaml")), until=at)
    n = len(result.world.kernel.trace.select("step.start", source="scenario"))
    return n, result.end


FIX_CASES = [(stem, f["key"]) for stem in STEMS for f in _explained(stem).fixes]


@pytest.mark.parametrize(("stem", "key"), FIX_CASES, ids=[f"{s}:{k}" for s, k in FIX_CASES])
def test_every_listed_fix_does_what_it_says(stem: str, key: str) -> None:
    x = _explained(stem)
    fix = next(f for f in x.fixes if f["key"] == key)
    started, at = _started(stem, GOLDENS[stem][1])
    assert at == x.at
    text = _with_fix(stem, at, started, fix["steps"], x.host)
    result = run_scenario(load_scenario_text(text, file=f"{stem}+{key}"))
    attested = all(v.ok for v in result.verdicts)
    assert attested is fix["works"], (fix, [v.detail for v in result.verdicts])


def test_each_bug_has_a_working_and_a_failing_fix() -> None:
    for stem in STEMS:
        works = {f["works"] for f in _explained(stem).fixes}
        assert works == {True, False}, stem


def test_chain_remove_original() -> None:
    c = _explained("remove-original-before-full-reboot").chain
    assert c["versions"] == {"running": "8.0.2-22380479", "measured": "8.0.1-21495797",
                             "differ": True, "power_state": "poweredOn"}
    assert c["status"]["reason"] == "untrusted_base_image"
    assert c["boot"]["quick_boots_since"] == 1
    assert c["eventlog"]["esxi_version"] == "8.0.1-21495797"
    assert c["eventlog"]["replay_matches_quote"] is True
    assert all(r["pcr"] == 13 for r in c["eventlog"]["version_records"])
    u1 = next(b for b in c["base_images"] if b["version"] == "8.0.1-21495797")
    removed = [h for h in u1["history"] if h["action"] == "removed"]
    assert removed[0]["by"]["index"] == 4 and removed[0]["by"]["id"] == "remove-original"
    assert removed[0]["by"]["verb"] == "Remove-TrustAuthorityVMHostBaseImage"
    assert not u1["trusted"]


def test_chain_txt_says_the_boot_was_full_because_quick_boot_was_refused() -> None:
    x = _explained("quick-boot-refused-txt")
    full = x.chain["boot"]["last_full_boot"]
    assert "Intel TXT" in full["quick_boot_refused"]
    assert "loadESX: Quick Boot not possible" in full["log_line"]
    assert x.chain["versions"]["differ"] is False
    assert "FULL boot because Quick Boot was refused" in x.text()


def test_chain_snapshot_before_joining() -> None:
    x = _explained("quick-booted-before-joining")
    assert x.chain["boot"]["quick_boots_before_lab"] == 1
    u2 = next(b for b in x.chain["base_images"] if b["version"] == "8.0.2-22380479")
    assert u2["history"][0]["exported_quick_booted"] is True
    assert "exported from a Quick-Booted host" in x.chain["conclusion"]


def test_intermediate_images_history() -> None:
    c = _explained("intermediate-images").chain
    assert c["boot"]["quick_boots_since"] == 2
    u2 = next(b for b in c["base_images"] if b["version"] == "8.0.2-22380479")
    assert [h["action"] for h in u2["history"]] == ["imported", "removed"]
    assert u2["measured_by"] == [] and u2["last_attested_time"] is None
    u1 = next(b for b in c["base_images"] if b["version"] == "8.0.1-21495797")
    assert u1["last_attested_time"] is not None  # the API showed it was still in use


def test_attested_host_needs_no_fix() -> None:
    scenario = load_scenario(str(BUGS / "intermediate-images.yaml"))
    x = explain(scenario, "esx-01", 1200.0)
    assert x.chain["status"]["status"] == "attested" and x.fixes == []
    assert "Do not remove 8.0.1-21495797" in x.chain["conclusion"]


def test_cli_json_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(BUGS / "quick-boot-refused-txt.yaml")
    assert main(["explain", path, "--host", "esx-02", "--json", "--no-fixes"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["host"] == "esx-02" and data["status"]["reason"] == "untrusted_base_image"
    assert main(["explain", path, "--host", "esx-2"]) == 2
    assert "did you mean 'esx-02'" in capsys.readouterr().err
    assert main(["explain", path, "--host", "ta-esx-01"]) == 2
    assert main(["explain", path, "--host", "esx-02", "--at", "soon"]) == 2


def test_goldens_exist_for_every_bug_scenario() -> None:
    assert sorted(p.stem for p in BUGS.glob("*.yaml")) == STEMS
    assert sorted(p.stem for p in (BUGS / "golden").glob("*.txt")) == STEMS


def test_time_is_reported_relative(tmp_path: Path) -> None:
    x = _explained("remove-original-before-full-reboot")
    fastest = x.fixes[0]
    # Re-importing the image is noticed at esx-01's next retry (failed_reattest_seconds
    # after its last failure at T+1:19:30 + 5 min steps: T+1:34:30), not at once.
    assert fastest["works"] and fastest["time_to_recover"] == 270.0
    reboot = next(f for f in x.fixes if f["key"] == "full-reboot")
    assert reboot["time_to_recover"] == 600.0  # the full boot takes 9 min + shutdown


def test_quick_booted_host_is_told_importing_the_running_version_will_not_help() -> None:
    """The reason's own advice (export and import "it") misleads for a Quick-Booted host."""
    x = _explained("import-running-after-quick-boot")
    assert x.chain["boot"]["is_boot_load_esx"] == 1 and x.chain["versions"]["differ"]
    why = x.chain["conclusion"]
    assert ("Importing the running version 8.0.2-22380479 will NOT help until esx-01 has a "
            "full reboot (Quick Boot disabled)") in why
    assert "The base image of 8.0.1-21495797 (exported from a host that runs it" in why
    assert "is what attests esx-01 now" in why
    works = {f["key"]: f["works"] for f in x.fixes}
    assert works["import-running"] is False  # verified: the advice does not help ...
    assert works["import-running+full-reboot"] is True  # ... until a full reboot
    # After the operator imported the running version anyway (the scenario's steps):
    end = explain(load_scenario(str(BUGS / "import-running-after-quick-boot.yaml")), "esx-01",
                  fixes=False)
    assert end.chain["status"]["reason"] == "untrusted_base_image"
    assert ("8.0.2-22380479 (running) is already a trusted base image and does not help "
            "until esx-01 has a full reboot") in end.chain["conclusion"]


def test_no_quick_boot_advice_when_the_boot_was_full() -> None:
    why = _explained("quick-boot-refused-txt").chain["conclusion"]
    assert "will NOT help" not in why and "does not help until" not in why


def test_snapshot_history_in_the_chain() -> None:
    c = _explained("import-running-after-quick-boot").chain
    ga = next(b for b in c["base_images"] if b["version"] == "8.0.0-20513097")
    assert ga["last_attested_time"] == -30 * 86400.0 and ga["measured_by"] == []
    assert "8.0.0-20513097 (8.0 GA): trusted; measured by no host; last attested " \
           "T-30d 00:00:00" in _explained("import-running-after-quick-boot").text()


def test_side_effects_count_vms() -> None:
    one = _explained("quick-booted-before-joining").text()
    assert "VM web01 must be powered off for the reboot (no attested host in Trusted " \
           "Cluster to move it to)" in one and "VMs web01" not in one
    two = _explained("import-running-after-quick-boot").text()
    assert "VMs web01, web02 must be moved off esx-01 (maintenance mode; attested peer: " \
           "esx-02)" in two


def test_quick_boot_doc_quotes_the_current_transcript() -> None:
    """docs/quick-boot.md quotes the `why` of import-running-after-quick-boot at 5m."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "quick-boot.md").read_text(
        encoding="utf-8")
    assert f"why\n  {_explained('import-running-after-quick-boot').chain['conclusion']}\n" in doc
