"""What the trust services see of the estate they run in.

Domain objects such as the trusted-host agent ``kmxa`` act on their surroundings: the
simulation kernel, the parameters, the TA cluster, the workload vCenter, the KMS and the
network between a host and a service. :class:`Site` names exactly that, so the domain
depends on a description of its surroundings rather than on the world that assembles
them (:class:`vtalab.world.assembly.World` satisfies it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vtalab.core.kernel import Kernel
    from vtalab.core.parameters import Parameters
    from vtalab.domain.kms import KmsCluster
    from vtalab.domain.ta_cluster import TaHost, TrustAuthorityCluster
    from vtalab.domain.vcenter import VCenter
    from vtalab.esxi.host import EsxiHost

__all__ = ["Site"]


class Site(Protocol):
    """The surroundings of the trust services (read-only attributes and one query)."""

    @property
    def kernel(self) -> Kernel: ...

    @property
    def params(self) -> Parameters: ...

    @property
    def ta_cluster(self) -> TrustAuthorityCluster: ...

    @property
    def workload_vcenter(self) -> VCenter: ...

    @property
    def kms(self) -> KmsCluster: ...

    def reachability(self, client: EsxiHost, ta: TaHost | None, service: str) -> str | None:
        """Why ``client`` cannot reach ``service`` on TA host ``ta`` (``None`` if it can)."""
        ...
