"""Generated reference docs: one definition (the registries), many uses.

``python tools/docgen.py`` rewrites ``docs/verbs.md``, ``docs/faults.md``,
``docs/parameters.md`` and ``docs/reasons.md``; ``tests/test_docs.py`` fails when a
committed file differs from what the registries produce, so the docs cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vtalab.analysis.strategies import strategies_markdown
from vtalab.core.parameters import parameters_markdown
from vtalab.domain.reasons import reasons_markdown
from vtalab.invariants import invariants_markdown
from vtalab.scenario.golden import library_markdown
from vtalab.world.reference import registry_markdown

__all__ = ["generate"]


def generate() -> dict[str, str]:
    """File name (under ``docs/``) → generated text."""
    return {
        "verbs.md": registry_markdown("verbs"),
        "faults.md": registry_markdown("faults"),
        "parameters.md": parameters_markdown(),
        "reasons.md": reasons_markdown(),
        "scenarios.md": library_markdown(),
        "invariants.md": invariants_markdown(),
        "strategies.md": strategies_markdown(),
    }


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["docs"])[0])
    for name, text in generate().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
