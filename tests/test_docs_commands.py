"""Every `vtalab …` command the README and docs/*.md show in a shell block runs as written.

A new user copies commands from the docs. This test extracts them and runs them with the
installed entry point (``python -m vtalab``, the interpreter running the tests) in a fresh
directory, so a renamed option, a moved file or a command that now fails is caught here
and not by the next reader.

What counts as a command (see ``commands_of``):

- lines of fenced code blocks tagged ``sh``, ``bash`` or ``shell`` that start with
  ``vtalab ``, and of ``console`` blocks that start with ``$ vtalab `` (other lines there
  are output; a ``\\`` at the end continues the line), and the
  ``vtalab …`` parts of a ``… && vtalab …`` line (the README's Quick start);
- a trailing ``# exit N`` comment states the exit code the doc promises; without one the
  command must exit 0 or 1 (a verdict), never 2 (bad input) or 3 (internal error);
- a block whose opening fence follows a ``<!-- not-run: REASON -->`` line is skipped, and
  REASON says why (needs a served world, a Dask cluster, a file that is the reader's own).

The commands of one document run in order in one directory, as a reader would type them:
``vtalab bundle … --out BUG.tgz`` is followed by ``vtalab run BUG.tgz``. The directory holds
``scenarios`` (the bundled scenario library, as in a checkout) and the PowerCLI sample
exports of ``tests/data/powercli/``, which docs/quick-boot.md names as the samples.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from vtalab.cli.app import _parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_TAGS = {"sh", "bash", "shell", "console"}
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(\S.*?)\s*-->")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
EXIT = re.compile(r"#\s*exit\s+(\d)\b")
TIMEOUT = 120  # seconds per command: a bound, not a speed check (benchmarks/ do those)


def commands_of(text: str) -> tuple[list[tuple[int, str, set[int]]], list[tuple[int, str]]]:
    """(line, command, allowed exit codes) to run, and (line, reason) of skipped blocks."""
    runs: list[tuple[int, str, set[int]]] = []
    skipped: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        tag, start = m.group(2), i
        end = start + 1
        while end < len(lines) and not FENCE.match(lines[end]):
            end += 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        reason = NOT_RUN.search(prev)
        if tag in SHELL_TAGS and reason:
            skipped.append((start + 1, reason.group(1)))
        elif tag in SHELL_TAGS:
            k = start + 1
            while k < end:
                first, line = k, lines[k].strip()
                while line.endswith("\\") and k + 1 < end:
                    k += 1
                    line = line[:-1].rstrip() + " " + lines[k].strip()
                k += 1
                if tag == "console":  # a prompt marks a command; the rest is output
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                expected = EXIT.search(line)
                command = re.sub(r"\s+#.*$", "", line)
                for part in command.split(" && "):
                    if part.startswith("vtalab "):
                        codes = {int(expected.group(1))} if expected else {0, 1}
                        runs.append((first + 1, part.strip(), codes))
        i = end + 1
    return runs, skipped


def _cases() -> list[object]:
    cases = []
    for doc in DOCS:
        runs, _ = commands_of(doc.read_text(encoding="utf-8"))
        if runs:
            cases.append(pytest.param(doc, id=doc.relative_to(ROOT).as_posix()))
    return cases


@pytest.fixture
def reader_dir(tmp_path: Path) -> Path:
    """A fresh directory laid out as a reader's: scenarios/ and the PowerCLI samples."""
    library = resources.files("vtalab") / "data" / "scenarios"
    os.symlink(str(library), tmp_path / "scenarios", target_is_directory=True)
    for sample in (ROOT / "tests" / "data" / "powercli").iterdir():
        shutil.copy(sample, tmp_path / sample.name)
    return tmp_path


@pytest.mark.parametrize("doc", _cases())
def test_documented_commands_run_as_written(doc: Path, reader_dir: Path) -> None:
    runs, _ = commands_of(doc.read_text(encoding="utf-8"))
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    name = doc.relative_to(ROOT).as_posix()
    for line, command, codes in runs:
        argv = [sys.executable, "-m", "vtalab", *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=reader_dir, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
        where = f"{name}:{line}: `{command}`"
        assert "Traceback" not in done.stdout + done.stderr, f"{where}\n{done.stderr}"
        assert done.returncode in codes, (
            f"{where} exited {done.returncode}, the doc implies {sorted(codes)}\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def test_the_docs_show_commands_to_run_and_say_why_others_are_not_run() -> None:
    """The extraction finds what a reader runs, and every skipped block gives its reason."""
    found = {}
    for doc in DOCS:
        runs, skipped = commands_of(doc.read_text(encoding="utf-8"))
        found[doc.name] = [command for _, command, _ in runs]
        for line, reason in skipped:
            assert len(reason) >= 10, f"{doc.name}:{line}: say why the block is not run"
    assert found["README.md"] == ["vtalab run scenarios/quick-boot-upgrade.yaml"]
    assert any(c.startswith("vtalab check ") for c in found["checker.md"])
    assert any(c.startswith("vtalab bundle ") for c in found["quick-boot.md"])
    assert any(c.startswith("vtalab campaign ") for c in found["campaign.md"])


def test_extraction_rules() -> None:
    text = "\n".join([
        "```sh", "pip install . && vtalab run a.yaml", "vtalab check p.yaml   # exit 0",
        "```", "```console", "$ vtalab import --hosts h.json \\", "    --out e.yaml",
        "wrote e.yaml", "vtalab output is not a command",
        "$ vtalab run BUG.tgz   # exit 1: it reproduces", "```",
        "<!-- not-run: needs a served world -->", "```sh", "vtalab serve x.yaml", "```",
        "```", "vtalab run untagged.yaml", "```", "```yaml", "vtalab run yaml.yaml", "```",
    ])
    runs, skipped = commands_of(text)
    assert runs == [
        (2, "vtalab run a.yaml", {0, 1}),
        (3, "vtalab check p.yaml", {0}),
        (6, "vtalab import --hosts h.json --out e.yaml", {0, 1}),
        (10, "vtalab run BUG.tgz", {1}),
    ]
    assert skipped == [(13, "needs a served world")]


# `vtalab COMMAND --help` examples (issue 16 asks for runnable ones): those a reader can run
# as printed, in a fresh folder laid out as above, must run. Not run, for the reason given:
HELP_NOT_RUN = {
    "...": "elided arguments",
    "tcp://": "needs a Dask scheduler",
    "--workers": "needs vtalab[dask] and spawns worker processes",
    "--update": "rewrites the bundled goldens",
    "vtalab serve": "serves until Ctrl-C",
}
HELP_NOT_RUN_EXACTLY = {
    "vtalab golden": "compares every bundled transcript (tests/test_golden.py does)",
}
OUTPUT_OPTIONS = {"--out", "--html", "--trace"}
INPUT_SUFFIXES = (".yaml", ".json", ".jsonl", ".tgz", ".ps1", ".txt", ".trace")


def _help_examples() -> list[object]:
    sub = next(a for a in _parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    cases = []
    for name, parser in sorted(sub.choices.items()):
        text = parser.format_help().split("Examples:\n", 1)[1]
        lines = [re.sub(r"\s+#.*$", "", line.strip()) for line in text.splitlines()]
        lines = [line for line in lines if line.startswith("vtalab ")]
        cases.append(pytest.param(name, lines, id=name))
    return cases


@pytest.mark.parametrize(("name", "examples"), _help_examples())
def test_help_examples_run_where_their_files_exist(name: str, examples: list[str],
                                                   reader_dir: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    ran = 0
    for example in examples:
        if example in HELP_NOT_RUN_EXACTLY or any(m in example for m in HELP_NOT_RUN):
            continue
        argv = shlex.split(example)[1:]
        if ">" in argv:  # `vtalab verbs --markdown > docs/verbs.md`: the output is not kept
            argv = argv[:argv.index(">")]
        if argv[0] == "train" and len(argv) > 1 and "--commands" not in argv:
            continue  # the interactive shell
        inputs = [arg for i, arg in enumerate(argv) if arg.endswith(INPUT_SUFFIXES)
                  and (i == 0 or argv[i - 1] not in OUTPUT_OPTIONS)]
        if not all((reader_dir / arg).is_file() for arg in inputs):
            continue  # the reader's own file (my-plan.yaml), or one an earlier line makes
        done = subprocess.run([sys.executable, "-m", "vtalab", *argv], cwd=reader_dir,
                              env=env, capture_output=True, text=True, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
        where = f"vtalab {name} --help example `{example}`"
        assert "Traceback" not in done.stdout + done.stderr, f"{where}\n{done.stderr}"
        assert done.returncode in (0, 1), (
            f"{where} exited {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        ran += 1
    runnable = {"run", "replay", "evidence", "logs", "verbs", "schema", "check", "campaign",
                "train", "explain", "import", "bundle", "golden"}
    assert ran or name not in runnable, f"no example of vtalab {name} ran"
