"""Conformance of a host's boot story with the real tpm2-tools 5.4.

Full boot → Quick Boot upgrade → full reboot → power loss, on an ``EsxiHost`` driven
directly and on a configured ``World`` (through ``World.evidence``). At every step the
quote, AK and event log must satisfy ``tpm2_print``, ``tpm2_checkquote`` (nonce, PCR
values, event log) and ``tpm2_eventlog``, and say what the lab says: a Quick Boot changes
nothing the TPM reports; a full boot reports the new image with ``resetCount + 1``.

These tests FAIL (never skip) when the tools are missing.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from vtalab.core import crypto
from vtalab.core.kernel import Kernel
from vtalab.core.parameters import Parameters
from vtalab.domain.ta_cluster import QUOTE_PCRS
from vtalab.esxi.host import EsxiHost
from vtalab.esxi.measure import FirmwareProfile, read_measured_boot
from vtalab.esxi.releases import image_for
from vtalab.tpm import Tpm, parse_eventlog
from vtalab.tpm.files import PCRS_OUT, checkquote_command, tss_pcrs_file
from vtalab.world.assembly import World
from vtalab.world.topology import (
    TaClusterSpec,
    TaHostSpec,
    Topology,
    TrustedClusterSpec,
    TrustedHostSpec,
)

pytestmark = pytest.mark.conformance

OLD, NEW = "8.0 U2", "8.0 U3"
OLD_KEY, NEW_KEY = image_for(OLD).key, image_for(NEW).key
HOST = "esx-01"


# -- tools ----------------------------------------------------------------------------------
def run_tool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(str(args[0]))
    if exe is None:
        pytest.fail(f"{args[0]} not found on PATH: install tpm2-tools 5.4 (conformance "
                    "tests must not be skipped)")
    return subprocess.run([exe, *map(str, args[1:])], capture_output=True, text=True,
                          cwd=cwd, timeout=60, check=False)


_PCR_LINE = re.compile(r"^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]{64})\s*$")


def pcr_block(stdout: str) -> dict[int, bytes]:
    """The last ``pcrs: sha256:`` block of tpm2_eventlog / tpm2_checkquote output."""
    _, sep, tail = stdout.rpartition("pcrs:\n")
    assert sep, f"no 'pcrs:' block in:\n{stdout}"
    out: dict[int, bytes] = {}
    bank = None
    for line in tail.splitlines():
        m = _PCR_LINE.match(line)
        if m is None and line.strip().endswith(":"):
            bank = line.strip()[:-1]
        elif m is not None and bank == "sha256":
            out[int(m.group(1))] = bytes.fromhex(m.group(2))
    return out


def clock_info(print_out: str) -> dict[str, int]:
    fields = {}
    for name in ("clock", "resetCount", "restartCount", "safe"):
        m = re.search(rf"^\s+{name}: (\d+)$", print_out, re.M)
        assert m, f"{name} missing from tpm2_print output:\n{print_out}"
        fields[name] = int(m.group(1))
    return fields


@dataclass
class Checked:
    """What the tools said about one piece of evidence."""

    clock: dict[str, int]
    pcrs: dict[int, bytes]  #: quoted PCR values, as tpm2_checkquote printed them
    replayed: dict[int, bytes]  #: tpm2_eventlog's replay (non-zero PCRs only)
    version: str | None  #: esx version from the log's version records
    versions: list[str]


def check_evidence(directory: Path, files: dict[str, bytes]) -> Checked:
    """Write ``files`` (World.evidence layout) and check them with every tool."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    nonce = files["nonce.hex"].decode()

    printed = run_tool("tpm2_print", "-t", "TPMS_ATTEST", directory / "quote.msg")
    assert printed.returncode == 0, printed.stderr
    assert "magic: ff544347" in printed.stdout and "type: 8018" in printed.stdout
    assert f"extraData: {nonce}\n" in printed.stdout
    assert "pcrSelect: ff7800" in printed.stdout  # PCRs 0-7 and 11-14

    # The documented command line, run as documented (from inside the directory).
    command = checkquote_command(directory)
    assert command == ("tpm2_checkquote -u ak.pub.pem -m quote.msg -s quote.sig -f pcrs.out "
                       f"-g sha256 -q {nonce} -e eventlog.bin")
    quote = run_tool(*shlex.split(command), cwd=directory)
    assert quote.returncode == 0, quote.stderr
    # Without the event log too, and a wrong nonce is refused.
    bare = run_tool(*shlex.split(command)[:-2], cwd=directory)
    assert bare.returncode == 0, bare.stderr
    wrong = "00" + nonce[2:] if not nonce.startswith("00") else "ff" + nonce[2:]
    refused = run_tool(*[wrong if a == nonce else a for a in shlex.split(command)],
                       cwd=directory)
    assert refused.returncode != 0 and "nonce" in refused.stderr.lower()

    replay = run_tool("tpm2_eventlog", directory / "eventlog.bin")
    assert replay.returncode == 0, replay.stderr
    assert replay.stderr == ""

    mb = read_measured_boot(parse_eventlog(files["eventlog.bin"]))
    return Checked(clock_info(printed.stdout), pcr_block(quote.stdout),
                   pcr_block(replay.stdout), mb.esxi_version,
                   sorted({v.version for v in mb.versions}))


def assert_lab_values(checked: Checked, pcrs: list[bytes]) -> None:
    """The tools saw exactly the PCR values the lab's TPM holds."""
    assert checked.pcrs == {p: pcrs[p] for p in QUOTE_PCRS}
    assert checked.replayed == {p: v for p, v in enumerate(pcrs) if v != bytes(32)}


# -- an EsxiHost on its own ---------------------------------------------------------------
def host_evidence(host: EsxiHost, label: str) -> dict[str, bytes]:
    """The same files World.evidence writes, for a bare host."""
    tpm = host.tpm
    nonce = crypto.sha256(f"boot-conformance|{label}".encode())
    quote = tpm.quote(nonce, list(QUOTE_PCRS), now_ms=int(round(host.kernel.now * 1000)))
    return {"quote.msg": quote.attest, "quote.sig": quote.signature,
            "ak.pub.pem": crypto.public_pem(tpm.ak), "eventlog.bin": tpm.log.to_bytes(),
            PCRS_OUT: tss_pcrs_file(quote.pcrs, quote.pcr_values),
            "nonce.hex": nonce.hex().encode()}


@pytest.fixture
def host() -> EsxiHost:
    kernel = Kernel(11)
    tpm = Tpm(crypto.derive_private_key(11, f"tpm/{HOST}/ek"),
              crypto.derive_private_key(11, f"tpm/{HOST}/ak"))
    h = EsxiHost(kernel, Parameters(), HOST, image_for(OLD), role="trusted", tpm=tpm,
                 firmware=FirmwareProfile.for_vendor("Dell Inc."))
    h.quick_boot_enabled = True
    return h


def settle(host: EsxiHost, proc: object) -> None:
    host.kernel.run()
    assert not host.busy and host.is_up, host.power_state


def test_host_full_boot_quick_boot_full_reboot(host: EsxiHost, tmp_path: Path) -> None:
    kernel = host.kernel
    # (a) full boot from power-off
    settle(host, host.power_on())
    a = check_evidence(tmp_path / "a", host_evidence(host, "a"))
    assert_lab_values(a, host.tpm.pcrs)
    assert a.clock["resetCount"] == 1 and a.clock["restartCount"] == 0
    assert a.clock["safe"] == 1
    assert a.version == OLD_KEY and a.versions == [OLD_KEY]
    pcrs_a = list(host.tpm.pcrs)

    # (b) upgrade staged, then a Quick Boot: the TPM reports nothing new
    settle(host, host.stage_upgrade(image_for(NEW)))
    settle(host, host.reboot("quick"))
    assert host.version == NEW_KEY and host.last_boot_quick
    b = check_evidence(tmp_path / "b", host_evidence(host, "b"))
    assert host.tpm.pcrs == pcrs_a
    assert_lab_values(b, pcrs_a)
    assert b.pcrs == a.pcrs and b.replayed == a.replayed
    assert b.version == OLD_KEY and b.versions == [OLD_KEY]
    assert b.clock["resetCount"] == a.clock["resetCount"]
    assert b.clock["clock"] > a.clock["clock"]

    # (c) a full reboot: the new image is measured, resetCount + 1
    settle(host, host.reboot("full"))
    c = check_evidence(tmp_path / "c", host_evidence(host, "c"))
    assert_lab_values(c, host.tpm.pcrs)
    assert c.version == NEW_KEY and c.versions == [NEW_KEY]
    assert c.clock["resetCount"] == a.clock["resetCount"] + 1
    assert c.clock["safe"] == 1
    for p in (11, 12, 13, 14):
        assert c.pcrs[p] != a.pcrs[p], p
    for p in range(8):  # same firmware: the firmware PCRs are unchanged
        assert c.pcrs[p] == a.pcrs[p], p

    # (d) power loss, power on: the first quote is not "safe"
    host.power_loss()
    assert not host.is_up
    kernel.advance(60)
    settle(host, host.power_on())
    d = check_evidence(tmp_path / "d", host_evidence(host, "d"))
    assert_lab_values(d, host.tpm.pcrs)
    assert d.clock["safe"] == 0
    assert d.clock["resetCount"] == c.clock["resetCount"] + 1
    assert d.version == NEW_KEY
    assert d.pcrs == c.pcrs  # same image, same firmware, same measurements


# -- the same story through a configured World ----------------------------------------------
@pytest.fixture
def world() -> World:
    topo = Topology(
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-esx-01", release=OLD)]),
        trusted_clusters=[TrustedClusterSpec(
            name="Trusted", quick_boot=True,
            hosts=[TrustedHostSpec(name=HOST, release=OLD)])])
    w = World(topo, seed=5)
    w.run(1)
    return w


def run_verb(world: World, name: str, args: dict[str, object]) -> None:
    proc = world.perform(name, args)
    world.run(world.kernel.now + 3600)
    assert proc.triggered and proc.ok, name
    outcome = proc.value
    assert outcome.ok, (name, outcome)


def test_world_evidence_through_quick_boot_and_full_reboot(world: World,
                                                           tmp_path: Path) -> None:
    h = world.host(HOST)
    assert world.attestation_status(HOST)["status"] == "attested"

    # (a) the host as configured: full boot of 8.0 U2 at T=0
    a = check_evidence(tmp_path / "a", world.evidence(HOST))
    assert_lab_values(a, h.tpm.pcrs)
    assert a.version == OLD_KEY and a.clock["resetCount"] == 1 and a.clock["safe"] == 1

    # (b) vLCM upgrade with Quick Boot
    run_verb(world, "upgrade-host", {"vmhost": HOST, "release": NEW, "reboot": "quick"})
    assert h.version == NEW_KEY and h.measured_version == OLD_KEY and h.last_boot_quick
    b = check_evidence(tmp_path / "b", world.evidence(HOST))
    assert_lab_values(b, h.tpm.pcrs)
    assert b.pcrs == a.pcrs and b.replayed == a.replayed
    assert b.version == OLD_KEY and b.versions == [OLD_KEY]
    assert b.clock["resetCount"] == a.clock["resetCount"]
    status = world.attestation_status(HOST)
    assert status["measured_version"] == OLD_KEY and status["version"] == NEW_KEY

    # (c) full reboot
    run_verb(world, "reboot-host", {"vmhost": HOST, "mode": "full", "force": True})
    c = check_evidence(tmp_path / "c", world.evidence(HOST))
    assert_lab_values(c, h.tpm.pcrs)
    assert c.version == NEW_KEY and c.versions == [NEW_KEY]
    assert c.clock["resetCount"] == a.clock["resetCount"] + 1 and c.clock["safe"] == 1

    # (d) power loss (the fault), then power on
    run_verb(world, "power-loss", {"vmhost": HOST})
    assert not h.is_up
    run_verb(world, "Start-VMHost", {"vmhost": HOST})
    d = check_evidence(tmp_path / "d", world.evidence(HOST))
    assert_lab_values(d, h.tpm.pcrs)
    assert d.clock["safe"] == 0
    assert d.clock["resetCount"] == c.clock["resetCount"] + 1


def test_world_evidence_pcrs_bin_needs_pcrs_out(world: World, tmp_path: Path) -> None:
    """Why World.evidence writes pcrs.out: 5.4's ``-l`` reader fails on the 12 PCRs."""
    files = world.evidence(HOST)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    nonce = files["nonce.hex"].decode()
    selection = "sha256:" + ",".join(map(str, QUOTE_PCRS))
    out = run_tool("tpm2_checkquote", "-u", "ak.pub.pem", "-m", "quote.msg", "-s",
                   "quote.sig", "-f", "pcrs.bin", "-l", selection, "-g", "sha256",
                   "-q", nonce, cwd=tmp_path)
    version = run_tool("tpm2_checkquote", "--version").stdout
    if 'version="5.4"' in version:
        assert out.returncode != 0
        assert "nothing more" in out.stderr
    # A later tpm2-tools may read -l correctly; pcrs.out must keep working either way.
    good = run_tool(*shlex.split(checkquote_command(tmp_path)), cwd=tmp_path)
    assert good.returncode == 0, good.stderr
