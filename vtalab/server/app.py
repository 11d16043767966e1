"""The HTTP side: one Starlette app per vCenter, both protocols over one service table.

* ``POST /api`` -- vAPI JSON-RPC 2.0, what the official SDK sends
  (``{"jsonrpc": "2.0", "method": "invoke", "params": {"serviceId", "operationId",
  "input", "ctx": {"securityCtx": ...}}}``). Envelope errors are JSON-RPC errors
  (-32700 parse error, -32600 invalid request, -32601 method not found, -32602 a value
  that is not vAPI typed JSON); everything else is a ``result.output`` or a
  ``result.error`` (``com.vmware.vapi.std.errors.*``), always HTTP 200.
* ``/api/...`` -- the REST mapping: ``POST /api/session`` with Basic auth, the
  ``vmware-api-session-id`` header, ``?action=`` and ``?vmw-task=true``; errors are HTTP
  statuses with ``{"error_type", "messages"}`` bodies.
* ``GET /hosts/{host}/boot_imgdb.tgz`` -- the stand-in for ``https://<esxi>/boot_imgdb.tgz``
  (session header or Basic auth); the Quick Boot notice rides in the
  ``X-Vtalab-Quick-Boot-Notice`` header and goes to the server log.
* ``/ui`` -- the web console, when :mod:`vtalab.server.console` exists and ``ui`` is set.

Bodies are bounded (``Limits.max_body_bytes``), JSON nesting is bounded, and no exception
ever reaches a client: an internal error becomes ``com.vmware.vapi.std.errors.error``
carrying an id, with the traceback in the server log.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import logging
import re
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from vtalab.core import files
from vtalab.server import lab_api  # noqa: F401 - the console's lab reads join the table
from vtalab.server.lab import Call, Reply, ServedLab, invalid_argument
from vtalab.server.services import TABLE, Operation
from vtalab.server.vapi import BadValue, Bool, Double, Int, List, Opt, Struct, VapiError

__all__ = ["SESSION_HEADER", "create_app"]

log = logging.getLogger("vtalab.serve")

SESSION_HEADER = "vmware-api-session-id"
NOTICE_HEADER = "X-Vtalab-Quick-Boot-Notice"
_TAGS = {"BINARY", "SECRET", "ERROR", "STRUCTURE", "OPTIONAL"}
_MAX_DEPTH = 64
#: A ``\\uD800``-``\\uDFFF`` escape not part of a surrogate pair (a candidate: an escaped
#: backslash before ``u`` also matches, so a match is confirmed by encoding the value).
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


class _TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isascii() and length.isdecimal() and (
            len(length) > 18 or int(length) > limit):  # 19 digits exceed any limit
        raise _TooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _wellformed(value: Any, path: str, depth: int = 0) -> str | None:
    """Why ``value`` is not vAPI typed JSON (as the runtime's JSON-RPC reader checks)."""
    if depth > _MAX_DEPTH:
        return f"{path or 'input'}: nested deeper than {_MAX_DEPTH} levels"
    if isinstance(value, list):
        for i, item in enumerate(value):
            why = _wellformed(item, f"{path}[{i}]", depth + 1)
            if why:
                return why
        return None
    if not isinstance(value, dict):
        return None
    if len(value) != 1 or next(iter(value)) not in _TAGS:
        keys = ", ".join(list(map(str, value))[:3]) or "no key"
        return (f"{path or 'input'}: an object must have exactly one of "
                f"{', '.join(sorted(_TAGS))} (got {keys}); structures are written "
                '{"STRUCTURE": {"<name>": {...}}}')
    ((tag, inner),) = value.items()
    if tag in ("STRUCTURE", "ERROR"):
        if not isinstance(inner, dict) or len(inner) != 1:
            return f"{path or 'input'}: {tag} must map one type name to its fields"
        ((_, fields),) = inner.items()
        if not isinstance(fields, dict):
            return f"{path or 'input'}: the fields of a {tag} must be an object"
        for k, v in fields.items():
            why = _wellformed(v, f"{path}.{k}" if path else str(k), depth + 1)
            if why:
                return why
        return None
    if tag == "OPTIONAL":
        return None if inner is None else _wellformed(inner, path, depth + 1)
    if tag in ("BINARY", "SECRET") and not isinstance(inner, str):
        return f"{path or 'input'}: {tag} must be a string"
    return None


def _loads(body: bytes) -> Any:
    """The JSON document of a request body; ``ValueError`` if it is not JSON text.

    Python's reader accepts a lone UTF-16 surrogate escape (``"\\ud800"``), which is not
    a Unicode character: no reply echoing it could be encoded (it was an internal error).
    RFC 8259 leaves such text's behaviour unpredictable; it is refused here as not JSON."""
    doc = files.loads(body)  # a too-long integer: JSONNumberError (field, offset, limit)
    for m in _LONE_SURROGATE.finditer(body):
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{m.group().decode('ascii')} at char {m.start()} is a lone "
                             "UTF-16 surrogate, not a Unicode character") from None
        except RecursionError:
            pass  # deeper than the encoder goes: the nesting check refuses it later
        break
    return doc


# -- JSON-RPC ---------------------------------------------------------------------------------
def _rpc_error(rid: Any, code: int, text: str, data: Any = None) -> JSONResponse:
    err: dict[str, Any] = {"code": code, "message": text}
    if data is not None:
        err["data"] = data
    return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": err})


_RPC_CODES = {"parse": (-32700, "Parse error"), "request": (-32600, "Invalid Request"),
              "method": (-32601, "Method not found"), "params": (-32602, "Invalid params")}


def _rpc_reject(lab: ServedLab, side: str, rid: Any, code: str, text: str,
                service: str = "", operation: str = "") -> JSONResponse:
    """Record a request refused at the envelope and answer with a JSON-RPC error."""
    lab.invoke(Call(side, service, operation, proto="rpc",
                    bad=VapiError("invalid_request", f"{_RPC_CODES[code][1]}: {text}")))
    number, title = _RPC_CODES[code]
    return _rpc_error(rid, number, title, data=text)


def _security(ctx: Any) -> tuple[str | None, tuple[str, str] | None]:
    if not isinstance(ctx, dict):
        return None, None
    sec = ctx.get("securityCtx")
    if not isinstance(sec, dict):
        return None, None
    scheme = sec.get("schemeId")
    if scheme == "com.vmware.vapi.std.security.session_id" and isinstance(
            sec.get("sessionId"), str):
        return sec["sessionId"], None
    if scheme == "com.vmware.vapi.std.security.user_pass" and isinstance(
            sec.get("userName"), str) and isinstance(sec.get("password"), str):
        return None, (sec["userName"], sec["password"])
    return None, None


def _rpc_handler(lab: ServedLab, side: str) -> Any:
    async def handle(request: Request) -> Response:
        try:
            body = await _body(request, lab.limits.max_body_bytes)
        except _TooLarge:
            return _too_large(lab, side, "rpc")
        try:
            doc = _loads(body)
        except files.JSONNumberError as exc:  # JSON, but not a value the server reads
            return _rpc_reject(lab, side, None, "parse", f"the body: {exc}"[:300])
        except (ValueError, RecursionError) as exc:
            return _rpc_reject(lab, side, None, "parse", f"the body is not JSON: {exc}"[:300])
        rid = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(rid, str | int | type(None)) or isinstance(rid, bool):
            rid = None
        if not isinstance(doc, dict) or doc.get("jsonrpc") != "2.0":
            return _rpc_reject(lab, side, rid, "request",
                               'the body must be a JSON-RPC 2.0 object ("jsonrpc": "2.0")')
        if doc.get("method") != "invoke":
            return _rpc_reject(lab, side, rid, "method",
                               f"method {str(doc.get('method'))[:100]!r}: only 'invoke' exists")
        params = doc.get("params")
        if not isinstance(params, dict):
            return _rpc_reject(lab, side, rid, "params", "params must be an object")
        service, operation = params.get("serviceId"), params.get("operationId")
        if not isinstance(service, str) or not isinstance(operation, str):
            return _rpc_reject(lab, side, rid, "params",
                               "params.serviceId and params.operationId must be strings")
        service, operation = service[:300], operation[:100]
        raw = params.get("input", {"STRUCTURE": {"operation-input": {}}})
        why = _wellformed(raw, "")
        if why:
            return _rpc_reject(lab, side, rid, "params", why, service, operation)
        session, login = _security(params.get("ctx"))
        if session is None:
            session = request.headers.get(SESSION_HEADER)
        call = Call(side, service, operation, proto="rpc", session=session, login=login)
        op = TABLE.get((service, operation))
        if op is not None:
            try:
                call.input = op.input.rpc_in(raw, "")
            except BadValue as exc:
                call.bad = invalid_argument(exc)
        reply = lab.invoke(call)
        return JSONResponse({"jsonrpc": "2.0", "id": rid, "result": _rpc_result(reply)})

    return handle


def _rpc_result(reply: Reply) -> dict[str, Any]:
    if reply.error is not None:
        return {"error": reply.error.rpc_out()}
    assert reply.op is not None
    return {"output": reply.op.output.rpc_out(reply.output)}


def _too_large(lab: ServedLab, side: str, proto: str) -> Response:
    err = VapiError("invalid_request", f"request body larger than "
                    f"{lab.limits.max_body_bytes} bytes", msg_id="vtalab.api.body.too_large")
    lab.invoke(Call(side, "", "", proto=proto, bad=err))
    return JSONResponse(err.rest_out(), status_code=413)


# -- REST -------------------------------------------------------------------------------------
class _RestRoute:
    def __init__(self, op: Operation) -> None:
        assert op.rest is not None
        self.op = op
        self.rest = op.rest
        pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(op.rest.path))
        self.regex = re.compile(f"^{pattern}$")


_ROUTES = [_RestRoute(op) for op in TABLE.values() if op.rest is not None]  # with lab_api's


def _match(method: str, path: str, action: str | None, task: bool
           ) -> tuple[_RestRoute | None, dict[str, str], bool]:
    """The route for a REST request; the bool says whether the path exists at all."""
    exists = False
    fallback: tuple[_RestRoute | None, dict[str, str]] = (None, {})
    for route in _ROUTES:
        m = route.regex.match(path)
        if not m:
            continue
        exists = True
        if route.rest.method != method or route.rest.action != action:
            continue
        params = {k: unquote(v) for k, v in m.groupdict().items()}
        if route.op.task == task:
            return route, params, True
        fallback = (route, params)
    return fallback[0], fallback[1], exists


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        text = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


def _rest_input(op: Operation, params: dict[str, str], request: Request, body: bytes
                ) -> dict[str, Any]:
    """Path, query and body into the operation's input, decoded by its types."""
    raw: dict[str, Any] = dict(params)
    fields = op.input.fields
    assert op.rest is not None
    body_field = op.rest.body
    # Query parameters: an input field, or a field of the one optional filter structure.
    filters = [n for n, t in fields.items()
               if isinstance(t, Opt) and isinstance(t.element, Struct) and n != body_field]
    for key in set(request.query_params.keys()) - {"action", "vmw-task"}:
        values = request.query_params.getlist(key)
        name = key.split(".", 1)[-1]
        target: dict[str, Any] | None = None
        ftype: Any = None
        head, _, tail = key.partition(".")
        outer = fields.get(head)
        outer = outer.element if isinstance(outer, Opt) else outer
        if key in fields and key not in params:
            target, ftype = raw, fields[key]
            name = key
        elif tail and isinstance(outer, Struct) and tail in outer.fields \
                and head not in params and head != body_field:
            # a structure input in the query: ?address.hostname=...&address.port=...
            nested = raw.setdefault(head, {})
            target, ftype, name = (nested, outer.fields[tail], tail) \
                if isinstance(nested, dict) else (None, None, tail)
        else:
            for f in filters:
                struct = fields[f].element  # type: ignore[attr-defined]
                if name in struct.fields:
                    target = raw.setdefault(f, {})
                    ftype = struct.fields[name]
                    break
        if target is None:
            continue  # unknown query parameters are ignored, as extra fields are
        inner = ftype.element if isinstance(ftype, Opt) else ftype
        if isinstance(inner, List):
            target[name] = values
        elif len(values) == 1:  # a query string is text: read it as the field's type
            v = values[0]
            if inner is Bool and v.lower() in ("true", "false"):
                target[name] = v.lower() == "true"
            elif inner is Int and v.lstrip("-").isascii() and v.lstrip("-").isdecimal():
                # ('²'.isdigit() but not a number: left a string, the type check names it)
                digits = len(v.lstrip("-"))
                if digits > files.MAX_INT_DIGITS:
                    raise VapiError("invalid_argument", f"query parameter {key[:100]}: an "
                                    f"integer of {digits:,} digits; at most "
                                    f"{files.MAX_INT_DIGITS:,} digits are read "
                                    "(MAX_INT_DIGITS)")
                target[name] = int(v)
            elif inner is Double:
                try:
                    target[name] = float(v)
                except ValueError:
                    target[name] = v  # the type check names the field
            else:
                target[name] = v
    if body_field is not None:
        raw[body_field] = _rest_body(body, request, body_field)
    elif body.strip():
        doc = _json(body)
        if isinstance(doc, dict):
            for k, v in doc.items():
                raw.setdefault(k, v)
    return op.input.rest_in(raw, "")


def _json(body: bytes) -> Any:
    try:
        return _loads(body)
    except files.JSONNumberError as exc:  # JSON, but not a value the server reads
        raise VapiError("invalid_argument", f"the body: {exc}"[:300]) from None
    except (ValueError, RecursionError) as exc:
        raise VapiError("invalid_request", f"the body is not JSON: {exc}"[:300]) from None


def _rest_body(body: bytes, request: Request, name: str) -> Any:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        return _multipart(body, request.headers.get("content-type", ""), name)
    if ctype in ("application/octet-stream", "application/gzip", "application/x-gzip",
                 "application/x-tar"):
        return body
    if not body.strip():
        raise BadValue(name, "missing request body")
    doc = _json(body)
    if isinstance(doc, dict) and name in doc and len(doc) == 1 and not isinstance(
            doc[name], dict):
        return doc[name]  # {"imgdb": "<base64>"}
    return doc


def _multipart(body: bytes, ctype: str, name: str) -> bytes:
    """The file part of a multipart upload (``curl -F imgdb=@boot_imgdb.tgz``).

    A small strict parser over the already-bounded body: one boundary, parts with
    headers, the part named ``name`` (or the only file part)."""
    m = re.search(r'boundary="?([^";]{1,200})"?', ctype)
    if not m:
        raise BadValue(name, "multipart body without a boundary")
    boundary = b"--" + m.group(1).encode("latin-1")
    pieces = body.split(boundary)
    if len(pieces) < 3 or len(pieces) > 64:
        raise BadValue(name, "malformed multipart body (expected 1 to 62 parts)")
    files: list[tuple[str | None, bytes]] = []
    for piece in pieces[1:-1]:
        if not piece.startswith(b"\r\n"):
            raise BadValue(name, "malformed multipart body (a boundary not followed by CRLF)")
        head, sep, content = piece[2:].partition(b"\r\n\r\n")
        if not sep or not content.endswith(b"\r\n"):
            raise BadValue(name, "malformed multipart part (no header/body separator)")
        headers = head.decode("latin-1").lower()
        part = re.search(r'name="([^"]{0,200})"', headers)
        files.append((part.group(1) if part else None, content[:-2]))
    for part_name, content in files:
        if part_name == name.lower():
            return content
    if len(files) == 1:
        return files[0][1]
    raise BadValue(name, f"multipart body has no part named {name!r}")


def _rest_handler(lab: ServedLab, side: str) -> Any:
    async def handle(request: Request) -> Response:
        path = "/" + request.path_params.get("path", "")
        method = request.method
        try:
            body = await _body(request, lab.limits.max_body_bytes)
        except _TooLarge:
            return _too_large(lab, side, "rest")
        action = request.query_params.get("action")
        task = request.query_params.get("vmw-task", "").lower() == "true"
        route, params, exists = _match(method, path, action, task)
        session = request.headers.get(SESSION_HEADER)
        login = _basic(request)
        if route is None:
            what = (f"{method} {path}" + (f"?action={action}" if action else ""))[:300]
            text = (f"no operation {what}" + (" (this path exists with another method or "
                                              "action)" if exists else ""))
            reply = lab.invoke(Call(side, "rest", what, proto="rest", session=session,
                                    bad=VapiError("operation_not_found", text)))
            return _rest_reply(reply, None)
        op = route.op
        call = Call(side, op.service, op.name, proto="rest", session=session, login=login)
        try:
            call.input = _rest_input(op, params, request, body)
        except BadValue as exc:
            call.bad = invalid_argument(exc)
        except VapiError as exc:
            call.bad = exc
        except Exception as exc:  # a decoding bug: an id, never a traceback
            call.bad = lab.internal_error(exc, lab.requests)
        reply = lab.invoke(call)
        if op.task and not task and reply.error is None:
            return _rest_wait(lab, reply)
        return _rest_reply(reply, op)

    return handle


def _rest_reply(reply: Reply, op: Operation | None) -> Response:
    if reply.error is not None:
        return JSONResponse(reply.error.rest_out(), status_code=reply.error.rest_status)
    assert op is not None
    value = op.output.rest_out(reply.output)
    if op.login:
        return JSONResponse(value, status_code=201)
    if value is None:
        return Response(status_code=204)
    return JSONResponse(value)


def _rest_wait(lab: ServedLab, reply: Reply) -> Response:
    """A task operation called without ``?vmw-task=true``: its result if it finished in
    the instant it started, else the task id with 202 (poll /api/cis/tasks/{task})."""
    task = lab.tasks.get(reply.output)
    if task is None or task.status == "RUNNING":
        return JSONResponse(reply.output, status_code=202)
    if task.error is not None:
        return JSONResponse(task.error.rest_out(), status_code=task.error.rest_status)
    if task.result is None or task.result.value is None:
        return Response(status_code=204)
    return JSONResponse(task.result.type.rest_out(task.result.value))


# -- the host download ----------------------------------------------------------------------
def _imgdb_handler(lab: ServedLab, side: str) -> Any:
    async def handle(request: Request) -> Response:
        host = request.path_params["host"][:200]
        call = Call(side, "vtalab.hosts", "export_imgdb", {"host": host}, proto="rest",
                    session=request.headers.get(SESSION_HEADER), login=_basic(request))
        reply = lab.invoke(call)
        if reply.error is not None:
            return JSONResponse(reply.error.rest_out(), status_code=reply.error.rest_status)
        out = reply.output
        headers = {"Content-Disposition": 'attachment; filename="boot_imgdb.tgz"',
                   "X-Vtalab-Image-Version": out["version"]}
        if out["notice"]:
            log.warning("%s: %s", host, out["notice"])
            headers[NOTICE_HEADER] = out["notice"].encode("ascii", "replace").decode("ascii")
        return Response(out["data"], media_type="application/gzip", headers=headers)

    return handle


# -- the app --------------------------------------------------------------------------------
def _guard(handler: Any, lab: ServedLab) -> Any:
    """The last line: an exception in the HTTP layer becomes a vAPI error with an id."""
    async def guarded(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except Exception as exc:
            with lab.lock:
                err = lab.internal_error(exc, lab.requests)
            if request.url.path == "/api" and request.method == "POST":
                return JSONResponse({"jsonrpc": "2.0", "id": None,
                                     "result": {"error": err.rpc_out()}})
            return JSONResponse(err.rest_out(), status_code=500)

    return guarded


def create_app(lab: ServedLab, side: str, *, ui: bool = False) -> Starlette:
    """The ASGI app of one vCenter (``side`` is ``ta`` or ``workload``) of ``lab``."""
    if side not in ("ta", "workload"):
        raise ValueError(f"side must be 'ta' or 'workload', not {side!r}")

    async def root(request: Request) -> Response:
        name = lab.vcenter_name(side)
        role = "Trust Authority" if side == "ta" else "workload"
        return PlainTextResponse(
            f"vtalab: {name}, the {role} vCenter of lab {lab.scenario.name!r}\n"
            "vAPI JSON-RPC: POST /api   REST: /api/session, /api/vcenter/...   "
            "lab: /api/vtalab/lab, /api/vtalab/clock   docs: docs/serve.md\n")

    async def nowhere(request: Request) -> Response:
        what = f"{request.method} {request.url.path}"[:300]
        err = VapiError("operation_not_found", f"no operation {what} (the API is under "
                        "/api; the host download is GET /hosts/{host}/boot_imgdb.tgz)")
        return JSONResponse(err.rest_out(), status_code=404)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"]
    routes: list[BaseRoute] = [
        Route("/", root, methods=["GET"]),
        Route("/api", _guard(_rpc_handler(lab, side), lab), methods=["POST"]),
        Route("/hosts/{host}/boot_imgdb.tgz", _guard(_imgdb_handler(lab, side), lab),
              methods=["GET"]),
        Route("/api/{path:path}", _guard(_rest_handler(lab, side), lab),
              methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
    ]
    if ui:
        try:
            console = importlib.import_module("vtalab.server.console")
        except ModuleNotFoundError as exc:
            if exc.name != "vtalab.server.console":
                raise
        else:
            routes.append(Mount("/ui", routes=console.routes(lab, side)))
    # Anything else (another path, another method): a vAPI error, never a bare 404/405.
    routes.append(Route("/{path:path}", nowhere, methods=methods))
    return Starlette(routes=routes)
