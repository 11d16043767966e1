"""The deterministic kernel: random stream tree, canonical trace, digests, time format,
and a host boot story that replays byte for byte in another process."""

from __future__ import annotations

import enum
import hashlib
import json
import os
import random
import subprocess
import sys
import textwrap

import pytest

from vtalab.core.kernel import SIM_EPOCH, Kernel, RandomStreams, format_time
from vtalab.core.trace import Trace, TraceEvent, canonical, jsonable


def draw(streams: RandomStreams, name: str, n: int = 5) -> list[float]:
    rng = streams.rng(name)
    return [rng.random() for _ in range(n)]


# -- random stream tree ------------------------------------------------------------------------
def test_adding_a_stream_does_not_shift_another() -> None:
    alone = draw(RandomStreams(42).child("trusted"), "esx-01/boot")
    busy = RandomStreams(42)
    busy.rng("first")  # an unrelated stream at the root, used heavily
    draw(busy, "first", 100)
    busy.child("ta").rng("ta-esx-01/attestd").random()  # a sibling subtree
    trusted = busy.child("trusted")
    draw(trusted, "esx-00/boot", 50)  # a new sibling stream in the same node
    trusted.child("esx-01").rng("boot").random()  # and a new child node
    assert draw(trusted, "esx-01/boot") == alone


def test_interleaving_streams_does_not_change_them() -> None:
    a, b = RandomStreams(1), RandomStreams(1)
    x1, y1 = draw(a, "x", 10), draw(a, "y", 10)
    rx, ry = b.rng("x"), b.rng("y")
    x2, y2 = [], []
    for _ in range(10):
        x2.append(rx.random())
        y2.append(ry.random())
    assert (x1, y1) == (x2, y2)


def test_same_seed_and_path_same_numbers() -> None:
    assert draw(RandomStreams(7).child("a").child("b"), "c") == \
        draw(RandomStreams(7).child("a").child("b"), "c")
    s = RandomStreams(7)
    assert s.rng("c") is s.rng("c")  # one stream object per name: it continues
    assert s.bytes("serial", 48) == RandomStreams(7).bytes("serial", 48)
    assert s.bytes("serial", 48)[:32] == s.bytes("serial", 32)  # a prefix, not a new value
    assert len(s.bytes("serial", 100)) == 100


def _reference_bytes(seed: int, path: str, name: str, n: int) -> bytes:
    """RandomStreams.bytes as first written: the definition the fast one must keep."""
    full = f"{path}/{name}" if path else name
    material = hashlib.sha256(f"vtalab-stream|{seed}|{full}".encode()).digest()
    out, counter = b"", 0
    while len(out) < n:
        out += hashlib.sha256(material + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:n]


@pytest.mark.parametrize("n", [-1, 0, 1, 16, 31, 32, 33, 48, 64, 65, 100])
def test_stream_bytes_match_the_reference(n: int) -> None:
    for seed, path in ((0, ""), (7, "nonce"), (-3, "trust-authority/ta-esx-01"), (2**70, "ü/x")):
        node = RandomStreams(seed)
        for part in [p for p in path.split("/") if p]:
            node = node.child(part)
        for name in ("serial", "esx-01#1", "esx-01#12345", "", "héllo/wörld#7", "\u2603"):
            assert node.bytes(name, n) == _reference_bytes(seed, path, name, n)
            ref = hashlib.sha256(f"vtalab-stream|{seed}|{path + '/' if path else ''}{name}"
                                 .encode()).digest()
            assert node.rng(name).random() == random.Random(int.from_bytes(ref, "big")).random()


def test_different_seeds_or_paths_differ() -> None:
    assert draw(RandomStreams(7), "c") != draw(RandomStreams(8), "c")
    assert draw(RandomStreams(7).child("a"), "c") != draw(RandomStreams(7).child("b"), "c")
    assert draw(RandomStreams(7), "c") != draw(RandomStreams(7), "d")
    assert RandomStreams(7).bytes("n") != RandomStreams(8).bytes("n")
    assert RandomStreams(7).bytes("n") != RandomStreams(7).bytes("m")


def test_stream_numbers_are_pinned() -> None:
    """The derivation is API (recorded traces depend on it): SHA-256 of seed and path."""
    material = hashlib.sha256(b"vtalab-stream|42|trusted/esx-01/boot").digest()
    import random

    expected = random.Random(int.from_bytes(material, "big")).random()
    assert RandomStreams(42).child("trusted").child("esx-01").rng("boot").random() == expected


def test_kernel_nonces_follow_request_order() -> None:
    a, b = Kernel(5), Kernel(5)
    first = [a.nonce("attest"), a.nonce("attest"), a.nonce("other")]
    assert first == [b.nonce("attest"), b.nonce("attest"), b.nonce("other")]
    assert len(set(first)) == 3 and all(len(n) == 32 for n in first)
    assert Kernel(6).nonce("attest") != first[0]


# -- canonical trace --------------------------------------------------------------------------
class Color(enum.StrEnum):
    RED = "red"


def test_trace_lines_are_canonical_json() -> None:
    t = Trace()
    e = t.append(1.5, "trusted/esx-01", "host.boot.start",
                 {"z": 1, "a": b"\x01\xff", "m": {"y": (1, 2), "b": 10.0}, "c": Color.RED,
                  "u": "caf\u00e9", "f": 0.1234567891})
    line = e.to_json()
    assert line == ('{"f":{"a":"01ff","c":"red","f":0.123457,"m":{"b":10,"y":[1,2]},'
                    '"u":"caf\\u00e9","z":1},"kind":"host.boot.start","seq":0,'
                    '"src":"trusted/esx-01","t":1.5}')
    d = json.loads(line)
    assert list(d) == sorted(d) and list(d["f"]) == sorted(d["f"])
    assert " " not in line and line.isascii()
    assert d["f"]["a"] == "01ff" and d["f"]["m"] == {"b": 10, "y": [1, 2]}
    assert d["f"]["c"] == "red" and d["f"]["u"] == "caf\u00e9" and d["f"]["f"] == 0.123457
    assert line == canonical(d)  # canonical is a fixed point
    back = TraceEvent.from_json(line)
    assert back.to_json() == line


def test_integral_floats_and_ints_serialise_alike() -> None:
    assert canonical({"x": 10.0}) == canonical({"x": 10}) == '{"x":10}'
    t1, t2 = Trace(), Trace()
    t1.append(3, "s", "k", {"v": 2})
    t2.append(3.0, "s", "k", {"v": 2.0})
    assert t1.digest() == t2.digest()


@pytest.mark.parametrize("bad", [{1, 2}, frozenset({"a"}), {"nested": [{3}]}])
def test_sets_are_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="sets"):
        jsonable(bad)
    t = Trace()
    with pytest.raises(TypeError):
        t.append(0, "s", "k", {"v": bad})
    assert len(t) == 0 and t.digest() == hashlib.sha256(b"").hexdigest()


def test_unknown_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="object"):
        jsonable(object())


def test_digest_is_sha256_of_jsonl() -> None:
    k = Kernel(9)
    assert k.trace.digest() == hashlib.sha256(b"").hexdigest()
    k.record("a", "x.one", n=1)
    k.env.run(until=2.25)
    k.record("b", "x.two", data=b"\x00" * 3, items=[1, "two"])
    k.log("esx-01", "kmxa.log", "hello")
    jsonl = k.trace.to_jsonl()
    assert jsonl.endswith("\n") and jsonl.count("\n") == 3
    assert k.trace.digest() == hashlib.sha256(jsonl.encode()).hexdigest()
    events = Trace.read_events(jsonl.splitlines())
    assert [e.seq for e in events] == [0, 1, 2]
    assert [e.time for e in events] == [0, 2.25, 2.25]
    assert "".join(e.to_json() + "\n" for e in events) == jsonl


def test_log_lines_use_the_simulated_calendar() -> None:
    k = Kernel(0)
    k.env.run(until=61.5)
    k.log("esx-01", "kmxa.log", "attested", level="warning")
    assert k.log_lines("esx-01", "kmxa.log") == [
        "2026-01-05T08:01:01.500Z warning kmxa: attested"]
    assert k.utc() == SIM_EPOCH.replace(minute=1, second=1, microsecond=500000)


# -- format_time --------------------------------------------------------------------------------
@pytest.mark.parametrize(("seconds", "text"), [
    (0, "T+00:00:00"),
    (1, "T+00:00:01"),
    (59, "T+00:00:59"),
    (3661, "T+01:01:01"),
    (3661.5, "T+01:01:01.500"),
    (0.25, "T+00:00:00.250"),
    (86399, "T+23:59:59"),
    (86400, "T+1d 00:00:00"),
    (90061.125, "T+1d 01:01:01.125"),
    (10 * 86400 + 5, "T+10d 00:00:05"),
])
def test_format_time(seconds: float, text: str) -> None:
    assert format_time(seconds) == text


def test_format_time_carries_rounded_milliseconds() -> None:
    assert format_time(59.9996) == "T+00:01:00"


# -- determinism across processes ------------------------------------------------------------
STORY = textwrap.dedent("""
    from vtalab.core import crypto
    from vtalab.esxi.host import EsxiHost
    from vtalab.esxi.releases import image_for
    from vtalab.core.kernel import Kernel
    from vtalab.core.parameters import Parameters
    from vtalab.tpm import Tpm
    from vtalab.esxi.measure import FirmwareProfile

    k = Kernel(2024)
    tpm = Tpm(crypto.derive_private_key(2024, "ek"), crypto.derive_private_key(2024, "ak"))
    h = EsxiHost(k, Parameters(), "esx-01", image_for("8.0 U2"), role="trusted", tpm=tpm,
                 firmware=FirmwareProfile.for_vendor("Dell Inc."))
    h.quick_boot_enabled = True
    rng = k.streams.child("story").rng("jitter")
    h.power_on(); k.run()
    h.stage_upgrade(image_for("8.0 U3")); k.run()
    k.advance(rng.uniform(1, 100))
    h.reboot("quick"); k.run()
    q1 = tpm.quote(k.nonce("q"), [0, 7, 11, 12, 13, 14], now_ms=int(k.now * 1000))
    k.record("story", "quote", attest=q1.attest, sig=q1.signature,
             names={n: len(n) for n in ("b", "a", "c")})
    h.reboot("full"); k.run()
    h.power_loss(); k.advance(rng.uniform(1, 100)); h.power_on(); k.run()
    q2 = tpm.quote(k.nonce("q"), list(range(24)), now_ms=int(k.now * 1000))
    k.record("story", "quote", attest=q2.attest, sig=q2.signature, log=tpm.log.to_bytes())
    print(len(k.trace), k.trace.digest())
""")


def run_story(hashseed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    out = subprocess.run([sys.executable, "-c", STORY], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_boot_story_is_identical_across_processes_and_hash_seeds() -> None:
    first = run_story("0")
    second = run_story("4242")
    third = run_story("random")
    assert first == second == third
    count, digest = first.split()
    assert int(count) > 10 and len(digest) == 64


def test_utc_and_epoch_seconds_are_their_datetime_definitions() -> None:
    """Kernel.utc keeps recent answers and epoch_seconds of a whole second is arithmetic:
    both must equal the plain datetime computation, at whole and fractional seconds, ints
    and floats, and when the same instants are asked again in any order."""
    import random
    from datetime import timedelta

    k = Kernel(1)
    rng = random.Random(5)
    instants = [0, 1, 0.0, 5, 5.0, 3.5, 0.9999999, 2.9999996, 1e9, 86400.0]
    instants += [rng.random() * 1e7 for _ in range(200)]
    instants += [float(rng.randrange(50)) for _ in range(200)]
    for at in instants + instants[::-1]:
        expected = SIM_EPOCH + timedelta(seconds=at)
        assert k.utc(at) == expected
        assert k.epoch_seconds(at) == int(expected.timestamp())
    k.advance(7.25)
    assert k.utc() == SIM_EPOCH + timedelta(seconds=7.25)
    assert k.epoch_seconds() == int((SIM_EPOCH + timedelta(seconds=7.25)).timestamp())


# -- the garbage collector while a world runs (kernel.gc_nursery) ---------------------------
def test_a_run_raises_the_young_generation_and_restores_the_thresholds() -> None:
    import gc

    from vtalab.core.kernel import GC_YOUNG_THRESHOLD

    k = Kernel(1)
    seen: list[tuple[int, ...]] = []

    def proc():  # type: ignore[no-untyped-def]
        yield k.timeout(1)
        seen.append(gc.get_threshold())

    k.process(proc())
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        k.run(5)
        assert seen == [(GC_YOUNG_THRESHOLD, 10, 10)]
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_the_nursery_never_lowers_a_threshold_nor_switches_collection_on() -> None:
    import gc

    from vtalab.core.kernel import GC_YOUNG_THRESHOLD, gc_nursery

    before = gc.get_threshold()
    try:
        for setting in ((0, 10, 10), (GC_YOUNG_THRESHOLD * 4, 5, 5)):
            gc.set_threshold(*setting)
            with gc_nursery():
                assert gc.get_threshold() == setting
            assert gc.get_threshold() == setting
        gc.set_threshold(700, 10, 10)
        with gc_nursery(), gc_nursery():  # nested: the outermost restores
            assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_threshold() == (700, 10, 10)
        with pytest.raises(RuntimeError), gc_nursery():
            raise RuntimeError("a failing run")
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
