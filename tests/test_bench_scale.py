"""``benchmarks/bench_scale.py``: a measured world is the world ``vtalab run`` makes (its
first hour timed apart without changing a byte), and the growth table says where the
time went."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from vtalab.world.assembly import World

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bench_scale  # noqa: E402 - the benchmark itself


@pytest.mark.parametrize("seconds", [1800.0, 3 * 3600.0])
def test_one_world_times_the_first_hour_apart_and_makes_the_same_trace(seconds: float) -> None:
    bench_scale.forget_crypto()
    plain = World(bench_scale.topology(4, 6), seed=1, crypto="simulated")
    plain.run(seconds)
    want = plain.kernel.trace.digest()
    bench_scale.forget_crypto()
    got = bench_scale.one_world(4, 6, seconds, stream=False, crypto_mode="simulated")
    assert got["digest"] == want
    assert got["events"] == len(plain.kernel.trace)
    assert got["first_hour"] >= 0 and got["later"] >= 0
    assert got["first_hour"] + got["later"] == pytest.approx(got["run"])
    if seconds <= bench_scale.HOUR:
        assert bench_scale._per_later_hour(got, seconds).strip() == "-"
    else:
        assert float(bench_scale._per_later_hour(got, seconds)) == pytest.approx(
            got["later"] / 2, abs=0.0005)  # printed to 3 decimals


def test_growth_table_has_the_first_hour_and_the_later_hours(
        capsys: pytest.CaptureFixture[str]) -> None:
    bench_scale.growth_section(10, 2 * 3600.0, "simulated")
    lines = capsys.readouterr().out.splitlines()
    head = next(x for x in lines if x.strip().startswith("hosts"))
    assert head.split()[:6] == ["hosts", "build", "s", "run", "s", "hour"]
    row = next(x for x in lines if re.match(r"\s+10\s", x)).split()
    build, run, hour1, later = map(float, row[1:5])
    assert hour1 <= run and later <= run
