"""PowerShell-style output for the training shell: :mod:`vtalab.world.psformat`, which
``vtalab run``'s timeline shares (one formatter for the shell and the scenario runner)."""

from __future__ import annotations

from vtalab.world.psformat import Formatted, cell, json_text, listing, plain, render, table

__all__ = ["Formatted", "cell", "json_text", "listing", "plain", "render", "table"]
