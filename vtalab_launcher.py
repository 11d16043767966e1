"""The ``vtalab`` command's entry point: Ctrl-C at any moment exits 130, quietly.

Importing vtalab takes a second or more (cryptography, the pydantic models, the verb
registry). No vtalab code runs before those imports finish, so a Ctrl-C in that second
used to end in a Python traceback. This module imports nothing of vtalab until it is
ready to catch the interrupt; once :func:`vtalab.cli.app.main` runs, it handles Ctrl-C
itself (130, or 1 when ``vtalab check`` kept counterexamples).
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["main"]


def _quit_while_importing(signum: int, frame: object) -> None:
    # Nothing has been read or written yet, so no clean-up is owed: leave at once. Raising
    # KeyboardInterrupt instead can land inside the import machinery's own callbacks, where
    # Python prints "Exception ignored in ..." with a traceback.
    os._exit(130)


def main() -> int:
    signal.signal(signal.SIGINT, _quit_while_importing)
    from vtalab.cli.app import main as vtalab_main  # after the handler is in place

    signal.signal(signal.SIGINT, signal.default_int_handler)  # vtalab handles it from here
    try:
        return vtalab_main()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still quiet
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
