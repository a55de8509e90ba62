"""The shared fixtures live in ``support.fixtures`` (flows, databases, the fake Telegram server, the
bot process); the helpers they use, in the rest of the ``support`` package."""

pytest_plugins = ["support.fixtures"]
