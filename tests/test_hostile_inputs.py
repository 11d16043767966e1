"""Hostile files and names (issue 13, items 6-8): files written only where asked, input read
bounded, and bad input an exit-2 error with a location -- never exit 3, never a hang.

One regression test per case the issue reproduced; the fuzz of every file-reading command
is in ``test_fuzz_files.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest

from vtalab.cli import main
from vtalab.core import files
from vtalab.core.limits import MAX_INPUT_BYTES, MAX_NAME_CHARS
from vtalab.domain.base_image import BaseImageError, parse_imagedb
from vtalab.errors import InputError

DATA = Path(__file__).resolve().parent / "data"
SCENARIO = DATA / "cli" / "upgrade-before-import.yaml"
TEXT = SCENARIO.read_text(encoding="utf-8")
POWERCLI = DATA / "powercli"
PLANS = Path(__file__).resolve().parent.parent / "vtalab" / "data" / "scenarios" / "plans"
LOCATED = re.compile(r":\d+(:\d+)?: ")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in out + err, err
    return code, out, err


def write(tmp_path: Path, data: str | bytes, name: str = "s.yaml") -> str:
    p = tmp_path / name
    if isinstance(data, str):
        p.write_text(data, encoding="utf-8", errors="surrogatepass")
    else:
        p.write_bytes(data)
    return str(p)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# -- 6. files only where asked ---------------------------------------------------------------

PLAN = (PLANS / "unsafe-two-ta-hosts-at-once.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", [
    "{abs}/victim", "../escaped", "sub/dir", "a\\0b", "x" * 300, "..", ".hidden", "-rf",
])
def test_a_plan_name_becomes_a_safe_file_name_inside_out(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    value = json.dumps(name.replace("{abs}", str(tmp_path)).replace("\\0", "\0"))
    assert PLAN.startswith("name: ")
    plan = write(tmp_path, f"name: {value}\n" + PLAN.split("\n", 1)[1], "plan.yaml")
    before = tree(tmp_path)
    code, out, err = run(capsys, "check", "--examples", "3", "--faults", "none",
                         "--out", str(work / "ce"), plan)
    assert code == 1, out + err  # the plan as written violates an invariant
    made = tree(tmp_path) - before
    assert made and all(m == "work/ce" or m.startswith("work/ce/") for m in made), made
    for f in (work / "ce").iterdir():
        assert f.suffix == ".yaml" and len(f.name) <= MAX_NAME_CHARS + 5
        assert not f.name.startswith((".", "-")) and "\0" not in f.name
    assert not (work / ".hypothesis").exists()  # no Hypothesis folder in the cwd


def test_safe_name_keeps_plain_names_and_separates_changed_ones() -> None:
    assert files.safe_name("safe-rolling-upgrade--hosts-attested") == \
        "safe-rolling-upgrade--hosts-attested"
    a, b = files.safe_name("a/b"), files.safe_name("a:b")
    assert a != b and "/" not in a and re.fullmatch(r"[A-Za-z0-9._-]+", a + b)
    assert len(files.safe_name("é" * 1000)) <= MAX_NAME_CHARS
    assert files.safe_name("\ud800") and files.safe_name("") and files.safe_name("..")


def _planted(tmp_path: Path, out: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    Path(str(out) + ".tmp").symlink_to(victim)
    return victim


def test_import_out_never_writes_through_a_planted_tmp_symlink(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "estate.yaml"
    victim = _planted(tmp_path, out)
    code, _, err = run(capsys, "import", "--hosts", str(POWERCLI / "hosts.json"), *IMPORT,
                       "--out", str(out))
    assert code == 0, err
    assert victim.read_text() == "precious\n" and out.read_text().startswith("name: ")
    assert tree(tmp_path) == {"victim.txt", "estate.yaml", "estate.yaml.tmp"}


def test_bundle_out_never_writes_through_a_planted_tmp_symlink(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "BUG.tgz"
    victim = _planted(tmp_path, out)
    code, _, err = run(capsys, "bundle", "--out", str(out), str(SCENARIO))
    assert code == 0, err
    assert victim.read_text() == "precious\n" and out.read_bytes()[:2] == b"\x1f\x8b"
    assert tree(tmp_path) == {"victim.txt", "BUG.tgz", "BUG.tgz.tmp"}


def test_write_atomic_replaces_a_symlink_at_the_target_instead_of_following_it(
        tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = tmp_path / "out.txt"
    target.symlink_to(victim)
    files.write_atomic(str(target), "new\n")
    assert victim.read_text() == "precious\n" and not target.is_symlink()
    assert target.read_text() == "new\n" and tree(tmp_path) == {"victim.txt", "out.txt"}


def test_nothing_is_written_before_the_input_is_valid(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, TEXT.replace("seed: 7", "seed: 7\nsettle: \"\\ud800\""))
    before = tree(tmp_path)
    for argv in (["run", "--trace", str(tmp_path / "t.jsonl"), "--html",
                  str(tmp_path / "r.html"), bad],
                 ["evidence", "--host", "esx-01", "--out", str(tmp_path / "ev"), bad],
                 ["bundle", "--out", str(tmp_path / "b.tgz"), bad],
                 ["check", "--out", str(tmp_path / "ce"), "--html", str(tmp_path / "c.html"),
                  bad]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and LOCATED.search(err), err
        assert tree(tmp_path) == before, argv


# -- 7. bounded input ------------------------------------------------------------------------

def _tar_header(name: str, kind: bytes, size: int, fmt: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    return info.tobuf(format=fmt)


PAX_BOMB = gzip.compress(_tar_header("././@PaxHeader", tarfile.XHDTYPE, 1536 << 20,
                                     tarfile.USTAR_FORMAT) + b"\0" * (1 << 20))
LONGNAME_BOMB = gzip.compress(_tar_header("././@LongLink", tarfile.GNUTYPE_LONGNAME,
                                          1536 << 20, tarfile.GNU_FORMAT) + b"a" * (1 << 20))


@pytest.mark.parametrize("bomb", [PAX_BOMB, LONGNAME_BOMB], ids=["pax", "gnu-longname"])
def test_tar_header_bombs_are_refused_without_allocating_them(
        bomb: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, bomb, "bomb.tgz")
    tracemalloc.start()
    try:
        code, _, err = run(capsys, "run", path)
        with pytest.raises(BaseImageError, match="not a valid image database"):
            parse_imagedb(bomb, source="bomb.tgz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and path in err, err
    assert peak < 200 << 20, peak  # the headers declare 1.5 GiB


def test_an_archive_inflating_past_the_cap_is_refused(tmp_path: Path) -> None:
    zeros = gzip.compress(b"\0" * (80 << 20))
    with pytest.raises(InputError, match="MAX_ARCHIVE_BYTES"):
        files.read_tgz(zeros, "zeros.tgz")


def test_dev_zero_is_refused_without_reading(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", "/dev/zero")
    assert code == 2 and "/dev/zero" in err and "character device" in err


@pytest.mark.parametrize("argv", [["run"], ["replay"], ["check"], ["train", "--resume"],
                                  ["train", "--commands"]])
def test_a_fifo_is_refused_at_once(argv: list[str], tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    if argv == ["train", "--commands"]:
        argv = [*argv, str(fifo), "restart-kmxa"]
    else:
        argv = [*argv, str(fifo)]
    # A subprocess: were the FIFO opened for a blocking read, the test must not hang.
    p = subprocess.run([sys.executable, "-m", "vtalab", *argv], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "FIFO" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_a_50_mb_file_is_refused_before_it_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "wb") as fh:
        fh.write(TEXT.encode())
        fh.truncate(50 << 20)
    for argv in (["run", str(path)], ["replay", str(path)],
                 ["import", "--hosts", str(path), "--base-images", str(path),
                  "--quickboot", str(path), "--out", str(tmp_path / "o.yaml")]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "MAX_INPUT_BYTES" in err and str(path) in err, err
    with pytest.raises(InputError):
        files.read_bytes(str(path), limit=MAX_INPUT_BYTES)


def test_a_long_settle_is_stopped_by_the_event_limit_and_located(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, TEXT.replace("seed: 7", "seed: 7\nsettle: 399d23h"))
    code, _, err = run(capsys, "run", path)
    assert code == 2 and f"{path}:4:" in err and "MAX_EVENTS_PER_RUN" in err, err
    assert "a settle of at most" in err


def test_a_busy_period_parameter_is_named(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, TEXT.replace(
        "seed: 7", "seed: 7\nsettle: 30d\nparameters:\n  reattest_period_seconds: 1"))
    code, _, err = run(capsys, "run", path)
    assert code == 2 and f"{path}:6:" in err and "reattest_period_seconds" in err, err


def test_advance_399d_in_the_training_shell_stops_and_the_session_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write(tmp_path, "advance 399d\nGet-VMHost\n", "cmds.txt")
    code, out, _ = run(capsys, "train", "--commands", script, "restart-kmxa")
    assert code in (0, 1)
    assert "one command may process at most" in out
    after = out.split("Get-VMHost", 1)[1]
    assert "MAX_EVENTS_PER_RUN" not in after and "PowerState" in after


def test_a_trace_header_until_far_away_is_refused_at_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.jsonl"
    assert main(["run", "--trace", str(trace), str(SCENARIO)]) == 0
    capsys.readouterr()
    lines = trace.read_text().splitlines()
    header = json.loads(lines[0])
    for until, needle in ((1e300, "beyond the lab's horizon"), ("soon", "expected"),
                          (-5, "not negative"), (10 ** 400, "a finite number"),
                          ([1], "expected")):
        bad = write(tmp_path, "\n".join([json.dumps(header | {"until": until}), *lines[1:]])
                    + "\n", "bad.jsonl")
        started = time.monotonic()  # wall-clock ok: only reported, never asserted on
        code, _, err = run(capsys, "replay", bad)
        assert code == 2 and f"{bad}:1:1: the trace header's until" in err, err
        assert needle in err, (needle, err, time.monotonic() - started)


# -- 8. no exit 3 on bad input ---------------------------------------------------------------

def test_lone_surrogates_are_located_errors_and_no_trace_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, TEXT.replace("description: A", 'description: "\\udc00" #A'))
    trace = tmp_path / "t.jsonl"
    code, _, err = run(capsys, "run", "--trace", str(trace), path)
    assert code == 2 and f"{path}:2:" in err and "lone surrogate" in err, err
    assert not trace.exists()
    hosts = write(tmp_path, (POWERCLI / "hosts.json").read_text().replace(
        "esx-02", "esx-\\ud80002"), "hosts.json")
    code, _, err = run(capsys, "import", "--hosts", hosts, "--base-images",
                       str(POWERCLI / "images.json"), "--quickboot",
                       str(POWERCLI / "quickboot.txt"), "--out", str(tmp_path / "o.yaml"))
    assert code == 2 and f"{hosts}:" in err and "lone surrogate" in err, err


def test_a_surrogate_escaped_file_name_is_an_error_not_a_crash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff.yaml")  # as argv decodes it
    code, _, err = run(capsys, "run", name)
    assert code == 2 and "no such file" in err


@pytest.mark.parametrize("where", ["cli", "yaml", "trace"])
def test_integers_beyond_float_range_in_times(
        where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = "9" * 400
    if where == "cli":
        code, _, err = run(capsys, "run", "--until", huge, str(SCENARIO))
        assert code == 2 and "--until" in err, err
        return
    if where == "yaml":
        path = write(tmp_path, TEXT.replace("seed: 7", f"seed: 7\nsettle: {huge}"))
        code, _, err = run(capsys, "run", path)
        assert code == 2 and f"{path}:4:" in err, err
        return
    trace = tmp_path / "t.jsonl"
    assert main(["run", "--trace", str(trace), str(SCENARIO)]) == 0
    capsys.readouterr()
    text = trace.read_text()
    bad = write(tmp_path, text.replace('"until":null', f'"until":{huge}', 1), "bad.jsonl")
    code, _, err = run(capsys, "replay", bad)
    assert code == 2 and f"{bad}:1:" in err, err


IMPORT = ["--base-images", str(POWERCLI / "images.json"),
          "--base-images-api", str(POWERCLI / "base-images-api.json"),
          "--quickboot", str(POWERCLI / "quickboot.txt")]


@pytest.mark.parametrize("data,code_wanted,needle", [
    ((POWERCLI / "hosts.json").read_text().replace("esx-01", "esx-\xe901").encode("latin-1"),
     2, ":3:23: the PowerCLI export is not UTF-8"),
    (b"\xff\xfe" + (POWERCLI / "hosts.json").read_text().encode("utf-16-le"), 0, ""),
    ((POWERCLI / "hosts.json").read_text().encode("utf-16-le"), 2, "UTF-16"),
    (b"[" * 100_000, 2, ":1:65: JSON nested deeper than 64"),
    (b"[" + b"9" * 5000 + b"]", 2, ":1"),
], ids=["latin-1", "utf-16-bom", "utf-16-no-bom", "deep", "huge-int"])
def test_powercli_exports_in_other_encodings_or_shapes(
        data: bytes, code_wanted: int, needle: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    hosts = write(tmp_path, data, "hosts.json")
    code, _, err = run(capsys, "import", "--hosts", hosts, *IMPORT,
                       "--out", str(tmp_path / "o.yaml"))
    assert code == code_wanted, err
    assert needle in err and (code == 0 or err.startswith(f"error: {hosts}:")), err


def test_a_huge_powershell_date_is_a_located_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = write(tmp_path, (POWERCLI / "base-images-api.json").read_text().replace(
        '"2026-01-05T07:55:00Z"', '"/Date(' + "9" * 30 + ')/"'), "api.json")
    code, _, err = run(capsys, "import", "--hosts", str(POWERCLI / "hosts.json"),
                       "--base-images", str(POWERCLI / "images.json"), "--base-images-api", api,
                       "--quickboot", str(POWERCLI / "quickboot.txt"),
                       "--out", str(tmp_path / "o.yaml"))
    assert code == 2 and f"{api}:" in err and "last_attested_time" in err, err


def _tgz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def test_deep_nesting_in_every_json_input(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    trace = tmp_path / "t.jsonl"
    assert main(["run", "--trace", str(trace), str(SCENARIO)]) == 0
    capsys.readouterr()
    first, *rest = trace.read_text().splitlines()
    cases = {
        "replay": ["replay", write(tmp_path, "\n".join([first, deep, *rest[1:]]) + "\n",
                                   "deep.jsonl")],
        "resume": ["train", "--resume", write(tmp_path, deep, "session.json")],
        "bundle": ["run", write(tmp_path, _tgz({"manifest.json": deep.encode()}), "b.tgz")],
        "yaml": ["run", write(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n", "d.yaml")],
    }
    for what, argv in cases.items():
        code, _, err = run(capsys, *argv)
        assert code == 2 and "nested deeper than 64" in err and argv[-1] in err, (what, err)
        assert LOCATED.search(err) or what == "bundle", (what, err)


def test_an_unterminated_quote_in_the_training_shell(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write(tmp_path, "Get-VMHost -Name 'esx-01\n", "cmds.txt")
    code, _, err = run(capsys, "train", "--commands", script, "restart-kmxa")
    assert code == 2 and f"{script}:1:" in err and "no closing" in err, err
    script = write(tmp_path, "save 'unterminated\n", "cmds2.txt")
    code, out, err = run(capsys, "train", "--commands", script, "restart-kmxa")
    assert code in (1, 2) and "Traceback" not in out + err


def test_a_saved_session_with_a_far_advance_is_refused_quickly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"version": 1, "exercise": "restart-kmxa", "seed": 1,
           "commands": [{"time": 0, "kind": "advance", "line": "", "until": 399 * 86400}]}
    path = write(tmp_path, json.dumps(doc), "session.json")
    code, _, err = run(capsys, "train", "--resume", path)
    assert code == 2 and f"{path}: commands[0]" in err and "MAX_EVENTS_PER_RUN" in err, err


_PAUSE_IN_IMPORT = """\
import os, sys, time

class _PauseInImport:
    \"\"\"Stop the first import of vtalab.world.assembly: leave a marker, wait (bounded).\"\"\"
    done = False

    def find_spec(self, name, path=None, target=None):
        if name == "vtalab.world.assembly" and not self.done:
            self.done = True
            open(os.environ["VTALAB_TEST_MARKER"], "w").close()
            time.sleep(60)  # wall-clock ok: the test interrupts this long before
        return None

sys.meta_path.insert(0, _PauseInImport())
"""


def _interrupted_while_importing(tmp_path: Path, argv: list[str], cwd: Path
                                 ) -> tuple[int, str, str]:
    """Start vtalab with ``argv``, send SIGINT while it is inside the package's imports
    (a ``sitecustomize`` holds the import of ``vtalab.world.assembly`` and leaves a
    marker: no guessing with sleeps), return (exit code, stdout, stderr)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_PAUSE_IN_IMPORT, encoding="utf-8")
    marker = tmp_path / "importing"
    env = dict(os.environ, VTALAB_TEST_MARKER=str(marker),
               PYTHONPATH=os.pathsep.join(
                   p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p))
    p = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    try:
        for _ in range(1200):  # bounded: 60 s at most
            if marker.exists() or p.poll() is not None:
                break
            time.sleep(0.05)  # wall-clock ok: polling a marker, not timing anything
        assert marker.exists(), ("never reached the import", p.poll())
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return p.returncode, out, err


def test_ctrl_c_while_the_launcher_imports_vtalab_exits_130_quietly(tmp_path: Path) -> None:
    launcher = Path(__file__).resolve().parent.parent / "vtalab_launcher.py"
    if not launcher.exists():  # the installed wheel: the launcher is a top-level module
        pytest.importorskip("vtalab_launcher")
    code, out, err = _interrupted_while_importing(
        tmp_path, ["-c", "import vtalab_launcher as m, sys; sys.exit(m.main())", "run",
                   str(SCENARIO)], launcher.parent if launcher.exists() else tmp_path)
    assert (code, out, err) == (130, "", ""), (code, err)


def test_ctrl_c_while_python_m_vtalab_imports_vtalab_exits_130_quietly(tmp_path: Path) -> None:
    """``python -m vtalab`` imports the package before its ``__main__`` runs: the package
    itself (vtalab._startup) makes that Ctrl-C quiet, as the console script is."""
    code, out, err = _interrupted_while_importing(
        tmp_path, ["-m", "vtalab", "run", str(SCENARIO)], tmp_path)
    assert (code, out, err) == (130, "", ""), (code, err)


def test_python_m_vtalab_is_the_vtalab_command(capsys: pytest.CaptureFixture[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "vtalab", "run", str(SCENARIO)],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == run(capsys, "run", str(SCENARIO))


def test_only_python_m_vtalab_gets_the_start_up_handler() -> None:
    """A program that merely imports vtalab keeps its own Ctrl-C handling."""
    from vtalab._startup import module_run_as_main

    assert module_run_as_main(["python", "-m", "vtalab", "run"]) == "vtalab"
    assert module_run_as_main(["python", "-P", "-W", "error", "-X", "dev", "-m", "vtalab"]
                              ) == "vtalab"
    assert module_run_as_main(["python", "-Wdefault", "-mvtalab.__main__"]) == "vtalab.__main__"
    assert module_run_as_main(["python", "-Im", "vtalab"]) == "vtalab"
    assert module_run_as_main(["python", "-W", "-m", "-m", "pytest"]) == "pytest"
    assert module_run_as_main(["python", "--check-hash-based-pycs", "never", "-m", "vtalab"]
                              ) == "vtalab"
    for argv in (["python", "-c", "import vtalab", "-m", "vtalab"], ["python", "x.py", "-m"],
                 ["python", "-"], ["python", "--version"], ["python", "-m"], ["python"]):
        assert module_run_as_main(argv) is None, argv
    code = ("import signal, vtalab; "
            "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)")
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120)
    assert probe.stdout.strip() == "True", probe.stderr


# -- topology size (core/limits.py: MAX_HOSTS, MAX_VMS, MAX_CLUSTERS) ------------------------
def _flow(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


@pytest.mark.parametrize("kind", ["hosts", "vms", "clusters"])
def test_a_topology_beyond_the_size_limits_is_refused_with_its_location(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    """Refused before it is validated or built: exit 2 naming the file, the line and path
    of the first item beyond the limit, how many there are and the limit. The files are
    small: YAML aliases repeat one list in many clusters (the cheapest way to ask for a
    huge world, and a quick test)."""
    from vtalab.core.limits import MAX_CLUSTERS

    head = "name: big\ntopology:\n"
    if kind == "hosts":  # 2 TA hosts + 120 clusters x 200 hosts; the TA hosts count too
        hosts = _flow([f"{{name: e{i}}}" for i in range(200)])
        text = (head + "  ta_cluster: {hosts: [{name: ta-1}, {name: ta-2}]}\n"
                "  trusted_clusters:\n" + f"    - {{name: c0, hosts: &h {hosts}}}\n"
                + "".join(f"    - {{name: c{i}, hosts: *h}}\n" for i in range(1, 120)))
        where, said = ":5:", ("topology.trusted_clusters.99.hosts.198: 24,002 hosts (trusted "
                              "and TA); vtalab builds at most 20,000 (MAX_HOSTS)")
    elif kind == "vms":  # 101 clusters x 500 VMs
        vms = _flow([f"{{name: v{i}, host: e0}}" for i in range(500)])
        text = (head + "  trusted_clusters:\n"
                + f"    - {{name: c0, hosts: [{{name: e0}}], vms: &v {vms}}}\n"
                + "".join(f"    - {{name: c{i}, hosts: [], vms: *v}}\n" for i in range(1, 101)))
        where, said = ":4:", ("topology.trusted_clusters.100.vms.0: 50,500 VMs; vtalab "
                              "builds at most 50,000 (MAX_VMS)")
    else:
        text = head + "  trusted_clusters:\n" + "    - {hosts: []}\n" * (MAX_CLUSTERS + 1)
        where, said = f":{4 + MAX_CLUSTERS}:", ("topology.trusted_clusters.2500: 2,501 trusted "
                                                "clusters; vtalab builds at most 2,500 "
                                                "(MAX_CLUSTERS)")
    assert len(text) < 50_000
    path = write(tmp_path, text)
    code, out, err = run(capsys, "run", path)
    assert code == 2 and out == "", err
    assert err.startswith(f"error: {path}{where}") and said in err, err


def test_the_topology_size_limits_hold_for_the_python_api_too() -> None:
    from pydantic import ValidationError

    from vtalab import Topology
    from vtalab.core.limits import MAX_HOSTS, MAX_VMS
    from vtalab.world.topology import size_problem

    hosts = [{"name": f"e{i}"} for i in range(MAX_HOSTS)]
    assert size_problem({"trusted_clusters": [{"hosts": hosts}]}) is None  # at the limit
    vms = [{"name": f"v{i}", "host": "e0"} for i in range(MAX_VMS)]
    assert size_problem({"trusted_clusters": [{"hosts": hosts[:1], "vms": vms}]}) is None
    assert size_problem({"trusted_clusters": [{"vms": vms[:1]}, {"vms": vms}]}) == (
        ("trusted_clusters", 1, "vms", MAX_VMS - 1),
        "50,001 VMs; vtalab builds at most 50,000 (MAX_VMS)")
    assert size_problem({"ta_cluster": {"hosts": hosts[:2]}, "trusted_clusters": [
        {"hosts": hosts[2:]}, {"hosts": [{"name": "x"}]}]}) == (
        ("trusted_clusters", 1, "hosts", 0),
        "20,001 hosts (trusted and TA); vtalab builds at most 20,000 (MAX_HOSTS)")
    assert size_problem({"trusted_clusters": "not a list", "ta_cluster": 3}) is None
    doc = {"trusted_clusters": [{"hosts": hosts[:10]}, {"hosts": hosts[10:] + [{"name": "x"}]}]}
    assert size_problem(doc) == (("trusted_clusters", 1, "hosts", MAX_HOSTS - 10),
                                 "20,001 hosts (trusted and TA); vtalab builds at most 20,000 "
                                 "(MAX_HOSTS)")
    with pytest.raises(ValidationError, match=r"at most 20,000 \(MAX_HOSTS\); the first one "
                                              r"beyond is trusted_clusters\[1\]\.hosts\[19990\]"):
        Topology.model_validate(doc)


def test_golden_names_a_broken_scenario_by_the_path_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Transcripts name a scenario as ``<dir>/<file>``; an error names the file typed."""
    path = write(tmp_path, "name: x\ntopology: [\n", "broken.yaml")
    code, out, err = run(capsys, "golden", "--dir", str(tmp_path), path)
    assert code == 2 and err.startswith(f"error: {path}:3:1: invalid YAML"), err


@pytest.mark.parametrize("configured", ["true", "false"])
def test_an_empty_ta_cluster_is_a_located_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], configured: str) -> None:
    """It used to fail in the setup, as a 'services.json' export problem with no place."""
    path = write(tmp_path, f"name: e\ntopology:\n  configured: {configured}\n"
                           "  ta_cluster: {hosts: []}\n"
                           "  trusted_clusters: [{hosts: [{name: esx-01}]}]\n")
    code, out, err = run(capsys, "run", path)
    assert code == 2 and err == (f"error: {path}:4:23: topology.ta_cluster.hosts: the TA "
                                 "cluster needs at least one host, such as {name: ta-esx-01}: "
                                 "attestd and kmxd run on its hosts\n"), err


# -- 7. a legal-but-huge YAML file is refused while it is read, not after ------------------------

def _items(n: int) -> str:
    """A document of ``1 + 2 * n`` values: the list of steps, one mapping and its value per
    item (line ``3 + i`` holds item ``i``)."""
    return "name: huge\nsteps:\n" + "".join(f"  - x: {i}\n" for i in range(n))


def test_a_huge_yaml_file_is_refused_as_the_composer_reaches_the_limit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from vtalab.scenario import yamlloc

    limit = 1001  # values: the document, the two top-level values, 499 items of two
    monkeypatch.setattr(yamlloc, "MAX_NODES", limit)
    calls = [0]
    original = yamlloc._Loader.compose_node

    def counting(self: yamlloc._Loader, parent: object, index: object) -> object:
        calls[0] += 1
        return original(self, parent, index)  # type: ignore[arg-type]

    monkeypatch.setattr(yamlloc._Loader, "compose_node", counting)
    # 1 + 2 + 499 * 2 = 1001 values: exactly the limit is read
    assert len(yamlloc.load_yaml(_items(499)).data["steps"]) == 499
    calls[0] = 0
    path = write(tmp_path, _items(20_000))  # 40,003 values
    code, _, err = run(capsys, "run", path)
    # value 1002 is the mapping of item 499, on line 3 + 499, column 5
    assert code == 2 and f"{path}:502:5: " in err, err
    assert f"more than {limit} values (MAX_NODES)" in err, err
    # the composer stopped there: about three calls per item read (mapping, key, value),
    # not the 60,000 the whole file would take
    assert 1000 < calls[0] < 1600, calls[0]


def test_aliases_are_still_counted_where_they_expand(monkeypatch: pytest.MonkeyPatch) -> None:
    from vtalab.errors import ScenarioError
    from vtalab.scenario import yamlloc

    monkeypatch.setattr(yamlloc, "MAX_NODES", 1000)
    # 13 values composed (the document, two lists, ten items), 13 + 100 * 11 = 1113 once
    # every alias expands: the builder refuses at the aliased list (line 1)
    text = "a: &x [" + ", ".join(["1"] * 10) + "]\nb: [" + ", ".join(["*x"] * 100) + "]\n"
    with pytest.raises(ScenarioError, match=r"<scenario>:1:\d+: .*expands to more than 1000"):
        yamlloc.load_yaml(text)
    monkeypatch.setattr(yamlloc, "MAX_NODES", 1113)
    assert len(yamlloc.load_yaml(text).data["b"]) == 100


def test_max_nodes_is_one_limit_listed_with_the_others() -> None:
    from vtalab.core.limits import LIMITS, MAX_NODES
    from vtalab.scenario import yamlloc

    assert yamlloc.MAX_NODES == MAX_NODES == 200_000
    assert "MAX_NODES" in {limit.name for limit in LIMITS}
