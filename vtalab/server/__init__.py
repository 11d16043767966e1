"""``vtalab serve``: the lab as two vCenters that the vSphere Automation SDK and curl drive.

Layer: above :mod:`vtalab.training`, below :mod:`vtalab.cli`. The service table
(:mod:`.services`) serves vAPI JSON-RPC and the REST mapping (:mod:`.app`) over one
:class:`~.lab.ServedLab` (world, clock, sessions, tasks, record); every operation reads or
acts through the registry's verbs. :mod:`.replay` re-runs a served session from its trace.
"""

from __future__ import annotations

from vtalab.server.app import create_app
from vtalab.server.lab import DEFAULT_USER, Limits, ServedLab, derive_password
from vtalab.server.run import Served, serve_forever, start, tls_material

__all__ = ["DEFAULT_USER", "Limits", "Served", "ServedLab", "create_app", "derive_password",
           "serve_forever", "start", "tls_material"]
