"""After the search: shrink a failing case, make it 1-minimal, name the step that caused it.

* :func:`shrink` — fewer and simpler faults, less perturbation (a fault taken away,
  striking earlier or healing sooner, a smaller shift, boots less slow), every plan step
  kept; the case the culprit search starts from.
* :func:`minimise` — a delta-debugging pass to a **1-minimal** case: take away one
  component at a time (a plan step, a fault, a shifted step, a Quick Boot setting left
  on, the slower boots) and keep the removal whenever the same invariant is still
  violated; stop when no single removal keeps it. So taking away any one remaining
  component makes the violation disappear — which the tests check for every example
  plan.
* :func:`culprit` — on the shrunk case (every plan step still there), re-run with each
  plan step removed or changed, earliest first, and name the first step without which
  (or changed how) the violation disappears: a Quick Boot or ``auto`` remediation made a
  full boot, a ``background`` step waited for (one at a time instead of at once).

Each pass takes the *first* candidate, in a fixed order, that qualifies; candidates run a
window at a time (:meth:`~vtalab.analysis.checker.search.Checker.first`), so the result
is the same in-process and on any number of Dask workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vtalab.analysis.checker.cases import Case, simpler
from vtalab.scenario.checks import semantic_problems
from vtalab.scenario.model import Step, step_text

if TYPE_CHECKING:
    from vtalab.analysis.checker.search import Checker

__all__ = ["culprit", "minimise", "shrink", "step_changes"]

#: Every pass ends: each accepted candidate is strictly smaller or simpler, and this caps
#: the passes besides (a case has at most a few dozen components and values).
MAX_PASSES = 500


def _descend(checker: Checker, case: Case, name: str,
             candidates: Callable[[Case], list[Case]],
             on_progress: Callable[[Case], None] | None) -> Case:
    """Replace ``case`` by the first of its candidates that still violates ``name``
    (:meth:`Checker.first`: a fixed order, whatever runs where), until none does."""
    current = case
    for _ in range(MAX_PASSES):
        options = candidates(current)
        index = checker.first(options, name)
        if index is None:
            break
        current = options[index]
        if on_progress is not None:
            on_progress(current)
    return current


def shrink(checker: Checker, case: Case, name: str, *,
           on_progress: Callable[[Case], None] | None = None) -> Case:
    """``case`` with faults and perturbations taken away or made simpler while it still
    violates ``name``; every plan step is kept (the culprit search needs them)."""
    def candidates(c: Case) -> list[Case]:
        return ([c.without(p) for p in c.components() if p[0] != "step"]
                + simpler(c, checker.intensity))

    return _descend(checker, case, name, candidates, on_progress)


def minimise(checker: Checker, case: Case, name: str, *,
             on_progress: Callable[[Case], None] | None = None) -> Case:
    """A 1-minimal sub-case of ``case`` that still violates invariant ``name``."""
    return _descend(checker, case, name,
                    lambda c: [c.without(p) for p in c.components()], on_progress)


def step_changes(step: Step) -> list[tuple[str, Step]]:
    """Ways an operator could have written ``step`` differently (description, step)."""
    out: list[tuple[str, Step]] = []
    args = dict(step.with_)
    verb = step.do.lower()
    if verb == "upgrade-host" and args.get("reboot", "auto") in ("auto", "quick"):
        out.append(("running it with a full boot (reboot: full) instead of "
                    + ("Quick Boot" if args.get("reboot") == "quick" else "reboot: auto"),
                    step.model_copy(update={"with_": {**args, "reboot": "full"}})))
    if verb == "reboot-host" and args.get("mode") == "quick":
        out.append(("running it with a full boot instead of Quick Boot",
                    step.model_copy(update={"with_": {**args, "mode": "full"}})))
    if step.background:
        out.append(("waiting for it to finish before the next step (one at a time)",
                    step.model_copy(update={"background": False})))
    return out


def _name(checker: Checker, index: int) -> str:
    step = checker.plan.steps[index]
    ref = f"step {index + 1}" + (f" {step.id!r}" if step.id else "")  # numbered from 1
    return f"{ref} ({step_text(step)})"


def culprit(checker: Checker, case: Case, name: str) -> str | None:
    """The earliest plan step whose removal or change makes ``name``'s violation vanish."""
    variants: list[tuple[int, str, Case]] = []
    for index in case.steps:
        # A change says more than a removal ("one at a time" rather than "not at all").
        # (a change the scenario language refuses, such as waiting for a background
        # step when the next one has an earlier fixed time, is no candidate)
        variants += [(index, desc, variant)
                     for desc, changed in step_changes(checker.plan.steps[index])
                     if not semantic_problems(checker.scenario(
                         variant := case.with_step(index, changed)))]
        variants.append((index, "removing it", case.without(("step", index))))
    k = checker.first([v for *_, v in variants], name, violating=False)
    if k is None:
        return None
    index, how, _ = variants[k]
    return f"{_name(checker, index)}: {how} makes the violation disappear"
