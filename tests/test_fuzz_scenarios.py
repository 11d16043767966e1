"""Fuzzing the command line with broken scenario files: exit 0, 1 or 2, never a traceback.

Hypothesis mutates a valid scenario (deleted, swapped or duplicated lines, values of the
wrong type, random unicode, truncation) and runs ``vtalab run`` on it. Whatever the file
says, the command must return 0/1 (it was valid) or 2 (one clear message), never raise and
never print a traceback.

Two variants, both run by the real world with a simulated ``--until`` cap so each case stays
quick: one mutates the small scenario of the CLI tests (``tests/data/cli/``) line by line;
one takes the bundled ``scenarios/*.yaml`` with values pushed to extremes (``.inf``,
``1e300``, ``0``, ``1e9`` ...), wrong types, unknown names, deleted lines and swapped times.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtalab.cli import main

SMALL = Path(__file__).resolve().parent / "data" / "cli" / "upgrade-before-import.yaml"
LINES = SMALL.read_text(encoding="utf-8").splitlines(keepends=True)

WRONG_VALUES = ["", "[]", "{}", "[1, 2]", "{a: 1}", "-5", "1e400", "null", "yes", "'x'",
                "3.5", "2020-13-45", "&a [*a]", "!!binary AAA=", "\"\\u0000\"", "10 weeks",
                "!!python/object:os.system {}", "*undefined", "|", ">-", "@", "`", "%"]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "swap", "dup", "value", "unicode", "truncate",
                                   "indent", "key"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "value":
            line = lines[i]
            if ":" in line:
                head = line[: line.index(":") + 1]
                lines[i] = f"{head} {draw(st.sampled_from(WRONG_VALUES))}\n"
        elif op == "unicode":
            text = draw(st.text(min_size=1, max_size=12))
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + text + lines[i][pos:]
        elif op == "indent":
            lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
        elif op == "key":
            line = lines[i]
            if ":" in line:
                key = draw(st.text(st.characters(codec="utf-8", exclude_characters="\n\r"),
                                   min_size=1, max_size=8))
                lines[i] = line[: len(line) - len(line.lstrip())] + key + line[line.index(":"):]
        else:  # truncate
            text = "".join(lines)
            cut = draw(st.integers(0, len(text)))
            lines = [text[:cut]]
    return "".join(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated())
def test_mutated_scenarios_never_crash(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fuzz.yaml")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(text)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["run", path, "--until", "40m"])
        output = out.getvalue() + err.getvalue()
        assert "Traceback" not in output
        assert "internal error" not in output, output
        assert code in (0, 1, 2), output
        if code == 2:
            assert out.getvalue() == ""
            assert err.getvalue().startswith(f"error: {path}"), err.getvalue()
            assert err.getvalue().count("\n") == 1, err.getvalue()
        os.remove(path)


@settings(max_examples=30, deadline=None)
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_crash(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fuzz.yaml")
        with open(path, "wb") as fh:
            fh.write(raw)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["run", path])
        assert code == 2, out.getvalue() + err.getvalue()
        assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue()


# -- the real stack: bundled scenarios, real verbs and world -----------------------------

REAL_FILES = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
#: Numeric extremes and valid edge values, wrong types, unknown or wrong-role names.
EXTREMES = [".inf", "-.inf", ".nan", "nan", "1e400", "1e300", "-1e300", "0", "-1", "1e9",
            "401d", "399d", "0s", "89m", "99999999999999999999", "''", "null", "[]", "{}",
            "yes", "3.5x", "esx-99", "ta-esx-01", "db99", "8.0 U9", "8.0.9-1",
            "com.vmware.vc.NoSuchEvent", "notAttested", "Start-VM"]
#: A block ``key: scalar`` line (not a flow mapping or list: those are FLOW_VALUE's).
BLOCK_VALUE = re.compile(r"^(\s*(?:- )?[\w]+: )(?![{\[>|])\S.*$")
#: ``key: value`` inside a flow mapping (``{vmhost: esx-01, release: "8.0 U2"}``).
FLOW_VALUE = re.compile(r"(\w+): (\"[^\"]*\"|[^,{}\[\]\n]+)")
TIME_LINE = re.compile(r"^(\s*-?\s*(?:at|after|delay): )(\S+)")
NAME = re.compile(r"\b(?:ta-)?esx-[\w-]+|\bdb\d+\b|\bvm-\w+")
#: Simulated time each case may run: enough to reach several steps, never the whole day.
UNTIL = "90m"


@st.composite
def real_mutated(draw: st.DrawFn) -> str:
    path = draw(st.sampled_from(REAL_FILES))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 2))):
        op = draw(st.sampled_from(["value", "flow", "flow", "delete", "times", "name"]))
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        if op == "value" and (m := BLOCK_VALUE.match(line)):
            lines[i] = m[1] + draw(st.sampled_from(EXTREMES)) + "\n"
        elif op == "flow" and (hits := list(FLOW_VALUE.finditer(line))):
            m = draw(st.sampled_from(hits))
            lines[i] = line[: m.start(2)] + draw(st.sampled_from(EXTREMES)) + line[m.end(2):]
        elif op == "delete":
            del lines[i]
        elif op == "times":  # swap the times of two steps or checks
            timed = [k for k, text in enumerate(lines) if TIME_LINE.match(text)]
            if len(timed) >= 2:
                a, b = draw(st.lists(st.sampled_from(timed), min_size=2, max_size=2,
                                     unique=True))
                ma, mb = TIME_LINE.match(lines[a]), TIME_LINE.match(lines[b])
                assert ma is not None and mb is not None
                lines[a] = ma[1] + mb[2] + lines[a][ma.end():]
                lines[b] = mb[1] + ma[2] + lines[b][mb.end():]
        elif op == "name" and (names := list(NAME.finditer(line))):
            m = draw(st.sampled_from(names))
            new = draw(st.sampled_from([m[0] + "x", m[0][:-1], "esx-01", "ta-esx-01", "db01"]))
            lines[i] = line[: m.start()] + new + line[m.end():]
    return "".join(lines)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=real_mutated())
def test_mutated_real_scenarios_never_crash(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "real.yaml")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["run", path, "--until", UNTIL])
        output = out.getvalue() + err.getvalue()
        assert "Traceback" not in output
        assert "internal error" not in output, output
        assert code in (0, 1, 2), output
        if code == 2:  # one located message, nothing else
            assert out.getvalue() == ""
            assert re.match(rf"error: {re.escape(path)}:\d+:\d+: ", err.getvalue()), output
            assert err.getvalue().count("\n") == 1, err.getvalue()
