"""The simulated estate: topology, world assembly, and the registries of verbs and faults.

Importing this package fills :data:`VERBS` and :data:`FAULTS` (the verb and fault modules
register themselves when imported), so every user of the registry sees them complete.
"""

from vtalab.world import faults, verbs  # noqa: F401  (fill the registries)
from vtalab.world.assembly import World
from vtalab.world.registry import FAULTS, VERBS, Verb, lookup

__all__ = ["FAULTS", "VERBS", "Verb", "World", "lookup"]
