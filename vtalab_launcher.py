"""The ``vtalab`` command's entry point: Ctrl-C at any moment exits 130, quietly.

Importing vtalab takes a second or more (cryptography, the pydantic models, the verb
registry). No vtalab code runs before those imports finish, so a Ctrl-C in that second
used to end in a Python traceback. This module imports nothing of vtalab until it is
ready to catch the interrupt; once :func:`vtalab.cli.app.main` runs, it handles Ctrl-C
itself (130, or 1 when ``vtalab check`` kept counterexamples).
"""

from __future__ import annotations

import signal
import sys

__all__ = ["main"]


def main() -> int:
    try:
        try:
            from vtalab.cli.app import main as vtalab_main  # after the handler is in place

            return vtalab_main()
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still quiet
            sys.stderr.write("interrupted\n")
            return 130
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
