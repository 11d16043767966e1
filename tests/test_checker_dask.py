"""The plan checker on Dask (issue 14 item 4): the same examples tried, violations and
minimal counterexamples in-process, on 1 and on 2 worker processes; the options' errors.

A small LocalCluster of real processes is started once for the module (bounded: the pool
waits at most CONNECT_TIMEOUT for it) and closed at the end."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vtalab.analysis.checker.search import Checker
from vtalab.analysis.pool import DaskPool, InProcess, open_pool
from vtalab.cli import main
from vtalab.errors import InputError
from vtalab.scenario.model import load_scenario

pytest.importorskip("distributed")

PLANS = Path(__file__).resolve().parent.parent / "scenarios" / "plans"
PLAN = PLANS / "unsafe-remove-old-image-after-quick-boot.yaml"


@pytest.fixture(scope="module")
def two() -> Iterator[DaskPool]:
    with DaskPool(workers=2) as pool:
        yield pool


def _result(checker: Checker) -> tuple[Any, ...]:
    report = checker.run()
    ex = report.exercised
    return (checker.tried, report.as_written.violations, ex.runs, dict(ex.faults),
            sorted(ex.interleavings), dict(ex.at_risk), dict(ex.violated_runs),
            sorted(ex.fault_only),
            [(ce.invariant, ce.case, ce.shrunk, ce.culprit, [str(v) for v in ce.violations],
              ce.text, ce.reproduced) for ce in report.counterexamples])


def test_same_results_in_process_and_on_one_and_two_workers(two: DaskPool) -> None:
    plan = load_scenario(str(PLAN))

    def run(pool: Any) -> tuple[Any, ...]:
        return _result(Checker(plan, path="plan.yaml", examples=12, seed=5, pool=pool))

    here = run(InProcess())
    assert here[-1], "the plan is unsafe: counterexamples expected"
    assert len(here[-1]) >= 2  # more than the plan as written: shrinking ran on workers
    with DaskPool(workers=1) as one:
        assert run(one) == here
    assert run(two) == here


def test_cli_output_and_files_identical_with_workers_and_scheduler(
        two: DaskPool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outs = {}
    for how, extra in (("here", []), ("workers", ["--workers", "1"]),
                       ("scheduler", ["--scheduler", two.cluster.scheduler_address])):
        code = main(["check", str(PLAN), "--examples", "6", "--seed", "2",
                     "--out", str(tmp_path / how), *extra])
        assert code == 1
        outs[how] = capsys.readouterr().out.replace(str(tmp_path / how), "DIR")
        files = sorted(os.listdir(tmp_path / how))
        outs[how + " files"] = [(f, (tmp_path / how / f).read_text(encoding="utf-8"))
                                for f in files]
    assert outs["here"] == outs["workers"] == outs["scheduler"]
    assert outs["here files"] == outs["workers files"] == outs["scheduler files"]
    assert outs["here files"]


def test_ctrl_c_on_workers_keeps_counterexamples(two: DaskPool, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """As in-process: an interrupt after the first counterexample keeps it (exit 1)."""
    plan = load_scenario(str(PLAN))
    real_first = Checker.first
    checker = Checker(plan, examples=20, out=str(tmp_path), pool=two)

    def first(self: Checker, *a: Any, **kw: Any) -> Any:
        if self.counterexamples:
            raise KeyboardInterrupt
        return real_first(self, *a, **kw)

    monkeypatch.setattr(Checker, "first", first)
    report = checker.run()
    assert report.interrupted and report.exit_code == 1
    assert len(os.listdir(tmp_path)) == len(report.counterexamples) >= 2
    assert not report.counterexamples[-1].complete
    # the cluster is still usable after the cancelled work
    assert two.map(abs, [-1, -2]) == [1, 2]


def test_without_dask_the_options_say_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed: ImportError
    assert main(["check", str(PLAN), "--workers", "2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "install vtalab[dask]" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    # ... and without the options nothing needs it
    assert isinstance(open_pool(None, None), InProcess)


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers must be between 1 and"),
    (["--workers", "1000"], "--workers must be between 1 and"),
    (["--scheduler", "localhost:8786"], "give an address like tcp://localhost:8786"),
    (["--scheduler", "tcp://127.0.0.1"], "no port; give an address like tcp://127.0.0.1:8786"),
    (["--scheduler", "tcp://127.0.0.1:x"], "bad port"),
    (["--scheduler", "tcp://127.0.0.1:70000"], "bad port"),
    (["--scheduler", "tcp://:8786"], "no host"),
    (["--scheduler", "tcp://127.0.0.1:8786/status"], "like tcp://127.0.0.1:8786"),
    # refused at once by the probe (Dask's own connect says "Timed out" after retrying)
    (["--scheduler", "tcp://127.0.0.1:9"], "Connection refused"),
    (["--scheduler", "tcp://no-such-host.invalid:8786"], "cannot connect"),
])
def test_bad_pool_options_exit_2(argv: list[str], message: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("vtalab.analysis.pool.CONNECT_TIMEOUT", 3)
    assert main(["check", str(PLAN), "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_campaign_same_table_in_process_and_on_two_workers(
        two: DaskPool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vtalab.analysis.campaign import load_campaign, run_campaign
    from vtalab.core.resources import bundled

    campaign = load_campaign(str(bundled("campaigns", "token-lifetime-vs-outage.yaml")))
    here = run_campaign(campaign)
    assert run_campaign(campaign, pool=two) == here
    ticks: list[int] = []
    with DaskPool(workers=1) as one:
        assert run_campaign(campaign, pool=one,
                            progress=lambda done, total, what: ticks.append(done)) == here
    assert ticks[0] == 0 and ticks[-1] == len(here)  # a progress bar to the end
    # the command line: the same files, in-process and through --scheduler
    for how, extra in (("here", []), ("dask", ["--scheduler", two.cluster.scheduler_address])):
        assert main(["campaign", "token-lifetime-vs-outage", "--out", str(tmp_path / how),
                     *extra]) == 0
    capsys.readouterr()
    for ext in ("csv", "json", "html"):
        name = f"token-lifetime-vs-outage.{ext}"
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()


def test_workers_and_scheduler_together_are_refused() -> None:
    with pytest.raises(InputError, match="not both"):
        open_pool(2, "tcp://127.0.0.1:8786")


def test_local_workers_start_with_ctrl_c_ignored_and_the_handler_comes_back() -> None:
    """A terminal's Ctrl-C reaches the whole process group: worker processes inherit an
    ignored SIGINT (this process cancels, closes the cluster and exits 130 alone)."""
    import signal

    from vtalab.analysis.pool import _workers_ignore_ctrl_c

    before = signal.getsignal(signal.SIGINT)
    with _workers_ignore_ctrl_c():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is before


def test_local_workers_stay_in_the_nursery_between_tasks(two: DaskPool) -> None:
    """As an in-process check from start to end: between tasks a worker keeps the young
    generation of the worlds (else each task's young leftovers are collected at once
    and pushed on to the older generations, with full collections over its memos)."""
    import gc

    from vtalab.core.kernel import GC_YOUNG_THRESHOLD

    assert two.map(abs, [-1, -2, -3, -4]) == [1, 2, 3, 4]
    thresholds = two.client.run(gc.get_threshold)
    assert len(thresholds) == 2
    assert all(t[0] >= GC_YOUNG_THRESHOLD for t in thresholds.values())
