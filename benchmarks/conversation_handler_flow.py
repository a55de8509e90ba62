"""The intake flow written the usual way with python-telegram-bot: one ``ConversationHandler``.

This is the baseline of ``benchmarks/telegram_bench.py``: what a developer would write by following
python-telegram-bot's examples, so the benchmark can show what our durable Telegram channel costs
beside it.

The flow, in plain words:

- ``/start`` (the entry point) begins a conversation and sends the first step. The conversation is
  kept in ``context.user_data`` (in memory, python-telegram-bot's default: no persistence, so a
  restart forgets everyone's place, and nothing is written anywhere).
- The ConversationHandler has one state per step of the flow (the state is the step id). Every
  state has the same two handlers: a ``CallbackQueryHandler`` for button presses and a
  ``MessageHandler(filters.TEXT & ~filters.COMMAND)`` for typed answers. A handler returns the
  next step id as the next state, or ``ConversationHandler.END`` at an ending. ``/start`` during
  a conversation (a fallback) shows the current step again.
- Deciding: the handlers do not hand-write the questionnaire's logic; they call the same
  ``bot.engine.Engine`` as our channel (validation, skip logic, flags, back, change at the summary),
  on a ``Conversation`` kept in ``user_data``.
- Rendering: the same ``bot.channels.telegram.render.Renderer`` (texts, inline keyboards and
  callback data ``<intake>.<turn>.<action>[.<arg>]``), turned into ``InlineKeyboardMarkup``.
- Replies: the same Bot API calls as our channel for each kind of update. A press is answered
  (``answerCallbackQuery``); the pressed message is edited to show the answer with its keyboard
  removed (``editMessageText``, or ``editMessageReplyMarkup`` where there is no answer to show);
  the next step is sent (``sendMessage``). A multiple-choice tick edits the keyboard only. A typed
  answer edits the last question's message the same way and sends the next step; an invalid one
  removes the old keyboard and sends the question again with the correction.

What it leaves out, by design of the usual way: durability (no database, no outbox, no transcript),
recognising a redelivered ``update_id``, and the commands besides ``/start``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.channels.telegram.render import Renderer, parse_callback
from bot.channels.telegram.replies import markup as to_markup
from bot.engine import Effect, Engine, Prompt
from bot.engine.conversation import Conversation
from bot.flow import model


def build_application(engine: Engine, token: str, request: BaseRequest | None = None) -> Application:
    """An Application running the flow on a ConversationHandler (``request``: a stub network)."""
    renderer = Renderer(engine)
    intake_ids = itertools.count(1)  # only so callback data look like ours: <intake>.<turn>.<action>

    def answered(before: Prompt, step: Any, conv: Conversation) -> str | None:
        """An answered step's message: its text with the answer under it (None: no answer to show)."""
        if isinstance(step, model.SummaryStep):
            answer = engine.message(conv.language, "confirm")
        elif isinstance(step, model.InfoStep) or step.id not in conv.answers:
            return None
        else:
            answer = engine.display(step, conv.answers[step.id], conv.language)
        return renderer.answered_text(before, conv.language, answer)

    async def show(chat_id: int, context: ContextTypes.DEFAULT_TYPE, turn: Effect | None = None) -> str | int:
        """Send the current step; the next state (the step id, or END at an ending)."""
        data = context.user_data
        conv = data["conv"]
        prompt = engine.view(conv)
        error = turn.error if turn is not None else None
        help_ = turn.help if turn is not None else False
        sent = None
        for message in renderer.prompt_messages(prompt, data["intake"], conv.language, error=error, help=help_):
            sent = await context.bot.send_message(chat_id, message.text, reply_markup=to_markup(message.keyboard))
        if engine.finished(conv):
            data["prompt_id"] = None
            return ConversationHandler.END
        data["prompt_id"] = sent.message_id if sent is not None else None
        return conv.state

    async def close(chat_id: int, message_id: int | None, text: str | None, context: Any) -> None:
        """Take the keyboard off a question's message, replacing its text when ``text`` is given."""
        if message_id is None:
            return
        if text is None:
            await context.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)
        else:
            await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
        user = update.effective_user
        context.user_data["conv"] = engine.start(user.language_code if user else None)
        context.user_data["intake"] = next(intake_ids)
        return await show(update.effective_chat.id, context)

    async def start_again(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
        conv = context.user_data["conv"]
        await update.message.reply_text(engine.message(conv, "resumed"))
        await close(update.effective_chat.id, context.user_data.get("prompt_id"), None, context)
        return await show(update.effective_chat.id, context)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
        query = update.callback_query
        data = context.user_data
        conv = data["conv"]
        chat_id = update.effective_chat.id
        press = parse_callback(query.data)
        if press is None or press.intake_id != data["intake"] or press.revision != conv.revision:
            await query.answer(engine.message(conv, "stale_button"))
            await query.edit_message_reply_markup(None)
            return await show(chat_id, context)
        before = engine.view(conv)
        step = engine.step(conv)
        action, arg = press.action, press.arg
        if action == "t":  # a tick of a multiple-choice question: only the keyboard changes
            turn = engine.toggle(conv, arg)
            await query.answer(None if turn.accepted else turn.error)
            if turn.accepted:
                keyboard = renderer.keyboard(engine.view(conv), data["intake"], conv.language)
                await query.edit_message_reply_markup(to_markup(keyboard))
            return conv.state
        if action in ("b", "e"):  # back, or change an answer from the summary
            turn = engine.back(conv) if action == "b" else engine.change(conv, arg)
            await query.answer(turn.error)
            if not turn.accepted:
                return conv.state
            await query.edit_message_reply_markup(None)
            return await show(chat_id, context)
        now = datetime.now(UTC).isoformat()
        if action == "d":
            turn = engine.submit_selection(conv)
        elif action == "s":
            turn = engine.skip(conv)
        elif action == "k":
            turn = engine.choose(conv, "confirm")
        elif action == "n":
            turn = engine.choose(conv, "continue")
        else:
            turn = engine.choose(conv, arg, now=now)
        if not turn.accepted and action in ("d", "s"):
            await query.answer(turn.error)  # keep the selection; the toast says what is missing
            return conv.state
        await query.answer()
        if not turn.accepted:
            await query.edit_message_reply_markup(None)
            return await show(chat_id, context, turn)
        await close(chat_id, query.message.message_id, answered(before, step, conv), context)
        return await show(chat_id, context)

    async def typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
        data = context.user_data
        conv = data["conv"]
        chat_id = update.effective_chat.id
        before = engine.view(conv)
        step = engine.step(conv)
        turn = engine.reply(conv, update.message.text, now=datetime.now(UTC).isoformat())
        if not turn.accepted:
            await close(chat_id, data.get("prompt_id"), None, context)
            return await show(chat_id, context, turn)
        await close(chat_id, data.get("prompt_id"), answered(before, step, conv), context)
        return await show(chat_id, context)

    in_step = [CallbackQueryHandler(pressed), MessageHandler(filters.TEXT & ~filters.COMMAND, typed)]
    conversation = ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={step.id: in_step for step in engine.flow.steps if not isinstance(step, model.OutcomeStep)},
        fallbacks=[CommandHandler("start", start_again)],
    )
    builder = ApplicationBuilder().token(token).updater(None)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application = builder.build()
    application.add_handler(conversation)
    return application
