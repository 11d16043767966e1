"""Terminal output (issue 16): wrapping at 60, 80 and 160 columns without splitting a
word, with a hanging indent; colour only for a terminal, never with NO_COLOR, --color
never, in a pipe or in --json; progress bars only on a terminal."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from vtalab.cli import term
from vtalab.cli.app import main
from vtalab.scenario.model import load_scenario, run_scenario
from vtalab.scenario.timeline import COMPONENT_WIDTH, TIME_WIDTH, render_run

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
MESSAGE_COLUMN = TIME_WIDTH + 1 + COMPONENT_WIDTH + 1
ESC = "\x1b["


@pytest.fixture(scope="module")
def run_text() -> str:
    path = SCENARIOS / "upgrade-before-import.yaml"
    return render_run(run_scenario(load_scenario(str(path))), file=str(path))


class Tty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("width", [60, 80, 160])
def test_wrapping_never_splits_a_word_and_hangs_under_the_message(run_text: str,
                                                                   width: int) -> None:
    wrapped = term.wrap_text(run_text, width)
    assert wrapped.split() == run_text.split()  # the same words, none cut in two
    lines = wrapped.split("\n")
    for line in lines:  # longer only when its last word fits no continuation line either
        # (the deepest hanging indent here: the message column plus an "  ok:" indent)
        assert len(line) <= width or len(line.split()[-1]) > width - MESSAGE_COLUMN - 2, \
            line
    # Continuation lines of timeline lines start under the message column.
    timeline = re.compile(r"T\+\d\d:\d\d:\d\d ")
    continued = 0
    for prev, line in zip(lines, lines[1:], strict=False):
        if timeline.match(prev) and line.strip() and not timeline.match(line) \
                and line.startswith(" "):
            continued += 1
            indent = term.hang(prev)  # the message column (or its own "  ok:" indent)
            assert indent >= MESSAGE_COLUMN and line.startswith(" " * indent) and \
                line[indent] != " ", (prev, line)
    assert continued or width == 160
    if width == 160:
        assert max(len(line) for line in lines) <= 160


def test_hanging_indents_of_the_other_shapes() -> None:
    assert term.hang("FAIL  attestation esx-01 at end: notAttested") == 6
    assert term.hang("  WARNING documented-upgrade-order: T+00:10:00") == 10
    assert term.hang("status      notAttested (untrusted_base_image)") == 12
    assert term.hang("  culprit: step 5 'remove-old-image'") == 11
    assert term.hang("  1. [WORKS] Import the measured base image") == 13
    assert term.hang("   A trusted host upgraded") == 3
    lines = term.wrap_line("FAIL  " + "word " * 30, 40)
    assert all(line.startswith("      ") for line in lines[1:])
    # Too narrow for the message column: a small indent instead, still no split word.
    line = "T+00:00:00      vcsa-wld.lab.local  Recent Tasks: Update Trusted cluster"
    narrow = term.wrap_line(line, 44)
    assert narrow[1].startswith(" " * term.NARROW_INDENT) and \
        " ".join(narrow).split() == line.split()


def test_a_word_longer_than_the_line_stays_whole() -> None:
    digest = "digest sha256:" + "a" * 64
    assert term.wrap_line(digest, 60) == [digest]  # a new line would not make it fit
    pcr = "            PCR 11 sha256:" + "b" * 64
    assert term.wrap_line(pcr, 80) == [pcr]
    lines = term.wrap_line("quick boots 1 since the last full boot (vsish "
                           "/system/loadESX/isBootLoadESX = 1; Quick Boot enabled)", 60)
    assert len(lines) > 1 and all(line.startswith(" " * 12) and line[12] != " "
                                  for line in lines[1:])  # under explain's key column


def test_colour_rules() -> None:
    tty = Tty()
    assert term.colour_on(tty, "auto", {}) is True
    assert term.colour_on(tty, "auto", {"NO_COLOR": "1"}) is False
    assert term.colour_on(tty, "auto", {"NO_COLOR": ""}) is True  # empty: not set
    assert term.colour_on(tty, "auto", {"TERM": "dumb"}) is False
    assert term.colour_on(tty, "never", {}) is False
    assert term.colour_on(io.StringIO(), "auto", {}) is False  # a pipe
    assert term.colour_on(io.StringIO(), "always", {"NO_COLOR": "1"}) is True


def test_a_terminal_gets_colour_and_wrapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "60")
    tty = Tty()
    out = term.output(tty, "auto")
    out.write("PASS  attestation esx-01 after step 'upgrade': notAttested "
              "(untrusted_base_image) as expected, and more words here\nFAIL  x\n")
    out.flush()
    text = tty.getvalue()
    assert ESC in text and "\x1b[1;32mPASS" in text and "\x1b[1;31mFAIL" in text
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert all(len(line) <= 60 for line in plain.splitlines())
    assert plain.splitlines()[1].startswith("      ")
    # NO_COLOR: still wrapped for the terminal, but no colour.
    monkeypatch.setenv("NO_COLOR", "1")
    tty2 = Tty()
    out2 = term.output(tty2, "auto")
    out2.write("PASS  " + "word " * 20 + "\n")
    out2.flush()
    assert ESC not in tty2.getvalue() and len(tty2.getvalue().splitlines()) > 1


def test_pipes_and_json_stay_plain_and_byte_stable(run_text: str,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    path = str(SCENARIOS / "upgrade-before-import.yaml")
    assert main(["run", path]) == 0
    piped = capsys.readouterr().out
    assert piped == run_text and ESC not in piped  # what the golden transcript holds
    assert term.output(io.StringIO(), "auto") is not None
    assert main(["run", path, "--color", "never"]) == 0
    assert capsys.readouterr().out == run_text
    assert main(["--color", "always", "run", path, "--json"]) == 0
    out = capsys.readouterr().out
    assert ESC not in out and json.loads(out)["ok"] is True
    # --color always colours a pipe but never wraps it.
    assert main(["run", path, "--color", "always"]) == 0
    coloured = capsys.readouterr().out
    assert ESC in coloured and re.sub(r"\x1b\[[0-9;]*m", "", coloured) == run_text


def test_errors_stay_plain_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no-such-file.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ESC not in err


def test_progress_only_on_a_terminal() -> None:
    pipe = io.StringIO()
    with term.progress(pipe, "check") as bar:
        bar(1, 3, "searching")
    assert pipe.getvalue() == ""
    tty = Tty()
    with term.progress(tty, "check", choice="never") as bar:
        bar(1, 3, "searching")
        bar(3, 3, "done")
    drawn = tty.getvalue()
    assert "check" in drawn and "3/3" in drawn and "elapsed" in drawn and "left" in drawn


def test_golden_reports_progress_per_scenario(tmp_path: Path) -> None:
    """`vtalab golden` (and --update) tell the progress bar about each scenario."""
    import argparse
    from contextlib import contextmanager

    from vtalab.scenario import golden

    calls: list[tuple[str, int, int, str]] = []

    @contextmanager
    def factory(description: str):  # type: ignore[no-untyped-def]
        yield lambda done, total, what: calls.append((description, done, total, what))

    files = [str(SCENARIOS / "restart-vta-services.yaml"),
             str(SCENARIOS / "quick-boot-upgrade.yaml")]
    args = argparse.Namespace(files=files, update=False, dir=None, progress=factory)
    assert golden._run(args, io.StringIO()) == 0
    assert calls == [("golden", 0, 2, "restart-vta-services"),
                     ("golden", 1, 2, "quick-boot-upgrade")]
