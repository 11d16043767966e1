"""esx_boot_layout_problems, rule by rule, with its exact words (docs/attestation.md, step 5;
kills the surviving mutants of the layout check, docs/security.md)."""

from __future__ import annotations

from vtalab.esxi.measure import (
    TAG_ASSET_TAG,
    TAG_BOOT_OPTION,
    TAG_CMDLINE,
    TAG_MODULE,
    TAG_SIGNER,
    TAG_VERSION,
    BootRecord,
    MeasuredBoot,
    esx_boot_layout_problems,
)
from vtalab.tpm.eventlog import EV_EFI_ACTION, EV_EVENT_TAG


def mod(name: str, pcr: int = 13, tag: int = TAG_MODULE) -> BootRecord:
    return BootRecord(pcr, EV_EVENT_TAG, tag, name)


def tag(t: int, pcr: int = 14) -> BootRecord:
    return BootRecord(pcr, EV_EVENT_TAG, t)


def ver(file: str, pcr: int = 13) -> BootRecord:
    """A version record naming the module file it came from."""
    return BootRecord(pcr, EV_EVENT_TAG, TAG_VERSION, file)


SIGNER, CMD, ASSET = tag(TAG_SIGNER), tag(TAG_CMDLINE), tag(TAG_ASSET_TAG)
GOOD = [ver("b.b00"), mod("b.b00", 12), mod("jumpstrt.gz", 14, TAG_BOOT_OPTION),
        mod("vmx.v00"), mod("imgdb.tgz"), mod("onetime.tgz"), SIGNER, SIGNER, CMD, ASSET]


def problems(records: list[BootRecord], duplicates: tuple[str, ...] = ()) -> list[str]:
    return esx_boot_layout_problems(MeasuredBoot(records=records, duplicates=list(duplicates)))


def test_what_esx_boot_measures_passes() -> None:
    assert problems(GOOD) == []
    assert problems([]) == []  # nothing from esx-boot at all: nothing to say here
    assert problems(GOOD[:-1]) == []  # the asset tag is optional
    assert problems([m for m in GOOD if m.name not in ("imgdb.tgz", "onetime.tgz")]) == []


def test_records_esx_boot_never_makes() -> None:
    assert problems([BootRecord(12, EV_EFI_ACTION), tag(5, 13), *GOOD]) == [
        "a record of event type 0x80000007 in PCR 12 (esx-boot measures only tagged events "
        "there)",
        "a record with unknown esx-boot tag 5 in PCR 13"]


def test_modules_in_the_wrong_pcr_tag_or_position() -> None:
    assert problems([*GOOD[:4], mod("imgdb.tgz", 14, TAG_BOOT_OPTION), *GOOD[5:]]) == [
        "imgdb.tgz measured as a boot option in PCR 14 (esx-boot measures it as a module in "
        "PCR 13)"]
    assert problems([*GOOD[:6], SIGNER, mod("extra.v00"), CMD]) == [
        "extra.v00 measured after the signer or command line",
        "extra.v00 measured after the host-specific modules (esx-boot loads imgdb.tgz and "
        "onetime.tgz last)"]
    assert problems([*GOOD[:5], mod("uc_intel.b00"), mod("vmx2.v00"), mod("onetime.tgz"),
                     SIGNER, CMD]) == [
        "uc_intel.b00, vmx2.v00 measured after the host-specific modules (esx-boot loads "
        "imgdb.tgz and onetime.tgz last)"]
    assert problems([*GOOD[:4], mod("onetime.tgz"), mod("imgdb.tgz"), SIGNER, CMD]) == [
        "host-specific modules in the order onetime.tgz, imgdb.tgz (esx-boot: imgdb.tgz, "
        "onetime.tgz)"]
    dup = [*GOOD[:4], mod("onetime.tgz"), mod("imgdb.tgz"), mod("imgdb.tgz"), SIGNER, CMD]
    assert problems(dup, ("imgdb.tgz",)) == [
        "imgdb.tgz measured more than once"]  # the order is moot once a name repeats


def test_boot_option_records_in_the_wrong_pcr_or_order() -> None:
    assert problems([*GOOD[:4], ver("k.b00", 14), mod("k.b00", 12), *GOOD[4:6], SIGNER,
                     CMD]) == ["a version record in PCR 14 (esx-boot: PCR 13)"]
    assert problems([*GOOD[:6], tag(TAG_SIGNER, 13), CMD]) == [
        "a signer record in PCR 13 (esx-boot: PCR 14)"]
    assert problems([*GOOD[:6], SIGNER, ASSET, CMD]) == [
        "the command line measured after the asset tag"]
    assert problems([*GOOD[:6], CMD, SIGNER]) == ["a signer measured after the command line"]
    assert problems([*GOOD[:6], SIGNER, CMD, ASSET, SIGNER]) == [
        "a signer measured after the command line"]


def test_counts_of_command_lines_and_asset_tags() -> None:
    assert problems([*GOOD[:6], SIGNER]) == [
        "no command line measured (esx-boot always measures one)"]
    assert problems([*GOOD[:6], SIGNER, CMD, CMD]) == [
        "2 command lines measured (esx-boot measures one)"]
    assert problems([*GOOD[:6], SIGNER, CMD, ASSET, ASSET]) == [
        "2 asset tags measured (esx-boot measures at most one)"]
    assert problems([*GOOD[:6], SIGNER, CMD, ASSET, ASSET, ASSET]) == [
        "3 asset tags measured (esx-boot measures at most one)"]


def test_every_problem_is_reported_not_only_the_first() -> None:
    assert problems([tag(5, 13), BootRecord(12, EV_EFI_ACTION), *GOOD[:6], SIGNER, CMD,
                     CMD]) == [
        "a record with unknown esx-boot tag 5 in PCR 13",
        "a record of event type 0x80000007 in PCR 12 (esx-boot measures only tagged events "
        "there)",
        "2 command lines measured (esx-boot measures one)"]


def test_version_records_one_each_for_b_and_k_right_before_their_module() -> None:
    """tpm.c: only the versioned modules b and k get a version record, measured by
    tpm_extend_module just before the module itself, and only the section's first."""
    k = [ver("k.b00"), mod("k.b00", 12)]
    assert problems([*GOOD[:2], *k, *GOOD[2:]]) == []
    assert problems([ver("b.b00"), *GOOD]) == [  # one record too many for b.b00
        "the version record for b.b00 is not followed by b.b00",
        "2 version records for b.b00 (esx-boot measures only the first)"]
    assert problems([*GOOD[:2], ver("s.v00"), mod("s.v00", 12), *GOOD[2:]]) == [
        "a version record for s.v00 (esx-boot measures version records only for b and k)"]
    assert problems([*GOOD[:2], ver("vmx.v00"), *GOOD[2:]]) == [
        "a version record for vmx.v00 (esx-boot measures version records only for b and k)"]
    assert problems([*GOOD[:2], ver("k.b00"), mod("jumpstrt.gz", 14, TAG_BOOT_OPTION),
                     mod("k.b00", 12), *GOOD[3:]]) == [
        "the version record for k.b00 is not followed by k.b00"]
    assert problems([*GOOD[:6], SIGNER, CMD, ver("k.b00")]) == [
        "the version record for k.b00 is not followed by k.b00"]
    assert problems([*GOOD[:2], tag(TAG_VERSION, 13), *GOOD[2:]]) == [
        "a version record for no file (esx-boot measures version records only for b and k)"]
    # The record names the file as boot.cfg gave it; the module record its basename.
    assert problems([ver("/b.b00"), *GOOD[1:]]) == []
