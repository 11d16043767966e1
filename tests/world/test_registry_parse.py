"""Verb.parse remembers arguments of scalars: what it returns is what validating them
afresh returns, for every verb and step of the bundled scenarios and the setup procedure;
only frozen models of scalar values are shared; anything else is validated each time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import field_validator

from vtalab.errors import InputError
from vtalab.scenario.model import load_scenario
from vtalab.world import registry
from vtalab.world.assembly import World
from vtalab.world.registry import _PARSED, Args, Verb, lookup
from vtalab.world.topology import Topology

ROOT = Path(__file__).resolve().parent.parent.parent


def _bundled_steps() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((ROOT / "scenarios").rglob("*.yaml")):
        try:
            scenario = load_scenario(str(path))
        except Exception:  # noqa: BLE001 - a deliberately bad example file
            continue
        out += [(s.do, dict(s.with_)) for s in scenario.steps]
    return out


def test_parse_is_validation_for_every_bundled_step_and_setup_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    real_call = World.call

    def call(self: World, name: str, /, **args: Any) -> Any:
        calls.append((name, dict(args)))
        return real_call(self, name, **args)

    monkeypatch.setattr(World, "call", call)
    topology = load_scenario(str(ROOT / "scenarios" / "plans" / "safe-rolling-upgrade.yaml"))
    World(Topology.model_validate(topology.topology.model_dump())).run(1)
    items = calls + _bundled_steps()
    assert len(calls) > 10 and len(items) > 100
    _PARSED.cache_clear()
    for _ in range(2):  # the second time from the memo
        for name, raw in items:
            entry = lookup(name)
            try:
                want = entry.args.model_validate(raw)
            except Exception:  # noqa: BLE001 - refused: parse refuses it too
                with pytest.raises(InputError):
                    entry.parse(raw)
                continue
            got = entry.parse(raw)
            assert type(got) is type(want) and got == want
            assert vars(got) == vars(want) and got.model_fields_set == want.model_fields_set
    assert _PARSED.memo


def test_only_scalars_are_remembered() -> None:
    entry = lookup("upgrade-host")
    raw = {"vmhost": "esx-01", "release": "8.0 U3"}
    assert entry.parse(raw) is entry.parse(dict(raw))
    # True, 1 and 1.0 are equal but are different arguments
    keys = {registry._scalar_key(entry.args, {"x": v}) for v in (True, 1, 1.0, -0.0, 0.0)}
    assert len(keys) == 5
    assert registry._scalar_key(entry.args, {"vmhost": ["esx-01"]}) is None


class _Listy(Args):
    hosts: tuple[str, ...] | list[str]

    @field_validator("hosts", mode="before")
    @classmethod
    def split(cls, v: Any) -> Any:
        return v.split(",") if isinstance(v, str) else v


def test_a_model_holding_a_mutable_value_is_not_shared() -> None:
    verb = Verb("x-listy", "lab", "test", _Listy, lambda world, a: None)
    first = verb.parse({"hosts": "a,b"})
    assert first.hosts == ["a", "b"]
    second = verb.parse({"hosts": "a,b"})
    assert second == first and second is not first


def test_bad_arguments_are_refused_every_time() -> None:
    entry = lookup("upgrade-host")
    for _ in range(2):
        with pytest.raises(InputError, match="reboot"):
            entry.parse({"vmhost": "esx-01", "release": "8.0 U3", "reboot": "sometimes"})


def test_validated_is_the_memo_of_parse_and_keeps_pydantics_error() -> None:
    """The scenario checks validate every step through ``Verb.validated`` (the memo
    ``parse`` reads): the same shared model, and for bad arguments pydantic's own error
    (the checks locate it in the file), every time."""
    from pydantic import ValidationError

    entry = lookup("upgrade-host")
    raw = {"vmhost": "esx-01", "release": "8.0 U3"}
    assert entry.validated(dict(raw)) is entry.parse(raw)
    for _ in range(2):
        with pytest.raises(ValidationError) as caught:
            entry.validated({"vmhost": "esx-01", "release": "8.0 U3", "reboot": "sometimes"})
        assert caught.value.errors()[0]["loc"] == ("reboot",)
