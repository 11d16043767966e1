"""Get-VIEvent in the training shell, and the one table of event severities.

An operator reads vTA's failures in vCenter's events (``com.vmware.vc.TaHostAttestFailEvent``
...); PowerCLI gets them with ``Get-VIEvent``. The shell had only the lab's own ``events``
command, and ``Get-VIEvent`` was "not recognized"; the console decided each event's
severity with a regular expression of its own.
"""

from __future__ import annotations

import pytest

from vtalab.domain.vcenter import EVENT_SEVERITY, EVENT_TEXT
from vtalab.training.session import Session

EXERCISE = "upgrade-before-import"  # esx-03 upgraded, attestation failed, db01 locked


@pytest.fixture(scope="module")
def session() -> Session:
    return Session.start(EXERCISE)


def _column(text: str, name: str) -> list[str]:
    """One column of a Select-Object table (a single-word column's cells)."""
    lines = [line for line in text.splitlines() if line.strip()]
    head = lines[0].split()
    i = head.index(name)
    return [line.split()[i] for line in lines[2:]]


def _events(session: Session) -> list[tuple[str, str, str]]:
    world = session.world
    rows = [(e.time, e.event_id, e.target)
            for vc in (world.ta_vcenter, world.workload_vcenter) for e in vc.events]
    return [(world.kernel.utc(t).isoformat(), i, target) for t, i, target in rows]


def test_every_event_the_lab_posts_has_one_severity() -> None:
    assert set(EVENT_SEVERITY) == set(EVENT_TEXT)
    assert set(EVENT_SEVERITY.values()) <= {"info", "warning", "error"}


def test_get_vievent_lists_the_events_newest_first_as_eventex(session: Session) -> None:
    reply = session.run("Get-VIEvent | Select-Object CreatedTime, EventTypeId, ObjectName")
    assert reply.ok, reply.text
    expected = sorted(_events(session), reverse=True)
    assert expected and _column(reply.text, "EventTypeId") == [e[1] for e in expected]
    assert _column(reply.text, "CreatedTime") == [e[0] for e in expected]
    one = session.run("Get-VIEvent -MaxSamples 1 | Format-List *").text
    assert one.splitlines()[0].split(" : ")[1] == expected[0][1]
    for line in ("Severity             : error", "ObjectType           : VirtualMachine",
                 "Host                 : VMware.Vim.HostEventArgument",
                 "FullFormattedMessage : The virtual machine is locked because the trusted "
                 "key provider is not available."):
        assert line in one.splitlines(), one
    assert session.run("(Get-VIEvent -MaxSamples 1).Host.Name").text == "esx-03"


@pytest.mark.parametrize("line,count", [
    ("Get-VIEvent -MaxSamples 2", 2),
    ("Get-VIEvent -MaxSamples 0", 0),
    ("Get-VIEvent -Server vcsa-ta.lab.local", 0),
    ("Get-VIEvent -Server vcsa-wld.lab.local", None),  # all: the events are on this one
])
def test_max_samples_and_server(session: Session, line: str, count: int | None) -> None:
    reply = session.run(f"({line}).Count")
    assert reply.ok, reply.text
    assert int(reply.text) == (len(_events(session)) if count is None else count)


def test_entity_types_and_time_filter_what_vcenter_filters(session: Session) -> None:
    everything = _events(session)
    on_esx03 = [e for e in everything if e[2] in ("esx-03", "db01")]  # db01 runs on esx-03
    reply = session.run("Get-VMHost esx-03 | Get-VIEvent | Select-Object EventTypeId")
    assert _column(reply.text, "EventTypeId") == [e[1] for e in sorted(on_esx03, reverse=True)]
    reply = session.run("Get-VIEvent -Entity db01 -Types Error | Select-Object ObjectName")
    assert set(_column(reply.text, "ObjectName")) == {"db01"}
    reply = session.run("Get-VIEvent -Types Info | Select-Object Severity")
    assert set(_column(reply.text, "Severity")) == {"info"}
    reply = session.run("Get-VIEvent -Entity 'Trusted Cluster' | Select-Object ObjectName")
    assert set(_column(reply.text, "ObjectName")) <= {"esx-01", "esx-02", "esx-03",
                                                      "web01", "db01"}
    first, last = min(everything)[0], max(everything)[0]
    reply = session.run(f"(Get-VIEvent -Start '{last[:19]}' -Finish '{last[:19]}').Count")
    assert int(reply.text) == sum(1 for e in everything if e[0] == last)
    reply = session.run(f"(Get-VIEvent -Finish '{first[:19]}').Count")
    assert int(reply.text) == sum(1 for e in everything if e[0] == first)


@pytest.mark.parametrize("line,needle", [
    ("Get-VIEvent -Entity esx-9", "Could not find VIObject with name 'esx-9'. (did you "
                                  "mean 'esx-01'?"),
    ("Get-VIEvent -Types Critical", "Specify one of the following enumerator names and try "
                                    "again: Error, Info, Warning"),
    ("Get-VIEvent -Start yesterday", "String 'yesterday' was not recognized as a valid "
                                     "DateTime."),
    ("Get-VIEvent -MaxSamples many", "Cannot convert value \"many\" to type \"System.Int32\""),
    ("Get-VIEvent -MaxSamples -1", "The -1 argument is less than the minimum allowed range"),
    ("Get-VIEvent esx-03", "A positional parameter cannot be found that accepts argument "
                           "'esx-03'."),
    ("Get-TrustAuthorityCluster | Get-VIEvent", "Cannot convert the \"TrustAuthorityCluster\" "
                                               "value to type \"VIObject\""),
    ("Get-VIEvent -Server nowhere", "Could not find VIServer with name 'nowhere'."),
])
def test_get_vievent_refuses_what_powercli_refuses(session: Session, line: str,
                                                   needle: str) -> None:
    reply = session.run(line)
    assert not reply.ok and needle in reply.text, reply.text
