"""Updates per second through the whole Telegram bot, beside the same flow on a ConversationHandler.

Both run in this process on python-telegram-bot's real Application with a stub network (every
Bot API call answers at once). Ours is the shipped ``TelegramChannel``: each update is a turn
committed to a SQLite file on disk (WAL, synchronous=NORMAL), then its replies are sent from the
outbox and marked sent. The baseline is the usual way to write the flow with python-telegram-bot:
a ``ConversationHandler`` whose states are the flow's steps, the conversation kept in memory in
``context.user_data`` (PTB's default: no persistence), deciding with the same engine and rendering
the same messages, so the difference is the cost of durability and of our update path.

Simulated patients answer from the keyboards the bot sent (avoiding the early endings), typing
where there are no buttons. Only ``process_update`` (plus our outbox sends) is timed.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bot_throughput.py``).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import InlineKeyboardMarkup, Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData  # noqa: E402

from bot.channels.telegram.app import TelegramChannel  # noqa: E402
from bot.channels.telegram.outbox import markup  # noqa: E402
from bot.channels.telegram.render import Renderer  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.flow import load_checked  # noqa: E402
from bot.store import Store  # noqa: E402

TOKEN = "123456789:AAFakeTokenForBenchmarksOnly_abcdefg"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Intake", "username": "intake_bench_bot"}
AVOID = ("Under 18", "No thanks", "Yes, in the last 4 weeks", "I'm not sure")


class StubNetwork(BaseRequest):
    """Answers every Bot API call at once, remembering each chat's live keyboard and last text."""

    def __init__(self) -> None:
        self.message_id = 0
        self.keyboards: dict[int, tuple[int, dict | None, str]] = {}

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None, **kwargs: Any):
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data is not None else {}
        result: Any = True
        if name == "getMe":
            result = BOT_USER
        elif name in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            chat_id = int(params["chat_id"])
            if name == "sendMessage":
                self.message_id += 1
                message_id = self.message_id
            else:
                message_id = int(params["message_id"])
            keyboard = params.get("reply_markup")
            keyboard = json.loads(keyboard) if isinstance(keyboard, str) else keyboard
            text = params.get("text", "")
            if name == "sendMessage" or message_id == self.keyboards.get(chat_id, (0,))[0]:
                self.keyboards[chat_id] = (message_id, keyboard, text or self.keyboards.get(chat_id, (0, None, ""))[2])
            result = {
                "message_id": message_id,
                "date": 0,
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "text": text or "x",
            }
        return 200, json.dumps({"ok": True, "result": result}).encode()


class Patients:
    """Patients who answer whatever the bot last showed them."""

    def __init__(self, network: StubNetwork, rng: random.Random):
        self.network = network
        self.rng = rng
        self.update_id = 0
        self.typed_number: set[int] = set()

    def _user(self, chat_id: int) -> dict:
        return {"id": chat_id, "is_bot": False, "first_name": f"P{chat_id}", "language_code": "en"}

    def text(self, chat_id: int, text: str) -> dict:
        self.update_id += 1
        message: dict[str, Any] = {
            "message_id": 10_000_000 + self.update_id,
            "date": 0,
            "chat": {"id": chat_id, "type": "private"},
            "from": self._user(chat_id),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": self.update_id, "message": message}

    def next_update(self, chat_id: int) -> dict | None:
        message_id, keyboard, text = self.network.keyboards.get(chat_id, (0, None, ""))
        buttons = [b for row in (keyboard or {}).get("inline_keyboard", []) for b in row if "callback_data" in b]
        if not buttons:
            if "Book a consultation" in json.dumps(keyboard or {}):
                return None  # the ending: this intake is done
            guess = "35" if chat_id not in self.typed_number else "smoother skin please"
            self.typed_number.symmetric_difference_update({chat_id})
            return self.text(chat_id, guess)
        labels = [b["text"] for b in buttons]
        if any(label.startswith(("☐", "☑")) for label in labels):
            ticked = [b for b in buttons if b["text"].startswith("☑")]
            if ticked:
                choice = next(b for b in buttons if b["text"].endswith("Done"))
            else:
                plain = [b for b in buttons if b["text"].startswith("☐") and "None" not in b["text"]]
                choice = self.rng.choice(plain)
        elif any(label == "Looks right, finish" for label in labels):
            choice = next(b for b in buttons if b["text"] == "Looks right, finish")
        else:
            options = [b for b in buttons if not b["text"].startswith(("⬅️", "Skip")) and b["text"] not in AVOID]
            options = [b for b in options if b["text"] != "Yes"] or options
            if not options:  # a typed question that only offers Back and Skip
                return self.text(chat_id, "it went well")
            choice = self.rng.choice(options)
        self.update_id += 1
        return {
            "update_id": self.update_id,
            "callback_query": {
                "id": str(self.update_id),
                "from": self._user(chat_id),
                "chat_instance": str(chat_id),
                "data": choice["callback_data"],
                "message": {
                    "message_id": message_id,
                    "date": 0,
                    "chat": {"id": chat_id, "type": "private"},
                    "from": BOT_USER,
                    "text": text or "x",
                    "reply_markup": keyboard,
                },
            },
        }


# --- the baseline: the same flow on a ConversationHandler ---------------------------------------


def conversation_handler_app(engine: Engine, network: StubNetwork) -> Application:
    renderer = Renderer(engine)

    async def show(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
        conv = context.user_data["conv"]
        prompt = engine.view(conv)
        for message in renderer.prompt_messages(prompt, 1, conv.language):
            await context.bot.send_message(
                update.effective_chat.id, message["text"], reply_markup=markup(message["keyboard"])
            )
        return ConversationHandler.END if engine.finished(conv) else conv.state

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
        context.user_data["conv"] = engine.start(update.effective_user.language_code)
        return await show(update, context)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
        query = update.callback_query
        conv = context.user_data["conv"]
        _, _, action, *rest = query.data.split(".", 3)
        arg = rest[0] if rest else ""
        before = engine.view(conv)
        if action == "t":
            engine.toggle(conv, arg)
            await query.answer()
            keyboard = renderer.keyboard(engine.view(conv), 1, conv.language)
            await query.edit_message_reply_markup(
                InlineKeyboardMarkup.de_json(
                    {
                        "inline_keyboard": [
                            [{"text": b["text"], "callback_data": b["data"]} for b in row] for row in keyboard
                        ]
                    },
                    context.bot,
                )
            )
            return conv.state
        operation = {
            "d": lambda: engine.submit_selection(conv),
            "k": lambda: engine.choose(conv, "confirm"),
            "n": lambda: engine.choose(conv, "continue"),
            "b": lambda: engine.back(conv),
        }.get(action)
        turn = operation() if operation else engine.choose(conv, arg)
        await query.answer(turn.error)
        if turn.accepted:
            await query.edit_message_text(renderer.answered_text(before, conv.language, "✓"))
            return await show(update, context)
        return conv.state

    async def typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
        conv = context.user_data["conv"]
        turn = engine.reply(conv, update.message.text)
        if not turn.accepted:
            await update.message.reply_text(turn.error)
            return conv.state
        return await show(update, context)

    handlers = [CallbackQueryHandler(pressed), MessageHandler(filters.TEXT & ~filters.COMMAND, typed)]
    conversation = ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={step.id: handlers for step in engine.flow.steps},
        fallbacks=[CommandHandler("start", start)],
    )
    app = ApplicationBuilder().token(TOKEN).request(network).get_updates_request(network).updater(None).build()
    app.add_handler(conversation)
    return app


# --- measuring ----------------------------------------------------------------------------------


async def drive(process, network: StubNetwork, bot: Any, intakes: int, seed: int) -> tuple[int, float]:
    """Run ``intakes`` patients (10 at a time, interleaved); (updates, seconds spent processing)."""
    patients = Patients(network, random.Random(seed))
    chats = list(range(1, intakes + 1))
    busy = 0.0
    updates = 0
    for start in range(0, len(chats), 10):
        active = chats[start : start + 10]
        pending = {chat: patients.text(chat, "/start bench") for chat in active}
        while pending:
            for chat, data in list(pending.items()):
                update = Update.de_json(data, bot)
                began = time.perf_counter()
                await process(update)
                busy += time.perf_counter() - began
                updates += 1
                following = patients.next_update(chat)
                if following is None or updates > intakes * 200:
                    del pending[chat]
                else:
                    pending[chat] = following
    return updates, busy


async def measure_ours(engine: Engine, intakes: int, seed: int, db: Path) -> tuple[int, float]:
    network = StubNetwork()
    settings = Settings(telegram_token=TOKEN, database_url=f"sqlite:///{db}", chat_rate=1e9)
    store = Store.open(settings.database_url)
    channel = TelegramChannel(settings, engine, store, request=network, rate_limit=False)
    await channel.application.initialize()

    async def process(update: Update) -> None:
        await channel.process(update)
        await channel.drain()  # its replies sent and marked sent: part of the cost

    try:
        return await drive(process, network, channel.bot, intakes, seed)
    finally:
        await channel.application.shutdown()
        store.close()


async def measure_baseline(engine: Engine, intakes: int, seed: int) -> tuple[int, float]:
    network = StubNetwork()
    app = conversation_handler_app(engine, network)
    await app.initialize()
    try:
        return await drive(app.process_update, network, app.bot, intakes, seed)
    finally:
        await app.shutdown()


async def main() -> None:
    import warnings

    warnings.filterwarnings("ignore")  # PTB warns about per_message on ConversationHandler: as designed here
    engine = Engine(load_checked(ROOT / "flows" / "skin_botox.yaml"))
    intakes = 60
    ours: list[float] = []
    base: list[float] = []
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        await measure_ours(engine, 5, 99, Path(tmp) / "warm.db")  # warm-up
        await measure_baseline(engine, 5, 99)
        for round_ in range(3):
            n, seconds = await measure_ours(engine, intakes, round_, Path(tmp) / f"ours{round_}.db")
            ours.append(n / seconds)
            counts["ours"] = n
            n, seconds = await measure_baseline(engine, intakes, round_)
            base.append(n / seconds)
            counts["base"] = n
    best_ours, best_base = max(ours), max(base)
    print(f"Telegram bot throughput, {intakes} complete intakes of the default flow per round, best of 3")
    print(
        f"  ours (turn committed to SQLite on disk, outbox sent and marked): {best_ours:7.0f} updates/s "
        f"({1e6 / best_ours:5.0f} µs each, {counts['ours']} updates)"
    )
    print(
        f"  ConversationHandler (in memory, same engine and messages):       {best_base:7.0f} updates/s "
        f"({1e6 / best_base:5.0f} µs each, {counts['base']} updates)"
    )
    print(f"  ratio ours / ConversationHandler: {best_ours / best_base:.2f}   (aim >= 0.80)")


if __name__ == "__main__":
    asyncio.run(main())
