"""vtalab campaign (issue 14 item 4): the bundled spec answers its question, spec errors
name file, line and value, outputs go only into --out (CSV, JSON, HTML). The same table on
Dask workers: tests/test_checker_dask.py; the page in a browser: test_html_in_browser.py."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from vtalab.analysis.campaign import load_campaign, run_campaign
from vtalab.analysis.campaign_report import campaign_csv, campaign_html
from vtalab.cli import main
from vtalab.core.resources import bundled
from vtalab.errors import ScenarioError

SPEC = bundled("campaigns", "token-lifetime-vs-outage.yaml")
BASE = bundled("campaigns", "token-lifetime-vs-outage.scenario.yaml")


def _spec(tmp_path: Path, text: str) -> Path:
    (tmp_path / "base.yaml").write_text(BASE.read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """name: small
scenarios: [base.yaml]
grid:
  - parameter: token_lifetime_seconds
    values: [1h, 8h]
  - steps: [attestd-down-01, attestd-down-02]
    arg: duration
    values: [30m, 6h]
measure:
  - name: failed
    failed_task: Power On virtual machine
"""


def test_bundled_campaign_answers_when_power_ons_start_failing(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    assert main(["campaign", "token-lifetime-vs-outage", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "20 runs" in out and "written:" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"token-lifetime-vs-outage.{ext}" for ext in ("csv", "html", "json")]
    rows = list(csv.DictReader(io.StringIO(
        (tmp_path / "token-lifetime-vs-outage.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 20
    hours = {"1h": 1, "2h": 2, "4h": 4, "8h": 8}
    outage = {"30m": 0.5, "1h": 1, "2h": 2, "4h": 4, "6h": 6}
    for r in rows:
        lifetime, down = hours[r["token lifetime"]], outage[r["attestd outage"]]
        failed = int(r["power-ons failed"])
        # the token got at T=0 expires inside the outage (T+10m .. T+10m+down): power-ons
        # fail from its expiry, and never when it outlives the outage
        if lifetime >= down + 1 / 6:
            assert failed == 0 and r["first failure"] == "" and r["passed"] == "yes", r
        else:
            assert failed > 0 and r["passed"] == "no", r
            assert r["first failure"] == f"T+{lifetime:02d}:00:00", r
            assert r["invariants_violated"] == "encrypted-vm-availability"
            assert int(r["VMs locked"]) == failed == int(r["refused unreachable"])
    # longer outages fail more power-ons, longer tokens fewer
    table = {(r["token lifetime"], r["attestd outage"]): int(r["power-ons failed"])
             for r in rows}
    assert table[("1h", "6h")] > table[("2h", "6h")] > table[("4h", "6h")] > 0
    assert table[("1h", "1h")] < table[("1h", "2h")] < table[("1h", "4h")]
    doc = json.loads((tmp_path / "token-lifetime-vs-outage.json").read_text(encoding="utf-8"))
    assert doc["campaign"] == "token-lifetime-vs-outage" and len(doc["rows"]) == 20
    assert doc["rows"][0]["token lifetime"] == "1h"


def test_html_has_a_chart_per_measure_and_nothing_external() -> None:
    campaign = load_campaign(str(SPEC))
    rows = run_campaign(campaign)
    page = campaign_html(campaign, rows)
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == \
        len(campaign.spec.measure) + 1  # and steps refused
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert campaign_html(campaign, rows) == page  # same rows, same bytes
    assert campaign_csv(campaign, run_campaign(campaign, crypto="real")) == \
        campaign_csv(campaign, rows)  # simulated crypto: the same table


@pytest.mark.parametrize("text, line, message", [
    (GOOD.replace("token_lifetime_seconds", "token_lifetime"), 4,
     "unknown parameter 'token_lifetime'; did you mean 'token_lifetime_seconds'?"),
    (GOOD.replace("attestd-down-02]", "attestd-down-2]"), 6, "no step with id"),
    (GOOD.replace("[1h, 8h]", "[1h, 8x]"), 5, "8x"),
    (GOOD.replace("[30m, 6h]", "[30m, -5]"), 8, "not a valid scenario"),
    (GOOD.replace("arg: duration", "argh: duration"), 7, "unknown key 'argh'"),
    (GOOD.replace("failed_task:", "failed_tasks:"), 11, "unknown key 'failed_tasks'"),
    (GOOD.replace("failed_task: Power On virtual machine", "event: com.vmware.vc.Nope"),
     11, "unknown vCenter event"),
    (GOOD.replace("[base.yaml]", "[nope.yaml]"), 2, "no scenario file 'nope.yaml'"),
    (GOOD.replace("name: failed", "name: passed"), 10, "used twice"),
    (GOOD + "seeds: [" + ", ".join(map(str, range(900))) + "]\n"
     + "", 1, None),  # 2 x 2 x 900 = 3600 runs: allowed
])
def test_spec_errors_name_file_line_and_value(tmp_path: Path, text: str, line: int,
                                              message: str | None) -> None:
    path = _spec(tmp_path, text)
    if message is None:
        assert len(load_campaign(str(path)).runs) == 3600
        return
    with pytest.raises(ScenarioError) as err:
        load_campaign(str(path))
    assert f"{path}:{line}:" in str(err.value) and message in str(err.value), str(err.value)


def test_too_many_runs_is_refused_before_running(tmp_path: Path) -> None:
    text = GOOD.replace("values: [1h, 8h]", "values: [" + ", ".join(
        f"{h}h" for h in range(1, 101)) + "]") + "seeds: [" + ", ".join(
        map(str, range(60))) + "]\n"
    with pytest.raises(ScenarioError, match="MAX_CAMPAIGN_RUNS"):
        load_campaign(str(_spec(tmp_path, text)))


def test_cli_errors_exit_2_and_write_nothing(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = _spec(tmp_path, GOOD.replace("token_lifetime_seconds", "token_lifetime"))
    out = tmp_path / "out"
    assert main(["campaign", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "spec.yaml:4:" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["campaign", str(tmp_path / "missing.yaml"), "--out", str(out)]) == 2
    assert "missing.yaml" in capsys.readouterr().err and not out.exists()


def test_outputs_only_in_out_with_a_safe_name(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, GOOD.replace("name: small", "name: ../../escape me"))
    out = tmp_path / "deep" / "out"
    before = {p for p in tmp_path.rglob("*")}
    assert main(["campaign", str(spec), "--out", str(out)]) == 0
    made = {p for p in tmp_path.rglob("*")} - before
    assert {p.parent for p in made if p.is_file()} == {out}
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 3 and all(n.startswith("escape-me-") for n in names), names
    capsys.readouterr()
    assert main(["campaign", str(spec), "--check"]) == 0
    assert "4 runs" in capsys.readouterr().out


def test_same_spec_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, GOOD)
    for run in ("a", "b"):
        assert main(["campaign", str(spec), "--out", str(tmp_path / run)]) == 0
    for ext in ("csv", "json", "html"):
        assert (tmp_path / "a" / f"small.{ext}").read_bytes() == \
            (tmp_path / "b" / f"small.{ext}").read_bytes()
