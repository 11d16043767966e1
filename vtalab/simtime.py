"""Simulated times and durations as people write them: ``90s``, ``10m``, ``2h``, ``1h30m``.

One parser for every place a person names a time: scenario steps and expectations, fault
durations, CLI ``--at``/``--until``. It lives below the world so verbs and faults can use
it too.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

__all__ = ["MAX_TIME", "TIME_HELP", "Time", "parse_time"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
#: The longest simulated time a scenario may name (100 years): beyond it, sums overflow.
MAX_TIME = 100 * 365 * 86400.0
TIME_HELP = "a number of seconds or a duration such as '90s', '10m', '2h', '1d' or '1h30m'"


def parse_time(value: Any) -> float:
    """Seconds for ``value``: a non-negative number, or a string like ``10m`` / ``1h30m``.

    Raises ``ValueError`` with an operator-readable message otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {TIME_HELP}; got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            compact = text.replace(" ", "")
            parts = _DURATION.findall(compact)
            if not parts or "".join(n + u for n, u in parts) != compact:
                raise ValueError(f"expected {TIME_HELP}; got {value!r}") from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"expected {TIME_HELP}; got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected {TIME_HELP} (not negative, not infinite); got {value!r}")
    if seconds > MAX_TIME:
        raise ValueError(f"{value!r} is more than the lab's limit of {MAX_TIME // 86400:g} "
                         "days of simulated time")
    return seconds


_TIME_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*[smhd]\s*)+$"},
    ],
    "description": f"Simulated time: {TIME_HELP}.",
}

#: A simulated time or duration in a spec: validated to seconds (float).
Time = Annotated[float, BeforeValidator(parse_time), WithJsonSchema(_TIME_SCHEMA)]

