"""Memory stays flat however long a lab serves: the served trace streams to a file (only
a batch of events in memory), sessions and tasks are bounded, and the streamed file
replays bit for bit. Objects are counted, never seconds."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from servekit import SCENARIO, make_lab

from vtalab.cli.app import main
from vtalab.core.trace import Trace
from vtalab.server import Limits, ServedLab
from vtalab.server.lab import Call

BI = ("com.vmware.vcenter.trusted_infrastructure.trust_authority_clusters.attestation.os.esx."
      "base_images")


def _login(lab: ServedLab) -> str:
    reply = lab.invoke(Call("ta", "com.vmware.cis.session", "create",
                            login=(lab.user, lab.password)))
    assert reply.error is None, reply.error
    return str(reply.output)


def _requests(lab: ServedLab, sid: str, n: int) -> None:
    for i in range(n):
        reply = lab.invoke(Call("ta", BI, "list$task", {"cluster": "domain-c8", "spec": None},
                                session=sid))
        assert reply.error is None, reply.error
        got = lab.invoke(Call("ta", "com.vmware.cis.tasks", "get",
                              {"task": reply.output, "spec": None}, session=sid))
        assert got.error is None and got.output["status"] == "SUCCEEDED", got
        if i % 50 == 0:  # sessions come and go too
            lab.invoke(Call("ta", "com.vmware.cis.session", "delete", session=_login(lab)))


def _objects(lab: ServedLab) -> int:
    lab.kernel.trace.deliver()  # write out the batch in hand (up to Trace.BATCH events)
    gc.collect()
    return len(gc.get_objects())


def test_streamed_served_trace_keeps_memory_bounded(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    lab = make_lab(limits=Limits(max_tasks=64, max_sessions=8))
    path = tmp_path / "served.trace"
    per_round = 1500  # 3,000+ requests a round: most of a trace batch, many tasks expire
    with path.open("w", encoding="ascii", newline="\n") as fh:
        lab.stream_trace(fh, str(path), file=SCENARIO.name,
                         text=SCENARIO.read_text(encoding="utf-8"))
        trace = lab.kernel.trace
        assert trace.streamed
        sid = _login(lab)
        _requests(lab, sid, per_round)
        first = _objects(lab)
        for _ in range(3):
            _requests(lab, sid, per_round)
        assert len(trace._raw) > 0  # a batch in hand: streaming writes in batches
        growth = _objects(lab) - first
        # 9,000 more requests (~ 20,000 trace events, several batches written out): the
        # trace holds no event once its batch is written, the task and session tables
        # stay at their limits, and the heap grows by far less than one object a request.
        assert not trace._raw and not trace._events
        assert len(trace) > 3 * Trace.BATCH
        assert len(lab.tasks) <= 64 and len(lab.sessions) <= 8
        assert growth < 500, f"{growth} objects more after {3 * per_round * 2} requests"
        lab.end_trace(fh)
    # ... and the streamed file is a complete trace that replays bit for bit.
    lines = path.read_text(encoding="ascii").splitlines()
    assert lines[0].startswith('{"file"') and '"until":null' in lines[0]
    assert '"kind":"vtalab.digest"' in lines[-1] and '"until":' in lines[-1]
    assert len(lines) == len(trace) + 2
    assert main(["replay", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"replay identical: {len(trace)} events")


def test_in_memory_trace_grows_where_the_streamed_one_does_not() -> None:
    """The counterpart: without streaming every request stays in memory (the test above
    would fail on it), so the bound above is the streaming's doing."""
    lab = make_lab(limits=Limits(max_tasks=64))
    sid = _login(lab)
    _requests(lab, sid, 300)
    assert not lab.kernel.trace.streamed and len(lab.kernel.trace._raw) > 1200
