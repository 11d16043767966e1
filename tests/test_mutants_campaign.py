"""A second mutation spot check, campaigns: the side of each rule the other campaign tests
never reached (a spec mistake that must be refused, a column that must say what ran,
progress, the outputs' contents). Each test here failed against a hand-made mutant of
vtalab/analysis/campaign.py or campaign_report.py that the suite let pass."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

import vtalab.analysis.campaign as campaign_mod
from vtalab.analysis.campaign import load_campaign, run_campaign, unseen_tasks
from vtalab.analysis.campaign_report import campaign_csv, campaign_html, campaign_json
from vtalab.analysis.pool import InProcess, open_pool
from vtalab.cli import main
from vtalab.core.resources import bundled
from vtalab.errors import InputError, ScenarioError

BASE = bundled("campaigns", "token-lifetime-vs-outage.scenario.yaml")

HEAD = "name: small\nscenarios: [base.yaml]\n"
GRID = """grid:
  - parameter: token_lifetime_seconds
    values: [1h, 8h]
  - steps: [attestd-down-01, attestd-down-02]
    arg: duration
    values: [30m, 6h]
"""
MEASURE = """measure:
  - name: failed
    failed_task: Power On virtual machine
"""


def _spec(tmp_path: Path, text: str) -> Path:
    (tmp_path / "base.yaml").write_text(BASE.read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _spec(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_campaign(str(path))
    return str(err.value).replace(str(path), "spec.yaml")


# -- spec mistakes refused before anything runs ------------------------------------------

@pytest.mark.parametrize("text, where, message", [
    (HEAD + "grid:\n  - parameter: token_lifetime_seconds\n    arg: duration\n"
     "    values: [1h]\n", "spec.yaml:4:", "'arg' goes with 'steps', not with 'parameter'"),
    (HEAD + GRID + MEASURE + "    event: com.vmware.vc.TaHostAttestFailEvent\n",
     "spec.yaml:10:", "exactly one of failed_task, first_failed_task, event, refused"),
    (HEAD + GRID + MEASURE + "  - name: failed\n    refused: attestation_unreachable\n",
     "spec.yaml:12:", "column 'failed' is used twice"),
    (HEAD + GRID + "measure:\n  - name: refusals\n    refused: attestation_unreachabel\n",
     "spec.yaml:11:", "unknown reason code 'attestation_unreachabel'; did you mean "
                      "'attestation_unreachable'?"),
])
def test_spec_mistakes_are_refused_at_their_line(tmp_path: Path, text: str, where: str,
                                                  message: str) -> None:
    got = _error(tmp_path, text)
    assert got.startswith(where) and message in got, got


def test_the_run_limit_is_inclusive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign of exactly MAX_CAMPAIGN_RUNS runs is allowed; one more is not."""
    path = _spec(tmp_path, HEAD + GRID + MEASURE)  # 2 x 2 = 4 runs
    monkeypatch.setattr(campaign_mod, "MAX_CAMPAIGN_RUNS", 4)
    assert len(load_campaign(str(path)).runs) == 4
    monkeypatch.setattr(campaign_mod, "MAX_CAMPAIGN_RUNS", 3)
    with pytest.raises(ScenarioError, match="asks for 4 runs"):
        load_campaign(str(path))


# -- what runs is what the columns say -----------------------------------------------------

def test_a_steps_axis_sets_every_step_it_names(tmp_path: Path) -> None:
    campaign = load_campaign(str(_spec(tmp_path, HEAD + GRID + MEASURE)))
    for run in campaign.runs:
        durations = {s["id"]: s["with"]["duration"] for s in run["data"]["steps"]
                     if s.get("id", "").startswith("attestd-down")}
        want = run["grid"]["attestd-down-01.duration"]
        assert durations == {"attestd-down-01": want, "attestd-down-02": want}, run["grid"]


def test_each_seed_column_is_the_seed_that_ran(tmp_path: Path) -> None:
    text = HEAD + "seeds: [3, 77]\n" + MEASURE
    campaign = load_campaign(str(_spec(tmp_path, text)))
    assert [(r["seed"], r["data"]["seed"]) for r in campaign.runs] == [(3, 3), (77, 77)]


def test_advice_is_not_counted_as_a_violated_invariant(tmp_path: Path) -> None:
    """vcenter-to-9-0 draws the vta-gone-in-9-0 advice; the invariants_violated column
    holds only invariants (safety, final, liveness) that were violated."""
    path = tmp_path / "spec.yaml"
    path.write_text("name: advice\nscenarios: [vcenter-to-9-0]\n", encoding="utf-8")
    [row] = run_campaign(load_campaign(str(path)))
    assert "vta-gone-in-9-0" not in row["invariants_violated"].split(";"), row


def test_progress_counts_every_run_from_zero(tmp_path: Path) -> None:
    campaign = load_campaign(str(_spec(tmp_path, HEAD + GRID + MEASURE)))
    seen: list[tuple[int, int, str]] = []
    run_campaign(campaign, progress=lambda done, total, what: seen.append((done, total, what)))
    assert seen == [(k, 4, "running") for k in range(5)]


def test_an_unknown_crypto_mode_is_refused(tmp_path: Path) -> None:
    campaign = load_campaign(str(_spec(tmp_path, HEAD + MEASURE)))
    with pytest.raises(InputError, match="unknown crypto mode 'fast'"):
        run_campaign(campaign, crypto="fast")


def test_a_misspelt_first_failed_task_is_warned_of(tmp_path: Path) -> None:
    text = HEAD + "measure:\n  - name: first\n    first_failed_task: Power On virtual machin\n"
    campaign = load_campaign(str(_spec(tmp_path, text)))
    [warning] = unseen_tasks(campaign, {"Power On virtual machine"})
    assert warning.startswith("measure 'first': no run made a Recent Task named "
                              "'Power On virtual machin'")


def test_a_task_that_ran_but_never_failed_is_no_warning(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """Tokens outliving the outage: every power-on works, the measure's column is all 0,
    and that is an answer, not a misspelt task name."""
    text = HEAD + GRID.replace("[1h, 8h]", "[8h]").replace("[30m, 6h]", "[30m]") + MEASURE
    assert main(["campaign", str(_spec(tmp_path, text)), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out, out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "o" / "small.csv").read_text(
        encoding="utf-8"))))
    assert [r["failed"] for r in rows] == ["0"]


# -- the outputs ---------------------------------------------------------------------------

def test_whole_numbers_of_an_axis_are_written_whole(tmp_path: Path) -> None:
    text = HEAD + "grid:\n  - parameter: token_lifetime_seconds\n    values: [3600, 28800]\n"
    campaign = load_campaign(str(_spec(tmp_path, text)))
    rows = run_campaign(campaign)
    table = list(csv.reader(io.StringIO(campaign_csv(campaign, rows))))
    assert [r[2] for r in table] == ["token_lifetime_seconds", "3600", "28800"]


def test_json_has_the_question_and_each_measure_s_kind(tmp_path: Path) -> None:
    text = (HEAD + "question: When do power-ons fail?\ndescription: Something else.\n"
            + MEASURE + "  - name: refusals\n    refused: attestation_unreachable\n")
    campaign = load_campaign(str(_spec(tmp_path, text)))
    doc = json.loads(campaign_json(campaign, run_campaign(campaign)))
    assert doc["question"] == "When do power-ons fail?"
    assert doc["measures"] == {"failed": {"failed_task": "Power On virtual machine"},
                               "refusals": {"refused": "attestation_unreachable"}}


def _cells(page: str, first: str) -> list[str]:
    """The cells of the grid-table row that starts with ``first``."""
    row = page.split(f"<tr><td>{first}</td>", 1)[1].split("</tr>", 1)[0]
    return [c.removeprefix("<td>") for c in row.split("</td>") if c]


def test_chart_tables_give_failure_times_in_hours_and_skip_empty_runs(tmp_path: Path
                                                                     ) -> None:
    """A first failure after a day counts 24 hours a day, minutes as sixtieths; a run
    with no failure (an empty cell) is left out of the mean, not counted as 0, and a
    point where no run failed shows a dash."""
    text = (HEAD + "seeds: [1, 2]\ngrid:\n  - parameter: token_lifetime_seconds\n"
            "    values: [1h, 2h, 4h]\nmeasure:\n  - name: first\n"
            "    first_failed_task: Power On virtual machine\n")
    campaign = load_campaign(str(_spec(tmp_path, text)))
    rows: list[dict[str, Any]] = [
        {"scenario": "base.yaml", "seed": 1, "token_lifetime_seconds": "1h",
         "first": "T+1d 02:30:00"},
        {"scenario": "base.yaml", "seed": 2, "token_lifetime_seconds": "1h",
         "first": "T+1d 02:30:00"},
        {"scenario": "base.yaml", "seed": 1, "token_lifetime_seconds": "2h",
         "first": "T+00:45:00"},
        {"scenario": "base.yaml", "seed": 2, "token_lifetime_seconds": "2h", "first": ""},
        {"scenario": "base.yaml", "seed": 1, "token_lifetime_seconds": "4h", "first": ""},
        {"scenario": "base.yaml", "seed": 2, "token_lifetime_seconds": "4h", "first": ""}]
    for row in rows:
        row.update(passed=True, steps_refused=0, invariants_violated="")
    page = campaign_html(campaign, rows)
    assert _cells(page, "1h")[0] == "26.50"
    assert _cells(page, "2h")[0] == "0.75"
    assert _cells(page, "4h")[0] == "\u2013"


def test_the_page_says_what_varied_and_means_each_point(tmp_path: Path) -> None:
    """The page's heading, grid list, per-point table (first axis down, second across)
    and the table of every run, from rows made by hand."""
    text = (HEAD + "description: Outages against lifetimes.\nseeds: [1, 2]\n" + GRID
            + MEASURE)
    campaign = load_campaign(str(_spec(tmp_path, text)))
    failed = {("1h", "30m"): (0, 2), ("1h", "6h"): (11, 9), ("8h", "30m"): (0, 0),
              ("8h", "6h"): (1, 0)}
    rows = [{"scenario": "base.yaml", "seed": seed, "token_lifetime_seconds": life,
             "attestd-down-01.duration": down, "passed": n == 0, "steps_refused": n,
             "invariants_violated": "", "failed": n}
            for (life, down), counts in failed.items() for seed, n in zip((1, 2), counts,
                                                                           strict=True)]
    page = campaign_html(campaign, rows)
    assert "8 runs &middot; scenarios: base.yaml &middot; seeds: 1, 2 &middot;" in page
    assert "<p>Outages against lifetimes.</p>" in page
    assert ("<li><b>attestd-down-01.duration</b> (argument duration of step(s) "
            "attestd-down-01, attestd-down-02): 30m, 6h</li>") in page
    assert "mean over 2 runs per point" in page
    assert _cells(page, "1h") == ["1", "10"] and _cells(page, "8h") == ["0", "0.50"]
    assert page.count('<td class="pass">yes</td>') == 4
    assert page.count('<td class="fail">no</td>') == 4
    one_seed = load_campaign(str(_spec(tmp_path, HEAD + GRID + MEASURE)))
    page = campaign_html(one_seed, [r for r in rows if r["seed"] == 1])
    assert "runs per point" not in page


# -- the pool options (analysis/pool.py) ----------------------------------------------------

@pytest.mark.parametrize("argv, code, message", [
    (["--workers", "64"], 0, "20 runs"),
    (["--workers", "65"], 2, "--workers must be between 1 and 64; got 65"),
    (["--scheduler", "tls://127.0.0.1:8786"], 0, "20 runs"),
    (["--scheduler", "tcp://127.0.0.1:8786/status"], 2,
     "a scheduler address has no path; give an address like tcp://127.0.0.1:8786"),
    (["--scheduler", "tcp://:8786"], 2, "no host"),
])
def test_campaign_check_takes_the_pool_options_a_pool_runs_with(
        argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
        ) -> None:
    got = main(["campaign", "token-lifetime-vs-outage", "--check", *argv])
    out, err = capsys.readouterr()
    assert got == code and message in (out + err) and "Traceback" not in err, (out, err)


def test_in_process_progress_counts_by_weight() -> None:
    """The checker weighs a batch by its runs: progress moves by the weight."""
    ticks: list[int] = []
    assert InProcess().map(str.upper, ["a", "bb", "ccc"], done=ticks.append,
                           weight=len) == ["A", "BB", "CCC"]
    assert ticks == [1, 2, 3]


def test_workers_and_a_scheduler_together_are_refused() -> None:
    """(The command line's argparse refuses them too; open_pool is for any caller.)"""
    with pytest.raises(InputError, match="give --workers or --scheduler, not both"):
        open_pool(2, "tcp://127.0.0.1:8786")
