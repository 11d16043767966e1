"""`vtalab serve`'s log (helper brief H5, item 2): what a client sent cannot drive the
operator's terminal or forge a log line (tests/test_loose_ends.py has the other items)."""

from __future__ import annotations

import dataclasses
import io
import logging

import httpx
import pytest
from servekit import make_lab

from vtalab.cli.serve_log import VisibleFormatter, configure_logging
from vtalab.server import start
from vtalab.server.services import TABLE

FORGED = "esx-01\x1b[2J\r\n2026-12-07 08:00:00,000 ERROR vtalab.serve: forged"


def test_serve_log_escapes_a_client_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request whose host name (in the URL path) holds ESC, CR and LF: the server logs
    it (the boot_imgdb.tgz notice names the host as the client wrote it), and the log line
    shows them as escapes, on one line."""
    key = ("vtalab.hosts", "export_imgdb")

    def with_notice(*args: object) -> dict[str, object]:
        return {"data": b"x", "notice": "WARNING: \x1b]0;title\x07 quick-booted",
                "version": "8.0.2-22380479"}

    monkeypatch.setitem(TABLE, key, dataclasses.replace(TABLE[key], handler=with_notice))
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(stream)
    try:
        with start(make_lab(), http=True) as served:
            lab = served.lab
            with httpx.Client(base_url=served.url("ta"), trust_env=False, timeout=30) as c:
                r = c.get("/hosts/esx-01%1b[2J%0d%0a2026-12-07%2008:00:00,000%20ERROR"
                          "%20vtalab.serve:%20forged/boot_imgdb.tgz",
                          auth=(lab.user, lab.password))
        assert r.status_code == 200, r.text
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    # the client's own log (httpx, in this process) aside: the server's lines
    lines = [line for line in stream.getvalue().splitlines() if " httpx: " not in line]
    assert len(lines) == 1, stream.getvalue()  # no forged second line
    assert lines[0].endswith(r"WARNING vtalab.serve: esx-01\x1b[2J\r\n2026-12-07 08:00:00,000"
                             r" ERROR vtalab.serve: forged: WARNING: \x1b]0;title\x07 "
                             "quick-booted")
    assert "\x1b" not in stream.getvalue() and "\r" not in stream.getvalue()


def test_serve_log_traceback_lines_are_marked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(VisibleFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("vtalab.serve.test-loose-ends")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ValueError(f"no host {FORGED!s}")
        except ValueError:
            log.exception("request for %s failed", FORGED)
    finally:
        log.removeHandler(handler)
    out = stream.getvalue().splitlines()
    assert out[0] == r"ERROR request for esx-01\x1b[2J\r\n2026-12-07 08:00:00,000 ERROR " \
                     "vtalab.serve: forged failed"
    assert all(line.startswith("  | ") for line in out[1:]), out
    assert r"  | ValueError: no host esx-01\x1b[2J\r" in out
    assert not any(line.startswith("2026-12-07") for line in out)
