"""Fixtures for the TPM tests: deterministic keys, a started TPM, a fully booted host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vtalab.core import crypto
from vtalab.esxi import measure
from vtalab.esxi.image import EsxiImage, HostSpecific, standard_image
from vtalab.esxi.measure import FirmwareProfile, measure_full_boot
from vtalab.tpm import Tpm, credential, eventlog, marshal


@pytest.fixture(autouse=True)
def _cold_parse_caches() -> Iterator[None]:
    """Each test parses and prepares for itself (a warm cache would hide a broken parser
    or record builder from it)."""
    eventlog._make_shared.cache_clear()  # noqa: SLF001
    for memo in (measure._FIRMWARE_OWN, measure._FIRMWARE_IMAGES,  # noqa: SLF001
                 measure._ESX_BOOT, measure._ESX_BOOT_HOST, eventlog._RUNS,  # noqa: SLF001
                 measure._READINGS, measure._LAYOUTS):  # noqa: SLF001
        memo.cache_clear()
    marshal.parse_attest_shared.cache_clear()
    marshal._selected.cache_clear()  # noqa: SLF001
    credential._MADE.cache_clear()  # noqa: SLF001
    credential._ACTIVATED.cache_clear()  # noqa: SLF001
    yield


def make_tpm(seed: int = 7, host: str = "esx-01") -> Tpm:
    return Tpm(crypto.derive_private_key(seed, f"{host}/ek"),
               crypto.derive_private_key(seed, f"{host}/ak"))


@pytest.fixture
def tpm() -> Tpm:
    t = make_tpm()
    t.power_on(1_000)
    t.startup_clear()
    return t


@pytest.fixture
def image() -> EsxiImage:
    return standard_image("8.0.2", 22380479)


@pytest.fixture
def host_specific(image: EsxiImage) -> HostSpecific:
    return HostSpecific.for_host("esx-01", image.build)


@pytest.fixture
def firmware() -> FirmwareProfile:
    return FirmwareProfile.for_vendor("Dell Inc.", "2.19.1")


@pytest.fixture
def booted(tpm: Tpm, firmware: FirmwareProfile, image: EsxiImage,
           host_specific: HostSpecific) -> Tpm:
    measure_full_boot(tpm, firmware, image, host_specific)
    return tpm
