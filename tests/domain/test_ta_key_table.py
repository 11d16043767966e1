"""A TA host's registered endorsement keys: the verifier's set follows every change, and an
unchanged table hands out the same set (no copy per attestation: see ``KeyTable``)."""

from __future__ import annotations

import copy
import pickle

from vtalab.domain.ta_cluster import KeyTable, TaConfig


def _keys(config: TaConfig) -> frozenset[bytes]:
    got = config.trust_config().endorsement_keys_der
    assert isinstance(got, frozenset)
    return got


def test_every_change_of_the_table_reaches_the_verifier() -> None:
    c = TaConfig()
    assert _keys(c) == frozenset()
    t = c.endorsement_keys
    t["a"] = b"A"
    assert _keys(c) == {b"A"}
    t.update({"b": b"B"}, c=b"C")
    assert _keys(c) == {b"A", b"B", b"C"}
    t["a"] = b"A2"  # replaced under the same name
    assert _keys(c) == {b"A2", b"B", b"C"}
    del t["b"]
    assert _keys(c) == {b"A2", b"C"}
    assert t.pop("c") == b"C"
    assert _keys(c) == {b"A2"}
    assert t.pop("missing", None) is None
    t.setdefault("d", b"D")
    assert _keys(c) == {b"A2", b"D"}
    t |= {"e": b"E"}
    assert _keys(c) == {b"A2", b"D", b"E"}
    t.popitem()
    assert _keys(c) == {b"A2", b"D"}
    t.clear()
    assert _keys(c) == frozenset()


def test_an_unchanged_table_gives_the_same_set_and_a_plain_dict_is_wrapped() -> None:
    c = TaConfig()
    c.endorsement_keys["a"] = b"A"
    first = _keys(c)
    assert _keys(c) is first  # not rebuilt per attestation
    c.endorsement_keys = {"b": b"B"}  # as restore-ta-config assigns a backup
    assert isinstance(c.endorsement_keys, KeyTable)
    assert _keys(c) == {b"B"}
    assert TaConfig(endorsement_keys={"z": b"Z"}).endorsement_keys.keys_set() == {b"Z"}


def test_copies_keep_their_own_set() -> None:
    c = TaConfig()
    c.endorsement_keys["a"] = b"A"
    _keys(c)
    for other in (copy.deepcopy(c), pickle.loads(pickle.dumps(c))):
        assert isinstance(other.endorsement_keys, KeyTable)
        other.endorsement_keys["b"] = b"B"
        assert _keys(other) == {b"A", b"B"}
        assert _keys(c) == {b"A"}
