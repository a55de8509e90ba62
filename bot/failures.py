"""Logging a failure without what anybody typed.

An exception's message can quote its input (``int()`` repeats what it was given, PostgreSQL quotes
a value it refuses), and health data has no place in a log. So a failure is logged by the kind of
exception only, with the stack (code lines, no values) at DEBUG for whoever debugs it.
"""

from __future__ import annotations

import logging
import traceback


def log_failure(logger: logging.Logger, what: str, err: BaseException, level: int = logging.ERROR) -> None:
    """Log that ``what`` failed, naming only the exception's type.

    An exception's message can quote what a patient typed (``int()`` repeats its input, say), and
    health data has no place in a log. The stack (code lines, no values) goes to DEBUG.
    """
    logger.log(level, "%s: %s", what, type(err).__name__)
    if logger.isEnabledFor(logging.DEBUG):
        stack = "".join(traceback.format_tb(err.__traceback__)).rstrip()
        logger.debug("%s: %s, raised at\n%s", what, type(err).__name__, stack)
