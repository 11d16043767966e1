"""Golden transcripts: every scenario's `vtalab run` output matches its saved transcript,
and every scenario's recorded trace replays identically. Nothing here rewrites a file."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

from vtalab.cli import app as cli
from vtalab.scenario import golden

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = golden.scenario_files(ROOT / "scenarios")


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_every_scenario_has_a_transcript_and_no_transcript_is_orphaned() -> None:
    saved = sorted(p.stem for p in (ROOT / "scenarios" / golden.GOLDEN_DIR).glob("*.txt"))
    assert saved == sorted(p.stem for p in SCENARIOS)  # stems sort unlike file names


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_transcript_is_current(path: Path) -> None:
    result = golden.compare(path)
    assert result.ok, (f"{result.golden} differs from `vtalab run` (if the change is "
                       f"intended: `vtalab golden --update`, then review):\n{result.diff}")


def test_transcript_is_what_vtalab_run_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte for byte (the lab view, --reveal), for the README's main-job scenario."""
    monkeypatch.chdir(ROOT)
    code, out, _ = _cli("run", "--reveal", "scenarios/quick-boot-upgrade.yaml")
    assert code == 0
    assert out == (ROOT / "scenarios" / "golden" / "quick-boot-upgrade.txt").read_text(
        encoding="utf-8")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_replay_confirms_the_scenario(path: Path, tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    code, _, err = _cli("run", str(path), "--trace", str(trace))
    assert code == 0, err
    code, out, err = _cli("replay", str(trace))
    assert code == 0, out + err
    assert out.startswith("replay identical: ")


@pytest.fixture
def copy_of_one(tmp_path: Path) -> Path:
    """A scenarios directory with one scenario and its transcript."""
    d = tmp_path / "scenarios"
    (d / golden.GOLDEN_DIR).mkdir(parents=True)
    src = ROOT / "scenarios" / "tpm-replaced-certificate-validation.yaml"
    shutil.copy(src, d / src.name)
    shutil.copy(golden.golden_path(src), golden.golden_path(d / src.name))
    return d


def test_golden_command_reports_a_difference_with_a_diff_and_does_not_rewrite(
        copy_of_one: Path) -> None:
    saved = golden.golden_path(next(copy_of_one.glob("*.yaml")))
    assert _cli("golden", "--dir", str(copy_of_one))[0] == 0
    tampered = saved.read_text(encoding="utf-8").replace("7 passed", "8 passed")
    saved.write_text(tampered, encoding="utf-8")
    code, out, _ = _cli("golden", "--dir", str(copy_of_one))
    assert code == 1
    assert "-8 passed, 0 failed" in out and "+7 passed, 0 failed" in out
    assert saved.read_text(encoding="utf-8") == tampered  # never rewritten silently


def test_update_rewrites_only_on_request(copy_of_one: Path) -> None:
    scenario = next(copy_of_one.glob("*.yaml"))
    saved = golden.golden_path(scenario)
    saved.unlink()
    result = golden.compare(scenario)
    assert not result.ok and "missing" in result.diff and not saved.exists()
    assert golden.main(["--update", "--dir", str(copy_of_one)]) == 0
    assert golden.compare(scenario).ok
    assert golden.update([scenario]) == []  # identical: nothing written


def test_golden_bad_input_is_exit_2(tmp_path: Path) -> None:
    code, _, err = _cli("golden", "--dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no scenarios directory" in err
