"""A TA host's trust configuration is remembered between attestations (see
``TaConfig.trust_config``) and follows every change: each mutation path of every table, the
base image store, the plain fields, a restored backup and copies. Checked against a fresh
snapshot built field by field (what ``trust_config`` built on every call before)."""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable

import pytest

from vtalab.domain.attestation import Principal, Tpm2Settings, TrustConfig
from vtalab.domain.base_image import BaseImage
from vtalab.domain.ta_cluster import KeyTable, Table, TaConfig


def reference(c: TaConfig) -> TrustConfig:
    """The snapshot built from scratch (the reference the remembered one must equal)."""
    return TrustConfig(enabled=c.enabled, principals=tuple(c.principals.values()),
                       base_images=tuple(c.base_images),
                       tpm_ca_certificates_der=tuple(c.tpm_ca_certificates.values()),
                       endorsement_keys_der=frozenset(c.endorsement_keys.values()),
                       settings=c.settings)


def image(n: int) -> BaseImage:
    return BaseImage(version=f"8.0.{n}-{n}", display_name=f"image {n}", build=n,
                     modules=(("esx-base", bytes([n]) * 32),), version_records=())


def check(c: TaConfig) -> TrustConfig:
    got = c.trust_config()
    assert got == reference(c)
    return got


def _principal(i: int) -> Principal:
    return Principal(f"vc-{i}", (bytes([i]) * 8,))


#: every way the code base (and a person at a Python prompt) changes a TaConfig
MUTATIONS: list[tuple[str, Callable[[TaConfig, int], object]]] = [
    ("enable", lambda c, i: setattr(c, "enabled", not c.enabled)),
    ("settings", lambda c, i: setattr(c, "settings", Tpm2Settings(bool(i % 2), bool(i % 3)))),
    ("principal set", lambda c, i: c.principals.__setitem__(f"vc-{i % 3}", _principal(i))),
    ("principal del", lambda c, i: c.principals.pop(next(iter(c.principals), "x"), None)),
    ("principals update", lambda c, i: c.principals.update({f"vc-{i}": _principal(i)})),
    ("principals setdefault", lambda c, i: c.principals.setdefault(f"vc-{i}", _principal(i))),
    ("principals clear", lambda c, i: c.principals.clear()),
    ("principals restored", lambda c, i: setattr(c, "principals", {"r": _principal(i)})),
    ("ca set", lambda c, i: c.tpm_ca_certificates.__setitem__(f"ca{i % 2}", bytes([i]))),
    ("ca del", lambda c, i: c.tpm_ca_certificates.pop(f"ca{i % 2}", None)),
    ("ca |=", lambda c, i: c.tpm_ca_certificates.__ior__({f"ca{i}": b"x"})),
    ("ca popitem", lambda c, i: c.tpm_ca_certificates and c.tpm_ca_certificates.popitem()),
    ("ca restored", lambda c, i: setattr(c, "tpm_ca_certificates", {"ca": bytes([i])})),
    ("ek set", lambda c, i: c.endorsement_keys.__setitem__(f"ek{i % 4}", bytes([i]))),
    ("ek del", lambda c, i: c.endorsement_keys.pop(f"ek{i % 4}", None)),
    ("ek restored", lambda c, i: setattr(c, "endorsement_keys", {"e": bytes([i])})),
    ("image add", lambda c, i: image(i) if image(i).version in c.base_images
        else c.base_images.add(image(i))),
    ("image remove", lambda c, i: c.base_images.versions() and c.base_images.remove(
        c.base_images.versions()[0])),
    ("images replaced", lambda c, i: c.base_images.replace_all((image(i), image(i + 1)))),
]


@pytest.mark.parametrize("name,mutate", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_change_gives_a_new_snapshot_and_no_change_the_same(
        name: str, mutate: Callable[[TaConfig, int], object]) -> None:
    c = TaConfig(enabled=True)
    c.principals["vc-0"] = _principal(0)
    c.tpm_ca_certificates["ca0"] = b"\x00"
    c.endorsement_keys["ek0"] = b"\x00"
    c.base_images.add(image(0))
    for i in range(1, 6):
        before = check(c)
        assert c.trust_config() is before  # unchanged: the same snapshot, not a copy
        mutate(c, i)
        after = check(c)
        if after != before:  # (a mutation may leave the contents as they were)
            assert after is not before


def test_a_long_random_sequence_of_changes_always_matches_the_reference() -> None:
    rng = random.Random(14)
    c = TaConfig()
    for _ in range(2000):
        _, mutate = MUTATIONS[rng.randrange(len(MUTATIONS))]
        mutate(c, rng.randrange(40))
        if rng.random() < 0.7:
            check(c)


def test_a_table_changed_through_an_old_reference_or_shared_is_seen() -> None:
    c = TaConfig()
    keys = c.endorsement_keys
    check(c)
    keys["a"] = b"A"  # the caller kept the table
    assert check(c).endorsement_keys_der == {b"A"}
    shared: Table[Principal] = Table()
    c.principals = shared
    other = TaConfig(principals=shared)
    assert c.principals is shared and other.principals is shared  # a Table is not copied
    check(c), check(other)
    shared["p"] = _principal(1)
    assert check(c).principals == check(other).principals == (_principal(1),)
    assert isinstance(TaConfig(tpm_ca_certificates={"x": b"X"}).tpm_ca_certificates, Table)
    assert isinstance(TaConfig(endorsement_keys={"x": b"X"}).endorsement_keys, KeyTable)


def test_copies_and_unpickled_configs_remember_and_change_on_their_own() -> None:
    c = TaConfig(enabled=True)
    c.principals["p"] = _principal(1)
    c.base_images.add(image(1))
    first = check(c)
    for other in (copy.deepcopy(c), pickle.loads(pickle.dumps(c))):
        assert check(other) == first
        other.principals["q"] = _principal(2)
        other.base_images.add(image(2))
        assert check(other).principals == (_principal(1), _principal(2))
        assert [b.version for b in check(other).base_images] == ["8.0.1-1", "8.0.2-2"]
        other.principals.pop("q")  # back to one principal: the same contents again
        check(other)
        assert c.trust_config() is first


def test_failed_changes_leave_the_snapshot_right() -> None:
    c = TaConfig()
    c.base_images.add(image(1))
    check(c)
    with pytest.raises(Exception, match="already imported"):
        c.base_images.add(image(1))
    with pytest.raises(Exception, match="no base image"):
        c.base_images.remove("nope")
    with pytest.raises(KeyError):
        del c.principals["nope"]
    check(c)
