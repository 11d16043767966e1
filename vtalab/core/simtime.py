"""Simulated times and durations as people write them: ``90s``, ``10m``, ``2h``, ``1h30m``.

One parser for every place a person names a time: scenario steps and expectations, fault
durations, CLI ``--at``/``--until``. It lives below the world so verbs and faults can use
it too.

**The horizon.** A lab runs at most :data:`HORIZON_SECONDS` (400 days) of simulated time:
every time a person names is at most that, a scenario whose written times add up to more
is refused when it is loaded, and a run stops there whatever happens. Why a limit at all:
simulated time is not free -- kmxa re-attests every trusted host every hour, so a year of
a three-host lab costs a minute or two of real time, and ``after: 1e9`` (31 years) would
run for hours before saying anything. 400 days covers every documented period (token
lifetime, re-attestation, certificate validity once its parameter is shortened) with room
to spare. History before T=0 (a snapshot's last-attested times) is not simulated, so it
may reach further back (:data:`MAX_TIME`).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

__all__ = ["HORIZON_SECONDS", "MAX_TIME", "TIME_HELP", "Time", "parse_time"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
#: The longest a lab runs, and the latest simulated time a person may name (400 days).
HORIZON_SECONDS = 400 * 86400.0
#: The furthest back history before T=0 may reach (100 years): beyond it, sums overflow.
MAX_TIME = 100 * 365 * 86400.0
TIME_HELP = "a number of seconds or a duration such as '90s', '10m', '2h', '1d' or '1h30m'"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_time(value: Any, *, limit: float = HORIZON_SECONDS) -> float:
    """Seconds for ``value``: a non-negative number, or a string like ``10m`` / ``1h30m``.

    At most ``limit`` (default: the lab's horizon). Raises ``ValueError`` with an
    operator-readable message otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {TIME_HELP}; got {_shown(value)}")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float: far beyond the horizon
            seconds = math.inf
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            compact = text.replace(" ", "")
            parts = _DURATION.findall(compact)
            if not parts or "".join(n + u for n, u in parts) != compact:
                raise ValueError(f"expected {TIME_HELP}; got {_shown(value)}") from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)  # '9'*400+'d': inf
    else:
        raise ValueError(f"expected {TIME_HELP}; got {_shown(value)}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected {TIME_HELP} (a finite number, not negative); "
                         f"got {_shown(value)}")
    if seconds > limit:
        what = "horizon" if limit == HORIZON_SECONDS else "limit"
        days = f"{seconds / 86400:,.0f} days" if seconds < 1e15 else "far more days"
        raise ValueError(f"{_shown(value)} ({days}) is beyond the lab's "
                         f"{what} of {limit / 86400:g} days of simulated time")
    return seconds


_TIME_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": HORIZON_SECONDS},
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*[smhd]\s*)+$"},
    ],
    "description": f"Simulated time: {TIME_HELP}; at most {HORIZON_SECONDS / 86400:g} days.",
}

#: A simulated time or duration in a spec: validated to seconds (float).
Time = Annotated[float, BeforeValidator(parse_time), WithJsonSchema(_TIME_SCHEMA)]

