"""Errors a person can cause, as one tree: each knows its exit code and how to show itself.

A bad flow, a malformed setting, an unreachable database, a refused token, a wrong account name:
the command line (``bot.cli``) shows any of them in a line or a few and exits with its code,
never with a traceback. Lower-level errors are translated into these once, where they happen
(the store turns a driver's error into ``StoreError``, say), as click's ``ClickException`` does.
"""

from __future__ import annotations

import sys
from typing import TextIO


class UserError(Exception):
    """Something a person can fix: shown as it is, exit status ``exit_code``."""

    exit_code = 1

    def show(self, file: TextIO | None = None) -> None:
        print(self, file=file or sys.stderr)


class UsageError(UserError):
    """A command was given something it cannot use (a date that is no date, say)."""

    exit_code = 2
