"""Trusted ESXi base images: the ``boot_imgdb.tgz`` file and the per-TA-host store.

``Export-VMHostImageDb`` writes the running image's metadata from a representative host
into a gzip'd tar. The Trust Authority cluster imports it with
``New-TrustAuthorityVMHostBaseImage``; one base image per ESXi version. Importing a
version that exists fails with ``already_exists``; a damaged file fails with
``invalid_argument`` (the vSphere API's error names).

The file layout is vtalab's own (the real ``imgdb.tgz`` holds VIB and profile XML), but
the *content* is what vTA needs: version, build, the fleet-wide boot module digests and
the version records the bootloader measures. Host-specific modules (``imgdb.tgz``,
``onetime.tgz``) are left out, so an image exported from one host matches its peers.
The archive is byte-stable: sorted members, fixed owner, mtime from the simulated clock.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from vtalab.core.files import load_json, read_tgz
from vtalab.errors import InputError, OperationError, ScenarioError
from vtalab.esxi.image import EsxiImage, VersionRecord

__all__ = [
    "BaseImage",
    "BaseImageError",
    "BaseImageStore",
    "ImportStatus",
    "export_imagedb",
    "parse_imagedb",
]

_MEMBER = "imgdb/base-image.json"
_FORMAT = "vtalab.boot_imgdb/1"


class ImportStatus(StrEnum):
    """vSphere API error names for base-image import."""

    ALREADY_EXISTS = "already_exists"
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"


class BaseImageError(OperationError):
    """An import or removal the TA cluster refuses (``status`` is the vSphere error)."""

    def __init__(self, status: ImportStatus, message: str, **kw: object) -> None:
        self.status = status
        super().__init__(f"{status.value}: {message}", **kw)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class BaseImage:
    """One trusted ESXi base image, as the Attestation Service compares against it."""

    version: str  #: ``8.0.2-22380479``
    display_name: str
    build: int
    modules: tuple[tuple[str, bytes], ...]  #: fleet-wide module name → SHA-256, sorted
    version_records: tuple[VersionRecord, ...]

    def module_digests(self) -> dict[str, bytes]:
        return dict(self.modules)

    @classmethod
    def from_image(cls, image: EsxiImage) -> BaseImage:
        return cls(version=image.key, display_name=image.display_name, build=image.build,
                   modules=tuple(sorted(image.fleet_digests().items())),
                   version_records=image.version_records)

    def to_json(self) -> dict[str, object]:
        return {
            "format": _FORMAT,
            "version": self.version,
            "display_name": self.display_name,
            "build": self.build,
            "modules": [{"name": n, "sha256": d.hex()} for n, d in self.modules],
            "version_records": [
                {"component": r.component, "product": r.product, "version": r.version}
                for r in self.version_records
            ],
        }


#: Distinct (image, mtime) exports and (file bytes, name) parses remembered: both are
#: pure functions of immutable inputs, and every checker run of a plan exports and
#: imports the same images at T=0 (about 0.8 ms each way: JSON, tar, gzip level 9).
IMAGEDB_MEMO = 256


def export_imagedb(image: EsxiImage, *, mtime: int) -> bytes:
    """The ``boot_imgdb.tgz`` bytes for ``image`` (byte-stable for the same inputs)."""
    return _export_imagedb(image, mtime)


@functools.lru_cache(maxsize=IMAGEDB_MEMO, typed=True)
def _export_imagedb(image: EsxiImage, mtime: int) -> bytes:
    payload = json.dumps(BaseImage.from_image(image).to_json(), sort_keys=True, indent=1)
    data = payload.encode() + b"\n"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(_MEMBER)
        info.size = len(data)
        info.mtime = mtime
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=mtime, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def parse_imagedb(data: bytes, *, source: str = "boot_imgdb.tgz") -> BaseImage:
    """Read a ``boot_imgdb.tgz``; a damaged file raises ``BaseImageError(invalid_argument)``
    (each time: only images read are remembered, and a :class:`BaseImage` is immutable)."""
    if type(data) is bytes and type(source) is str:
        return _parse_imagedb(data, source)
    return _parse_imagedb.__wrapped__(data, source)


@functools.lru_cache(maxsize=IMAGEDB_MEMO, typed=True)
def _parse_imagedb(data: bytes, source: str) -> BaseImage:
    def bad(why: str) -> BaseImageError:
        return BaseImageError(ImportStatus.INVALID_ARGUMENT, f"{source}: {why}",
                              what="file", value=source)

    try:
        # Bounded before tar reads a header: a pax or GNU long-name header declaring
        # gigabytes is refused, not allocated (vtalab.core.files.read_tgz).
        members = read_tgz(data, source)
    except InputError as exc:
        why = exc.reason.removeprefix(f"{source}: ")
        raise bad(f"not a valid image database archive ({why})") from None
    if _MEMBER not in members:
        raise bad(f"no {_MEMBER} in the archive")
    try:
        doc = load_json(members[_MEMBER].decode("utf-8"), f"{source}:{_MEMBER}")
    except (UnicodeDecodeError, ScenarioError) as exc:
        raise bad(f"not a valid image database archive ({exc})") from None
    if not isinstance(doc, dict):
        raise bad(f"{_MEMBER} is not a JSON object")
    try:
        if doc.get("format") != _FORMAT:
            raise bad(f"unknown format {doc.get('format')!r}")
        modules = tuple(sorted((m["name"], bytes.fromhex(m["sha256"])) for m in doc["modules"]))
        if any(len(d) != 32 for _, d in modules):
            raise bad("a module digest is not SHA-256")
        records = tuple(VersionRecord(r["component"], r["product"], r["version"])
                        for r in doc["version_records"])
        return BaseImage(version=str(doc["version"]), display_name=str(doc["display_name"]),
                         build=int(doc["build"]), modules=modules, version_records=records)
    except BaseImageError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(f"missing or malformed field ({exc})") from None


class BaseImageStore:
    """The trusted base images applied on one TA host (insertion order kept)."""

    def __init__(self) -> None:
        self._images: dict[str, BaseImage] = {}
        #: bumped by every change (the TA host's trust configuration is rebuilt only then)
        self.revision = 0

    def __contains__(self, version: str) -> bool:
        return version in self._images

    def __iter__(self) -> Iterator[BaseImage]:
        return iter(self._images.values())

    def __len__(self) -> int:
        return len(self._images)

    def versions(self) -> list[str]:
        return list(self._images)

    def get(self, version: str) -> BaseImage | None:
        return self._images.get(version)

    def add(self, image: BaseImage) -> None:
        if image.version in self._images:
            raise BaseImageError(ImportStatus.ALREADY_EXISTS,
                                 f"base image {image.version} is already imported",
                                 what="base image", value=image.version)
        self._images[image.version] = image
        self.revision += 1

    def remove(self, version: str) -> BaseImage:
        if version not in self._images:
            raise BaseImageError(ImportStatus.NOT_FOUND, f"no base image {version!r}",
                                 what="base image", value=version, choices=self.versions())
        self.revision += 1
        return self._images.pop(version)

    def snapshot(self) -> tuple[BaseImage, ...]:
        return tuple(self._images.values())

    def replace_all(self, images: tuple[BaseImage, ...]) -> None:
        self._images = {i.version: i for i in images}
        self.revision += 1
