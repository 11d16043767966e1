"""vtalab: a deterministic discrete-event lab of VMware vSphere Trust Authority.

The public API is small; everything else is private to its module::

    from vtalab import World, Topology, Parameters
    world = World(Topology(...), seed=7)
    world.perform("upgrade-host", {"vmhost": "esx-01", "release": "8.0 U2"})
    world.run(3600)

See ``docs/api.md`` for the Quick Boot story in Python.
"""

# First of all (`python -m vtalab` exits 130 on a Ctrl-C during the imports below):
import vtalab._startup  # noqa: F401 - installs that handler when it is imported
from vtalab.core.kernel import Kernel
from vtalab.core.parameters import Parameters
from vtalab.errors import InputError, OperationError, ReplayError, ScenarioError, VtalabError
from vtalab.world.assembly import World
from vtalab.world.registry import FAULTS, VERBS, Outcome
from vtalab.world.topology import (
    BaseImageSpec,
    KmsSpec,
    TaClusterSpec,
    TaHostSpec,
    Topology,
    Tpm2SettingsSpec,
    TpmSpec,
    TrustedClusterSpec,
    TrustedHostSpec,
    VmSpec,
)

__version__ = "0.1.0"

__all__ = [
    "BaseImageSpec",
    "FAULTS",
    "VERBS",
    "InputError",
    "Kernel",
    "KmsSpec",
    "OperationError",
    "Outcome",
    "Parameters",
    "ReplayError",
    "ScenarioError",
    "TaClusterSpec",
    "TaHostSpec",
    "Topology",
    "Tpm2SettingsSpec",
    "TpmSpec",
    "TrustedClusterSpec",
    "TrustedHostSpec",
    "VmSpec",
    "VtalabError",
    "World",
    "__version__",
]
