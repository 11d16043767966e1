"""``vtalab.core.frozen.maker``: the faster constructors of the frozen dataclasses made at
every attestation make the very objects the classes' own ``__init__`` makes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vtalab.core.frozen import maker
from vtalab.core.trace import TraceEvent
from vtalab.domain.attestation import Evidence, IssuedNonce, Verdict
from vtalab.tpm.device import Quote

_VALUE = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6),
                   st.binary(max_size=8), st.tuples(st.integers(0, 23)))


@pytest.mark.parametrize("cls", [Evidence, IssuedNonce, Quote, TraceEvent])
@given(data=st.data())
def test_a_made_object_is_the_one_the_class_makes(cls: type[Any], data: st.DataObject) -> None:
    fields = dataclasses.fields(cls)
    given_kw = {f.name: data.draw(_VALUE, label=f.name) for f in fields
                if f.default is dataclasses.MISSING or data.draw(st.booleans())}
    make = maker(cls)
    made, plain = make(**given_kw), cls(**given_kw)
    assert type(made) is cls and made == plain and repr(made) == repr(plain)
    assert all(getattr(made, f.name) is getattr(plain, f.name) for f in fields)
    positional = make(*[given_kw.get(f.name, f.default) for f in fields])
    assert positional == plain
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, fields[0].name, None)
    assert not hasattr(made, "__dict__")
    with pytest.raises(TypeError):  # the same parameters: a missing one is refused
        make(**{k: v for k, v in given_kw.items() if k != fields[0].name})


def test_the_default_is_the_class_default() -> None:
    kw = {f.name: b"x" for f in dataclasses.fields(Evidence) if f.name != "nonce"}
    assert maker(Evidence)(**kw).nonce == Evidence(**kw).nonce == b""


@dataclasses.dataclass(frozen=True)
class _NoSlots:
    a: int


@dataclasses.dataclass(slots=True)
class _NotFrozen:
    a: int


@dataclasses.dataclass(frozen=True, slots=True)
class _PostInit:
    a: int

    def __post_init__(self) -> None:
        pass


@dataclasses.dataclass(frozen=True, slots=True)
class _NotInInit:
    a: int
    b: int = dataclasses.field(default=0, init=False)


class _Plain:
    __slots__ = ("a",)


@pytest.mark.parametrize("cls", [_NoSlots, _NotFrozen, _PostInit, _NotInInit, _Plain,
                                 Verdict])  # Verdict: a default_factory
def test_classes_whose_init_does_more_are_refused(cls: type[Any]) -> None:
    with pytest.raises(TypeError):
        maker(cls)
