"""registry.lookup through its case-insensitive index finds what a scan of the tables
finds: exact names first, verbs before faults, the first entry in a table's order; and
the world finds a verb's vCenter from its parsed fields as getattr would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vtalab.errors import InputError
from vtalab.world.assembly import World
from vtalab.world.registry import FAULTS, VERBS, Verb, lookup


def scan(name: str) -> Verb | None:
    """The lookup as a plain scan of the tables (the reference)."""
    for table in (VERBS, FAULTS):
        if name in table:
            return table[name]
        for entry in table.values():
            if name.lower() in (entry.name.lower(), *(a.lower() for a in entry.aliases)):
                return entry
    return None


def spellings() -> list[str]:
    names = [n for t in (VERBS, FAULTS) for e in t.values() for n in (e.name, *e.aliases)]
    out = []
    for n in names:
        out += [n, n.lower(), n.upper(), n.swapcase()]
    return out


def test_every_spelling_finds_what_a_scan_finds() -> None:
    words = spellings()
    assert len(words) > 400  # every verb and fault, four ways each
    for word in words:
        assert lookup(word) is scan(word), word


@pytest.mark.parametrize("word", ["", "no-such-verb", "upgrade host", "Get-VMHost "])
def test_an_unknown_name_is_an_input_error(word: str) -> None:
    assert scan(word) is None
    with pytest.raises(InputError, match="unknown verb"):
        lookup(word)


def _extra(name: str, *aliases: str) -> Verb:
    entry = next(iter(VERBS.values()))
    return Verb(name, entry.kind, "test", entry.args, entry.run, aliases=aliases)


def test_an_entry_added_later_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    lookup("upgrade-host")  # the index is made ...
    extra = _extra("Zz-Late-Verb", "zz-late")
    monkeypatch.setitem(VERBS, extra.name, extra)  # ... and the table grows after it
    assert lookup("zz-late-verb") is extra
    assert lookup("ZZ-LATE") is extra


def test_an_entry_replaced_in_place_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    name = next(n for n in VERBS if n.lower() != n)
    assert lookup(name.lower()) is VERBS[name]  # the index is made
    other = _extra(name, "zz-replaced")
    monkeypatch.setitem(VERBS, name, other)  # same size: only the entry changed
    assert lookup(name.lower()) is other
    assert lookup("ZZ-replaced") is other
    gone = next(n for n in VERBS if n != name)
    monkeypatch.delitem(VERBS, gone)
    newcomer = _extra("Zz-Newcomer")
    monkeypatch.setitem(VERBS, newcomer.name, newcomer)  # one out, one in: same size
    assert lookup("zz-newcomer") is newcomer
    with pytest.raises(InputError):
        lookup(gone)


def test_a_case_insensitive_verb_beats_an_exact_fault(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    """Verbs are searched first, exactly then case-insensitively, as the scan did."""
    fault = next(iter(FAULTS.values()))
    shadow = _extra(fault.name.upper())
    monkeypatch.setitem(VERBS, shadow.name, shadow)
    assert lookup(fault.name) is shadow
    assert scan(fault.name) is shadow


def test_the_vcenter_of_every_verb_is_read_from_its_fields(
        make_world: Callable[..., World]) -> None:
    """``World.vcenter_of_verb`` reads the parsed arguments' fields from the model's
    ``__dict__``: the same answer as ``getattr`` for every verb and every name."""
    world = make_world(ta_hosts=("ta-01", "ta-02"))

    def reference(entry: Verb, parsed: Any) -> Any:
        cluster = getattr(parsed, "entity", None) or getattr(parsed, "cluster", None)
        if entry.kind == "powercli" and cluster == world.ta_cluster.name:
            return world.ta_vcenter
        if entry.side == "ta":
            return world.ta_vcenter
        if entry.side == "workload":
            return world.workload_vcenter
        if entry.side == "host" and entry.kind == "powercli":
            host = getattr(parsed, "vmhost", None)
            if host in world.hosts and world.hosts[host].role == "trust-authority":
                return world.ta_vcenter
            return world.workload_vcenter
        return None

    names = [None, world.ta_cluster.name, *world.trusted_clusters, "ta-01", "esx-01", "x"]
    tried = 0
    for entry in [*VERBS.values(), *FAULTS.values()]:
        fields = entry.args.model_fields
        for name in names:
            values = {f: name for f in ("entity", "cluster", "vmhost") if f in fields}
            parsed = entry.args.model_construct(**values)
            assert world.vcenter_of_verb(entry, parsed) is reference(entry, parsed), \
                (entry.name, name)
            tried += bool(values)
    assert tried > 100


def test_of_two_entries_that_differ_in_case_only_the_first_is_found(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A third spelling of two names that differ only in case finds the first entry in
    the table's order, as the scan did (not the last one indexed)."""
    first, second = _extra("Zz-CaseTwin"), _extra("ZZ-CASETWIN")
    monkeypatch.setitem(VERBS, first.name, first)
    monkeypatch.setitem(VERBS, second.name, second)
    assert lookup("zz-casetwin") is first is scan("zz-casetwin")
