"""The session's vCenter connections (``Connect-VIServer``) and PowerShell's refusal to
prompt when nobody can answer: shared by the commands and the lab's shell commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vtalab.training.commands import ShellState
    from vtalab.world.assembly import World

__all__ = ["NON_INTERACTIVE", "connected"]

#: PowerShell's words when a cmdlet must ask but nobody can answer (pwsh -NonInteractive)
NON_INTERACTIVE = ("PowerShell is in NonInteractive mode. Read and Prompt functionality is "
                   "not available. (add -Confirm:$false to run it without asking)")


def connected(world: World, state: ShellState) -> list[str]:
    """The vCenter Servers the session is connected to (both until told otherwise)."""
    if state.servers is None:
        return [world.ta_vcenter.name, world.workload_vcenter.name]
    return list(state.servers)
