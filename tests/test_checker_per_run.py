"""What every run of the plan checker no longer repeats gives what the long way gives.

The checker runs one plan hundreds of times, so work that depends only on the plan, the
seed or a text is done once per process (issue 14): each shortcut here is compared with
the plain computation it replaces.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vtalab.analysis.checker.cases import BOOT_FACTORS, Case, build_scenario, draw_cases
from vtalab.analysis.checker.search import Checker, _liveness_bound
from vtalab.core import crypto
from vtalab.core.parameters import Parameters
from vtalab.errors import InputError, ScenarioError
from vtalab.esxi import releases
from vtalab.invariants import check_all, liveness_bound
from vtalab.invariants.replay import _FOLDS, _readers
from vtalab.scenario.checks import semantic_problems
from vtalab.scenario.model import load_scenario, run_scenario
from vtalab.scenario.run import start_run
from vtalab.scenario.yamlloc import LazyLocated, Located
from vtalab.world.assembly import World
from vtalab.world.topology import Topology
from vtalab.world.verbs.keyprovider import _key_pem, _pem_private_key, _private_key

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "scenarios" / "plans" / "safe-rolling-upgrade.yaml"


def test_lazy_located_dumps_only_when_read() -> None:
    made: list[int] = []

    def make() -> dict[str, list[int]]:
        made.append(1)
        return {"steps": [7]}

    lazy = LazyLocated(make, "<scenario>")
    assert not lazy.exists(("steps",)) and made == []  # no marks: nothing to dump
    plain = Located({"steps": [7]}, "<scenario>", "")
    assert str(lazy.error(("steps", 0), "bad")) == str(plain.error(("steps", 0), "bad"))
    assert lazy.get(("steps", 0)) == 7 and made == [1]  # made once, then kept
    lazy.data = {"other": 1}
    assert lazy.get(("other",)) == 1 and made == [1]


def test_a_bad_scenario_built_in_code_is_refused_as_before() -> None:
    plan = load_scenario(str(PLAN))
    bad = plan.model_copy(update={"steps": [
        *plan.steps[:1],
        plan.steps[1].model_copy(update={"with_": {**plan.steps[1].with_,
                                                   "vmhost": "esx-99"}})]})
    want = semantic_problems(bad)
    assert want
    with pytest.raises(ScenarioError) as err:
        start_run(bad)
    assert str(err.value) == str(want[0])
    assert "<scenario>" in str(err.value) and "esx-99" in str(err.value)


@pytest.mark.parametrize("factor", BOOT_FACTORS)
def test_liveness_bound_without_building_the_scenario(factor: float) -> None:
    plan = load_scenario(str(PLAN))
    case = Case(steps=tuple(range(len(plan.steps))), boot_factor=factor)
    built = build_scenario(plan, case, settle=0)
    assert _liveness_bound(plan, factor) == float(
        liveness_bound(Parameters(**built.parameters)))


def test_settle_of_every_drawn_case_is_the_built_scenarios() -> None:
    plan = load_scenario(str(PLAN))
    checker = Checker(plan, examples=40, faults="heavy", seed=3)
    for case in draw_cases(plan, "heavy", 3, 40):
        built = build_scenario(plan, case, settle=0)
        tail = max((f.delay + float(f.with_.get("duration", 0) or 0) for f in case.faults),
                   default=0.0)
        assert checker.settle_for(case) == float(
            liveness_bound(Parameters(**built.parameters))) + tail


def test_folds_read_by_kind_as_each_fold_says() -> None:
    scenario = load_scenario(str(ROOT / "scenarios" / "quick-boot-upgrade.yaml"))
    result = run_scenario(scenario)
    check_all(result.world, include_advice=True)
    folds = _FOLDS[result.world.kernel.trace]
    kinds = {e.kind for e in result.world.kernel.trace} | {"attest.whatever", "ta.host.x"}
    for kind in sorted(kinds):
        want = [f for f in folds.shared if f.wants(kind)]
        assert [folds.shared[i] for i in _readers(folds.kinds, kind)] == want
    assert any(_readers(folds.kinds, k) for k in kinds)


def test_ek_certificate_is_the_one_issued_for_the_public_key() -> None:
    plan = load_scenario(str(PLAN))
    world = World(Topology.model_validate(plan.topology.model_dump()), seed=plan.seed)
    for host in world.trusted_clusters["Trusted Cluster"].hosts.values():
        tpm = host.host.tpm
        ca, ca_key = world.tpm_vendor_ca(host.host.tpm_vendor)
        start = world.kernel.utc() - timedelta(days=300)
        vendor = host.host.tpm_vendor
        want = crypto.cert_der(crypto.issue_certificate(
            f"{vendor} EK {crypto.key_id(tpm.ek)}", tpm.ek.public_key(), ca, ca_key, start,
            start + timedelta(days=world.params.tpm_ca_validity_days), org=vendor,
            key_agreement=True))
        assert tpm.ek_certificate_der == want


def test_client_key_from_pem_is_remembered_and_bad_text_refused() -> None:
    key = crypto.derive_private_key(5, "client")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    assert _pem_private_key(pem) is _pem_private_key(pem)
    assert crypto.public_der(_pem_private_key(pem)) == crypto.public_der(key)
    world = World(Topology.model_validate(load_scenario(str(PLAN)).topology.model_dump()))
    world.files["bad.key"] = "not a key"
    for _ in range(2):  # a refused text is not remembered: refused again
        with pytest.raises(InputError, match="'bad.key' is not a private key"):
            _private_key(world, "bad.key")
    world.files["good.key"] = pem
    assert _private_key(world, "good.key") is _pem_private_key(pem)


def test_cert_der_by_identity_is_the_encoding() -> None:
    key = crypto.derive_private_key(9, "ca")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ca = crypto.make_ca("Per-run CA", key, start, start + timedelta(days=30))
    want = ca.public_bytes(serialization.Encoding.DER)
    assert crypto.cert_der(ca) == want and crypto.cert_der(ca) is crypto.cert_der(ca)
    other = x509.load_der_x509_certificate(want)  # equal, another object: encoded again
    assert other is not ca and crypto.cert_der(other) == want
    leaf = crypto.issue_certificate("leaf", crypto.derive_private_key(9, "leaf"), ca, key,
                                    start, start + timedelta(days=1))
    assert crypto.cert_der(leaf) == leaf.public_bytes(serialization.Encoding.DER)
    crypto._CERT_DER_BY_ID.clear()  # forgotten (bench_scale.forget_crypto): made again
    assert crypto.cert_der(ca) == want


def test_release_lookup_by_text_is_remembered_and_refusals_are_not() -> None:
    for text in ("8.0 U3", "ESXi 8.0 Update 2", "8.0.2-22380479", "8.0.3",
                 "ESXi-8.0U2-22380479-standard", "22380479"):
        want = releases._lookup_text.__wrapped__(text)  # the plain lookup
        assert releases.lookup(text) is want
        hits = releases._lookup_text.cache_info().hits
        assert releases.lookup(text) is want
        assert releases._lookup_text.cache_info().hits == hits + 1
    for _ in range(2):
        with pytest.raises(InputError, match="unknown ESXi"):
            releases.lookup("8.0 U99")


def test_client_key_pem_is_the_keys() -> None:
    key = crypto.derive_private_key(5, "kms-client")
    assert _key_pem(key) == crypto.private_pem(key).decode()
    assert crypto.public_der(crypto.private_from_pem(_key_pem(key))) == crypto.public_der(key)
