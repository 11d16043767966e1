"""Load: 50 concurrent clients x 200 requests against one served world -- no error, no
lost request, and the world's trace (every request in it) replays identically."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
from servekit import SCENARIO, TI, make_lab

from vtalab.core.trace import TraceEvent
from vtalab.server import start
from vtalab.server.replay import replay_served

CLIENTS, REQUESTS = 50, 200
BI_SERVICE = ("com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters."
              "attestation.os.esx.base_images")


def _list_images(sid: str) -> dict[str, object]:
    return {"jsonrpc": "2.0", "method": "invoke", "id": "1", "params": {
        "serviceId": BI_SERVICE, "operationId": "list$task",
        "input": {"STRUCTURE": {"operation-input": {"cluster": "domain-c8"}}},
        "ctx": {"securityCtx": {"schemeId": "com.vmware.vapi.std.security.session_id",
                                "sessionId": sid}}}}


class _Conn:
    """A lean keep-alive HTTP/1.1 client on asyncio streams (httpx would spend more CPU
    than the server on 10,000 requests sharing this process)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1",
                f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return int(status_line.split()[1]), data


async def _client(port: int, user: str, password: str, n: int, imgdb: bytes) -> list[int]:
    statuses = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    c = _Conn(reader, writer)
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    status, data = await c.request("POST", "/api/session",
                                   headers={"authorization": f"Basic {basic}"})
    statuses.append(status)
    sid = json.loads(data)
    h = {"vmware-api-session-id": sid, "content-type": "application/json"}
    rpc = json.dumps(_list_images(sid)).encode()
    upload = json.dumps(base64.b64encode(imgdb).decode()).encode()
    bi = f"{TI}/trust-authority-clusters/domain-c8/attestation/os/esx/base-images"
    for i in range(REQUESTS - 1):
        kind = (n + i) % 4
        if kind == 0:  # JSON-RPC read (a task), as the SDK sends it
            status, data = await c.request("POST", "/api", rpc, h)
            ok = status == 200 and "output" in json.loads(data)["result"]
        elif kind == 1:
            status, data = await c.request("GET", f"{TI}/trust-authority-clusters", b"", h)
            ok = status == 200 and json.loads(data)[0]["cluster"] == "domain-c8"
        elif kind == 2:
            status, data = await c.request("GET", "/api/vtalab/clock", b"", h)
            ok = status == 200
        else:  # an import: the first succeeds, the rest are AlreadyExists refusals
            status, data = await c.request(
                "POST", bi + "?action=import-from-imgdb&vmw-task=true", upload, h)
            ok = status == 200
        statuses.append(status if ok else -status)
    writer.close()
    await writer.wait_closed()
    return statuses


def test_fifty_clients_two_hundred_requests_each() -> None:
    lab = make_lab()
    with start(lab, http=True) as served:
        with httpx.Client(base_url=served.ta_url, trust_env=False) as c:
            imgdb = c.get("/hosts/esx-02/boot_imgdb.tgz",
                          auth=(lab.user, lab.password)).content
        before = lab.requests
        port = int(served.ta_url.rsplit(":", 1)[1])

        async def main() -> list[list[int]]:
            return await asyncio.gather(*[
                _client(port, lab.user, lab.password, n, imgdb)
                for n in range(CLIENTS)])

        results = asyncio.run(main())
    flat = [s for r in results for s in r]
    assert len(flat) == CLIENTS * REQUESTS
    assert all(s in (200, 201) for s in flat), sorted(set(flat))
    assert lab.requests - before == CLIENTS * REQUESTS  # every request was recorded
    replies = [e for e in lab.kernel.trace if e.kind == "api.reply"]
    assert len(replies) == lab.requests and all(e.fields["ok"] for e in replies)
    # The trace replays identically.
    text = lab.trace_text(SCENARIO.name, SCENARIO.read_text(encoding="utf-8"))
    lines = text.splitlines()
    header = json.loads(lines[0])
    recorded = [TraceEvent.from_json(line) for line in lines[1:-1]]
    again = replay_served(header, recorded, file="load.trace").world.kernel.trace
    assert again.digest() == json.loads(lines[-1])["sha256"]
