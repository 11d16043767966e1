"""``python -m vtalab``: the same as the ``vtalab`` command, Ctrl-C included.

By the time this runs, ``vtalab/__init__.py`` has imported the package with a Ctrl-C
meaning "exit 130 now" (:mod:`vtalab._startup`); :func:`vtalab.cli.app.run` takes over.
"""

from vtalab.cli.app import run

raise SystemExit(run())
