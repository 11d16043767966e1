"""Expectations: what a scenario says must be true, and when. One registry of kinds.

An expectation is a **time anchor** plus **one check**::

    - at: 2h                                   # absolute simulated time, or
      after_step: upgrade                      # the end of a step (id or 0-based index)
      delay: 10m                               #   ... plus a delay
      attestation: {host: esx-01, status: notAttested, reason: untrusted_base_image}

Without an anchor the check runs at the end of the run. The kinds of check live in
:data:`EXPECTATIONS`; the scenario model, its JSON Schema and the generated docs are all
built from that table, so adding a kind is one entry here. Each check reads the world
through its public queries (``attestation_status``, ``vm_state``, ``events`` ...) and
returns a :class:`Verdict` whose ``detail`` says what was expected and what was found, in
the operator's words. A check never raises for a *world* outcome; an expectation that
names something the world does not have fails with a detail that says so.

Times are seconds or strings such as ``90s``, ``10m``, ``2h``, ``1d`` or ``1h30m``
(:func:`parse_time`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    model_validator,
)

from vtalab.core.kernel import format_time
from vtalab.errors import nearest

if TYPE_CHECKING:
    from vtalab.world.assembly import World

__all__ = [
    "EXPECTATIONS",
    "LOG_NAMES",
    "CheckContext",
    "ExpectKind",
    "Expectation",
    "StepResult",
    "Time",
    "Verdict",
    "expectations_markdown",
    "parse_time",
]

# -- time (defined in vtalab.core.simtime; re-exported here for the scenario layer) --------
from contextlib import suppress

from vtalab.core.simtime import _TIME_SCHEMA, MAX_TIME, TIME_HELP, Time, parse_time  # noqa: E402,F401
from vtalab.errors import InputError
from vtalab.esxi.releases import image_for
from vtalab.invariants import INVARIANTS
from vtalab.world.psformat import cell

#: A step reference: its ``id`` or its 0-based index in ``steps``.
StepRef = Annotated[str | int, WithJsonSchema(
    {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
     "description": "A step's `id`, or its 0-based index in `steps`."})]

#: The simulated log files ``log`` expectations and ``vtalab logs`` accept.
LOG_NAMES = ("attestd.log", "kmxd.log", "kmxa.log", "vpxd.log", "loadESX.log", "esxupdate.log")
LogName = Literal["attestd.log", "kmxd.log", "kmxa.log", "vpxd.log", "loadESX.log",
                  "esxupdate.log"]


# -- results ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """The result of one expectation: ``ok`` and a detail in the operator's words.

    ``ok`` is ``None`` when the check was not reached because the run was stopped on
    purpose (``--until``): neither a pass nor a failure, and it does not fail the run.
    """

    ok: bool | None
    detail: str
    expectation: Any = None  #: the Expectation (None for implicit step verdicts)
    label: str = ""  #: short description, e.g. "attestation esx-01 at T+02:00:00"
    at: float | None = None  #: simulated time of the evaluation (None: not reached)

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL`` or ``SKIP`` (not reached: the run was stopped by --until)."""
        return "SKIP" if self.ok is None else "PASS" if self.ok else "FAIL"


@dataclass
class StepResult:
    """What one scenario step did (filled in while the run goes)."""

    index: int
    id: str | None
    verb: str
    start: float | None = None
    end: float | None = None
    ok: bool | None = None
    error: str | None = None
    message: str = ""
    #: the PowerCLI objects a ``Get-…`` step returned (plain data) and their type
    output: list[dict[str, Any]] | None = None
    output_type: str | None = None

    @property
    def name(self) -> str:
        """``step 'id'``, or ``step N`` numbered from 1 as people count (no id)."""
        return f"step {self.id!r}" if self.id else f"step {self.index + 1}"


@dataclass
class CheckContext:
    """What a check may consult beside the world."""

    now: float
    steps: list[StepResult]

    def step(self, ref: str | int) -> StepResult | None:
        for s in self.steps:
            if s.id == ref or (isinstance(ref, int) and s.index == ref):
                return s
        return None


# -- the check specs -------------------------------------------------------------------

class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttestationCheck(Spec):
    """A trusted host's attestation status as the workload vCenter shows it."""

    host: str
    status: Literal["attested", "notAttested", "unknown"]
    reason: str | None = Field(None, description="Reason code of a failed attestation.")


class VmCheck(Spec):
    """A VM's power state, host, encryption or last error."""

    vm: str
    power_state: Literal["poweredOn", "poweredOff"] | None = None
    host: str | None = None
    encrypted: bool | None = None
    last_error: str | None = Field(
        None, description="Reason code of the VM's last failed operation; '' for none.")


class BaseImagesCheck(Spec):
    """Which ESXi versions the Trust Authority cluster trusts."""

    present: list[str] = Field(default_factory=list)
    absent: list[str] = Field(default_factory=list)


def _last_attested(value: Any) -> Any:
    if value in ("set", "unset"):
        return value
    return parse_time(value)


class BaseImageCheck(Spec):
    """One trusted base image: its `last_attested_time` (set, unset, or at/after a time)."""

    version: str
    last_attested: Annotated[
        Literal["set", "unset"] | float, BeforeValidator(_last_attested),
        WithJsonSchema({"anyOf": [{"enum": ["set", "unset"]}, _TIME_SCHEMA],
                        "description": "'set', 'unset', or a time: last attested at or "
                                       "after it."})] | None = None
    health: str | None = None


class HostCheck(Spec):
    """A host's running ESXi version, power state, or Trust Authority cluster membership."""

    host: str
    version: str | None = Field(None, description="The release ('8.0 U2') or version-build "
                                                  "('8.0.2-22380479') it runs.")
    power_state: Literal["poweredOn", "poweredOff", "booting", "shuttingDown"] | None = None
    ta_member: bool | None = Field(None, description="A member of the TA cluster (TA hosts).")
    measured_version: str | None = Field(
        None, description="The version its TPM measured at its last full boot (release or "
                          "version-build): what the scenario author knows, not an operator.")


class HealthCheck(Spec):
    """The health of a Trust Authority / Trusted cluster object (OK, WARNING, ERROR, NONE)."""

    object: str = Field(description="e.g. 'ta_cluster/base_images' or "
                                    "'trusted_cluster/Trusted Cluster'.")
    value: Literal["OK", "WARNING", "ERROR", "NONE"]


class EventCheck(Spec):
    """A vCenter event happened by then (or, with `absent: true`, never did)."""

    event_id: str
    target: str | None = None
    absent: bool = False
    between: tuple[Time, Time] | None = Field(None, description=(
        "Only events posted between these two simulated times, both included "
        "(`between: [1h, 2h30m]`): with `absent: true`, 'no such event in that window'."))


class TaskCheck(Spec):
    """A vCenter Recent Tasks entry matching every given field exists by then."""

    task: str | None = None
    target: str | None = None
    status: Literal["success", "error", "running"] | None = None
    error: str | None = None
    reason: str | None = Field(None, description="Reason code behind a failed task's error.")
    absent: bool = False


class LogCheck(Spec):
    """A simulated log file contains a text by then (or, with `absent: true`, does not)."""

    host: str = Field(description="Host name, or a vCenter name for vpxd.log.")
    log: LogName
    contains: str
    absent: bool = False
    logged_at: Time | None = Field(None, description=(
        "Only the lines logged at this simulated time (a T+ offset such as `2h7m30s`), "
        "instead of writing the calendar stamp into `contains`."))
    between: tuple[Time, Time] | None = Field(None, description=(
        "Only the lines logged between these two simulated times, both included."))


class StepCheck(Spec):
    """What a scenario step got: ok, or refused with a reason code."""

    step: StepRef
    ok: bool
    error: str | None = None
    contains: str | None = Field(None, description="A text the step's message must contain.")


Shown = Annotated[str | int | float | bool, WithJsonSchema(
    {"type": ["string", "integer", "number", "boolean"],
     "description": "A value as the table shows it (`Ok`, `True`, `8.0.2-22380479`)."})]


class OutputCheck(Spec):
    """What a `Get-…` step's PowerCLI objects show, as `vtalab run` prints them: how many
    there are, or what a property shows on those that match `where`. Values compare as
    the table shows them (`True`, `Ok`, `{a, b}` for a list), ignoring case as
    PowerShell's `-eq` does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: StepRef
    where: dict[str, Shown] | None = Field(None, description=(
        "Only the objects whose properties show these values, e.g. "
        "`{VMHostVersion: 8.0.1-21495797}`."))
    count: int | None = Field(None, ge=0, description="How many objects (after `where`).")
    property: str | None = Field(None, description=(
        "A property (any case) that every selected object must show as `equals` (or "
        "containing `contains`); there must be at least one such object."))
    equals: Shown | None = None
    contains: str | None = None

    @model_validator(mode="after")
    def _something_to_check(self) -> OutputCheck:
        if self.property is None and (self.equals is not None or self.contains is not None):
            raise ValueError("`equals`/`contains` need the `property` they are about")
        if self.property is not None and self.equals is None and self.contains is None:
            raise ValueError("`property` needs `equals` or `contains`")
        if self.count is None and self.property is None:
            raise ValueError("say what to check: `count`, or `property` with `equals` or "
                             "`contains`")
        return self


# -- the checks ------------------------------------------------------------------------

def _check_attestation(world: World, c: AttestationCheck, ctx: CheckContext) -> Verdict:
    st = world.attestation_status(c.host)
    status, reason = st.get("status"), st.get("reason")
    got = f"{c.host} is {status}" + (f" (reason {reason})" if reason else "")
    want = f"{c.status}" + (f" with reason {c.reason}" if c.reason else "")
    ok = status == c.status and (c.reason is None or reason == c.reason)
    if ok:
        return Verdict(True, f"{got}, as expected")
    msgs = st.get("messages") or []
    extra = f"; messages: {'; '.join(msgs)}" if msgs else ""
    return Verdict(False, f"expected {c.host} {want}; got {status}"
                          + (f" (reason {reason})" if reason else "") + extra)


def _check_vm(world: World, c: VmCheck, ctx: CheckContext) -> Verdict:
    st = world.vm_state(c.vm)
    wrong = []
    for field_name in ("power_state", "host", "encrypted", "last_error"):
        want = getattr(c, field_name)
        if want is None:
            continue
        got = st.get(field_name)
        if field_name == "last_error" and want == "" and got is None:
            continue
        if got != want:
            wrong.append(f"{field_name} {got!r} (expected {want!r})")
    shown = ", ".join(f"{k} {st.get(k)!r}" for k in ("power_state", "host", "last_error"))
    if wrong:
        return Verdict(False, f"VM {c.vm}: " + "; ".join(wrong))
    return Verdict(True, f"VM {c.vm}: {shown}")


def _image_key(version: str, have: Any) -> str:
    """``version`` as the base images are keyed (version-build): a release name such as
    ``8.0 U3``, as the steps that import and remove base images take it, is converted."""
    if version not in have:
        with suppress(InputError):
            return image_for(version).key
    return version


def _check_base_images(world: World, c: BaseImagesCheck, ctx: CheckContext) -> Verdict:
    have = [str(i.get("version")) for i in world.base_images()]
    missing = [v for v in c.present if _image_key(v, have) not in have]
    extra = [v for v in c.absent if _image_key(v, have) in have]
    trusted = ", ".join(have) or "none"
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"still present {', '.join(extra)}")
        return Verdict(False, f"trusted base images: {trusted}; " + "; ".join(parts))
    return Verdict(True, f"trusted base images: {trusted}")


def _check_base_image(world: World, c: BaseImageCheck, ctx: CheckContext) -> Verdict:
    images = {str(i.get("version")): i for i in world.base_images()}
    img = images.get(_image_key(c.version, images))
    if img is None:
        hint = nearest(c.version, images)
        return Verdict(False, f"no trusted base image {c.version}"
                              + (f" (did you mean {hint[0]}?)" if hint else "")
                              + f"; trusted: {', '.join(images) or 'none'}")
    last = img.get("last_attested_time")
    shown = "never attested" if last is None else f"last attested at {format_time(last)}"
    problems = []
    if c.last_attested == "set" and last is None:
        problems.append("expected it to have been attested")
    elif c.last_attested == "unset" and last is not None:
        problems.append("expected it never to have been attested")
    elif isinstance(c.last_attested, float) and (last is None or last < c.last_attested):
        problems.append(f"expected an attestation at or after {format_time(c.last_attested)}")
    if c.health is not None and img.get("health") != c.health:
        problems.append(f"health {img.get('health')!r} (expected {c.health!r})")
    if problems:
        return Verdict(False, f"base image {c.version} {shown}; " + "; ".join(problems))
    return Verdict(True, f"base image {c.version} {shown}")


def _check_host(world: World, c: HostCheck, ctx: CheckContext) -> Verdict:
    h = world.host(c.host)

    def key(want: str | None, have: str | None) -> str | None:
        if want is not None and want != have:
            with suppress(InputError):  # a release name: compare its version-build
                want = image_for(want).key
        return want

    want = key(c.version, h.version)
    measured = key(c.measured_version, h.measured_version)
    member = c.host in world.ta_cluster.hosts and world.ta_cluster.hosts[c.host].member
    got = {"version": h.version, "power_state": h.power_state.value, "ta_member": member,
           "measured_version": h.measured_version}
    wrong = [f"{k} {got[k]!r} (expected {w!r})" for k, w in
             (("version", want), ("power_state", c.power_state), ("ta_member", c.ta_member),
              ("measured_version", measured))
             if w is not None and got[k] != w]
    if wrong:
        return Verdict(False, f"host {c.host}: " + "; ".join(wrong))
    return Verdict(True, f"host {c.host}: runs {h.version}, {got['power_state']}"
                         + (", a TA cluster member" if member else ""))


def _check_health(world: World, c: HealthCheck, ctx: CheckContext) -> Verdict:
    health = world.health()
    if c.object not in health:
        hint = nearest(c.object, health)
        return Verdict(False, f"no health object {c.object!r}"
                              + (f" (did you mean {hint[0]!r}?)" if hint else "")
                              + f"; objects: {', '.join(sorted(health))}")
    got = health[c.object]
    if got != c.value:
        return Verdict(False, f"{c.object} health is {got}, expected {c.value}")
    return Verdict(True, f"{c.object} health is {got}")


def _within(t: float, between: tuple[float, float] | None) -> bool:
    return between is None or between[0] <= t <= between[1]


def _window(between: tuple[float, float] | None) -> str:
    if between is None:
        return ""
    return f" between {format_time(between[0])} and {format_time(between[1])}"


def _check_event(world: World, c: EventCheck, ctx: CheckContext) -> Verdict:
    events = [e for e in world.events() if e.get("time", 0) <= ctx.now
              and _within(float(e.get("time", 0)), c.between)]
    same_id = [e for e in events if e.get("event_id") == c.event_id]
    hits = [e for e in same_id if c.target is None or e.get("target") == c.target]
    what = c.event_id + (f" on {c.target}" if c.target else "") + _window(c.between)
    if c.absent:
        if hits:
            return Verdict(False, f"event {what} happened at {format_time(hits[0]['time'])}, "
                                  "expected it never to happen")
        return Verdict(True, f"no event {what}, as expected")
    if hits:
        return Verdict(True, f"event {what} at {format_time(hits[0]['time'])}")
    if same_id:
        targets = sorted({str(e.get("target")) for e in same_id})
        return Verdict(False, f"no event {what}; it happened for: {', '.join(targets)}")
    hint = nearest(c.event_id, sorted({str(e.get("event_id")) for e in events}))
    return Verdict(False, f"no event {what} by {format_time(ctx.now)}"
                          + (f" (a similar one happened: {hint[0]})" if hint else ""))


def _check_task(world: World, c: TaskCheck, ctx: CheckContext) -> Verdict:
    tasks = [t for t in world.tasks() if t.get("time", 0) <= ctx.now]
    want = {k: getattr(c, k) for k in ("task", "target", "status", "error", "reason")
            if getattr(c, k) is not None}
    hits = [t for t in tasks if all(t.get(k) == v for k, v in want.items())]
    what = ", ".join(f"{k} {v!r}" for k, v in want.items()) or "any task"
    if c.absent:
        if hits:
            return Verdict(False, f"a task with {what} exists ({_task_text(hits[0])}), "
                                  "expected none")
        return Verdict(True, f"no task with {what}, as expected")
    if hits:
        return Verdict(True, f"task {_task_text(hits[-1])}")
    related = [t for t in tasks if (c.task is None or t.get("task") == c.task)
               and (c.target is None or t.get("target") == c.target)]
    seen = "; ".join(_task_text(t) for t in related[-3:]) or "none"
    return Verdict(False, f"no task with {what}; related tasks: {seen}")


def _task_text(t: Mapping[str, Any]) -> str:
    text = f"{t.get('task')} on {t.get('target')}: {t.get('status')}"
    return text + (f" ({t.get('error')})" if t.get("error") else "")


def _check_log(world: World, c: LogCheck, ctx: CheckContext) -> Verdict:
    k = world.kernel
    window = (c.logged_at, c.logged_at) if c.logged_at is not None else c.between
    lines = [line for t, line in k.timed_log_lines(c.host, c.log, until=ctx.now)
             if _within(t, window)]
    hits = [line for line in lines if c.contains in line]
    if c.absent:
        if hits:
            return Verdict(False, f"{c.host} {c.log} contains {c.contains!r}: {hits[0]}")
        return Verdict(True, f"{c.host} {c.log} has no line containing {c.contains!r}"
                             + _window(window))
    if hits:
        return Verdict(True, f"{c.host} {c.log}: {hits[0]}")
    return Verdict(False, f"{c.host} {c.log} has no line containing {c.contains!r}"
                          f"{_window(window)} ({len(lines)} lines)")


def _check_step(world: World, c: StepCheck, ctx: CheckContext) -> Verdict:
    s = ctx.step(c.step)
    if s is None or s.ok is None:
        return Verdict(False, f"step {c.step!r} has not finished by {format_time(ctx.now)}")
    got = "succeeded" if s.ok else f"was refused ({s.error})"
    if s.ok != c.ok or (c.error is not None and s.error != c.error):
        want = "succeed" if c.ok else "be refused" + (f" with {c.error}" if c.error else "")
        msg = f": {s.message}" if s.message and not s.ok else ""
        return Verdict(False, f"{s.name} ({s.verb}) {got}{msg}; expected it to {want}")
    if c.contains is not None and c.contains not in s.message:
        return Verdict(False, f"{s.name} ({s.verb}) {got}, but its message does not contain "
                              f"{c.contains!r}: {s.message!r}")
    return Verdict(True, f"{s.name} ({s.verb}) {got}"
                         + (f": {c.contains!r} in its message" if c.contains else ""))


def _shown(value: Any) -> str:
    return cell(value)


def _prop(obj: Mapping[str, Any], name: str) -> str | None:
    return next((k for k in obj if k.lower() == name.lower()), None)


def _check_output(world: World, c: OutputCheck, ctx: CheckContext) -> Verdict:
    s = ctx.step(c.step)
    if s is None or s.ok is None:
        return Verdict(False, f"step {c.step!r} has not finished by {format_time(ctx.now)}")
    if s.output is None:
        why = f"was refused ({s.error})" if not s.ok else "returned no PowerCLI objects"
        return Verdict(False, f"{s.name} ({s.verb}) {why}")
    kind = s.output_type or "PowerCLI"
    objs = list(s.output)
    where = ""
    if c.where:
        for name in c.where:
            if objs and _prop(objs[0], name) is None:
                return Verdict(False, f"{kind} has no property {name!r} (it has "
                                      f"{', '.join(objs[0])})")
        objs = [o for o in objs if all(
            (k := _prop(o, name)) is not None and _shown(o[k]).lower() == _shown(want).lower()
            for name, want in c.where.items())]
        where = " where " + ", ".join(f"{k} = {_shown(v)}" for k, v in c.where.items())
    head = f"{s.name} ({s.verb})"
    if c.count is not None and len(objs) != c.count:
        return Verdict(False, f"{head} returned {len(objs)} {kind} object(s){where}; "
                              f"expected {c.count}")
    if c.property is None:
        return Verdict(True, f"{head} returned {len(objs)} {kind} object(s){where}")
    if not objs:
        return Verdict(False, f"{head} returned no {kind} object{where}")
    key = _prop(objs[0], c.property)
    if key is None:
        return Verdict(False, f"{kind} has no property {c.property!r} (it has "
                              f"{', '.join(objs[0])})")
    for o in objs:
        got = _shown(o.get(key))
        name = _shown(o.get(_prop(o, "Name") or key))
        if c.equals is not None and got.lower() != _shown(c.equals).lower():
            return Verdict(False, f"{head}: {name} shows {key} = {got!r}{where}; expected "
                                  f"{_shown(c.equals)!r}")
        if c.contains is not None and c.contains.lower() not in got.lower():
            return Verdict(False, f"{head}: {name} shows {key} = {got!r}{where}; expected it "
                                  f"to contain {c.contains!r}")
    shown = sorted({_shown(o.get(key)) for o in objs})
    return Verdict(True, f"{head}: {key} = {', '.join(map(repr, shown))} on {len(objs)} "
                         f"{kind} object(s){where}")


def invariants() -> Mapping[str, Any]:
    """The registry of named invariants (:data:`vtalab.invariants.INVARIANTS`)."""
    return INVARIANTS


def _check_invariant(world: World, name: str, ctx: CheckContext) -> Verdict:
    inv = INVARIANTS.get(name)
    if inv is None:
        return Verdict(False, f"no invariant {name!r}")
    fn = getattr(inv, "check", inv)
    result = fn(world)
    if isinstance(result, bool):
        return Verdict(result, f"invariant {name} " + ("holds" if result else "is violated"))
    if isinstance(result, tuple) and len(result) == 2:
        return Verdict(bool(result[0]), f"invariant {name}: {result[1]}")
    if hasattr(result, "ok"):
        detail = getattr(result, "detail", "") or ("holds" if result.ok else "is violated")
        return Verdict(bool(result.ok), f"invariant {name}: {detail}")
    if isinstance(result, list | tuple):  # a list of violations
        if not result:
            return Verdict(True, f"invariant {name} holds")
        return Verdict(False, f"invariant {name} is violated: "
                              + "; ".join(str(v) for v in result[:3]))
    raise TypeError(f"invariant {name} returned {type(result).__name__}")


class NotCheck(BaseModel):
    """The inner check must NOT hold: `not: {event: {event_id: ..., between: [1h, 2h]}}`,
    `not: {log: {host: ..., log: kmxa.log, contains: ...}}`. One inner check, any kind
    but `not`; its verdict is inverted."""

    model_config = ConfigDict(frozen=True, extra="allow")

    @model_validator(mode="after")
    def _one_inner(self) -> NotCheck:
        extra = dict(self.model_extra or {})
        kinds = [k for k in extra if k in EXPECTATIONS and k != "not"]
        if len(extra) != 1 or len(kinds) != 1:
            valid = [k for k in EXPECTATIONS if k != "not"]
            close = [c for k in extra if k not in EXPECTATIONS
                     for c in nearest(str(k), valid)[:1]]
            raise ValueError(f"'not' takes exactly one check ({', '.join(valid)}); got "
                             f"{', '.join(map(str, extra)) or 'none'}"
                             + (f"; did you mean {close[0]!r}?" if close else ""))
        kind = EXPECTATIONS[kinds[0]]
        spec = extra[kinds[0]]
        validated = spec if kind.spec is str else kind.spec.model_validate(spec)
        if kind.spec is str and not isinstance(spec, str):
            raise ValueError(f"'not: {{{kinds[0]}: ...}}' takes a name")
        object.__setattr__(self, "__pydantic_extra__", {kinds[0]: validated})
        return self

    @property
    def inner_kind(self) -> str:
        return next(iter(self.model_extra or {}))

    @property
    def inner(self) -> Any:
        return (self.model_extra or {})[self.inner_kind]


def _check_not(world: World, c: NotCheck, ctx: CheckContext) -> Verdict:
    inner = EXPECTATIONS[c.inner_kind].check(world, c.inner, ctx)
    if inner.ok:
        return Verdict(False, f"expected this not to hold, but it does: {inner.detail}")
    return Verdict(True, f"does not hold, as expected: {inner.detail}")


def _not_label(c: NotCheck) -> str:
    return "not " + EXPECTATIONS[c.inner_kind].label(c.inner)


# -- the registry ----------------------------------------------------------------------

@dataclass(frozen=True)
class ExpectKind:
    """One kind of expectation: its key in the scenario file, its spec and its check."""

    name: str
    spec: Any  #: pydantic model of the check (or ``str`` for invariant names)
    check: Callable[[Any, Any, CheckContext], Verdict]
    summary: str
    #: fields that name things: field -> "host" | "trusted_host" | "vm" | "host_or_vcenter"
    #: | "step" | "event" (a vCenter event id); the scenario loader checks them (nearest
    #: suggestion)
    refs: Mapping[str, str]
    label: Callable[[Any], str]


def _kind(name: str, spec: Any, check: Callable[..., Verdict], summary: str,
          refs: Mapping[str, str], label: Callable[[Any], str]) -> ExpectKind:
    return ExpectKind(name, spec, check, summary, refs, label)


EXPECTATIONS: dict[str, ExpectKind] = {k.name: k for k in [
    _kind("attestation", AttestationCheck, _check_attestation,
          "A trusted host's attestation status (attested / notAttested / unknown) and reason.",
          {"host": "trusted_host"}, lambda c: f"attestation {c.host}"),
    _kind("vm", VmCheck, _check_vm, "A VM's power state, host, encryption or last error.",
          {"vm": "vm", "host": "trusted_host"}, lambda c: f"vm {c.vm}"),
    _kind("base_images", BaseImagesCheck, _check_base_images,
          "Which ESXi versions are trusted base images (present / absent; version-build "
          "or release name).", {},
          lambda c: "base images"),
    _kind("base_image", BaseImageCheck, _check_base_image,
          "One base image's last_attested_time ('set', 'unset' or at/after a time); "
          "version-build or release name.", {},
          lambda c: f"base image {c.version}"),
    _kind("host", HostCheck, _check_host,
          "A host's running version, power state or TA cluster membership.",
          {"host": "host"}, lambda c: f"host {c.host}"),
    _kind("health", HealthCheck, _check_health,
          "The health of a cluster object (OK / WARNING / ERROR / NONE).", {},
          lambda c: f"health {c.object}"),
    _kind("event", EventCheck, _check_event,
          "A vCenter event happened by then (absent: true - never).", {"event_id": "event"},
          lambda c: f"event {c.event_id}" + (f" {c.target}" if c.target else "")),
    _kind("task", TaskCheck, _check_task,
          "A Recent Tasks entry with the given task/target/status/error exists.", {},
          lambda c: "task " + " ".join(str(getattr(c, k)) for k in ("task", "target")
                                       if getattr(c, k))),
    _kind("log", LogCheck, _check_log,
          "A simulated log (attestd.log, kmxa.log ...) contains a text (absent: true - not).",
          {"host": "host_or_vcenter"}, lambda c: f"log {c.host} {c.log}"),
    _kind("step", StepCheck, _check_step,
          "What a scenario step got: ok, or refused with a reason code.", {"step": "step"},
          lambda c: f"step {c.step}"),
    _kind("output", OutputCheck, _check_output,
          "What a Get-… step's PowerCLI objects show: their count, or a property's value "
          "(as the table shows it) on those matching `where`.", {"step": "step"},
          lambda c: f"output {c.step}" + (f" {c.property}" if c.property else "")),
    _kind("invariant", str, _check_invariant,
          "A named invariant of vtalab.invariants holds.", {},
          lambda c: f"invariant {c}"),
]}
# ``not`` refers to the table above (its inner check is any other kind).
EXPECTATIONS["not"] = _kind(
    "not", NotCheck, _check_not,
    "The inner check (one of the kinds above) must NOT hold; e.g. `not: {event: "
    "{event_id: com.vmware.vc.TaHostAttestFailEvent, between: [1h, 2h]}}`.", {}, _not_label)


class _ExpectationBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The time anchor is declared here, not in ``create_model`` below, so that code typed
    # against ``Expectation`` (the scenario checker, the runner) sees these fields; the
    # check fields, one per registered kind, can only be added dynamically.
    at: Time | None = Field(None, description="Absolute simulated time of the check.")
    after_step: StepRef | None = Field(None, description="Check after this step ends.")
    delay: Time | None = Field(None, description="Delay after `after_step`'s end.")

    @model_validator(mode="before")
    @classmethod
    def _one_check(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        empty = [k for k in EXPECTATIONS if k in data and data[k] is None]
        if empty:
            raise ValueError(f"the {empty[0]!r} check is empty: give its fields "
                             f"(see `vtalab schema`)")
        kinds = [k for k in EXPECTATIONS if k in data]
        if len(kinds) != 1:
            names = ", ".join(EXPECTATIONS)
            if not kinds:
                known = {"at", "after_step", "delay"}
                unknown = [k for k in data if k not in known]
                if unknown:  # let extra="forbid" name it, with a suggestion
                    return data
                raise ValueError(f"an expectation needs one check ({names})")
            raise ValueError(f"an expectation has exactly one check; got {' and '.join(kinds)}"
                             " (write them as separate list items)")
        given = {k for k in ("at", "after_step", "delay") if data.get(k) is not None}
        if {"at", "after_step"} <= given:
            raise ValueError("give either 'at' or 'after_step', not both")
        if "delay" in given and "after_step" not in given:
            raise ValueError("'delay' counts from a step's end: use it with 'after_step' "
                             "(or use 'at' for an absolute time)")
        return data

    @property
    def kind(self) -> str:
        for name in EXPECTATIONS:
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated expectation without a check")

    @property
    def check_spec(self) -> Any:
        return getattr(self, self.kind)

    def label(self) -> str:
        k = EXPECTATIONS[self.kind]
        text = k.label(self.check_spec)
        at = getattr(self, "at", None)
        after = getattr(self, "after_step", None)
        if at is not None:
            text += f" at {format_time(at)}"
        elif after is not None:
            delay = getattr(self, "delay", None) or 0
            text += f" after step {after!r}" + (f" +{format_time(delay)[2:]}" if delay else "")
        else:
            text += " at end"
        return text


# ignore: mypy cannot match a ``**{...}`` of field definitions to create_model's overloads.
Expectation: type[_ExpectationBase] = create_model(  # type: ignore[call-overload]
    "Expectation",
    __base__=_ExpectationBase,
    __doc__="A time anchor (at, or after_step + delay; default: end of run) and one check.",
    **{name: (k.spec | None, Field(None, description=k.summary))
       for name, k in EXPECTATIONS.items()},
)


def evaluate(world: World, expectation: Any, ctx: CheckContext) -> Verdict:
    """Run one expectation's check now; the verdict carries the expectation and time."""
    kind = EXPECTATIONS[expectation.kind]
    v = kind.check(world, expectation.check_spec, ctx)
    return Verdict(v.ok, v.detail, expectation, expectation.label(), ctx.now)


def expectations_markdown() -> str:
    """The expectation kinds as Markdown, for the generated docs."""
    lines = ["| kind | fields | meaning |", "|---|---|---|"]
    for name, k in EXPECTATIONS.items():
        if isinstance(k.spec, type) and issubclass(k.spec, BaseModel):
            fields = ", ".join(
                f"`{f}`" + ("" if info.is_required() else "?")
                for f, info in k.spec.model_fields.items())
        else:
            fields = "invariant name"
        lines.append(f"| `{name}` | {fields} | {k.summary} |")
    return "\n".join(lines) + "\n"
