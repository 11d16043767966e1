"""Operator training: a PowerCLI-style shell on a simulated vTA estate.

The shell speaks the operator's language (``vtalab.training.commands``): the registry's
PowerCLI cmdlets with PowerShell parameters, variables and pipelines
(``Get-TrustAuthorityVMHostBaseImage -TrustAuthorityCluster $vTA | select *``), lab
commands to look around (``hosts``, ``tasks``, ``log esx-01 kmxa.log``), to act outside
PowerCLI (``upgrade-host``, ``reboot-host``, faults) and to move simulated time
(``advance 15m``, ``wait-until attested esx-01``), with help and tab completion.

The command language, one concept per module: ``pwsh`` (parsing), ``binding`` (PowerShell
parameters onto the registry's arguments), ``filters`` (``select``/``where``/``ft`` ...),
``lab`` (look-around and time commands), ``risks`` (what weakens trust), ``format``
(PowerShell tables and lists), ``assist`` (help and completion) and ``commands``
(:func:`execute`).
"""

from vtalab.training.assist import complete, help_text
from vtalab.training.commands import CommandResult, ShellState, command_names, execute

__all__ = [
    "CommandResult",
    "ShellState",
    "command_names",
    "complete",
    "execute",
    "help_text",
]
