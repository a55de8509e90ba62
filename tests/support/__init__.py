"""What the tests share, and nothing else: no test lives here.

* ``fake_telegram``: the fake Telegram Bot API server;
* ``bot_process``: the real bot as a separate process, pointed at the fake;
* ``patients``: one patient driver (``Patient``), in two kinds: ``InProcessPatient`` drives
  ``TurnRunner`` directly, ``TelegramPatient`` talks to a running bot through the fake;
* ``receiver``: one HTTP receiver (a clinic's endpoint, a webhook) on ThreadingHTTPServer;
* ``default_flow``: the default flow's paths, question texts and scripted routes through it;
* ``databases``: migrated template databases (SQLite and PostgreSQL), copied per test;
* ``staff``: staff accounts and logins for the web app's tests;
* ``cli``: ``python -m bot ...`` in this process (``bot.cli.main``), for the ``cli`` fixture;
* ``fixtures``: the shared pytest fixtures, registered as a plugin by ``tests/conftest.py``.
"""
