"""A hand-edited served-session trace (vtalab serve --trace) replays to a located exit-2
error, never an internal error (issue 13, item 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from servekit import SCENARIO, make_lab

from vtalab.cli import main
from vtalab.server.lab import Call


@pytest.fixture(scope="module")
def served_trace() -> list[str]:
    lab = make_lab()
    lab.invoke(Call("ta", "com.vmware.cis.session", "get"), auth={"user": lab.user})
    return lab.trace_text(SCENARIO.name, SCENARIO.read_text(encoding="utf-8")).splitlines()


@pytest.mark.parametrize("edit", [
    {"bad": 5}, {"clock": {"running": True, "speed": "fast"}}, {"auth": 7},
    {"in": "[" * 5000 + "]" * 5000}, {"t": 1e300},
], ids=["bad-not-an-object", "speed-not-a-number", "auth-not-an-object", "deep-input",
        "time-beyond-horizon"])
def test_a_hand_edited_served_trace_is_a_located_error(
        edit: dict[str, object], served_trace: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    n = next(i for i, line in enumerate(served_trace) if '"api.request"' in line)
    event = json.loads(served_trace[n])
    if "t" in edit:
        event["t"] = edit["t"]
    else:
        event["f"] |= edit
    lines = [*served_trace[:n], json.dumps(event), *served_trace[n + 1:]]
    path = tmp_path / "served.trace"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["replay", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err, err
    assert code == 2 and f"{path}:{n + 1}:" in err, err


def test_a_broken_scenario_in_a_served_trace_names_the_trace(
        served_trace: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The header's scenario is part of the trace file: the error names the trace (as for
    a `vtalab run --trace` trace), not the scenario file it was once read from."""
    header = json.loads(served_trace[0])
    header["scenario_text"] = header["scenario_text"].replace("\n", "\nt\n", 2)
    path = tmp_path / "served.trace"
    path.write_text("\n".join([json.dumps(header), *served_trace[1:]]) + "\n",
                    encoding="utf-8")
    code = main(["replay", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith(f"error: {path}:scenario_text:3:1: invalid YAML"), err
