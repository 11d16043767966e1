"""``python -m vtalab``: the same as the ``vtalab`` command."""

from vtalab.cli import main

raise SystemExit(main())
