"""Operator verbs: PowerCLI cmdlets where one exists, lab verbs for the rest.

Each verb is registered once (``vtalab.world.registry``) with its argument model and source;
the CLI, scenarios, the checker, the training shell and the docs read the registry.
Files that cmdlets exchange (``-FilePath``) live in ``world.files`` under the name the
operator gives. The verbs are grouped by who performs them:

* ``ta``: the Trust Authority cluster's objects (TA vCenter);
* ``workload``: Trusted clusters in the workload vCenter;
* ``inventory``: the ``Get-``/``Remove-``/``Set-`` counterparts of both;
* ``hosts``: reboots, power, maintenance mode, upgrades, revert, Quick Boot setting;
* ``lifecycle``: vLCM cluster remediation (images and baselines);
* ``keyprovider``: a trusted key provider's KMIP servers, client certificate and trusted
  server certificates, and the KMS administrator's side of that trust;
* ``services``: attestd/kmxd from vCenter, kmxa only by logging in to the host;
* ``vms``: power, vMotion, encryption;
* ``lab``: TA cluster membership, backup/restore, letting time pass;
* ``queries``: reads the vSphere Automation API makes that no cmdlet shows.

The documented setup procedure of ``configured`` topologies is :mod:`vtalab.world.setup`.
"""

from __future__ import annotations

from vtalab.world.verbs import (  # noqa: F401
    hosts,
    inventory,
    keyprovider,
    lab,
    lifecycle,
    queries,
    services,
    ta,
    tasks,
    vms,
    workload,
)
from vtalab.world.verbs.common import DOC, SEED, _ta_task
from vtalab.world.verbs.ta import _resolve_version
from vtalab.world.verbs.workload import TrustedClusterArgs

__all__ = ["DOC", "SEED", "TrustedClusterArgs", "_resolve_version", "_ta_task"]
