"""Fixtures for the domain tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vtalab.domain import attestation
from vtalab.tpm import eventlog, marshal

#: The verifier's memoised pure steps. Cleared around every test so that each test runs
#: the checks itself: a cache warmed by an earlier test would hide a broken check from a
#: later one (and from mutation testing's per-test coverage, docs/security.md).
_CACHES = (attestation._parse_ak, attestation._ak_qualified_name,  # noqa: SLF001
           attestation._parse_and_replay, attestation._check_claims_cached,  # noqa: SLF001
           attestation._read_measured_boot_cached, eventlog._make_shared,  # noqa: SLF001
           attestation._quoted_replay, attestation._boot_facts,  # noqa: SLF001
           attestation._sorted_records, attestation._sts_key,  # noqa: SLF001
           attestation._ek_certificate, attestation._key_id_of_bytes,  # noqa: SLF001
           attestation._ak_facts, attestation._STATIC, attestation._signed_by,  # noqa: SLF001
           attestation._records_key_of, attestation._host_specific_module,  # noqa: SLF001
           attestation._FACTS, attestation._CLAIMS_HOLD, attestation._PARTS,  # noqa: SLF001
           marshal.parse_attest_shared, marshal._selected)  # noqa: SLF001


@pytest.fixture(autouse=True)
def _cold_verifier_caches() -> Iterator[None]:
    for cache in _CACHES:
        cache.cache_clear()
    yield
