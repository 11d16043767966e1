# PYTHON_ARGCOMPLETE_OK
"""The command line: one module per command; the only code that sees argparse."""

from vtalab.cli.app import main

__all__ = ["main"]
