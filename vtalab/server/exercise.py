"""An exercise served over HTTP: the training session behind ``vtalab serve --exercise``.

The world is a training :class:`~vtalab.training.session.Session`'s world (the exercise's
scenario prefix has broken the lab on purpose). What the trainee does through the API --
the console's buttons or any REST/SDK client -- is noted in the session's command log as
the PowerCLI line it stands for, with the registry verb and arguments it performed and the
reasons it was risky, judged before it ran (:func:`vtalab.training.risks.assess`) and from
what it caused (:func:`~vtalab.training.risks.forbidden_effects`). So **Check** is the
grading of ``vtalab train`` (:func:`vtalab.training.grading.grade`) unchanged, hints count
on the scorecard the same way, and the debrief is the training debrief.

Time moves with the server's clock here, not with commands; the log keeps the simulated
time each action was issued at, which is what the scorecard and debrief read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from vtalab.server.lab import Call, ServedLab
from vtalab.server.services import Inventory, Operation
from vtalab.training.debrief import debrief_html
from vtalab.training.risks import assess, forbidden_effects
from vtalab.training.session import Entry, Session
from vtalab.world.registry import Outcome

__all__ = ["ExerciseLab", "ServedExercise", "exercise_text", "powercli_line"]

#: PowerShell spellings of argument names that are not just capitalised
_PARAM = {"vmhost": "VMHost", "vm": "VM", "file": "FilePath"}


def powercli_line(verb: str, args: dict[str, Any]) -> str:
    """The command line a verb with ``args`` stands for (``Start-VM -VM db01``)."""
    parts = [verb]
    for key, value in args.items():
        if value is None:
            continue
        name = _PARAM.get(key, "".join(w.capitalize() for w in key.split("_")))
        if isinstance(value, bool):
            parts.append(f"-{name}:${str(value).lower()}")
        else:
            text = str(value)
            parts.append(f"-{name} " + (f"'{text}'" if " " in text else text))
    return " ".join(parts)


@dataclass
class ServedExercise:
    """A session whose commands arrive as API calls."""

    session: Session
    #: who performs, for the debrief (a trainee's name in a classroom)
    actor: str = "trainee"
    checks: int = 0
    last_grade: Any = field(default=None, repr=False)

    @property
    def world(self) -> Any:
        return self.session.world

    def before(self, verb: str, args: dict[str, Any]) -> tuple[float, int, list[str]]:
        """Call just before performing ``verb``: the instant, trace position and risks."""
        world = self.world
        risky = assess(world, verb, args, self.session.exercise.forbid)
        return world.kernel.now, len(world.kernel.trace), risky

    def after(self, verb: str, args: dict[str, Any], before: tuple[float, int, list[str]],
              ok: bool, output: str) -> None:
        """Log the performed verb as a command of the session (what ``check`` grades)."""
        issued, seq, risky = before
        world = self.world
        trace = world.kernel.trace
        forbid = self.session.exercise.forbid
        if forbid:
            caused = forbidden_effects(world, forbid, (trace[i] for i in range(seq, len(trace))))
            risky += [r for r in caused if r not in risky]
        self.session.entries.append(Entry(
            powercli_line(verb, args), "command", issued, seq, world.kernel.now, ok, output,
            tuple(risky), (verb,), ((verb, dict(args)),)))

    def summary(self) -> dict[str, Any]:
        ex = self.session.exercise
        return {"id": ex.id, "title": ex.title, "goal": " ".join(ex.goal.split()),
                "difficulty": ex.difficulty, "hints_used": self.session.hints_used,
                "hints_total": len(ex.hints), "source": ex.source}

    def hint(self) -> dict[str, Any]:
        """The next hint (logged: hints count on the scorecard)."""
        reply = self.session.run("hint")
        return {"title": f"Hint {self.session.hints_used} of {len(self.session.exercise.hints)}",
                "text": reply.text, "hints_used": self.session.hints_used}

    def check(self) -> dict[str, Any]:
        """Grade now, as ``check`` in ``vtalab train`` does."""
        g = self.session.grade()
        self.checks += 1
        self.last_grade = g
        return {"passed": g.passed, "goal_reached": g.goal_reached, "text": g.text(),
                "goal": [{"name": f.name, "ok": f.ok, "detail": f.detail} for f in g.goal],
                "invariants": [{"name": f.name, "ok": f.ok, "detail": f.detail}
                               for f in g.invariants]}

    def progress(self) -> dict[str, Any]:
        """What the trainer page shows: goal checks met now, commands, hints, grade."""
        g = self.session.grade()
        met = sum(1 for f in g.goal if f.ok)
        return {"goal_met": met, "goal_total": len(g.goal), "passed": g.passed,
                "goal_reached": g.goal_reached,
                "commands": sum(1 for e in self.session.entries if e.kind == "command"),
                "hints_used": self.session.hints_used, "checks": self.checks,
                "now": self.world.kernel.now,
                "broken": [f.name for f in g.invariants if not f.ok]}

    def debrief_html(self) -> str:
        return debrief_html(self.session)


class ExerciseLab(ServedLab):
    """A served lab whose world is an exercise session's (the prefix already ran).

    Every registry verb the API runs as a task (the console's buttons, REST, the SDK) is
    noted in the session (:meth:`ServedExercise.before`/``after``), so Check grades it."""

    def __init__(self, served: ServedExercise, *, classroom: bool = False,
                 **kwargs: Any) -> None:
        session = served.session
        # The served lab builds its world from a scenario; an exercise's world exists
        # already (the scenario prefix ran), so the lab is built on the bare topology and
        # then given the session's world.
        super().__init__(session.exercise.scenario, seed=session.seed, topology_only=True,
                         **kwargs)
        self.world = session.world
        self.kernel = self.world.kernel
        self.ids = Inventory(self.world)
        self.clock.rebase(self.kernel.now)
        self.exercise = served
        self.classroom = classroom

    def run_task(self, call: Call, op: Operation, user: str, description: str,
                 verb: str, args: dict[str, Any], finish: Callable[[Outcome], Any],
                 target: tuple[str, str] | None = None,
                 before: Callable[[], None] | None = None,
                 after: Callable[[], None] | None = None) -> str:
        mark = self.exercise.before(verb, args)

        def noted(outcome: Outcome) -> Any:
            ok = isinstance(outcome, Outcome) and outcome.ok
            text = outcome.message if isinstance(outcome, Outcome) else ""
            self.exercise.after(verb, args, mark, ok, text)
            return finish(outcome)

        return super().run_task(call, op, user, description, verb, args, noted, target,
                                before, after)

    # -- record and replay ---------------------------------------------------------------
    def trace_header(self, file: str, text: str, *, streamed: bool = False
                     ) -> dict[str, Any]:
        """A served session's header, naming the exercise (whose file's text is the
        ``scenario_text``: it defines the world) and who did it: ``vtalab replay`` starts
        the same session from it and re-applies the requests."""
        header = super().trace_header(file, text, streamed=streamed)
        header["serve"].update(exercise=self.exercise.session.exercise.id,
                               actor=self.exercise.actor, classroom=self.classroom)
        return header

    def exercise_trace(self) -> str:
        """The trace file's text of this exercise session (header, events, digest)."""
        ex = self.exercise.session.exercise
        return self.trace_text(f"{ex.id}.yaml", exercise_text(ex.id))


def exercise_text(exercise_id: str) -> str:
    """The text of a bundled exercise's file (what a recorded session is replayed from)."""
    folder = resources.files("vtalab") / "data" / "exercises"
    return (folder / f"{exercise_id}.yaml").read_text(encoding="utf-8")
