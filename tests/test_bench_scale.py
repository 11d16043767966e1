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


def test_growth_takes_the_fastest_of_the_repeated_small_worlds(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Worlds up to GROWTH_REPEAT_UP_TO hosts run ``repeats`` times and the fastest run is
    the row (and the growth's denominator); larger worlds run once."""
    totals = iter([3.0, 2.0, 30.0, 21.0, 400.0])  # 10 hosts twice, 100 twice, 1,000 ...
    calls: list[int] = []

    def fake(size: int, vms: int, seconds: float, mode: str) -> dict[str, float]:
        calls.append(size)
        total = next(totals)
        return {"build": 0.0, "run": total, "first_hour": total, "later": 0.0,
                "cpu": total, "events": size, "peak_mb": 1.0}

    monkeypatch.setattr(bench_scale, "in_child", fake)
    monkeypatch.setattr(bench_scale, "GROWTH_REPEAT_UP_TO", 100)
    bench_scale.growth_section(1000, bench_scale.HOUR, "simulated", repeats=2)
    assert calls == [10, 10, 100, 100, 1000]
    rows = {int(x.split()[0]): x for x in capsys.readouterr().out.splitlines()
            if re.match(r"\s+\d+\s", x)}
    assert float(rows[10].split()[2]) == 2.0 and "(runs: 3.00, 2.00 s)" in rows[10]
    assert float(rows[100].split()[2]) == 21.0 and "10.5×" in rows[100]
    assert "runs:" not in rows[1000] and "19.0×" in rows[1000]
