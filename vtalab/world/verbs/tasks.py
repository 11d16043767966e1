"""vCenter tasks as PowerCLI shows them: ``Get-Task`` and the Task object that a cmdlet's
``-RunAsync`` returns.

A PowerCLI Task (``VMware.VimAutomation.Sdk.Types.V1.Task``) is a row of a vCenter's
Recent Tasks: the lab's vCenters keep them (:class:`vtalab.domain.vcenter.Task`), so
``Get-Task`` lists what the Recent Tasks pane shows, with PowerCLI's property names, and a
Task object is a snapshot of one (as in PowerCLI: ``Get-Task -Id`` or ``Wait-Task``
for its state later).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from vtalab.errors import InputError
from vtalab.world.objects import make
from vtalab.world.registry import PS, Args, Outcome, PSSet, verb

if TYPE_CHECKING:
    from vtalab.domain.vcenter import Task, VCenter
    from vtalab.world.assembly import World

__all__ = ["STATES", "task_id", "task_object", "vcenter_tasks"]

#: PowerCLI's TaskState from the vCenter's TaskInfo.State (error, queued, running, success)
STATES = {"error": "Error", "queued": "Queued", "running": "Running", "success": "Success"}


def task_id(task: Task) -> str:
    """PowerCLI's Id of a vCenter task: ``Task-`` and the managed object's id."""
    return f"Task-{task.key}"


def vcenter_tasks(world: World) -> list[tuple[VCenter, Task]]:
    """Every task of both vCenters, oldest first (the order Recent Tasks were started)."""
    rows = [(vc, t) for vc in (world.ta_vcenter, world.workload_vcenter) for t in vc.tasks]
    return sorted(rows, key=lambda r: r[1].start)


def task_object(world: World, vc: VCenter, task: Task, result: Any = None) -> dict[str, Any]:
    """A Task object (``VMware.VimAutomation.Sdk.Types.V1.Task``) for one Recent Task."""
    done = task.status != "running"
    return make("Task", Description=task.name,
                FinishTime=world.kernel.utc(task.end).isoformat() if task.end is not None
                else None,
                Id=task_id(task), IsCancelable=False, Name=task.name,
                ObjectId=task.target, PercentComplete=100 if done else 0,
                Result=result if task.status == "success" else None,
                StartTime=world.kernel.utc(task.start).isoformat(),
                State=STATES.get(task.status, task.status.capitalize()),
                Uid=f"/VIServer=administrator@vsphere.local@{vc.name}:443/Task={task_id(task)}/")


class TaskArgs(Args):
    ps_sets = (PSSet("Status", ("status",)), PSSet("Id", ("id",), mandatory=("id",)))
    status: Annotated[Literal["Error", "Queued", "Running", "Success"] | None, PS(
        name="Status", pipeline=True, type="TaskState")] = Field(
        None, description="Only tasks in this state.")
    id: Annotated[str | None, PS(name="Id", type="String[]")] = Field(
        None, description="The task's Id (Task-task-12).")


@verb("Get-Task", summary="The vCenter Servers' recent tasks (the Recent Tasks pane), as "
      "PowerCLI Task objects.", args=TaskArgs, output="Task",
      source="PowerCLI reference (the Id and Status sets); assumed: Name and Description are "
      "the task's name as Recent Tasks shows it (PowerCLI shows the API method name, "
      "which the lab's tasks do not keep); TaskState values as the vCenter's TaskInfo.State")
def get_task(world: World, a: TaskArgs) -> Outcome:
    rows = [task_object(world, vc, t) for vc, t in vcenter_tasks(world)]
    if a.id is not None:
        found = [r for r in rows if r["Id"] == a.id]
        if not found:
            raise InputError(f"Get-Task: no task with Id {a.id!r}", what="Id", value=a.id,
                             choices=[r["Id"] for r in rows][-15:])
        return Outcome(True, output=found)
    return Outcome(True, output=[r for r in rows if a.status in (None, r["State"])])
