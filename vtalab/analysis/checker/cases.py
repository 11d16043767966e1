"""What the plan checker varies: injected faults, timing perturbations, and kept steps.

A **case** is one way the world could treat a plan: the plan's steps (all of them while
searching; fewer while minimising a counterexample), a fault schedule, and timing
perturbations. :func:`build_scenario` turns a case into an ordinary
:class:`~vtalab.scenario.model.Scenario`, so what the checker runs is exactly what
``vtalab run`` runs when the counterexample file is read back:

* a **fault** is a ``background: true`` step inserted *before* plan step ``position``
  (``position == len(plan.steps)``: after the last) with ``after: delay``: it strikes
  ``delay`` seconds after the previous plan step finished, while the steps after it go
  on — in the middle of an upgrade's staging or reboot when the delay says so. That pair
  (fault, position) is an **interleaving**. Checker faults always heal (they carry a
  ``duration``): a fault that never heals is a different plan, and belongs in the plan.
* **timing**: boots, shutdowns and upgrade staging slowed down by a factor (through
  :class:`~vtalab.core.parameters.Parameters`), plan steps started later than written, and a
  Trusted cluster whose vLCM **Quick Boot** setting was left on (a remediation with
  ``reboot: auto`` then Quick Boots where the plan expected a full boot).

The plan's own ``expect_error`` lines, like its ``expect`` block, are left out of the
built scenario; :func:`with_refusals` puts back the refusals a run actually had.

The Hypothesis strategy :func:`cases` draws them; every choice shrinks towards the plan
as written (no fault, factor 1, no shift, Quick Boot as the topology says).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from random import Random
from typing import Any, Literal

from hypothesis import strategies as st

from vtalab.core.parameters import Parameters
from vtalab.scenario.model import Scenario, Step

__all__ = [
    "INTENSITIES",
    "TIMED_PARAMETERS",
    "Case",
    "Fault",
    "Intensity",
    "build_scenario",
    "cases",
    "draw_cases",
    "fault_menu",
    "simpler",
    "with_refusals",
]

Intensity = Literal["none", "light", "heavy"]
INTENSITIES: tuple[str, ...] = ("none", "light", "heavy")

#: The parameters a "slower" world scales: boots, shutdowns and upgrade staging.
TIMED_PARAMETERS = ("full_boot_seconds", "quick_boot_seconds", "shutdown_seconds",
                    "upgrade_stage_seconds")
BOOT_FACTORS = (1.0, 1.5, 2.0, 3.0)
SHIFTS = (60, 300, 900, 1800)

#: Per intensity: most faults per case, fault durations, most shifted steps.
_LIMITS: dict[str, dict[str, Any]] = {
    "none": {"faults": 0, "durations": (), "shifts": 2},
    "light": {"faults": 2, "durations": (60, 300, 900), "shifts": 2},
    "heavy": {"faults": 5, "durations": (60, 300, 900, 1800, 3600), "shifts": 4},
}


@dataclass(frozen=True, order=True)
class Fault:
    """One injected fault: registry name and arguments, where and when it strikes."""

    position: int  #: inserted before this plan step (len(steps): after the last)
    delay: int  #: seconds after the previous step finished
    do: str
    args: tuple[tuple[str, Any], ...] = ()

    @property
    def with_(self) -> dict[str, Any]:
        return dict(self.args)

    def text(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.args)
        return f"{self.do} {args}".strip()


@dataclass(frozen=True)
class Case:
    """A plan's steps to keep, a fault schedule and timing perturbations."""

    steps: tuple[int, ...]  #: indices of the plan steps kept, in order
    faults: tuple[Fault, ...] = ()
    boot_factor: float = 1.0
    shifts: tuple[tuple[int, int], ...] = ()  #: (plan step index, extra seconds)
    quick_boot: tuple[str, ...] = ()  #: trusted clusters whose Quick Boot was left on
    #: plan step index -> replacement step (the culprit search's "changed" steps)
    changed: tuple[tuple[int, Step], ...] = field(default=())

    @classmethod
    def as_written(cls, plan: Scenario) -> Case:
        return cls(steps=tuple(range(len(plan.steps))))

    def components(self) -> list[tuple[str, Any]]:
        """Everything a minimiser may take away, one at a time."""
        out: list[tuple[str, Any]] = [("step", i) for i in self.steps]
        out += [("fault", f) for f in self.faults]
        out += [("shift", s) for s in self.shifts]
        out += [("quick_boot", c) for c in self.quick_boot]
        if self.boot_factor != 1.0:
            out.append(("boot_factor", self.boot_factor))
        return out

    def without(self, component: tuple[str, Any]) -> Case:
        kind, value = component
        if kind == "step":
            return replace(self, steps=tuple(i for i in self.steps if i != value),
                           shifts=tuple(s for s in self.shifts if s[0] != value))
        if kind == "fault":
            rest = list(self.faults)
            rest.remove(value)
            return replace(self, faults=tuple(rest))
        if kind == "shift":
            return replace(self, shifts=tuple(s for s in self.shifts if s != value))
        if kind == "quick_boot":
            return replace(self, quick_boot=tuple(c for c in self.quick_boot if c != value))
        return replace(self, boot_factor=1.0)

    def without_steps(self) -> Case:
        """The same faults and timing with no plan step at all (the baseline)."""
        return replace(self, steps=(), shifts=(), changed=())

    def with_step(self, index: int, step: Step) -> Case:
        return replace(self, changed=(*[c for c in self.changed if c[0] != index],
                                      (index, step)))


# -- the fault menu ---------------------------------------------------------------------

def fault_menu(plan: Scenario, intensity: str = "heavy") -> list[tuple[str, dict[str, Any]]]:
    """The faults the checker may inject into this plan's estate (without duration).

    Each stands for a failure of the domain reference (§8). **light**: the failures the
    Trust Authority cluster's redundancy is built to absorb — a TA host cut off from the
    network, attestd or kmxd crashing on a TA host (the other TA hosts serve meanwhile;
    kmxa retries; tokens and cached keys outlive the outage). **heavy** adds the ones
    that hurt whatever the plan: a trusted host cut off or its kmxa crashing (it cannot
    receive an encrypted VM meanwhile), a KMS blip (a host that just rebooted cannot
    fetch a key) and a TA host dying (a TA object changed meanwhile is missing on it when
    it comes back).
    """
    t = plan.topology
    ta_hosts = [h.name for h in t.ta_cluster.hosts]
    trusted = [h.name for c in t.trusted_clusters for h in c.hosts]
    menu: list[tuple[str, dict[str, Any]]] = []
    menu += [("network-partition", {"vmhost": h}) for h in ta_hosts]
    menu += [("service-crash", {"vmhost": h, "service": s})
             for h in ta_hosts for s in ("attestd", "kmxd")]
    if intensity == "heavy":
        menu += [("network-partition", {"vmhost": h}) for h in trusted]
        menu += [("service-crash", {"vmhost": h, "service": "kmxa"}) for h in trusted]
        menu.append(("kms-outage", {}))
        menu += [("ta-host-down", {"vmhost": h}) for h in ta_hosts]
    return menu


def cases(plan: Scenario, intensity: str) -> st.SearchStrategy[Case]:
    """Hypothesis strategy of cases for ``plan`` at a fault ``intensity``."""
    limits = _LIMITS[intensity]
    n = len(plan.steps)
    menu = fault_menu(plan, intensity)

    def fault_from(choice: tuple[int, int, int, int]) -> Fault:
        pick, position, delay, duration = choice
        name, args = menu[pick]
        full = {**args, "duration": limits["durations"][duration]}
        return Fault(position, delay * 30, name, tuple(sorted(full.items())))

    faults: st.SearchStrategy[list[Fault]] = st.just([])
    if limits["faults"]:
        fault = st.tuples(st.integers(0, len(menu) - 1), st.integers(0, n),
                          st.integers(0, 30), st.integers(0, len(limits["durations"]) - 1)
                          ).map(fault_from)
        faults = st.lists(fault, max_size=limits["faults"])
    shifts: st.SearchStrategy[list[tuple[int, int]]] = st.just([])
    if n:
        shifts = st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(SHIFTS)),
                          max_size=limits["shifts"], unique_by=lambda s: s[0])
    flippable = [c.name for c in plan.topology.trusted_clusters if not c.quick_boot]
    flips: st.SearchStrategy[list[str]] = st.just([])
    if flippable and intensity != "none":
        flips = st.lists(st.sampled_from(flippable), unique=True, max_size=len(flippable))

    def make(parts: tuple[list[Fault], float, list[tuple[int, int]], list[str]]) -> Case:
        fs, factor, sh, qb = parts
        return Case(steps=tuple(range(n)), faults=tuple(sorted(fs)), boot_factor=factor,
                    shifts=tuple(sorted(sh)), quick_boot=tuple(sorted(qb)))

    return st.tuples(faults, st.sampled_from(BOOT_FACTORS), shifts, flips).map(make)


#: Draws in a row that find no new case after which :func:`draw_cases` stops: the list
#: is then all the space holds. Below 200 examples the 50 x count draws run out first,
#: so those lists are the same as with no such bound.
STALE_DRAWS = 10_000


def draw_cases(plan: Scenario, intensity: str, seed: int, count: int) -> list[Case]:
    """The checker's search list: ``count`` distinct cases of ``plan``, drawn from ``seed``
    alone (the same list in any process, for any number of workers).

    The first is the plan as written, then each single timing perturbation alone (a
    cluster's Quick Boot left on, the slowest boots); then cases of growing size from the
    same space as :func:`cases` (fault menu, interleavings, delays in 30 s steps,
    durations, slower boots, later steps, Quick Boot left on), small ones first.
    """
    limits = _LIMITS[intensity]
    n = len(plan.steps)
    menu = fault_menu(plan, intensity)
    flippable = [c.name for c in plan.topology.trusted_clusters if not c.quick_boot]
    rng = Random(f"vtalab check:{intensity}:{int(seed)}")  # str seed: sha512, no hash salt
    written = Case.as_written(plan)
    # then each single timing perturbation alone (what Hypothesis tried first)
    singles = [replace(written, quick_boot=(c,)) for c in flippable if intensity != "none"]
    singles.append(replace(written, boot_factor=BOOT_FACTORS[-1]))
    out = [written, *singles][:count]
    seen = set(out)
    attempts = stale = 0
    # A small case space (``--faults none``) is spent long before ``count``: stop when
    # STALE_DRAWS draws in a row found nothing new, not after 50 x count of them.
    while len(out) < count and attempts < 50 * count and stale < STALE_DRAWS:
        attempts += 1
        stale += 1
        size = min(1.0, 0.25 + len(out) / max(count, 1))  # grows along the list
        faults: list[Fault] = []
        if limits["faults"] and menu:
            many = rng.randint(1, max(1, round(limits["faults"] * size)))
            for _ in range(many if rng.random() < 0.8 else 0):
                name, args = menu[rng.randrange(len(menu))]
                duration = limits["durations"][rng.randrange(len(limits["durations"]))]
                full = {**args, "duration": duration}
                faults.append(Fault(rng.randint(0, n), 30 * rng.randint(0, 30), name,
                                    tuple(sorted(full.items()))))
        factor = BOOT_FACTORS[0] if rng.random() > size / 2 else rng.choice(BOOT_FACTORS)
        shifts: dict[int, int] = {}
        if n and rng.random() < size / 2:
            for _ in range(rng.randint(1, limits["shifts"])):
                shifts.setdefault(rng.randrange(n), rng.choice(SHIFTS))
        flips = sorted({c for c in flippable if rng.random() < size / 4}) \
            if intensity != "none" else []
        case = Case(steps=tuple(range(n)), faults=tuple(sorted(faults)), boot_factor=factor,
                    shifts=tuple(sorted(shifts.items())), quick_boot=tuple(flips))
        if case not in seen:
            seen.add(case)
            out.append(case)
            stale = 0
    return out


def simpler(case: Case, intensity: str) -> list[Case]:
    """``case`` with one value made simpler (what Hypothesis's shrinking did beyond taking
    things away): a fault striking earlier or healing sooner, a smaller shift, slower boots
    less slow. In a fixed order, so shrinking is the same wherever the runs happen."""
    durations = _LIMITS[intensity]["durations"] or (60,)
    out: list[Case] = []
    if case.boot_factor != 1.0:
        smaller = [f for f in BOOT_FACTORS if f < case.boot_factor]
        out += [replace(case, boot_factor=f) for f in smaller]
    for k, f in enumerate(case.faults):
        args = dict(f.args)
        variants: list[Fault] = []
        if f.delay:
            variants += [replace(f, delay=0)]
            if f.delay > 30:
                variants.append(replace(f, delay=30 * ((f.delay // 30) // 2)))
        duration = args.get("duration")
        for d in durations:
            if isinstance(duration, int | float) and d < duration:
                variants.append(replace(f, args=tuple(sorted({**args, "duration": d}
                                                             .items()))))
        for v in variants:
            rest = [*case.faults[:k], v, *case.faults[k + 1:]]
            out.append(replace(case, faults=tuple(sorted(rest))))
    for k, (index, extra) in enumerate(case.shifts):
        for smaller_shift in (s for s in SHIFTS if s < extra):
            moved = [*case.shifts[:k], (index, smaller_shift), *case.shifts[k + 1:]]
            out.append(replace(case, shifts=tuple(moved)))
    return out


# -- a case as a scenario -----------------------------------------------------------------

def _num(x: float | str) -> float | int | str:
    if isinstance(x, str):  # a policy parameter (``ta_change_notice``)
        return x
    return int(x) if float(x).is_integer() else x


def _parameters(plan: Scenario, factor: float) -> dict[str, float | str]:
    params = dict(plan.parameters)
    if factor != 1.0:
        defaults = Parameters()
        for name in TIMED_PARAMETERS:
            base = float(params.get(name, getattr(defaults, name)))
            params[name] = _num(round(base * factor))
    return params


def _shifted(plan: Scenario, step: Step, index: int, extra: int) -> Step:
    """``step`` started ``extra`` seconds later, if the times after it still allow it."""
    if step.at is None:
        return step.model_copy(update={"after": (step.after or 0.0) + extra})
    later = [s.at for s in plan.steps[index + 1:] if s.at is not None and not s.background]
    if later and step.at + extra > min(later):
        return step
    return step.model_copy(update={"at": step.at + extra})


def build_scenario(plan: Scenario, case: Case, *, settle: float, name: str | None = None,
                   description: str | None = None, expect: list[Any] | None = None
                   ) -> Scenario:
    """The scenario that runs ``case`` of ``plan`` (plan expectations are left out)."""
    shifts = dict(case.shifts)
    changed = dict(case.changed)
    kept = set(case.steps)
    steps: list[Step] = []
    by_position: dict[int, list[Fault]] = {}
    for f in case.faults:
        by_position.setdefault(f.position, []).append(f)
    # Before the first step, delays count from the plan's first step time, not from T=0:
    # the estate is still powering its VMs on at T=0, and no plan runs then.
    origin = 0.0
    if plan.steps:
        origin = plan.steps[0].at if plan.steps[0].at is not None else plan.steps[0].after or 0
    for i in range(len(plan.steps) + 1):
        for f in by_position.get(i, []):
            delay = f.delay + (origin if i == 0 else 0)
            steps.append(Step.model_validate({"after": _num(delay), "background": True,
                                              "do": f.do, "with": f.with_}))
        if i < len(plan.steps) and i in kept:
            step = changed.get(i, plan.steps[i])
            if step.expect_error is not None:  # the plan's expectations are not the checker's
                step = step.model_copy(update={"expect_error": None})
            if i in shifts:
                step = _shifted(plan, step, i, shifts[i])
            steps.append(step)
    topology = plan.topology
    if case.quick_boot:
        clusters = [c.model_copy(update={"quick_boot": True}) if c.name in case.quick_boot
                    else c for c in topology.trusted_clusters]
        topology = topology.model_copy(update={"trusted_clusters": clusters})
    return Scenario.model_validate({
        "name": name or plan.name, "description": plan.description if description is None
        else description, "source": plan.source, "seed": plan.seed,
        "parameters": _parameters(plan, case.boot_factor),
        "settle": max(plan.settle, settle), "topology": topology, "steps": steps,
        "expect": list(expect or []),
    })


def with_refusals(scenario: Scenario, refused: Mapping[int, str]) -> Scenario:
    """``scenario`` with ``expect_error: REASON`` on each step its run refused.

    ``refused`` maps a step's index in ``scenario.steps`` to the reason code the run gave
    it. An expectation is not an input of the world (the trace does not change), so the
    same run then passes every step verdict, and ``vtalab run`` fails only on the
    scenario's other expectations: for a counterexample, its ``invariant:`` one.
    """
    steps = [s.model_copy(update={"expect_error": refused.get(i)})
             if s.expect_error != refused.get(i) else s
             for i, s in enumerate(scenario.steps)]
    return scenario.model_copy(update={"steps": steps})


def step_data(step: Step) -> dict[str, Any]:
    """A step as it is written in a scenario file (only what differs from the defaults)."""
    out: dict[str, Any] = {}
    if step.id is not None:
        out["id"] = step.id
    if step.at is not None:
        out["at"] = _num(step.at)
    if step.after is not None:
        out["after"] = _num(step.after)
    if step.background:
        out["background"] = True
    out["do"] = step.do
    if step.with_:
        out["with"] = {k: _num(v) if isinstance(v, float) else v
                       for k, v in step.with_.items()}
    if step.expect_error is not None:
        out["expect_error"] = step.expect_error
    return out


def scenario_data(s: Scenario) -> dict[str, Any]:
    """A scenario as the mapping a person would write (defaults left out)."""
    out: dict[str, Any] = {"name": s.name}
    if s.description:
        out["description"] = s.description
    if s.source:
        out["source"] = s.source
    out["seed"] = s.seed
    if s.parameters:
        out["parameters"] = {k: _num(v) for k, v in sorted(s.parameters.items())}
    out["settle"] = _num(s.settle)
    out["topology"] = s.topology.model_dump(mode="json", exclude_defaults=True)
    out["steps"] = [step_data(step) for step in s.steps]
    out["expect"] = [e.model_dump(mode="json", exclude_none=True, by_alias=True)
                     for e in s.expect]
    return out
