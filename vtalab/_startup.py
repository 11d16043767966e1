"""``python -m vtalab``: a Ctrl-C while vtalab is still being imported exits 130, quietly.

``python -m vtalab`` imports this package (``vtalab/__init__.py``, which pulls in
cryptography, pydantic and the verb registry: a second or more) before ``__main__`` runs,
so ``__main__`` cannot catch an interrupt in that second. The package imports this module
first; importing it runs :func:`quiet_while_starting`, which installs the handler the
``vtalab`` console script installs (``vtalab_launcher.py``), but only in a process
started as ``python -m vtalab`` and only until ``__main__`` takes over
(:func:`vtalab.cli.app.run`). A plain ``import vtalab`` in someone else's program never
touches its signal handlers.

Standard library only: nothing here may import the rest of vtalab.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["module_run_as_main", "quiet_while_starting"]

_OPTIONS_WITH_VALUE = frozenset("WX")  # -W arg, -X opt (-c and -m end the options)


def module_run_as_main(argv: list[str]) -> str | None:
    """The module of ``python [options] -m MODULE ...`` (``argv`` = ``sys.orig_argv``)."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--check-hash-based-pycs":
            i += 2
            continue
        if arg.startswith("--") or arg == "-" or not arg.startswith("-"):
            return None  # --help and the like, stdin, or a script
        for j, flag in enumerate(arg[1:], start=2):
            if flag == "c":
                return None
            if flag == "m":
                rest = arg[j:]
                if rest:
                    return rest
                return argv[i + 1] if i + 1 < len(argv) else None
            if flag in _OPTIONS_WITH_VALUE:
                if not arg[j:]:
                    i += 1  # its value is the next argument
                break
        i += 1
    return None


def _quit_while_importing(signum: int, frame: object) -> None:
    # As in vtalab_launcher: nothing has been read or written yet, so leave at once (a
    # KeyboardInterrupt could land inside the import machinery and print a traceback).
    os._exit(130)


def quiet_while_starting() -> None:
    """Exit 130 on Ctrl-C from now on, if this process is ``python -m vtalab`` starting.

    ``sys.argv[0]`` is ``"-m"`` only while runpy is still importing the package, before
    ``vtalab/__main__.py`` runs (which restores the default handler).
    """
    if sys.argv[:1] == ["-m"] and module_run_as_main(list(getattr(sys, "orig_argv", []))) in (
            "vtalab", "vtalab.__main__"):
        signal.signal(signal.SIGINT, _quit_while_importing)


quiet_while_starting()
