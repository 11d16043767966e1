"""JSON integers too long to convert (Python refuses more than 4300 digits): the vAPI
answer names the field, the place and the limit, never Python's
``sys.set_int_max_str_digits`` hint, and nothing is an internal error."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from servekit import TI, Rest

from vtalab.core.files import MAX_INT_DIGITS
from vtalab.server import Served

TAC = "com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters"
HUGE = "7" * (MAX_INT_DIGITS + 1)


@pytest.fixture
def api(served: Served, rest: Callable[[str], Rest]) -> Iterator[Rest]:
    yield rest("ta")


def test_a_huge_integer_in_a_json_rpc_body(api: Rest, served: Served) -> None:
    body = ('{"jsonrpc":"2.0","method":"invoke","id":"1","params":{"serviceId":"'
            + TAC + '","operationId":"list","input":{"STRUCTURE":{"operation-input":'
            '{"n":' + HUGE + '}}}}}').encode()
    r = api.client.post("/api", content=body)
    assert r.status_code == 200
    err = r.json()["error"]
    assert err["code"] == -32700, r.text
    data = err["data"]
    assert "set_int_max_str_digits" not in data
    at = body.index(HUGE.encode())
    assert f"field params.input.STRUCTURE.operation-input.n (char {at})" in data, data
    assert f"{MAX_INT_DIGITS + 1:,} digits" in data
    assert f"at most {MAX_INT_DIGITS:,} digits" in data
    assert served.lab.errors_logged == 0


def test_a_huge_integer_in_a_rest_body(api: Rest, served: Served) -> None:
    content = '{"verb":"Get-VMHost","arguments":{"name":[1, ' + HUGE + "]}}"
    r = api.request("POST", "/api/vtalab/verbs", content=content.encode(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error_type"] == "INVALID_ARGUMENT"
    text = body["messages"][0]["default_message"]
    assert "set_int_max_str_digits" not in text
    assert f"field arguments.name[1] (char {content.index(HUGE)})" in text, text
    assert f"at most {MAX_INT_DIGITS:,} digits" in text
    assert served.lab.errors_logged == 0


@pytest.mark.parametrize(("port", "error"), [
    (HUGE, f"query parameter address.port: an integer of {MAX_INT_DIGITS + 1:,} digits; at "
           f"most {MAX_INT_DIGITS:,} digits are read (MAX_INT_DIGITS)"),
    ("²", "invalid argument address.port: expected an integer, got a string")])
def test_a_query_integer_python_cannot_convert(served: Served,
                                               rest: Callable[[str], Rest], port: str,
                                               error: str) -> None:
    """Was an internal error (500) each: int() of 4301 digits, and of '²' (a digit to
    str.isdigit, not a number)."""
    api = rest("workload")
    r = api.get(f"{TI}/trusted-clusters/domain-c10/attestation/services-applied-config"
                f"?address.hostname=ta-esx-01&address.port={port}")
    assert r.status_code == 400, r.text
    assert r.json()["messages"][0]["default_message"] == error
    assert served.lab.errors_logged == 0
