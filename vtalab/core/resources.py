"""Files shipped inside the package (scenarios, bug stories, exercises), found by
``importlib.resources`` so that an installed wheel finds them as the source tree does.

The repository's top-level ``scenarios/`` is a symbolic link to ``vtalab/data/scenarios``,
so ``vtalab run scenarios/quick-boot-upgrade.yaml`` keeps working from a checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled", "bundled_scenario"]


def bundled(*parts: str) -> Path:
    """The path of ``vtalab/data/<parts…>`` in the installed package.

    vtalab is installed as files (never zipped), so the resource is a real directory.
    """
    return Path(str(resources.files("vtalab").joinpath("data", *parts)))


def bundled_scenario(name: str) -> Path | None:
    """The bundled scenario called ``name`` (a bug story under ``bugs/`` first, then the
    library), or ``None``: ``vtalab explain intermediate-images --host esx-01`` works from
    any folder."""
    stem = name.removesuffix(".yaml")
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    for folder in (("scenarios", "bugs"), ("scenarios",)):
        path = bundled(*folder, f"{stem}.yaml")
        if path.is_file():
            return path
    return None
