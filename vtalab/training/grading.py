"""Grading a training session: the goal, the invariants a fix must keep, and a scorecard.

``check`` in the shell asks two questions:

* **Is the goal reached?** The exercise's ``check`` list (expectation kinds of
  :mod:`vtalab.scenario.expect`, evaluated now).
* **Was it reached the right way?** The invariants below, over the world as it is and over
  what happened *since the trainee took over* (the scenario prefix broke the lab on
  purpose; that is not the trainee's doing):

  - ``goal-constraints`` (for an exercise with a ``forbid`` list): nothing the goal's words
    rule out was done -- no forbidden action typed, no forbidden effect in the trace
    ("without rebooting the host": no boot of esx-02, whichever command caused it); it
    fails with each broken rule's reason (:mod:`vtalab.training.constraints`);

  - ``hosts-attested``: every trusted host is attested now;
  - ``no-in-use-image-removed``: no base image was removed while a host still measured it
    (``ta.base_image.removed`` with a non-empty ``measured_by``);
  - ``no-key-to-unattested-host``: every key kmxd released went to a host whose latest
    attestation had passed (``key.release`` against ``attest.result``);
  - ``trust-not-weakened``: compared with the start of the session, no TPM 2.0 setting
    was relaxed, no principal, TPM CA certificate or endorsement key was removed, and
    neither the Trust Authority cluster nor a Trusted cluster was disabled.

  The shared invariants of :mod:`vtalab.invariants` (:data:`SHARED`) are consulted too,
  from the session start, so a property written once there also grades trainees.

A fix that reaches the goal by breaking an invariant fails, and the verdict says which
invariant and why. On success the **scorecard** sums up the session: simulated time to
fix, commands used (those that reached the lab: not typos, not help), VMs locked along
the way, risky actions and hints used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vtalab.core.kernel import format_time
from vtalab.invariants import INVARIANTS, check_all
from vtalab.scenario.expect import CheckContext, evaluate
from vtalab.training.constraints import action_breaks, effect_violations

if TYPE_CHECKING:
    from vtalab.training.session import Session
    from vtalab.world.assembly import World

__all__ = ["Finding", "Grade", "Scorecard", "TrustSnapshot", "grade", "trust_snapshot"]

VM_LOCKED = "com.vmware.vc.vm.Crypto.VMLocked."


@dataclass(frozen=True)
class Finding:
    """One graded property: its name, whether it holds, and why, in operator words."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class TrustSnapshot:
    """What protects the estate, as the Trust Authority and workload vCenters hold it."""

    settings: tuple[tuple[str, bool, bool], ...]  #: (TA host, certificate validation, EKs)
    principals: tuple[str, ...]
    tpm_ca_certificates: tuple[str, ...]
    endorsement_keys: tuple[str, ...]
    ta_enabled: bool
    trusted_enabled: tuple[tuple[str, bool], ...]


def trust_snapshot(world: World) -> TrustSnapshot:
    members = world.ta_cluster.members
    settings = tuple((h.name, h.config.settings.require_certificate_validation,
                      h.config.settings.require_endorsement_keys) for h in members)

    def union(attr: str) -> tuple[str, ...]:
        return tuple(sorted({name for h in members for name in getattr(h.config, attr)}))

    return TrustSnapshot(
        settings=settings, principals=union("principals"),
        tpm_ca_certificates=union("tpm_ca_certificates"),
        endorsement_keys=union("endorsement_keys"),
        ta_enabled=bool(members) and all(h.config.enabled for h in members),
        trusted_enabled=tuple((n, c.enabled) for n, c in world.trusted_clusters.items()))


@dataclass(frozen=True)
class Scorecard:
    time_to_fix: float
    commands: int
    vms_locked: tuple[str, ...]  #: "db01 at T+00:12:00" for each VMLocked event
    risky: tuple[str, ...]
    hints_used: int

    def lines(self) -> list[str]:
        locked = ", ".join(self.vms_locked) or "none"
        risky = "; ".join(self.risky) or "none"
        return ["Scorecard",
                f"  simulated time to fix  {format_time(self.time_to_fix)[2:]}",
                f"  commands used          {self.commands}",
                f"  VMs locked on the way  {locked}",
                f"  risky actions          {risky}",
                f"  hints used             {self.hints_used} of 3"]


@dataclass(frozen=True)
class Grade:
    goal: tuple[Finding, ...]
    invariants: tuple[Finding, ...]
    scorecard: Scorecard
    at: float = 0.0
    extra: tuple[str, ...] = field(default=())

    @property
    def goal_reached(self) -> bool:
        return all(f.ok for f in self.goal)

    @property
    def passed(self) -> bool:
        return self.goal_reached and all(f.ok for f in self.invariants)

    def lines(self) -> list[str]:
        out = [f"Check at {format_time(self.at)}"]
        out += [f"  {'PASS' if f.ok else 'FAIL'}  goal: {f.name}: {f.detail}" for f in self.goal]
        out += [f"  {'PASS' if f.ok else 'FAIL'}  {f.name}: {f.detail}" for f in self.invariants]
        if self.passed:
            out.append("Goal reached, trust intact.")
            out += self.scorecard.lines()
        elif self.goal_reached:
            broken = ", ".join(f.name for f in self.invariants if not f.ok)
            out.append(f"Goal reached, but not the right way: {broken}.")
        else:
            out.append("Goal not reached yet.")
        if not self.passed and self.scorecard.risky:  # the why, next to the verdict
            out.append("Risky actions: " + "; ".join(self.scorecard.risky))
        return out

    def text(self) -> str:
        return "\n".join(self.lines())


def grade(session: Session) -> Grade:
    """Grade ``session`` now (reads the world and the trace; changes nothing)."""
    world = session.world
    now = world.kernel.now
    ctx = CheckContext(now, [])
    goal = []
    for exp in session.exercise.check:
        v = evaluate(world, exp, ctx)
        goal.append(Finding(v.label.removesuffix(" at end"), v.ok is True, v.detail))
    invariants = [_hosts_attested(world),
                  _trust_not_weakened(session.baseline, trust_snapshot(world))]
    if session.exercise.forbid:
        invariants.insert(0, _goal_constraints(session))
    invariants += _shared_invariants(world, session.start_time)
    return Grade(tuple(goal), tuple(invariants), scorecard(session), now)


def scorecard(session: Session) -> Scorecard:
    events = session.world.kernel.trace.events[session.start_seq:]
    locked = tuple(f"{e.fields.get('target')} at {format_time(e.time)}" for e in events
                   if e.kind == "vc.event"
                   and str(e.fields.get("event_id", "")).startswith(VM_LOCKED))
    risky: list[str] = []
    for entry in session.entries:
        for r in entry.risky:
            risky.append(f"{r} ({entry.line.strip()})")
    return Scorecard(session.world.kernel.now - session.start_time,
                     sum(1 for e in session.entries if reached_lab(e)),
                     locked, tuple(risky), session.hints_used)


#: Shell commands about the shell itself, not the lab: they do not count as commands used.
SHELL_ONLY = frozenset({"help", "get-help", "man", "history", "get-history", "time", "pause"})


def reached_lab(entry: Any) -> bool:
    """Whether a logged line counts as a command used: it ran a verb or fault (even one
    the lab refused), or it was a lab command that worked (a query, letting time pass).
    Typos, bad input and help about the shell do not count."""
    if entry.kind != "command":
        return False
    if entry.actions:
        return True
    words = entry.line.strip().split()
    return bool(entry.ok and words and words[0].lower() not in SHELL_ONLY)


# -- the invariants ------------------------------------------------------------------------

def _goal_constraints(session: Session) -> Finding:
    """The exercise's ``forbid`` rules against the commands typed and the trace since."""
    rules = session.exercise.forbid
    broken: list[str] = []
    for entry in session.entries:
        for verb, args in entry.calls:
            for rule in rules:
                if action_breaks(rule, verb, args):
                    broken.append(f"{rule.reason}: {entry.line.strip()} at "
                                  f"{format_time(entry.time)}")
    events = session.world.kernel.trace.events[session.start_seq:]
    seen: set[str] = set()
    for v in effect_violations(rules, session.world, events):
        if v.rule.reason not in seen:  # the first time each rule broke says enough
            seen.add(v.rule.reason)
            broken.append(v.text())
    if broken:
        return Finding("goal-constraints", False, "; ".join(broken))
    return Finding("goal-constraints", True, "kept: " + "; ".join(
        dict.fromkeys(r.reason for r in rules)))


def _hosts_attested(world: World) -> Finding:
    bad = []
    for cluster in world.trusted_clusters.values():
        for name in cluster.hosts:
            st = world.attestation_status(name)
            if st["status"] != "attested":
                bad.append(f"{name} is {st['status']}"
                           + (f" ({st['reason']})" if st.get("reason") else ""))
    if bad:
        return Finding("hosts-attested", False, "; ".join(bad))
    return Finding("hosts-attested", True, "every trusted host is attested")


def _trust_not_weakened(before: TrustSnapshot, after: TrustSnapshot) -> Finding:
    bad = []
    now = {h: (c, k) for h, c, k in after.settings}
    for host, cert, eks in before.settings:
        if host not in now:
            continue
        c2, k2 = now[host]
        if cert and not c2:
            bad.append(f"certificate validation of TPM endorsement keys turned off on {host}"
                       " (-RequireCertificateValidation:$false)")
        if eks and not k2:
            bad.append(f"the registered endorsement key check turned off on {host}"
                       " (-RequireEndorsementKey:$false)")
    for label, old, new in (("principal", before.principals, after.principals),
                            ("TPM CA certificate", before.tpm_ca_certificates,
                             after.tpm_ca_certificates),
                            ("endorsement key", before.endorsement_keys,
                             after.endorsement_keys)):
        gone = [n for n in old if n not in new]
        if gone:
            bad.append(f"{label} removed: {', '.join(gone)}")
    if before.ta_enabled and not after.ta_enabled:
        bad.append("the Trust Authority cluster was disabled")
    enabled_after = dict(after.trusted_enabled)
    for name, enabled in before.trusted_enabled:
        if enabled and not enabled_after.get(name, False):
            bad.append(f"Trusted cluster {name} was disabled")
    if bad:
        return Finding("trust-not-weakened", False, "; ".join(bad))
    return Finding("trust-not-weakened", True, "no trust setting was relaxed or removed")


#: The invariants of :mod:`vtalab.invariants` a trainee's fix must keep. Left out:
#: ``encrypted-vm-availability`` (a refused power-on while trying is what the scorecard's
#: "VMs locked" counts, not a failure), ``liveness-reattested`` (needs the world to settle
#: after the check) and advice.
SHARED = ("no-key-without-token", "attested-only-if-trusted",
          "no-base-image-removed-while-reported", "running-encrypted-vm-keeps-running",
          "ta-objects-consistent-at-end")


def _shared_invariants(world: World, since: float) -> list[Finding]:
    """The :data:`SHARED` invariants since the session start."""
    names = [n for n in SHARED if n in INVARIANTS]
    found: dict[str, list[str]] = {n: [] for n in names}
    for v in check_all(world, names):
        if v.time >= since:  # the exercise's prefix broke things on purpose
            found[v.invariant].append(str(v))
    return [Finding(n, not bad, "; ".join(bad[:3]) if bad else INVARIANTS[n].statement)
            for n, bad in found.items()]
