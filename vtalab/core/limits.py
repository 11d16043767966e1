"""The simulator's own limits: how much input it reads and how much work one run may do.

These are not parameters of the simulated estate (those are in
:mod:`vtalab.core.parameters`, and a scenario may override them); they protect the
simulator, and the person running it, from an input that is legal in form but would take
unbounded memory or time: a 50 MB scenario, ``/dev/zero`` given as a file, a ``.tgz``
whose tar header declares 1.5 GiB, a list nested ten thousand deep, or a scenario that
asks for 400 days of simulated time with a host re-attesting every second. Each input is
refused *before* it is read further than the limit, with an error naming the file (and
line) and the limit, and the command exits 2.

``docs/parameters.md`` lists them (generated from :data:`LIMITS`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LIMITS", "MAX_ARCHIVE_BYTES", "MAX_ARCHIVE_MEMBERS", "MAX_CAMPAIGN_RUNS",
           "MAX_CHECK_EXAMPLES", "MAX_CLUSTERS", "MAX_EVENTS_PER_RUN", "MAX_HOSTS",
           "MAX_INPUT_BYTES", "MAX_NAME_CHARS",
           "MAX_NESTING", "MAX_NODES", "MAX_VMS", "Limit", "limits_markdown"]

#: The largest file vtalab reads: a scenario, plan, trace, saved session, transcript,
#: PowerCLI export. The biggest legitimate one is a trace of a run that used all of
#: :data:`MAX_EVENTS_PER_RUN` (about 5 MB); scenarios are a few kB.
MAX_INPUT_BYTES = 16 * 1024 * 1024

#: The most bytes a ``.tgz`` (a bug bundle, a base-image database) may inflate to. The
#: archive is inflated with this cap *before* tar parses it, so a pax or GNU long-name
#: header that declares gigabytes cannot make vtalab allocate them.
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024

#: The most members a ``.tgz`` may hold (a bundle of eight hosts has about 70).
MAX_ARCHIVE_MEMBERS = 1000

#: The deepest nesting of lists and mappings in a YAML or JSON input. A scenario is at
#: most about 6 deep; a PowerCLI export about 5.
MAX_NESTING = 64

#: The most values (the document, list items, mapping values; not keys) one YAML input
#: (scenario, plan, exercise, campaign spec) may have, counting each expansion of an
#: alias. The composer counts as it reads, so a file of :data:`MAX_INPUT_BYTES` of small
#: values is refused at the first value past the limit, after reading about its first
#: 1.4 MB: measured on a 15 MB list of one-entry mappings, ``vtalab run`` took 8.5 s of CPU
#: time (most of it PyYAML's pure-Python parser) and 0.28 GB, where counting after the
#: whole file was composed took 89 s and 2.1 GB. The bundled YAML files have at most 328
#: values; a topology of :data:`MAX_HOSTS` hosts needs a few per host.
MAX_NODES = 200_000

#: The most SimPy events one run may process (one ``vtalab run``, one checker example, one
#: command of the training shell). Measured: the bundled scenarios, bug stories and plans
#: need at most 269; a five-host lab re-attesting hourly processes about 670 a simulated
#: day, so ``settle: 399d23h`` would need about 270,000 and run for minutes. 10,000 events
#: took 4 s of CPU time (15 s of wall time on a loaded shared 2-core machine): the limit
#: stops any run within seconds, with an error naming what made it long (its ``settle``, a
#: step, a period parameter), and leaves 37 times the room the bundled scenarios need.
MAX_EVENTS_PER_RUN = 10_000

#: The longest file name vtalab derives from an input (a plan's name in a counterexample
#: file name): well under the 255 bytes most file systems allow, room for a suffix.
MAX_NAME_CHARS = 120

#: The most runs one campaign may ask for (scenarios x grid points x seeds): 10,000 runs
#: of a bundled scenario take minutes on one core, and their table a few MB.
MAX_CAMPAIGN_RUNS = 10_000

#: The most cases ``vtalab check --examples N`` may ask for. The search list is drawn
#: whole before the first run (100,000 cases: 3 s of CPU time and about 100 MB; 10^9
#: would never finish drawing), and 100,000 examples take about a quarter of an hour at
#: the checker's benchmark floor of 100 examples/s: far past the default 50.
MAX_CHECK_EXAMPLES = 100_000


#: The most ESXi hosts (trusted and Trust Authority hosts together) one topology may have.
#: Each host is a TPM with its own keys and certificates and a boot to measure: a world of
#: 10,000 hosts (``benchmarks/bench_scale.py``) takes minutes to build. Without a limit, a
#: scenario within :data:`MAX_INPUT_BYTES` could list about a million hosts (and YAML
#: aliases could repeat a cluster's host list in every cluster). Twice the benchmark's
#: world: a simulator limit, well above what one vCenter manages in VMware's published
#: configuration maximums (which vtalab does not enforce).
MAX_HOSTS = 20_000

#: The most VMs one topology may have (all trusted clusters together): five per host of a
#: :data:`MAX_HOSTS` world would exceed it, but a VM costs far less to build than a host.
MAX_VMS = 50_000

#: The most Trusted clusters one topology may have.
MAX_CLUSTERS = 2_500


@dataclass(frozen=True)
class Limit:
    name: str
    value: int
    unit: str
    meaning: str


LIMITS = (
    Limit("MAX_INPUT_BYTES", MAX_INPUT_BYTES, "bytes",
          "largest input file read (scenario, plan, trace, saved session, transcript, "
          "PowerCLI export); only regular files (or standard input) are read"),
    Limit("MAX_ARCHIVE_BYTES", MAX_ARCHIVE_BYTES, "bytes",
          "most a .tgz (bug bundle, base-image database) may inflate to; headers included"),
    Limit("MAX_ARCHIVE_MEMBERS", MAX_ARCHIVE_MEMBERS, "members", "most members of a .tgz"),
    Limit("MAX_NESTING", MAX_NESTING, "levels",
          "deepest nesting of lists and mappings in YAML or JSON input"),
    Limit("MAX_NODES", MAX_NODES, "values",
          "most values (items and mapping values, each alias expansion counted) in one "
          "YAML input; refused while parsing, at the first value past the limit"),
    Limit("MAX_EVENTS_PER_RUN", MAX_EVENTS_PER_RUN, "events",
          "most simulation events one run (or one training-shell command) processes"),
    Limit("MAX_CAMPAIGN_RUNS", MAX_CAMPAIGN_RUNS, "runs",
          "most runs one campaign asks for (scenarios x grid points x seeds)"),
    Limit("MAX_CHECK_EXAMPLES", MAX_CHECK_EXAMPLES, "cases",
          "most cases one `vtalab check --examples N` may ask for"),
    Limit("MAX_HOSTS", MAX_HOSTS, "hosts",
          "most ESXi hosts (trusted and TA) in one topology (scenario, plan, exercise, "
          "bundle, trace, estate import)"),
    Limit("MAX_VMS", MAX_VMS, "VMs", "most VMs in one topology"),
    Limit("MAX_CLUSTERS", MAX_CLUSTERS, "clusters", "most Trusted clusters in one topology"),
    Limit("MAX_NAME_CHARS", MAX_NAME_CHARS, "characters",
          "longest file name derived from an input (other characters than letters, digits, "
          "'.', '_' and '-' become '-')"),
)


def limits_markdown() -> list[str]:
    """The ``Limits of the simulator`` section of ``docs/parameters.md``."""
    lines = [
        "## Limits of the simulator",
        "",
        "Not parameters of the world (a scenario cannot change them) but bounds that keep a "
        "legal-looking input from taking unbounded memory or time "
        "(`vtalab/core/limits.py`). Past one, the command stops with an error naming the "
        "file, the line or field, and the limit (exit 2).",
        "",
        "| name | value | unit | what it bounds |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{lim.name}` | {lim.value:,} | {lim.unit} | {lim.meaning} |"
              for lim in LIMITS]
    return lines
