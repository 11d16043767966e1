"""The session's vCenter connections (``Connect-VIServer``), which vCenter an object is
on, and PowerShell's refusal to prompt when nobody can answer: shared by the binder
(``-Server`` resolves names on those vCenters), the commands and the lab's shell
commands. (It lives in ``pwsh`` so that the binder may use it without an import cycle.)"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from vtalab.errors import InputError
from vtalab.training.pwsh import format as fmt
from vtalab.world.psformat import PSObject

if TYPE_CHECKING:
    from vtalab.training.commands import ShellState
    from vtalab.world.assembly import World

__all__ = ["NON_INTERACTIVE", "SIDE_TYPES", "check_servers", "connected", "on_servers",
           "owner", "server_names", "side_owns", "side_vcenter"]

#: PowerShell's words when a cmdlet must ask but nobody can answer (pwsh -NonInteractive)
NON_INTERACTIVE = ("PowerShell is in NonInteractive mode. Read and Prompt functionality is "
                   "not available. (add -Confirm:$false to run it without asking)")


def connected(world: World, state: ShellState) -> list[str]:
    """The vCenter Servers the session is connected to (both until told otherwise)."""
    if state.servers is None:
        return [world.ta_vcenter.name, world.workload_vcenter.name]
    return list(state.servers)


def server_names(server: Any) -> list[str]:
    """The vCenter names a ``-Server`` argument gives: names, or VIServer objects
    (``$global:DefaultVIServers``, ``Connect-VIServer``'s output), one or several."""
    return [fmt.cell(v.get("Name") if isinstance(v, PSObject) else v)
            for v in (server if isinstance(server, list) else [server])]


def check_servers(command: str, server: Any, known: list[str]) -> list[str]:
    """The vCenter names ``-Server`` gives (:func:`server_names`), each one of the
    connected ``known``; else PowerCLI's error for the first that is not."""
    names = server_names(server)
    for text in names:
        if text not in known:
            raise InputError(f"{command}: Could not find VIServer with name '{text}'.",
                             what="server", value=text, choices=known)
    return names


#: The vCenter in a PowerCLI object's Uid (``/VIServer=user@domain@VCENTER:443/...``).
_UID_SERVER = re.compile(r"/VIServer=[^/]*@([^@/:]+)(?::\d+)?/")


def on_servers(objects: list[Any], names: list[str]) -> list[Any]:
    """What a Get- cmdlet given ``-Server`` outputs: only the objects of those vCenters
    (by the vCenter in their Uid; an object without one is kept). PowerCLI asks each
    server named, so ``Get-VMHost -Server`` the TA vCenter lists the TA hosts only."""
    wanted = {n.lower() for n in names}
    out = []
    for obj in objects:
        uid = obj.get("Uid") if isinstance(obj, PSObject) else None
        found = _UID_SERVER.match(uid) if isinstance(uid, str) else None
        if found is None or found.group(1).lower() in wanted:
            out.append(obj)
    return out


def owner(world: World, kind: str, name: str) -> str | None:
    """The vCenter an inventory object of ``kind`` (``VMHost``, ``VirtualMachine``,
    ``TrustedCluster``, ``TrustAuthorityCluster``) named ``name`` is on, as its Uid says:
    the TA cluster and its hosts on the TA vCenter, the rest on the workload vCenter;
    ``None`` if there is no such object."""
    ta, workload = world.ta_vcenter.name, world.workload_vcenter.name
    if kind == "VMHost":
        host = world.hosts.get(name)
        if host is None:
            return None
        return ta if host.role == "trust-authority" else workload
    if kind == "VirtualMachine":
        return workload if name in world.vms else None
    if kind == "TrustedCluster":
        return workload if name in world.trusted_clusters else None
    if kind == "TrustAuthorityCluster":
        return ta if name == world.ta_cluster.name else None
    if kind == "Cluster":  # Set-Cluster -Cluster: the TA cluster or a Trusted Cluster
        return (owner(world, "TrustAuthorityCluster", name)
                or owner(world, "TrustedCluster", name))
    return None


def side_vcenter(world: World, side: str) -> str | None:
    """The vCenter a TA-side or workload-side cmdlet runs through (``None``: a host's)."""
    return {"ta": world.ta_vcenter.name, "workload": world.workload_vcenter.name}.get(side)


#: The object types (their .NET names) that live on the vCenter of one side: a TA-side
#: cmdlet's TrustAuthority* objects on the TA vCenter, a workload-side cmdlet's service
#: infos and principals on the workload vCenter.
SIDE_TYPES = {"workload": ("AttestationServiceInfo", "KeyProviderServiceInfo",
                           "TrustedPrincipal")}


def side_owns(side: str, type_name: str) -> bool:
    """Whether objects of ``type_name`` live on the vCenter of a ``side`` cmdlet."""
    if side == "ta":
        return type_name.startswith("TrustAuthority")
    return type_name in SIDE_TYPES.get(side, ())
