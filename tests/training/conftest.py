"""Fixtures the training shell's language tests share."""

from __future__ import annotations

import pytest

from vtalab.training.session import Session


@pytest.fixture(scope="module")
def pwsh_session() -> Session:
    """A session of upgrade-before-import (esx-03 on 8.0.3, the others on 8.0.2) with
    ``$h`` = esx-03, for one test module."""
    s = Session.start("upgrade-before-import")
    assert s.run("$h = Get-VMHost esx-03").ok
    return s
