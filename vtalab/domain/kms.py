"""A simulated KMIP key server and an active-active KMS cluster (plain objects, no SimPy).

vSphere Trust Authority needs at least one external **KMIP key server**; when there are
several they are replicated active-active, and the Key Provider Service (``kmxd``) on each
TA host talks to them with its own KMIP credentials and client certificate.

What is modelled:

* **Managed objects** (:class:`ManagedKey`): AES-256 symmetric keys with the KMIP life-cycle
  states ``PreActive`` → ``Active`` → ``Deactivated`` / ``Compromised`` → ``Destroyed``.
  Key ids are UUID-formatted but derived from the world's seed and a counter (never
  ``uuid4``); key material is ``SHA-256("kms|seed|key_id")``, so the same seed gives the
  same ids and the same bytes.
* **A KMIP ``Get``** (:meth:`KmsServer.get_key`), checked in the order a real connection
  fails: the server is reachable (``kms_unreachable``); its TLS certificate is valid at
  ``now`` (``kms_certificate_expired``) and, when the client says which server
  certificates it trusts, trusted (``kms_auth_failed``); the client certificate is
  unexpired (``kms_certificate_expired``), already valid and trusted — explicitly
  registered or issued by the KMS CA (``kms_auth_failed``); the
  username/password are right (``kms_auth_failed``); the key exists and is ``Active``
  (``key_not_found``).
* **Faults as methods**: :meth:`KmsServer.set_available` (outage),
  :meth:`KmsServer.rotate_password`, :meth:`KmsServer.set_server_certificate` (renewal or
  an expired certificate), :meth:`KmsServer.untrust_client_certificate`, and the key
  life-cycle (:meth:`KmsCluster.revoke`, :meth:`KmsCluster.destroy`).
* **Active-active replication** (:class:`KmsCluster`): keys and key-state changes are
  copied to every member (replication is the KMS vendor's own channel, so it is not
  affected by a member's client-facing outage); a ``Get`` tries the members in order and
  succeeds if any answers, reporting every attempt (the status fields of
  ``Get-TrustAuthorityKeyProviderServer``).

The simulated world fails with values: every ``Get`` returns a :class:`KmsResult` with a
reason code. Only invalid *operator* requests (an unknown key id, a key id that exists,
a life-cycle transition KMIP forbids) raise :class:`~vtalab.errors.OperationError`.

:func:`build_kms` makes a ready-to-use cluster: a KMS CA, one server certificate per
address, one KMIP account and a client certificate signed by the KMS CA.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from vtalab.core import crypto
from vtalab.domain.reasons import Reason
from vtalab.errors import OperationError

__all__ = [
    "KEY_STATES",
    "KMIP_PORT",
    "ClientIdentity",
    "KmsAttempt",
    "KmsCluster",
    "KmsResult",
    "KmsServer",
    "ManagedKey",
    "ServerState",
    "build_kms",
    "server_state",
]

#: The IANA port of KMIP over TLS.
KMIP_PORT = 5696

#: KMIP object states (KMIP 1.x "State" enumeration, the ones a symmetric key goes through).
KEY_STATES = ("PreActive", "Active", "Deactivated", "Compromised", "Destroyed")

# Reason codes, looked up by value so the registry's member spelling does not matter.
_UNREACHABLE = Reason("kms_unreachable")
_AUTH_FAILED = Reason("kms_auth_failed")
_CERT_EXPIRED = Reason("kms_certificate_expired")
_KEY_NOT_FOUND = Reason("key_not_found")


class ServerState(StrEnum):
    """A KMIP server's connection status as the Key Provider Service reports it."""

    CONNECTED = "CONNECTED"
    UNREACHABLE = "UNREACHABLE"
    AUTH_FAILED = "AUTH_FAILED"
    CERT_EXPIRED = "CERT_EXPIRED"


def server_state(reason: Reason | None) -> ServerState:
    """The connection status implied by the outcome of one request to one server.

    ``None`` (success) and ``key_not_found`` both mean the session was established.
    """
    if reason == _UNREACHABLE:
        return ServerState.UNREACHABLE
    if reason == _CERT_EXPIRED:
        return ServerState.CERT_EXPIRED
    if reason == _AUTH_FAILED:
        return ServerState.AUTH_FAILED
    return ServerState.CONNECTED


def _utc(now: datetime) -> datetime:
    """``now`` as an aware UTC datetime (naive values are taken to be UTC)."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _stamp(at: datetime) -> str:
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%SZ")


def _validity_problem(cert: crypto.Certificate, now: datetime) -> str | None:
    """Why ``cert`` is not within its validity period at ``now`` (``None`` if it is)."""
    if now < cert.not_valid_before_utc:
        return f"not valid before {_stamp(cert.not_valid_before_utc)}"
    if now > cert.not_valid_after_utc:
        return f"expired at {_stamp(cert.not_valid_after_utc)}"
    return None


def _subject(cert: crypto.Certificate) -> str:
    return cert.subject.rfc4514_string()


# -- managed objects and results ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ManagedKey:
    """A KMIP symmetric key (AES-256) and its life-cycle state.

    ``material`` is empty once the key is ``Destroyed`` (KMIP keeps the object's metadata
    but not its value).
    """

    key_id: str
    state: str
    material: bytes = field(repr=False)
    created_at: datetime | None = None

    @property
    def usable(self) -> bool:
        return self.state == "Active"


@dataclass(frozen=True, slots=True)
class KmsAttempt:
    """One server's answer to one request (a row of the per-server status)."""

    server: str
    address: str
    port: int
    ok: bool
    reason: Reason | None
    message: str

    @property
    def status(self) -> ServerState:
        return server_state(self.reason)


@dataclass(frozen=True, slots=True)
class KmsResult:
    """The outcome of a KMIP ``Get`` (or a connection probe when ``key_id`` is ``None``).

    ``server`` names the server that answered successfully; ``attempts`` lists every
    server tried, in order (one entry for a single server).
    """

    ok: bool
    material: bytes | None = field(repr=False)
    reason: Reason | None
    message: str
    key_id: str | None = None
    server: str | None = None
    attempts: tuple[KmsAttempt, ...] = ()


# -- one server -------------------------------------------------------------------------------
class KmsServer:
    """One KMIP key server.

    ``server_cert``/``server_key`` are its TLS identity; ``ca_cert`` is the KMS CA, which
    issued the server certificate and whose client certificates the server trusts.
    """

    def __init__(self, name: str, address: str, port: int = KMIP_PORT, *, seed: int,
                 server_cert: crypto.Certificate, server_key: crypto.PrivateKey,
                 ca_cert: crypto.Certificate) -> None:
        self.name = name
        self.address = address
        self.port = int(port)
        self.seed = int(seed)
        self.server_cert = server_cert
        self._server_key = server_key
        self.ca_cert = ca_cert
        self.available = True
        self._accounts: dict[str, bytes] = {}
        self._trusted_clients: list[bytes] = []
        self._revoked_clients: list[bytes] = []
        self._keys: dict[str, ManagedKey] = {}
        self._counter = 0

    def __repr__(self) -> str:
        state = "up" if self.available else "down"
        return (f"KmsServer({self.name!r}, {self.address}:{self.port}, {state}, "
                f"{len(self._keys)} keys)")

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port

    @property
    def server_certificate_der(self) -> bytes:
        return crypto.cert_der(self.server_cert)  # remembered by the certificate's identity

    # -- faults and administration --------------------------------------------------------
    def set_available(self, available: bool) -> None:
        """Bring the server's KMIP listener up or down (an outage as seen by clients)."""
        self.available = bool(available)

    def set_server_certificate(self, cert: crypto.Certificate,
                               key: crypto.PrivateKey | None = None) -> None:
        """Install a new TLS certificate (a renewal, or one with chosen validity dates)."""
        self.server_cert = cert
        if key is not None:
            self._server_key = key

    def _digest(self, username: str, password: str) -> bytes:
        return crypto.hmac_sha256(f"kms-account|{self.seed}|{self.name}|{username}".encode(),
                                  password.encode())

    @property
    def usernames(self) -> list[str]:
        return sorted(self._accounts)

    def add_account(self, username: str, password: str) -> None:
        """Create a KMIP account (the password is kept only as an HMAC)."""
        if username in self._accounts:
            raise OperationError(f"KMIP account {username!r} already exists on {self.name}",
                                 what="account", value=username)
        self._accounts[username] = self._digest(username, password)

    def rotate_password(self, username: str, new_password: str) -> None:
        """Change an account's password (clients with the old one now fail to log in)."""
        if username not in self._accounts:
            raise OperationError(f"no KMIP account {username!r} on {self.name}",
                                 what="account", value=username, choices=self.usernames)
        self._accounts[username] = self._digest(username, new_password)

    def trust_client_certificate(self, certificate_der: bytes) -> None:
        """Register a client certificate explicitly (besides those the KMS CA issued)."""
        if certificate_der in self._revoked_clients:
            self._revoked_clients.remove(certificate_der)
        if certificate_der not in self._trusted_clients:
            self._trusted_clients.append(bytes(certificate_der))

    def untrust_client_certificate(self, certificate_der: bytes) -> None:
        """Revoke a client certificate: neither the explicit list nor the CA vouches for it."""
        if certificate_der in self._trusted_clients:
            self._trusted_clients.remove(certificate_der)
        if certificate_der not in self._revoked_clients:
            self._revoked_clients.append(bytes(certificate_der))

    # -- managed objects ------------------------------------------------------------------
    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def key(self, key_id: str) -> ManagedKey:
        """The managed object ``key_id`` (an operator lookup: unknown ids raise)."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise OperationError(f"no key {key_id!r} on KMS server {self.name}",
                                 what="key id", value=key_id, choices=self.key_ids) from None

    def next_key_id(self, taken: Iterable[str] = ()) -> str:
        """The next deterministic key id: a UUID formatted from SHA-256(seed, name, n)."""
        taken = set(taken) | set(self._keys)
        while True:
            self._counter += 1
            digest = crypto.sha256(f"kms-key-id|{self.seed}|{self.name}|{self._counter}".encode())
            candidate = str(uuid.UUID(bytes=digest[:16], version=4))
            if candidate not in taken:
                return candidate

    def material_for(self, key_id: str) -> bytes:
        """The AES-256 key material this server generates for ``key_id``."""
        return crypto.sha256(f"kms|{self.seed}|{key_id}".encode())

    def create_key(self, key_id: str | None = None, *, now: datetime | None = None,
                   activate: bool = True) -> str:
        """KMIP ``Create`` (+ ``Activate`` unless ``activate=False``); returns the key id."""
        if key_id is None:
            key_id = self.next_key_id()
        elif key_id in self._keys:
            raise OperationError(f"key {key_id!r} already exists on KMS server {self.name}",
                                 what="key id", value=key_id)
        self._keys[key_id] = ManagedKey(key_id, "Active" if activate else "PreActive",
                                        self.material_for(key_id),
                                        None if now is None else _utc(now))
        return key_id

    def replicate(self, key: ManagedKey) -> None:
        """Store a copy of a peer's managed object (active-active replication)."""
        self._keys[key.key_id] = key

    def activate(self, key_id: str) -> None:
        """KMIP ``Activate``: only a ``PreActive`` key can be activated."""
        key = self.key(key_id)
        if key.state != "PreActive":
            raise OperationError(f"key {key_id!r} is {key.state}; only a PreActive key can be "
                                 "activated", what="key state", value=key.state,
                                 choices=["PreActive"])
        self._keys[key_id] = replace(key, state="Active")

    def revoke(self, key_id: str, *, compromised: bool = False) -> None:
        """KMIP ``Revoke``: the key becomes ``Deactivated`` (or ``Compromised``)."""
        key = self.key(key_id)
        allowed = ("PreActive", "Active", "Deactivated") if compromised else (
            "PreActive", "Active")
        if key.state not in allowed:
            raise OperationError(f"key {key_id!r} is {key.state} and cannot be revoked",
                                 what="key state", value=key.state, choices=allowed)
        self._keys[key_id] = replace(key, state="Compromised" if compromised else "Deactivated")

    def destroy(self, key_id: str) -> None:
        """KMIP ``Destroy``: the key's value is erased. An ``Active`` key must be revoked first."""
        key = self.key(key_id)
        if key.state in ("Active", "Destroyed"):
            raise OperationError(f"key {key_id!r} is {key.state} and cannot be destroyed",
                                 what="key state", value=key.state,
                                 choices=["PreActive", "Deactivated", "Compromised"],
                                 hint="revoke an Active key before destroying it")
        self._keys[key_id] = replace(key, state="Destroyed", material=b"")

    # -- the client's view ------------------------------------------------------------------
    def client_trust_problem(self, trusted_server_certs_der: Sequence[bytes] | None,
                             now: datetime) -> tuple[Reason, str] | None:
        """Why a client trusting ``trusted_server_certs_der`` refuses this server's TLS
        certificate at ``now`` (``None``: it accepts it; ``None`` list: trusts anything)."""
        where = f"KMS server {self.name} ({self.address}:{self.port})"
        now = _utc(now)
        problem = _validity_problem(self.server_cert, now)
        if problem is not None:
            return _CERT_EXPIRED, f"{where}: server certificate {problem}"
        if trusted_server_certs_der is None:
            return None
        mine = self.server_certificate_der
        if mine in trusted_server_certs_der:
            return None
        anchors = []
        for der in trusted_server_certs_der:
            try:
                anchors.append(crypto.cert_from_der(der))
            except ValueError:
                continue
        chain = crypto.chain_problem(self.server_cert, anchors, now) if anchors else (
            "untrusted_issuer")
        if chain == "expired" or chain == "not_yet_valid":
            return _CERT_EXPIRED, (f"{where}: the trusted certificate that issued the "
                                   "server certificate is expired")
        if chain is not None:
            return _AUTH_FAILED, (f"{where}: server certificate "
                                  f"{_subject(self.server_cert)} is not trusted by the "
                                  "client")
        return None

    def client_certificate_problem(self, client_cert_der: bytes, now: datetime
                                   ) -> tuple[Reason, str] | None:
        """Why this server refuses the client certificate at ``now`` (``None``: accepted:
        registered explicitly, or issued by the KMS CA, and not revoked)."""
        where = f"KMS server {self.name} ({self.address}:{self.port})"
        now = _utc(now)
        if not client_cert_der:
            return _AUTH_FAILED, (f"{where}: the client presented no certificate (the key "
                                  "provider has no client certificate)")
        try:
            client = crypto.cert_from_der(client_cert_der)
        except ValueError:
            return _AUTH_FAILED, f"{where}: client certificate is not a readable certificate"
        problem = _validity_problem(client, now)
        if problem is not None:  # the handshake fails on the date: an expiry, not a distrust
            reason = _CERT_EXPIRED if problem.startswith("expired") else _AUTH_FAILED
            return reason, f"{where}: client certificate {_subject(client)} {problem}"
        explicit = client_cert_der in self._trusted_clients
        revoked = client_cert_der in self._revoked_clients
        if revoked or not (explicit or crypto.chain_problem(client, [self.ca_cert], now) is None):
            return _AUTH_FAILED, (f"{where}: client certificate {_subject(client)} is not "
                                  "trusted by the KMS")
        return None

    def _connect(self, *, username: str, password: str, client_cert_der: bytes, now: datetime,
                 trusted_server_certs_der: Sequence[bytes] | None) -> tuple[Reason, str] | None:
        """TLS handshake + KMIP authentication; ``None`` when the session is established."""
        where = f"KMS server {self.name} ({self.address}:{self.port})"
        if not self.available:
            return _UNREACHABLE, f"{where} is unreachable (connection timed out)"
        # The client checks the server's certificate first, then the server checks the
        # client's certificate, and finally the KMIP credentials.
        failed = (self.client_trust_problem(trusted_server_certs_der, now)
                  or self.client_certificate_problem(client_cert_der, now))
        if failed is not None:
            return failed
        digest = self._accounts.get(username)
        if digest is None or digest != self._digest(username, password):
            return _AUTH_FAILED, f"{where}: KMIP authentication failed for user {username!r}"
        return None

    def _attempt(self, reason: Reason | None, message: str) -> KmsAttempt:
        return KmsAttempt(self.name, self.address, self.port, reason is None, reason, message)

    def probe(self, *, username: str, password: str, client_cert_der: bytes, now: datetime,
              trusted_server_certs_der: Sequence[bytes] | None = None) -> KmsResult:
        """Open a session without fetching anything (the server's connection status)."""
        now = _utc(now)
        failed = self._connect(username=username, password=password,
                               client_cert_der=client_cert_der, now=now,
                               trusted_server_certs_der=trusted_server_certs_der)
        if failed is not None:
            reason, message = failed
            return KmsResult(False, None, reason, message, None, None,
                             (self._attempt(reason, message),))
        message = f"KMS server {self.name} ({self.address}:{self.port}) connected"
        return KmsResult(True, None, None, message, None, self.name,
                         (self._attempt(None, message),))

    def get_key(self, key_id: str, *, username: str, password: str, client_cert_der: bytes,
                now: datetime, trusted_server_certs_der: Sequence[bytes] | None = None
                ) -> KmsResult:
        """KMIP ``Get`` of an ``Active`` key's material, as client ``username``."""
        now = _utc(now)
        failed = self._connect(username=username, password=password,
                               client_cert_der=client_cert_der, now=now,
                               trusted_server_certs_der=trusted_server_certs_der)
        if failed is None:
            key = self._keys.get(key_id)
            if key is None:
                failed = _KEY_NOT_FOUND, f"KMS server {self.name}: no key {key_id!r}"
            elif not key.usable:
                failed = _KEY_NOT_FOUND, f"KMS server {self.name}: key {key_id!r} is {key.state}"
            else:
                message = f"KMS server {self.name}: key {key_id!r} returned"
                return KmsResult(True, key.material, None, message, key_id, self.name,
                                 (self._attempt(None, message),))
        reason, message = failed
        return KmsResult(False, None, reason, message, key_id, None,
                         (self._attempt(reason, message),))


# -- a cluster ---------------------------------------------------------------------------------
def _pick_failure(attempts: Sequence[KmsAttempt]) -> KmsAttempt:
    """The most telling failure: the first that is not a mere outage, else the first."""
    return next((a for a in attempts if a.reason != _UNREACHABLE), attempts[0])


class KmsCluster:
    """KMIP servers replicated active-active (the "KMS cluster" of a key provider)."""

    def __init__(self, name: str, servers: list[KmsServer]) -> None:
        if not servers:
            raise OperationError(f"KMS cluster {name!r} needs at least one server",
                                 what="servers", value=servers)
        names = [s.name for s in servers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise OperationError(f"KMS cluster {name!r} lists server {dupes[0]!r} twice",
                                 what="server", value=dupes[0])
        self.name = name
        self.servers = list(servers)

    def __repr__(self) -> str:
        return f"KmsCluster({self.name!r}, {[s.name for s in self.servers]})"

    def server(self, name: str) -> KmsServer:
        for s in self.servers:
            if s.name == name or s.address == name:
                return s
        raise OperationError(f"no server {name!r} in KMS cluster {self.name}", what="server",
                             value=name, choices=[s.name for s in self.servers])

    def at(self, address: str, port: int = KMIP_PORT) -> KmsServer | None:
        """The member listening on ``address:port`` (``None`` if nothing is there)."""
        return next((s for s in self.servers if s.endpoint == (address, int(port))), None)

    @property
    def key_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.servers:
            seen.update(dict.fromkeys(s.key_ids))
        return list(seen)

    # -- administration (replicated to every member) ------------------------------------------
    def create_key(self, key_id: str | None = None, *, now: datetime | None = None,
                   activate: bool = True) -> str:
        """Create a key on the first member and replicate it to the others."""
        first = self.servers[0]
        if key_id is None:
            key_id = first.next_key_id(self.key_ids)
        elif key_id in self.key_ids:
            raise OperationError(f"key {key_id!r} already exists in KMS cluster {self.name}",
                                 what="key id", value=key_id)
        first.create_key(key_id, now=now, activate=activate)
        self._replicate(key_id)
        return key_id

    def key(self, key_id: str) -> ManagedKey:
        for s in self.servers:
            if key_id in s.key_ids:
                return s.key(key_id)
        raise OperationError(f"no key {key_id!r} in KMS cluster {self.name}", what="key id",
                             value=key_id, choices=self.key_ids)

    def _owner(self, key_id: str) -> KmsServer:
        self.key(key_id)  # raises for unknown ids
        return next(s for s in self.servers if key_id in s.key_ids)

    def _replicate(self, key_id: str) -> None:
        source = self._owner(key_id)
        key = source.key(key_id)
        for s in self.servers:
            if s is not source:
                s.replicate(key)

    def activate(self, key_id: str) -> None:
        self._owner(key_id).activate(key_id)
        self._replicate(key_id)

    def revoke(self, key_id: str, *, compromised: bool = False) -> None:
        self._owner(key_id).revoke(key_id, compromised=compromised)
        self._replicate(key_id)

    def destroy(self, key_id: str) -> None:
        self._owner(key_id).destroy(key_id)
        self._replicate(key_id)

    # -- the client's view --------------------------------------------------------------------
    def _targets(self, endpoints: Sequence[tuple[str, int]] | None
                 ) -> list[tuple[str, int, KmsServer | None]]:
        if endpoints is None:
            return [(s.address, s.port, s) for s in self.servers]
        return [(a, int(p), self.at(a, p)) for a, p in endpoints]

    @staticmethod
    def _nobody(address: str, port: int) -> KmsAttempt:
        return KmsAttempt(f"{address}:{port}", address, port, False, _UNREACHABLE,
                          f"no KMIP server answers at {address}:{port}")

    def probe(self, *, username: str, password: str, client_cert_der: bytes, now: datetime,
              trusted_server_certs_der: Sequence[bytes] | None = None,
              endpoints: Sequence[tuple[str, int]] | None = None) -> list[KmsAttempt]:
        """The connection status of every member (or of each of ``endpoints``), in order."""
        out = []
        for address, port, server in self._targets(endpoints):
            if server is None:
                out.append(self._nobody(address, port))
                continue
            out.extend(server.probe(username=username, password=password,
                                    client_cert_der=client_cert_der, now=now,
                                    trusted_server_certs_der=trusted_server_certs_der).attempts)
        return out

    def get_key(self, key_id: str, *, username: str, password: str, client_cert_der: bytes,
                now: datetime, trusted_server_certs_der: Sequence[bytes] | None = None,
                endpoints: Sequence[tuple[str, int]] | None = None) -> KmsResult:
        """KMIP ``Get`` with failover: members (or ``endpoints``) in order, first success wins."""
        attempts: list[KmsAttempt] = []
        targets = self._targets(endpoints)
        if not targets:
            attempt = KmsAttempt(self.name, "", 0, False, _UNREACHABLE,
                                 "no KMIP server is configured")
            return KmsResult(False, None, _UNREACHABLE, attempt.message, key_id, None,
                             (attempt,))
        for address, port, server in targets:
            if server is None:
                attempts.append(self._nobody(address, port))
                continue
            result = server.get_key(key_id, username=username, password=password,
                                    client_cert_der=client_cert_der, now=now,
                                    trusted_server_certs_der=trusted_server_certs_der)
            attempts.extend(result.attempts)
            if result.ok:
                return replace(result, attempts=tuple(attempts))
        worst = _pick_failure(attempts)
        if len(attempts) > 1:
            message = (f"the key could not be fetched from any of the {len(attempts)} KMIP "
                       f"servers of {self.name}; {worst.message}")
        else:
            message = worst.message
        return KmsResult(False, None, worst.reason, message, key_id, None, tuple(attempts))


# -- a ready-made KMS ------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientIdentity:
    """What a KMS administrator hands to the vTA administrator for a trusted key provider.

    ``ca_certificate_der`` is what the provider should trust as the server certificate
    issuer; the password never shows in ``repr``.
    """

    username: str
    password: str = field(repr=False)
    certificate_der: bytes = field(repr=False)
    private_key: crypto.PrivateKey = field(repr=False)
    ca_certificate_der: bytes = field(repr=False)
    server_certificates_der: tuple[bytes, ...] = field(repr=False)

    @property
    def trusted_server_certificates_der(self) -> tuple[bytes, ...]:
        """The KMS CA certificate: it vouches for every member's server certificate."""
        return (self.ca_certificate_der,)


def build_kms(seed: int, name: str, addresses: list[str], *, now: datetime,
              validity_days: int = 365, port: int = KMIP_PORT
              ) -> tuple[KmsCluster, ClientIdentity]:
    """A deterministic KMS cluster: a CA, one server per address, one account, a client cert.

    The CA is valid ten years from ``now``; server and client certificates are valid from
    ``now`` for ``validity_days``. Server ``i`` is named ``{name}-{i:02d}`` (from 1). The
    account is ``vtalab-kmxd`` with a password derived from the seed; the client
    certificate (``CN=vtalab-kmxd``) is issued by the KMS CA.
    """
    if not addresses:
        raise OperationError(f"KMS {name!r} needs at least one address", what="addresses",
                             value=addresses)
    now = _utc(now)
    until = now + timedelta(days=validity_days)
    ca_key = crypto.derive_private_key(seed, f"kms/{name}/ca")
    ca = crypto.make_ca(f"{name} KMS CA", ca_key, now, now + timedelta(days=3650),
                        org="vtalab KMS")
    username = "vtalab-kmxd"
    password = crypto.sha256(f"kms-password|{seed}|{name}".encode()).hex()[:24]
    servers = []
    for i, address in enumerate(addresses, start=1):
        key = crypto.derive_private_key(seed, f"kms/{name}/server/{address}")
        cert = crypto.issue_certificate(address, key, ca, ca_key, now, until, org="vtalab KMS")
        server = KmsServer(f"{name}-{i:02d}", address, port, seed=seed, server_cert=cert,
                           server_key=key, ca_cert=ca)
        server.add_account(username, password)
        servers.append(server)
    client_key = crypto.derive_private_key(seed, f"kms/{name}/client/{username}")
    client = crypto.issue_certificate(username, client_key, ca, ca_key, now, until,
                                      org="vtalab Trust Authority")
    identity = ClientIdentity(
        username=username,
        password=password,
        certificate_der=crypto.cert_der(client),
        private_key=client_key,
        ca_certificate_der=crypto.cert_der(ca),
        server_certificates_der=tuple(s.server_certificate_der for s in servers),
    )
    return KmsCluster(name, servers), identity
