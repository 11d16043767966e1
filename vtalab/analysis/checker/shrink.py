"""After Hypothesis: make a counterexample 1-minimal and name the step that caused it.

Hypothesis shrinks what it generated (fewer and simpler faults, less perturbation) but
never takes away a step of the plan. Two passes finish the job:

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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vtalab.analysis.checker.cases import Case
from vtalab.scenario.model import Step, step_text

if TYPE_CHECKING:
    from vtalab.analysis.checker.search import Checker

__all__ = ["culprit", "minimise", "step_changes"]


def minimise(checker: Checker, case: Case, name: str, *,
             on_progress: Callable[[Case], None] | None = None) -> Case:
    """A 1-minimal sub-case of ``case`` that still violates invariant ``name``."""
    current = case
    changed = True
    while changed:
        changed = False
        for component in current.components():
            candidate = current.without(component)
            if checker.violates(candidate, name):
                current = candidate
                changed = True
                if on_progress is not None:
                    on_progress(current)
                break
    return current


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
    for index in case.steps:
        # A change says more than a removal ("one at a time" rather than "not at all").
        variants: list[tuple[str, Any]] = [
            (desc, case.with_step(index, changed))
            for desc, changed in step_changes(checker.plan.steps[index])]
        variants.append(("removing it", case.without(("step", index))))
        for how, variant in variants:
            if not checker.violates(variant, name):
                return f"{_name(checker, index)}: {how} makes the violation disappear"
    return None
