"""The ``vtalab`` command's entry point: Ctrl-C at any moment exits 130, quietly.

Importing vtalab takes a second or more (cryptography, the pydantic models, the verb
registry). No vtalab code runs before those imports finish, so a Ctrl-C in that second
used to end in a Python traceback. This module imports nothing of vtalab until it is
ready to catch the interrupt; once :func:`vtalab.cli.app.run` runs, vtalab handles Ctrl-C
itself (130, or 1 when ``vtalab check`` kept counterexamples).
"""

from __future__ import annotations

import os
import signal

__all__ = ["main"]


def _quit_while_importing(signum: int, frame: object) -> None:
    # Nothing has been read or written yet, so no clean-up is owed: leave at once. Raising
    # KeyboardInterrupt instead can land inside the import machinery's own callbacks, where
    # Python prints "Exception ignored in ..." with a traceback.
    os._exit(130)


def main() -> int:
    signal.signal(signal.SIGINT, _quit_while_importing)
    from vtalab.cli.app import run  # after the handler is in place

    return run()  # restores the default handler: vtalab handles Ctrl-C from here


if __name__ == "__main__":
    raise SystemExit(main())
