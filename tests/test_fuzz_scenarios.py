"""Fuzzing the command line with broken scenario files: exit 0, 1 or 2, never a traceback.

Hypothesis mutates a valid scenario (deleted, swapped or duplicated lines, values of the
wrong type, random unicode, truncation) and runs ``vtalab run`` on it. Whatever the file
says, the command must return 0/1 (it was valid) or 2 (one clear message), never raise and
never print a traceback.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_scenario_loader import VALID, install_fakes

from vtalab.cli import main

LINES = VALID.splitlines(keepends=True)

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
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        install_fakes(mp)
        path = os.path.join(tmp, "fuzz.yaml")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(text)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["run", path])
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
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        install_fakes(mp)
        path = os.path.join(tmp, "fuzz.yaml")
        with open(path, "wb") as fh:
            fh.write(raw)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["run", path])
        assert code == 2, out.getvalue() + err.getvalue()
        assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue()
