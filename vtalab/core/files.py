"""Reading input files bounded, writing output files only where asked.

One place for every file vtalab reads from a person or writes for one:

- :func:`read_bytes` reads a **regular file** (or standard input for ``-``) of at most
  :data:`~vtalab.core.limits.MAX_INPUT_BYTES`: a FIFO, ``/dev/zero`` or a directory is
  refused without blocking or reading, a larger file after reading one byte past the cap.
- :func:`decode_text` turns bytes into text or a located error (``file:line:column`` of
  the first bad byte); UTF-8 with or without a BOM, UTF-16 with a BOM when allowed
  (Windows PowerShell 5.1 writes it with ``>``).
- :func:`load_json` parses JSON with the nesting bounded (:data:`MAX_NESTING`), lone
  surrogates (``"\\ud800"``) refused, and every error located.
- :func:`loads` is ``json.loads`` for any JSON from outside (files, request bodies): an
  integer longer than :data:`MAX_INT_DIGITS` digits is a :class:`JSONNumberError`
  naming its field and place, not Python's ``sys.set_int_max_str_digits`` hint.
- :func:`check_text` refuses lone surrogates in any text taken from an input.
- :func:`write_atomic` writes a file whole or not at all: a fresh temporary file created
  with ``O_EXCL`` in the target folder (``mkstemp``: a planted ``OUT.tmp`` symlink is never
  followed), then renamed over the target.
- :func:`safe_name` makes a file name from an input value (a plan's name): no directory
  parts, no NUL, at most :data:`MAX_NAME_CHARS` characters.
- :func:`read_tgz` inflates a ``.tgz`` with a cap *before* tar reads it, and returns its
  regular members.

Errors are :class:`~vtalab.errors.ScenarioError` (file, line, column) or
:class:`~vtalab.errors.InputError`: the command line exits 2 for them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import stat
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from vtalab.core.limits import (
    MAX_ARCHIVE_BYTES,
    MAX_ARCHIVE_MEMBERS,
    MAX_INPUT_BYTES,
    MAX_NAME_CHARS,
    MAX_NESTING,
)
from vtalab.core.resources import bundled
from vtalab.errors import InputError, ScenarioError

__all__ = ["MAX_INT_DIGITS", "JSONNumberError", "atomic_file", "bounded_int",
           "check_name_length", "check_target", "check_text", "check_value", "decode_text",
           "load_json", "loads", "peek", "position", "read_bytes", "read_text", "read_tgz",
           "safe_name", "write_atomic"]

_KIND = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISCHR: "a character device",
         stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket",
         stat.S_ISDIR: "a directory"}


def _size_text(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _bundled_hint(path: str) -> str:
    """Where the docs' ``scenarios/…`` path is when the reader is not in a checkout.

    The docs write ``vtalab run scenarios/quick-boot-upgrade.yaml`` as run from the
    repository, whose ``scenarios/`` is the package's bundled library; from any other folder
    the nearest valid choice is that library's copy.
    """
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if "scenarios" not in parts or ".." in parts:
        return ""
    rest = parts[len(parts) - 1 - parts[::-1].index("scenarios") + 1:]
    if not rest:
        return ""
    candidate = bundled("scenarios", *rest)
    if not candidate.is_file():
        return ""
    return (f"; the bundled library has it (scenarios/ exists only in a checkout of "
            f"vtalab): {candidate}")


def read_bytes(path: str, *, limit: int = MAX_INPUT_BYTES, what: str = "file") -> bytes:
    """The bytes of ``path`` (``-``: standard input), at most ``limit`` of them.

    Only a regular file is opened for reading (``O_NONBLOCK``, so opening a FIFO does not
    wait for a writer); anything else is refused, as is a file larger than ``limit``.
    """
    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        raw = stream.read(limit + 1) if stream is not None else \
            sys.stdin.read(limit + 1).encode("utf-8", "surrogateescape")
        if len(raw) > limit:
            raise InputError(f"<stdin>: the {what} is larger than {_size_text(limit)} "
                             "(MAX_INPUT_BYTES); vtalab reads no input larger than that")
        return raw
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ScenarioError(("no such file" if what == "file" else
                             f"cannot read the {what}: no such file") + _bundled_hint(path),
                            file=path) from None
    except IsADirectoryError:
        raise ScenarioError(f"is a directory, not a {what}", file=path) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError(f"cannot read the {what}: {why}", file=path) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in _KIND.items() if test(mode)), "not a regular file")
            raise ScenarioError(f"is {kind}, not a {what}: vtalab reads only regular "
                                "files", file=path)
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        chunks = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise ScenarioError(f"cannot read the {what}: {exc.strerror or exc}",
                            file=path) from None
    finally:
        os.close(fd)
    if got > limit:
        raise ScenarioError(f"the {what} is larger than {_size_text(limit)} "
                            "(MAX_INPUT_BYTES); vtalab reads no input larger than that",
                            file=path)
    return b"".join(chunks)


def peek(path: str, n: int) -> bytes:
    """The first ``n`` bytes of ``path`` if it is a regular file, else ``b""`` (no wait)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError):
        return b""
    try:
        return os.read(fd, n) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return b""
    finally:
        os.close(fd)


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def decode_text(raw: bytes, path: str, *, utf16: bool = False, what: str = "file") -> str:
    """``raw`` as text: UTF-8 (a BOM is dropped), UTF-16 with a BOM only if ``utf16``."""
    boms = (b"\xff\xfe", b"\xfe\xff")
    if raw.startswith(boms):
        if not utf16:
            raise ScenarioError(f"the {what} is UTF-16 text; save it as UTF-8", file=path,
                                line=1, column=1)
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
        nul = raw.find(b"\0", 0, 4096)
        if nul >= 0:  # no text format vtalab reads has a NUL; UTF-16 text is full of them
            line = raw.count(b"\n", 0, nul) + 1
            column = nul - (raw.rfind(b"\n", 0, nul) + 1) + 1
            raise ScenarioError(f"the {what} holds NUL bytes: UTF-16 text without a "
                                "byte-order mark, or not text at all; save it as UTF-8",
                                file=path, line=line, column=column)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding == "utf-16":
            raise ScenarioError(f"the {what} is not valid UTF-16 text (at byte "
                                f"{exc.start})", file=path) from None
        prefix = raw[: exc.start].decode("utf-8", "replace")
        line, column = position(prefix, len(prefix))
        raise ScenarioError(f"the {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                            file=path, line=line, column=column) from None
    check_text(text, path)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: str, file: str, *, line: int | None = None,
               column: int | None = None, field: str | None = None) -> None:
    """Refuse a lone surrogate (``\\ud800``: not a character, it cannot be printed)."""
    m = _SURROGATE.search(text)
    if m is None:
        return
    if line is None:
        line, column = position(text, m.start())
    raise ScenarioError(f"{field + ': ' if field else ''}a lone surrogate "
                        f"(U+{ord(m.group()):04X}) is not a character; write the character "
                        "itself, or a pair of escapes", file=file, line=line, column=column,
                        value=text[:40])


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _too_deep_at(text: str, limit: int) -> int | None:
    """The offset where ``text`` (JSON) first nests deeper than ``limit``, or None."""
    depth = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > limit:
                return m.start()
        elif tok in "]}":
            depth -= 1
    return None


def _depth_and_text(value: Any, file: str, line: int | None) -> int:
    """The nesting depth of a parsed JSON value; a lone surrogate in it is refused."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, str):
            check_text(v, file, line=line, column=None)
        elif isinstance(v, dict):
            deepest = max(deepest, d + 1)
            for k, item in v.items():
                check_text(k, file, line=line, column=None)
                stack.append((item, d + 1))
        elif isinstance(v, list):
            deepest = max(deepest, d + 1)
            stack.extend((item, d + 1) for item in v)
    return deepest


def check_value(value: Any, file: str, *, line: int | None = None,
                what: str = "JSON") -> None:
    """Refuse a parsed value nested deeper than ``MAX_NESTING`` or holding a lone surrogate."""
    if _depth_and_text(value, file, line) > MAX_NESTING:
        raise ScenarioError(f"{what} nested deeper than {MAX_NESTING} levels "
                            "(MAX_NESTING)", file=file, line=line)


#: The most digits an integer in JSON or YAML input may have: CPython's default limit of int/str
#: conversion (``sys.get_int_max_str_digits()``), fixed here so that every process reads
#: the same inputs the same way whatever the interpreter was told. No vtalab field needs
#: a fraction of it; a longer one is refused by :func:`loads` with its field and place.
MAX_INT_DIGITS = 4300

#: A string or a number token of JSON text (to find the n-th long integer's offset).
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')


class JSONNumberError(ValueError):
    """An integer of JSON input longer than :data:`MAX_INT_DIGITS` digits."""

    def __init__(self, offset: int, field: str, digits: int) -> None:
        self.offset = offset  #: character offset of the number in the (decoded) text
        self.field = field  #: where in the document (``params.input[2]``), "" if unknown
        self.digits = digits
        self.limit = MAX_INT_DIGITS
        where = f"field {field}" if field else "a value"
        super().__init__(f"{where} (char {offset}) is an integer of {digits:,} digits; at "
                         f"most {MAX_INT_DIGITS:,} digits are read "
                         "(MAX_INT_DIGITS)")

    @property
    def reason(self) -> str:
        """The message without the offset (for errors that give line and column)."""
        where = f"field {self.field}" if self.field else "a value"
        return (f"{where} is an integer of {self.digits:,} digits; at most "
                f"{self.limit:,} digits are read (MAX_INT_DIGITS)")


def bounded_int(digits: str) -> int:
    """A JSON decoder's ``parse_int`` for input read with ``json.JSONDecoder.raw_decode``
    (which :func:`loads` cannot serve): an integer of more than :data:`MAX_INT_DIGITS`
    digits is a :class:`JSONNumberError` (without its place: the caller knows the value's
    line), never converted."""
    n = len(digits) - digits.startswith("-")
    if n > MAX_INT_DIGITS:
        raise JSONNumberError(0, "", n)
    return int(digits)


class _LongInt:
    """Stands for an integer too long to convert, while :func:`loads` parses."""

    __slots__ = ("digits", "ordinal")

    def __init__(self, ordinal: int, digits: int) -> None:
        self.ordinal = ordinal
        self.digits = digits


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``, except that an integer of more than
    :data:`MAX_INT_DIGITS` digits is a :class:`JSONNumberError` naming the field
    it is in (``a.b[3]``) and its character offset, never converted (converting is
    quadratic in its length). Other errors are ``json.loads``'s."""
    if 0 < sys.get_int_max_str_digits() <= MAX_INT_DIGITS:
        # The interpreter refuses longer integers itself: parse at C speed, and only on
        # its refusal parse again to find the field (the integer is never converted).
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise
        except ValueError:
            pass
    longs: list[_LongInt] = []

    def parse_int(digits: str) -> Any:
        n = len(digits) - digits.startswith("-")
        if n <= MAX_INT_DIGITS:
            return int(digits)
        longs.append(_LongInt(len(longs), n))
        return longs[-1]

    value = json.loads(text, parse_int=parse_int)
    if not longs:
        return value
    field, first = _long_field(value)
    found = first or longs[0]
    decoded = text if isinstance(text, str) else text.decode(json.detect_encoding(text),
                                                              "surrogatepass")
    seen, offset = 0, 0
    for m in _JSON_TOKEN.finditer(decoded):
        token = m.group()
        if token[0] != '"' and token.lstrip("-").isdigit() \
                and len(token.lstrip("-")) > MAX_INT_DIGITS:
            if seen == found.ordinal:
                offset = m.start()
                break
            seen += 1
    raise JSONNumberError(offset, field, found.digits)


def _long_field(value: Any) -> tuple[str, _LongInt | None]:
    """The path (``a.b[3]``) of the first too-long integer in ``value``, in document
    order (iterative: as deep as the parser went)."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        v, path = stack.pop()
        if isinstance(v, _LongInt):
            return path, v
        if isinstance(v, dict):
            stack.extend((item, f"{path}.{k}" if path else str(k))
                         for k, item in reversed(v.items()))
        elif isinstance(v, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(v))))
    return "", None


def load_json(text: str, file: str, *, line: int | None = None,
              what: str = "JSON") -> Any:
    """Parse ``text`` (one JSON document; ``line``: where it starts in ``file``)."""
    first = line or 1

    def at(offset: int) -> tuple[int, int]:
        ln, col = position(text, offset)
        return first + ln - 1, col

    try:
        value = loads(text)
    except json.JSONDecodeError as exc:
        ln, col = at(exc.pos)
        raise ScenarioError(f"not valid {what}: {exc.msg}", file=file, line=ln,
                            column=col) from None
    except RecursionError:
        value = None  # located below
    except JSONNumberError as exc:
        ln, col = at(exc.offset)
        raise ScenarioError(f"not valid {what}: {exc.reason}", file=file, line=ln,
                            column=col) from None
    where = _too_deep_at(text, MAX_NESTING) if value is None or isinstance(
        value, dict | list) else None
    if where is not None:
        ln, col = at(where)
        raise ScenarioError(f"{what} nested deeper than {MAX_NESTING} levels "
                            "(MAX_NESTING)", file=file, line=ln, column=col)
    _depth_and_text(value, file, line)
    return value


def safe_name(name: str, *, limit: int = MAX_NAME_CHARS) -> str:
    """A file name made from ``name``: letters, digits, ``.``, ``_`` and ``-`` only.

    Anything else (``/``, ``\\``, NUL, spaces, non-ASCII) becomes ``-``; leading dots and
    dashes go (no hidden file, no ``..``, nothing taken for an option). A name that had to
    change, or is longer than ``limit``, ends with 8 hex digits of its SHA-256, so two
    names stay two files.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).lstrip(".-")
    slug = re.sub(r"\.{2,}", ".", slug)
    if slug == name and 0 < len(slug) <= limit:
        return slug
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    slug = slug[: limit - 9].rstrip(".-")
    return f"{slug}-{digest}" if slug else digest


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_name_length(path: str, folder: str) -> None:
    """Refuse a ``path`` whose last part is longer than the file system in ``folder`` (an
    existing folder) allows, before any work rather than at the final rename."""
    name = os.path.basename(os.path.abspath(path))
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX, or no such limit
        limit = 255
    size = len(os.fsencode(name))
    if limit > 0 and size > limit:
        raise InputError(f"cannot write {path}: the name {name[:20]}... is {size} bytes "
                         f"long; the file system allows {limit}", value=path)


def check_target(path: str) -> None:
    """Refuse, as an :class:`InputError`, an output ``path`` that cannot become a regular
    file: a folder, a missing folder, or an existing device, FIFO or socket (the rename of
    :func:`atomic_file` would *replace* ``/dev/full`` or a named pipe with a file). A
    symlink at ``path`` is fine: the rename replaces the link, never writes through it."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"cannot write {path}: it is a directory")
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: directory {folder} does not exist")
    check_name_length(path, folder)
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        kind = next((k for test, k in _KIND.items() if test(mode)), "not a regular file")
        raise InputError(f"cannot write {path}: it is {kind}, not a file: vtalab writes "
                         "only regular files (give a file name)")


def _temporary(path: str) -> tuple[int, str]:
    """A new, empty temporary file next to ``path`` (``mkstemp``: ``O_EXCL``, so never
    someone's planted file or symlink), with the permissions ``open`` would give."""
    check_target(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".vtalab-", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    except OSError:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


def write_atomic(path: str, data: bytes | str, *, what: str = "file") -> None:
    """Write ``data`` to ``path`` whole or not at all.

    The temporary file is created by ``mkstemp`` (``O_EXCL``: it is a new file, never
    someone's symlink) in the folder of ``path``, then renamed over ``path`` (a rename
    replaces a symlink at ``path`` rather than writing through it). Text is UTF-8 with
    ``\\n`` line ends. The file gets the permissions the umask allows, as ``open`` would.
    """
    body = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_file(path, binary=True) as (fh, _):
        fh.write(body)


@contextlib.contextmanager
def atomic_file(path: str, *, binary: bool = False,
                encoding: str = "utf-8") -> Iterator[tuple[Any, str]]:
    """``(file, temporary path)`` to write ``path`` as it goes, whole or not at all: the
    file is :func:`write_atomic`'s temporary file, renamed over ``path`` when the block
    ends, removed if it raises (an ``OSError`` becomes an :class:`InputError`)."""
    fd, tmp = _temporary(path)
    try:
        mode = "wb" if binary else "w"
        with (os.fdopen(fd, mode) if binary
              else os.fdopen(fd, mode, encoding=encoding, newline="\n")) as fh:
            yield fh, tmp
        os.replace(tmp, path)
    except BaseException as exc:  # a full disk, or Ctrl-C: no temporary file left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def _inflate(data: bytes, source: str, limit: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing
    try:
        raw = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InputError(f"{source}: not a valid gzip file, or a corrupt or truncated one "
                         f"({exc})") from None
    if len(raw) > limit:
        raise InputError(f"{source}: inflates to more than {_size_text(limit)} "
                         "(MAX_ARCHIVE_BYTES); refused before reading it")
    if not d.eof:
        raise InputError(f"{source}: a corrupt or truncated gzip file (it ends early)")
    return raw


def read_tgz(data: bytes, source: str, *, limit: int = MAX_ARCHIVE_BYTES,
             max_members: int = MAX_ARCHIVE_MEMBERS) -> dict[str, bytes]:
    """The regular members of a ``.tgz`` given as bytes, by name.

    The gzip stream is inflated with a cap of ``limit`` bytes first, so every tar header
    (pax, GNU long name) and member is bounded by it; a member that is not a plain file
    with a relative name, a name given twice, or more than ``max_members`` members are
    refused. Raises :class:`InputError` naming ``source``.
    """
    raw = _inflate(data, source, limit)
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for count, info in enumerate(tar, start=1):
                if count > max_members:
                    raise InputError(f"{source}: more than {max_members} members "
                                     "(MAX_ARCHIVE_MEMBERS)")
                name = info.name
                parts = PurePosixPath(name).parts
                if not info.isfile() or name.startswith("/") or ".." in parts \
                        or "\0" in name or _SURROGATE.search(name):
                    raise InputError(f"{source}: member {name!r} is not a plain file with "
                                     "a relative name")
                if name in members:
                    raise InputError(f"{source}: member {name} appears twice")
                fh = tar.extractfile(info)
                assert fh is not None  # a regular file always has data
                members[name] = fh.read()
    except (tarfile.TarError, EOFError, UnicodeError) as exc:
        raise InputError(f"{source}: not a valid tar archive, or a corrupt or truncated "
                         f"one ({exc})") from None
    return members


def read_text(path: str, *, what: str = "file", utf16: bool = False) -> str:
    """:func:`read_bytes` then :func:`decode_text`."""
    return decode_text(read_bytes(path, what=what), path, utf16=utf16, what=what)
