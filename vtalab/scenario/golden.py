"""Golden transcripts: every bundled scenario's ``vtalab run`` output, saved and compared.

Like SimPy's runnable examples, each scenario under ``scenarios/`` has a transcript
``scenarios/golden/<stem>.txt`` holding exactly what
``vtalab run --reveal scenarios/<stem>.yaml`` prints (the same
:func:`vtalab.scenario.timeline.render_run`, with the file named as typed from the
repository root): the lab's view, so a change of what the lab knows (a TPM measurement,
an attestation verdict) shows up in a transcript as well as a change of what operators
see. A transcript changes only by an explicit regeneration::

    vtalab golden            # compare; exit 1 and a unified diff on any difference
    vtalab golden --update   # rewrite the transcripts (then review them with git diff)
    python -m vtalab.scenario.golden --update

``tests/test_golden.py`` compares and never rewrites, so a behaviour change shows up as a
reviewed diff of operator-visible text, not as a silently refreshed file.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from vtalab.core.files import check_target, decode_text, read_bytes, write_atomic
from vtalab.core.resources import bundled
from vtalab.errors import InputError, ScenarioError
from vtalab.scenario.expect import expectations_markdown
from vtalab.scenario.model import check_count, load_scenario_text, run_scenario
from vtalab.scenario.timeline import render_run
from vtalab.scenario.yamlloc import read_text

__all__ = ["GOLDEN_DIR", "LIBRARY", "Comparison", "compare", "golden_path",
           "library_markdown", "orphans", "register", "render", "saved", "scenario_files",
           "update"]

#: Where transcripts live, relative to the scenarios directory.
GOLDEN_DIR = "golden"


def scenario_files(scenarios: Path) -> list[Path]:
    """The bundled scenarios (``*.yaml`` directly under ``scenarios``), sorted by name."""
    if not scenarios.is_dir():
        raise InputError(f"no scenarios directory {str(scenarios)!r}",
                         what="directory", value=str(scenarios))
    found = sorted(scenarios.glob("*.yaml"))
    if not found:  # "0 identical, 0 different" would pass a typo of --dir
        raise InputError(f"{scenarios}: no scenario files (*.yaml) in this directory; give "
                         "the folder that holds them (its transcripts are in golden/)",
                         what="directory", value=str(scenarios))
    return found


def orphans(scenarios: Path) -> list[Path]:
    """Transcripts in ``scenarios/golden/`` without a scenario: a renamed or removed
    scenario's leftover, which nothing compares any more."""
    folder = scenarios / GOLDEN_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.txt") if not (scenarios / f"{p.stem}.yaml").is_file())


def golden_path(scenario: Path) -> Path:
    """``scenarios/golden/<stem>.txt`` for ``scenarios/<stem>.yaml``."""
    return scenario.parent / GOLDEN_DIR / f"{scenario.stem}.txt"


def render(scenario: Path) -> str:
    """Exactly what ``vtalab run scenarios/<file>`` prints for this scenario.

    The file is named ``<scenarios dir name>/<file name>`` in the heading, as when the
    command is typed from the repository root, so the transcript does not depend on
    where the repository is checked out.
    """

    shown = f"{scenario.parent.name}/{scenario.name}"
    text = read_text(str(scenario))
    try:
        loaded = load_scenario_text(text, file=shown)
    except ScenarioError:
        load_scenario_text(text, file=str(scenario))  # the same error, naming the file as given
        raise
    return render_run(run_scenario(loaded), file=shown, reveal=True)


@dataclass(frozen=True)
class Comparison:
    """One scenario against its transcript: ``diff`` is empty when they are identical."""

    scenario: Path
    golden: Path
    diff: str

    @property
    def ok(self) -> bool:
        return not self.diff


def _diff(want: str | None, got: str, golden: Path) -> str:
    if want == got:
        return ""
    if want is None:
        return f"{golden}: missing (run `vtalab golden --update` to create it)\n"
    lines = difflib.unified_diff(want.splitlines(keepends=True), got.splitlines(keepends=True),
                                 fromfile=f"{golden} (saved)",
                                 tofile=f"{golden} (vtalab run now)")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def saved(golden: Path) -> str | None:
    """The saved transcript ``golden``, or None if there is none. Bounded, a regular file
    only (a folder or a FIFO in its place is an error, not \"missing\"), UTF-8 text (a
    located error otherwise)."""
    if not golden.exists() and not golden.is_symlink():
        return None
    path = str(golden)
    return decode_text(read_bytes(path, what="golden transcript"), path,
                       what="golden transcript")


#: How an ``explain`` transcript begins: the goldens of the bug stories (scenarios/bugs/),
#: rewritten by ``python -m vtalab.cli.explain --update-goldens``, never by this module.
_EXPLAIN_HEAD = "== explain "


def _not_explain(golden: Path, text: str | None) -> str | None:
    """``text`` (the saved transcript), refused if it is an explain transcript: `vtalab
    golden scenarios/bugs/X.yaml --update` replaced the bug story's explain golden."""
    if text is not None and text.startswith(_EXPLAIN_HEAD):
        raise InputError(f"{golden} is an explain transcript (a bug story's golden, "
                         "rewritten with `python -m vtalab.cli.explain --update-goldens`), "
                         "not a run transcript: vtalab golden neither compares nor rewrites "
                         "it", value=str(golden))
    return text


def compare(scenario: Path) -> Comparison:
    """Render ``scenario`` and compare it with its saved transcript (never writes)."""
    golden = golden_path(scenario)
    want = _not_explain(golden, saved(golden))
    return Comparison(scenario, golden, _diff(want, render(scenario), golden))


def _check_writable(golden: Path) -> None:
    """Refuse, before any scenario runs, a transcript that cannot be written: its folder
    is a file, or it is a folder, device or FIFO itself."""
    folder = golden.parent
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot write {golden}: {folder} is a file, not the folder of the "
                         "golden transcripts", value=str(golden))
    if folder.is_dir():
        check_target(str(golden))


def update(scenarios: Sequence[Path],
           progress: Callable[[int, int, str], None] | None = None) -> list[Path]:
    """Rewrite the transcripts of ``scenarios`` that differ; returns the files written.

    Every scenario is rendered before anything is written, so a scenario that cannot be
    loaded leaves every transcript as it was. ``progress(done, total, name)`` is told
    before each scenario runs.
    """
    for s in scenarios:
        _check_writable(golden_path(s))
        _not_explain(golden_path(s), saved(golden_path(s)))
    rendered = []
    for n, s in enumerate(scenarios):
        if progress is not None:
            progress(n, len(scenarios), s.stem)
        rendered.append((golden_path(s), render(s)))
    written = []
    for golden, text in rendered:
        if golden.is_file() and saved(golden) == text:
            continue
        try:
            golden.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot write {golden}: cannot create {golden.parent}: "
                             f"{exc.strerror or exc}", value=str(golden)) from None
        write_atomic(str(golden), text)
        written.append(golden)
    return written


#: The bundled scenario library (package data; ``scenarios/`` in a checkout links to it).
LIBRARY = bundled("scenarios")


def library_markdown(scenarios: Path | None = None) -> str:
    """``docs/scenarios.md``: every bundled scenario, its document source and how to run it."""

    base = scenarios or LIBRARY
    loaded = [(p, load_scenario_text(read_text(str(p)), file=str(p)))
              for p in scenario_files(base)]
    lines = ["# Scenarios", "",
             "Generated from `scenarios/*.yaml` by `python tools/docgen.py docs`; do not edit "
             "by hand.", "",
             "Each scenario reproduces one section of the documentation and asserts the "
             "documented outcome. Its golden transcript (`scenarios/golden/<name>.txt`) is "
             "exactly what `vtalab run` prints; `vtalab golden` compares them and "
             "`vtalab golden --update` regenerates them.", "",
             "| scenario | steps | checks | run |", "|---|---|---|---|"]
    for path, sc in loaded:
        command = f"vtalab run {base.name}/{path.name}"
        # checks: the verdicts `vtalab run` reports (expectations + expected refusals)
        lines.append(f"| [`{sc.name}`](#{sc.name}) | {len(sc.steps)} | {check_count(sc)} "
                     f"| `{command}` |")
    lines += ["", "## Expectations", "",
              "An expectation is a time anchor (`at`, or `after_step` plus an optional "
              "`delay`; none: the end of the run) and one check of these kinds:", "",
              expectations_markdown().rstrip(), "",
              "A step running a `Get-…` cmdlet shows its PowerCLI objects in the timeline as "
              "the PowerCLI console prints them (a table, or a list for a type with more "
              "than four default properties), and `vtalab run --json` gives them as "
              "`output` (with `output_type`) of the step. An `output` check reads them; "
              "values compare as the table shows them, ignoring case:", "",
              "```yaml", "steps:",
              "  - {id: images, at: 2h, do: Get-TrustAuthorityVMHostBaseImage}",
              "expect:", "  - output: {step: images, count: 2}",
              "  - output: {step: images, where: {VMHostVersion: 8.0.1-21495797}, "
              "property: Health, equals: Ok}", "```"]
    for path, sc in loaded:
        refusals = check_count(sc) - len(sc.expect)
        lines += ["", f"## {sc.name}", "", " ".join(sc.description.split()), "",
                  f"- Source: {sc.source or '(none given)'}",
                  f"- Steps: {len(sc.steps)}; checks: {check_count(sc)} ({len(sc.expect)} "
                  f"expectations, {refusals} expected refusal{'' if refusals == 1 else 's'}); "
                  f"seed {sc.seed}",
                  f"- Run: `vtalab run {base.name}/{path.name}`"]
    return "\n".join(lines) + "\n"


def _selected(args: argparse.Namespace) -> list[Path]:
    if args.files:
        paths = [Path(f) for f in args.files]
        for p in paths:
            if not p.is_file():
                raise InputError(f"no scenario file {str(p)!r}", what="file", value=str(p),
                                 choices=[str(s) for s in scenario_files(
                                     Path(args.dir) if args.dir else LIBRARY)])
        return paths
    return scenario_files(Path(args.dir) if args.dir else LIBRARY)


def _run(args: argparse.Namespace, out: TextIO) -> int:
    selected = _selected(args)
    # The whole library: a transcript left without its scenario is reported (never deleted).
    left = [] if args.files else orphans(Path(args.dir) if args.dir else LIBRARY)
    factory = getattr(args, "progress", None)  # a bar on stderr, set by vtalab.cli.app
    if args.update:
        with factory("golden --update") if factory else nullcontext(None) as bar:
            written = update(selected, bar)
        for path in written:
            out.write(f"wrote {path}\n")
        for path in left:
            out.write(f"left alone {path}: no scenario {path.stem}.yaml (delete it if the "
                      "scenario was removed or renamed)\n")
        out.write(f"{len(selected)} transcripts, {len(written)} rewritten\n")
        return 0
    failed = 0
    with factory("golden") if factory else nullcontext(None) as bar:
        results = []
        for n, scenario in enumerate(selected):
            if bar is not None:
                bar(n, len(selected), scenario.stem)
            results.append(compare(scenario))
    for result in results:
        if result.ok:
            out.write(f"same  {result.golden}\n")
        else:
            failed += 1
            out.write(f"DIFF  {result.golden}\n{result.diff}")
    for path in left:
        out.write(f"ORPHAN {path}: no scenario {path.stem}.yaml compares it (delete it if the "
                  "scenario was removed or renamed)\n")
    out.write(f"{len(selected) - failed} identical, {failed} different"
              + (f", {len(left)} orphaned" if left else "") + "\n")
    if failed:
        out.write("if the new output is right, run `vtalab golden --update` and review the "
                  "diff\n")
    return 1 if failed or left else 0


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="scenarios to check (default: every scenarios/*.yaml)")
    p.add_argument("--update", action="store_true",
                   help="rewrite the transcripts instead of comparing them")
    p.add_argument("--dir", default=None, metavar="DIR",
                   help="the scenarios directory (default: the bundled library, "
                        "scenarios/ in a checkout)")


def register(sub: argparse._SubParsersAction
             ) -> dict[str, Callable[[argparse.Namespace, TextIO], int]]:
    """Add ``vtalab golden`` to the CLI (see :data:`vtalab.cli.app.EXTENSIONS`)."""
    p = sub.add_parser(
        "golden", help="compare (or --update) the scenarios' golden transcripts",
        description="Compare what `vtalab run` prints for each scenario with its golden "
                    "transcript (scenarios/golden/); --update rewrites them. Exit 1 when "
                    "one differs.",
        epilog="Examples:\n  vtalab golden\n  vtalab golden scenarios/quick-boot-upgrade.yaml"
               "\n  vtalab golden --update     # after a deliberate change; review the diff")
    _add_arguments(p)
    return {"golden": _run}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vtalab.scenario.golden [--update] [FILE...]``."""
    parser = argparse.ArgumentParser(prog="python -m vtalab.scenario.golden",
                                     description="Golden transcripts of the scenarios.")
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return _run(args, sys.stdout)
    except InputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
