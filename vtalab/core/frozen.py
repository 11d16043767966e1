"""Faster constructors for the frozen dataclasses made on every attestation.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (looked
up anew for every field, since ``__setattr__`` itself refuses), which for the ten fields of
the evidence a host presents costs more than the rest of building the request. For a
frozen dataclass with ``__slots__``, :func:`maker` returns a function with the same
parameters (and defaults) that makes the same object by setting its slots through the
slots' own descriptors: equal, equally frozen, with the same ``repr`` (tests compare each
maker's objects with the class's own).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["maker"]

T = TypeVar("T")


def maker(cls: type[T]) -> Callable[..., T]:
    """A constructor of ``cls`` that skips its ``__init__`` (see the module docstring).

    ``cls`` must be a frozen dataclass with slots, every field an ``__init__`` parameter
    with at most a plain default, and nothing done after ``__init__`` (no
    ``__post_init__``): anything else is refused (``TypeError``), as its ``__init__``
    would do more than set the fields."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # (checked just above)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    signature, body = [], []
    for i, f in enumerate(fields):
        if not f.init or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} is not a plain __init__ parameter")
        namespace[f"_set{i}"] = cls.__dict__[f.name].__set__  # the slot's descriptor
        if f.default is dataclasses.MISSING:
            signature.append(f.name)
        else:
            namespace[f"_default{i}"] = f.default
            signature.append(f"{f.name}=_default{i}")
        body.append(f"    _set{i}(obj, {f.name})")
    # Generated like dataclasses' own __init__: the field names are identifiers.
    source = (f"def make({', '.join(signature)}):\n    obj = _new(_cls)\n"
              + "\n".join(body) + "\n    return obj\n")
    exec(source, namespace)  # noqa: S102 - the dataclass's own field names only
    make: Callable[..., T] = namespace["make"]
    make.__name__ = make.__qualname__ = f"make_{cls.__name__}"
    make.__doc__ = f"``{cls.__name__}(...)``, made faster (vtalab.core.frozen.maker)."
    return make
