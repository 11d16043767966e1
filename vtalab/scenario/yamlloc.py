"""YAML with locations: every key and item remembers its line and column.

A person's scenario file is read once into plain Python values (dicts, lists, scalars)
plus a table of *marks*: for every path (``("steps", 3, "with", "host")``) the position of
the key (for mapping entries) and of the value. When pydantic, or a later check, rejects
something at a path, :meth:`Located.mark` maps it back to ``file:line:column`` so the
error can point at the exact spot. Lines and columns are 1-based, as editors show them.

Only YAML's safe subset is read (``yaml.SafeLoader``). Things PyYAML accepts silently but
that are almost always mistakes in a hand-written file are refused with a located
:class:`~vtalab.errors.ScenarioError`: a key given twice, a non-scalar key, an empty
document, recursive aliases, and documents that expand to an absurd size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vtalab.core import files
from vtalab.core.limits import MAX_NESTING, MAX_NODES
from vtalab.errors import ScenarioError

__all__ = ["LazyLocated", "Located", "Mark", "load_yaml", "load_yaml_file", "path_text"]

PathT = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based position in a text file."""

    line: int | None
    column: int | None


def path_text(path: Iterable[str | int]) -> str:
    """``steps.3.with.host`` for ``("steps", 3, "with", "host")``; ``(top level)`` if empty."""
    text = ".".join(str(p) for p in path)
    return text or "(top level)"


def _has(container: Any, part: Any) -> bool:
    """Whether ``container[part]`` is an entry of the document (dict key or list index)."""
    if isinstance(container, dict):
        return part in container
    return (isinstance(container, list) and isinstance(part, int)
            and not isinstance(part, bool) and 0 <= part < len(container))


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass
class Located:
    """A YAML document as plain values, with the position of every key and value."""

    data: Any
    file: str
    text: str
    value_marks: dict[PathT, Mark] = field(default_factory=dict)
    key_marks: dict[PathT, Mark] = field(default_factory=dict)

    def resolve(self, loc: Sequence[Any]) -> PathT:
        """The longest prefix of ``loc`` that exists in the data, as a clean path.

        Pydantic error locations may contain extra parts (union member tags such as
        ``'function-after[...]'`` or ``'int'``) that are not in the document: they are
        skipped, and so is a key the document lacks (for "missing" errors the mapping that
        lacks the key is the place to point at).
        """
        cur = self.data
        out: list[str | int] = []
        for part in loc:
            if _has(cur, part):
                out.append(part)
                cur = cur[part]
            elif isinstance(cur, list) and isinstance(part, str) and part.isdigit() \
                    and int(part) < len(cur):
                out.append(int(part))
                cur = cur[int(part)]
        return tuple(out)

    def exists(self, path: Sequence[Any]) -> bool:
        return tuple(path) in self.value_marks

    def mark(self, path: Sequence[Any], *, key: bool = False) -> Mark:
        """Where ``path`` is in the file: its key (``key=True``) or its value.

        Falls back to the nearest enclosing path that has a mark (at worst 1:1).
        """
        p = self.resolve(path)
        while True:
            if key and p in self.key_marks:
                return self.key_marks[p]
            if p in self.value_marks:
                return self.value_marks[p]
            if not p:
                return Mark(1, 1) if self.value_marks else Mark(None, None)
            p = p[:-1]

    def find_scalar(self, prefix: Sequence[Any], value: Any) -> PathT | None:
        """The last path under ``prefix`` whose value equals ``value`` (for errors that name
        a bad value but not where it is, such as a duplicate host name)."""
        prefix = tuple(prefix)
        hits = [path for path in self.value_marks
                if path[: len(prefix)] == prefix and path != prefix
                and not isinstance(self.get(path), dict | list) and self.get(path) == value]
        if not hits:
            return None
        names = [p for p in hits if p and p[-1] == "name"]  # prefer a name: field
        m = self.value_marks
        return max(names or hits, key=lambda p: (m[p].line or 0, m[p].column or 0))

    def get(self, path: Sequence[Any], default: Any = None) -> Any:
        cur = self.data
        for part in path:
            if _has(cur, part):
                cur = cur[part]
            else:
                return default
        return cur

    def error(self, path: Sequence[Any], message: str, *, key: bool = False,
              **kw: Any) -> ScenarioError:
        """A :class:`ScenarioError` located at ``path`` (not raised)."""
        m = self.mark(path, key=key)
        return ScenarioError(message, file=self.file, line=m.line, column=m.column,
                             path=path_text(path), **kw)


class LazyLocated(Located):
    """A :class:`Located` without marks whose plain data is made by ``make()`` only when
    first read: a scenario built in code (no file) is dumped only if one of its problems
    has to be located, not every time it is checked and found fine (the plan checker
    checks every case it runs)."""

    def __init__(self, make: Callable[[], Any], file: str, text: str = "") -> None:
        self._make: Callable[[], Any] | None = make
        self._data: Any = None
        self.file, self.text = file, text
        self.value_marks, self.key_marks = {}, {}

    @property
    def data(self) -> Any:
        if self._make is not None:
            self._data, self._make = self._make(), None
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data, self._make = value, None


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than ``MAX_NESTING`` while composing (the
    composer recurses once per level: unbounded, ``[[[[...`` ends in a RecursionError),
    and a document with more than ``MAX_NODES`` values as soon as the composer meets the
    next one: a file of about 16 MB of small values would otherwise be parsed and composed
    whole (tens of seconds of CPU time) before :class:`_Builder` counted and refused it.

    Counted here as the builder counts: every value (the document, each item, each mapping
    value), not mapping keys; an alias is not a new node here and is counted by the builder
    each time it expands."""

    depth = 0
    nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                event = self.peek_event()
                m = event.start_mark
                raise ScenarioError(f"nested deeper than {MAX_NESTING} levels (MAX_NESTING)",
                                    file=self.name, line=m.line + 1, column=m.column + 1)
            if not (index is None and isinstance(parent, MappingNode)) \
                    and not self.check_event(yaml.AliasEvent):
                self.nodes += 1
                if self.nodes > MAX_NODES:
                    m = self.peek_event().start_mark
                    raise ScenarioError(f"the document has more than {MAX_NODES} values "
                                        "(MAX_NODES); this is the next one",
                                        file=self.name, line=m.line + 1, column=m.column + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_INT_TAG = "tag:yaml.org,2002:int"


class _Builder:
    """Turns a composed node tree into plain values, recording marks on the way."""

    def __init__(self, loader: yaml.SafeLoader, file: str, text: str) -> None:
        self.loader = loader
        self.located = Located(None, file, text)
        self.visited = 0
        self.stack: list[int] = []

    def fail(self, node: Node, message: str) -> ScenarioError:
        m = _mark(node)
        return ScenarioError(message, file=self.located.file, line=m.line, column=m.column)

    def _scalar(self, node: ScalarNode) -> Any:
        m = _mark(node)
        files.check_text(node.value, self.located.file, line=m.line, column=m.column)
        if node.tag == _INT_TAG:  # refused before Python's int() quotes its own limit
            digits = sum(c.isdigit() for c in node.value)
            if digits > files.MAX_INT_DIGITS:
                raise self.fail(node, f"an integer of {digits:,} digits; at most "
                                      f"{files.MAX_INT_DIGITS:,} digits are read "
                                      "(MAX_INT_DIGITS)")
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # e.g. a timestamp like 2020-13-45, a 5000-digit number
            shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            raise self.fail(node, f"cannot read the value {shown!r}: {exc}") from None

    def build(self, node: Node, path: PathT) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise self.fail(node, f"the document expands to more than {MAX_NODES} values "
                                  "(aliases nested too deeply?)")
        if len(path) > MAX_NESTING:  # aliases inside aliases can nest past the composer
            raise self.fail(node, f"nested deeper than {MAX_NESTING} levels (MAX_NESTING)")
        if id(node) in self.stack:
            raise self.fail(node, "an alias refers to itself (recursive YAML structure)")
        self.located.value_marks.setdefault(path, _mark(node))
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        self.stack.append(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                self.loader.flatten_mapping(node)  # resolves '<<' merge keys
                out: dict[Any, Any] = {}
                for key_node, value_node in node.value:
                    if not isinstance(key_node, ScalarNode):
                        raise self.fail(key_node, "a key must be a plain word, not a list "
                                                  "or a mapping")
                    key = self._scalar(key_node)
                    if isinstance(key, float | int) and not isinstance(key, bool):
                        key = key_node.value  # keep '1' or '1.0' as written
                    if not isinstance(key, str):
                        key = str(key_node.value)
                    if key in out:
                        first = self.located.key_marks[(*path, key)]
                        raise self.fail(key_node, f"key {key!r} is given twice (first at line "
                                                  f"{first.line}, column {first.column})")
                    self.located.key_marks[(*path, key)] = _mark(key_node)
                    out[key] = self.build(value_node, (*path, key))
                return out
        finally:
            self.stack.pop()
        raise self.fail(node, f"unsupported YAML node {type(node).__name__}")


def load_yaml(text: str, file: str = "<scenario>") -> Located:
    """Parse one YAML document, keeping the position of every key and value.

    Raises :class:`ScenarioError` (with the parser's line and column) for invalid YAML.
    """
    try:
        loader = _Loader(text)
        loader.name = file
        try:
            node = loader.get_single_node()
            if node is None:
                raise ScenarioError("the file is empty: a scenario is a YAML mapping "
                                    "(name, topology, steps, expect ...)", file=file,
                                    line=1, column=1)
            builder = _Builder(loader, file, text)
            builder.located.data = builder.build(node, ())
            return builder.located
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})"
        raise ScenarioError(f"invalid YAML: {problem}", file=file,
                            line=mark.line + 1 if mark else None,
                            column=mark.column + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        line, column = files.position(text, exc.position)
        c = exc.character
        char = c if isinstance(c, int) else ord(str(c)[:1] or "\0")
        raise ScenarioError(f"invalid YAML: {exc.reason} (character U+{char:04X})",
                            file=file, line=line, column=column) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        raise ScenarioError("invalid YAML: the document is nested too deeply",
                            file=file, line=1, column=1) from None


def load_yaml_file(path: str) -> Located:
    """Read ``path`` (UTF-8) and parse it with :func:`load_yaml`."""
    return load_yaml(read_text(path), file=path)


def read_text(path: str) -> str:
    """The text of a scenario file, or a :class:`ScenarioError` saying why it can't be read.

    Bounded (:func:`vtalab.core.files.read_bytes`: a regular file of at most
    ``MAX_INPUT_BYTES``), UTF-8, no lone surrogates."""
    return files.read_text(path)
