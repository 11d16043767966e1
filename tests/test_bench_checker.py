"""``benchmarks/bench_checker.py --phases``: the runs' CPU time by phase, and everything it
wrapped put back afterwards (the checker's results are those of a plain check)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import vtalab.analysis.checker.search as checker_module
import vtalab.scenario.run as run_module
from vtalab.core.kernel import Kernel
from vtalab.world.assembly import World

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bench_checker  # noqa: E402 - the benchmark itself


def test_phases_add_up_and_leave_nothing_wrapped(capsys: pytest.CaptureFixture[str]
                                                 ) -> None:
    before = (run_module.World, World._bootstrap, Kernel.record, checker_module.judge)
    assert bench_checker.main(["--examples", "3", "--phases", "--no-fork"]) == 0
    out = capsys.readouterr().out
    assert (run_module.World, World._bootstrap, Kernel.record, checker_module.judge) == before
    assert "CPU by phase, 3 runs in this process" in out
    shares = {}
    for name in (*bench_checker._Phases.NAMES, "the rest (checker, scenarios, collector)"):
        line = next(x for x in out.splitlines() if x.strip().startswith(name))
        shares[name] = float(re.findall(r"(-?[\d.]+) %", line)[-1])  # the rest may be < 0
    for name in bench_checker._Phases.NAMES:
        assert shares[name] > 0, name  # every phase was seen in every run
    # the phases and the rest are the whole, and the phases fit inside it (they are times
    # of this process within the check, measured with the same clock as the whole)
    assert abs(sum(shares.values()) - 100) <= 0.5
    assert shares["the rest (checker, scenarios, collector)"] >= 0
    assert shares["plan steps and settle"] > shares["world built (World())"]
