"""Hostile input to the search surfaces: ``vtalab check``, ``vtalab campaign`` and
``vtalab run --trace``. Each test reproduces one misbehaviour found by probing (a hang,
unbounded memory, a file clobbered outside the place asked, output that lies) and checks
that it is now an exit-2 error that names the option or the file and line.

The inputs that used to take unbounded time or memory are not run against the old code
for real: a stand-in for the expensive step (the product of the grid, the drawing of the
search list) fails the test at once if it is reached with the absurd size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import vtalab.analysis.campaign as campaign_mod
from vtalab.cli import main
from vtalab.core import limits
from vtalab.core.limits import MAX_CAMPAIGN_RUNS
from vtalab.core.resources import bundled

PLANS = Path(__file__).resolve().parent.parent / "vtalab" / "data" / "scenarios" / "plans"
SCENARIOS = PLANS.parent
BASE = bundled("campaigns", "token-lifetime-vs-outage.scenario.yaml")
#: (read so: this file also runs, and fails, against the code before the limit existed)
MAX_CHECK_EXAMPLES = getattr(limits, "MAX_CHECK_EXAMPLES", 100_000)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    got = capsys.readouterr()
    return code, got.out, got.err


# -- vtalab campaign -------------------------------------------------------------------

def _grid_bomb(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(BASE.read_text(encoding="utf-8"), encoding="utf-8")
    values = "[" + ", ".join(str(60 * (k + 1)) for k in range(1000)) + "]"
    text = ("name: bomb\nscenarios: [base.yaml]\ngrid:\n"
            f"  - parameter: token_lifetime_seconds\n    values: {values}\n")
    for k in range(5):
        text += (f"  - steps: [attestd-down-01]\n    arg: duration\n    label: axis {k}\n"
                 f"    values: {values}\n")
    spec = tmp_path / "bomb.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def test_campaign_grid_of_10_to_18_points_is_refused_before_any_point_is_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Six axes of 1,000 values: the run count used to be taken as len(list(product)),
    which tried to hold 10^18 points (15 GB before `timeout 60` killed it)."""
    real = campaign_mod.itertools.product

    def product(*axes: Any) -> Any:
        size = 1
        for axis in axes:
            size *= len(axis)
        assert size <= MAX_CAMPAIGN_RUNS, f"the grid's {size:,} points were made"
        return real(*axes)

    monkeypatch.setattr(campaign_mod.itertools, "product", product)
    spec = _grid_bomb(tmp_path)
    code, out, err = run(capsys, "campaign", str(spec), "--check")
    assert code == 2, err
    assert f"{spec}:4:3: grid: the campaign asks for 1,000,000,000,000,000,000 runs" in err
    assert "1 x 1000 x 1000 x 1000 x 1000 x 1000 x 1000 x 1" in err
    assert "MAX_CAMPAIGN_RUNS" in err and "Traceback" not in err
