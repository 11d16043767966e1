"""The safety invariants: trust properties that must hold at every instant of a run.

* ``no-key-without-token`` -- kmxd releases a key only to a host holding a valid,
  unexpired token issued for itself;
* ``attested-only-if-trusted`` -- a host is reported attested only if the version its TPM
  measured is a trusted base image and its TPM identity is trusted;
* ``encrypted-vm-availability`` -- no encrypted VM is refused power-on or migration;
* ``running-encrypted-vm-keeps-running`` -- only an operator's Stop-VM stops one;
* ``no-base-image-removed-while-reported`` -- the Quick Boot trap.

Each registers itself with :func:`vtalab.invariants.invariant` when
:mod:`vtalab.invariants` is imported, in this order, before those of
:mod:`vtalab.invariants.progress`.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vtalab.core import crypto
from vtalab.core.kernel import format_time
from vtalab.domain.attestation import AUD_KMS, TYP_KMS
from vtalab.domain.ta_cluster import attestd_signing_key
from vtalab.invariants import DOMAIN, SEED, Violation, invariant
from vtalab.invariants.replay import (
    UP_KINDS,
    _canonical_verb,
    _TrustState,
    folded,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    from vtalab.core.trace import TraceEvent
    from vtalab.world.assembly import World

__all__ = ["VM_KINDS", "VM_STEPS", "stale_token_releases", "stale_token_text"]


# -- safety: keys ------------------------------------------------------------------------

@folded("key.release")
def _key_releases(world: World) -> Generator[int, list[TraceEvent], None]:
    n = 0
    while True:
        n += len((yield n))


@functools.lru_cache(maxsize=64)
def _attestd_keys(seed: int, ta_hosts: tuple[str, ...]) -> dict[str, tuple[str, crypto.PublicKey]]:
    """kid -> (service, public key) of every attestd of the topology, derived from the seed
    (the invariants never read kmxd's list of trusted keys: that is what they check)."""
    out = {}
    for name in ta_hosts:
        key = attestd_signing_key(seed, name)
        out[crypto.key_id(key)] = (f"{name}/attestd", key.public_key())
    return out


def _verified(world: World, f: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The claims of the token a ``key.release`` event recorded, re-verified from scratch
    (signature by an attestd of the topology, type, host, group, validity), and the
    problems found (empty: a valid token for this host)."""
    token = f.get("token")
    host, now = f.get("host"), f.get("now_epoch")
    if not token:
        return None, ["it presented no readable token"]
    decoded = crypto.jwt_decode(str(token))
    if decoded is None:
        return None, ["its token is not a JWT"]
    ta_hosts = tuple(h.name for h in world.topology.ta_cluster.hosts)
    signer = _attestd_keys(world.kernel.seed, ta_hosts).get(str(decoded.header.get("kid")))
    claims = crypto.jwt_verify(str(token), signer[1]) if signer is not None else None
    if claims is None or signer is None:
        return None, ["its token is not signed by any Attestation Service of the TA cluster"]
    problems = []
    if claims.get("iss") != signer[0]:
        problems.append(f"its token names issuer {claims.get('iss')} but was signed by "
                        f"{signer[0]}")
    if claims.get("typ") != TYP_KMS or claims.get("aud") != AUD_KMS:
        problems.append(f"its token is a {claims.get('typ')}, not a {TYP_KMS}")
    if claims.get("sub") != host:
        problems.append(f"its token was issued to {claims.get('sub')}")
    if f.get("group") is not None and claims.get("group") != f.get("group"):
        problems.append(f"its token is for group {claims.get('group')}, not {f.get('group')}")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or not isinstance(now, int):
        problems.append("the token has no validity period")
    elif now >= exp:
        problems.append(f"the token had expired {now - exp} s earlier")
    elif now < iat:
        problems.append(f"the token was not valid for another {iat - now} s")
    return claims, problems


@invariant(
    "no-key-without-token",
    statement="No key is ever released to a host that does not hold a valid, unexpired "
              "attestation token issued for itself (re-verified from the token kmxd "
              "recorded: signature, type, host, group, validity).",
    source=f"{DOMAIN} §6 (keys); vSphere Security guide, vTA key release",
    kind="safety", at_risk=_key_releases)
@folded("key.release")
def _no_key_without_token(world: World) -> Generator[list[Violation], list[TraceEvent], None]:
    out: list[Violation] = []
    while True:
        for e in (yield out):
            f = e.fields
            if not f.get("ok"):
                continue
            _, problems = _verified(world, f)
            if problems:
                host = f.get("host")
                out.append(Violation(
                    "no-key-without-token", e.time, str(host),
                    f"kmxd released key {str(f.get('key_id'))[:8]}… to {host} although "
                    + " and ".join(problems)
                    + "; a key may only go to a host holding a valid token for itself"))


@invariant(
    "key-only-after-attestation",
    statement="Every key kmxd releases goes on a token an Attestation Service issued when "
              "it attested that host: the trace shows that attestation passing, by the "
              "token's issuer, at the token's issue time, before the release.",
    source=f"{DOMAIN} §5-§6 (tokens are issued on a passed attestation); issue 13",
    kind="safety", at_risk=_key_releases)
@folded("attest.result", "key.release")
def _key_only_after_attestation(world: World) -> Generator[list[Violation], list[TraceEvent], None]:
    out: list[Violation] = []
    passed: set[tuple[str, str, int]] = set()  # (host, service, epoch) of passes so far
    while True:
        for e in (yield out):
            f = e.fields
            if e.kind == "attest.result":
                if f.get("status") == "attested":
                    passed.add((str(f.get("host")), str(f.get("service")),
                                world.kernel.epoch_seconds(e.time)))
                continue
            if not f.get("ok"):
                continue
            claims, _ = _verified(world, f)
            host = str(f.get("host"))
            if claims is None:
                why = "its token does not verify, so no attestation can be shown to have issued it"
            elif (str(claims.get("sub")), str(claims.get("iss")), claims.get("iat")) in passed:
                continue
            else:
                why = (f"no passed attestation of {claims.get('sub')} by {claims.get('iss')} at "
                       f"the token's issue time ({claims.get('iat')}) is in the trace")
            out.append(Violation(
                "key-only-after-attestation", e.time, host,
                f"kmxd released key {str(f.get('key_id'))[:8]}… to {host}, but {why}"))


_STALE_KINDS = ("attest.result", "key.release")


@folded(*_STALE_KINDS)
def _stale_token_fold(world: World) -> Generator[list[dict[str, Any]], list[TraceEvent], None]:
    """Every stale-token release so far (see :func:`stale_token_releases`), folded over
    ``attest.result`` and ``key.release`` events: each event is read once."""
    offset = world.kernel.epoch_seconds(0)
    issued_at: dict[tuple[str, str, int], int] = {}  # the pass that issued a token -> index
    # host -> indexes (in this fold's event order) of its notAttested verdicts, and those
    # verdicts (time, service, reason): ascending, so the first after a pass is a bisect
    failed_at: dict[str, list[int]] = {}
    failures: dict[str, list[tuple[float, str, str | None]]] = {}
    out: list[dict[str, Any]] = []
    i = -1
    while True:
        for e in (yield out):
            i += 1
            f = e.fields
            h = str(f.get("host"))
            if e.kind == "attest.result":
                if f.get("status") == "attested":
                    issued_at[(h, str(f.get("service")), world.kernel.epoch_seconds(e.time))] = i
                elif f.get("status") == "notAttested":
                    failed_at.setdefault(h, []).append(i)
                    failures.setdefault(h, []).append((e.time, str(f.get("service")),
                                                       f.get("reason")))
                continue
            if not f.get("ok") or f.get("token_iat") is None:
                continue
            iat = int(f["token_iat"])
            since = issued_at.get((h, str(f.get("token_iss")), iat), -1)
            # judged notAttested after the attestation that issued the token (trace order)
            indexes = failed_at.get(h, [])
            k = bisect.bisect_right(indexes, since)
            if k == len(indexes):
                continue
            failed = failures[h][k]
            issued, expires = iat - offset, float(f.get("token_exp") or iat) - offset
            out.append({"time": e.time, "host": h, "key_id": f.get("key_id"),
                        "issuer": f.get("token_iss"), "issued": issued, "expires": expires,
                        "failed_at": failed[0], "failed_by": failed[1], "reason": failed[2],
                        "exposure": e.time - failed[0], "exposure_bound": expires - failed[0]})


def stale_token_releases(world: World, host: str | None = None) -> list[dict[str, Any]]:
    """Key releases on a token whose host was judged notAttested after it was issued.

    vTA's documented rule lets kmxd accept any valid, unexpired token, so such a release
    is not a violation; this makes the exposure visible. Each item: the release time,
    key, host, token issuer/issue/expiry (simulated s), the first notAttested verdict
    after the token was issued (time, service, reason) and the exposure (release time -
    that verdict) and its bound (token expiry - that verdict). Incremental: a fold over
    the new events only, however often it is asked.
    """
    items: list[dict[str, Any]] = _stale_token_fold(world)
    return [dict(item) for item in items if host is None or item["host"] == host]


def stale_token_text(item: dict[str, Any]) -> str:
    """One stale-token release in the operator's words."""
    return (f"kmxd released key {str(item['key_id'])[:8]}… to {item['host']} at "
            f"{format_time(item['time'])} on a token {item['issuer']} issued at "
            f"{format_time(item['issued'])}, although {item['failed_by']} judged the host "
            f"notAttested ({item['reason']}) at {format_time(item['failed_at'])}: exposed "
            f"for {format_time(item['exposure']).removeprefix('T+')} so far, up to "
            f"{format_time(item['exposure_bound']).removeprefix('T+')} until the token "
            f"expires at {format_time(item['expires'])} (vTA's rule: a valid, unexpired "
            "token is enough; key_release_policy: latest_verdict refuses it)")


@invariant(
    "no-release-on-stale-token",
    statement="No key is released on a token whose host has been judged notAttested since "
              "the token was issued (vTA allows it until the token expires: this shows the "
              "exposure window).",
    source=f"{DOMAIN} §6 (kmxd accepts a valid, unexpired token); issue 13",
    kind="advice", at_risk=_key_releases)
def _no_release_on_stale_token(world: World) -> list[Violation]:
    return [Violation("no-release-on-stale-token", item["time"], item["host"],
                      stale_token_text(item)) for item in stale_token_releases(world)]


# -- safety: attestation -----------------------------------------------------------------

@folded("attest.result")
def _attestations(world: World) -> Generator[int, list[TraceEvent], None]:
    n = 0
    while True:
        for e in (yield n):
            n += e.fields.get("status") == "attested"


@invariant(
    "attested-only-if-trusted",
    statement="A host is reported attested only if the ESXi version its TPM measured is a "
              "trusted base image at that moment and its TPM identity is trusted.",
    source=f"{DOMAIN} §3-§5; {SEED} (Quick Boot: measurements describe the last full boot)",
    kind="safety", at_risk=_attestations)
@folded("ta.object", "host.initial", "host.boot.complete", "tpm.reset", "attest.result")
def _attested_only_if_trusted(world: World) -> Generator[list[Violation], list[TraceEvent], None]:
    trust = _TrustState()
    measured: dict[str, str | None] = {}
    tpm: dict[str, tuple[str | None, str | None]] = {}
    out: list[Violation] = []
    while True:
        for e in (yield out):
            f = e.fields
            if e.kind == "ta.object":
                trust.apply(f)
            elif e.kind in UP_KINDS:
                measured[f["host"]] = f.get("measured_version")
            elif e.kind == "tpm.reset":
                tpm[f["host"]] = (f.get("ek"), f.get("ek_issuer"))
            elif f.get("status") == "attested":
                host = str(f["host"])
                version = measured.get(host)
                why = []
                if version is None:
                    why.append("no measured boot of it is known")
                elif version not in trust.base_images:
                    shown = ", ".join(sorted(trust.base_images)) or "none"
                    why.append(f"its TPM measured ESXi {version}, which is not a trusted base "
                               f"image (trusted: {shown})")
                if host in tpm:
                    problem = trust.tpm_problem(*tpm[host])
                    if problem:
                        why.append(problem)
                if why:
                    out.append(Violation(
                        "attested-only-if-trusted", e.time, host,
                        f"{f.get('service')} reported {host} attested although "
                        + "; and ".join(why)))


# -- safety: encrypted VMs ---------------------------------------------------------------

class _Vms:
    """VM power state, host and encryption over time, replayed from the trace."""

    def __init__(self, world: World) -> None:
        self.encrypted = {name: vm.encrypted for c in world.topology.trusted_clusters
                          for vm in c.vms for name in [vm.name]}
        self.on: dict[str, bool] = {}
        self.host: dict[str, str | None] = {}  # None: the event named no host

    def apply(self, e: TraceEvent) -> None:
        f = e.fields
        if e.kind == "vm.encrypted":
            self.encrypted[f["vm"]] = True
        elif e.kind == "vm.power":
            self.on[f["vm"]] = f.get("state") == "poweredOn"
            self.host[f["vm"]] = f.get("host")
        elif e.kind == "vm.migrated":
            self.host[f["vm"]] = f.get("host")


VM_KINDS = ("vm.encrypted", "vm.power", "vm.migrated")
VM_STEPS = {"Start-VM": "power-on", "Move-VM": "migration"}


@folded(*VM_KINDS, "vm.power_on.failed", "vm.migrate.failed")
def _encrypted_vm_operations(world: World) -> Generator[int, list[TraceEvent], None]:
    vms = _Vms(world)
    n = 0
    while True:
        for e in (yield n):
            vm: str = e.fields.get("vm", "")  # "" (no such VM) counts as not encrypted
            if e.kind in ("vm.power_on.failed", "vm.migrate.failed"):
                n += 1
            elif e.kind == "vm.power" and e.fields.get("state") == "poweredOn":
                n += vms.encrypted.get(vm, False)
            elif e.kind == "vm.migrated":
                n += vms.encrypted.get(vm, False) and vms.on.get(vm, False)
            vms.apply(e)


@invariant(
    "encrypted-vm-availability",
    statement="No encrypted VM is refused power-on or migration during the plan.",
    source=f"{SEED} (upgrading trusted hosts: encrypted VMs cannot be used until the base "
           "image is imported)",
    kind="safety", at_risk=_encrypted_vm_operations)
@folded(*VM_KINDS, "vm.power_on.failed", "vm.migrate.failed", "step.start", "step.end")
def _encrypted_vm_availability(world: World) -> Generator[list[Violation], list[TraceEvent], None]:
    vms = _Vms(world)
    out: list[Violation] = []
    seen: set[tuple[str, str]] = set()  # (vm, what) refused since the current step started
    open_steps: dict[int, tuple[str, dict[str, Any]]] = {}
    while True:
        for e in (yield out):
            f = e.fields
            if e.kind in VM_KINDS:
                vms.apply(e)
            elif e.kind == "vm.power_on.failed":
                seen.add((str(f["vm"]), "power-on"))
                out.append(Violation(
                    "encrypted-vm-availability", e.time, str(f["vm"]),
                    f"encrypted VM {f['vm']} was refused power-on on {f.get('host')} "
                    f"({f.get('reason')}): its host could not get the key from the trusted key "
                    "provider"))
            elif e.kind == "vm.migrate.failed":
                seen.add((str(f["vm"]), "migration"))
                out.append(Violation(
                    "encrypted-vm-availability", e.time, str(f["vm"]),
                    f"vMotion of encrypted VM {f['vm']} to {f.get('host')} was refused "
                    f"({f.get('reason')}): the destination could not get the key"))
            elif e.kind == "step.start":
                seen.clear()
                args = dict(f.get("args") or {})
                open_steps[int(f["index"])] = (_canonical_verb(f.get("verb")), args)
            else:  # step.end: a refusal that left no VM event (host down, no destination ...)
                verb, args = open_steps.pop(int(f["index"]), (_canonical_verb(f.get("verb")), {}))
                what = VM_STEPS.get(verb)
                vm = str(args.get("vm"))
                if (what is None or f.get("ok") or f.get("error") == "invalid_request"
                        or not vms.encrypted.get(vm, False) or (vm, what) in seen):
                    continue
                where = f" to {args.get('destination')}" if what == "migration" else ""
                out.append(Violation(
                    "encrypted-vm-availability", e.time, vm,
                    f"{verb} of encrypted VM {vm}{where} was refused ({f.get('error')})"))


@folded(*VM_KINDS)
def _encrypted_vm_moves(world: World) -> Generator[int, list[TraceEvent], None]:
    vms = _Vms(world)
    n = 0
    while True:
        for e in (yield n):
            vm: str = e.fields.get("vm", "")  # "" (no such VM) is neither on nor encrypted
            running = vms.on.get(vm, False) and vms.encrypted.get(vm, False)
            if running and (e.kind == "vm.migrated" or
                            (e.kind == "vm.power" and e.fields.get("state") == "poweredOff")):
                n += 1
            vms.apply(e)


@invariant(
    "running-encrypted-vm-keeps-running",
    statement="No running encrypted VM stops because of the plan; only an operator's "
              "Stop-VM powers one off.",
    source=f"{DOMAIN} §6 (running VMs keep their keys in memory); {SEED}",
    kind="safety", at_risk=_encrypted_vm_moves)
@folded("vm.power")
def _running_encrypted_vm_keeps_running(
        world: World) -> Generator[list[Violation], list[TraceEvent], None]:
    out: list[Violation] = []
    while True:
        for e in (yield out):
            f = e.fields
            if f.get("state") == "poweredOff" and f.get("encrypted") and \
                    f.get("cause", "operator") != "operator":
                out.append(Violation(
                    "running-encrypted-vm-keeps-running", e.time, str(f["vm"]),
                    f"running encrypted VM {f['vm']} stopped on {f.get('host')} because of "
                    f"{f.get('cause')}; it must be moved away (maintenance mode) first, and may "
                    "not power on again if its host cannot get the key"))


# -- safety: base images -----------------------------------------------------------------

@folded("ta.object")
def _removals(world: World) -> Generator[int, list[TraceEvent], None]:
    n = 0
    while True:
        for e in (yield n):
            n += e.fields.get("base_image") is not None and e.fields.get("change") == "remove"


@invariant(
    "no-base-image-removed-while-reported",
    statement="No base image is removed from the TA cluster while a trusted host's TPM "
              "measurements still report it (the Quick Boot trap).",
    source=f"{SEED}, 'Upgrading vTA with Quick Booted ESXi trusted hosts', point 1",
    kind="safety", at_risk=_removals)
@folded("ta.base_image.removed", "ta.object", "host.initial", "host.boot.complete")
def _no_base_image_removed_while_reported(
        world: World) -> Generator[list[Violation], list[TraceEvent], None]:
    out: list[Violation] = []
    pending: dict[str, list[str]] = {}
    quick: dict[str, int] = {}  # host -> Quick Boots since its last full boot, so far
    while True:
        for e in (yield out):
            f = e.fields
            if e.kind == "host.initial":
                quick[str(f["host"])] = int(f.get("quick_boots_since_full") or 0)
                continue
            if e.kind == "host.boot.complete":
                host = str(f["host"])
                quick[host] = quick.get(host, 0) + 1 if f.get("mode") == "quick" else 0
                continue
            if e.kind == "ta.base_image.removed":
                pending[str(f["version"])] = list(f.get("measured_by") or ())
                continue
            if f.get("change") != "remove" or f.get("base_image") is None:
                continue
            version = str(f["base_image"])
            hosts = pending.pop(version, [])
            if hosts:  # the removal was applied (a refused one records no ta.object)
                out.append(Violation(
                    "no-base-image-removed-while-reported", e.time, version,
                    _removed_while_reported(version, hosts, quick)))


def _removed_while_reported(version: str, hosts: list[str], quick: dict[str, int]) -> str:
    """Why removing ``version`` breaks ``hosts``, from what their boots did (a Quick Boot
    is mentioned only for the hosts that had one since their last full boot)."""
    def them(names: list[str]) -> str:
        return f"{', '.join(names)} {'still reports' if len(names) == 1 else 'still report'}"

    quick_booted = [h for h in hosts if quick.get(h, 0)]
    full_booted = [h for h in hosts if not quick.get(h, 0)]
    parts = []
    if quick_booted:
        n = max(quick[h] for h in quick_booted)
        parts.append(
            f"{them(quick_booted)} it: {'its' if len(quick_booted) == 1 else 'their'} last "
            f"full boot ran {version} and the Quick Boot{'s' if n > 1 else ''} since did not "
            "re-measure, so only a full reboot changes what the TPM reports")
    if full_booted:
        parts.append(
            f"{them(full_booted)} it: {'its' if len(full_booted) == 1 else 'their'} last "
            f"boot was a full boot of {version}")
    return (f"base image {version} was removed while {'; '.join(parts)}; "
            f"{'it fails' if len(hosts) == 1 else 'they fail'} attestation with "
            f"untrusted_base_image until {'it boots' if len(hosts) == 1 else 'each boots'} "
            f"fully into a trusted image; keep {version} until no host measures it")
