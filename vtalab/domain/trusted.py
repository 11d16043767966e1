"""Trusted clusters and the trusted-host agent ``kmxa``.

The workload vCenter holds the **desired** trust configuration of each Trusted cluster
(which attestation services and key provider services it uses); each trusted host holds
the **applied** copy. ``Set-TrustedCluster -Remediate`` pushes desired to applied and
``Get-TrustedClusterAppliedStatus`` compares them.

``kmxa`` on each trusted host attests at boot and periodically, renewing before its token
expires, fetches keys from the Key Provider Service with that token, and caches keys in
memory (a reboot empties the cache unless key persistence is on). An unreachable
attestation service is **not** an untrusted host: kmxa retries with exponential backoff
and reports ``unknown`` with the reason ``attestation_unreachable``, never ``notAttested``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vtalab.core import crypto
from vtalab.core.frozen import maker
from vtalab.domain.attestation import AttestationTokens, Evidence
from vtalab.domain.reasons import Reason
from vtalab.domain.ta_cluster import QUOTE_PCRS
from vtalab.tpm.marshal import marshal_public

if TYPE_CHECKING:
    import simpy

    from vtalab.domain.site import Site
    from vtalab.esxi.host import BootMode, EsxiHost
    from vtalab.tpm.device import Tpm

__all__ = ["HostAttestation", "Kmxa", "ServiceInfo", "TrustedCluster", "TrustedHost"]

#: The shortest wait of kmxa between two attestation attempts (a defensive floor: the
#: parameters' ranges already keep every delay positive).
MIN_ATTEST_DELAY_SECONDS = 1.0

#: The PCRs kmxa asks its TPM to quote: one tuple for every quote, so the TPM knows it is
#: asked for the same PCRs as last time by the tuple's identity (``Tpm.quote``)
_QUOTE_PCRS = tuple(QUOTE_PCRS)

#: ``Evidence(...)`` at every attestation, without the frozen dataclass's ``__init__``
_evidence = maker(Evidence)


@dataclass(frozen=True)
class ServiceInfo:
    """An attestation or key provider service as exported by the TA cluster."""

    kind: str  #: "attestation" | "key_provider"
    name: str  #: e.g. "ta-esx-01/attestd"
    address: str  #: the TA host
    group: str
    certificate_sha256: str = ""


class HostAttestation:
    """kmxa's latest result with one attestation service (what vCenter shows).

    ``token`` is the ``KMS_AUTH_JWT`` the service issued. It may be handed in as the
    service's :class:`~vtalab.domain.attestation.AttestationTokens`, which sign it when it
    is first read: a host renews its token every hour and asks for a key far more rarely,
    so most tokens are replaced unread. Read, it is the same text either way."""

    __slots__ = ("_token", "attested_at", "attested_until", "measured_version", "messages",
                 "reason", "status", "token_exp")

    def __init__(self, status: str = "unknown", reason: str | None = None,
                 messages: Sequence[str] = (), attested_at: float | None = None,
                 attested_until: float | None = None,
                 token: str | AttestationTokens | None = None, token_exp: int | None = None,
                 measured_version: str | None = None) -> None:
        self.status = status  #: attested | notAttested | unknown
        self.reason = reason
        #: read-only (a tuple unless given otherwise): an attested host has none, and an
        #: empty tuple is shared rather than a new list per attestation kept for an hour
        self.messages = messages
        self.attested_at = attested_at
        self.attested_until = attested_until
        self._token = token
        self.token_exp = token_exp
        self.measured_version = measured_version

    @property
    def token(self) -> str | None:
        held = self._token
        if held is None or isinstance(held, str):
            return held
        text = held.kms  # signed now, once
        self._token = text
        return text

    @property
    def holds_token(self) -> bool:
        """Whether a token was issued (``token is not None``, without signing it)."""
        return self._token is not None

    def _fields(self) -> tuple[Any, ...]:
        return (self.status, self.reason, self.messages, self.attested_at,
                self.attested_until, self.token, self.token_exp, self.measured_version)

    def __eq__(self, other: object) -> bool:
        if type(other) is not HostAttestation:
            return NotImplemented
        mine, theirs = self._fields(), other._fields()
        # the same messages compare equal whether given as a list or a tuple
        return (mine[:2] == theirs[:2] and tuple(mine[2]) == tuple(theirs[2])
                and mine[3:] == theirs[3:])

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        names = ("status", "reason", "messages", "attested_at", "attested_until", "token",
                 "token_exp", "measured_version")
        return "HostAttestation(" + ", ".join(
            f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True)) + ")"


class Kmxa:
    """The trusted-host agent."""

    def __init__(self, world: Site, trusted: TrustedHost) -> None:
        self.world = world
        self.th = trusted
        self.results: dict[str, HostAttestation] = {}
        self.key_cache: dict[str, bytes] = {}
        self.persisted_keys: dict[str, bytes] = {}
        self._wake = world.kernel.env.event()
        self._retry = world.params.retry_initial_seconds
        self._started = False
        #: (TPM, EK, AK, EK SPKI DER, AK TPM2B_PUBLIC): see _tpm_identity
        self._identity: tuple[Tpm, Any, Any, bytes, bytes] | None = None
        #: (simulated s, its ISO text): see _iso_utc
        self._utc_held: tuple[float, str] | None = None
        # This host's trace sources, made once (a host's name and role never change): the
        # same str objects in every record, hashed once and found by identity when the
        # trace is encoded, instead of two new strings per attestation.
        host = trusted.host
        self._source = host.source
        self._log_source = f"{host.name}/kmxa.log"

    @property
    def host(self) -> EsxiHost:
        return self.th.host

    @property
    def running(self) -> bool:
        return self.host.is_up and self.host.services.get("kmxa", False)

    def log(self, message: str, level: str = "info") -> None:
        self.world.kernel.log(self.host.name, "kmxa.log", message, level=level,
                              source=self._log_source)

    # -- life-cycle ----------------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self._started = True
            self.world.kernel.process(self._loop())

    def wake(self) -> None:
        """Re-attest now (boot, service start, configuration change)."""
        if not self._wake.triggered:
            self._wake.succeed()

    def on_up(self, host: EsxiHost, mode: BootMode) -> None:
        if self.th.cluster.key_persistence:
            self.key_cache = dict(self.persisted_keys)
        self.wake()

    def on_down(self, host: EsxiHost, reason: str) -> None:
        self.key_cache = {}
        for service, result in self.results.items():
            if result.status != "unknown" or result.holds_token:
                self.results[service] = HostAttestation(
                    reason=None, messages=[f"host is down ({reason})"])
        self.th.cluster.publish(self.th)

    def _loop(self) -> Generator[Any, Any, None]:
        env = self.world.kernel.env
        while True:
            delay = self.world.params.reattest_period_seconds
            if self.running and self.th.applied_attestation():
                delay = self.attest_all()
            self._wake = env.event()
            # Never a hot loop, whatever the parameters: at least MIN_ATTEST_DELAY_SECONDS
            # between two attempts (without a wake-up: boot, service start, new config).
            yield _first_of(env, env.timeout(max(delay, MIN_ATTEST_DELAY_SECONDS)),
                            self._wake)

    # -- attestation ---------------------------------------------------------------------
    def attest_all(self) -> float:
        """Attest with every applied attestation service; return the delay to the next try."""
        p = self.world.params
        next_delay = p.reattest_period_seconds
        unreachable = False
        for info in self.th.applied_attestation():
            result = self.attest_once(info)
            # BUG FIX (scenario library): an unreachable service while the host still holds
            # a valid token ("attested", attestation_unreachable) used to schedule the
            # renewal from that token -- once inside the renewal margin, a retry every
            # second. Unreachable means backoff -- and one more look when the kept token
            # runs out by this host's clock, so vCenter stops showing it attested then.
            if result.reason == Reason.ATTESTATION_UNREACHABLE.value:
                unreachable = True
                if result.status == "attested" and result.token_exp is not None:
                    next_delay = min(next_delay,
                                     max(result.token_exp - self.local_epoch(), 1.0))
            elif result.status == "attested" and result.token_exp is not None:
                remaining = result.token_exp - self.local_epoch() - p.renew_before_expiry_seconds
                # A clock far ahead makes a fresh token look due already: renew, but no
                # faster than the retry delay (never a hot loop).
                next_delay = min(next_delay, max(remaining, p.retry_initial_seconds))
            elif result.status == "notAttested":
                next_delay = min(next_delay, p.failed_reattest_seconds)
            else:
                unreachable = True
        if unreachable:
            next_delay = min(next_delay, self._retry)
            self._retry = min(self._retry * 2, p.retry_max_seconds)
        else:
            self._retry = p.retry_initial_seconds
        self.th.cluster.publish(self.th)
        return next_delay

    def local_epoch(self) -> int:
        """This host's idea of the time (true time plus its clock skew)."""
        return self.world.kernel.epoch_seconds() + int(self.host.clock_skew)

    def attest_once(self, info: ServiceInfo) -> HostAttestation:
        world = self.world
        kernel = world.kernel
        host = self.host
        ta = world.ta_cluster.hosts.get(info.address)
        problem = world.reachability(host, ta, "attestd")
        if problem is not None:
            previous = self.results.get(info.name) or HostAttestation()
            keep_token = (previous.holds_token
                          and (previous.token_exp or 0) > self.local_epoch())
            result = HostAttestation(
                status="attested" if keep_token else "unknown",
                reason=Reason.ATTESTATION_UNREACHABLE.value,
                messages=[f"Attestation service {info.name} unreachable: {problem}; "
                          "retrying (this is not an attestation failure)"],
                attested_at=previous.attested_at if keep_token else None,
                attested_until=previous.attested_until if keep_token else None,
                token=previous._token if keep_token else None,
                token_exp=previous.token_exp if keep_token else None,
                measured_version=previous.measured_version)
            self.log(result.messages[0], level="warning")
            kernel.record(self._source, "attest.unreachable", host=host.name,
                          service=info.name, problem=problem,
                          message=f"{host.name}: attestation service {info.name} "
                                  f"unreachable ({problem}); will retry")
            self.results[info.name] = result
            return result
        assert ta is not None
        tpm = host.tpm
        now = kernel.now
        # kmxa asks the service for a nonce first (an exchange at this simulated instant:
        # the lab models no network latency); the quote must be over that nonce.
        nonce = ta.attestd.issue_nonce(host.name).nonce
        quote = tpm.quote(nonce, _QUOTE_PCRS, now_ms=int(round(now * 1000)))
        ek_public_der, ak_public = self._tpm_identity(tpm)
        evidence = _evidence(
            host=host.name,
            principal_token=world.workload_vcenter.host_assertion(host.name),
            ek_certificate_der=tpm.ek_certificate_der,
            ek_public_der=ek_public_der,
            ak_public=ak_public,
            quote_attest=quote.attest,
            quote_signature=quote.signature,
            eventlog=tpm.log.to_bytes(),
            pcr_selection=QUOTE_PCRS,
            nonce=nonce,
        )
        verdict, tokens = ta.attestd.attest(evidence, ta.config, tpm.activate_credential)
        if tokens is not None:
            lifetime = world.params.token_lifetime_seconds
            valid_until = now + lifetime
            result = HostAttestation(
                status="attested", attested_at=now, attested_until=valid_until,
                token=tokens,
                token_exp=kernel.epoch_seconds() + int(lifetime),
                measured_version=verdict.measured_version)
            if verdict.matched_base_image:
                world.ta_cluster.last_attested[verdict.matched_base_image] = now
            self.log(f"Attested by {info.name}; "
                     f"token valid until {self._iso_utc(valid_until)}")
            message = (f"{host.name}: attestation by {info.name}: passed, measured ESXi "
                       f"{verdict.measured_version}")
        else:
            first = verdict.findings[0]
            result = HostAttestation(
                status="notAttested", reason=first.reason.value,
                messages=[f"{f.reason.value}: {f.message}" for f in verdict.findings],
                measured_version=verdict.measured_version)
            self.log(f"Attestation by {info.name} failed: {result.messages[0]}", level="error")
            message = f"{host.name}: attestation by {info.name}: FAILED ({result.reason})"
        kernel.record(self._source, "attest.result", host=host.name,
                      service=info.name, status=result.status, reason=result.reason,
                      measured_version=verdict.measured_version,
                      running_version=host.version,
                      reset_count=verdict.reset_count,
                      warnings=[f.reason.value for f in verdict.warnings],
                      message=message)
        self.results[info.name] = result
        return result

    def _tpm_identity(self, tpm: Tpm) -> tuple[bytes, bytes]:
        """The EK's SPKI DER and the AK's ``TPM2B_PUBLIC`` that this host presents.

        Pure functions of the TPM's keys, asked at every attestation: remembered for this
        TPM and these keys (a replaced TPM -- a new :class:`Tpm` -- or key is a new entry)."""
        held = self._identity
        if held is not None and held[0] is tpm and held[1] is tpm.ek and held[2] is tpm.ak:
            return held[3], held[4]
        ek_public_der = crypto.public_der(tpm.ek)
        ak_public = marshal_public(tpm.ak_public_area)
        self._identity = (tpm, tpm.ek, tpm.ak, ek_public_der, ak_public)
        return ek_public_der, ak_public

    def _iso_utc(self, at: float) -> str:
        """``kernel.utc(at).isoformat()``: the host attests with each service at the same
        instant, so the end of validity it logs is the same text; the last one is kept."""
        held = self._utc_held
        if held is not None and held[0] == at:
            return held[1]
        text = self.world.kernel.utc(at).isoformat()
        self._utc_held = (at, text)
        return text

    def token(self) -> str | None:
        """A token this host believes valid (by its own, possibly skewed, clock)."""
        best = None
        for result in self.results.values():
            # (holds_token: only the token handed out is signed, see HostAttestation)
            valid = result.holds_token and (result.token_exp or 0) > self.local_epoch()
            if valid and (best is None or (result.token_exp or 0) > (best.token_exp or 0)):
                best = result
        return best.token if best else None

    # -- keys ----------------------------------------------------------------------------
    def get_key(self, provider: str, key_id: str) -> tuple[bool, str | None, str]:
        """Make ``key_id`` available on this host. Returns (ok, reason, message)."""
        if not self.running:
            return False, Reason.SERVICE_STOPPED.value, "kmxa is not running on the host"
        token = self.token()
        if token is None:
            # An unattested trusted host cannot use encrypted VMs, cached key or not [doc];
            # surface why it is unattested, which is what the operator must fix.
            summary = self.th.summary()
            reason = summary.reason or Reason.NO_TOKEN.value
            why = summary.messages[0] if summary.messages else "the host holds no valid token"
            return False, reason, f"host {self.host.name} is not attested: {why}"
        if key_id in self.key_cache:
            return True, None, "key in host memory"
        world = self.world
        last: tuple[bool, str | None, str] = (
            False, Reason.KEY_PROVIDER_NOT_CONFIGURED.value,
            "no key provider service is configured for the host")
        for info in self.th.applied_key_providers():
            ta = world.ta_cluster.hosts.get(info.address)
            problem = world.reachability(self.host, ta, "kmxd")
            if problem is not None:
                last = (False, Reason.ATTESTATION_UNREACHABLE.value
                        if ta is None else Reason.KEY_PROVIDER_UNREACHABLE.value,
                        f"key provider service {info.name} unreachable: {problem}")
                continue
            assert ta is not None
            release = ta.kmxd.release_key(token=token, host=self.host.name, provider=provider,
                                          key_id=key_id, kms=world.kms,
                                          now=world.kernel.utc(),
                                          now_epoch=world.kernel.epoch_seconds())
            for line in release.log:
                world.kernel.log(ta.name, "kmxd.log", line,
                                 level="info" if release.ok else "error")
            if release.ok and release.material is not None:
                self.key_cache[key_id] = release.material
                if self.th.cluster.key_persistence:
                    self.persisted_keys[key_id] = release.material
                self.log(f"Key {key_id} received from {info.name}")
                return True, None, "key released"
            reason = release.reason.value if release.reason else "refused"
            self.log(f"Key {key_id} refused by {info.name}: {reason}: {release.message}",
                     level="error")
            last = (False, reason, release.message)
        return last


def _first_of(env: simpy.Environment, timeout: simpy.Event, wake: simpy.Event
              ) -> simpy.Event:
    """An event that succeeds when the first of ``timeout`` and ``wake`` is processed:
    ``env.any_of([timeout, wake])`` for two events that only ever succeed, with less work.

    It is scheduled exactly when and as that condition would be (``succeed()`` from the
    first one's callback, at the same instant and priority), so the events of an instant
    keep their order and a run its count of steps (tests/domain/test_kmxa_wait.py); what
    is left out is the condition's value, which kmxa never reads, and its bookkeeping."""
    first = env.event()

    def fire(_: simpy.Event) -> None:
        if not first.triggered:
            first.succeed()

    timeout.callbacks.append(fire)  # both pending: their callbacks are lists
    wake.callbacks.append(fire)
    return first


class TrustedHost:
    """A trusted host: the ESXi host, its applied trust configuration and its kmxa."""

    def __init__(self, world: Site, host: EsxiHost, cluster: TrustedCluster) -> None:
        self.host = host
        self.cluster = cluster
        self.applied: tuple[ServiceInfo, ...] = ()
        self.agent = Kmxa(world, self)
        host.on_up.append(self.agent.on_up)
        host.on_down.append(self.agent.on_down)

    @property
    def name(self) -> str:
        return self.host.name

    def applied_attestation(self) -> list[ServiceInfo]:
        return [s for s in self.applied if s.kind == "attestation"] if self.cluster.enabled else []

    def applied_key_providers(self) -> list[ServiceInfo]:
        return [s for s in self.applied if s.kind == "key_provider"] if self.cluster.enabled else []

    def summary(self) -> HostAttestation:
        """The host-level status vCenter shows: attested if any service attests it."""
        results = list(self.agent.results.values())
        for wanted in ("attested", "notAttested"):
            for r in results:
                if r.status == wanted:
                    return r
        return results[0] if results else HostAttestation()


class TrustedCluster:
    """A Trusted cluster in the workload vCenter."""

    def __init__(self, world: Site, name: str, *, quick_boot: bool,
                 key_persistence: bool) -> None:
        self.world = world
        self.name = name
        self.enabled = False
        self.quick_boot = quick_boot
        self.key_persistence = key_persistence
        self.desired: tuple[ServiceInfo, ...] = ()
        self.hosts: dict[str, TrustedHost] = {}
        self._shown: dict[str, str] = {}

    def remediate(self, kind: str | None = None) -> list[str]:
        """Push the desired configuration to every reachable host; returns hosts changed.

        ``kind`` ("attestation" | "key_provider") pushes only that kind's services and
        leaves the other kind's applied services as they are (the vSphere Automation API's
        per-service ``services_applied_config`` update)."""
        changed = []
        for th in self.hosts.values():
            if not th.host.is_up:
                continue
            new = self.desired if kind is None else self._merged(th.applied, kind)
            if th.applied != new:
                th.applied = new
                changed.append(th.name)
                th.agent.wake()
        return changed

    def _merged(self, applied: tuple[ServiceInfo, ...], kind: str) -> tuple[ServiceInfo, ...]:
        """``applied`` with its ``kind`` services replaced by the desired ones, in the
        desired order (so remediating each kind in turn gives exactly the desired tuple)."""
        items = [s for s in self.desired if s.kind == kind] + \
                [s for s in applied if s.kind != kind]
        order = {s: i for i, s in enumerate(self.desired)}
        return tuple(sorted(items, key=lambda s: order.get(s, len(order) + items.index(s))))

    def applied_status(self, kind: str | None = None) -> dict[str, str]:
        """Per host: "OK" when its applied services (of ``kind``, or all) are the desired."""
        def of(services: tuple[ServiceInfo, ...]) -> list[ServiceInfo]:
            return [s for s in services if kind is None or s.kind == kind]

        want = of(self.desired)
        return {name: ("OK" if of(th.applied) == want else "ERROR")
                for name, th in self.hosts.items()}

    def applied_services(self, kind: str) -> list[dict[str, Any]]:
        """Per service address of ``kind`` (desired or applied on any host): whether every
        host applied it as desired, the hosts that differ, and the groups they carry."""
        addresses = [s.address for s in self.desired if s.kind == kind]
        for th in self.hosts.values():
            addresses += sorted({s.address for s in th.applied if s.kind == kind}
                                - set(addresses))
        rows = []
        for address in addresses:
            want = [s for s in self.desired if s.kind == kind and s.address == address]
            drifted, groups = [], set()
            for name, th in self.hosts.items():
                have = [s for s in th.applied if s.kind == kind and s.address == address]
                if have != want:
                    drifted.append(name)
                    groups |= {s.group for s in have} - {s.group for s in want}
            rows.append({"address": address, "service": want[0].name if want else None,
                         "health": "ERROR" if drifted else "OK", "hosts": drifted,
                         "groups": sorted(groups)})
        return rows

    def health(self) -> str:
        if not self.desired:
            return "NONE"
        return "OK" if all(v == "OK" for v in self.applied_status().values()) else "ERROR"

    def publish(self, th: TrustedHost) -> None:
        """vCenter's view of a host changed: post the attestation event on transitions."""
        if not self.world.workload_vcenter.available:
            return  # vpxd is restarting; it shows the status when it is back (resync)
        summary = th.summary()
        status = summary.status
        before = self._shown.get(th.name)
        if status == before:
            return
        self._shown[th.name] = status
        vc = self.world.workload_vcenter
        if status == "attested":
            vc.post_event("com.vmware.vc.TaHostAttestPassEvent", th.name)
        elif status == "notAttested":
            vc.post_event("com.vmware.vc.TaHostAttestFailEvent", th.name)
            vc.log(f"Host {th.name} attestation failed: {'; '.join(summary.messages)}",
                   level="error")
        elif before is not None:
            vc.post_event("com.vmware.vc.TaHostAttestUnsetEvent", th.name)
