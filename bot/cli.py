"""The command line: ``python -m bot COMMAND`` (``--help`` lists them).

``start`` (what ``make run`` runs), ``serve``, ``run``, ``chat``, ``validate``, ``diagram``,
``schema``, ``staff``, ``token``, ``export`` and ``purge``. Each command is a small function; an
error a person can cause (``bot.errors.UserError``: a bad flow, setting, database, account, or
argument) is shown in a line or a few with its own exit status, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from bot.config import load_settings
from bot.errors import UsageError, UserError
from bot.flow import FlowError, load_checked
from bot.flow.model import QUESTION_TYPES, OutcomeStep
from bot.staff.roles import Role


def cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for path in args.flows:
        try:
            flow = load_checked(path)
        except FlowError as err:
            failed = True
            for problem in err.problems:
                print(problem)
            continue
        questions = sum(isinstance(s, QUESTION_TYPES) for s in flow.steps)
        endings = sum(isinstance(s, OutcomeStep) for s in flow.steps)
        print(
            f"{path}: ok: {flow.id} v{flow.version}, {len(flow.steps)} steps, {questions} questions, "
            f"{endings} endings, {len(flow.flags)} flags, languages {', '.join(flow.languages)}"
        )
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from bot.flow.schema import flow_schema

    print(json.dumps(flow_schema(), indent=2, ensure_ascii=False))
    return 0


def _engine(path: str):
    from bot.engine import Engine

    return Engine(load_checked(path))


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.channels.console import run_console

    engine = _engine(args.flow or load_settings().flow_path)
    if args.lang and args.lang not in engine.flow.languages:
        raise UsageError(f"language '{args.lang}' is not in this flow ({', '.join(engine.flow.languages)})")
    return run_console(engine, args.lang)


def _long_running(need_token: bool):
    """Settings, the checked flow's engine and the migrated store for `run` and `serve`."""
    import logging

    from bot.engine import Engine
    from bot.store import Store

    settings = load_settings()
    if need_token or settings.telegram_token:
        settings.check_token()
    engine = Engine(load_checked(settings.flow_path))
    from bot.logs import configure

    configure(settings.log_level, settings.log_format)  # LOG_FORMAT: text, or json for a log collector
    # httpx logs request URLs, which carry the bot token; transitions logs every state a person
    # enters, which would put their path through the questionnaire (health data) in the log.
    for noisy in ("httpx", "httpcore", "transitions", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # python-telegram-bot logs every Bot API call's parameters and result at DEBUG: the updates
    # with what patients typed, and every reply with their answers. Never below INFO, whatever
    # LOG_LEVEL says (and never above it either, or its INFO lines would pass a WARNING setting).
    telegram_level = max(logging.INFO, logging.getLogger().getEffectiveLevel())
    logging.getLogger("telegram").setLevel(telegram_level)
    store = Store.open(settings.database_url)
    store.checkpoint_in_background()  # SQLite's fsyncs off the event loop (bot.store.checkpoint)
    return settings, engine, store


def cmd_run(args: argparse.Namespace) -> int:
    """The Telegram bot and the jobs: polling, or a webhook when WEBHOOK_URL is set."""
    from bot.runtime import Parts, run

    settings, engine, store = _long_running(need_token=True)
    try:
        return run(settings, engine, store, Parts(web=False, telegram=True))
    finally:
        store.close()


def cmd_serve(args: argparse.Namespace) -> int:
    """The staff web app, clinic API and jobs, with the Telegram bot in the same process when a token is set."""
    from bot.runtime import Parts, run

    settings, engine, store = _long_running(need_token=False)
    try:
        return run(settings, engine, store, Parts(web=True, telegram=bool(settings.telegram_token)))
    finally:
        store.close()


def cmd_start(args: argparse.Namespace) -> int:
    """What `make run` runs: the bot with the staff web app when a token is set, else the terminal chat."""
    if load_settings().telegram_token:
        return cmd_serve(args)
    print("TELEGRAM_BOT_TOKEN is not set: opening the questionnaire in the terminal instead.", file=sys.stderr)
    args.flow, args.lang = None, None
    return cmd_chat(args)


def _store():
    from bot.store import Store

    return Store.open(load_settings().database_url)


def _read_password(prompt: str) -> str:
    """From the terminal (asked twice), or the first line of standard input when piped."""
    import getpass

    from bot.staff.accounts import AccountError

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def cmd_staff(args: argparse.Namespace) -> int:
    from bot.staff.accounts import Accounts

    accounts = Accounts(_store())
    if args.action == "add":
        password = _read_password(f"Password for {args.name}: ")
        if args.language:  # checked before the account is made: a typo leaves no account behind
            accounts.check_language(args.language)
        member = accounts.add(args.name, password, args.role)
        if args.language:
            accounts.set_language(member.name, args.language)
        print(f"added {member.name} ({member.role})")
    elif args.action == "passwd":
        accounts.set_password(args.name, _read_password(f"New password for {args.name}: "))
        print(f"password changed for {args.name}")
    elif args.action == "disable":
        accounts.disable(args.name)
        print(f"disabled {args.name}")
    elif args.action == "display-name":
        accounts.set_display_name(args.name, args.display_name)
        print(f"{args.name} signs messages to patients as {' '.join(args.display_name.split())}")
    elif args.action == "language":
        accounts.set_language(args.name, None if args.language == "auto" else args.language)
        print(f"language of {args.name}: {args.language}")
    else:
        for m in accounts.list():
            state = "disabled" if m.disabled else "active"
            last = m.last_login_at.strftime("%Y-%m-%d %H:%M") if m.last_login_at else "never"
            print(f"{m.name}\t{m.role}\t{state}\tlast login {last}\tlanguage {m.language or 'auto'}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from bot.staff.accounts import Accounts

    accounts = Accounts(_store())
    if args.action == "add":
        token = accounts.add_token(args.name, args.scope.split(","))
        print(token)
        print(f"(the token for {args.name}; it is shown only now)", file=sys.stderr)
    elif args.action == "revoke":
        accounts.revoke_token(args.name)
        print(f"revoked {args.name}")
    else:
        for name, created, revoked, used, scopes in accounts.tokens():
            last = used.strftime("%Y-%m-%d %H:%M") if used else "never"
            state = "revoked" if revoked else "active"
            print(f"{name}\t{state}\t{scopes}\tcreated {created:%Y-%m-%d}\tlast used {last}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bot.engine import Engine
    from bot.staff.exports import Exporter
    from bot.staff.review import Review

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since {args.since!r} is not a date such as 2026-11-01") from None
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    if args.format == "pdf" and not args.out:
        raise UsageError("--format pdf writes one file per intake: give a folder with --out DIR")
    settings = load_settings()
    from bot.staff.talks import Talks

    engine = Engine(load_checked(settings.flow_path))
    exporter = Exporter(engine)
    store = _store()
    review = Review(store)
    ids = review.export_ids(since=since)
    # The audit log says who took which intakes out, from the page, the API or here: on this
    # machine, the account that ran the command.
    review.record_all(f"cli:{_os_user()}", "export", ids, args.format)
    if args.format == "pdf":
        return _export_pdfs(ids, args.out)
    talks = Talks(store, engine).for_export
    chunks = exporter.chunks(args.format, review.intakes(ids), talks)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.writelines(chunks)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.writelines(chunks)
    return 0


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's): its number says who
        import os

        return str(os.getuid())


def _export_pdfs(ids: list[int], out: str) -> int:
    """One PDF per intake, ``intake-<id>.pdf`` in the folder ``out``. Making a PDF is Python work
    (about 0.2 s each, see ``make bench-pdf``): a batch of more than a few dozen is shared among one
    process per core, each with its own engine and database connection."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context
    from pathlib import Path

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    workers = min(os.cpu_count() or 1, len(ids) // PDFS_PER_WORKER)
    if workers <= 1:
        written = _write_pdfs(str(folder), ids)
    else:
        # spawned, not forked: a child must not share the parent's database connections
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            written = sum(pool.map(_write_pdfs, [str(folder)] * workers, [ids[i::workers] for i in range(workers)]))
    print(f"wrote {written} PDF(s) to {folder}", file=sys.stderr)
    return 0


#: Below this many intakes per core, starting another process costs more than it saves.
PDFS_PER_WORKER = 20


def _write_pdfs(folder: str, ids: list[int]) -> int:
    """These intakes' PDFs into ``folder`` (staff words in the flow's default language, times on
    the clinic's clock: CLINIC_TIMEZONE); how many were written (an intake erased meanwhile is not)."""
    from pathlib import Path

    from bot.engine import Engine
    from bot.staff.exports import Exporter
    from bot.staff.i18n import StaffLanguages
    from bot.staff.pdf import IntakePdf
    from bot.staff.review import Review

    settings = load_settings()
    engine = Engine(load_checked(settings.flow_path))
    default = engine.flow.default_language
    words = StaffLanguages(default).translations(default)
    pdf = IntakePdf(engine, Exporter(engine), settings.clinic_timezone)
    store = _store()
    try:
        review = Review(store)
        written = 0
        for intake_id in ids:
            view = review.intake_view(intake_id)
            if view is not None:
                (Path(folder) / f"intake-{intake_id}.pdf").write_bytes(pdf.render(view, words))
                written += 1
        return written
    finally:
        store.close()


def cmd_purge(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from bot.store import utcnow

    days = args.days or load_settings().retention_days
    if not days:
        raise UsageError("set RETENTION_DAYS (or pass --days N) to say how long intakes are kept")
    with _store().transaction() as tx:
        erased = tx.purge_before(utcnow() - timedelta(days=days))
    print(f"erased {erased} intake(s) with no activity in the last {days} day(s)")
    return 0


def cmd_diagram(args: argparse.Namespace) -> int:
    from bot.diagram import mermaid

    sys.stdout.write(mermaid(_engine(args.flow)))
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    """`alerts test`: a test alert to every configured channel, one line each on what it answered."""
    from bot.alerts.probe import probe
    from bot.engine import Engine

    settings = load_settings()
    return probe(settings, Engine(load_checked(settings.flow_path)), sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Skin Botox intake questionnaire bot.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check flow files; print every problem as file:line:column")
    p.add_argument("flows", nargs="+", metavar="FLOW")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the flow format's JSON Schema")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("chat", help="answer a flow in the terminal")
    p.add_argument("--flow", help="flow file (default: FLOW_PATH, else flows/skin_botox.yaml)")
    p.add_argument("--lang", help="language code, e.g. en or de (default: the flow's)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("run", help="run the Telegram bot (polling, or a webhook when WEBHOOK_URL is set)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("serve", help="the staff web app and clinic API (and the Telegram bot when a token is set)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("start", help="the Telegram bot when TELEGRAM_BOT_TOKEN is set, else the terminal chat")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("staff", help="staff accounts for the review web app")
    staff_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = staff_sub.add_parser("add", help="add a staff member (password asked, or read from standard input)")
    q.add_argument("name")
    q.add_argument("--role", choices=[r.value for r in Role], default=Role.REVIEWER.value)
    q.add_argument("--language", help="the staff pages' language (en, de, ...); without it, the browser's")
    for action, text in (("passwd", "change a password"), ("disable", "disable an account")):
        staff_sub.add_parser(action, help=text).add_argument("name")
    q = staff_sub.add_parser("display-name", help="the name patients read under this member's messages")
    q.add_argument("name")
    q.add_argument("display_name", metavar="DISPLAY_NAME")
    staff_sub.add_parser("list", help="list staff accounts")
    q = staff_sub.add_parser("language", help="the staff pages' language of a member (auto: the browser's)")
    q.add_argument("name")
    q.add_argument("language", help="a language the pages have (en, de, ...) or auto")
    p.set_defaults(func=cmd_staff)

    p = sub.add_parser("token", help="bearer tokens for the clinic API")
    token_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = token_sub.add_parser("add", help="create a token (printed once)")
    q.add_argument("name")
    q.add_argument("--scope", default="read", help="what it may do, comma-separated: read, message (write to patients)")
    token_sub.add_parser("revoke", help="revoke a token").add_argument("name")
    token_sub.add_parser("list", help="list tokens")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("export", help="export intakes as CSV, JSON, FHIR R4 or one PDF each")
    p.add_argument("--format", choices=["csv", "json", "fhir", "pdf"], default="csv")
    p.add_argument("--since", help="only intakes started on or after this date (YYYY-MM-DD)")
    p.add_argument("--out", help="write to this file instead of standard output (pdf: to this folder)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("purge", help="erase intakes older than RETENTION_DAYS (answers, transcript, notes)")
    p.add_argument("--days", type=int, help="override RETENTION_DAYS")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("alerts", help="staff alerts: `alerts test` sends a test alert to every configured channel")
    p.add_argument("action", choices=["test"])
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("diagram", help="print a Mermaid state diagram of a flow")
    p.add_argument("flow", metavar="FLOW")
    p.set_defaults(func=cmd_diagram)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:  # a bad flow, setting, database, account or argument: shown, no traceback
        err.show()
        return err.exit_code
    except KeyboardInterrupt:
        return 130
