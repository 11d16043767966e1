"""What the registry declares for a cmdlet, in the shape the surface tests pin it against
Broadcom's pages (test_powercli_surface, test_keyprovider_surface, test_service_info_add):
one reading of the binder's view, so the three tables are compared the same way."""

from __future__ import annotations

from vtalab.training.pwsh.binding import SERVER, param_sets, params_of
from vtalab.world import registry

__all__ = ["observed_parameters", "observed_sets"]


def observed_parameters(cmdlet: str) -> dict[str, tuple[int | None, bool]]:
    """{parameter: (position, pipeline)} of ``cmdlet``, without the common -Server."""
    entry = registry.lookup(cmdlet)
    return {s.name: (s.position, s.pipeline) for s in params_of(entry) if s.field != SERVER}


def observed_sets(cmdlet: str) -> list[tuple[str, dict[str, tuple[int | None, bool, bool]]]]:
    """[(set, {parameter: (position, pipeline, mandatory)})] of ``cmdlet``, default set
    first, without the common -Server."""
    entry = registry.lookup(cmdlet)
    specs = {s.field: s for s in params_of(entry) if s.field != SERVER}
    return [(st.name, {specs[f].name: (st.position(f), specs[f].pipeline, f in st.mandatory)
                       for f in specs if f in st.fields})
            for st in param_sets(entry)]
