"""docs/serve.md's SDK example runs as written against a served lab (only the server
address is the test's own), and stays within 20 lines."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

from vtalab.server import Served

pytest.importorskip("com.vmware.vcenter.trusted_infrastructure_client")

DOC = Path(__file__).resolve().parents[2] / "docs" / "serve.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks, "docs/serve.md has no python example"
    return str(blocks[0])


def test_sdk_example_is_short() -> None:
    assert len(_example().strip().splitlines()) <= 20


def test_sdk_example_runs(served_https: Served) -> None:
    code = _example()
    lab = served_https.lab
    assert f'"{lab.user}", "{lab.password}"' in code  # the doc shows the seed's password
    code = code.replace('"127.0.0.1:8443"', repr(served_https.ta_url.split("://")[1]))
    out = io.StringIO()
    namespace: dict[str, object] = {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning (verify=False)
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
        client = namespace["client"]
        client.session_svc.delete()  # type: ignore[attr-defined]
        namespace["http"].close()  # type: ignore[attr-defined]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("FAILED") and "already exists" in lines[0]
    assert lines[1].startswith("8.0.1-21495797 2026-01-05")
