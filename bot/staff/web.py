"""The staff web app and the clinic API: one Starlette application.

Pages need a logged-in staff member: the signed, HttpOnly, SameSite=strict cookie (Secure over
HTTPS) carries a session token whose digest the store holds (``bot.staff.sessions``), so logging
out, disabling an account or changing its password ends the session everywhere, and the member's
role is read from the store at each request. Every form carries a CSRF token tied to the session;
the API needs a bearer token from ``python -m bot token add``. Templates escape everything (a
patient's ``<script>`` is text). Viewing and exporting an intake are written to the audit log,
which admins can read.

Staff work never stops the patients: under ``serve`` the Telegram bot shares this process's
event loop, so every call that waits for the database (or hashes a password, or builds an
export) runs on the web app's own small pool of threads (``WebApp.blocking``), never on the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote

from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.clock import on_clock
from bot.diagram import mermaid
from bot.engine import Engine
from bot.flow import model, sections
from bot.logs import RequestIds
from bot.staff.accounts import AccountError, Accounts
from bot.staff.booking_taps import BookingTaps
from bot.staff.exports import FORMATS, Exporter
from bot.staff.filters import AuditFilters, Filters
from bot.staff.funnel import Funnel, StepLabels, audit_detail, period_from
from bot.staff.i18n import ACTION_WORDS, FOLLOW_UP_WORDS, N_, SEVERITY_WORDS, STATUS_WORDS, StaffLanguages
from bot.staff.intake_reading import IntakeReading
from bot.staff.pdf import MEDIA_TYPE as PDF
from bot.staff.pdf import IntakePdf
from bot.staff.questionnaire import Questionnaire
from bot.staff.review import PAGE_SIZE, Review
from bot.staff.roles import Role
from bot.staff.sessions import Clock, Lifetime, Sessions, SignedIn
from bot.staff.talks import Ending, Talks, TooLong
from bot.store import Store, utcnow
from bot.store.queue import CAP, Cursor, Position
from bot.store.records import FOLLOW_UPS
from bot.store.review import STATUSES
from bot.store.talks import MAX_TEXT

#: How often an open intake page's event stream looks for new talk messages, and how long one
#: stream lasts (the browser then reconnects, and the session is checked again).
TALK_POLL = 1.0
TALK_STREAM = 60.0
#: What a talk form's error code says to staff.
TALK_ERRORS = {
    "too_long": N_("The message is too long for one Telegram message once signed: please shorten it."),
    "too_many": N_("Too many messages in a minute: please wait a moment before sending the next one."),
    "gone": N_("The intake was erased: the message was not sent."),
}

HERE = Path(__file__).parent
MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json", "fhir": "application/fhir+json"}
Handler = Callable[[Request], Awaitable[Response]]
#: Threads for the staff side's blocking work: enough that a long search does not hold up a
#: login, few enough that staff cannot crowd out the database connections patients' turns need.
#: (An export's chunks are made on Starlette's own worker threads, each batch read in a
#: transaction that is over before the chunk goes out.)
STAFF_THREADS = 4
#: The most intakes one answer of the API's list holds (``limit``).
API_PAGE_MAX = 100


class WebApp:
    def __init__(
        self,
        engine: Engine,
        store: Store,
        secret_key: str,
        https: bool = False,
        lifetime: Lifetime | None = None,
        clock: Clock = utcnow,
        zone: tzinfo = UTC,
    ):
        self.engine = engine
        self.store = store
        #: the clinic's time zone (CLINIC_TIMEZONE): every time on the pages, every date filter's days
        self.zone = zone
        self.review = Review(store, zone)
        self.funnel = Funnel(store, engine, zone)
        self.accounts = Accounts(store)
        self.sessions = Sessions(store, lifetime, clock)
        self.exporter = Exporter(engine)
        self.reading = IntakeReading(engine, self.exporter, self.when)
        self.pdf = IntakePdf(engine, self.exporter, zone)
        self.talks = Talks(store, engine)
        self.booking_taps = BookingTaps(store, engine, clock)
        #: False once the process is stopping: event streams end at their next look (a server
        #: stopping cleanly waits for every open response, and a stream would last a minute)
        self.streaming = True
        #: the severity number from which a flag counts as high for the work queue
        self.high = model.SEVERITY_RANK["high"]
        # Intakes stored before their severity was kept (migration 0010) get it from this flow.
        self.review.rank_severities(engine.flag_ranks)
        self.secret_key = secret_key
        self.https = https
        self.pool = ThreadPoolExecutor(max_workers=STAFF_THREADS, thread_name_prefix="staff")
        self.languages = StaffLanguages(engine.flow.default_language)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
        )
        self.templates.policies["ext.i18n.trimmed"] = True  # a {% trans %} block's line breaks are not words
        self._install_gettext()
        self.templates.globals.update(
            statuses=STATUSES,
            status_words=STATUS_WORDS,
            severity_words=SEVERITY_WORDS,
            action_words=ACTION_WORDS,
            zone_name=str(zone),
        )
        self.templates.filters["when"] = self.when
        self.templates.globals["follow_ups"] = FOLLOW_UP_WORDS
        self.templates.filters["capped"] = capped
        #: the questionnaire page: its words and its diagrams ("" the whole flow, else one part)
        #: in each page language, made when first asked for
        self.questionnaires: dict[str, Questionnaire] = {}
        self.diagrams: dict[tuple[str, str], str] = {}
        self.section_ids = frozenset(p.id for p in sections.parts(engine.flow))

    # --- plumbing ----------------------------------------------------------------------------

    def _install_gettext(self) -> None:
        """``_()``, ``gettext()``, ``ngettext()`` and ``{% trans %}`` in the templates, in the
        language of the page being rendered (its ``lang``): one environment serves every language.
        Newstyle: a translation is a trusted format string, its ``%(name)s`` values are escaped."""
        catalogs = self.languages

        @pass_context
        def gettext(context: Context, message: str) -> str:
            return catalogs.translations(context.get("lang", "")).gettext(message)

        @pass_context
        def ngettext(context: Context, singular: str, plural: str, n: int) -> str:
            return catalogs.translations(context.get("lang", "")).ngettext(singular, plural, n)

        self.templates.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]

        @pass_context
        def language_name(context: Context, code: str) -> str:
            return catalogs.name_of(code, context.get("lang", ""))

        self.templates.globals["language_name"] = language_name

    def when(
        self, at: datetime | None, seconds: bool = False, zone: bool = True, day: bool = True, clock: bool = True
    ) -> str:
        """A stored time (UTC) as the clinic's clock shows it: "2026-12-05 11:32 CET"; ``zone=False``
        where the page says the zone once (a column's heading), ``day``/``clock=False`` for one half."""
        return on_clock(at, self.zone, seconds, zone, day, clock)

    def language(self, request: Request) -> str:
        """This request's page language: the member's setting, the browser's, or the flow's default."""
        member: SignedIn | None = getattr(request.state, "staff", None)
        return self.languages.choose(member.language if member else None, request.headers.get("accept-language", ""))

    def words(self, request: Request) -> NullTranslations:
        """The catalog for this request's page (for words made in Python: titles, errors)."""
        return self.languages.translations(self.language(request))

    def message(self, request: Request, status: int, title: str, text: str) -> HTMLResponse:
        """A page that only says something (``title`` and ``text`` are message ids)."""
        words = self.words(request)
        return self.render(request, "message.html", status, title=words.gettext(title), text=words.gettext(text))

    def close(self) -> None:
        """Wait for the staff threads' work in hand, then let them go (before the store closes)."""
        self.pool.shutdown(wait=True)

    async def blocking(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``call`` on the staff threads and wait for it without holding up the event loop."""
        # In this request's context: its log lines there carry its request id.
        work = functools.partial(contextvars.copy_context().run, call, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.pool, work)

    def routes(self) -> list[Any]:
        page, api = self.page, self.api
        return [
            Route("/login", self.login, methods=["GET", "POST"]),
            # the patient's booking button (no login: the token is the key; bot.staff.booking_taps)
            Route("/b/{token:str}", self.booking_tap),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/", page(self.queue_page)),
            Route("/intakes", page(self.intake_list)),
            Route("/queue/{direction:str}", page(self.queue_step)),
            Route("/intakes/{intake_id:int}/assign", page(self.assign), methods=["POST"]),
            Route("/intakes/{intake_id:int}/follow-up", page(self.follow_up), methods=["POST"]),
            Route("/intakes/{intake_id:int}", page(self.intake_page)),
            Route("/intakes/{intake_id:int}.pdf", page(self.intake_pdf)),
            Route("/intakes/{intake_id:int}/review", page(self.mark_reviewed), methods=["POST"]),
            Route("/intakes/{intake_id:int}/notes", page(self.add_note), methods=["POST"]),
            Route("/intakes/{intake_id:int}/acknowledge", page(self.acknowledge), methods=["POST"]),
            Route("/intakes/{intake_id:int}/talk/messages", page(self.talk_message), methods=["POST"]),
            Route("/intakes/{intake_id:int}/talk/start", page(self.talk_start), methods=["POST"]),
            Route("/intakes/{intake_id:int}/talk/end", page(self.talk_end), methods=["POST"]),
            Route("/intakes/{intake_id:int}/talk/events", page(self.talk_events)),
            Route("/flow", page(self.flow_page)),
            Route("/settings", page(self.settings_page), methods=["GET", "POST"]),
            Route("/settings/display-name", page(self.set_display_name), methods=["POST"]),
            Route("/export", page(self.export)),
            Route("/audit", page(self.audit_page, admin=True)),
            # both roles (admin and reviewer): counts only
            Route("/funnel", page(self.funnel_page)),
            Route("/funnel.csv", page(self.funnel_csv)),
            Route("/api/intakes", api(self.api_list)),
            Route("/api/intakes/{intake_id:int}", api(self.api_intake)),
            Route("/api/intakes/{intake_id:int}.pdf", api(self.api_intake_pdf)),
            Route("/api/intakes/{intake_id:int}/messages", api(self.api_messages), methods=["GET", "POST"]),
            Route("/api/openapi.json", self.api(self.openapi, or_staff=True)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

    async def booking_tap(self, request: Request) -> Response:
        """A tap on a booking button: noted, then on to the booking page (a GET only: a HEAD, a
        link preview's say, notes nothing). Never cached, and no referrer carries the token on."""
        token = request.path_params["token"]
        link = await self.blocking(self.booking_taps.tap, token, request.method == "GET")
        if link is None:
            page = self.booking_taps.gone_page(request.headers.get("accept-language", ""))
            response: Response = HTMLResponse(page, 404)
        else:
            response = RedirectResponse(link, status_code=302)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def middleware(self) -> list[Middleware]:
        return [
            Middleware(RequestIds),  # each request's id in its log lines (LOG_FORMAT=json) and X-Request-ID
            Middleware(
                SessionMiddleware,
                secret_key=self.secret_key,
                session_cookie="intake_session",
                # The browser may forget it then; the store ends it by then in any case.
                max_age=int(self.sessions.lifetime.absolute.total_seconds()),
                same_site="strict",
                https_only=self.https,
            ),
        ]

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        member: SignedIn | None = getattr(request.state, "staff", None)
        context.setdefault("staff", member.name if member else None)
        context.setdefault("role", member.role if member else None)
        context.setdefault("csrf", self.csrf_token(request))
        context.setdefault("lang", self.language(request))
        context.setdefault("clinic", self.engine.text(self.engine.flow.clinic, self.engine.flow.default_language))
        response = HTMLResponse(self.templates.get_template(name).render(request=request, **context), status)
        response.headers["Content-Security-Policy"] = (
            # scripts only from /static (queue.js: the queue's keys); never inline
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"  # health data: not for shared caches
        return response

    def csrf_token(self, request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    async def check_csrf(self, request: Request) -> dict[str, Any] | None:
        form = dict(await request.form())
        expected = request.session.get("csrf", "")
        given = str(form.get("csrf", ""))
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return form

    async def signed_in(self, request: Request) -> SignedIn | None:
        """Who this request's session belongs to (also kept in ``request.state.staff``), or None.
        A cookie whose session has ended is emptied, so the browser drops it."""
        token = request.session.get("session")
        member = await self.blocking(self.sessions.member, token) if token else None
        if member is None and token:
            request.session.clear()
        request.state.staff = member
        return member

    @staticmethod
    def actor(request: Request) -> str:
        """The signed-in member's name (after the guard), for the audit log and notes."""
        return request.state.staff.name

    def page(self, handler: Handler, admin: bool = False) -> Handler:
        async def guarded(request: Request) -> Response:
            member = await self.signed_in(request)
            if member is None:
                # The query too: a link to one flag's FHIR export must still be that export after login.
                wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(wanted, safe='/')}", status_code=303)
            if admin and member.role != Role.ADMIN:
                return self.message(request, 403, N_("Admins only"), N_("This page is for admins."))
            if request.method == "POST" and await self.check_csrf(request) is None:
                return self.message(
                    request,
                    403,
                    N_("Form expired"),
                    N_("The form was out of date or not sent by this site. Please try again."),
                )
            return await handler(request)

        return guarded

    def api(self, handler: Handler, or_staff: bool = False) -> Handler:
        async def guarded(request: Request) -> Response:
            response = await self._api(handler, or_staff, request)
            # Health data: never in a shared cache, never sniffed as anything but what it says.
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response

        return guarded

    async def _api(self, handler: Handler, or_staff: bool, request: Request) -> Response:
        """The API guard itself: a staff session (where allowed) or a valid bearer token."""
        if or_staff and await self.signed_in(request):  # staff may read the API's description
            request.state.actor = self.actor(request)
            return await handler(request)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        access = None
        if scheme.lower() == "bearer" and token:
            access = await self.blocking(self.accounts.token_access, token.strip())
        if access is None:
            return JSONResponse(
                {"error": "a valid bearer token is required"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        request.state.actor = f"token:{access.name}"
        request.state.scopes = access.scopes
        return await handler(request)

    # --- login ---------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        next_url = request.query_params.get("next", "/")
        if not next_url.startswith("/") or next_url.startswith("//"):
            next_url = "/"  # never redirect off-site
        if request.method == "GET":
            return self.render(request, "login.html", next=next_url, error=None)
        form = await self.check_csrf(request)
        if form is None:
            error = self.words(request).gettext("The form expired. Please try again.")
            return self.render(request, "login.html", 403, next=next_url, error=error)
        name = str(form.get("name", ""))[:64]
        # The client's address as the server saw it: uvicorn puts a proxy's X-Forwarded-For there
        # only when the proxy is one of FORWARDED_ALLOW_IPS (see bot/runtime.py), so a client
        # cannot claim another address by sending the header itself.
        client = request.client.host if request.client else None
        password = str(form.get("password", ""))[:1024]
        result = await self.blocking(self.accounts.authenticate, name, password, client=client)
        if result.member is None:
            words = self.words(request)
            error = words.gettext("Wrong name or password.")
            if result.locked_for:
                minutes = max(1, round(result.locked_for.total_seconds() / 60))
                error = words.ngettext(
                    "Too many failed attempts: try again in %(num)d minute.",
                    "Too many failed attempts: try again in %(num)d minutes.",
                    minutes,
                ) % {"num": minutes}
            # an unknown name is not written down: it may be a password typed in the wrong field
            actor, detail = (name, None) if result.known else ("?", "a name no account has")
            await self.blocking(self.review.record, actor, "login_failed", None, detail)
            return self.render(request, "login.html", 401, next=next_url, error=error)
        if earlier := request.session.get("session"):  # whoever was signed in here is signed out,
            await self.blocking(self.sessions.end, earlier)  # a copy of their cookie included
        request.session.clear()  # a fresh session (and CSRF token) for the signed-in person
        request.session["session"] = await self.blocking(self.sessions.start, result.member.id)
        await self.blocking(self.review.record, result.member.name, "login")
        return RedirectResponse(next_url, status_code=303)

    async def logout(self, request: Request) -> Response:
        if await self.check_csrf(request) is not None:
            token = request.session.get("session")
            if token:
                await self.blocking(self.sessions.end, token)  # a copy of the cookie ends with it
            request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # --- pages ---------------------------------------------------------------------------------

    def outcomes(self) -> list[tuple[str, str]]:
        """Each ending's id and its words for staff (``Engine.outcome_topic``), in flow order."""
        return [
            (s.id, self.engine.outcome_topic(s.id)) for s in self.engine.flow.steps if isinstance(s, model.OutcomeStep)
        ]

    def flag_names(self, lang: str | None = None) -> dict[str, str]:
        return self.reading.flag_names(lang)

    def row(self, intake: Any, now: Any, words: NullTranslations, lang: str | None = None) -> dict[str, Any]:
        """What a list or queue row shows of an intake beyond its columns: the badge (the highest
        raised flag's severity and topic), its ending and flags in words, how long it has waited."""
        names, flags = self.flag_names(lang), {f.id: f for f in self.engine.flow.flags}
        raised = [flags[f] for f in intake.flags if f in flags]
        top = max(raised, key=lambda f: model.SEVERITY_RANK[f.severity], default=None)
        since = intake.waiting_since or (intake.human_requested_at if intake.human_waiting else None)
        return {
            "intake": intake,
            "badge": {"severity": top.severity, "topic": names[top.id]} if top else None,
            "outcome": self.engine.outcome_topic(intake.outcome, lang) if intake.outcome else None,
            "flags": [names.get(f, f) for f in intake.flags],
            "waiting": waited(now - since, words) if since else None,
        }

    async def queue_page(self, request: Request) -> Response:
        """The work queue: whom to look at first (``bot.store.queue``). Any of the list's filters
        in the query means the full list (links and bookmarks made before the queue)."""
        query = request.url.query
        if any(name in request.query_params for name in Filters.NAMES):
            return RedirectResponse(f"/intakes?{query}", status_code=303)
        start = None
        if at := request.query_params.get("at"):
            try:
                start = Position.parse(at)
            except ValueError:
                start = None
        found, counts = await self.blocking(self.review.queue, self.high, start)
        now = utcnow()
        shown = found[:PAGE_SIZE]
        words = self.words(request)
        lang = self.flow_language(request)
        items = [
            self.row(q.intake, now, words, lang) | {"bucket": q.bucket, "position": str(q.position)} for q in shown
        ]
        more = str(shown[-1].position) if len(found) > PAGE_SIZE else None
        return self.render(request, "list.html", queue=True, items=items, counts=counts, more=more, start=start)

    async def intake_list(self, request: Request) -> Response:
        filters = Filters.from_query(dict(request.query_params))
        cursors: dict[str, Cursor | None] = {"after": None, "before": None}
        bad = False
        for name in cursors:
            if text := getattr(filters, name):
                try:
                    cursors[name] = Cursor.parse(text, filters.sort)
                except ValueError:
                    bad = True
        page = await self.blocking(
            self.review.list_page, filters, self.actor(request), cursors["after"], before=cursors["before"]
        )
        now = utcnow()
        return self.render(
            request,
            "list.html",
            400 if bad else 200,
            queue=False,
            page=page,
            rows=[]
            if bad
            else [self.row(i, now, self.words(request), self.flow_language(request)) for i in page.items],
            bad_page=bad,
            filters=filters,
            outcomes=self.outcomes(),
            flags=self.flag_names(),
        )

    async def queue_step(self, request: Request) -> Response:
        """Next (or previous) in the queue from a place in it: the intake there, or the queue when
        there is none (a place that is not one: the first in the queue)."""
        direction = request.path_params["direction"]
        if direction not in ("next", "prev"):
            return self.message(request, 404, N_("Not found"), N_("There is no such page."))
        try:
            start = Position.parse(request.query_params.get("at", ""))
        except ValueError:
            start = None
        if start is None:
            found = await self.blocking(self.review.first_in_queue, self.high)
        else:
            found = await self.blocking(self.review.step, self.high, start, direction == "next")
        return RedirectResponse(f"/intakes/{found}" if found else "/", status_code=303)

    async def intake_page(self, request: Request) -> Response:
        intake_id = request.path_params["intake_id"]
        view = await self.blocking(self.review.intake_view, intake_id)
        if view is None:
            return self.message(
                request, 404, N_("Not found"), N_("There is no such intake (it may have been erased by the patient).")
            )
        intake = view.intake
        await self.blocking(self.review.record, self.actor(request), "view", intake_id)
        lang = self.flow_language(request)
        names = self.flag_names(lang)
        severity = {f.id: f.severity for f in self.engine.flow.flags}
        typed = self.reading.screened_lines(view.transcript)
        flags = [
            {"id": f, "topic": names.get(f, f), "severity": severity.get(f, ""), "line": typed.get(f)}
            for f in intake.flags
        ]
        outcome = self.engine.outcome_topic(intake.outcome, self.flow_language(request)) if intake.outcome else None
        # its place in the queue, or (once it has left it: reviewed) the place it had, from the link
        place = await self.blocking(self.review.position, self.high, intake_id)
        if place is None and (at := request.query_params.get("at")):
            try:
                place = Position.parse(at)
            except ValueError:
                place = None
        colleagues = []
        if request.state.staff.role == Role.ADMIN:
            colleagues = [m.name for m in await self.blocking(self.accounts.list) if not m.disabled]
        words = self.words(request)
        return self.render(
            request,
            "intake.html",
            intake=intake,
            place=str(place) if place else None,
            colleagues=colleagues,
            flags=flags,
            outcome=outcome,
            sections=self.reading.sections(intake, words, lang),
            shown_in=lang,
            urgent_shown=[
                self.reading.urgent_sentence(shown, words) for shown in self.exporter.urgent_shown(intake, lang)
            ],
            transcript=self.reading.transcript_lines(view.transcript),
            screens=self.reading.screens(lang),
            notes=view.notes,
            **await self._talk_panel(request, intake),
        )

    # --- the conversation with the patient (a talk) ---------------------------------------------

    async def _talk_panel(self, request: Request, intake: Any) -> dict[str, Any]:
        """What templates/talk.html shows: the messages, the signature, the saved replies in the
        patient's language."""
        member: SignedIn = request.state.staff
        lang = intake.language if intake.language in self.engine.flow.languages else self.engine.flow.default_language
        signature = self.talks.signed("", lang, member.display_name, first=False).strip()
        talk = self.engine.flow.talk
        saved = [
            {"label": self.engine.text(r.label, lang), "text": self.engine.text(r.text, lang)}
            for r in (talk.saved_replies if talk is not None else ())
        ]
        return {
            "talk": await self.blocking(self.talks.view, intake.id),
            "signature": signature,
            "saved_replies": saved,
            "talk_max": MAX_TEXT,
            "talk_error": TALK_ERRORS.get(request.query_params.get("talk_error", "")),
        }

    async def _send(self, intake_id: int, actor: str, display_name: str | None, text: str) -> str | int:
        """A staff message stored for sending: its row id, or an error code (TALK_ERRORS)."""
        if not self.talks.limit.allow(actor):
            return "too_many"
        try:
            row = await self.blocking(self.talks.send, intake_id, actor, display_name, text)
        except TooLong:
            return "too_long"
        return "gone" if row is None else row

    async def talk_message(self, request: Request) -> Response:
        intake_id = request.path_params["intake_id"]
        text = str(dict(await request.form()).get("text", "")).strip()
        member: SignedIn = request.state.staff
        if text:
            sent = await self._send(intake_id, member.name, member.display_name, text[: MAX_TEXT + 1])
            if isinstance(sent, str):
                return RedirectResponse(f"/intakes/{intake_id}?talk_error={sent}#talk", status_code=303)
        return RedirectResponse(f"/intakes/{intake_id}#talk", status_code=303)

    async def talk_start(self, request: Request) -> Response:
        intake_id = request.path_params["intake_id"]
        await self.blocking(self.talks.start, intake_id, self.actor(request))
        return RedirectResponse(f"/intakes/{intake_id}#talk", status_code=303)

    async def talk_end(self, request: Request) -> Response:
        """ "Hand back to the questionnaire" (the patient's question is shown again) or "Close"."""
        intake_id = request.path_params["intake_id"]
        ending = str(dict(await request.form()).get("ending", ""))
        if ending in (Ending.HANDBACK, Ending.CLOSE):
            await self.blocking(self.talks.finish, intake_id, self.actor(request), ending)
        return RedirectResponse(f"/intakes/{intake_id}#talk", status_code=303)

    async def talk_events(self, request: Request) -> Response:
        """Server-sent events for the open intake page: every talk message at first, then each new
        one and each change of a staff message's delivery state; ``gone`` once the intake is erased.
        The stream ends after TALK_STREAM seconds and the browser opens a new one (through the
        login check again)."""
        intake_id = request.path_params["intake_id"]

        async def stream() -> Any:
            shown: dict[int, str] = {}
            yield "retry: 1000\n\n"
            ends = asyncio.get_running_loop().time() + TALK_STREAM
            while self.streaming and asyncio.get_running_loop().time() < ends and not await request.is_disconnected():
                found = await self.blocking(self.talks.messages, intake_id)
                if found is None:
                    yield "event: gone\ndata: {}\n\n"
                    return
                for message in found:
                    if shown.get(message.id) != message.state:
                        shown[message.id] = message.state
                        # "when": its time as the page shows times (the clinic's zone, said)
                        data = message.as_json() | {"when": self.when(message.at, seconds=True)}
                        yield f"id: {message.id}\ndata: {json.dumps(data)}\n\n"
                await asyncio.sleep(TALK_POLL)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    async def mark_reviewed(self, request: Request) -> Response:
        """Set or clear the review mark; with ``then=next``, open the next in the queue (from the
        place the intake had before it left the queue)."""
        intake_id = request.path_params["intake_id"]
        form = dict(await request.form())
        reviewed = form.get("reviewed", "1") == "1"
        place = await self.blocking(self.review.position, self.high, intake_id)
        await self.blocking(self.review.mark_reviewed, intake_id, self.actor(request), reviewed)
        if form.get("then") == "next":
            return RedirectResponse(f"/queue/next?at={place}" if place else "/queue/next", status_code=303)
        return RedirectResponse(f"/intakes/{intake_id}" + (f"?at={place}" if place else ""), status_code=303)

    async def assign(self, request: Request) -> Response:
        """Assign to me (anyone), to a colleague (admins), or to nobody (an admin, or the assignee)."""
        intake_id = request.path_params["intake_id"]
        form = dict(await request.form())
        me, admin = self.actor(request), request.state.staff.role == Role.ADMIN
        to = str(form.get("to", "")).strip()[:64] or None
        intake = await self.blocking(self.review.intake, intake_id)
        if intake is None:
            return RedirectResponse(f"/intakes/{intake_id}", status_code=303)
        allowed = admin or to == me or (to is None and intake.assigned_to == me)
        if to is not None and to != me and to not in {m.name for m in await self.blocking(self.accounts.list)}:
            allowed = False
        if not allowed:
            return self.message(request, 403, N_("Not allowed"), N_("Only admins assign intakes to colleagues."))
        await self.blocking(self.review.assign, intake_id, to, me)
        return RedirectResponse(f"/intakes/{intake_id}", status_code=303)

    async def follow_up(self, request: Request) -> Response:
        """Record what came of contacting the patient (a fixed set), or clear it."""
        intake_id = request.path_params["intake_id"]
        value = str(dict(await request.form()).get("follow_up", ""))
        if value and value not in FOLLOW_UPS:
            return self.message(request, 400, N_("Not a follow-up"), N_("Choose one of the list."))
        await self.blocking(self.review.follow_up, intake_id, value or None, self.actor(request))
        return RedirectResponse(f"/intakes/{intake_id}", status_code=303)

    async def acknowledge(self, request: Request) -> Response:
        """ "Acknowledge" on an urgent intake: who and when, in the intake and the audit log."""
        intake_id = request.path_params["intake_id"]
        await self.blocking(self.review.acknowledge, intake_id, self.actor(request))
        return RedirectResponse(f"/intakes/{intake_id}", status_code=303)

    async def add_note(self, request: Request) -> Response:
        intake_id = request.path_params["intake_id"]
        text = str(dict(await request.form()).get("text", "")).strip()[:4000]
        if text:
            await self.blocking(self.review.add_note, intake_id, self.actor(request), text)
        return RedirectResponse(f"/intakes/{intake_id}#notes", status_code=303)

    async def settings_page(self, request: Request) -> Response:
        """The member's own settings: the pages' language (none chosen: the browser's)."""
        member: SignedIn = request.state.staff
        if request.method == "POST":
            chosen = str(dict(await request.form()).get("language", ""))
            language = chosen if chosen in self.languages.languages else None
            await self.blocking(self.accounts.set_language, member.name, language)
            await self.blocking(self.review.record, member.name, "language", None, language or "auto")
            return RedirectResponse("/settings?saved=1", status_code=303)
        return self.render(
            request,
            "settings.html",
            languages=self.languages.names,
            chosen=member.language,
            saved=request.query_params.get("saved") == "1",
            display_name=member.display_name,
            display_name_error=request.query_params.get("error") == "display_name",
        )

    async def set_display_name(self, request: Request) -> Response:
        """The member's name as patients read it under their messages (never the login name)."""
        member: SignedIn = request.state.staff
        shown = str(dict(await request.form()).get("display_name", ""))
        try:
            await self.blocking(self.accounts.set_display_name, member.name, shown)
        except AccountError:
            return RedirectResponse("/settings?error=display_name", status_code=303)
        await self.blocking(self.review.record, member.name, "display_name")
        return RedirectResponse("/settings?saved=1", status_code=303)

    async def flow_page(self, request: Request) -> Response:
        """The questionnaire explained, and its diagram: the whole flow, or one section of it
        (``?section=``, a plain GET form, so choosing one works without JavaScript too)."""
        section = request.query_params.get("section", "")
        if section not in self.section_ids:
            section = ""
        guide = self.questionnaire(request)
        key = (self.language(request), section)
        if key not in self.diagrams:
            self.diagrams[key] = mermaid(self.engine, section or None, guide.diagram_words)
        return self.render(
            request,
            "flow.html",
            diagram=self.diagrams[key],
            section=section,
            guide=guide,
            flow=self.engine.flow,
            title=self.engine.text(self.engine.flow.title, self.flow_language(request)),
        )

    def flow_language(self, request: Request) -> str:
        """The flow's language closest to this page's (its default where the flow lacks it)."""
        return self.engine.language_for(self.language(request))

    def questionnaire(self, request: Request) -> Questionnaire:
        """The questionnaire page's words in this page's language (made once per language)."""
        lang = self.language(request)
        if lang not in self.questionnaires:
            words = self.languages.translations(lang)
            self.questionnaires[lang] = Questionnaire(self.engine, self.engine.language_for(lang), words.gettext)
        return self.questionnaires[lang]

    async def export(self, request: Request) -> Response:
        fmt = request.query_params.get("format", "csv")
        if fmt not in FORMATS:
            return PlainTextResponse("unknown format", 400)
        filters = Filters.from_query(dict(request.query_params))  # every page of them: ids ignore the page
        ids = await self.blocking(self.review.export_ids, filters, me=self.actor(request))
        await self.blocking(self.review.record_all, self.actor(request), "export", ids, fmt)
        extension = {"csv": "csv", "json": "json", "fhir": "fhir.json"}[fmt]
        # A synchronous iterator: Starlette takes each chunk from it on a worker thread, so the
        # reading and writing out, a batch of intakes at a time, never runs on the event loop.
        return StreamingResponse(
            (chunk.encode() for chunk in self.exporter.chunks(fmt, self.review.intakes(ids), self.talks.for_export)),
            media_type=MEDIA[fmt],
            headers={"Content-Disposition": f'attachment; filename="intakes.{extension}"', "Cache-Control": "no-store"},
        )

    async def _pdf(self, intake_id: int, actor: str, words: NullTranslations) -> Response | None:
        """An intake's PDF (``staff/pdf.py``), written to the audit log as an export; None when it is gone."""
        view = await self.blocking(self.review.intake_view, intake_id)
        if view is None:
            return None
        await self.blocking(self.review.record, actor, "export", intake_id, "pdf")
        body = await self.blocking(self.pdf.render, view, words)
        return Response(
            body,
            media_type=PDF,
            headers={
                "Content-Disposition": f'attachment; filename="intake-{intake_id}.pdf"',
                "Cache-Control": "no-store",
            },
        )

    async def intake_pdf(self, request: Request) -> Response:
        """ "Download PDF" on the intake page: staff words in the page's language."""
        found = await self._pdf(request.path_params["intake_id"], self.actor(request), self.words(request))
        if found is None:
            return self.message(
                request, 404, N_("Not found"), N_("There is no such intake (it may have been erased by the patient).")
            )
        return found

    async def funnel_page(self, request: Request) -> Response:
        """The Funnel page; its counts shown are written to the audit log with the filters used."""
        period, errors = period_from(dict(request.query_params))
        report = await self.blocking(self.funnel.report, period)
        if not errors:  # with an error nothing is counted on the page
            await self.blocking(self.review.record, self.actor(request), "view", None, audit_detail("funnel", period))
        labels = StepLabels(self.questionnaire(request))
        return self.render(request, "funnel.html", 400 if errors else 200, report=report, errors=errors, labels=labels)

    async def funnel_csv(self, request: Request) -> Response:
        """The Funnel page's table as CSV, its steps named in the page's language; an export in the audit log."""
        period, errors = period_from(dict(request.query_params))
        if errors:
            return PlainTextResponse("the period could not be read", 400)
        report = await self.blocking(self.funnel.report, period)
        await self.blocking(self.review.record, self.actor(request), "export", None, audit_detail("funnel.csv", period))
        return Response(
            report.csv(StepLabels(self.questionnaire(request))),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="funnel.csv"', "Cache-Control": "no-store"},
        )

    async def audit_page(self, request: Request) -> Response:
        filters, errors = AuditFilters.from_query(dict(request.query_params))
        # A filter that could not be read lists nothing: the lines shown are always those asked for.
        log = None if errors else await self.blocking(self.review.audit_page, filters)
        failed = await self.blocking(self.review.failed_webhooks)
        failed_alerts = await self.blocking(self.review.failed_alerts)
        return self.render(
            request,
            "audit.html",
            400 if errors else 200,
            log=log,
            filters=filters,
            errors=errors,
            failed=failed,
            failed_alerts=failed_alerts,
        )

    # --- the clinic API ------------------------------------------------------------------------

    async def api_list(self, request: Request) -> Response:
        """A page of intakes with the list's filters, newest (or ``sort=severity``: gravest) first,
        keyset-paged as the staff list is: ``next`` goes back as ``after`` for the page after."""
        query = dict(request.query_params)
        if query.get("page", "1") != "1":  # the API paged by number until issue 13
            return JSONResponse({"error": "`page` is no longer read: pass the answer's `next` as `after`"}, 400)
        filters = Filters.from_query(query)
        try:
            after = Cursor.parse(filters.after, filters.sort) if filters.after else None
        except ValueError:
            return JSONResponse({"error": "`after` must be a `next` this list gave, with the same `sort`"}, 400)
        try:
            limit = int(query.get("limit", str(PAGE_SIZE)))
            if not 1 <= limit <= API_PAGE_MAX:
                raise ValueError(limit)
        except ValueError:
            return JSONResponse({"error": f"`limit` must be a whole number from 1 to {API_PAGE_MAX}"}, 400)
        page = await self.blocking(self.review.list_page, filters, request.state.actor, after, limit)
        await self.blocking(self.review.record, request.state.actor, "api_list", None, f"{len(page.items)} intake(s)")
        return JSONResponse(
            {
                # counted up to CAP, as the staff list counts (an exact count reads every match)
                "total": min(page.total, CAP),
                "total_is_lower_bound": page.total > CAP,
                "counts": page.counts,
                "next": str(page.next) if page.next else None,
                "intakes": [
                    self.exporter.summary(i)
                    | {"flags": self.exporter.flags(i), "urgent_shown": self.exporter.urgent_shown(i)}
                    for i in page.items
                ],
            }
        )

    async def api_intake(self, request: Request) -> Response:
        view = await self.blocking(self.review.intake_view, request.path_params["intake_id"])
        if view is None:
            return JSONResponse({"error": "no such intake"}, 404)
        await self.blocking(self.review.record, request.state.actor, "api_view", view.intake.id)
        data = self.exporter.to_json(view.intake)
        data["transcript"] = [
            {"direction": line.direction, "text": line.text, "at": line.at.isoformat()}
            | ({"kind": "copy", "sent": line.sent_at is not None} if line.kind == "copy" else {})
            | ({"screened": line.screened} if line.screened else {})
            | ({"sender": line.sender} if line.sender else {})
            for line in view.transcript
        ]
        return JSONResponse(data)

    async def api_intake_pdf(self, request: Request) -> Response:
        """The intake's PDF for the clinic's system: staff words in the flow's default language."""
        words = self.languages.translations(self.engine.flow.default_language)
        found = await self._pdf(request.path_params["intake_id"], request.state.actor, words)
        return found if found is not None else JSONResponse({"error": "no such intake"}, 404)

    async def api_messages(self, request: Request) -> Response:
        """GET: the talk messages since ``after``; POST ``{"text": ...}``: a message to the patient
        (a token with the ``message`` scope only), signed with the clinic's name."""
        intake_id = request.path_params["intake_id"]
        actor = request.state.actor
        if request.method == "POST":
            if "message" not in getattr(request.state, "scopes", ()):
                return JSONResponse({"error": "this token may only read (no 'message' scope)"}, 403)
            try:
                body = await request.json()
            except ValueError:
                body = None
            text = body.get("text") if isinstance(body, dict) else None
            if not isinstance(text, str) or not text.strip():
                return JSONResponse({"error": 'send {"text": "..."}'}, 400)
            if len(text) > MAX_TEXT:
                return JSONResponse({"error": f"at most {MAX_TEXT} characters"}, 400)
            sent = await self._send(intake_id, actor, None, text)
            if sent == "gone":
                return JSONResponse({"error": "no such intake"}, 404)
            if sent == "too_many":
                return JSONResponse({"error": TALK_ERRORS["too_many"]}, 429, headers={"Retry-After": "60"})
            if sent == "too_long":
                return JSONResponse({"error": TALK_ERRORS["too_long"]}, 400)
            return JSONResponse({"id": sent, "state": "queued"}, 201)
        try:
            after = max(0, int(request.query_params.get("after", "0")))
        except ValueError:
            return JSONResponse({"error": "after must be a message id (a whole number)"}, 400)
        found = await self.blocking(self.talks.messages, intake_id, after)
        if found is None:
            return JSONResponse({"error": "no such intake"}, 404)
        await self.blocking(self.review.record, actor, "api_messages", intake_id)
        return JSONResponse({"messages": [m.as_json() for m in found]})

    async def openapi(self, request: Request) -> Response:
        from bot.staff.openapi import document

        return JSONResponse(document())


def waited(how_long: Any, words: NullTranslations) -> str:
    """How long a patient has waited for the clinic, to the minute: "waiting 2 h 10 min"."""
    minutes = max(0, int(how_long.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    numbers = {"days": days, "hours": hours, "minutes": minutes}
    if days:
        return words.gettext("waiting %(days)d d %(hours)d h") % numbers
    if hours:
        return words.gettext("waiting %(hours)d h %(minutes)d min") % numbers
    return words.gettext("waiting %(minutes)d min") % numbers


def capped(count: int) -> str:
    """A capped count (``bot.store.queue.CAP``) in words: "1,000+" past the cap."""
    return f"{CAP:,}+" if count > CAP else f"{count:,}"


def create_app(
    engine: Engine,
    store: Store,
    secret_key: str,
    https: bool = False,
    extra_routes: list[Any] | None = None,
    lifetime: Lifetime | None = None,
    clock: Clock = utcnow,
    zone: tzinfo = UTC,
) -> Starlette:
    web = WebApp(engine, store, secret_key, https, lifetime, clock, zone)
    app = Starlette(routes=[*(extra_routes or []), *web.routes()], middleware=web.middleware())
    app.state.web = web
    return app
