"""What the goal forbids: an exercise's ``forbid`` list, and how a session breaks it.

A goal often says *how* the lab must be fixed as well as what must be true at the end:
"make db01 run on esx-02 **without rebooting the host**", "... **without trusting 8.0 U1
again**", "... **while every host stays attested and db01 keeps running**". The end state
cannot tell whether the host was rebooted on the way, so an exercise states such
constraints declaratively, each with the reason shown to the trainee::

    forbid:
      - effect: host-restart            # anything that takes esx-02 down or boots it
        with: {host: esx-02}
        reason: the goal says to fix it without rebooting the host
      - do: [Set-TrustAuthorityTpm2AttestationSettings]   # these verbs/faults ...
        with: {require_certificate_validation: false}      # ... with these arguments
        reason: certificate validation must stay on

A rule forbids either an **action** (``do``: registry verbs or faults, case-insensitive,
``with`` a subset of their snake_case arguments) or an **effect** (``effect``: a name of
:data:`EFFECTS`, ``with`` the effect's subject, e.g. ``host``; without ``with`` any
subject). An action rule is judged before the verb runs, from the command the trainee
typed; an effect rule is judged on the trace after the line ran, so it catches every way
to the same outcome (``Restart-VMHost``, ``reboot-host``, ``upgrade-host``, a
``power-loss`` fault ...). Only what happens after the trainee took over counts: the
scenario prefix broke the lab on purpose.

:mod:`vtalab.training.risks` lists a broken rule among the risky actions of the line
that broke it; :mod:`vtalab.training.grading` fails the ``goal-constraints`` finding with
each rule's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vtalab.core.kernel import format_time
from vtalab.errors import InputError, nearest
from vtalab.world import registry

if TYPE_CHECKING:
    from vtalab.core.trace import TraceEvent
    from vtalab.world.assembly import World

__all__ = ["EFFECTS", "Effect", "Forbid", "Violation", "action_breaks", "effect_violations"]


@dataclass(frozen=True)
class Effect:
    """Something that can happen to the estate, recognised in the trace.

    ``subject`` reads one event: ``None`` when the event is not this effect, else the
    subject fields (``{"host": "esx-02"}``) and what happened, in operator words.
    """

    name: str
    summary: str
    params: tuple[str, ...]
    subject: Callable[[World, TraceEvent], tuple[dict[str, str], str] | None]


def _host_restart(world: World, e: TraceEvent) -> tuple[dict[str, str], str] | None:
    host = str(e.fields.get("host"))
    what = {"host.shutdown": f"{host} shut down", "host.power.lost": f"{host} lost power",
            "host.boot.start": f"{host} booted"}.get(e.kind)
    if what is None:
        return None
    why = e.fields.get("reason")
    return {"host": host}, what + (f" ({why})" if why else "")


def _trusted(world: World) -> set[str]:
    return {h for c in world.trusted_clusters.values() for h in c.hosts}


def _attestation_lost(world: World, e: TraceEvent) -> tuple[dict[str, str], str] | None:
    host = str(e.fields.get("host"))
    if e.kind == "attest.result" and e.fields.get("status") != "attested":
        reason = e.fields.get("reason")
        return {"host": host}, (f"{host} failed attestation"
                                + (f" ({reason})" if reason else ""))
    if e.kind in ("host.shutdown", "host.power.lost") and host in _trusted(world):
        return {"host": host}, f"{host} went down, out of attestation"
    return None


def _base_image_added(world: World, e: TraceEvent) -> tuple[dict[str, str], str] | None:
    if e.kind == "ta.object" and e.fields.get("change") == "add" \
            and e.fields.get("base_image"):
        version = str(e.fields["base_image"])
        return {"version": version}, f"base image {version} imported (trusted again)"
    return None


def _vm_powered_off(world: World, e: TraceEvent) -> tuple[dict[str, str], str] | None:
    if e.kind == "vm.power" and e.fields.get("state") == "poweredOff":
        vm = str(e.fields.get("vm"))
        cause = e.fields.get("cause")
        return {"vm": vm, "host": str(e.fields.get("host"))}, (
            f"VM {vm} powered off" + (f" ({cause})" if cause else ""))
    return None


#: The effects a ``forbid`` rule can name (the docs and the loader read this table).
EFFECTS: dict[str, Effect] = {e.name: e for e in [
    Effect("host-restart", "A host goes down or boots: Restart-VMHost, reboot-host, "
           "Stop-VMHost, upgrade-host, revert-host, a power loss ...", ("host",),
           _host_restart),
    Effect("attestation-lost", "A trusted host stops being attested: a failed attestation, "
           "or the host going down.", ("host",), _attestation_lost),
    Effect("base-image-added", "An ESXi base image becomes trusted "
           "(New-TrustAuthorityVMHostBaseImage, a configuration restore does not count).",
           ("version",), _base_image_added),
    Effect("vm-powered-off", "A VM powers off, whatever the cause (Stop-VM, a host going "
           "down ...).", ("vm", "host"), _vm_powered_off),
]}

Scalar = str | bool | int | float


class Forbid(BaseModel):
    """One thing the goal forbids: an action or an effect, and the reason shown."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    do: tuple[str, ...] | None = Field(
        None, description="Verbs or faults of the registry (a name or a list).")
    effect: str | None = Field(None, description="An effect: " + ", ".join(EFFECTS) + ".")
    with_: dict[str, Scalar] = Field(
        default_factory=dict, alias="with",
        description="Arguments the action must have / the effect's subject (any if empty).")
    reason: str = Field(min_length=1, description="Why, in the goal's words (shown).")

    @field_validator("do", mode="before")
    @classmethod
    def _verbs(cls, value: Any) -> Any:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list | tuple) or not names:
            raise ValueError("'do' is a verb or fault name, or a non-empty list of them")
        out = []
        for name in names:
            try:
                out.append(registry.lookup(str(name)).name)
            except InputError as exc:
                raise ValueError(str(exc)) from None
        return tuple(dict.fromkeys(out))

    @field_validator("effect")
    @classmethod
    def _effect(cls, value: str | None) -> str | None:
        if value is not None and value not in EFFECTS:
            near = nearest(value, EFFECTS)
            raise ValueError(f"unknown effect {value!r}"
                             + (f"; did you mean {near[0]!r}?" if near else "")
                             + f"; valid effects: {', '.join(EFFECTS)}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Forbid:
        if (self.do is None) == (self.effect is None):
            raise ValueError("a forbid rule names either 'do' (verbs or faults) or "
                             "'effect', not both and not neither")
        if self.effect is not None:
            allowed: Sequence[str] = EFFECTS[self.effect].params
        else:
            allowed = sorted({f for n in self.do or () for f in
                              registry.lookup(n).args.model_fields})
        for key in self.with_:
            if key not in allowed:
                near = nearest(key, allowed)
                raise ValueError(f"'with' has {key!r}, which "
                                 + (f"effect {self.effect}" if self.effect else
                                    " / ".join(self.do or ()))
                                 + " does not have"
                                 + (f"; did you mean {near[0]!r}?" if near else "")
                                 + f"; valid: {', '.join(allowed) or 'none'}")
        return self


def _same(got: Any, want: Scalar) -> bool:
    if isinstance(want, str) and isinstance(got, str):
        return got.lower() == want.lower()
    return bool(got == want and type(got) is type(want))


def action_breaks(rule: Forbid, verb: str, args: dict[str, Any]) -> bool:
    """Whether running ``verb`` with ``args`` (snake_case) is what ``rule`` forbids."""
    if rule.do is None or verb not in rule.do:
        return False
    return all(_same(args.get(k), v) for k, v in rule.with_.items())


@dataclass(frozen=True)
class Violation:
    """A forbid rule broken: which, when, and what happened."""

    rule: Forbid
    time: float
    what: str

    def text(self) -> str:
        return f"{self.rule.reason}: {self.what} at {format_time(self.time)}"


def effect_violations(rules: Iterable[Forbid], world: World,
                      events: Iterable[TraceEvent]) -> list[Violation]:
    """The effect rules the ``events`` break, in trace order (one per rule and event)."""
    wanted = [r for r in rules if r.effect is not None]
    out: list[Violation] = []
    if not wanted:
        return out
    for e in events:
        for rule in wanted:
            found = EFFECTS[str(rule.effect)].subject(world, e)
            if found is None:
                continue
            subject, what = found
            if all(_same(subject.get(k), v) for k, v in rule.with_.items()):
                out.append(Violation(rule, e.time, what))
    return out
