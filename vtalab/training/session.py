"""A training session: an exercise, a seed and the trainee's command log.

A session starts by running the exercise's scenario prefix (the lab breaks the way it
broke in real life), then takes lines from the trainee. A line is either a shell command
(PowerCLI or lab command, run by :func:`vtalab.training.execute`, which runs the world until
the action completes) or a **meta command** of the training itself:

============== ==========================================================================
``goal``        the goal, in operator terms
``check``       grade now: the goal and the invariants; a scorecard on success
``hint``        the next of three escalating hints, with its document section
``solution``    the reference fix
``debrief``     the session's timeline (``--html FILE`` writes the HTML debrief)
``rewind TIME`` rebuild the lab as it was at simulated time TIME (``T+00:30:00``, ``30m``)
``rewind #N``   rebuild the lab as it was just before command N (``history`` numbers them)
``save FILE``   write the session (exercise, seed, commands with their times) as JSON
``exit``        leave the session
============== ==========================================================================

Everything that changes the world is in the log, with the simulated time it was issued,
so a session **is** its seed plus its log: ``rewind`` re-executes the log up to a time in
a fresh world, and a saved session resumes in another process with the same trace digest.
Most verbs take no simulated time (``Get-*``, imports, settings), so several commands can
share one instant; ``rewind #N`` therefore also counts commands: it re-executes the first
N-1 (with the hints typed between them) and stops just before command N.
Hints are logged too (they count on the scorecard). ``check`` and ``debrief`` only read.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vtalab.core import files, htmlpage
from vtalab.core.kernel import EventLimitExceeded, format_time
from vtalab.core.simtime import HORIZON_SECONDS
from vtalab.errors import InputError, ReplayError
from vtalab.scenario.expect import parse_time
from vtalab.scenario.model import RunResult, run_scenario
from vtalab.training import ShellState, execute, help_text
from vtalab.training.debrief import GENERATOR, debrief_html, debrief_text
from vtalab.training.esxi import prompt as esxi_prompt
from vtalab.training.exercises import Exercise, exercise
from vtalab.training.grading import Grade, grade, trust_snapshot
from vtalab.training.pwsh.filters import REPLAY_MATCH_SECONDS, match_outcomes

__all__ = ["META_COMMANDS", "SAVE_VERSION", "Entry", "Reply", "Session",
           "parse_command_number", "parse_sim_time", "words"]

#: Version of the saved-session JSON format.
SAVE_VERSION = 1

#: The training's own commands, with their one-line help.
META_COMMANDS: dict[str, str] = {
    "goal": "show the goal of the exercise",
    "check": "grade now: the goal, the invariants, and a scorecard on success",
    "hint": "show the next hint (three levels, each with its document section)",
    "solution": "show the reference fix",
    "debrief": "show the session's timeline; 'debrief --html FILE' writes it as HTML",
    "rewind": "rewind TIME: rebuild the lab as it was at simulated time TIME (T+00:30:00, "
              "30m); rewind #N: as it was just before command N of 'history'",
    "save": "save FILE: write the session (seed and commands) as JSON",
    "exit": "leave the session",
}
_ALIASES = {"quit": "exit"}


@dataclass(frozen=True)
class Entry:
    """One logged line: what the trainee typed, when, and what came of it."""

    line: str
    kind: str  #: "command" (a shell command), "hint" or "advance" (from a rewind)
    time: float  #: simulated time it was issued
    seq: int  #: trace length when it was issued (interleaves it with the trace)
    end: float  #: simulated time when it completed
    ok: bool = True
    output: str = ""
    risky: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    #: the verbs and faults performed, with their arguments (what ``forbid`` rules judge)
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: the answers given to PowerShell's confirmation prompts (replayed with the line)
    answers: tuple[str, ...] = ()
    #: which of the line's ``-match`` evaluations timed out (wall-clock; replayed as
    #: recorded: :class:`vtalab.training.pwsh.filters.MatchOutcomes`)
    match_timeouts: tuple[int, ...] = ()


@dataclass(frozen=True)
class Rewind:
    """A rewind the trainee typed: when, to when, and the entries it undid (kept for the
    debrief: the commands that were rewound away are part of the lesson)."""

    line: str  #: as typed, e.g. "rewind 30m"
    typed_at: float  #: simulated time when it was typed
    to: float  #: simulated time the lab was rebuilt at
    undone: tuple[Entry, ...]  #: the commands and hints it took back
    kept: int = 0  #: how many commands and hints it kept (those before it)


@dataclass(frozen=True)
class Reply:
    """What a line printed, and whether the session should end."""

    text: str
    exit: bool = False
    ok: bool = True
    #: the session to continue with (a rewind builds a new one)
    session: Session | None = None


def parse_sim_time(text: str) -> float:
    """Seconds for ``T+HH:MM:SS`` / ``T+1d HH:MM:SS`` or a duration (``30m``, ``1h30m``)."""
    raw = text.strip()
    m = re.fullmatch(r"T\+(?:(\d+)d\s*)?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", raw)
    if m:
        days, h, mi, s = m.groups()
        return int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(s)
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise InputError(f"not a simulated time: {raw!r} ({exc}); write T+00:30:00 or 30m",
                         what="time", value=raw) from None


def parse_command_number(text: str, total: int | None = None) -> int:
    """N of ``#N`` (a command number of ``history``); ``InputError`` if it is not one."""
    raw = text.strip()
    m = re.fullmatch(r"#(\d+)", raw)
    if m is None:
        raise InputError(f"not a command number: {raw!r}; write rewind #3 (see 'history')",
                         what="command number", value=raw)
    number = int(m.group(1))
    if number < 1 or (total is not None and number > total):
        span = f"#1 to #{total}" if total else "none yet"
        raise InputError(f"no command {raw} (the commands typed so far: {span})",
                         what="command number", value=raw)
    return number


class Session:
    """One trainee on one exercise. Build with :meth:`start`, feed with :meth:`run`."""

    def __init__(self, ex: Exercise, seed: int, prefix: RunResult) -> None:

        self.exercise = ex
        self.seed = seed
        self.prefix = prefix
        self.world: Any = prefix.world
        self.state = ShellState(variables={}, history=[], forbid=ex.forbid)
        self.start_time = self.world.kernel.now
        self.start_seq = len(self.world.kernel.trace)
        self.baseline = trust_snapshot(self.world)
        self.entries: list[Entry] = []
        self.hints_used = 0
        #: the rewinds that led to this session, oldest first (not part of a saved session)
        self.rewinds: list[Rewind] = []
        #: asks the trainee a question (an interactive console sets it); ``None`` means
        #: scripted: a cmdlet that must confirm is refused, as with pwsh -NonInteractive
        self.ask: Callable[[str], str] | None = None

    @classmethod
    def start(cls, name: str | Exercise, seed: int | None = None) -> Session:
        ex = exercise(name) if isinstance(name, str) else name
        seed = ex.scenario.seed if seed is None else int(seed)
        return cls(ex, seed, run_scenario(ex.scenario, seed=seed))

    # -- the prompt -------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return float(self.world.kernel.now)

    def prompt(self) -> str:
        if self.state.esxi is not None:
            return esxi_prompt(self.state.esxi)
        return f"PS vTA [{format_time(self.now)}]> "

    def intro(self) -> str:
        ex = self.exercise
        return "\n".join([
            f"Exercise {ex.id}: {ex.title} ({ex.difficulty})",
            f"Source: {ex.source}", "",
            "Goal: " + " ".join(ex.goal.split()), "",
            "Type PowerCLI commands, 'help' for the commands, 'hint' when stuck, "
            "'check' when you think you are done, 'exit' to leave."])

    # -- one line -----------------------------------------------------------------------------
    def run(self, line: str) -> Reply:
        """Run one line (meta or shell command). Never raises for a person's bad input."""
        text = line.strip()
        if not text or text.startswith("#"):
            return Reply("")
        word, _, rest = text.partition(" ")
        meta = _ALIASES.get(word.lower(), word.lower())
        if self.state.esxi is not None and meta == "exit":  # leaves the ESXi shell
            return self._command(text)
        if meta in META_COMMANDS:
            try:
                return getattr(self, f"_meta_{meta}")(rest.strip())
            except InputError as exc:
                return Reply(f"{meta}: {exc}", ok=False)
        if meta == "help" and not rest.strip():
            return Reply(self._help())
        if meta == "help" and rest.strip().lower() in META_COMMANDS:
            return Reply(f"{rest.strip().lower()}: {META_COMMANDS[rest.strip().lower()]}")
        return self._command(text)

    def _command(self, text: str, *, expect_time: float | None = None,
                 answers: list[str] | None = None,
                 match_timeouts: list[int] | None = None) -> Reply:

        issued, seq = self.now, len(self.world.kernel.trace)
        if expect_time is not None and abs(issued - expect_time) > 1e-6:
            raise ReplayError(f"replaying {text!r}: the command was issued at "
                              f"{format_time(expect_time)} but the replay reached it at "
                              f"{format_time(issued)}")
        given: list[str] = []
        feed = iter(answers) if answers is not None else None

        def prompt(question: str) -> str:
            if feed is not None:
                answer = next(feed, None)
                if answer is None:
                    raise ReplayError(f"replaying {text!r}: it asked more questions than "
                                      "were answered")
            else:
                assert self.ask is not None
                answer = self.ask(question)
            given.append(answer)
            return answer

        self.state.prompt = prompt if (feed is not None or self.ask is not None) else None
        # a replayed line (its recorded time given) reproduces its -match timeouts
        replay = (match_timeouts or []) if expect_time is not None else None
        try:
            with match_outcomes(replay) as matches:
                result = execute(self.world, text, self.state)
        finally:
            self.state.prompt = None
        if matches.overrun:
            raise ReplayError(f"replaying {text!r}: its -match evaluation "
                              f"{matches.overrun[0] + 1} finished when recorded but not in "
                              f"{REPLAY_MATCH_SECONDS:g} s now")
        out = result.text if result.ok or not result.error else (
            (result.text + "\n" if result.text else "") + result.error)
        self.entries.append(Entry(text, "command", issued, seq, self.now, result.ok, out,
                                  tuple(result.risky), tuple(result.actions),
                                  tuple(result.calls), tuple(given),
                                  tuple(matches.timed_out)))
        return Reply(out, ok=result.ok)

    def _help(self) -> str:

        lines = [help_text(), "", "Training commands:"]
        lines += [f"  {name:<9} {summary}" for name, summary in META_COMMANDS.items()]
        return "\n".join(lines)

    # -- meta commands ------------------------------------------------------------------------
    def _meta_goal(self, rest: str) -> Reply:
        return Reply("Goal: " + " ".join(self.exercise.goal.split()))

    def _meta_check(self, rest: str) -> Reply:
        g = self.grade()
        return Reply(g.text(), ok=g.passed)

    def grade(self) -> Grade:
        return grade(self)

    def _meta_hint(self, rest: str) -> Reply:
        hints = self.exercise.hints
        if self.hints_used >= len(hints):
            return Reply("No more hints: 'solution' shows the reference fix.")
        self._log_hint()
        level = self.hints_used
        hint = hints[level - 1]
        return Reply(f"Hint {level} of {len(hints)}: " + " ".join(hint.text.split())
                     + f"\n  (from {hint.section})")

    def _log_hint(self) -> None:
        self.hints_used += 1
        self.entries.append(Entry("hint", "hint", self.now, len(self.world.kernel.trace),
                                  self.now))

    def _meta_solution(self, rest: str) -> Reply:
        lines = ["Reference fix:"] + [f"  {s}" for s in self.exercise.solution]
        return Reply("\n".join(lines))

    def _meta_debrief(self, rest: str) -> Reply:

        args = words(rest) if rest else []
        if not args:
            return Reply(debrief_text(self))
        if len(args) == 2 and args[0] == "--html":
            write_file(args[1], debrief_html(self), "a debrief page")
            return Reply(f"debrief written to {args[1]}")
        raise InputError("usage: debrief [--html FILE]", what="argument",
                         value=" ".join(args), choices=["--html"])

    def _meta_rewind(self, rest: str) -> Reply:
        if not rest:
            raise InputError("usage: rewind TIME (e.g. rewind T+00:30:00 or rewind 30m) or "
                             "rewind #N (just before command N of 'history')")
        total = sum(1 for e in self.entries if e.kind == "command")
        if rest.startswith("#"):
            number = parse_command_number(rest, total)
            new = self.rewound_to_command(number)
            self._remember_rewind(new, f"rewind {rest}")
            return Reply(f"Rewound to just before command #{number} "
                         f"({self._command_line(number)}): replayed {number - 1} of {total} "
                         f"commands, now {format_time(new.now)}.", session=new)
        target = parse_sim_time(rest)
        if target < self.start_time:
            raise InputError(f"the session started at {format_time(self.start_time)}; "
                             "rewind to that time or later", what="time", value=rest)
        new = self.rewound(target)
        self._remember_rewind(new, f"rewind {rest}")
        kept = sum(1 for e in new.entries if e.kind == "command")
        text = (f"Rewound to {format_time(new.now)}: replayed {kept} of "
                f"{sum(1 for e in self.entries if e.kind == 'command')} commands")
        if new.now > target:
            text += f" (the last of them ended after {format_time(target)})"
        return Reply(text + ".", session=new)

    def _remember_rewind(self, new: Session, line: str) -> None:
        """Give ``new`` this session's rewinds and this one, with what it undid: the
        entries of this session past those ``new`` replayed (time passing is not undone)."""
        kept = [e for e in new.entries if e.kind != "advance"]
        mine = [e for e in self.entries if e.kind != "advance"]
        undone = tuple(mine[len(kept):])
        new.rewinds = [*self.rewinds, Rewind(line, self.now, new.now, undone, len(kept))]

    def rewound(self, target: float) -> Session:
        """A new session: this one's log re-executed up to ``target``, then time to it."""
        kept = []
        for rec in self.records():
            if rec["time"] >= target:
                break
            if rec["kind"] == "advance":
                rec = rec | {"until": min(rec["until"], target)}
            kept.append(rec)
        new = Session.replay(self.exercise, self.seed, kept)
        new.ask = self.ask
        if new.now < target:
            new.advance(target)
        return new

    def _command_line(self, number: int) -> str:
        return [e.line for e in self.entries if e.kind == "command"][number - 1]

    def rewound_to_command(self, number: int) -> Session:
        """A new session: this one's log re-executed up to just before command
        ``number`` (1-based, as ``history`` numbers them)."""
        kept: list[dict[str, Any]] = []
        seen = 0
        for rec in self.records():
            if rec["kind"] == "command":
                seen += 1
                if seen == number:
                    break
            kept.append(rec)
        new = Session.replay(self.exercise, self.seed, kept)
        new.ask = self.ask
        return new

    def advance(self, until: float) -> None:
        """Let simulated time pass to ``until`` without a command (logged for replay)."""
        issued, seq = self.now, len(self.world.kernel.trace)
        with self.world.kernel.bounded():
            self.world.run(until)
        self.entries.append(Entry("", "advance", issued, seq, self.now))

    def _meta_save(self, rest: str) -> Reply:
        if not rest:
            raise InputError("usage: save FILE")
        path = (words(rest) or [""])[0]
        if not path:
            raise InputError("usage: save FILE")
        write_file(path, self.to_json(), "a saved session")
        return Reply(f"session saved to {path} ({len(self.entries)} entries at "
                     f"{format_time(self.now)})")

    def _meta_exit(self, rest: str) -> Reply:
        return Reply("", exit=True)

    # -- the log, saved and replayed ---------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for e in self.entries:
            rec: dict[str, Any] = {"time": e.time, "kind": e.kind, "line": e.line}
            if e.kind == "advance":
                rec["until"] = e.end
            if e.answers:
                rec["answers"] = list(e.answers)
            if e.match_timeouts:
                rec["match_timeouts"] = list(e.match_timeouts)
            out.append(rec)
        return out

    def to_json(self) -> str:
        doc = {"version": SAVE_VERSION, "exercise": self.exercise.id, "seed": self.seed,
               "commands": self.records()}
        return json.dumps(doc, indent=1, sort_keys=True) + "\n"

    @classmethod
    def replay(cls, ex: Exercise, seed: int, records: list[dict[str, Any]]) -> Session:
        session = cls.start(ex, seed)
        for i, rec in enumerate(records):
            kind = rec["kind"]
            if kind == "command":
                session._command(rec["line"], expect_time=rec["time"],
                                 answers=([str(a) for a in rec["answers"]]
                                          if "answers" in rec else None),
                                 match_timeouts=[int(n) for n in
                                                 rec.get("match_timeouts", [])])
            elif kind == "hint":
                session._log_hint()
            else:  # advance: time passed without a command (a rewind to a later time)
                try:
                    session.advance(float(rec["until"]))
                except EventLimitExceeded as exc:
                    raise ReplayError(f"commands[{i}]: advancing to "
                                      f"{format_time(float(rec['until']))} {exc}") from None
        return session

    @classmethod
    def load(cls, path: str) -> Session:
        """Resume a saved session (``InputError`` naming the file and field if invalid)."""
        doc = files.load_json(files.read_text(path, what="saved session"), path)
        return cls.from_document(doc, path)

    @classmethod
    def from_document(cls, doc: Any, path: str = "<session>") -> Session:
        if not isinstance(doc, dict):
            raise InputError(f"{path}: a saved session is a JSON object")
        missing = [k for k in ("version", "exercise", "seed", "commands") if k not in doc]
        if missing:
            raise InputError(f"{path}: missing field {missing[0]!r}", what="fields",
                             value=missing[0], choices=["version", "exercise", "seed",
                                                        "commands"])
        if doc["version"] != SAVE_VERSION:
            raise InputError(f"{path}: version: this vtalab reads saved sessions of version "
                             f"{SAVE_VERSION}, not {doc['version']!r}", what="version",
                             value=doc["version"], choices=[SAVE_VERSION])
        if not isinstance(doc["seed"], int) or isinstance(doc["seed"], bool):
            raise InputError(f"{path}: seed: expected an integer, got {doc['seed']!r}")
        try:
            ex = exercise(str(doc["exercise"]))
        except InputError as exc:
            raise InputError(f"{path}: exercise: {exc}") from None
        records = doc["commands"]
        if not isinstance(records, list):
            raise InputError(f"{path}: commands: expected a list")
        for i, rec in enumerate(records):
            ok = isinstance(rec, dict) and rec.get("kind") in ("command", "hint", "advance")
            ok = ok and isinstance(rec.get("line"), str)
            ok = ok and (rec.get("kind") != "advance"
                         or isinstance(rec.get("until"), int | float))
            ok = ok and isinstance(rec.get("time"), int | float)
            ok = ok and ("answers" not in rec or (isinstance(rec["answers"], list) and all(
                isinstance(a, str) for a in rec["answers"])))
            # which -match evaluations of the line timed out: their numbers, in order
            ok = ok and ("match_timeouts" not in rec or (
                isinstance(rec["match_timeouts"], list) and len(rec["match_timeouts"]) <= 10_000
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**31
                        for n in rec["match_timeouts"])))
            for key in ("time", "until") if ok else ():
                if key in rec and not _is_time(rec[key]):
                    raise InputError(f"{path}: commands[{i}].{key}: expected a simulated "
                                     f"time in seconds (0 to {HORIZON_SECONDS:.0f}); got "
                                     f"{json.dumps(rec[key])[:40]}", what=key,
                                     value=rec[key])
            if not ok:
                raise InputError(f"{path}: commands[{i}]: expected {{\"time\": seconds, "
                                 "\"kind\": \"command\"|\"hint\"|\"advance\", \"line\": "
                                 f"text}}; got {json.dumps(rec, sort_keys=True)[:80]}")
        try:
            return cls.replay(ex, doc["seed"], records)
        except ReplayError as exc:
            raise InputError(f"{path}: {exc}") from None


def words(text: str) -> list[str]:
    """The words of a meta command's arguments, as a shell splits them (quotes kept
    together); an unterminated quote is an ``InputError``."""
    try:
        return shlex.split(text)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise InputError(f"{str(exc).lower()} in: {text}") from None


def _is_time(value: Any) -> bool:
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


#: The head of a debrief page (:func:`vtalab.core.htmlpage.page` with the debrief's
#: generator): the doctype, the charset, then ``<meta name="generator" ...>``.
_DEBRIEF_HEAD = htmlpage.page("", [], generator=GENERATOR).split("<meta name=\"viewport\"")[0]
#: What the start of a file the shell may replace looks like (the shell's own earlier
#: output), per kind: a saved session (``json.dumps(..., sort_keys=True)``: "commands"
#: first) and a debrief page (its exact head, generator included: any other HTML page,
#: a report of ``vtalab check`` or someone's own, is not the shell's to replace).
_REPLACEABLE: dict[str, Callable[[bytes], bool]] = {
    "a saved session": lambda head: head.lstrip().startswith(b"{")
    and b'"commands"' in head[:64],
    "a debrief page": lambda head: head.startswith(_DEBRIEF_HEAD.encode("utf-8")),
}


def write_file(path: str, text: str, kind: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (:func:`vtalab.core.files.write_atomic`).

    An existing file is replaced only if it is empty or the shell's own ``kind`` of file
    (an earlier save, an earlier debrief): a slip of the keyboard (``save /etc/hosts``, a
    transcript's name) must not destroy someone's file."""
    if os.path.isfile(path) and os.path.getsize(path) > 0 \
            and not _REPLACEABLE[kind](files.peek(path, 256)):
        raise InputError(f"{path} exists and is not {kind}: not replaced (give a new file "
                         "name, or remove that file first)", what="file", value=path)
    files.write_atomic(path, text)
