"""The tables, as SQLAlchemy Core metadata (migrations in ``migrations/`` create and change them).

An *intake* is one person's way through one flow in one Telegram chat: its conversation state
(plain JSON from ``Conversation.to_dict``), status and a few columns copied out of that state
so staff pages can filter without parsing it. A *message* is one line of the transcript, in or
out; an outgoing message not yet sent is the outbox.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from bot.store.records import Direction

metadata = sa.MetaData()

# BigInteger ids for Telegram chats and users (they exceed 32 bits); SQLite needs plain INTEGER
# for an auto-incrementing primary key, hence the variant.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)
#: An intake shown a tracked booking button, not tapped, and not nudged yet (``bot.jobs.booking_nudge``).
NUDGE_DUE = "booking_token IS NOT NULL AND booking_tapped_at IS NULL AND booking_nudged_at IS NULL"

intakes = sa.Table(
    "intakes",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.BigInteger),
    sa.Column("first_name", sa.String(256)),
    sa.Column("last_name", sa.String(256)),
    sa.Column("username", sa.String(64)),
    sa.Column("flow_id", sa.String(64), nullable=False),
    sa.Column("flow_version", sa.String(32), nullable=False),
    # the content hash of the flow version it began on (``flow_versions``; 0017): None for an
    # intake begun before 0017 on a version the store never knew
    sa.Column("flow_hash", sa.String(64)),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64)),
    # in_progress | completed | declined | abandoned
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(64)),
    sa.Column("urgent", sa.Boolean, nullable=False, default=False),
    sa.Column("flags", sa.Text, nullable=False, default="[]"),
    sa.Column("state", sa.Text, nullable=False),
    # the transcript row of the message showing the current step's buttons (edited once answered)
    sa.Column("prompt_message_id", sa.BigInteger),
    sa.Column("consent_version", sa.String(32)),
    sa.Column("consented_at", When),
    sa.Column("human_requested_at", When),
    sa.Column("created_at", When, nullable=False),
    sa.Column("updated_at", When, nullable=False),
    sa.Column("completed_at", When),
    sa.Column("reminded_at", When),
    sa.Column("reviewed_at", When),
    sa.Column("reviewed_by", sa.String(64)),
    # when an urgent text was last shown (turns write it, never clear it), and the staff member who
    # acknowledged the urgent intake (staff only): pinned on the list while shown after that (0007)
    sa.Column("urgent_shown_at", When),
    sa.Column("acknowledged_at", When),
    sa.Column("acknowledged_by", sa.String(64)),
    # the oldest patient message the clinic has not answered yet (the conversation panel's), and
    # the highest raised flag's severity as a number (turns write it beside flags): 0010
    sa.Column("waiting_since", When),
    sa.Column("severity", sa.SmallInteger, nullable=False, default=0, server_default="0"),
    # staff only, never a turn: who took the intake, and what came of contacting the patient (0010)
    sa.Column("assigned_to", sa.String(64)),
    sa.Column("assigned_at", When),
    sa.Column("follow_up", sa.String(16)),  # called_back | booked | no_answer
    sa.Column("follow_up_at", When),
    sa.Column("follow_up_by", sa.String(64)),
    # raised by every write of the conversation: a copy kept in memory checks it is still current
    sa.Column("version", sa.Integer, nullable=False, default=0, server_default="0"),
    # the conversation with the clinic open now (``talks``; migration 0013)
    sa.Column("talk_id", sa.BigInteger),
    # the booking button (0015): the tracked address's random token (a turn makes it), its first
    # tap and how many (the web app's redirect only), and when the one nudge to book was queued
    sa.Column("booking_token", sa.String(32)),
    sa.Column("booking_tapped_at", When),
    sa.Column("booking_taps", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("booking_nudged_at", When),
    sa.Index("ix_intakes_chat", "chat_id", "id"),
    sa.Index("ix_intakes_status_updated", "status", "updated_at"),
    # the staff list's sorts and the queue's buckets and sparse filters (0010; bot.store.queue)
    sa.Index("ix_intakes_created", "created_at", "id"),
    sa.Index("ix_intakes_severity", "severity", "created_at", "id"),
    sa.Index(
        "ix_intakes_unreviewed",
        "created_at",
        "id",
        sqlite_where=sa.text("reviewed_at IS NULL"),
        postgresql_where=sa.text("reviewed_at IS NULL"),
    ),
    *(
        # sparse columns, indexed only where set (a turn leaving them empty writes no entry)
        sa.Index(
            name,
            *columns,
            sqlite_where=sa.text(f"{columns[0]} IS NOT NULL"),
            postgresql_where=sa.text(f"{columns[0]} IS NOT NULL"),
        )
        for name, columns in (
            ("ix_intakes_waiting", ("waiting_since", "id")),
            ("ix_intakes_human", ("human_requested_at", "id")),
            ("ix_intakes_urgent_shown", ("urgent_shown_at", "id")),
            ("ix_intakes_acknowledged", ("acknowledged_at",)),
            ("ix_intakes_assigned", ("assigned_to", "created_at", "id")),
            ("ix_intakes_follow_up", ("follow_up", "created_at", "id")),
        )
    ),
    sa.Index("ix_intakes_source", "source"),
    # the Funnel page's choice of versions (0014): written once, as the intake begins
    sa.Index("ix_intakes_flow_version", "flow_version"),
    # the booking redirect's lookup, the "tapped booking" filter, the nudges still due (0015)
    sa.Index(
        "ix_intakes_booking_token",
        "booking_token",
        unique=True,
        sqlite_where=sa.text("booking_token IS NOT NULL"),
        postgresql_where=sa.text("booking_token IS NOT NULL"),
    ),
    sa.Index(
        "ix_intakes_booking_tapped",
        "booking_tapped_at",
        "id",
        sqlite_where=sa.text("booking_tapped_at IS NOT NULL"),
        postgresql_where=sa.text("booking_tapped_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_intakes_booking_due",
        "completed_at",
        sqlite_where=sa.text(NUDGE_DUE),
        postgresql_where=sa.text(NUDGE_DUE),
    ),
    sqlite_autoincrement=True,  # an erased intake's id never comes back (migration 0003)
)

#: Every version of a flow a process has run (0017), by the content hash of its parsed YAML: the
#: source as read, to build its engine again for the intakes bound to it (``bot.engine.engines``).
flow_versions = sa.Table(
    "flow_versions",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("flow_id", sa.String(64), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("first_run_at", When, nullable=False),
    sa.Index("ix_flow_versions_flow", "flow_id", "first_run_at"),
)

#: What the staff search finds an intake by (migration 0011): its names, username and the contact
#: details typed in its answers, folded (``bot.store.search_text``), one row per intake, written
#: by the turn that changes them and erased with the intake. Looked up through a trigram index:
#: on PostgreSQL a pg_trgm GIN index on ``text``; on SQLite the FTS5 table ``intake_search_fts``
#: (trigram tokenizer, kept in step by triggers), which the migration makes beside this table.
intake_search = sa.Table(
    "intake_search",
    metadata,
    sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
    sa.Column("text", sa.Text, nullable=False),
)
sa.Index(
    "ix_intake_search_text",
    intake_search.c.text,
    postgresql_using="gin",
    postgresql_ops={"text": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    # Telegram's update_id of an incoming message, for the record: a redelivery is recognised by
    # telegram_updates (numbers repeat across bots and after a week)
    sa.Column("update_id", sa.BigInteger),
    sa.Column("direction", sa.String(3), nullable=False),  # in | out
    # in: what the person did (text, command, press, other); out: send, edit or markup (buttons)
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("at", When, nullable=False),
    # outgoing: how to send it (JSON), and what happened when it was sent; incoming: the safety
    # screen the message met, if any ({"screen": id, "ask_first": bool}), for staff
    sa.Column("payload", sa.Text),
    sa.Column("sent_at", When),
    sa.Column("telegram_message_id", sa.BigInteger),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_try_at", When),
    sa.Column("last_error", sa.String(256)),
    # a message of a conversation with the clinic (0013): the patient's typed words, or a staff
    # message (an outgoing row, with its sender's display name)
    sa.Column("talk_id", sa.BigInteger),
    sa.Column("sender", sa.String(128)),
    # several workers on PostgreSQL (0016): the worker sending an outgoing row, until when
    # (``bot.store.leases``); NULL on SQLite, and once released
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("lease_until", When),
    sa.Index("ix_messages_intake", "intake_id", "id"),
    sa.Index("ix_messages_talk", "talk_id", "id"),
    sqlite_autoincrement=True,  # nor an erased message's
)

#: Where patients drop off (migration 0014): one row per intake and step reached or hidden from the
#: person by skip logic (``skipped``), written by the turn that moves them (``bot.store.funnel``):
#: when they last came to it (``entered``, epoch seconds), the seconds spent on it once left (NULL
#: while never left), how often they went back from it, the invalid answers it drew, whether they
#: are on it now. The intake's start, flow version and source are copied in (they never change), so
#: the funnel is counted from one covering index without reading the intakes. Counts, no answers.
funnel_steps = sa.Table(
    "funnel_steps",
    metadata,
    sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
    sa.Column("step", sa.String(64), primary_key=True),
    sa.Column("entered", sa.BigInteger, nullable=False),
    sa.Column("seconds", sa.Integer),
    sa.Column("backs", sa.Integer, nullable=False, server_default="0"),
    sa.Column("invalid", sa.Integer, nullable=False, server_default="0"),
    sa.Column("here", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("skipped", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("begun", When, nullable=False),
    sa.Column("flow_version", sa.String(32), nullable=False),
    sa.Column("source", sa.String(64)),
    sa.Index(
        "ix_funnel_steps_count",
        "step",
        "seconds",
        "here",
        "skipped",
        "backs",
        "invalid",
        "begun",
        "flow_version",
        "source",
    ),
)

#: Conversations between the clinic and a patient (migration 0013): one row each time one opens,
#: by the patient (/human: ``opened_by`` "patient") or a member of staff. ``ending`` says how it
#: ended: "resume" (the patient went back to the questions), "handback" (staff handed back: the
#: bot shows the question again and notes ``prompted_at``) or "close".
talks = sa.Table(
    "talks",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("opened_at", When, nullable=False),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("closed_at", When),
    sa.Column("closed_by", sa.String(64)),
    sa.Column("ending", sa.String(16)),
    sa.Column("prompted_at", When),
    sa.Index("ix_talks_intake", "intake_id", "id"),
    sqlite_autoincrement=True,
)
_handback = sa.and_(talks.c.ending == "handback", talks.c.prompted_at.is_(None))
sa.Index("ix_talks_handback", talks.c.id, sqlite_where=_handback, postgresql_where=_handback)

#: The outbox: outgoing messages not sent yet. A partial index keeps the scan to those rows only.
_unsent = sa.and_(messages.c.direction == Direction.OUT.value, messages.c.sent_at.is_(None))
sa.Index("ix_messages_outbox", messages.c.chat_id, messages.c.id, sqlite_where=_unsent, postgresql_where=_unsent)


#: Telegram's limits for the bot as a whole (0016): a token bucket per chat sent to lately, and
#: ``key`` 0 for the bot overall, shared by every worker on PostgreSQL (``bot.store.leases``).
#: UNLOGGED there (a budget is worth nothing after a crash); unused on SQLite.
send_budget = sa.Table(
    "send_budget",
    metadata,
    sa.Column("key", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("at", When, nullable=False),
)


#: The updates applied lately, per bot, with what each carried: a redelivery of one is refused. A row is
#: forgotten after UPDATE_WINDOW (Telegram keeps an update 24 hours): numbers repeat, across bots
#: and after a week without updates. Nothing in it tells who sent what.
telegram_updates = sa.Table(
    "telegram_updates",
    metadata,
    sa.Column("bot_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("update_id", sa.BigInteger, primary_key=True, autoincrement=False),
    # what the update carried (its message's or button press's id with the chat, hashed): a
    # redelivery carries the same; 0 when not known
    sa.Column("fingerprint", sa.BigInteger, nullable=False),
    sa.Column("seen_at", When, nullable=False),
    sa.Index("ix_telegram_updates_seen", "seen_at"),
)


staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # reviewer | admin
    sa.Column("created_at", When, nullable=False),
    sa.Column("disabled_at", When),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", When),
    sa.Column("last_login_at", When),
    sa.Column("display_name", sa.String(64)),  # what a patient reads under a staff message (0013)
    # the staff pages' language ("en", "de"...); none: the browser's, else the flow's default
    sa.Column("language", sa.String(16)),
)

notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", When, nullable=False),
    sa.Index("ix_notes_intake", "intake_id", "id"),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("intake_id", sa.BigInteger),  # no foreign key: the record outlives an erased intake
    sa.Column("detail", sa.String(256)),
    sa.Column("at", When, nullable=False),
    sa.Index("ix_audit_at", "at"),
    # the audit page's filters, each with the id it pages on (migration 0009)
    sa.Index("ix_audit_actor", "actor", "id"),
    sa.Index("ix_audit_action", "action", "id"),
    sa.Index("ix_audit_intake", "intake_id", "id"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # SHA-256 of the token
    sa.Column("created_at", When, nullable=False),
    sa.Column("revoked_at", When),
    sa.Column("last_used_at", When),
    # what the token may do, comma-separated: read, message (0013; tokens made before: read)
    sa.Column("scopes", sa.String(64), nullable=False, server_default="read"),
)

#: Signed-in staff sessions (migration 0006). The browser holds a random token; only its SHA-256
#: digest is kept, so a copy of the database cannot be replayed as a cookie. A row ends (is
#: deleted) at logout, when the account is disabled or given a new password, and once it has been
#: idle or alive too long (bot.staff.sessions says how long).
staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("staff_id", Id, sa.ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", When, nullable=False),
    sa.Column("last_seen_at", When, nullable=False),  # marked at most once a minute
    sa.Index("ix_staff_sessions_staff", "staff_id"),
)

#: Failed logins counted per key (migration 0006): a client and a name together, a client, or a
#: name (bot.staff.throttle says what each allows). Keys are SHA-256 digests: neither what was
#: typed as a name (a password, now and then) nor an address is kept.
login_throttle = sa.Table(
    "login_throttle",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("name_hash", sa.String(64)),  # of the name, on a name's keys: a new password clears them
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", When),
    sa.Column("updated_at", When, nullable=False),
    sa.Index("ix_login_throttle_name", "name_hash"),
    sa.Index("ix_login_throttle_updated", "updated_at"),
)

#: Completed intakes waiting to be POSTed to the clinic's webhook (a durable outbox).
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("body", sa.Text),  # set at the first attempt; retries send the same bytes
    sa.Column("created_at", When, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_try_at", When),
    sa.Column("delivered_at", When),
    sa.Column("gave_up_at", When),
    sa.Column("last_error", sa.String(256)),
    sa.Index("ix_webhook_deliveries_due", "delivered_at", "gave_up_at", "next_try_at"),
)

#: Staff alerts waiting to go out (migration 0008), a durable outbox like ``webhook_deliveries``:
#: one row per intake, event and channel, queued in the turn that raised the event. The unique key
#: makes each (intake, event) alert once per channel, however often a turn raises it again; one
#: row per channel, so that a channel that took the alert is never sent it again while the other
#: one is retried. No foreign key: an alert still unsent outlives its intake's erasure (staff
#: learn that someone needed them); nothing in a row tells who the patient is or what they said.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("intake_id", sa.BigInteger, nullable=False),
    sa.Column("event", sa.String(16), nullable=False),  # urgent | human | high | completed
    # an urgent alert's flag (one alert for each urgent flag raised); "" for the other events
    sa.Column("reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("channel", sa.String(16), nullable=False),  # telegram | email
    sa.Column("created_at", When, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_try_at", When),
    sa.Column("sent_at", When),
    sa.Column("gave_up_at", When),
    sa.Column("last_error", sa.String(256)),
    sa.UniqueConstraint("intake_id", "event", "reason", "channel", name="uq_alerts_intake_event_channel"),
    sa.Index("ix_alerts_due", "sent_at", "gave_up_at", "next_try_at"),
)


def declared_on(dialect: str) -> Callable[..., bool]:
    """For comparing a migrated database with this metadata (an alembic ``include_object``): leaves
    out what the metadata cannot declare, the SQLite FTS5 table of ``intake_search`` (with its
    shadow tables), and the trigram index that exists on PostgreSQL only."""

    def include(_object: object, name: str | None, type_: str, _reflected: bool, _compare_to: object) -> bool:
        if type_ == "table" and (name or "").startswith("intake_search_fts"):
            return False
        return not (type_ == "index" and name == "ix_intake_search_text" and dialect != "postgresql")

    return include
