"""Item 9: same topology, seed and verbs give the same trace, in-process and across
processes with different PYTHONHASHSEED; another seed gives other keys and another trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from vtalab.core import crypto

# One self-contained program: build a small estate, drive it through verbs and faults,
# print the trace digest and the hosts' EK public keys.
PROGRAM = r'''
import json, sys
from vtalab.core import crypto
from vtalab.world.topology import (TaClusterSpec, TaHostSpec, Topology, TrustedClusterSpec,
                             TrustedHostSpec, VmSpec)
from vtalab.world.assembly import World

def run(seed):
    topo = Topology(
        ta_cluster=TaClusterSpec(hosts=[TaHostSpec(name="ta-01"), TaHostSpec(name="ta-02")]),
        trusted_clusters=[TrustedClusterSpec(quick_boot=True, hosts=[
            TrustedHostSpec(name="esx-01", release="8.0 U1"),
            TrustedHostSpec(name="esx-02", release="8.0 U1")],
            vms=[VmSpec(name="db", host="esx-01", encrypted=True),
                 VmSpec(name="web", host="esx-02")])])
    w = World(topo, seed=seed)
    w.run(60)
    steps = [("upgrade-host", {"vmhost": "esx-01", "release": "8.0 U2"}),
             ("Export-VMHostImageDb", {"vmhost": "esx-01", "file": "u2.tgz"}),
             ("New-TrustAuthorityVMHostBaseImage", {"file": "u2.tgz"}),
             ("network-partition", {"vmhost": "esx-02", "duration": 900}),
             ("sts-rotation", {}),
             ("wait", {"seconds": 4000}),
             ("Export-TrustedPrincipal", {"file": "p"}),
             ("New-TrustAuthorityPrincipal", {"file": "p"}),
             ("Stop-VM", {"vm": "db"}),
             ("Start-VM", {"vm": "db"})]
    for verb, args in steps:
        w.kernel.env.run(until=w.perform(verb, args))
    w.run(w.kernel.now + 7200)
    eks = {h: crypto.public_der(w.hosts[h].tpm.ek).hex() for h in ("esx-01", "esx-02")}
    return {"digest": w.kernel.trace.digest(), "events": len(w.kernel.trace), "eks": eks}

print(json.dumps(run(int(sys.argv[1]))))
'''


def _in_process(seed: int) -> dict:
    namespace: dict = {"__name__": "determinism_program"}
    code = PROGRAM.replace('print(json.dumps(run(int(sys.argv[1]))))', "")
    exec(compile(code, "<determinism>", "exec"), namespace)  # noqa: S102 - our own text
    return namespace["run"](seed)


def _subprocess(seed: int, hashseed: str) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    proc = subprocess.run([sys.executable, "-c", PROGRAM, str(seed)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_same_seed_same_digest_in_process():
    a, b = _in_process(11), _in_process(11)
    assert a["digest"] == b["digest"]
    assert a["events"] == b["events"] > 100
    assert a["eks"] == b["eks"]


def test_same_seed_same_digest_across_processes_and_hash_seeds():
    here = _in_process(11)
    one = _subprocess(11, "1")
    two = _subprocess(11, "4242")
    assert one == two
    assert one["digest"] == here["digest"]


def test_different_seed_different_keys_and_digest():
    a, b = _in_process(11), _in_process(12)
    assert a["eks"]["esx-01"] != b["eks"]["esx-01"]
    assert a["eks"]["esx-02"] != b["eks"]["esx-02"]
    assert a["eks"]["esx-01"] != a["eks"]["esx-02"]
    assert a["digest"] != b["digest"]


def test_traces_identical_event_by_event(make_world):
    def trace(seed: int) -> str:
        w = make_world(seed=seed, vms=())
        w.perform("kms-outage", {"duration": 100})
        w.run(5000)
        return w.kernel.trace.to_jsonl()

    first, second = trace(5), trace(5)
    assert first == second
    assert crypto.sha256(first.encode()).hex() == crypto.sha256(second.encode()).hex()
