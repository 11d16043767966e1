"""The ESXi release catalog: lookup forms, errors, ordering and the generated doc."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from pathlib import Path

import pytest

from vtalab.errors import InputError
from vtalab.esxi import releases as rel
from vtalab.esxi.image import EsxiImage, standard_image
from vtalab.esxi.releases import (
    RELEASES,
    Release,
    image_for,
    is_back_in_time,
    is_upgrade,
    latest,
    line,
    lookup,
    releases_markdown,
    sort_key,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "releases.md"

# Anchors quoted in the brief / the KB; if any of these drift the catalog is wrong.
ANCHORS = {
    "7.0 GA": ("7.0.0", 15843807),
    "7.0b": ("7.0.0", 16324942),
    "7.0 U1": ("7.0.1", 16850804),
    "7.0 U1c": ("7.0.1", 17325551),
    "7.0 U2": ("7.0.2", 17630552),
    "7.0 U2a": ("7.0.2", 17867351),
    "7.0 U3": ("7.0.3", 18644231),
    "7.0 U3c": ("7.0.3", 19193900),
    "8.0 GA": ("8.0.0", 20513097),
    "8.0a": ("8.0.0", 20842819),
    "8.0 U1": ("8.0.1", 21495797),
    "8.0 U1a": ("8.0.1", 21813344),
    "8.0 U2": ("8.0.2", 22380479),
    "8.0 U2b": ("8.0.2", 23305546),
    "8.0 U3": ("8.0.3", 24022510),
    "8.0 U3b": ("8.0.3", 24280767),
}


# ---------------------------------------------------------------- the data itself


def test_catalog_shape() -> None:
    assert len(RELEASES) == 59
    assert RELEASES[0].name == "7.0 GA" and RELEASES[-1].name == "8.0 U2f"
    assert len({r.build for r in RELEASES}) == len(RELEASES)
    assert len({r.name for r in RELEASES}) == len(RELEASES)
    for r in RELEASES:
        assert r.kind in rel.KINDS
        datetime.date.fromisoformat(r.date)
        assert r.version.startswith(r.name[:3] + "."), r
        assert r.version in (r.major + ".0", r.major + ".1", r.major + ".2", r.major + ".3")
        update = r.version.rsplit(".", 1)[1]
        if r.kind == "GA":
            assert r.name == f"{r.major} GA" and update == "0"
        elif r.kind == "update":
            assert r.name == f"{r.major} U{update}"
        else:  # a patch is named after the update it patches plus a letter
            base = r.major if update == "0" else f"{r.major} U{update}"
            assert r.name[:-1] == base and r.name[-1].isalpha(), r


@pytest.mark.parametrize(("name", "expected"), sorted(ANCHORS.items()))
def test_anchor_releases(name: str, expected: tuple[str, int]) -> None:
    r = lookup(name)
    assert (r.version, r.build) == expected


def test_release_is_frozen_and_labelled() -> None:
    r = lookup("8.0 U2")
    assert r == Release("8.0 U2", "8.0.2", 22380479, "2023-09-21", "update")
    assert r.key == "8.0.2-22380479"
    assert r.label == "ESXi 8.0 U2 (8.0.2-22380479)"
    assert str(r) == r.label
    assert r.major == "8.0" and r.version_tuple == (8, 0, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.build = 1  # type: ignore[misc]


def test_kinds() -> None:
    assert [r.name for r in RELEASES if r.kind == "GA"] == ["7.0 GA", "8.0 GA", "9.0 GA"]
    assert [r.name for r in RELEASES if r.kind == "update"] == [
        "7.0 U1", "7.0 U2", "7.0 U3", "8.0 U1", "8.0 U2", "8.0 U3"]


# ---------------------------------------------------------------- ordering


def test_releases_are_chronological() -> None:
    keys = [(r.date, r.build) for r in RELEASES]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("version", sorted({r.version for r in RELEASES}))
def test_builds_strictly_increase_within_an_update_line(version: str) -> None:
    builds = [r.build for r in line(version)]
    assert len(builds) >= 1
    assert all(a < b for a, b in itertools.pairwise(builds)), builds


def _mainline(major: str) -> list[Release]:
    """The releases of a major line minus back-branch patches (a patch of an older update
    published after a newer update of the same major was out)."""
    out, newest = [], (0, 0, 0)
    for r in line(major):
        if r.version_tuple >= newest:
            out.append(r)
            newest = r.version_tuple
    return out


@pytest.mark.parametrize("major", ["7.0", "8.0"])
def test_builds_strictly_increase_chronologically_within_a_major_line(major: str) -> None:
    builds = [r.build for r in _mainline(major)]
    assert all(a < b for a, b in itertools.pairwise(builds)), builds


def test_back_branch_patches_are_the_only_build_order_exceptions() -> None:
    # Over the whole major line (back-branch patches included) the build numbers rise
    # with time except where VMware published a patch for an older update after a newer
    # update: ESXi 8.0 U1d (8.0.1, 2024-03-05) has a smaller build than 8.0 U2b (2024-02-29),
    # 8.0d (8.0.0, 2024-10-07) than 8.0 U3b, 8.0e (8.0.0, 2025-03-11) than 8.0 U3d.
    drops = [(a.name, b.name) for major in ("7.0", "8.0")
             for a, b in itertools.pairwise(line(major)) if b.build <= a.build]
    assert drops == [("8.0 U2b", "8.0 U1d"), ("8.0 U3b", "8.0d"), ("8.0 U3d", "8.0e")]
    back_branch = [r.name for major in ("7.0", "8.0") for r in line(major)
                   if r not in _mainline(major)]
    assert back_branch == ["7.0 U2e", "7.0 U1e", "8.0 U1d", "8.0d", "8.0 U2d", "8.0e",
                           "8.0 U2e", "8.0f", "8.0g", "8.0 U2f"]


def test_upgrade_order() -> None:
    assert is_upgrade("7.0 GA", "7.0b")
    assert is_upgrade("7.0 U3r", "8.0 GA")
    assert is_upgrade("8.0 U2", "8.0 U2b")
    assert is_upgrade("8.0 U1d", "8.0 U2b")  # higher version wins over the build
    assert not is_upgrade("8.0 U2b", "8.0 U1d")
    assert not is_upgrade("8.0 U2", "8.0 U2")
    assert not is_upgrade("8.0 GA", "7.0 U3r")
    ordered = sorted(RELEASES, key=sort_key)
    assert ordered[0].name == "7.0 GA" and ordered[-1].name == "9.0 GA"
    for a, b in itertools.pairwise(ordered):
        assert is_upgrade(a, b) and not is_upgrade(b, a)


def test_back_in_time() -> None:
    assert is_back_in_time("8.0 U1d", "8.0 U2b")
    assert is_back_in_time("7.0 U2e", "7.0 U3c")
    assert not is_back_in_time("8.0 U2b", "8.0 U2c")
    assert not is_back_in_time("8.0 U2b", "8.0 U1d")  # not an upgrade at all


def test_line_and_latest() -> None:
    assert [r.name for r in line("8.0.0")] == ["8.0 GA", "8.0a", "8.0b", "8.0c", "8.0d",
                                               "8.0e", "8.0f", "8.0g"]
    assert line("ESXi 8.0")[0].name == "8.0 GA"
    assert latest().name == "8.0 U2f"
    assert latest("8.0.3").name == "8.0 U3k"  # the last 8.0 U3 patch catalogued
    assert latest("7.0").name == "7.0 U3r"
    assert latest("8.0.1").name == "8.0 U1d"
    assert [r.name for r in line("9.0")] == ["9.0 GA"]
    with pytest.raises(InputError, match="no ESXi release line"):
        line("9.1")


# ---------------------------------------------------------------- lookup forms

U2 = "8.0.2-22380479"


@pytest.mark.parametrize(
    "spec",
    [
        "8.0.2-22380479", " 8.0.2-22380479 ", "8.0.2-0.0.22380479",  # key, long boot.cfg form
        "22380479", 22380479,  # build
        "8.0 U2", "8.0U2", "8.0u2", "8.0  u2", "ESXi 8.0 U2", "esxi 8.0 update 2",
        "VMware ESXi 8.0 Update 2", "ESXi80U2",  # name
        "8.0.2",  # bare version -> the update release that introduced it
        "ESXi-8.0U2-22380479-standard",  # image profile
    ],
)
def test_lookup_forms(spec: str | int) -> None:
    assert lookup(spec).key == U2


def test_lookup_every_release_by_every_form() -> None:
    for r in RELEASES:
        assert lookup(r) is r
        assert lookup(r.key) is r
        assert lookup(r.build) is r
        assert lookup(str(r.build)) is r
        assert lookup(r.name) is r
        assert lookup(r.name.upper()) is r
        assert lookup(r.name.replace(" ", "")) is r
        assert lookup(f"ESXi {r.name}") is r
        assert lookup(r.label.split(" (")[0]) is r
        assert lookup(r.name.replace(" U", " Update ")) is r
        assert lookup(f"ESXi-{r.name.replace(' ', '')}-{r.build}-standard") is r


@pytest.mark.parametrize(
    ("version", "name"),
    [("7.0.0", "7.0 GA"), ("7.0.1", "7.0 U1"), ("7.0.3", "7.0 U3"), ("8.0.0", "8.0 GA"),
     ("8.0.2", "8.0 U2"), ("8.0.3", "8.0 U3")],
)
def test_bare_version_means_the_ga_or_update_release(version: str, name: str) -> None:
    assert lookup(version).name == name


def test_ga_aliases() -> None:
    assert lookup("8.0").name == lookup("8.0 GA").name == lookup("ESXi 8.0 GA").name == "8.0 GA"
    assert lookup("7.0").name == "7.0 GA"


def test_vmsa_style_names() -> None:
    assert lookup("ESXi80U2b").name == "8.0 U2b"
    assert lookup("ESXi70U3p").name == "7.0 U3p"


# ---------------------------------------------------------------- unknown specs


def test_unknown_build_lists_nearest_builds_by_distance() -> None:
    with pytest.raises(InputError) as info:
        lookup("22380480")
    e = info.value
    assert e.what == "ESXi release"
    assert e.value == "22380480"
    assert e.choices[0] == "8.0.2-22380479"
    assert "unknown ESXi build 22380480" in str(e)
    assert "ESXi 8.0 U2 (8.0.2-22380479)" in str(e)
    assert "did you mean '8.0.2-22380479'" in str(e)


def test_unknown_int_build_nearest_is_by_distance_not_spelling() -> None:
    with pytest.raises(InputError) as info:
        lookup(24000000)
    e = info.value
    # 24022510 is 22510 away, 24118393 118393, 23825572 174428
    assert e.choices == ["8.0.3-24022510", "8.0.0-24118393", "8.0.2-23825572"]
    assert e.suggestion == "8.0.3-24022510"
    assert "nearest known: ESXi 8.0 U3 (8.0.3-24022510)" in str(e)


def test_unknown_key_build() -> None:
    with pytest.raises(InputError, match=r"unknown ESXi build 22380478.*8\.0\.2-22380479"):
        lookup("8.0.2-22380478")


def test_key_with_wrong_version() -> None:
    with pytest.raises(InputError, match="build 22380479 is ESXi 8.0 U2, version 8.0.2, not 8.0.1"):
        lookup("8.0.1-22380479")


def test_profile_name_disagreeing_with_build() -> None:
    with pytest.raises(InputError, match="names ESXi 8.0 U2 but build 23305546 is ESXi 8.0 U2b"):
        lookup("ESXi-8.0U2-23305546-standard")


@pytest.mark.parametrize(
    ("spec", "first"),
    [("8.0 U5", "8.0 U3"), ("8.0.4", "8.0 U3"), ("ESXi 7.0 U3h", "7.0 U3"), ("8.0 U2z", "8.0 U2")],
)
def test_unknown_name_lists_nearest_by_spelling(spec: str, first: str) -> None:
    with pytest.raises(InputError) as info:
        lookup(spec)
    e = info.value
    assert e.value == spec and len(e.choices) == 3
    assert e.choices[0] == lookup(first).key
    assert f"nearest known: {lookup(first).label}" in str(e)


@pytest.mark.parametrize("spec", ["", "   ", True, 8.0, None])
def test_bad_types_and_empty(spec: object) -> None:
    with pytest.raises(InputError):
        lookup(spec)  # type: ignore[arg-type]


def test_withdrawn_and_out_of_scope_builds_are_unknown() -> None:
    # 7.0 U3a/U3b, 7.0bs, 7.0 U3s (2025, not in the sources), ESXi 9.0.1 (after 9.0 GA)
    for build in (18825058, 18905247, 16321839, 24585291, 24957456):
        with pytest.raises(InputError):
            lookup(build)


# ---------------------------------------------------------------- images


def test_image_for() -> None:
    image = image_for("8.0 U2")
    assert isinstance(image, EsxiImage)
    assert image == standard_image("8.0.2", 22380479, "8.0 U2")
    assert image.key == lookup("8.0 U2").key
    assert image.release_name == "8.0 U2"
    assert image_for(22380479) == image_for("8.0.2-22380479")
    assert image_for("8.0 U2").fleet_digests() != image_for("8.0 U2b").fleet_digests()


# ---------------------------------------------------------------- the generated doc


def test_doc_matches_generator() -> None:
    assert DOC.read_text(encoding="utf-8") == releases_markdown(), (
        "docs/releases.md is stale: python -m vtalab.esxi.releases > docs/releases.md")


def test_markdown_lists_every_release_once() -> None:
    text = releases_markdown()
    for r in RELEASES:
        assert text.count(f"| `{r.key}` |") == 1
    assert text.endswith("\n")


# ---------------------------------------------------------------- 2025-2026 and 9.0 GA

#: Name -> (key, date) of the releases added from Broadcom's VCF Check data and the VCF 9.0
#: bill of materials, as those texts give them (the catalogue must not drift from them).
LATER = {
    "8.0 U3d": ("8.0.3-24585383", "2025-03-04"),
    "8.0 U3e": ("8.0.3-24674464", "2025-04-10"),
    "8.0 U3f": ("8.0.3-24784735", "2025-07-15"),
    "8.0 U3g": ("8.0.3-24859861", "2025-07-29"),
    "8.0 U3h": ("8.0.3-25067014", "2025-12-15"),
    "8.0 U3i": ("8.0.3-25205845", "2026-02-24"),
    "8.0 U3j": ("8.0.3-25429389", "2026-05-27"),
    "8.0 U3k": ("8.0.3-25595708", "2026-07-29"),
    "9.0 GA": ("9.0.0-24755229", "2025-06-17"),
}


@pytest.mark.parametrize("name", sorted(LATER))
def test_later_releases_as_their_sources_give_them(name: str) -> None:
    r = lookup(name)
    assert (r.key, r.date) == LATER[name]
    assert r.source and r.cited == r.source  # each carries where it comes from
    assert ("24755229" in r.source) if name == "9.0 GA" else ("vcfcheck" in r.source)


def test_rows_before_2025_cite_the_kb() -> None:
    for r in RELEASES:
        if r.date < "2025" and r.name != "8.0d":
            assert r.source == "" and r.cited == rel.SOURCE, r


def test_esxi_9_0_lookup_forms() -> None:
    ga = lookup("9.0 GA")
    assert ga.kind == "GA" and ga.major == "9.0"
    for spec in ("9.0", "ESXi 9.0", "9.0.0", 24755229, "9.0.0-24755229",
                 "ESXi-9.0-24755229-standard"):
        assert lookup(spec) is ga, spec
    assert is_upgrade("8.0 U3k", "9.0 GA")
    # 9.0 GA (2025-06-17) predates 8.0 U3f..U3k: going there from those is back in time
    assert is_back_in_time("8.0 U3k", "9.0 GA") and not is_back_in_time("8.0 U3e", "9.0 GA")
