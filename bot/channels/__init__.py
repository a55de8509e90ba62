"""Channels translate between a person and the engine: the terminal (``console.py``) and Telegram
(``telegram/``). A channel parses what the person did, lets the engine decide, and renders the
result; it decides nothing about the questionnaire itself."""
