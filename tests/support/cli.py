"""The command line in this process: ``bot.cli.main(argv)`` with its own environment, standard input
and captured output, answering like ``subprocess.run([sys.executable, "-m", "bot", ...])`` would."""

from __future__ import annotations

import functools
import io
import os
import sys
from dataclasses import dataclass

import pytest

from bot.channels import console
from bot.cli import main
from support.default_flow import ROOT


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


class CommandLine:
    """``cli("validate", "flows/skin_botox.yaml")``: run in the repository's root, as ``make`` does.

    ``env`` replaces the whole environment for the call (as ``subprocess.run(env=...)`` would);
    without it the call sees this process's. Either way the environment is put back afterwards
    (``load_settings`` reads a ``.env`` file in the working directory into it).
    """

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Ran:
        saved = dict(os.environ)
        self.capsys.readouterr()  # whatever came before is not this command's
        with self.monkeypatch.context() as patch:
            patch.chdir(ROOT)
            patch.setattr(sys, "stdin", io.StringIO(stdin))
            # ConsoleChat's default output is the sys.stdout of the moment bot.channels.console was
            # imported; the command line's own output goes to the sys.stdout of now (the capture).
            patch.setattr(console, "ConsoleChat", functools.partial(console.ConsoleChat, out=sys.stdout))
            if env is not None:
                os.environ.clear()
                os.environ.update(env)
            try:
                code = main(list(args))
            except SystemExit as exit:  # argparse refusing the arguments
                code = exit.code if isinstance(exit.code, int) else 1
            finally:
                os.environ.clear()
                os.environ.update(saved)
        out, err = self.capsys.readouterr()
        return Ran(code, out, err)
