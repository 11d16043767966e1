"""A bounded fuzz of every command that reads a file (issue 13, items 6-8).

Each input kind starts from a valid file (a scenario, a trace, a trace of a served session,
a bug bundle, a saved training session, a training transcript, a PowerCLI export, an
upgrade plan, a campaign spec) and is
mutated byte-wise by Hypothesis: bytes flipped, hostile fragments inserted (invalid
UTF-8, a byte-order mark, NUL, a lone-surrogate escape, deep brackets, huge numbers,
unbalanced quotes, YAML tags and aliases), slices duplicated, the file cut short. The
command reading it must

- exit 0, 1 or 2 -- never 3, never a traceback;
- on exit 2, name the file it read and where in it (``file:line``, or the field or the
  archive member for a bundle, ``file: commands[i]`` for a saved session);
- write nothing but the output it was asked for, and nothing at all on exit 2.

Bounded: few examples per kind, no deadline, derandomized (the same cases every run).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtalab.cli import main
from vtalab.scenario.model import load_scenario_text
from vtalab.server import ServedLab
from vtalab.server.lab import Call

DATA = Path(__file__).resolve().parent / "data"
SCENARIO = DATA / "cli" / "upgrade-before-import.yaml"
POWERCLI = DATA / "powercli"
PLAN = (Path(__file__).resolve().parent.parent / "vtalab" / "data" / "scenarios" / "plans"
        / "unsafe-upgrade-before-import.yaml")
CAMPAIGNS = Path(__file__).resolve().parent.parent / "vtalab" / "data" / "campaigns"

HOSTILE = [b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"\\ud800", b"\\udc00x",
           b"[" * 80, b"{" * 70, b"9" * 400, b"1e999", b"-1", b'"', b"'", b"\n", b"\t",
           b": ", b"- ", b"&a [*a, *a]", b"*a", b"!!python/object:os.system {}",
           b"!!binary AAA=", b"/Date(99999999999999999999999)/", b"399d23h", b"1e300",
           b"null", b"\\", b"#", b"`", b"$(", b"|"]


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "insert", "dup", "cut", "delete"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(HOSTILE))
        elif op == "dup":
            end = min(len(data), at + draw(st.integers(1, 200)))
            data[at:at] = data[at:end]
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 50))]
        else:
            del data[at:]
    return bytes(data)


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    work = tmp_path_factory.mktemp("originals")
    trace, bundle = work / "t.jsonl", work / "b.tgz"
    session, empty = work / "s.json", work / "empty.txt"
    empty.write_text("")
    assert main(["run", "--trace", str(trace), str(SCENARIO)]) == 0
    assert main(["bundle", "--out", str(bundle), str(SCENARIO)]) == 0
    save = work / "save.txt"
    save.write_text(f"Get-VMHost\nadvance 10m\nsave {session}\n")
    assert main(["train", "--commands", str(save), "restart-kmxa"]) in (0, 1)
    lab = ServedLab(load_scenario_text(SCENARIO.read_text(encoding="utf-8"),
                                       file=str(SCENARIO)), topology_only=True, paused=True)
    lab.invoke(Call("ta", "com.vmware.cis.session", "get"), auth={"user": lab.user})
    served = lab.trace_text(SCENARIO.name, SCENARIO.read_text(encoding="utf-8"))
    return {
        "scenario": SCENARIO.read_bytes(),
        "trace": trace.read_bytes(),
        "served": served.encode("ascii"),
        "bundle": bundle.read_bytes(),
        "session": session.read_bytes(),
        "transcript": b"Get-VMHost | Select-Object Name, Version\nhint\nadvance 5m\ncheck\n",
        "hosts": (POWERCLI / "hosts.json").read_bytes(),
        "images": (POWERCLI / "images.json").read_bytes(),
        "api": (POWERCLI / "base-images-api.json").read_bytes(),
        "quickboot": (POWERCLI / "quickboot.txt").read_bytes(),
        "plan": PLAN.read_bytes(),
        # the bundled spec, naming its scenario by absolute path (the input is elsewhere)
        "campaign": (CAMPAIGNS / "token-lifetime-vs-outage.yaml").read_bytes().replace(
            b"[token-lifetime-vs-outage.scenario.yaml]",
            b"[" + str(CAMPAIGNS / "token-lifetime-vs-outage.scenario.yaml").encode() + b"]"),
    }


def _argv(kind: str, path: str, out: Path, empty: str) -> list[list[str]]:
    """The commands that read a file of ``kind`` at ``path``; outputs go under ``out``."""
    pc = {k: str(POWERCLI / f) for k, f in (("hosts", "hosts.json"),
                                            ("images", "images.json"),
                                            ("api", "base-images-api.json"),
                                            ("quickboot", "quickboot.txt"))}
    if kind in pc:
        pc[kind] = path
        return [["import", "--hosts", pc["hosts"], "--base-images", pc["images"],
                 "--base-images-api", pc["api"],
                 "--quickboot", pc["quickboot"], "--out", str(out / "estate.yaml")]]
    return {
        "scenario": [["run", "--trace", str(out / "t.jsonl"), path],
                     ["explain", path, "--host", "esx-01", "--no-fixes"],
                     ["evidence", path, "--host", "esx-01", "--out", str(out / "ev")],
                     ["bundle", "--out", str(out / "b.tgz"), path],
                     ["logs", path, "--host", "esx-01", "--log", "attestd.log"],
                     ["golden", "--dir", str(out), path],
                     # serve_forever is replaced by the test: the lab is built, not served
                     ["serve", "--http", "--paused", "--trace", str(out / "s.trace"), path]],
        "trace": [["replay", path]],
        "served": [["replay", path]],
        "bundle": [["run", path]],
        "session": [["train", "--resume", path, "--commands", empty]],
        "transcript": [["train", "--commands", path, "restart-kmxa"]],
        "plan": [["check", "--examples", "2", "--faults", "none", "--out",
                  str(out / "ce"), path]],
        # --check reads and validates the spec and every run's scenario, runs nothing (a
        # valid spec would run 20 scenarios)
        "campaign": [["campaign", "--check", "--out", str(out / "c"), path]],
    }[kind]


def _located(err: str, path: str, binary: bool = False) -> bool:
    """Whether an exit-2 message names ``path`` and a place in it (a binary archive has no
    lines: the file itself, or its member, is the place)."""
    at = err.find(path)
    if at < 0:
        return False
    rest = err[at + len(path):]
    if binary:
        return True
    return bool(re.match(r":\d+", rest)                          # file:line[:column]
                or re.match(r":[\w./-]+", rest)                  # bundle member
                or re.match(r": (commands\[\d+\]|[\w ]*'?\w+'?[ :])", rest))  # field


KINDS = ["scenario", "trace", "served", "bundle", "session", "transcript", "hosts", "images",
         "api", "quickboot", "plan", "campaign"]


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@pytest.mark.parametrize("kind", KINDS)
def test_every_file_reading_command_survives_mutated_input(
        kind: str, originals: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    suffix = {"bundle": ".tgz", "trace": ".jsonl", "served": ".trace", "session": ".json",
              "hosts": ".json", "images": ".json", "api": ".json", "transcript": ".txt",
              "quickboot": ".txt"}.get(kind, ".yaml")
    # `vtalab serve` reads and validates its scenario and builds the lab; serving it
    # (until Ctrl-C) is not what this test is about, so it stops at once.
    monkeypatch.setattr("vtalab.cli.serve.serve_forever", lambda lab, **kw: None)
    examples = {"scenario": 21, "plan": 12}.get(kind, 20)

    @settings(max_examples=examples, deadline=None,
              derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture,
                                     HealthCheck.nested_given])
    @given(data=mutated(originals[kind]), which=st.integers(0, 6))
    def fuzz(data: bytes, which: int) -> None:
        work = tmp_path_factory.mktemp(kind)
        path = work / f"input{suffix}"
        path.write_bytes(data)
        empty = work / "empty.txt"
        empty.write_text("")
        out = work / "out"
        out.mkdir()
        commands = _argv(kind, str(path), out, str(empty))
        argv = commands[which % len(commands)]
        before = {p for p in work.rglob("*")}
        code = main(argv)
        stdout, err = capsys.readouterr()
        assert "Traceback" not in stdout + err and "internal error" not in err, (argv, err)
        assert code in (0, 1, 2), (argv, code, err)
        made = {p for p in work.rglob("*")} - before
        assert all(out in p.parents for p in made), (argv, made)
        if code == 2:
            assert not made, (argv, made, err)
            named = [a for a in argv if a == str(path)]
            # A valid file can make an option's value wrong (the mutated scenario lost the
            # host that --host names): then the place is that option, with the choices.
            on_option = re.match(r"error: (--[\w-]+): .*; valid ", err) is not None \
                and re.match(r"error: (--[\w-]+):", err)[1] in argv  # type: ignore[index]
            assert named and (_located(err, str(path), kind == "bundle") or on_option), \
                (argv, err)

    fuzz()
