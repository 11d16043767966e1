"""``export_imagedb`` and ``parse_imagedb`` remember what they made and read (every
checker run exports and imports the same images): the remembered answers are the bytes
and images the plain functions give, a damaged file is refused every time, and the memo
is bounded."""

from __future__ import annotations

import gzip

import pytest

from vtalab.domain import base_image
from vtalab.domain.base_image import BaseImageError, export_imagedb, parse_imagedb
from vtalab.esxi.releases import RELEASES, image_for

PLAIN_EXPORT = base_image._export_imagedb.__wrapped__
PLAIN_PARSE = base_image._parse_imagedb.__wrapped__


@pytest.mark.parametrize("mtime", [0, 1_767_600_000, 1_767_600_000.5])
def test_remembered_exports_and_parses_are_the_plain_ones(mtime: float) -> None:
    for release in RELEASES:
        image = image_for(release.key)
        data = export_imagedb(image, mtime=mtime)  # type: ignore[arg-type]
        assert data == PLAIN_EXPORT(image, mtime)
        assert export_imagedb(image, mtime=mtime) == data  # type: ignore[arg-type]
        assert parse_imagedb(data, source="x.tgz") == PLAIN_PARSE(data, "x.tgz")
        assert parse_imagedb(bytearray(data), source="x.tgz") == PLAIN_PARSE(data, "x.tgz")


def test_an_int_and_a_float_time_are_different_exports() -> None:
    """``typed``: 5 and 5.0 are equal keys to a plain memo, but not the same input."""
    image = image_for("8.0 U3")
    assert export_imagedb(image, mtime=5) == PLAIN_EXPORT(image, 5)
    assert export_imagedb(image, mtime=5.0) == PLAIN_EXPORT(image, 5.0)  # type: ignore[arg-type]


def test_a_damaged_file_is_refused_every_time() -> None:
    data = gzip.compress(b"not a tar archive\n" * 40, mtime=0)
    for _ in range(3):
        with pytest.raises(BaseImageError, match=r"bad\.tgz: not a valid image database"):
            parse_imagedb(data, source="bad.tgz")


def test_the_memo_is_bounded() -> None:
    image = image_for("8.0 U3")
    for t in range(base_image.IMAGEDB_MEMO + 10):
        parse_imagedb(export_imagedb(image, mtime=t), source=f"{t}.tgz")
    assert base_image._export_imagedb.cache_info().currsize <= base_image.IMAGEDB_MEMO
    assert base_image._parse_imagedb.cache_info().currsize <= base_image.IMAGEDB_MEMO
