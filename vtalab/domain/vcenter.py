"""vCenter Server: events, Recent Tasks, ``vpxd.log`` and the STS that vouches for hosts.

Two vCenters take part in vTA: the **Trust Authority vCenter** manages the TA cluster,
the **workload vCenter** manages the Trusted clusters. They must be separate.

What an operator sees lives here: vCenter **events** with their real event type IDs
(``com.vmware.vc.TaHostAttestPassEvent`` ...), the **Recent Tasks** pane (task, target,
status, error) and ``vpxd.log``. The workload vCenter's **STS signing certificate** is
the *principal* the Trust Authority cluster must trust; rotating it breaks trust until
the new certificate is re-imported (``com.vmware.vc.TrustAuthority.StsCertificatesChange``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from vtalab.core import crypto
from vtalab.domain.vcenter_releases import VcRelease, vcenter_release

if TYPE_CHECKING:
    from vtalab.core.kernel import Kernel
    from vtalab.core.parameters import Parameters

__all__ = ["EVENT_SEVERITY", "EVENT_TEXT", "UNAVAILABLE_ERROR", "Task", "VCenter", "VcEvent"]

#: What PowerCLI shows when a vCenter's services are down (the vSphere Web Services
#: endpoint answers HTTP 503 while vpxd restarts) [assumed wording around the status].
UNAVAILABLE_ERROR = "vcenter_unavailable"


#: vCenter event type IDs used by the lab and their messages: the vCenter 8.0 U3 event
#: catalog's texts (reference/powercli-surface.md §4) where it gives them; the others
#: (DecommissionHost, TpmEndorsementKeyMismatch, the VM lock events, HostNotConfigured and
#: the KMS certificate expiry events) are [assumed] wording.
EVENT_TEXT: dict[str, str] = {
    "com.vmware.vc.TaHostAttestPassEvent": "Trusted Host attestation passed.",
    "com.vmware.vc.TaHostAttestFailEvent": "Trusted Host attestation failed.",
    "com.vmware.vc.TaHostAttestUnsetEvent": "Trusted Host attestation status unset.",
    "com.vmware.vc.TrustAuthority.StsCertificatesChange":
        "Certificates have changed. Trust authority cluster needs to be reconfigured.",
    "com.vmware.vc.TrustAuthority.HostNotConfigured":
        "The host is not configured for vSphere Trust Authority.",
    "com.vmware.vc.TrustAuthority.KMSClientCertExpirationEvent":
        "The KMS client certificate of the Trusted Key Provider has expired.",
    "com.vmware.vc.TrustAuthority.KMSServerCertExpirationEvent":
        "The KMS server certificate of the Trusted Key Provider has expired.",
    "com.vmware.vc.TrustAuthority.DecommissionHost":
        "Host removed from a Trusted cluster without decommissioning its trust configuration.",
    "com.vmware.vc.host.TpmEndorsementKeyMismatch":
        "The TPM endorsement key of the host changed (TPM or motherboard replaced).",
    "com.vmware.vc.kms.crypto.TrustAuthority.ClusterNotAvailable":
        "The Trusted Key Provider is not available.",
    "com.vmware.vc.kms.crypto.TrustAuthority.ClusterUnhealthy":
        "The Trusted Key Provider is unhealthy.",
    "com.vmware.vc.kms.crypto.TrustAuthority.KmsUnhealthy":
        "The Trusted Key Provider is unhealthy.",
    "com.vmware.vc.vm.Crypto.VMLocked.TAKMSClusterUnavaliable":
        "The virtual machine is locked because the trusted key provider is not available.",
    "com.vmware.vc.vm.Crypto.VMLocked.TAKeyMissingOnHost":
        "The virtual machine is locked because its key is missing on the host.",
    "com.vmware.vc.vm.Crypto.VMUnlocked": "The virtual machine is unlocked.",
}

#: Each event's severity (an ``EventEx``'s ``severity``: ``info``, ``warning`` or
#: ``error``; the vSphere Client's Events view shows it as Information, Warning, Error and
#: PowerCLI's ``Get-VIEvent -Types`` filters by it) [assumed: the event catalogue lists the
#: type ids and texts, not their severities; a failure or a lock is an error, a change that
#: needs the operator a warning, a success information]. One table for the training
#: shell's Get-VIEvent, the lab API's events and the console's Events view.
EVENT_SEVERITY: dict[str, str] = {
    "com.vmware.vc.TaHostAttestPassEvent": "info",
    "com.vmware.vc.TaHostAttestFailEvent": "error",
    "com.vmware.vc.TaHostAttestUnsetEvent": "warning",
    "com.vmware.vc.TrustAuthority.StsCertificatesChange": "warning",
    "com.vmware.vc.TrustAuthority.HostNotConfigured": "warning",
    "com.vmware.vc.TrustAuthority.KMSClientCertExpirationEvent": "warning",
    "com.vmware.vc.TrustAuthority.KMSServerCertExpirationEvent": "warning",
    "com.vmware.vc.TrustAuthority.DecommissionHost": "warning",
    "com.vmware.vc.host.TpmEndorsementKeyMismatch": "error",
    "com.vmware.vc.kms.crypto.TrustAuthority.ClusterNotAvailable": "error",
    "com.vmware.vc.kms.crypto.TrustAuthority.ClusterUnhealthy": "warning",
    "com.vmware.vc.kms.crypto.TrustAuthority.KmsUnhealthy": "warning",
    "com.vmware.vc.vm.Crypto.VMLocked.TAKMSClusterUnavaliable": "error",
    "com.vmware.vc.vm.Crypto.VMLocked.TAKeyMissingOnHost": "error",
    "com.vmware.vc.vm.Crypto.VMUnlocked": "info",
}


@dataclass(frozen=True)
class VcEvent:
    time: float
    vcenter: str
    event_id: str
    message: str
    target: str

    @property
    def severity(self) -> str:
        """``info``, ``warning`` or ``error`` (:data:`EVENT_SEVERITY`; ``info`` if unlisted)."""
        return EVENT_SEVERITY.get(self.event_id, "info")


@dataclass
class Task:
    """One row of the Recent Tasks pane."""

    key: str
    vcenter: str
    name: str
    target: str
    start: float
    status: str = "running"  #: running | success | error
    error: str | None = None
    end: float | None = None
    reason: str | None = None  #: stable reason code behind ``error``
    detail: dict[str, str] = field(default_factory=dict)


class VCenter:
    """One vCenter Server (``role`` is ``ta`` or ``workload``)."""

    def __init__(self, kernel: Kernel, params: Parameters, name: str, role: str,
                 release: str = "8.0 U3") -> None:
        self.kernel = kernel
        self.params = params
        self.name = name
        self.role = role
        self.release: VcRelease = vcenter_release(release)
        #: False while the appliance's services restart (an update being installed): its
        #: API, Recent Tasks and events are unavailable (see ``upgrade-vcenter``).
        self.available = True
        self.events: list[VcEvent] = []
        self.tasks: list[Task] = []
        self.sts_generation = 1
        self._make_sts()

    @property
    def source(self) -> str:
        return f"vcenter/{self.name}"

    # -- STS (the principal vTA trusts) -------------------------------------------------
    def _make_sts(self) -> None:
        label = f"vcenter/{self.name}/sts/{self.sts_generation}"
        self.sts_key = crypto.derive_private_key(self.kernel.seed, label)
        #: (key, its ``kid``) for the tokens it signs: see host_assertion
        self._sts_kid = (self.sts_key, crypto.key_id(self.sts_key))
        #: host assertions issued in the second ``_assertions_iat`` (see host_assertion)
        self._assertions: dict[tuple[str, int], str] = {}
        self._assertions_iat: int | None = None
        start = self.kernel.utc()
        days = self.params.certificate_validity_days
        self.sts_certificate = crypto.make_ca(
            f"{self.name} STS signing ({self.sts_generation})", self.sts_key,
            start - timedelta(days=1), start + timedelta(days=days), org="VMware vCenter")

    def rotate_sts(self) -> None:
        self.sts_generation += 1
        self._make_sts()
        if int(self.release.version.split(".")[0]) >= 8:  # in the catalog from 8.0 on
            self.post_event("com.vmware.vc.TrustAuthority.StsCertificatesChange", self.name)

    def sts_certificates_der(self) -> tuple[bytes, ...]:
        return (crypto.cert_der(self.sts_certificate),)

    def host_assertion(self, host: str, lifetime: int | None = None) -> str:
        """A short-lived token by which this vCenter vouches for one of its hosts.

        ``lifetime`` defaults to the ``host_assertion_lifetime_seconds`` parameter. A host
        gets a fresh one for every attestation request [assumed]: whether vCenter hands out
        the same token again until it expires is not public (searched: the vSphere
        Automation API documents only the STS certificates and the principal), so it is not
        modelled. Within one second the claims are the same, and so is the token.
        """
        if lifetime is None:
            lifetime = int(self.params.host_assertion_lifetime_seconds)
        iat = self.kernel.epoch_seconds()
        # A host asks once per attestation service in the same second: the same claims,
        # key and (deterministic) signature, so the same token. Remembered for this second.
        if iat != self._assertions_iat:
            self._assertions.clear()
            self._assertions_iat = iat
        memo = (host, lifetime)
        token = self._assertions.get(memo)
        if token is None:
            key, kid = self._sts_kid
            if key is not self.sts_key:  # the key was replaced: its own kid
                key = self.sts_key
                kid = crypto.key_id(key)
                self._sts_kid = (key, kid)
            token = crypto.jwt_encode({"iss": self.name, "sub": host, "iat": iat,
                                       "exp": iat + lifetime}, key, kid)
            self._assertions[memo] = token
        return token

    # -- events, tasks, log ---------------------------------------------------------------
    def post_event(self, event_id: str, target: str, message: str | None = None) -> VcEvent:
        text = message or EVENT_TEXT.get(event_id, event_id)
        event = VcEvent(self.kernel.now, self.name, event_id, text, target)
        if not self.available:  # vpxd is not running: nothing is posted
            return event
        self.events.append(event)
        self.kernel.record(self.source, "vc.event", vcenter=self.name, event_id=event_id,
                           target=target, message=f"{text} [{event_id}] ({target})")
        self.log(f"Event posted: {event_id} on {target}: {text}")
        return event

    def start_task(self, name: str, target: str) -> Task:
        task = Task(f"task-{len(self.tasks) + 1}", self.name, name, target, self.kernel.now)
        self.tasks.append(task)
        self.kernel.record(self.source, "vc.task", vcenter=self.name, task=name, target=target,
                           key=task.key, status="running")
        return task

    def finish_task(self, task: Task, *, error: str | None = None,
                    reason: str | None = None) -> Task:
        task.status = "error" if error else "success"
        task.error = error
        task.reason = reason
        task.end = self.kernel.now
        shown = f"Recent Tasks: {task.name} on {task.target}: " + (
            f"failed: {error}" if error else "completed")
        self.kernel.record(self.source, "vc.task", vcenter=self.name, task=task.name,
                           target=task.target, key=task.key, status=task.status,
                           error=error, reason=reason, message=shown)
        if error:
            self.log(f"Task {task.key} {task.name} on {task.target} failed: {error}",
                     level="error")
        return task

    def log(self, message: str, level: str = "info") -> None:
        self.kernel.log(self.name, "vpxd.log", message, level=level, source=self.source)
