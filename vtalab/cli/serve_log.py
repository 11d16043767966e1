"""How ``vtalab serve`` logs (stderr): the one place its logging is configured.

A log message can carry what a client sent (a path, a host name, a header, an exception's
text about them). Printed raw, an ESC in it runs an escape sequence on the operator's
terminal and a CR or LF forges a log line of its own; every line therefore goes through
:class:`VisibleFormatter`, whatever logger wrote it.
"""

from __future__ import annotations

import logging
from typing import Any, TextIO

from vtalab.core.text import visible

__all__ = ["LOG_FORMAT", "VisibleFormatter", "configure_logging"]

#: The server log's line (stderr): wall-clock time, level, logger, message.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class VisibleFormatter(logging.Formatter):
    """Log lines a terminal can print without obeying anything in them: the message is
    shown as :func:`vtalab.core.text.visible` shows names, and on one line (a newline
    in it shows as ``\\n``); a traceback keeps its lines, each marked ``  | `` so that
    no line of it reads as a log line of its own.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return visible(super().formatMessage(record)).replace("\n", "\\n")

    def formatException(self, ei: Any) -> str:
        return _continued(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _continued(super().formatStack(stack_info))


def _continued(text: str) -> str:
    return "\n".join("  | " + line for line in visible(text).split("\n"))


def configure_logging(stream: TextIO | None = None) -> logging.Handler:
    """The one place ``vtalab serve`` configures logging: INFO and above, every line
    through :class:`VisibleFormatter`, to ``stream`` (default: stderr). Configuring again
    (another serve in the same process) replaces the handler it installed before."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, VisibleFormatter)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(VisibleFormatter(LOG_FORMAT))  # wall-clock ok: the log's own times
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler
