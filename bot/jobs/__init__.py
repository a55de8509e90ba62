"""Background jobs of one process: each runs from what the store holds, with or without Telegram."""
