"""Channels translate between a person and the engine: the terminal now, Telegram next."""
