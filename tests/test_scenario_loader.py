"""The scenario loader: valid files load; every bad input is one located ScenarioError.

These are unit tests of the loader and the runner, so they use a few fake verbs (put in
the public registry tables) and a small fake World with the same public API, handed to
``run_scenario`` through its ``world_factory`` seam. Every other test runs the real World.
"""

from __future__ import annotations

import textwrap
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from pydantic import Field

from vtalab.core.kernel import Kernel
from vtalab.core.parameters import Parameters
from vtalab.core.simtime import HORIZON_SECONDS
from vtalab.errors import ScenarioError
from vtalab.scenario.expect import EXPECTATIONS, parse_time
from vtalab.scenario.model import (
    Scenario,
    load_scenario,
    load_scenario_text,
    run_scenario,
    scenario_json_schema,
)
from vtalab.world import registry
from vtalab.world.registry import Args, Outcome, Verb
from vtalab.world.topology import Topology

# -- fakes -----------------------------------------------------------------------------


class UpgradeArgs(Args):
    host: str
    release: str


class VmArgs(Args):
    vm: str


class HostArgs(Args):
    host: str


class OutageArgs(Args):
    seconds: float = Field(60, ge=0)


def _upgrade(world: FakeWorld, a: UpgradeArgs) -> Generator[Any, Any, Outcome]:
    world.kernel.record(f"trusted/{a.host}", "host.upgrade.staged", host=a.host,
                        message=f"Upgrade staged: ESXi {a.release}")
    yield world.kernel.timeout(300)
    world.versions[a.host] = a.release
    world.kernel.record(f"trusted/{a.host}", "host.boot.full", host=a.host,
                        message=f"Full boot: ESXi {a.release}")
    world.kernel.log(a.host, "attestd.log", f"host {a.host} measured {a.release}")
    return Outcome(True, message=f"{a.host} runs {a.release}")


def _start_vm(world: FakeWorld, a: VmArgs) -> Outcome:
    vm = world.vms[a.vm]
    if vm["encrypted"] and world.attestation_status(vm["host"])["status"] != "attested":
        vm["last_error"] = "untrusted_base_image"
        world.tasks_.append({"time": world.kernel.now, "vcenter": "wld", "task": "Power On VM",
                             "target": a.vm, "status": "error",
                             "error": "untrusted_base_image"})
        return Outcome(False, "untrusted_base_image", "the host is not attested")
    vm["power_state"] = "poweredOn"
    world.tasks_.append({"time": world.kernel.now, "vcenter": "wld", "task": "Power On VM",
                         "target": a.vm, "status": "success", "error": None})
    return Outcome(True)


FAKE_EVENT = "com.vmware.vc.TaHostAttestPassEvent"  #: the event the fake import posts


def _import_image(world: FakeWorld, a: HostArgs) -> Outcome:
    version = world.versions[a.host]
    if version in world.images:
        return Outcome(False, "already_exists", f"base image {version} already exists")
    world.images.append(version)
    world.events_.append({"time": world.kernel.now, "vcenter": "ta", "target": version,
                          "event_id": FAKE_EVENT,
                          "message": f"Base image {version} imported"})
    world.kernel.record("ta/vcenter", "vc.event", message=f"Base image {version} imported")
    return Outcome(True)


def _outage(world: FakeWorld, a: OutageArgs) -> Generator[Any, Any, Outcome]:
    world.kernel.record("kms", "fault.kms-outage", message="KMS unreachable")
    yield world.kernel.timeout(a.seconds)
    return Outcome(True)


FAKE_VERBS = {
    "upgrade-host": Verb("upgrade-host", "lab", "Upgrade a host and reboot it.", UpgradeArgs,
                         _upgrade),
    "Start-VM": Verb("Start-VM", "powercli", "Power on a VM.", VmArgs, _start_vm),
    "New-TrustAuthorityVMHostBaseImage": Verb(
        "New-TrustAuthorityVMHostBaseImage", "powercli", "Import a base image.", HostArgs,
        _import_image),
}
FAKE_FAULTS = {
    "kms-outage": Verb("kms-outage", "fault", "The KMS is unreachable.", OutageArgs,
                       _outage, stands_for="KMS down"),
}


class FakeWorld:
    """The World API of vtalab.world.assembly, just enough to drive the scenario machinery."""

    def __init__(self, topology: Topology, *, seed: int = 0,
                 params: Parameters | None = None) -> None:
        self.topology = topology
        self.params = params or Parameters()
        self.kernel = Kernel(seed)
        self.versions = {h.name: h.release for c in topology.trusted_clusters
                         for h in c.hosts}
        self.versions.update({h.name: h.release for h in topology.ta_cluster.hosts})
        self.images = sorted(set(self.versions.values()))
        self.vms = {vm.name: {"power_state": "poweredOn" if vm.powered_on else "poweredOff",
                              "host": vm.host, "encrypted": vm.encrypted, "last_error": None}
                    for c in topology.trusted_clusters for vm in c.vms}
        self.events_: list[dict[str, Any]] = []
        self.tasks_: list[dict[str, Any]] = []
        self.kernel.record("world", "world.built", message="World built", seed=seed)

    def host_names(self) -> list[str]:
        return list(self.versions)

    def vm_names(self) -> list[str]:
        return list(self.vms)

    def perform(self, name: str, args: dict[str, Any] | None = None, *,
                actor: str = "operator") -> Any:
        verb = registry.lookup(name)
        parsed = verb.parse(args)
        result = verb.run(self, parsed)
        if isinstance(result, Outcome):
            def immediate() -> Generator[Any, Any, Outcome]:
                return result
                yield  # pragma: no cover

            return self.kernel.process(immediate())
        return self.kernel.process(result)

    def attestation_status(self, host: str) -> dict[str, Any]:
        ok = self.versions[host] in self.images
        return {"status": "attested" if ok else "notAttested",
                "reason": None if ok else "untrusted_base_image",
                "attested_at": 0.0 if ok else None, "attested_until": None,
                "messages": [], "measured_version": self.versions[host],
                "version": self.versions[host]}

    def vm_state(self, vm: str) -> dict[str, Any]:
        return dict(self.vms[vm])

    def base_images(self) -> list[dict[str, Any]]:
        return [{"version": v, "display_name": v, "health": "OK", "last_attested_time": None}
                for v in self.images]

    def health(self) -> dict[str, str]:
        return {"ta_cluster/base_images": "OK", "trusted_cluster/Trusted Cluster": "OK"}

    def events(self) -> list[dict[str, Any]]:
        return list(self.events_)

    def tasks(self) -> list[dict[str, Any]]:
        return list(self.tasks_)

    def evidence(self, host: str, nonce: bytes | None = None) -> dict[str, bytes]:
        n = nonce or self.kernel.nonce("evidence")
        return {"quote.msg": b"\xffTCG", "quote.sig": b"sig", "ak.pub.pem": b"PEM\n",
                "pcrs.json": b'{"sha256": {"0": "00", "7": "00", "11": "00"}}',
                "pcrs.bin": bytes(96), "nonce.hex": n.hex().encode()}


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    install_fakes(monkeypatch)
    yield


def install_fakes(mp: pytest.MonkeyPatch) -> None:
    """Put the fake verbs and faults in the registry tables (the World comes through
    ``run_scenario(..., world_factory=FakeWorld)``)."""
    mp.setattr(registry, "VERBS", dict(FAKE_VERBS))
    mp.setattr(registry, "FAULTS", dict(FAKE_FAULTS))


VALID = textwrap.dedent("""\
    name: upgrade-before-import
    description: Seed doc - upgrading a trusted host before importing its base image
    seed: 7
    parameters:
      vmotion_seconds: 30
    topology:
      trusted_clusters:
        - hosts:
            - name: esx-01
            - name: esx-02
          vms:
            - {name: vm-01, host: esx-01, encrypted: true, powered_on: false}
    steps:
      - id: upgrade
        do: upgrade-host
        with: {host: esx-01, release: "8.0 U3"}
      - after: 10m
        do: Start-VM
        with: {vm: vm-01}
        expect_error: untrusted_base_image
      - id: import
        at: 1h
        do: New-TrustAuthorityVMHostBaseImage
        with: {host: esx-01}
      - do: Start-VM
        with: {vm: vm-01}
    expect:
      - after_step: upgrade
        delay: 1m
        attestation: {host: esx-01, status: notAttested, reason: untrusted_base_image}
      - vm: {vm: vm-01, power_state: poweredOn}
      - base_images: {present: ["8.0 U3"]}
      - step: {step: import, ok: true}
      - task: {task: Power On VM, target: vm-01, status: error}
      - event: {event_id: com.vmware.vc.TaHostAttestPassEvent}
      - log: {host: esx-01, log: attestd.log, contains: measured}
      - at: 2h
        health: {object: ta_cluster/base_images, value: OK}
    """)


def bad(text: str, fake: bool = True) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="bad.yaml")
    return info.value


def replace(old: str, new: str, text: str = VALID) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(needle)


# -- valid -----------------------------------------------------------------------------

def test_valid_scenario_loads(fake_registry: None) -> None:
    s = load_scenario_text(VALID, file="ok.yaml")
    assert isinstance(s, Scenario)
    assert s.seed == 7 and s.parameters == {"vmotion_seconds": 30.0}
    assert [st.do for st in s.steps][:2] == ["upgrade-host", "Start-VM"]
    assert s.steps[1].after == 600 and s.steps[2].at == 3600
    assert s.steps[0].with_ == {"host": "esx-01", "release": "8.0 U3"}
    assert [e.kind for e in s.expect] == ["attestation", "vm", "base_images", "step", "task",
                                          "event", "log", "health"]


def test_load_scenario_from_file(fake_registry: None, tmp_path: Any) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(VALID, encoding="utf-8")
    assert load_scenario(str(p)).name == "upgrade-before-import"


def test_run_fake_world_all_pass(fake_registry: None) -> None:
    result = run_scenario(load_scenario_text(VALID), world_factory=FakeWorld)
    assert [v.ok for v in result.verdicts] == [True] * len(result.verdicts), [
        (v.label, v.detail) for v in result.verdicts if not v.ok]
    steps = result.world.kernel.trace.select("step.", source="scenario")
    assert [e.kind for e in steps][:2] == ["step.start", "step.end"]
    assert steps[0].fields["verb"] == "upgrade-host"
    # Same scenario, same seed: same digest; the run is deterministic.
    again = run_scenario(load_scenario_text(VALID), world_factory=FakeWorld)
    assert again.digest == result.digest
    other = run_scenario(load_scenario_text(VALID), seed=8, world_factory=FakeWorld)
    assert other.digest != result.digest


def test_run_reports_failures_and_until(fake_registry: None) -> None:
    text = replace("power_state: poweredOn", "power_state: poweredOff")
    result = run_scenario(load_scenario_text(text), world_factory=FakeWorld)
    failed = [v for v in result.verdicts if not v.ok]
    assert len(failed) == 1 and "power_state 'poweredOn'" in failed[0].detail
    cut = run_scenario(load_scenario_text(VALID), until=120, world_factory=FakeWorld)
    assert cut.end == 120
    assert any("not reached" in v.detail for v in cut.verdicts)


def test_unexpected_refusal_is_a_failed_verdict(fake_registry: None) -> None:
    text = replace("    expect_error: untrusted_base_image\n", "")
    result = run_scenario(load_scenario_text(text), world_factory=FakeWorld)
    failed = [v for v in result.verdicts if not v.ok]
    assert "expect_error: untrusted_base_image" in failed[0].detail


# -- bad input: one located error each ------------------------------------------------

def test_invalid_yaml(fake_registry: None) -> None:
    text = replace("with: {host: esx-01, release: \"8.0 U3\"}",
                   "with: {host: esx-01, release: \"8.0 U3\"")
    e = bad(text)
    assert e.file == "bad.yaml" and e.line is not None and e.column is not None
    assert "invalid YAML" in str(e)
    assert str(e).startswith(f"bad.yaml:{e.line}:{e.column}: ")


def test_unknown_top_level_key(fake_registry: None) -> None:
    e = bad(replace("seed: 7", "sed: 7"))
    assert (e.line, e.column, e.path) == (3, 1, "sed")
    assert e.suggestion == "seed"
    assert "unknown key 'sed'" in str(e) and "did you mean 'seed'?" in str(e)


def test_unknown_step_arg(fake_registry: None) -> None:
    text = replace("with: {host: esx-01, release: \"8.0 U3\"}",
                   "with: {host: esx-01, relase: \"8.0 U3\"}")
    e = bad(text)
    assert e.path == "steps.0.with.relase"
    assert e.line == line_of(text, "relase") and e.column == text.splitlines()[
        e.line - 1].index("relase") + 1
    assert e.suggestion == "release"


def test_wrong_type(fake_registry: None) -> None:
    text = replace("seconds: 30", "seconds: 30", replace("seed: 7", "seed: seven"))
    e = bad(text)
    assert (e.line, e.column, e.path) == (3, 7, "seed")
    assert "'seven'" in str(e)


def test_wrong_type_in_topology(fake_registry: None) -> None:
    text = replace("powered_on: false", "powered_on: maybe")
    e = bad(text)
    assert e.path == "topology.trusted_clusters.0.vms.0.powered_on"
    assert e.line == line_of(text, "maybe")


def test_bad_time(fake_registry: None) -> None:
    text = replace("after: 10m", "after: 10 minutes")
    e = bad(text)
    assert e.path == "steps.1.after" and e.line == line_of(text, "10 minutes")
    assert "'10m'" in str(e)


def test_unknown_verb(fake_registry: None) -> None:
    # registry.lookup is case-insensitive, so 'Start-Vm' would be valid: use a real typo.
    text = replace("do: Start-VM", "do: Strat-VM")
    e = bad(text)
    assert e.path == "steps.1.do" and e.line == line_of(text, "Strat-VM")
    assert e.column == text.splitlines()[e.line - 1].index("Strat-VM") + 1
    assert e.suggestion == "Start-VM" and "unknown verb 'Strat-VM'" in str(e)


def test_unknown_host_in_step(fake_registry: None) -> None:
    text = replace("with: {host: esx-01, release", "with: {host: esx-1, release")
    e = bad(text)
    assert e.path == "steps.0.with.host" and e.suggestion == "esx-01"
    assert e.line == line_of(text, "esx-1,")


def test_unknown_vm_in_expectation(fake_registry: None) -> None:
    text = replace("- vm: {vm: vm-01", "- vm: {vm: vm-1")
    e = bad(text)
    assert e.path == "expect.1.vm.vm" and e.suggestion == "vm-01"


def test_unknown_parameter(fake_registry: None) -> None:
    text = replace("vmotion_seconds: 30", "vmotin_seconds: 30")
    e = bad(text)
    assert (e.line, e.column, e.path) == (5, 3, "parameters.vmotin_seconds")
    assert e.suggestion == "vmotion_seconds"


def test_negative_parameter(fake_registry: None) -> None:
    e = bad(replace("vmotion_seconds: 30", "vmotion_seconds: -3"))
    assert e.path == "parameters.vmotion_seconds" and e.line == 5


def test_time_in_the_past(fake_registry: None) -> None:
    text = replace("  - do: Start-VM\n    with: {vm: vm-01}\nexpect:",
                   "  - at: 30m\n    do: Start-VM\n    with: {vm: vm-01}\nexpect:")
    e = bad(text)
    assert "a time in the past" in str(e) and e.path == "steps.3.at"
    assert e.line == line_of(text, "at: 30m")


def test_unknown_expectation_kind(fake_registry: None) -> None:
    text = replace("- base_images: {present", "- base_image: {present")
    e = bad(text)
    assert e.path.startswith("expect.2.base_image")
    text = replace("- base_images: {present", "- base_imgs: {present")
    e = bad(text)
    assert e.path == "expect.2.base_imgs" and e.suggestion == "base_images"


def test_two_checks_in_one_expectation(fake_registry: None) -> None:
    text = replace("  - vm: {vm: vm-01, power_state: poweredOn}",
                   "  - vm: {vm: vm-01, power_state: poweredOn}\n"
                   "    health: {object: x, value: OK}")
    e = bad(text)
    assert e.path == "expect.1" and "exactly one check" in str(e)


def test_bad_literal_gets_nearest(fake_registry: None) -> None:
    e = bad(replace("status: notAttested", "status: notattested"))
    assert e.suggestion == "notAttested" and e.path == "expect.0.attestation.status"


def test_unknown_step_reference(fake_registry: None) -> None:
    e = bad(replace("after_step: upgrade", "after_step: upgrde"))
    assert e.path == "expect.0.after_step" and e.suggestion == "upgrade"


def test_duplicate_key_and_duplicate_host(fake_registry: None) -> None:
    e = bad(replace("seed: 7", "seed: 7\nseed: 8"))
    assert e.line == 4 and "given twice" in str(e)
    text = replace("- name: esx-02", "- name: esx-01")
    e = bad(text)
    assert "used twice" in str(e) and e.line == line_of(text, "- name: esx-01") + 1, str(e)


def test_missing_required_key(fake_registry: None) -> None:
    text = replace("  - do: Start-VM\n    with: {vm: vm-01}\nexpect",
                   "  - with: {vm: vm-01}\nexpect")
    e = bad(text)
    assert e.path == "steps.3.do" and "missing required key 'do'" in str(e)


def test_top_level_not_a_mapping_and_empty(fake_registry: None) -> None:
    assert "a mapping" in str(bad("- a\n- b\n"))
    assert "empty" in str(bad("\n# nothing\n"))


def test_parse_time() -> None:
    assert parse_time("90s") == 90 and parse_time("10m") == 600 and parse_time("2h") == 7200
    assert parse_time("1d") == 86400 and parse_time("1h30m") == 5400 and parse_time(5) == 5
    for wrong in ("-1", "ten", True, float("inf"), "1x", None, [1]):
        with pytest.raises(ValueError):
            parse_time(wrong)


def test_json_schema_lists_verbs_and_kinds(fake_registry: None) -> None:
    schema = scenario_json_schema()
    step = schema["$defs"]["Step"]
    assert step["properties"]["do"]["enum"] == sorted([*FAKE_VERBS, *FAKE_FAULTS])
    assert "with" in step["properties"]
    exp = schema["$defs"]["Expectation"]["properties"]
    assert set(EXPECTATIONS) <= set(exp)


# -- the real World (integration) ----------------------------------------------------------

def test_real_world_configured_topology_attests() -> None:
    text = textwrap.dedent("""\
        name: configured estate attests
        topology:
          trusted_clusters:
            - hosts: [{name: esx-01}]
        expect:
          - attestation: {host: esx-01, status: attested}
        """)
    result = run_scenario(load_scenario_text(text))
    assert result.ok, [(v.label, v.detail) for v in result.verdicts]


# -- ESXi releases, host roles, event ids, the horizon (real registry) --------------------

REAL = textwrap.dedent("""\
    name: real
    seed: 5
    topology:
      ta_cluster:
        hosts: [{name: ta-esx-01, release: "8.0 U2"}]
        base_images: ["8.0 U1", {release: "8.0 U2", last_attested: -1d}]
      trusted_clusters:
        - name: Trusted Cluster
          quick_boot: true
          hosts:
            - {name: esx-01, release: "8.0 U2", last_full_boot: "8.0 U1"}
            - {name: esx-02, release: "8.0 U1"}
          vms:
            - {name: db01, host: esx-01, encrypted: true}
    steps:
      - id: upgrade
        at: 10m
        do: upgrade-host
        with: {vmhost: esx-02, release: "8.0 U2"}
      - id: remove
        after: 5m
        do: Remove-TrustAuthorityVMHostBaseImage
        with: {version: "8.0 U1"}
    expect:
      - after_step: upgrade
        attestation: {host: esx-02, status: attested}
      - vm: {vm: db01, host: esx-01}
      - event: {event_id: com.vmware.vc.TaHostAttestPassEvent, target: esx-02}
    """)


def test_real_scenario_loads() -> None:
    s = load_scenario_text(REAL, file="real.yaml")
    assert [st.do for st in s.steps] == ["upgrade-host", "Remove-TrustAuthorityVMHostBaseImage"]


@pytest.mark.parametrize(("old", "new", "path"), [
    ('{name: esx-02, release: "8.0 U1"}', '{name: esx-02, release: "8.0 U7"}',
     "topology.trusted_clusters.0.hosts.1.release"),
    ('last_full_boot: "8.0 U1"', 'last_full_boot: "8.0 U7"',
     "topology.trusted_clusters.0.hosts.0.last_full_boot"),
    ('{name: ta-esx-01, release: "8.0 U2"}', '{name: ta-esx-01, release: "8.0 U7"}',
     "topology.ta_cluster.hosts.0.release"),
    ('base_images: ["8.0 U1"', 'base_images: ["8.0 U7"', "topology.ta_cluster.base_images.0"),
    ('{release: "8.0 U2", last', '{release: "8.0 U7", last',
     "topology.ta_cluster.base_images.1.release"),
    ('with: {vmhost: esx-02, release: "8.0 U2"}', 'with: {vmhost: esx-02, release: "8.0 U7"}',
     "steps.0.with.release"),
    ('with: {version: "8.0 U1"}', 'with: {version: "8.0 U7"}', "steps.1.with.version"),
])
def test_unknown_release_is_one_located_error_by_name(old: str, new: str, path: str) -> None:
    text = replace(old, new, REAL)
    e = bad(text)
    assert e.path == path
    assert e.line == line_of(text, "8.0 U7")
    assert e.column == text.splitlines()[e.line - 1].index('"8.0 U7"') + 1
    message = str(e)
    assert message.startswith(f"bad.yaml:{e.line}:{e.column}: {path}: unknown ESXi release "
                              "'8.0 U7'; ")
    # Named as the person named it, suggested once.
    assert e.suggestion == "8.0 U3" and message.count("did you mean") == 1
    assert "8.0 U3, 8.0 U2, 8.0 U1" in message and "8.0.3-24022510" not in message


def test_unknown_release_by_version_build_gets_version_builds() -> None:
    text = replace('release: "8.0 U7"', 'release: "8.0.2-22380470"',
                   replace('with: {vmhost: esx-02, release: "8.0 U2"}',
                           'with: {vmhost: esx-02, release: "8.0 U7"}', REAL))
    e = bad(text)
    assert e.path == "steps.0.with.release" and "unknown ESXi build 22380470" in str(e)
    assert e.suggestion == "8.0.2-22380479" and str(e).count("did you mean") == 1


def test_step_release_typo_exits_2_not_1(tmp_path: Any) -> None:
    import contextlib
    import io

    from vtalab.cli import main

    path = tmp_path / "s.yaml"
    path.write_text(replace('with: {vmhost: esx-02, release: "8.0 U2"}',
                            'with: {vmhost: esx-02, release: "8.0 U9"}', REAL), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(path)])
    assert code == 2 and out.getvalue() == "", err.getvalue()
    assert "steps.0.with.release: unknown ESXi release '8.0 U9'" in err.getvalue()


@pytest.mark.parametrize(("old", "new", "path"), [
    ("attestation: {host: esx-02", "attestation: {host: ta-esx-01", "expect.0.attestation.host"),
    ("vm: {vm: db01, host: esx-01}", "vm: {vm: db01, host: ta-esx-01}", "expect.1.vm.host"),
])
def test_a_host_of_the_wrong_role_is_located(old: str, new: str, path: str) -> None:
    text = replace(old, new, REAL)
    e = bad(text)
    assert e.path == path and e.line == line_of(text, new)
    assert "'ta-esx-01' is a Trust Authority host" in str(e)
    assert "valid trusted hosts: esx-01, esx-02" in str(e)


def test_unknown_trusted_host() -> None:
    e = bad(replace("attestation: {host: esx-02", "attestation: {host: esx-2", REAL))
    assert "unknown trusted host 'esx-2'" in str(e) and e.suggestion == "esx-02"


def test_unknown_event_id_gets_the_nearest_known() -> None:
    text = replace("com.vmware.vc.TaHostAttestPassEvent", "com.vmware.vc.TaHostAttestPasEvent",
                   REAL)
    e = bad(text)
    assert e.path == "expect.2.event.event_id" and e.line == line_of(text, "AttestPasEvent")
    assert e.suggestion == "com.vmware.vc.TaHostAttestPassEvent"
    assert "unknown vCenter event id" in str(e)


@pytest.mark.parametrize(("old", "new", "path", "words"), [
    ("at: 10m", "at: 1e9", "steps.0.at", "11,574 days) is beyond the lab's horizon"),
    ("at: 10m", "at: 401d", "steps.0.at", "beyond the lab's horizon of 400 days"),
    ("at: 10m", "at: 399d23h58m", "steps.1.after", "this step would start at T+400d 00:03:00"),
    ("after: 5m", "after: 400d", "steps.1.after", "would start at T+400d 00:10:00"),
    ("  - after_step: upgrade\n", "  - after_step: upgrade\n    delay: 400d\n",
     "expect.0.delay", "this check would run at T+400d 00:10:00"),
    # The last step starts exactly at the horizon: settling would go beyond it.
    ("at: 10m", "at: 399d23h55m", "steps.1.after", "at least T+400d 00:00:00 plus 00:10:00"),
    ("seed: 5", "seed: 5\nsettle: 400d", "settle", "plus 400d 00:00:00 of settling"),
])
def test_times_beyond_the_horizon_are_refused(old: str, new: str, path: str,
                                             words: str) -> None:
    text = replace(old, new, REAL)
    e = bad(text)
    assert e.path == path, str(e)
    assert words in str(e), str(e)


def test_step_numbers_must_be_finite_and_within_the_horizon() -> None:
    text = replace("  - id: remove\n", "  - do: wait\n    with: {seconds: .inf}\n  - id: remove\n",
                   REAL)
    e = bad(text)
    assert e.path == "steps.1.with.seconds" and "not a number of seconds" in str(e)
    text = replace("  - id: remove\n", "  - do: clock-skew\n    with: {vmhost: esx-01, "
                   "seconds: -1e300}\n  - id: remove\n", REAL)
    assert bad(text).path == "steps.1.with.seconds"


def test_the_run_stops_at_the_horizon(fake_registry: None) -> None:
    """A step that runs past the horizon (its duration is not known at load) is cut."""
    text = textwrap.dedent("""\
        name: long
        topology:
          trusted_clusters:
            - hosts: [{name: esx-01}]
        steps:
          - at: 399d
            do: kms-outage
            with: {seconds: 172800}
          - do: Start-VM
            with: {vm: vm-01}
        settle: 0
        """).replace("hosts: [{name: esx-01}]", "hosts: [{name: esx-01}]\n      vms: "
                                                  "[{name: vm-01, host: esx-01}]")
    result = run_scenario(load_scenario_text(text), world_factory=FakeWorld)
    assert result.end == HORIZON_SECONDS
    assert not result.ok
    assert all("(the lab's horizon)" in v.detail for v in result.verdicts), result.verdicts


def test_check_counts_match_the_golden_transcripts() -> None:
    """docs/scenarios.md's "checks" is what `vtalab run` reports for each scenario."""
    import re
    from pathlib import Path

    from vtalab.scenario.golden import LIBRARY, golden_path, library_markdown, scenario_files
    from vtalab.scenario.model import check_count

    docs_table = library_markdown()
    for path in scenario_files(LIBRARY):
        sc = load_scenario(str(path))
        summary = re.search(r"^(\d+) passed, (\d+) failed$",
                            golden_path(path).read_text(encoding="utf-8"), re.M)
        assert summary is not None, path
        assert check_count(sc) == int(summary[1]) + int(summary[2]), path
        assert f"[`{sc.name}`](#{sc.name}) | {len(sc.steps)} | {check_count(sc)} |" in docs_table
    docs = Path(__file__).resolve().parent.parent / "docs"
    for name in ("verbs.md", "faults.md"):
        text = (docs / name).read_text(encoding="utf-8")
        assert "Optional" not in text and not re.search(r": Literal\b", text), name
    assert "`duration: time \\| None = None`" in (docs / "faults.md").read_text()
