"""Serving: two uvicorn servers (TA and workload vCenter) on one event loop.

:func:`start` runs them in a background thread (tests, benchmarks, notebooks) and returns a
:class:`Served` with the URLs and ``stop()``; :func:`serve_forever` runs them in the
foreground until Ctrl-C (``vtalab serve``). Both keep the world in step with the clock on
a timer and never leave a server running behind them.

HTTPS uses a self-signed certificate derived from the seed (:func:`tls_material`): the same
key and certificate for the same seed, so its SHA-256 fingerprint can be pinned.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn

from vtalab.core import crypto
from vtalab.server.app import create_app
from vtalab.server.lab import ServedLab

__all__ = ["Served", "TlsMaterial", "serve_forever", "start", "tls_material"]

log = logging.getLogger("vtalab.serve")

TICK_SECONDS = 0.05  #: how often the world is brought up to the clock while serving


@dataclass(frozen=True)
class TlsMaterial:
    cert_pem: bytes
    key_pem: bytes
    fingerprint: str  #: SHA-256 of the DER certificate, AA:BB:... (as browsers show it)


def tls_material(seed: int, names: tuple[str, ...] = ()) -> TlsMaterial:
    """A self-signed server certificate for 127.0.0.1/localhost (and ``names``), from the
    seed: a deterministic ECDSA key and signature, fixed validity 2020-2099 so clients that
    check dates against the real clock accept it."""
    key = crypto.derive_private_key(seed, "serve/tls")
    cert = crypto.make_server_certificate(
        "vtalab serve", key, dns_names=("localhost", *names), ip_addresses=("127.0.0.1",),
        not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2099, 12, 31, tzinfo=dt.UTC), org="vtalab")
    digest = hashlib.sha256(crypto.cert_der(cert)).hexdigest().upper()
    return TlsMaterial(crypto.cert_pem(cert), crypto.private_pem(key),
                       ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)))


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to us (two servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Stoppable:
    """What a started server hands back: ``stop()`` it once (more calls do nothing), or
    use it as a context manager that stops it on leaving."""

    _stop: Any

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Served(Stoppable):
    lab: ServedLab
    ta_url: str
    workload_url: str
    scheme: str
    cert_file: str | None = None
    fingerprint: str | None = None
    _stop: Any = field(default=None, repr=False)

    def url(self, side: str) -> str:
        return self.ta_url if side == "ta" else self.workload_url



def _socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
    # (without it, keep-alive replies wait ~40 ms for a delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _configs(lab: ServedLab, socks: dict[str, socket.socket], *, http: bool, ui: bool,
             tmp: str | None, log_level: str) -> tuple[dict[str, _Server], str | None,
                                                       str | None]:
    cert_file = key_file = fingerprint = None
    if not http:
        assert tmp is not None
        material = tls_material(lab.seed, (lab.vcenter_name("ta"),
                                           lab.vcenter_name("workload")))
        cert_file = os.path.join(tmp, "vtalab-serve.crt")
        key_file = os.path.join(tmp, "vtalab-serve.key")
        with open(cert_file, "wb") as fh:
            fh.write(material.cert_pem)
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(material.key_pem)
        fingerprint = material.fingerprint
    servers = {}
    for side in socks:
        config = uvicorn.Config(create_app(lab, side, ui=ui), log_level=log_level,
                                access_log=False, ssl_certfile=cert_file, ssl_keyfile=key_file,
                                lifespan="off", timeout_keep_alive=30,
                                limit_concurrency=4096, backlog=2048,
                                timeout_graceful_shutdown=1)
        servers[side] = _Server(config)
    return servers, cert_file, fingerprint


async def _ticker(lab: ServedLab, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            lab.tick()
        except Exception:  # a bug in the world must not stop the server; it is logged
            log.exception("the world failed while advancing the clock")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK_SECONDS)


async def _serve(servers: dict[str, _Server], socks: dict[str, socket.socket], lab: ServedLab,
                 stop: asyncio.Event) -> None:
    tasks = [asyncio.create_task(s.serve(sockets=[socks[side]])) for side, s in servers.items()]
    ticker = asyncio.create_task(_ticker(lab, stop))
    await stop.wait()
    for s in servers.values():
        s.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    await ticker
    # Connections a client kept open (keep-alive, a TLS peer that never closes) outlived
    # the graceful shutdown: close them so nothing is left behind the loop.
    for s in servers.values():
        for conn in list(s.server_state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()
    await asyncio.sleep(0.01)


def _urls(socks: dict[str, socket.socket], scheme: str, host: str) -> dict[str, str]:
    return {side: f"{scheme}://{host}:{sock.getsockname()[1]}" for side, sock in socks.items()}


def start(lab: ServedLab, *, host: str = "127.0.0.1", ta_port: int = 0,
          workload_port: int = 0, http: bool = True, ui: bool = False,
          log_level: str = "warning") -> Served:
    """Serve ``lab`` from a background thread; ``stop()`` (or ``with``) shuts it down."""
    socks = {"ta": _socket(host, ta_port)}
    try:
        socks["workload"] = _socket(host, workload_port)
    except OSError:
        socks["ta"].close()
        raise
    tmp = None if http else tempfile.mkdtemp(prefix="vtalab-serve-")
    servers, cert_file, fingerprint = _configs(lab, socks, http=http, ui=ui, tmp=tmp,
                                               log_level=log_level)
    loop = asyncio.new_event_loop()
    stop_event: asyncio.Event | None = None
    ready = threading.Event()

    def run() -> None:
        nonlocal stop_event
        asyncio.set_event_loop(loop)

        async def main() -> None:
            nonlocal stop_event
            stop_event = asyncio.Event()
            ready.set()
            await _serve(servers, socks, lab, stop_event)

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="vtalab-serve", daemon=True)
    thread.start()
    ready.wait(10)
    for side, s in servers.items():  # wait until both accept connections (bounded)
        for _ in range(400):
            if s.started:
                break
            threading.Event().wait(0.01)
        del side

    def stop() -> None:
        if stop_event is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(15)
        for sock in socks.values():
            sock.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    scheme = "http" if http else "https"
    urls = _urls(socks, scheme, host)
    return Served(lab, urls["ta"], urls["workload"], scheme, cert_file, fingerprint, stop)


def serve_forever(lab: ServedLab, *, host: str = "127.0.0.1", ta_port: int = 8443,
                  workload_port: int = 8444, http: bool = False, ui: bool = True,
                  on_ready: Any = None, log_level: str = "warning") -> None:
    """Serve in the foreground until SIGINT/SIGTERM (Ctrl-C); returns after a clean stop."""

    socks = {"ta": _socket(host, ta_port)}
    try:
        socks["workload"] = _socket(host, workload_port)
    except OSError:
        socks["ta"].close()
        raise
    tmp = None if http else tempfile.mkdtemp(prefix="vtalab-serve-")
    try:
        servers, cert_file, fingerprint = _configs(lab, socks, http=http, ui=ui, tmp=tmp,
                                                   log_level=log_level)
        scheme = "http" if http else "https"
        urls = _urls(socks, scheme, host)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            if on_ready is not None:
                on_ready(Served(lab, urls["ta"], urls["workload"], scheme, cert_file,
                                fingerprint))
            await _serve(servers, socks, lab, stop)

        asyncio.run(main())
    finally:
        for sock in socks.values():
            sock.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
