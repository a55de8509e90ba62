"""The real bot as a separate process (``python -m bot run``), pointed at the fake Telegram server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    def __init__(
        self,
        fake: FakeTelegram,
        database_url: str,
        flow: str = "flows/skin_botox.yaml",
        command: str = "run",
        **env: str,
    ):
        self.fake = fake
        self.command = command
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": fake.TOKEN,
            "TELEGRAM_BASE_URL": fake.base_url,
            "DATABASE_URL": database_url,
            "FLOW_PATH": flow,
            "TELEGRAM_CHAT_RATE": "1000",  # pacing has its own unit test; here it would only slow things
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        self.output = ""
        self._log: Path | None = None  # the process's output goes to a file: readable while it runs

    def start(self, wait: bool = True) -> BotProcess:
        commands_before = len(self.fake.calls("setMyCommands"))
        handle, name = tempfile.mkstemp(prefix="bot-", suffix=".log")
        os.close(handle)
        self._log = Path(name)
        with self._log.open("ab") as log:  # appending: the parent's reads never move the child's writes
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", self.command],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:  # ready once it has registered its commands (after migrations and getMe)
            deadline = time.monotonic() + 30
            while len(self.fake.calls("setMyCommands")) <= commands_before:
                if self.proc.poll() is not None:
                    raise AssertionError(f"the bot exited with {self.proc.returncode}:\n{self.read()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"the bot did not start:\n{self.fake.dump()}")
                time.sleep(0.05)
        return self

    def read(self) -> str:
        """Everything the process wrote so far (stdout and stderr), also while it runs."""
        if self._log is not None:
            self.output = self._log.read_text(errors="replace")
            if self.proc is not None and self.proc.poll() is not None:  # nothing more will come
                self._log.unlink()
                self._log = None
        return self.output

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.read()

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            self.read()
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.read()
        return self.proc.returncode

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.wait(timeout=timeout)
        self.read()
        return self.proc.returncode


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_in_mode(fake: FakeTelegram, db_path: Path, mode: str, **env: str) -> BotProcess:
    """``python -m bot run`` on ``db_path``, polling or receiving a webhook (``mode``), with
    ``env`` besides; returned once Telegram would deliver to it."""
    if mode == "webhook":
        port = free_port()
        env = {
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
            "WEBHOOK_SECRET": "e2e-secret",
            "WEBHOOK_LISTEN": "127.0.0.1",
            "WEBHOOK_PORT": str(port),
            **env,
        }
    process = BotProcess(fake, f"sqlite:///{db_path}", **env).start()
    if mode == "webhook":
        fake.wait_for(lambda: (fake.webhook() or {}).get("url") == env["WEBHOOK_URL"])
    return process
