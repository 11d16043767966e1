"""The interactive training shell, driven for real through a pseudo-terminal: the prompt,
tab completion of a cmdlet name, a full fix typed in, ``check`` and its scorecard, ``exit``."""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Iterator

import pytest

pty = pytest.importorskip("pty")
pytest.importorskip("readline")

TIMEOUT = 30.0


class Terminal:
    """A child process on a pseudo-terminal, read with timeouts (never hangs)."""

    def __init__(self, argv: list[str]) -> None:
        env = dict(os.environ, TERM="vt100", INPUTRC=os.devnull, PYTHONHASHSEED="0",
                   COLUMNS="200", LINES="50")
        pid, fd = pty.fork()
        if pid == 0:  # the child: become the shell
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd, self.seen = pid, fd, ""

    def expect(self, needle: str, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}; got:\n{self.seen[-2000:]}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the shell ended before {needle!r}:\n{self.seen[-2000:]}")
                self.seen += chunk.decode("utf-8", "replace")
        at = self.seen.index(needle) + len(needle)
        before, self.seen = self.seen[:at], self.seen[at:]
        return before

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:  # drain, so the child never blocks on a full terminal
                if select.select([self.fd], [], [], 0.1)[0]:
                    os.read(self.fd, 65536)
            except OSError:
                pass
        self.kill()
        raise AssertionError("the shell did not exit")

    def kill(self) -> None:
        try:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


@pytest.fixture
def shell() -> Iterator[Terminal]:
    term = Terminal([sys.executable, "-m", "vtalab", "train", "upgrade-before-import"])
    yield term
    term.kill()
    os.close(term.fd)


def test_interactive_fix_with_completion_and_scorecard(shell: Terminal) -> None:
    intro = shell.expect("]> ")
    assert "Goal: esx-03 was upgraded" in intro
    assert "PS vTA [T+00:23:30]> " in intro + "]> "
    # tab completes a cmdlet name (the only one starting like this)
    shell.send("Export-VMHostIm\t")
    shell.expect("Export-VMHostImageDb")
    shell.send(" -VMHost esx-03 -FilePath esx-03.tgz\r")
    out = shell.expect("]> ")
    assert "exported from esx-03 to esx-03.tgz" in out
    # -TrustAuthorityCluster left out: PowerShell asks for the mandatory parameter
    shell.send("New-TrustAuthorityVMHostBaseImage -FilePath esx-03.tgz\r")
    asked = shell.expect("TrustAuthorityCluster: ")
    assert "Supply values for the following parameters:" in asked
    shell.send("vTA\r")
    assert "base image 8.0.3-24022510 applied" in shell.expect("]> ")
    shell.send("wait-until attested esx-03\r")
    shell.expect("]> ")
    shell.send("Start-VM -VM db01\r")
    assert "db01 PoweredOn" in shell.expect("]> ")  # Start-VM returns the VirtualMachine
    shell.send("check\r")
    card = shell.expect("]> ")
    assert "Goal reached, trust intact." in card
    assert "Scorecard" in card and "commands used          4" in card
    shell.send("exit\r")
    assert shell.wait() == 0


def test_history_and_meta_completion(shell: Terminal) -> None:
    shell.expect("]> ")
    shell.send("hin\t")  # a training command completes too
    shell.expect("hint")
    shell.send("\r")
    assert "Hint 1 of 3" in shell.expect("]> ")
    shell.send("\x1b[A\r")  # up-arrow: readline history recalls 'hint'
    assert "Hint 2 of 3" in shell.expect("]> ")
    shell.send("\x04")  # end of input leaves (exit code 1: not solved)
    assert shell.wait() == 1


def test_help_is_paged_and_prose_wrapped_on_a_terminal() -> None:
    """On an 80x24 terminal: the goal and help rows wrap under their text column without
    splitting a word, and help (about a hundred lines) stops after each screen."""
    import io
    import os

    from vtalab.training.exercises import exercise
    from vtalab.training.session import Session
    from vtalab.training.shell import fit, run_interactive

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["", "q", "goal", "exit"])
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        if prompt.endswith("> ") and not prompt.startswith("--"):
            return "help" if len(prompts) == 1 else next(answers)
        return next(answers)

    out = Tty()
    run_interactive(Session.start(exercise("restart-kmxa"), 1), out, read,
                    size=os.terminal_size((80, 24)))
    text = out.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines()), \
        [line for line in text.splitlines() if len(line) > 80]
    mores = [p for p in prompts if p.startswith("-- More --")]
    assert len(mores) == 2, prompts  # Enter once, then q
    # Nothing lost and no word split: fitted text has exactly the words of the original.
    long = "Goal: " + "restore the vTA services on every trusted host " * 4
    fitted = fit(long, 40)
    assert fitted.split() == long.split()
    assert all(line.startswith("      ") for line in fitted.splitlines()[1:])
