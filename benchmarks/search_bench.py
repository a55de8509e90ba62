"""How long the staff search takes at 100,000 intakes, on SQLite and on PostgreSQL.

Issue 13: the list's search ran ``LIKE '%…%'`` on four expressions of the intakes table (0.2 to
0.9 s at 100,000 intakes) and found neither an accent-folded name nor a phone number. It now looks
the query up in ``intake_search`` through a trigram index (``bot.store.search_index``). This builds,
for each database:

- ``--intakes`` intakes (default 100,000) written at migration 0009, with names drawn from German,
  Turkish, French and English first and last names (umlauts, ş, ç, é...), a username for half of
  them, and the answers of the default flow's contact questions: a phone number in one of the
  ways people write one (``+49 170 1234567``, ``0170/1234567``, ``0049 (0)151 ...``), an e-mail
  address, or Telegram (nothing typed); the rest of the state about the size of a finished
  intake's;
- then migration 0011 (timed: it indexes every intake already there);

and then runs each search ``--repeat`` times, printing the median and p95 of:

- ``page``: what a list page asks of the search: the number of intakes found and the newest 25
  of them (``Search(text=...).where()``, the condition the list, the API and the exports use);
- ``before``: the same page with the condition the list had before (LIKE on the four
  expressions), for comparison (it finds fewer: no umlaut folding, no phone numbers).

Run: ``make bench-search`` or ``.venv/bin/python benchmarks/search_bench.py`` (``--help``; ``--intakes
5000`` for a quick look; ``--no-postgres`` without PostgreSQL).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bot.store import Store  # noqa: E402
from bot.store.review import Search  # noqa: E402
from bot.store.schema import intakes  # noqa: E402
from bot.store.search_text import fold  # noqa: E402

POSTGRES_ADMIN = "host=127.0.0.1 port=5432 dbname=test connect_timeout=3"
POSTGRES = "postgresql://127.0.0.1:5432"

FIRST = {
    "de": ("Jürgen", "Jörg", "Günther", "Björn", "Anna", "Lena", "Max", "Sophie", "Käthe", "Ute", "Hans", "Grete"),
    "tr": ("Ayşe", "Özlem", "Gülşen", "Şükrü", "Çağla", "Mehmet", "Emre", "Zeynep", "İlker", "Ömer", "Büşra"),
    "fr": ("Hélène", "François", "Zoë", "Chloé", "Anaïs", "Léa", "Noël", "Jérôme", "Cécile", "Inès", "Raphaël"),
    "en": ("Patricia", "Patrick", "Mohammed", "Olusegun", "Sofia", "Wei", "Jan", "Emily", "James", "Olivia"),
}
LAST = {
    "de": ("Müller", "Schröder", "Weiß", "Groß", "Bäcker", "Jäger", "Köhler", "Fuchs", "Schmidt", "Schäfer"),
    "tr": ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Öztürk", "Aydın", "Özdemir", "Doğan"),
    "fr": ("Lefèvre", "Dubois", "Moreau", "Laurent", "Girard", "Rousseau", "Mercier", "Bérard", "Bouché"),
    "en": ("Patel", "Smith", "Nowak", "García", "Okafor", "Li", "Fitzpatrick", "Jones", "O'Brien", "Mueller"),
}
DOMAINS = ("gmail.com", "web.de", "gmx.de", "t-online.de", "outlook.com", "hotmail.fr", "yahoo.com")
#: The rest of a finished intake's answers (the search reads none of them: they give rows their size).
ANSWERS = {
    "age_band": "from_18_to_64",
    "toxin_last_time": "over_6_months",
    "allergy_now": "no",
    "concerns": ["fine_lines", "pores", "oily"],
    "skin_type": "3",
    "pregnancy": "no",
    "toxin_allergy": "no",
    "other_allergies": ["none"],
    "infection": "no",
    "nerve_muscle": "no",
    "swallowing": "no",
    "heart": "no",
    "medicines": ["none"],
    "bruising": ["none"],
    "procedures": ["none"],
    "timing": "no_date",
    "result": "subtle",
    "goal": "Etwas frischer aussehen, feinere Poren, weniger glänzende Stirn im Sommer.",
    "time_available": "under_30_min",
    "previous": "never",
    "contact_times": ["evening"],
}


def phone(rng: random.Random) -> str:
    """A German, Turkish or French mobile number, written as people write them."""
    country, prefix = rng.choice((("49", "1"), ("49", "1"), ("90", "5"), ("33", "6")))
    national = prefix + "".join(rng.choice("0123456789") for _ in range(9 if country == "49" else 8))
    style = rng.randrange(5)
    if style == 0:
        return f"+{country} {national[:3]} {national[3:]}"
    if style == 1:
        return f"0{national[:3]}/{national[3:]}"
    if style == 2:
        return f"00{country} (0){national[:3]} {national[3:6]}-{national[6:]}"
    if style == 3:
        return f"0{national}"
    return f"+{country}{national}"


def person(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    origin = rng.choice(tuple(FIRST))
    first = rng.choice(FIRST[origin])
    last = rng.choice(LAST[rng.choice((origin, origin, origin, "en"))])
    method = rng.choices(("phone", "email", "telegram"), (4, 3, 3))[0]
    answers: dict[str, Any] = dict(ANSWERS, contact_method=method)
    if method == "phone":
        answers["contact_detail"] = phone(rng)
    elif method == "email":
        user = f"{fold(first)}.{fold(last)}".replace(" ", "").replace("'", "")
        answers["contact_detail"] = f"{user}{rng.randrange(100) if rng.random() < 0.5 else ''}@{rng.choice(DOMAINS)}"
    state = {"v": 1, "flow": "skin_botox", "state": "ending_routine", "lang": "de", "answers": answers}
    created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
    return {
        "chat_id": 5_000_000_000 + n,
        "user_id": 5_000_000_000 + n,
        "first_name": first,
        "last_name": last,
        "username": f"{fold(first)}{n}" if rng.random() < 0.5 else None,
        "flow_id": "skin_botox",
        "flow_version": "1.0",
        "language": "de",
        "status": rng.choice(("completed", "completed", "completed", "in_progress", "abandoned")),
        "outcome": None,
        "urgent": False,
        "flags": "[]",
        "state": orjson.dumps(state).decode(),
        "created_at": created,
        "updated_at": created + timedelta(minutes=10),
        "version": 1,
    }


def build(url: str, count: int, seed: int) -> tuple[Store, float, str, str]:
    """A database at migration 0009 with ``count`` intakes, then migrated (timed); the store, how
    long migration 0011 took, and a phone number and a username that are in it."""
    store = Store(url)
    store.migrate("0009")
    rng = random.Random(seed)
    now = datetime.now(UTC)
    table = sa.table("intakes", *(sa.column(name) for name in person(rng, 0, now)))
    sample_phone = sample_user = ""
    with store.engine.begin() as conn:
        for start in range(0, count, 5000):
            rows = [person(rng, n, now) for n in range(start, min(count, start + 5000))]
            conn.execute(table.insert(), rows)
            for row in rows:
                detail = orjson.loads(row["state"])["answers"].get("contact_detail", "")
                if not sample_phone and detail.startswith("+49 1"):
                    sample_phone = detail
                sample_user = sample_user or row["username"] or ""
    began = time.perf_counter()
    store.migrate()
    return store, time.perf_counter() - began, sample_phone, sample_user


def before(typed: str) -> sa.ColumnElement[bool]:
    """The list's search condition before issue 13 (for comparison)."""
    typed = typed.lower().lstrip("@").replace("!", "!!").replace("%", "!%").replace("_", "!_")
    pattern = f"%{typed}%"
    c = intakes.c
    return sa.or_(
        sa.func.lower(c.first_name).like(pattern, escape="!"),
        sa.func.lower(c.last_name).like(pattern, escape="!"),
        sa.func.lower(c.username).like(pattern, escape="!"),
        sa.func.lower(sa.func.coalesce(c.first_name, "") + " " + sa.func.coalesce(c.last_name, "")).like(
            pattern, escape="!"
        ),
    )


def page(store: Store, conditions: list[sa.ColumnElement[bool]]) -> tuple[int, int]:
    """What a list page asks of the search: how many, and the newest 25."""
    with store.transaction(read_only=True) as tx:
        total = tx.conn.execute(sa.select(sa.func.count()).select_from(intakes).where(*conditions)).scalar_one()
        rows = tx.conn.execute(
            sa.select(intakes).where(*conditions).order_by(intakes.c.created_at.desc(), intakes.c.id.desc()).limit(25)
        ).all()
    return total, len(rows)


def timed(run: Callable[[], tuple[int, int]], repeat: int) -> tuple[float, float, int]:
    """Median and p95 in ms, and what it found."""
    times, found = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        found, _shown = run()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], found


def measure(name: str, store: Store, queries: list[str], repeat: int) -> None:
    print(f"\n{name}")
    print(f"  {'query':<22} {'found':>7} {'median ms':>10} {'p95 ms':>8}   {'before: found':>13} {'median ms':>10}")
    for query in queries:
        median, p95, found = timed(lambda q=query: page(store, Search(text=q).where()), repeat)
        old_median, _p95, old_found = timed(lambda q=query: page(store, [before(q)]), max(3, repeat // 4))
        print(f"  {query!r:<22} {found:>7} {median:>10.1f} {p95:>8.1f}   {old_found:>13} {old_median:>10.1f}")


def postgres_database() -> tuple[str, Callable[[], None]]:
    import psycopg

    admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    name = f"search_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()

    return f"{POSTGRES}/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intakes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=21, help="runs of each search (default 21)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()

    databases: list[tuple[str, str, Callable[[], None]]] = []
    directory = tempfile.TemporaryDirectory(prefix="search-bench-")
    databases.append(("SQLite", f"sqlite:///{directory.name}/bench.db", directory.cleanup))
    if not args.no_postgres:
        url, drop = postgres_database()
        databases.append(("PostgreSQL", url, drop))
    try:
        for name, url, _ in databases:
            store, migration, sample_phone, sample_user = build(url, args.intakes, args.seed)
            try:
                print(f"\n{name}: {args.intakes:,} intakes; migration 0011 (indexing them) took {migration:.1f} s")
                national = "0" + sample_phone.removeprefix("+49 ").replace(" ", "")
                queries = [
                    "Müller",
                    "mueller",
                    "MULLER",
                    "yilmaz",
                    "sukru",
                    "Lefèvre",
                    "anna",
                    "@" + sample_user,
                    sample_phone,
                    national,
                    national[1:7],
                    "gmx.de",
                    "xyzzy",
                    "ö",
                    "17",
                ]
                measure(name, store, queries, args.repeat)
            finally:
                store.close()
    finally:
        for _, _, cleanup in databases:
            cleanup()


if __name__ == "__main__":
    main()
