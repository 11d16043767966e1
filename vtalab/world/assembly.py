"""A whole simulated vTA estate, built from a topology, and the queries an operator asks.

Phases (as desmod): **build** (vCenters, KMS, TA cluster, trusted clusters, hosts with
their TPMs, VMs) → **configure** (a ``configured`` topology runs the documented setup
verbs at T=0, the way an administrator would — never by poking state) → **run** (SimPy
processes: boots, kmxa agents, verbs, faults) → **report** (the queries below and the
trace).

Hosts that exist at T=0 have been up "since before the lab started": their full boot is
measured at T=0 without taking simulated time, so a scenario starts from steady state.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import simpy

from vtalab.core import crypto
from vtalab.core.kernel import Kernel, gc_nursery
from vtalab.core.parameters import Parameters
from vtalab.domain.kms import build_kms
from vtalab.domain.ta_cluster import (
    OBJECT_KINDS,
    QUOTE_PCRS,
    AttestationService,
    TaHost,
    TrustAuthorityCluster,
)
from vtalab.domain.trusted import HostAttestation, TrustedCluster, TrustedHost
from vtalab.domain.vcenter import UNAVAILABLE_ERROR, VCenter
from vtalab.domain.vcenter_releases import API_DISABLED_ERROR, is_trust_authority_verb
from vtalab.domain.vm import Vm
from vtalab.errors import InputError, OperationError
from vtalab.esxi.host import EsxiHost
from vtalab.esxi.measure import FirmwareProfile
from vtalab.esxi.releases import image_for
from vtalab.tpm import Tpm
from vtalab.tpm.files import PCRS_OUT, tss_pcrs_file
from vtalab.world import vm_ops
from vtalab.world.registry import Outcome, lookup
from vtalab.world.setup import restore_attestation_history, setup_procedure
from vtalab.world.topology import Topology

if TYPE_CHECKING:
    from vtalab.domain.kms import ClientIdentity, KmsCluster

__all__ = ["CRYPTO_MODES", "World"]

#: A world's crypto: ``real`` (evidence, runs, bundles) or ``simulated`` (search only).
CRYPTO_MODES = ("real", "simulated")


class World:
    """One simulated vSphere Trust Authority estate."""

    _vendor_cas: dict[str, tuple[crypto.Certificate, crypto.PrivateKey]]

    def __init__(self, topology: Topology, *, seed: int = 0,
                 params: Parameters | None = None, crypto: str = "real") -> None:
        if crypto not in CRYPTO_MODES:
            raise InputError(f"unknown crypto mode {crypto!r}", what="crypto", value=crypto,
                             choices=list(CRYPTO_MODES))
        #: ``real`` or ``simulated`` (:func:`vtalab.core.crypto.simulated`): simulated
        #: crypto is for search (checker, campaigns), never for evidence.
        self.crypto = crypto
        self.topology = topology
        self.seed = int(seed)
        self.params = params or Parameters()
        self.kernel = Kernel(self.seed)
        #: files operators pass between cmdlets (``-FilePath``), by name
        self.files: dict[str, Any] = {}
        #: deterministic sequence numbers for keys kmxd and the KMS make (derivation labels)
        self.key_counters: dict[str, int] = {}
        #: vLCM desired ESXi image per cluster (Set-Cluster -BaseImage): cluster -> build key
        self.lcm_desired: dict[str, str] = {}
        self.hosts: dict[str, EsxiHost] = {}
        self.vms: dict[str, Vm] = {}
        self.key_provider_name = topology.kms.provider
        self.kms_primary_key: str | None = None
        self._vendor_cas = {}
        self._ordinals: dict[str, dict[str, int]] = {}
        with self.crypto_mode(), gc_nursery():  # see gc_nursery: it grows with the hosts
            self._build()
        self.kernel.process(self._bootstrap())

    def crypto_mode(self) -> crypto.simulated:
        """The context this world's crypto runs in (enter it around anything it does)."""
        return crypto.simulated(self.crypto == "simulated")

    # -- build ---------------------------------------------------------------------------
    def _build(self) -> None:
        t = self.topology
        k = self.kernel
        self.ta_vcenter = VCenter(k, self.params, t.ta_vcenter, "ta", t.ta_vcenter_release)
        self.workload_vcenter = VCenter(k, self.params, t.workload_vcenter, "workload",
                                        t.workload_vcenter_release)
        self.kms: KmsCluster
        self.kms_identity: ClientIdentity
        self.kms, self.kms_identity = build_kms(
            self.seed, t.kms.name, list(t.kms.servers), now=k.utc() - timedelta(days=1),
            validity_days=int(self.params.certificate_validity_days))
        self.ta_cluster = TrustAuthorityCluster(k, t.ta_cluster.name, self.ta_vcenter, t.group,
                                                self.params.key_release_policy)
        for spec in t.ta_cluster.hosts:
            host = EsxiHost(k, self.params, spec.name, self._image(spec.release, spec.name),
                            role="trust-authority", cluster=t.ta_cluster.name)
            host.services = {"attestd": True, "kmxd": True}
            self.hosts[spec.name] = host
            attestd = AttestationService(k, self.params, host, t.group, self.ta_vcenter)
            self.ta_cluster.hosts[spec.name] = TaHost(host, attestd,
                                                      self.ta_cluster.new_kmxd(spec.name))
        self.ta_cluster.refresh_trust()
        self.trusted_clusters: dict[str, TrustedCluster] = {}
        for cspec in t.trusted_clusters:
            cluster = TrustedCluster(self, cspec.name, quick_boot=cspec.quick_boot,
                                     key_persistence=cspec.key_persistence)
            self.trusted_clusters[cspec.name] = cluster
            for hspec in cspec.hosts:
                tpm = Tpm(crypto.derive_private_key(self.seed, f"tpm/{hspec.name}/ek/1"),
                          crypto.derive_private_key(self.seed, f"tpm/{hspec.name}/ak/1"))
                if hspec.tpm.ek_certificate:
                    tpm.ek_certificate_der = self.ek_certificate(hspec.tpm.vendor, tpm)
                host = EsxiHost(k, self.params, hspec.name, self._image(hspec.release, hspec.name),
                                role="trusted", tpm=tpm, txt=hspec.txt, cluster=cspec.name,
                                firmware=FirmwareProfile.for_vendor(
                                    "Dell Inc.", secure_boot=hspec.secure_boot, disk_id=hspec.name))
                host.services = {"kmxa": True}
                host.quick_boot_enabled = cspec.quick_boot
                host.tpm_vendor = hspec.tpm.vendor
                self.hosts[hspec.name] = host
                cluster.hosts[hspec.name] = TrustedHost(self, host, cluster)
            for vspec in cspec.vms:
                self.vms[vspec.name] = Vm(vspec.name, vspec.host, encrypted=vspec.encrypted)

    def _image(self, release: str, host: str) -> Any:
        try:
            return image_for(release)
        except InputError as exc:  # its reason, not str(exc): no doubled suggestions
            err = InputError(f"host {host!r}: {exc.reason}", what=exc.what, value=release,
                             choices=exc.choices)
            err.suggestion = exc.suggestion  # the nearest release, not the nearest spelling
            err.args = (err._render(),)
            raise err from None

    def tpm_vendor_ca(self, vendor: str) -> tuple[crypto.Certificate, crypto.PrivateKey]:
        if vendor not in self._vendor_cas:
            key = crypto.derive_private_key(self.seed, f"tpm-vendor/{vendor}")
            start = self.kernel.utc() - timedelta(days=365)
            cert = crypto.make_ca(f"{vendor} TPM Root CA", key, start,
                                  start + timedelta(days=self.params.tpm_ca_validity_days),
                                  org=vendor)
            self._vendor_cas[vendor] = (cert, key)
        return self._vendor_cas[vendor]

    def ek_certificate(self, vendor: str, tpm: Tpm) -> bytes:
        ca, ca_key = self.tpm_vendor_ca(vendor)
        start = self.kernel.utc() - timedelta(days=300)
        # tpm.ek itself, not tpm.ek.public_key(): the key object every world of this seed
        # shares (derive_private_key), whose encoding crypto remembers; a fresh public key
        # object would be encoded again for every host of every world.
        cert = crypto.issue_certificate(
            f"{vendor} EK {crypto.key_id(tpm.ek)}", tpm.ek, ca, ca_key, start,
            start + timedelta(days=self.params.tpm_ca_validity_days), org=vendor,
            key_agreement=True)
        return crypto.cert_der(cert)

    def _bootstrap(self) -> Generator[Any, Any, None]:
        t = self.topology
        for spec in t.ta_cluster.hosts:
            self.hosts[spec.name].start_running()
        for cspec in t.trusted_clusters:
            for hspec in cspec.hosts:
                host = self.hosts[hspec.name]
                th = self.trusted_clusters[cspec.name].hosts[hspec.name]
                th.agent.start()
                if hspec.powered_on:
                    measured = (self._image(hspec.last_full_boot, hspec.name)
                                if hspec.last_full_boot else None)
                    host.start_running(measured, hspec.quick_boots_since)
        if t.configured:
            setup_procedure(self)
            restore_attestation_history(self)  # a snapshot's "last attested" times
        yield self.kernel.timeout(0)
        for cspec in t.trusted_clusters:
            for vspec in cspec.vms:
                vm = self.vms[vspec.name]
                if vm.encrypted:
                    vm.key_id = self.kms_primary_key
                if vspec.powered_on and self.hosts[vm.host].is_up:
                    self.kernel.process(vm_ops.power_on(self, vm))

    # -- lookups (bad names are InputErrors naming the valid ones) -----------------------
    def ordinal(self, kind: str, name: str) -> int:
        """The 0-based place of host or VM ``name`` in the inventory's order (``kind``:
        ``"host"`` or ``"vm"``), which PowerCLI-style ids count from; one dictionary
        lookup (``list(...).index`` made listing every host quadratic)."""
        table = self.hosts if kind == "host" else self.vms
        places = self._ordinals.get(kind)
        if places is None or len(places) != len(table):  # made once the world is built
            places = self._ordinals[kind] = {n: i for i, n in enumerate(table)}
        return places[name]

    def host(self, name: str) -> EsxiHost:
        if name not in self.hosts:
            raise InputError(f"unknown host {name!r}", what="host", value=name,
                             choices=list(self.hosts))
        return self.hosts[name]

    def trusted_host(self, name: str) -> TrustedHost:
        for cluster in self.trusted_clusters.values():
            if name in cluster.hosts:
                return cluster.hosts[name]
        raise InputError(f"{name!r} is not a trusted host", what="trusted host", value=name,
                         choices=[h for c in self.trusted_clusters.values() for h in c.hosts])

    def ta_host(self, name: str) -> TaHost:
        if name not in self.ta_cluster.hosts:
            raise InputError(f"{name!r} is not a Trust Authority host", what="TA host",
                             value=name, choices=list(self.ta_cluster.hosts))
        return self.ta_cluster.hosts[name]

    def vm(self, name: str) -> Vm:
        if name not in self.vms:
            raise InputError(f"unknown VM {name!r}", what="VM", value=name,
                             choices=list(self.vms))
        return self.vms[name]

    def trusted_cluster(self, name: str | None) -> TrustedCluster:
        if name is None and len(self.trusted_clusters) == 1:
            return next(iter(self.trusted_clusters.values()))
        if name not in self.trusted_clusters:
            raise InputError(f"unknown trusted cluster {name!r}", what="trusted cluster",
                             value=name, choices=list(self.trusted_clusters))
        return self.trusted_clusters[name]

    def host_names(self) -> list[str]:
        return list(self.hosts)

    def vm_names(self) -> list[str]:
        return list(self.vms)

    # -- the network -----------------------------------------------------------------------
    def reachability(self, client: EsxiHost, ta: TaHost | None, service: str) -> str | None:
        """Why ``client`` cannot reach ``service`` on TA host ``ta`` (``None`` if it can)."""
        if ta is None:
            return "the service's TA host is not part of the TA cluster"
        if not client.network_up:
            return f"network partition: {client.name} cannot reach the TA cluster"
        if not ta.host.is_up:
            return f"TA host {ta.name} is {ta.host.power_state.value}"
        if not ta.host.network_up:
            return f"network partition: TA host {ta.name} is isolated"
        if not ta.member:
            return f"TA host {ta.name} is not in the TA cluster"
        if not ta.host.services.get(service, False):
            return f"{service} is stopped on {ta.name}"
        return None

    # -- operating ---------------------------------------------------------------------------
    def perform(self, name: str, args: dict[str, Any] | None = None, *,
                actor: str = "operator") -> simpy.Process:
        """Start verb or fault ``name``; raises ``InputError`` before changing anything."""
        entry = lookup(name)
        parsed = entry.parse(args)
        kernel = self.kernel
        if (down := self._vcenter_down_for(entry, parsed)) is not None:
            return kernel.process(_done(down))
        result = entry.run(self, parsed)
        if not isinstance(result, Generator):
            return kernel.process(_done(result))
        # BUG FIX (world tests): a verb that takes time is a generator function, so its
        # validation (``InputError``/``OperationError`` raised before its first ``yield``)
        # used to run only inside the SimPy process and escaped from ``world.run()``
        # instead of from ``perform()`` as documented (the scenario driver relies on the
        # latter). Run the verb up to its first ``yield`` now, then resume it in the process.
        try:
            first = next(result)
        except StopIteration as stop:
            return kernel.process(_done(stop.value))
        return kernel.process(_resume(result, first, entry.name, kernel))

    def vcenter_of_verb(self, entry: Any, parsed: Any) -> VCenter | None:
        """The vCenter a verb goes through (None: the host itself, the KMS or the lab)."""
        # The parsed arguments' own fields (a pydantic model keeps them in its __dict__):
        # getattr of a name the verb does not have makes pydantic build an AttributeError
        # first (~2 us, on every step and setup verb).
        fields = vars(parsed)
        cluster = fields.get("entity") or fields.get("cluster")
        if entry.kind == "powercli" and cluster == self.ta_cluster.name:
            return self.ta_vcenter  # Set-Cluster/Update-Entity of the TA cluster
        if entry.side == "ta":
            return self.ta_vcenter
        if entry.side == "workload":
            return self.workload_vcenter
        if entry.side == "host" and entry.kind == "powercli":
            host = fields.get("vmhost")
            if host in self.hosts and self.hosts[host].role == "trust-authority":
                return self.ta_vcenter
            return self.workload_vcenter
        return None

    def _vcenter_down_for(self, entry: Any, parsed: Any) -> Outcome | None:
        """The refusal an operator sees when the verb's vCenter is restarting its services."""
        vc = self.vcenter_of_verb(entry, parsed)
        if vc is None:
            return None
        if not vc.release.trust_authority_api and is_trust_authority_verb(entry.name):
            return Outcome(False, API_DISABLED_ERROR,
                           f"{entry.name}: {vc.name} runs {vc.release.display_name}: the "
                           "vSphere Trust Authority (trusted-infrastructure) API is disabled "
                           "and returns errors as of vSphere API 9.0.0.0 (deprecated in "
                           "8.0.3.0)")
        if vc.available:
            return None
        return Outcome(False, UNAVAILABLE_ERROR,
                       f"{entry.name}: could not connect to {vc.name}: 503 Service "
                       "Unavailable (vCenter Server services are restarting after an update; "
                       "try again when the update has finished)")

    def call(self, name: str, /, **args: Any) -> Outcome:
        """Run an instantaneous verb now and return its outcome (setup, shells, tests)."""
        entry = lookup(name)
        parsed = entry.parse(args)
        if (down := self._vcenter_down_for(entry, parsed)) is not None:
            return down
        result = entry.run(self, parsed)
        if isinstance(result, Generator):
            raise OperationError(f"{entry.name} takes simulated time; use perform()")
        return result

    # -- queries (plain values, for expectations, the CLI and the checker) ----------------
    def attestation_status(self, host: str) -> dict[str, Any]:
        th = self.trusted_host(host)
        s: HostAttestation = th.summary()
        return {"status": s.status, "reason": s.reason, "attested_at": s.attested_at,
                "attested_until": s.attested_until, "messages": list(s.messages),
                "measured_version": th.host.measured_version, "version": th.host.version,
                "per_service": {n: r.status for n, r in sorted(th.agent.results.items())}}

    def vm_state(self, vm: str) -> dict[str, Any]:
        v = self.vm(vm)
        return {"power_state": v.power_state, "host": v.host, "encrypted": v.encrypted,
                "last_error": v.last_error, "locked": v.locked}

    def base_images(self) -> list[dict[str, Any]]:
        """The base images as the TA vCenter lists them (union over TA hosts)."""
        seen: dict[str, Any] = {}
        for member in self.ta_cluster.members:
            for image in member.config.base_images:
                seen.setdefault(image.version, image)
        health = self.ta_cluster.health("base_images")
        return [{"version": v, "display_name": i.display_name, "health": health,
                 "last_attested_time": self.ta_cluster.last_attested.get(v)}
                for v, i in seen.items()]

    def health(self) -> dict[str, str]:
        out = {f"ta_cluster/{kind}": self.ta_cluster.health(kind) for kind in OBJECT_KINDS}
        for name, cluster in self.trusted_clusters.items():
            out[f"trusted_cluster/{name}"] = cluster.health()
        return out

    def events(self) -> list[dict[str, Any]]:
        out = [vars(e) | {} for vc in (self.ta_vcenter, self.workload_vcenter) for e in vc.events]
        return sorted(out, key=lambda e: e["time"])

    def tasks(self) -> list[dict[str, Any]]:
        out = []
        for vc in (self.ta_vcenter, self.workload_vcenter):
            for t in vc.tasks:
                out.append({"time": t.start, "vcenter": t.vcenter, "task": t.name,
                            "target": t.target, "status": t.status, "error": t.error,
                            "reason": t.reason})
        return sorted(out, key=lambda e: e["time"])

    def log_lines(self, host: str, log: str) -> list[str]:
        return self.kernel.log_lines(host, log)

    def evidence(self, host: str, nonce: bytes | None = None) -> dict[str, bytes]:
        """The TPM evidence ``host`` would present now (files for tpm2-tools).

        Written to a directory (file name → bytes), it verifies with the command line
        :func:`vtalab.tpm.files.checkquote_command` returns for that directory. ``pcrs.out``
        is the PCR file to use (``-f pcrs.out``, no ``-l``): ``pcrs.bin`` with ``-l`` fails
        in tpm2-tools 5.4 for the 12 quoted PCRs (see :mod:`vtalab.tpm.files`).
        """

        h = self.host(host)
        if h.tpm is None or not h.tpm.started:
            raise OperationError(f"host {host!r} has no running TPM to quote",
                                 what="host", value=host,
                                 choices=[n for n, x in self.hosts.items()
                                          if x.tpm is not None and x.is_up])
        nonce = nonce if nonce is not None else crypto.sha256(
            f"vtalab-evidence|{self.seed}|{host}|{self.kernel.now}".encode())
        quote = h.tpm.quote(nonce, list(QUOTE_PCRS), now_ms=int(round(self.kernel.now * 1000)))
        pcrs = {str(i): v.hex() for i, v in zip(quote.pcrs, quote.pcr_values, strict=True)}
        return {
            "quote.msg": quote.attest,
            "quote.sig": quote.signature,
            "ak.pub.pem": crypto.public_pem(h.tpm.ak),
            "eventlog.bin": h.tpm.log.to_bytes(),
            "pcrs.bin": quote.pcr_values_bin,
            PCRS_OUT: tss_pcrs_file(quote.pcrs, quote.pcr_values),
            "pcrs.json": (json.dumps({"sha256": pcrs}, indent=1, sort_keys=True) + "\n").encode(),
            "nonce.hex": nonce.hex().encode(),
        }

    def run(self, until: float) -> None:
        with self.crypto_mode():
            self.kernel.run(until)


def _done(outcome: Outcome) -> Generator[Any, Any, Outcome]:
    return outcome
    yield  # pragma: no cover - makes this a generator


def _resume(gen: Generator[Any, Any, Outcome], first: Any, name: str,
            kernel: Kernel) -> Generator[Any, Any, Outcome]:
    """Continue a verb already run up to its first ``yield`` (see ``World.perform``).

    BUG FIX (world tests): an ``OperationError`` raised *after* the verb started (the
    world changed under it: a power loss during ``upgrade-host`` leaves the host off
    before its reboot) used to crash ``world.run()``. The world refuses with a value:
    it becomes ``Outcome(False, "interrupted")`` and a ``verb.interrupted`` trace event.
    """
    event = first
    while True:
        try:
            try:
                value = yield event
            except Exception as exc:  # thrown into the process (Interrupt, a failed event)
                event = gen.throw(exc)
                continue
            event = gen.send(value)
        except StopIteration as stop:
            return stop.value
        except OperationError as exc:
            kernel.record("world", "verb.interrupted", verb=name, error=str(exc),
                          message=f"{name} interrupted: {exc}")
            return Outcome(False, "interrupted", str(exc))
