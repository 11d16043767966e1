"""vAPI values on the wire: the type language, JSON-RPC and REST codecs, and errors.

The official vSphere Automation SDK speaks **vAPI JSON-RPC 2.0**: every value is typed on
the wire (``{"STRUCTURE": {"<qualified name>": {...}}}``, ``{"OPTIONAL": x}``,
``{"BINARY": "<base64>"}``, ``{"SECRET": "..."}``, errors ``{"ERROR": {...}}``); the REST
mapping (``/api/...``) carries the same values as plain JSON (structures as objects, unset
optionals omitted, blobs as base64 strings, maps as objects). One :class:`VType` describes a
value once and decodes/encodes it for both protocols, so an operation is declared once in
:mod:`vtalab.server.services` and served on both.

Decoding a client's value raises :class:`BadValue` naming the field path
(``spec.state``); the dispatcher turns it into ``com.vmware.vapi.std.errors.invalid_argument``.
As the real endpoint does, unknown enum strings and extra structure fields are accepted
(and ignored); a bare value where an optional is expected, or a plain object where a
structure is expected, is refused (see ``shared/reference/vapi-protocol.md``).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "BadValue", "Blob", "Bool", "DateTime", "Double", "Enum", "Id", "Int", "List",
    "LocalizableMessage", "Map", "Opaque", "Opt", "REST_STATUS", "Secret", "Str", "Struct",
    "Typed", "VType", "VapiError", "Void", "message",
]


class BadValue(Exception):
    """A client's value does not fit its declared type (``path`` names the field)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        keys = list(value)[:1]
        return f"an object ({keys[0]!r} ...)" if keys else "an empty object"
    return type(value).__name__


class VType:
    """One vAPI type. ``rpc_*`` is the JSON-RPC form, ``rest_*`` the REST form."""

    name = "value"

    def rpc_in(self, raw: Any, path: str) -> Any:
        raise NotImplementedError

    def rpc_out(self, value: Any) -> Any:
        raise NotImplementedError

    def rest_in(self, raw: Any, path: str) -> Any:
        return self.rpc_in(raw, path)

    def rest_out(self, value: Any) -> Any:
        return self.rpc_out(value)

    def describe(self) -> str:
        return self.name


class _Primitive(VType):
    def check(self, raw: Any, path: str) -> Any:
        raise NotImplementedError

    def rpc_in(self, raw: Any, path: str) -> Any:
        return self.check(raw, path)

    def rpc_out(self, value: Any) -> Any:
        return value


class _Str(_Primitive):
    name = "string"

    def check(self, raw: Any, path: str) -> Any:
        if not isinstance(raw, str):
            raise BadValue(path, f"expected {self.describe()}, got {_kind(raw)}")
        if len(raw) > 65536:
            raise BadValue(path, f"{self.describe()} longer than 65536 characters")
        return raw


class _Id(_Str):
    name = "identifier"


class _Int(_Primitive):
    name = "integer"

    def check(self, raw: Any, path: str) -> Any:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise BadValue(path, f"expected an integer, got {_kind(raw)}")
        if not -(2 ** 63) <= raw < 2 ** 63:
            raise BadValue(path, "integer out of the 64-bit range")
        return raw


class _Bool(_Primitive):
    name = "boolean"

    def check(self, raw: Any, path: str) -> Any:
        if not isinstance(raw, bool):
            raise BadValue(path, f"expected a boolean, got {_kind(raw)}")
        return raw


class _Double(_Primitive):
    name = "double"

    def check(self, raw: Any, path: str) -> Any:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise BadValue(path, f"expected a number, got {_kind(raw)}")
        if isinstance(raw, float) and not math.isfinite(raw):
            raise BadValue(path, "expected a finite number")
        return float(raw)


_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?"
                      r"(Z|[+-]\d{2}:\d{2})$")


class _DateTime(VType):
    name = "date-time (RFC 3339, e.g. 2026-01-05T08:00:00.000Z)"

    def rpc_in(self, raw: Any, path: str) -> Any:
        if not isinstance(raw, str) or not _RFC3339.match(raw):
            raise BadValue(path, f"expected a {self.name}, got {_kind(raw)}")
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadValue(path, f"invalid date-time {raw!r}: {exc}") from None

    def rpc_out(self, value: Any) -> Any:
        when: datetime = value
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{when.microsecond // 1000:03d}Z"


class _Blob(VType):
    name = "binary"

    def rpc_in(self, raw: Any, path: str) -> Any:
        if not isinstance(raw, dict) or set(raw) != {"BINARY"}:
            raise BadValue(path, f'expected {{"BINARY": "<base64>"}}, got {_kind(raw)}')
        return self.rest_in(raw["BINARY"], path)

    def rpc_out(self, value: Any) -> Any:
        return {"BINARY": base64.b64encode(value).decode("ascii")}

    def rest_in(self, raw: Any, path: str) -> Any:
        if isinstance(raw, bytes):  # multipart upload
            return raw
        if not isinstance(raw, str):
            raise BadValue(path, f"expected base64 text, got {_kind(raw)}")
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadValue(path, "expected base64 text (not valid base64)") from None

    def rest_out(self, value: Any) -> Any:
        return base64.b64encode(value).decode("ascii")


class _Secret(VType):
    name = "secret"

    def rpc_in(self, raw: Any, path: str) -> Any:
        if isinstance(raw, dict) and set(raw) == {"SECRET"} and isinstance(raw["SECRET"], str):
            return raw["SECRET"]
        raise BadValue(path, f'expected {{"SECRET": "..."}}, got {_kind(raw)}')

    def rpc_out(self, value: Any) -> Any:
        return {"SECRET": value}

    def rest_in(self, raw: Any, path: str) -> Any:
        return Str.check(raw, path)

    def rest_out(self, value: Any) -> Any:
        return value


class _Void(VType):
    name = "void"

    def rpc_in(self, raw: Any, path: str) -> Any:
        return None

    def rpc_out(self, value: Any) -> Any:
        return None


Str, Id, Int, Bool, Double = _Str(), _Id(), _Int(), _Bool(), _Double()
DateTime, Blob, Secret, Void = _DateTime(), _Blob(), _Secret(), _Void()


@dataclass(frozen=True, eq=False)
class Enum(VType):
    type_name: str
    values: tuple[str, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(self.values)

    def rpc_in(self, raw: Any, path: str) -> Any:
        if not isinstance(raw, str):
            raise BadValue(path, f"expected {self.describe()}, got {_kind(raw)}")
        return raw  # unknown values are accepted, as the real endpoint does

    def rpc_out(self, value: Any) -> Any:
        return value


@dataclass(frozen=True, eq=False)
class Opt(VType):
    element: VType

    def describe(self) -> str:
        return f"optional {self.element.describe()}"

    def rpc_in(self, raw: Any, path: str) -> Any:
        if not isinstance(raw, dict) or set(raw) != {"OPTIONAL"}:
            raise BadValue(path, f'expected {{"OPTIONAL": ...}} ({self.describe()}), '
                                 f"got {_kind(raw)}")
        inner = raw["OPTIONAL"]
        return None if inner is None else self.element.rpc_in(inner, path)

    def rpc_out(self, value: Any) -> Any:
        return {"OPTIONAL": None if value is None else self.element.rpc_out(value)}

    def rest_in(self, raw: Any, path: str) -> Any:
        return None if raw is None else self.element.rest_in(raw, path)

    def rest_out(self, value: Any) -> Any:
        return None if value is None else self.element.rest_out(value)


@dataclass(frozen=True, eq=False)
class List(VType):
    element: VType
    limit: int = 10000

    def describe(self) -> str:
        return f"list of {self.element.describe()}"

    def _items(self, raw: Any, path: str) -> list[Any]:
        if not isinstance(raw, list):
            raise BadValue(path, f"expected a {self.describe()}, got {_kind(raw)}")
        if len(raw) > self.limit:
            raise BadValue(path, f"more than {self.limit} items")
        return raw

    def rpc_in(self, raw: Any, path: str) -> Any:
        return [self.element.rpc_in(x, f"{path}[{i}]") for i, x in
                enumerate(self._items(raw, path))]

    def rpc_out(self, value: Any) -> Any:
        return [self.element.rpc_out(x) for x in value]

    def rest_in(self, raw: Any, path: str) -> Any:
        return [self.element.rest_in(x, f"{path}[{i}]") for i, x in
                enumerate(self._items(raw, path))]

    def rest_out(self, value: Any) -> Any:
        return [self.element.rest_out(x) for x in value]


@dataclass(frozen=True, eq=False)
class Map(VType):
    key: VType
    value: VType

    def describe(self) -> str:
        return f"map of {self.key.describe()} to {self.value.describe()}"

    def rpc_in(self, raw: Any, path: str) -> Any:
        entries = List(Struct("map-entry", {"key": self.key, "value": self.value}))
        return {e["key"]: e["value"] for e in entries.rpc_in(raw, path)}

    def rpc_out(self, value: Any) -> Any:
        return [{"STRUCTURE": {"map-entry": {"key": self.key.rpc_out(k),
                                             "value": self.value.rpc_out(v)}}}
                for k, v in value.items()]

    def rest_in(self, raw: Any, path: str) -> Any:
        if not isinstance(raw, dict):
            raise BadValue(path, f"expected an object ({self.describe()}), got {_kind(raw)}")
        return {self.key.rest_in(k, path): self.value.rest_in(v, _join(path, str(k)))
                for k, v in raw.items()}

    def rest_out(self, value: Any) -> Any:
        return {str(self.key.rest_out(k)): self.value.rest_out(v) for k, v in value.items()}


@dataclass(frozen=True, eq=False)
class Struct(VType):
    """A structure; its Python value is a dict with every field (unset optionals None)."""

    type_name: str
    fields: dict[str, VType] = field(default_factory=dict)

    def describe(self) -> str:
        return f"structure {self.type_name}"

    def rpc_in(self, raw: Any, path: str) -> Any:
        if (not isinstance(raw, dict) or set(raw) != {"STRUCTURE"}
                or not isinstance(raw["STRUCTURE"], dict) or len(raw["STRUCTURE"]) != 1):
            raise BadValue(path, f'expected {{"STRUCTURE": {{"{self.type_name}": {{...}}}}}}, '
                                 f"got {_kind(raw)}")
        ((_name, body),) = raw["STRUCTURE"].items()
        if not isinstance(body, dict):
            raise BadValue(path, f"the fields of {self.type_name} must be an object")
        return self._fields_in(body, path, rest=False)

    def rest_in(self, raw: Any, path: str) -> Any:
        if not isinstance(raw, dict):
            raise BadValue(path, f"expected an object ({self.describe()}), got {_kind(raw)}")
        return self._fields_in(raw, path, rest=True)

    def _fields_in(self, body: dict[str, Any], path: str, *, rest: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, ftype in self.fields.items():
            where = _join(path, name)
            if name not in body or (rest and body[name] is None):
                if not isinstance(ftype, Opt):
                    raise BadValue(where, f"missing required field ({ftype.describe()})")
                out[name] = None
                continue
            out[name] = ftype.rest_in(body[name], where) if rest else \
                ftype.rpc_in(body[name], where)
        return out  # extra fields are ignored, as the real endpoint does

    def rpc_out(self, value: Any) -> Any:
        return {"STRUCTURE": {self.type_name: {
            n: t.rpc_out(value.get(n)) for n, t in self.fields.items()}}}

    def rest_out(self, value: Any) -> Any:
        out = {}
        for n, t in self.fields.items():
            v = value.get(n)
            if v is None and isinstance(t, Opt):
                continue
            out[n] = t.rest_out(v)
        return out


@dataclass(frozen=True)
class Typed:
    """A value with its type, for ``Opaque`` fields (a task's ``result``)."""

    type: VType
    value: Any


class _Opaque(VType):
    name = "opaque"

    def rpc_in(self, raw: Any, path: str) -> Any:
        raise BadValue(path, "opaque values are output only")

    def rpc_out(self, value: Any) -> Any:
        typed: Typed = value
        return typed.type.rpc_out(typed.value)

    def rest_out(self, value: Any) -> Any:
        typed: Typed = value
        return typed.type.rest_out(typed.value)


Opaque = _Opaque()

LocalizableMessage = Struct("com.vmware.vapi.std.localizable_message", {
    "id": Str, "default_message": Str, "args": List(Str),
    "params": Opt(Map(Str, Struct("com.vmware.vapi.std.localization_param", {}))),
    "localized": Opt(Str)})


def message(msg_id: str, text: str, *args: str) -> dict[str, Any]:
    """A localizable message (its ``id`` names the message in VMware's catalogue style)."""
    return {"id": msg_id, "default_message": text, "args": list(args), "params": None,
            "localized": None}


#: REST status per vAPI error (the vAPI REST mapping, as the SDK's REST layer reads it).
REST_STATUS = {
    "already_exists": 400, "already_in_desired_state": 400, "feature_in_use": 400,
    "internal_server_error": 500, "invalid_argument": 400, "invalid_element_configuration": 400,
    "invalid_element_type": 400, "invalid_request": 400, "not_found": 404,
    "not_allowed_in_current_state": 400, "operation_not_found": 404, "resource_busy": 400,
    "resource_in_use": 400, "resource_inaccessible": 400, "concurrent_change": 409,
    "service_unavailable": 503, "timed_out": 504, "unable_to_allocate_resource": 400,
    "unauthenticated": 401, "unauthorized": 403, "unexpected_input": 400, "unsupported": 400,
    "error": 500, "canceled": 500,
}


class VapiError(Exception):
    """A ``com.vmware.vapi.std.errors.<kind>`` error, as an operation's result."""

    def __init__(self, kind: str, text: str, *, msg_id: str | None = None,
                 args: tuple[str, ...] = ()) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text
        self.msg_id = msg_id or f"vtalab.api.{kind}"
        self.args_ = args

    @property
    def type_name(self) -> str:
        return f"com.vmware.vapi.std.errors.{self.kind}"

    @property
    def error_type(self) -> str:
        return self.kind.upper()

    def messages(self) -> list[dict[str, Any]]:
        return [message(self.msg_id, self.text, *self.args_)]

    def rpc_out(self) -> dict[str, Any]:
        return {"ERROR": {self.type_name: {
            "messages": [LocalizableMessage.rpc_out(m) for m in self.messages()],
            "data": {"OPTIONAL": None},
            "error_type": {"OPTIONAL": self.error_type}}}}

    def rest_out(self) -> dict[str, Any]:
        return {"error_type": self.error_type,
                "messages": [LocalizableMessage.rest_out(m) for m in self.messages()]}

    @property
    def rest_status(self) -> int:
        return REST_STATUS.get(self.kind, 500)


class _AnyError(VType):
    name = "error"

    def rpc_in(self, raw: Any, path: str) -> Any:
        raise BadValue(path, "errors are output only")

    def rpc_out(self, value: Any) -> Any:
        err: VapiError = value
        return err.rpc_out()

    def rest_out(self, value: Any) -> Any:
        err: VapiError = value
        return err.rest_out()


AnyError = _AnyError()
