"""``python -m vtalab``: the same as the ``vtalab`` command."""

from vtalab.cli.app import main

raise SystemExit(main())
