"""Where the checker's and campaigns' runs happen: in this process, or on Dask.

A **pool** maps a module-level function over a list of plain-data items (scenario text,
seed, parameters: dicts, strings and numbers) and returns the plain-data results *in the
order of the items*, whatever order the workers finish in. So a caller that decides only
from the ordered results (the checker's "first case in the list that violates", a
campaign's table) gets the same answer from :class:`InProcess` and from :class:`DaskPool`
with any number of workers. A world never crosses a process boundary: each worker builds
its own from the scenario text and returns what it saw as plain data.

Dask is an optional extra (``pip install 'vtalab[dask]'``): :func:`open_pool` imports
``distributed`` only when ``--workers`` or ``--scheduler`` asks for it, and says how to
install it when it is missing (an :class:`~vtalab.errors.InputError`: exit 2).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from vtalab.core.kernel import gc_nursery
from vtalab.errors import InputError

__all__ = ["MAX_WORKERS", "DaskPool", "InProcess", "Pool", "check_pool_options", "open_pool",
           "scheduler_address"]

#: The most local worker processes ``--workers`` starts (each holds its own worlds).
MAX_WORKERS = 64
#: Seconds to wait for a scheduler given by ``--scheduler`` (or a local cluster) to answer.
CONNECT_TIMEOUT = 30

#: Dask settings of a local cluster (its nannies copy them to the worker processes): what
#: only the dashboard shows or a long-lived cluster needs, sampled less often. Left as
#: they are, an idle 2-worker cluster took ~11 % of a core (the workers' statistical
#: profiler samples the task thread every 10 ms, holding the GIL; every process checks
#: its event loop every 20 ms; system and memory monitors every 0.5 s and 0.1 s), and a
#: worker's share of it is taken from its runs: ~1 % with these.
LOCAL_QUIET: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}

Progress = Callable[[int], None]


class Pool(Protocol):
    """Runs ``fn`` over ``items``; results in the items' order."""

    workers: int  #: how many runs can go at once (1 in-process)
    where: str  #: for reports: "in-process", "2 local Dask workers", "tcp://..."

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            done: Progress | None = None,
            weight: Callable[[Any], int] | None = None) -> list[Any]: ...

    def close(self) -> None: ...


class InProcess:
    """Every run in this process, one after the other (the default)."""

    workers = 1
    where = "in-process"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            done: Progress | None = None,
            weight: Callable[[Any], int] | None = None) -> list[Any]:
        out = []
        for item in items:
            out.append(fn(item))
            if done is not None:
                done(1 if weight is None else weight(item))
        return out

    def close(self) -> None:
        pass

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """SIGINT ignored while the local cluster starts its processes, which inherit that:
    a Ctrl-C in the terminal reaches the whole process group, and it is this process's
    to handle (cancel, close the cluster, exit 130); the workers would print tracebacks."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


_life: contextlib.AbstractContextManager[None] | None = None


def _nursery_for_life() -> None:
    """Run on each worker process of a local cluster: it stays in the worlds' young
    generation (:func:`~vtalab.core.kernel.gc_nursery`) from now on, as an in-process
    check does from its start to its end. Each task
    (:func:`~vtalab.analysis.checker.search.run_batch`) is in the
    nursery anyway; between tasks the process's default threshold came back, and the
    first allocations after a task collected the run's young leftovers at once, pushing
    survivors on to the older generations: a 60-example check made 4-8 young, 0-1
    middle and 0-1 full collections per worker (26-113 ms of 0.4 s of runs; a full one,
    over every memo the worker holds, 70-80 ms) against 2 young ones (45 ms) for all
    60 runs in-process. Only processes this pool started: the workers of a cluster
    given by ``--scheduler`` are not ours to tune."""
    global _life
    if _life is None:
        _life = gc_nursery()
        _life.__enter__()


def _probe(scheduler: str) -> None:
    """Open and close a TCP connection to ``scheduler``'s host and port (checked by
    :func:`scheduler_address`): an address that refuses it, or a host name that does not
    resolve, raises ``OSError`` at once. Dask itself retries a refused connection until
    ``CONNECT_TIMEOUT``, so a mistyped port cost 30 s before its error."""
    host, port = scheduler_address(scheduler)
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
        pass


def scheduler_address(scheduler: str) -> tuple[str, int]:
    """The host and port of a ``--scheduler`` address (``tcp://HOST:PORT`` or
    ``tls://HOST:PORT``), or an :class:`InputError` naming what is wrong with it."""
    def bad(why: str, instead: str = "tcp://HOST:PORT") -> InputError:
        return InputError(f"--scheduler {scheduler!r}: {why}; give an address like "
                          f"{instead}", what="scheduler", value=scheduler)

    if not scheduler.startswith(("tcp://", "tls://")):
        raise bad("not a Dask scheduler address", f"tcp://{scheduler.split('://', 1)[-1]}")
    parts = urlsplit(scheduler)
    try:
        port = parts.port
    except ValueError as exc:  # not a number, or out of range
        raise bad(f"bad port ({exc})") from None
    if not parts.hostname:
        raise bad("no host")
    if port is None:  # a Dask scheduler listens on 8786 unless told otherwise
        raise bad("no port", f"{scheduler.rstrip('/')}:8786")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise bad("a scheduler address has no path", f"{parts.scheme}://{parts.netloc}")
    return parts.hostname, port


class DaskPool:
    """Runs on a Dask cluster: a :class:`distributed.LocalCluster` of ``workers``
    processes started here (and closed by :meth:`close`), or an existing cluster's
    scheduler at ``scheduler`` (``tcp://HOST:PORT``; left running)."""

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None) -> None:
        try:
            import distributed  # optional: the [dask] extra; all else works without it
        except ImportError:
            raise InputError(
                "--workers and --scheduler run on Dask, which is not installed: "
                "install vtalab[dask] (pip install 'vtalab[dask]')",
                what="the dask extra") from None
        self._distributed = distributed
        self.cluster: Any = None
        self.client: Any = None
        try:
            if scheduler is not None:
                _probe(scheduler)
                self.client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT,
                                                 set_as_default=False)
                self.where = f"Dask scheduler {scheduler}"
                info = self.client.scheduler_info()
                self.workers = max(1, sum(int(w.get("nthreads", 1))
                                          for w in info.get("workers", {}).values()))
            else:
                n = int(workers or 1)
                import dask  # optional: comes with distributed (the [dask] extra)

                with _workers_ignore_ctrl_c(), dask.config.set(LOCAL_QUIET):
                    self.cluster = distributed.LocalCluster(
                        n_workers=n, threads_per_worker=1, processes=True,
                        # None does not turn the dashboard off (dask/distributed#8136):
                        # a free port on loopback, never a clash with another's 8787
                        dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL,
                        host="127.0.0.1")
                self.client = distributed.Client(self.cluster, timeout=CONNECT_TIMEOUT,
                                                 set_as_default=False)
                self.client.wait_for_workers(n, timeout=CONNECT_TIMEOUT)
                self.client.run(_nursery_for_life)
                self.workers = n
                self.where = f"{n} local Dask worker{'s' * (n != 1)}"
        except (OSError, TimeoutError) as exc:
            self.close()
            target = scheduler or "a local Dask cluster"
            raise InputError(f"--scheduler {target}: cannot connect: {exc}"
                             if scheduler else f"cannot start {target}: {exc}",
                             what="Dask scheduler", value=scheduler) from None
        except BaseException:  # Ctrl-C while the cluster starts: no process left behind
            self.close()
            raise

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            done: Progress | None = None,
            weight: Callable[[Any], int] | None = None) -> list[Any]:
        """``fn`` of each item on the cluster; ``done(weight(item))`` (1 without a
        weight) as each finishes. Items are handed out in their order (Dask's priority is
        the submission order), so a caller that puts the costliest first balances the
        workers (longest first)."""
        if not items:
            return []
        futures = self.client.map(fn, list(items), pure=False)
        of = {f.key: item for f, item in zip(futures, items, strict=True)}
        try:
            for future in self._distributed.as_completed(futures, loop=self.client.loop):
                if done is not None:
                    done(1 if weight is None else weight(of[future.key]))
            return list(self.client.gather(futures))
        except BaseException:
            self.client.cancel(futures)
            raise

    def close(self) -> None:
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_pool_options(workers: int | None = None, scheduler: str | None = None) -> None:
    """Refuse ``--workers``/``--scheduler`` values no pool could run with (what
    :func:`open_pool` checks first; a command that may stop before opening one, such as
    ``campaign --check``, checks them itself)."""
    if workers is not None and scheduler is not None:
        raise InputError("give --workers or --scheduler, not both", what="options")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise InputError(f"--workers must be between 1 and {MAX_WORKERS}; got {workers}",
                         what="workers", value=workers)
    if scheduler is not None:
        scheduler_address(scheduler)


def open_pool(workers: int | None = None, scheduler: str | None = None
              ) -> InProcess | DaskPool:
    """The pool the options ask for: in-process when neither is given."""
    check_pool_options(workers, scheduler)
    if workers is None and scheduler is None:
        return InProcess()
    return DaskPool(workers=workers, scheduler=scheduler)
