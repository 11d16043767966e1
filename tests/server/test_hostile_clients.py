"""Hostile clients of ``vtalab serve`` found in a probing round: each answer is the vAPI
error a client can act on (never an internal error), and the session still replays."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from servekit import SCENARIO, TI, Rest

from vtalab.cli.app import main
from vtalab.server import Served

TAC = "com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters"
LONE = "\\ud800"  # a JSON escape: a lone UTF-16 surrogate (not a Unicode character)


@pytest.fixture
def api(served: Served, rest: Callable[[str], Rest]) -> Iterator[Rest]:
    yield rest("ta")


def _envelope(service: str, operation: str, sid: str, *, rid: str = "1") -> bytes:
    ctx = ('{"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id",'
           f'"sessionId":"{sid}"}}}}')
    return ('{"jsonrpc":"2.0","method":"invoke","id":"' + rid + '","params":{"serviceId":"'
            + service + '","operationId":"' + operation + '","input":{"STRUCTURE":'
            '{"operation-input":{}}},"ctx":' + ctx + "}}").encode()


def test_lone_surrogates_are_a_parse_error_not_an_internal_error(
        api: Rest, served: Served, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Python's JSON reader accepts ``"\\ud800"``; echoing it (an unknown service's name,
    the request id, a host name in a message) could not be encoded: internal error."""
    c, sid = api.client, api.sid
    for body in (_envelope(f"com.vmware.{LONE}", "list", sid),
                 _envelope(TAC, "list", sid, rid=LONE),
                 _envelope(TAC, "\\udfff", sid)):
        r = c.post("/api", content=body)
        assert r.status_code == 200
        err = r.json()["error"]
        assert err["code"] == -32700, r.text
        assert "lone UTF-16 surrogate" in err["data"] and "at char" in err["data"]
    # REST: a field echoed in the refusal.
    r = api.request("POST", "/api/vtalab/verbs",
                    content=b'{"verb":"Get-VMHost","arguments":{"name":"' + LONE.encode()
                    + b'"}}', headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    body: dict[str, Any] = r.json()
    assert body["error_type"] == "INVALID_REQUEST"
    assert "lone UTF-16 surrogate" in body["messages"][0]["default_message"]
    # A proper pair (U+1F600) and an escaped backslash before 'ud800' are fine.
    ok = _envelope(TAC, "list", sid, rid="\\ud83d\\ude00")
    assert "output" in c.post("/api", content=ok).json()["result"]
    ok = _envelope(TAC, "list", sid, rid="\\\\ud800")
    assert c.post("/api", content=ok).json()["id"] == "\\ud800"
    assert served.lab.errors_logged == 0
    # ... and the session with those refusals replays byte for byte.
    trace = tmp_path / "served.trace"
    trace.write_text(served.lab.trace_text(SCENARIO.name,
                                           SCENARIO.read_text(encoding="utf-8")),
                     encoding="ascii")
    assert main(["replay", str(trace)]) == 0
    assert capsys.readouterr().out.startswith("replay identical")
    assert api.get(f"{TI}/trust-authority-clusters").status_code == 200


@pytest.mark.parametrize("argv", [
    ["serve", str(SCENARIO), "--http", "--seed", "-1"],
    ["serve", "--exercise", "restart-kmxa", "--http", "--seed", "-1"],
    ["run", str(SCENARIO), "--seed", "-1"],
])
def test_a_negative_seed_is_refused_before_anything_runs(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: served (and recorded) with seed -1, and the trace then did not replay
    ('the trace header's ... seed an integer >= 0'); a scenario's seed is >= 0 too."""
    trace = tmp_path / "t.trace"
    assert main([*argv, "--trace", str(trace)]) == 2
    err = capsys.readouterr().err
    assert "--seed" in err and "got -1" in err and "Traceback" not in err
    assert not trace.exists()
