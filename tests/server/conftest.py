"""Fixtures for ``vtalab serve``: a served lab on 127.0.0.1 (ephemeral ports), always
stopped after the test, and REST clients for it (helpers live in ``servekit``).

The lab starts **paused**: tests move simulated time with ``/api/vtalab/clock``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from servekit import Rest, make_lab

from vtalab.server import Served, start


@pytest.fixture
def served() -> Iterator[Served]:
    """The quick-boot-upgrade topology served over plain HTTP, clock paused."""
    with start(make_lab(), http=True) as s:
        yield s


@pytest.fixture
def served_https() -> Iterator[Served]:
    with start(make_lab(), http=False) as s:
        yield s


@pytest.fixture
def rest(served: Served) -> Iterator[Callable[[str], Rest]]:
    made: list[Rest] = []

    def factory(side: str = "ta") -> Rest:
        made.append(Rest(served, side))
        return made[-1]

    yield factory
    for r in made:
        r.close()
