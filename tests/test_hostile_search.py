"""Hostile input to the search surfaces: ``vtalab check``, ``vtalab campaign`` and
``vtalab run --trace``. Each test reproduces one misbehaviour found by probing (a hang,
unbounded memory, a file clobbered outside the place asked, output that lies) and checks
that it is now an exit-2 error that names the option or the file and line.

The inputs that used to take unbounded time or memory are not run against the old code
for real: a stand-in for the expensive step (the product of the grid, the drawing of the
search list) fails the test at once if it is reached with the absurd size.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

import vtalab.analysis.campaign as campaign_mod
import vtalab.analysis.checker.cases as cases_mod
import vtalab.analysis.checker.search as search_mod
from vtalab.analysis.checker.search import Checker
from vtalab.cli import main
from vtalab.core import limits
from vtalab.core.limits import MAX_CAMPAIGN_RUNS
from vtalab.core.resources import bundled
from vtalab.errors import InputError
from vtalab.scenario.model import load_scenario

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
    values = "[" + ", ".join(str(60 * (k + 1)) for k in range(1000)) + "]"
    text = "name: bomb\nscenarios: [base.yaml]\ngrid:\n"
    for parameter in ("token_lifetime_seconds", "reattest_period_seconds",
                      "full_boot_seconds", "quick_boot_seconds", "nonce_lifetime_seconds",
                      "maintenance_mode_seconds"):
        text += f"  - parameter: {parameter}\n    values: {values}\n"
    return _spec(tmp_path, text)


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


# -- vtalab check --examples ----------------------------------------------------------

@pytest.mark.parametrize("examples", [str(MAX_CHECK_EXAMPLES + 1), "1000000000",
                                      "99999999999999999999999999"])
def test_check_refuses_an_absurd_number_of_examples_before_drawing_them(
        examples: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--examples 10**9 used to draw the whole search list first (minutes, gigabytes)."""
    def draw(plan: Any, intensity: str, seed: int, count: int) -> Any:
        raise AssertionError(f"drew a search list of {count:,} cases")

    monkeypatch.setattr(search_mod, "draw_cases", draw)
    code, _out, err = run(capsys, "check", str(PLANS / "safe-rolling-upgrade.yaml"),
                          "--examples", examples, "--out", str(tmp_path / "ce"))
    assert code == 2, err
    assert f"--examples must be between 1 and {MAX_CHECK_EXAMPLES:,}" in err
    assert "MAX_CHECK_EXAMPLES" in err and f"got {int(examples):,}" in err
    assert not (tmp_path / "ce").exists()


def test_checker_library_refuses_too_many_examples() -> None:
    plan = load_scenario(str(PLANS / "unsafe-vcenter-to-9-0.yaml"))
    with pytest.raises(InputError, match="MAX_CHECK_EXAMPLES"):
        Checker(plan, examples=MAX_CHECK_EXAMPLES + 1)
    Checker(plan, examples=MAX_CHECK_EXAMPLES)  # the limit itself is allowed


def test_drawing_stops_when_a_small_case_space_is_spent(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """--faults none has a few hundred distinct cases: drawing MAX_CHECK_EXAMPLES of them
    used to go on for 50 x count draws (17 s of CPU for nothing) after the space was
    spent; now it stops STALE_DRAWS draws after the last new case."""
    calls = [0]
    real = cases_mod.Random

    class Counting(real):  # type: ignore[misc, valid-type]
        def random(self) -> float:
            calls[0] += 1
            assert calls[0] < 1_000_000, "still drawing long after the space was spent"
            return super().random()

    monkeypatch.setattr(cases_mod, "Random", Counting)
    plan = load_scenario(str(PLANS / "unsafe-vcenter-to-9-0.yaml"))
    drawn = cases_mod.draw_cases(plan, "none", 0, MAX_CHECK_EXAMPLES)
    assert 50 < len(drawn) < MAX_CHECK_EXAMPLES
    assert len(set(drawn)) == len(drawn)
    # below 200 examples the list is what it always was (the bound is never reached)
    monkeypatch.setattr(cases_mod, "STALE_DRAWS", 10 ** 9)
    calls[0] = -(10 ** 9)
    assert cases_mod.draw_cases(plan, "light", 3, 150) == cases_mod.draw_cases(
        plan, "light", 3, 150)


def test_progress_and_report_count_the_cases_that_exist(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """A plan with fewer distinct cases than --examples: the bar used to count to the
    number asked for (it stopped at 97 of 500, then jumped to done) and the report said
    500 examples without saying only 97 exist; and it said 'light faults never take a TA
    host down' for --faults none."""
    plan = load_scenario(str(PLANS / "unsafe-vcenter-to-9-0.yaml"))
    seen: list[tuple[int, int]] = []
    checker = Checker(plan, examples=500, faults="none", out=None,
                      progress=lambda done, total, what: seen.append((done, total)))
    report = checker.run()
    drawn = len(cases_mod.draw_cases(plan, "none", 0, 500))
    assert drawn < 500 and report.drawn == drawn
    assert {total for _done, total in seen} == {drawn}
    assert all(done <= total for done, total in seen)
    from vtalab.analysis.checker.report import render_report
    text = render_report(report)
    assert f"the plan has only {drawn} distinct cases under faults none (of the 500" in text
    if "ta-objects-consistent-at-end" in text.split("never at risk", 1)[-1]:
        assert "(no faults were injected: see --faults heavy)" in text
    assert "light faults" not in text


# -- outputs that are not files: run --trace, check --html ---------------------------

def _fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_run_trace_into_a_fifo_is_refused_and_leaves_it_a_fifo(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--trace /dev/full (run as root) replaced the device node with a regular file: the
    atomic write renamed its temporary file over whatever was there. A FIFO shows it
    without root."""
    pipe = _fifo(tmp_path)
    code, _out, err = run(capsys, "run", str(SCENARIOS / "quick-boot-upgrade.yaml"),
                          "--trace", str(pipe))
    assert code == 2, err
    assert f"cannot write {pipe}: it is a FIFO (named pipe), not a file" in err
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_check_html_into_a_fifo_is_refused_before_any_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipe = _fifo(tmp_path)
    code, _out, err = run(capsys, "check", str(PLANS / "unsafe-vcenter-to-9-0.yaml"),
                          "--examples", "2", "--html", str(pipe),
                          "--out", str(tmp_path / "ce"))
    assert code == 2, err
    assert "it is a FIFO (named pipe), not a file" in err
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)


def test_write_atomic_never_replaces_a_device_or_fifo(tmp_path: Path) -> None:
    from vtalab.core.files import write_atomic
    pipe = _fifo(tmp_path)
    with pytest.raises(InputError, match="FIFO"):
        write_atomic(str(pipe), "x")
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    link = tmp_path / "link"
    link.symlink_to(pipe)  # a symlink is replaced, never written through: still fine
    write_atomic(str(link), "x")
    assert link.read_text(encoding="utf-8") == "x" and not link.is_symlink()
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)


@pytest.mark.parametrize("name", ["-", ""])
def test_run_trace_dash_or_empty_is_refused(name: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """--trace - wrote a file named '-' in the current folder; --trace '' silently wrote
    no trace at all (exit 0)."""
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "run", str(SCENARIOS / "quick-boot-upgrade.yaml"),
                          "--trace", name)
    assert code == 2, err
    assert f"cannot write {name!r}: give a file name" in err
    assert list(tmp_path.iterdir()) == []


def test_check_html_empty_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "check", str(PLANS / "unsafe-vcenter-to-9-0.yaml"),
                          "--examples", "1", "--html", "")
    assert code == 2, err
    assert "give a file name" in err
    assert list(tmp_path.iterdir()) == []


# -- --out folders checked before the work -------------------------------------------

GOOD_SPEC = """name: small
scenarios: [base.yaml]
grid:
  - parameter: token_lifetime_seconds
    values: [1h]
measure:
  - name: failed
    failed_task: Power On virtual machine
"""


def _spec(tmp_path: Path, text: str = GOOD_SPEC) -> Path:
    (tmp_path / "base.yaml").write_text(BASE.read_text(encoding="utf-8"), encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def test_campaign_out_under_a_file_is_refused_before_any_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--out notes.txt/results used to be found out only after every run of the campaign
    (minutes of work for a typo)."""
    def no_runs(*a: Any, **k: Any) -> Any:
        raise AssertionError("the campaign ran before its --out was checked")

    monkeypatch.setattr("vtalab.cli.campaign.run_campaign", no_runs)
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    out = tmp_path / "notes.txt" / "results"
    code, _out, err = run(capsys, "campaign", str(_spec(tmp_path)), "--out", str(out))
    assert code == 2, err
    assert f"--out {out}: cannot create the folder: {tmp_path / 'notes.txt'} is a file" in err


def test_check_out_under_a_file_is_refused_before_the_search(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker found out at its first counterexample, after the whole search."""
    def draw(*a: Any, **k: Any) -> Any:
        raise AssertionError("searched before --out was checked")

    monkeypatch.setattr(search_mod, "draw_cases", draw)
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    code, _out, err = run(capsys, "check", str(PLANS / "unsafe-upgrade-before-import.yaml"),
                          "--out", str(tmp_path / "notes.txt" / "ce"))
    assert code == 2, err
    assert "cannot create the folder" in err and "is a file, not a directory" in err


@pytest.mark.parametrize("command", ["check", "campaign"])
def test_out_empty_or_a_dangling_link_is_named(command: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """--out '' said 'cannot create the folder: No such file or directory' (after the
    search); a symbolic link to nothing said 'File exists'."""
    target = str(PLANS / "unsafe-upgrade-before-import.yaml") if command == "check" \
        else str(_spec(tmp_path))
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, command, target, "--out", "")
    assert code == 2 and "--out '': give a folder name" in err
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    code, _out, err = run(capsys, command, target, "--out", "dangling")
    assert code == 2, err
    assert f"--out dangling: is a symbolic link to {tmp_path / 'nowhere'}, which does " \
           "not exist" in err
    assert not (tmp_path / "nowhere").exists()


# -- campaign spec values ------------------------------------------------------------

def test_campaign_negative_seed_is_located_at_the_seed(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """seeds: [3, -1] was reported at 1:1 '(top level): the run with no grid is not a
    valid scenario: Input should be greater than or equal to 0'."""
    spec = _spec(tmp_path, GOOD_SPEC + "seeds: [3, -1]\n")
    code, _out, err = run(capsys, "campaign", str(spec), "--check")
    assert code == 2, err
    assert f"{spec}:9:12: seeds.1: input should be greater than or equal to 0; got -1" in err


@pytest.mark.parametrize("seeds", ["[true]", "['3']"])
def test_campaign_seeds_are_whole_numbers(seeds: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, GOOD_SPEC + f"seeds: {seeds}\n")
    code, _out, err = run(capsys, "campaign", str(spec), "--check")
    assert code == 2, err
    assert f"{spec}:9:" in err and "seeds.0: input should be a valid integer" in err


def test_campaign_boolean_axis_value_is_refused(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """values: [1h, true] made a run with token_lifetime_seconds=1.0 (YAML's true taken as
    the number 1), reported as a renew_before_expiry problem."""
    spec = _spec(tmp_path, GOOD_SPEC.replace("values: [1h]", "values: [1h, true]"))
    code, _out, err = run(capsys, "campaign", str(spec), "--check")
    assert code == 2, err
    assert f"{spec}:5:" in err and "true is not a value of an axis" in err


def test_campaign_unknown_step_argument_is_located_at_arg(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """arg: duratoin was reported at the first value, as 'the run with
    attestd-down-01.duratoin=1h is not a valid scenario: <scenario>: steps.0.with...'."""
    spec = _spec(tmp_path, GOOD_SPEC.replace(
        "  - parameter: token_lifetime_seconds\n    values: [1h]\n",
        "  - steps: [attestd-down-01]\n    arg: duratoin\n    values: [1h]\n"))
    code, _out, err = run(capsys, "campaign", str(spec), "--check")
    assert code == 2, err
    assert (f"{spec}:5:10: grid.0.arg: step 'attestd-down-01' (service-crash) has no "
            "argument 'duratoin'; did you mean 'duration'?") in err
    assert "<scenario>" not in err


@pytest.mark.parametrize("name", ["''", "'.'", "sub"])
def test_campaign_scenario_that_is_not_a_file_is_located_in_the_spec(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """scenarios: [''] or [.] said '/tmp/x/: is a directory, not a file' without the spec's
    file and line."""
    (tmp_path / "sub").mkdir()
    spec = _spec(tmp_path, GOOD_SPEC.replace("[base.yaml]", f"[base.yaml, {name}]"))
    code, _out, err = run(capsys, "campaign", str(spec), "--check")
    assert code == 2, err
    assert f"{spec}:2:" in err and "scenarios.1: " in err


def test_campaign_warns_of_a_task_measure_no_run_made(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """failed_task: 'Power On virtual machin' (a typo) gave a column of zeros that looks
    like an answer."""
    spec = _spec(tmp_path, GOOD_SPEC.replace("failed_task: Power On virtual machine",
                                             "failed_task: Power On virtual machin"))
    code, out, err = run(capsys, "campaign", str(spec), "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert ("WARNING measure 'failed': no run made a Recent Task named 'Power On virtual "
            "machin', so its column measures nothing; did you mean 'Power On virtual "
            "machine'?") in out
    assert "_tasks" not in (tmp_path / "o" / "small.csv").read_text(encoding="utf-8")
    code, out, _err = run(capsys, "campaign", str(_spec(tmp_path)), "--out",
                          str(tmp_path / "o"))
    assert code == 0 and "WARNING" not in out


# -- vtalab run --seed ---------------------------------------------------------------

def test_run_negative_seed_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    """vtalab run --seed -1 --trace t.jsonl wrote a trace that vtalab replay refuses
    ('seed an integer >= 0'); scenarios' own seeds must be >= 0 too."""
    trace = tmp_path / "t.jsonl"
    code, _out, err = run(capsys, "run", str(SCENARIOS / "quick-boot-upgrade.yaml"),
                          "--seed", "-1", "--trace", str(trace))
    assert code == 2, err
    assert "--seed must be 0 or more" in err and "got -1" in err
    assert not trace.exists()


# -- vtalab check of a plan without steps ---------------------------------------------

@pytest.mark.parametrize("steps", ["steps: []\n", ""])
def test_check_plan_without_steps_is_refused(steps: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A plan with no steps always 'passed' (no invariant violated under what was tried):
    a violation counts against the plan only when the same faults without its steps do
    not make it, so there was nothing to check."""
    text = (PLANS / "unsafe-vcenter-to-9-0.yaml").read_text(encoding="utf-8")
    plan = tmp_path / "empty.yaml"
    plan.write_text(text[:text.index("steps:")] + steps, encoding="utf-8")
    code, out, err = run(capsys, "check", str(plan), "--examples", "3",
                         "--out", str(tmp_path / "ce"))
    assert code == 2, (out, err)
    assert f"{plan}:" in err and "the plan has no steps" in err
    assert "result:" not in out
    with pytest.raises(InputError, match="the plan has no steps"):
        Checker(load_scenario(str(plan)))


# -- an output that is an input ------------------------------------------------------

def test_run_trace_onto_the_scenario_itself_is_refused(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """vtalab run plan.yaml --trace plan.yaml replaced the plan with its trace (exit 0)."""
    plan = tmp_path / "plan.yaml"
    text = (SCENARIOS / "quick-boot-upgrade.yaml").read_text(encoding="utf-8")
    plan.write_text(text, encoding="utf-8")
    for argv in (["--trace", str(plan)], ["--html", str(plan)],
                 ["--trace", str(tmp_path / "." / "plan.yaml")]):
        code, _out, err = run(capsys, "run", str(plan), *argv)
        assert code == 2, err
        assert "it is the scenario file" in err and "give the output another name" in err
        assert plan.read_text(encoding="utf-8") == text
    code, _out, err = run(capsys, "run", str(plan), "--trace", str(tmp_path / "t.jsonl"),
                          "--html", str(tmp_path / "t.jsonl"))
    assert code == 2 and "it is the --trace file" in err
    # a symlink to the plan is replaced, never written through: allowed, plan intact
    link = tmp_path / "link.jsonl"
    link.symlink_to(plan)
    code, _out, err = run(capsys, "run", str(plan), "--trace", str(link))
    assert code == 0, err
    assert plan.read_text(encoding="utf-8") == text and not link.is_symlink()


def test_check_html_onto_the_plan_is_refused(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.yaml"
    text = (PLANS / "unsafe-vcenter-to-9-0.yaml").read_text(encoding="utf-8")
    plan.write_text(text, encoding="utf-8")
    code, _out, err = run(capsys, "check", str(plan), "--examples", "1", "--html", str(plan),
                          "--out", str(tmp_path / "ce"))
    assert code == 2, err
    assert "it is the plan" in err
    assert plan.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("second, line, what", [
    ("  - parameter: token_lifetime_seconds\n    label: again\n    values: [2h, 4h]\n", 6,
     "parameter 'token_lifetime_seconds', which axis 1 (line 4) sets already"),
    ("  - steps: [attestd-down-02]\n    arg: duration\n    values: [6h]\n", 7,
     "argument 'duration' of step 'attestd-down-02', which axis 1 (line 4) sets already"),
])
def test_campaign_two_axes_setting_one_thing_are_refused(second: str, line: int, what: str,
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """Two axes on the same parameter (or step argument) ran with the second's value only,
    while the first's column still claimed its own: a table that lies."""
    first = {"parameter": "  - parameter: token_lifetime_seconds\n    values: [1h, 8h]\n",
             "argument": "  - steps: [attestd-down-01, attestd-down-02]\n    arg: duration\n"
                         "    values: [30m, 1h]\n"}["parameter" if "parameter" in what
                                                     else "argument"]
    spec = _spec(tmp_path, GOOD_SPEC.replace(
        "  - parameter: token_lifetime_seconds\n    values: [1h]\n", first + second))
    code, _out, err = run(capsys, "campaign", str(spec), "--check")
    assert code == 2, err
    assert f"{spec}:{line}:5: grid.1: this axis sets the {what}" in err


# -- names too long, found before the work --------------------------------------------

def test_output_names_too_long_are_refused_before_the_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A 300-character --trace or --html name failed at the final rename, after the run
    or the whole search (whose report was printed, then exit 2); --out of such a name
    only at the first counterexample."""
    def draw(*a: Any, **k: Any) -> Any:
        raise AssertionError("searched before the output name was checked")

    monkeypatch.setattr(search_mod, "draw_cases", draw)
    monkeypatch.setattr("vtalab.cli.app.run_streamed", draw)
    long = "a" * 300
    plan = str(PLANS / "unsafe-upgrade-before-import.yaml")
    for argv in (["run", str(SCENARIOS / "quick-boot-upgrade.yaml"), "--trace",
                  str(tmp_path / f"{long}.jsonl")],
                 ["check", plan, "--html", str(tmp_path / f"{long}.html"),
                  "--out", str(tmp_path / "ce")],
                 ["check", plan, "--out", str(tmp_path / long / "ce")]):
        code, out, err = run(capsys, *argv)
        assert code == 2, err
        assert "is 3" in err and "bytes long; the file system allows" in err, err
        assert "result:" not in out
    assert list(tmp_path.iterdir()) == []


# -- argparse's invalid choices get the nearest one ------------------------------------

@pytest.mark.parametrize("argv, nearest", [
    (["check", "PLAN", "--faults", "lite"], "light"),
    (["check", "PLAN", "--crypto", "rael"], "real"),
    (["campaign", "x.yaml", "--crypto", "simulate"], "simulated"),
    (["chek", "PLAN"], "check"),
])
def test_invalid_choice_names_the_nearest(argv: list[str], nearest: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, *[str(PLANS / "safe-rolling-upgrade.yaml") if a == "PLAN"
                                    else a for a in argv])
    assert code == 2, err
    assert f"invalid choice: '{argv[-1] if argv[0] != 'chek' else 'chek'}'" in err
    assert f"did you mean {nearest!r}?" in err


@pytest.mark.parametrize("pool", [["--workers", "2"], ["--scheduler", "tcp://127.0.0.1:1"]])
def test_check_fork_with_dask_is_refused(pool: list[str], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """--fork --workers 2 silently dropped --fork (it forks in-process only)."""
    def no_pool(*a: Any, **k: Any) -> Any:
        raise AssertionError("a pool was opened")

    monkeypatch.setattr("vtalab.cli.check.open_pool", no_pool)
    code, _out, err = run(capsys, "check", str(PLANS / "unsafe-vcenter-to-9-0.yaml"),
                          "--fork", *pool, "--out", str(tmp_path / "ce"))
    assert code == 2, err
    assert "--fork" in err and "does not go with --workers or --scheduler" in err


def test_checker_cache_keeps_digests_not_scenario_texts() -> None:
    """The run cache was keyed by each case's whole scenario as JSON (2.4 kB for
    safe-rolling-upgrade), kept after the prepared cases are forgotten: 240 MB more at
    MAX_CHECK_EXAMPLES. It keeps a SHA-256 now; the same cases run, the same report."""
    plan = load_scenario(str(PLANS / "unsafe-vcenter-to-9-0.yaml"))
    checker = Checker(plan, examples=12, faults="light", out=None)
    report = checker.run()
    assert checker._cache and all(len(key) == 64 for key in checker._cache)
    assert report.exercised.runs == len(checker._cache)


def test_run_bundle_trace_onto_the_bundle_itself_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """vtalab run BUG.tgz --trace BUG.tgz exited 0 and left a trace where the bundle was;
    --trace '' with a bundle was silently ignored."""
    bug = tmp_path / "BUG.tgz"
    code, _out, err = run(capsys, "bundle", str(SCENARIOS / "bugs" / "intermediate-images.yaml"),
                          "--host", "esx-01", "--at", "2h", "--out", str(bug))
    assert code == 0, err
    data = bug.read_bytes()
    code, _out, err = run(capsys, "run", str(bug), "--trace", str(bug))
    assert code == 2, err
    assert "it is the bug bundle" in err and bug.read_bytes() == data
    code, _out, err = run(capsys, "run", str(bug), "--trace", "")
    assert code == 2 and "give a file name" in err


def test_campaign_output_blocked_by_a_folder_is_found_before_the_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder named NAME.json in --out made the campaign fail after all its runs (and
    after NAME.csv was written)."""
    def no_runs(*a: Any, **k: Any) -> Any:
        raise AssertionError("the campaign ran before its outputs were checked")

    monkeypatch.setattr("vtalab.cli.campaign.run_campaign", no_runs)
    out = tmp_path / "out"
    (out / "small.json").mkdir(parents=True)
    code, _out, err = run(capsys, "campaign", str(_spec(tmp_path)), "--out", str(out))
    assert code == 2, err
    assert f"cannot write {out / 'small.json'}: it is a directory" in err
    assert sorted(p.name for p in out.iterdir()) == ["small.json"]


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers must be between 1 and"),
    (["--scheduler", "tcp://127.0.0.1"], "no port"),
])
def test_campaign_check_refuses_pool_options_it_would_not_run_with(
        argv: list[str], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``--check`` opens no pool, so bad --workers/--scheduler values passed (exit 0) and
    failed only on the real run."""
    code, out, err = run(capsys, "campaign", "token-lifetime-vs-outage", "--check",
                         "--out", str(tmp_path / "o"), *argv)
    assert code == 2 and message in err and "Traceback" not in err, (out, err)
    assert not (tmp_path / "o").exists()
