"""Files shipped inside the package (scenarios, bug stories, exercises), found by
``importlib.resources`` so that an installed wheel finds them as the source tree does.

The repository's top-level ``scenarios/`` is a symbolic link to ``vtalab/data/scenarios``,
so ``vtalab run scenarios/quick-boot-upgrade.yaml`` keeps working from a checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled"]


def bundled(*parts: str) -> Path:
    """The path of ``vtalab/data/<parts…>`` in the installed package.

    vtalab is installed as files (never zipped), so the resource is a real directory.
    """
    return Path(str(resources.files("vtalab").joinpath("data", *parts)))
