"""The benchmark: desk pages, admin lists, a refund, the CSV export behind gunicorn and a load
test against a database seeded with `manage.py seed_bench`. Not run by the test suite; see
README ("Performance") for the commands.

Server time is the time Django takes to answer a request through its test client, in this
process: routing, middleware, view, queries and template, without a network. Each figure is
over --requests requests (default 200), spread over real keys sampled from the whole table.

Beside each page stands the framework's floor: a logged-in page that renders the base template
with no data (a 404), requested by the same person in turn with the page's requests, so that
both meet the same moment of the machine. Each page's p95 is printed as a multiple of its
floor's p95: what the page costs beyond Django, the session, the user and the base template.
The whole set is measured --rounds times (default 3), one page after the other: on a shared
machine a round can meet a busy moment, so each figure is the median of the rounds, and the
multiples are given with their lowest and highest round.

Beside each page's server time stands the time its queries spent in PostgreSQL ("page SQL":
from sending each query to having its rows, measured at the cursor), and the same data read
with hand-written SQL through psycopg ("raw SQL": the session, user and permissions every
page reads, then the page's own rows). Their ratio shows whether the ORM reads the database as
well as hand-written SQL does; the server time shows everything else the page costs.

The production check serves the app as the README says (gunicorn, DEBUG off, PostgreSQL) with
the task worker beside it, asks it over HTTP for an export of every payment, times desk and
admin pages through gunicorn while the worker makes it, then downloads the file and checks it
row for row against its check line and the payments in the database.

The load part serves the app with gunicorn (4 workers, production settings: persistent
database connections) and measures requests per second for the order page beside the trivial
/healthz view, from concurrent clients on this same machine.
"""

import argparse
import hashlib
import json
import logging
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.perf.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from requests.utils import quote  # noqa: E402

from payments.customer_names import name_search_words  # noqa: E402
from payments.models import Payment  # noqa: E402
from payments.sandbox.client import SandboxClient  # noqa: E402
from payments.sandbox.server import Sandbox, SandboxServer, provider_urls  # noqa: E402
from payments.services.ledger import new_idempotency_key  # noqa: E402

DESK_P95_MS, ADMIN_P95_MS, MAX_DESK_QUERIES, MAX_RATIO = 50, 300, 6, 5
# Targets as multiples of the floor's p95 (issue 13): desk pages 2x, admin lists 4x.
DESK_FLOOR_X, ADMIN_FLOOR_X = 2, 4
# The floor: a logged-in page of the base template and nothing else.
FLOOR_URL = "/bench-floor/no-such-page/"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


@contextmanager
def sql_timer():
    """Time spent in PostgreSQL by the queries run inside: a list that grows by one total."""
    spent = [0.0]

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - started

    with connection.execute_wrapper(timed):
        yield spent


# Hand-written SQL --------------------------------------------------------------------------
# What a page built by hand would read: the session, the user and their permissions, then the
# page's rows. Each function runs its queries on `db` (a psycopg connection) and returns the
# seconds spent from sending each query to having its rows.

SESSION = "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > now()"
USER = "SELECT * FROM auth_user WHERE id = %s"
PERMISSIONS = """
    SELECT ct.app_label, p.codename FROM auth_permission p
    JOIN django_content_type ct ON ct.id = p.content_type_id
    JOIN auth_group_permissions gp ON gp.permission_id = p.id
    JOIN auth_user_groups ug ON ug.group_id = gp.group_id
    WHERE ug.user_id = %s
"""
EXACT = """
    SELECT id FROM payments_order WHERE number IN (%(q)s::text, upper(%(q)s::text))
    UNION SELECT order_id FROM payments_payment
    WHERE md5(upper(reference)) = md5(upper(%(q)s::text)) AND upper(reference) = upper(%(q)s::text)
"""
ORDERS_PAGE = "SELECT * FROM payments_order {where} ORDER BY created_at DESC, id DESC LIMIT 51"
# A page after a row: the rows older than it, through the index on (created_at, id).
OLDER_THAN = "WHERE (created_at, id) < (SELECT created_at, id FROM payments_order WHERE id = %(after)s)"
PAYMENTS_OF_ORDERS = "SELECT * FROM payments_payment WHERE order_id = ANY(%(ids)s) ORDER BY id"
RESERVED = """
    (SELECT coalesce(sum(amount), 0) FROM payments_operation o
     WHERE o.payment_id = p.id AND o.kind = '{kind}'
       AND o.status IN ('awaiting_approval', 'approved', 'requested', 'in_flight', 'pending', 'unknown'))
"""
PAYMENTS_WITH_BALANCES = f"""
    SELECT p.*, ord.*, {RESERVED.format(kind="refund")}, {RESERVED.format(kind="cancel")}
    FROM payments_payment p JOIN payments_order ord ON ord.id = p.order_id
    WHERE {{where}} ORDER BY p.id
"""
TIMELINE = """
    SELECT e.*, o.* FROM payments_auditevent e LEFT JOIN payments_operation o ON o.id = e.operation_id
    WHERE e.order_id = %(order)s ORDER BY e.created_at, e.id
"""
LINES = "SELECT * FROM payments_orderline WHERE order_id = %(order)s ORDER BY position"
MY_REQUESTS = """
    SELECT o.*, p.*, ord.*, d.* FROM payments_operation o JOIN payments_payment p ON p.id = o.payment_id
    JOIN payments_order ord ON ord.id = p.order_id LEFT JOIN auth_user d ON d.id = o.decided_by_id
    WHERE o.approval_required AND o.requested_by_id = %(user)s ORDER BY o.created_at DESC, o.id DESC LIMIT 26
"""
NEEDS_ATTENTION = """
    SELECT o.*, p.*, ord.*, u.* FROM payments_operation o JOIN payments_payment p ON p.id = o.payment_id
    JOIN payments_order ord ON ord.id = p.order_id LEFT JOIN auth_user u ON u.id = o.requested_by_id
    WHERE o.needs_person_since IS NOT NULL AND o.status IN ('unknown', 'pending')
    ORDER BY o.needs_person_since, o.id LIMIT 26
"""
MY_EXPORTS = "SELECT * FROM payments_export WHERE requested_by_id = %(user)s ORDER BY created_at DESC, id DESC LIMIT 50"
QUEUE = """
    SELECT o.payment_id, o.*, u.* FROM payments_operation o LEFT JOIN auth_user u ON u.id = o.requested_by_id
    WHERE o.kind = 'refund' AND o.status = 'awaiting_approval' ORDER BY o.created_at, o.id LIMIT 26
"""
CURRENCIES = """
    WITH RECURSIVE used (currency) AS (
        (SELECT currency FROM {table} ORDER BY currency LIMIT 1)
        UNION ALL
        SELECT (SELECT currency FROM {table} WHERE currency > used.currency ORDER BY currency LIMIT 1)
        FROM used WHERE used.currency IS NOT NULL
    )
    SELECT currency FROM used WHERE currency IS NOT NULL
"""
CAPPED_COUNT = "SELECT count(*) FROM (SELECT 1 FROM {table} {where} LIMIT 10001) counted"
ADMIN_PAYMENTS = """
    SELECT p.*, ord.* FROM payments_payment p JOIN payments_order ord ON ord.id = p.order_id
    {where} ORDER BY p.id DESC LIMIT 50
"""
ADMIN_OPERATIONS = """
    SELECT o.*, p.*, ord.*, r.*, d.* FROM payments_operation o
    JOIN payments_payment p ON p.id = o.payment_id JOIN payments_order ord ON ord.id = p.order_id
    LEFT JOIN auth_user r ON r.id = o.requested_by_id LEFT JOIN auth_user d ON d.id = o.decided_by_id
    {where} ORDER BY o.created_at DESC, o.id DESC LIMIT 50
"""
ADMIN_EVENTS = """
    SELECT e.*, ord.* FROM payments_auditevent e LEFT JOIN payments_order ord ON ord.id = e.order_id
    {where} ORDER BY e.created_at DESC, e.id DESC LIMIT 50
"""


class Raw:
    """Runs hand-written queries for one logged-in user, timing each from send to rows."""

    def __init__(self, db, user_id, session_key):
        self.db, self.user_id, self.session_key = db, user_id, session_key

    def run(self, sql, params=()):
        cursor = self.db.cursor()
        started = time.perf_counter()
        cursor.execute(sql, params)
        spent = time.perf_counter() - started
        return spent, cursor.fetchall()

    def page(self, *steps):
        """The session, user and permissions, then `steps`: each takes the previous rows and
        gives (sql, params), or None to skip."""
        total = 0.0
        for sql, params in ((SESSION, (self.session_key,)), (USER, (self.user_id,)), (PERMISSIONS, (self.user_id,))):
            total += self.run(sql, params)[0]
        rows = []
        for step in steps:
            query = step(rows)
            if query is not None:
                spent, rows = self.run(*query)
                total += spent
        return total


def like_prefix(text):
    """`text%` for LIKE, its own wildcards taken literally (as Django's startswith does)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def exact(key):
    return lambda rows: (EXACT, {"q": key})


# A term stream's first page (payments.search_terms): at most a window of the stream's entries,
# newest first, and the first 51 of them that match; when the window holds fewer and the stream
# goes on, the order table's own condition instead.
STREAM = """
    hits_{i} AS MATERIALIZED (
        SELECT order_id AS id, created_at FROM (
            SELECT order_id, created_at, text FROM payments_ordersearchterm
            WHERE kind = '{kind}' AND head = {head}
            ORDER BY created_at DESC, order_id DESC LIMIT %(window)s) window_
        WHERE {match} ORDER BY created_at DESC, order_id DESC LIMIT 51)
"""
STREAM_FALLBACK = """
    SELECT id, created_at FROM (
        SELECT id, created_at FROM payments_order WHERE {where} ORDER BY created_at DESC, id DESC LIMIT 51) f
    WHERE (SELECT count(*) FROM hits_{i}) < 51 AND EXISTS (
        SELECT 1 FROM payments_ordersearchterm WHERE kind = '{kind}' AND head = {head}
        ORDER BY created_at DESC, order_id DESC OFFSET %(window)s)
"""


def search_listing(query):
    """The page of orders a search lists, by hand: what order_search asks for. The beginning of
    the number as typed and in capitals; the beginning of the email in any case and the
    beginnings of the name's words (unless it holds an "@"), each from its term stream when the
    query has a word of three letters (for the email: without a space or an "@"), else from the
    order table's indexes."""
    words = name_search_words(query) if "@" not in query else []
    plain = ["number LIKE %(number)s", "number LIKE %(upper)s"]
    params = {"number": like_prefix(query), "upper": like_prefix(query.upper()),
              "email": like_prefix(query.upper()), "window": settings.SEARCH_STREAM_WINDOW}
    email_condition = "upper(customer_email) LIKE %(email)s"
    # The beginning of a name's word: a word of three letters or more anywhere through the
    # trigram index, then at a word's beginning; a shorter one at a word's beginning.
    name_conditions = []
    for i, word in enumerate(words):
        if len(word) < 3:
            name_conditions.append(f"customer_name_folded LIKE %(word{i})s")
            params[f"word{i}"] = "% " + like_prefix(word)
        else:
            name_conditions.append(
                f"customer_name_folded LIKE %(word{i})s AND strpos(customer_name_folded, %(start{i})s) > 0"
            )
            params |= {f"word{i}": "%" + like_prefix(word)}
        params[f"start{i}"] = " " + word
    name_condition = " AND ".join(name_conditions)
    streams = []  # (kind, head, match, the order table's condition)
    if len(query) >= 3 and "@" not in query and not any(char.isspace() for char in query):
        params |= {"beginning": query, "length": 6 if len(query) >= 6 else 3}
        streams.append(("e", "left(upper(%(beginning)s), %(length)s)", "starts_with(text, upper(%(beginning)s))",
                        email_condition))
    else:
        plain.append(email_condition)
    # The pair of the heads of the two longest words with different heads, and the names with
    # too many heads to pair; else the longest word's long head, or head.
    long_words = sorted((word for word in words if len(word) >= 3), key=len, reverse=True)
    if long_words:
        longest = long_words[0]
        others = [word[:3] for word in long_words if word[:3] != longest[:3]]
        pair = " ".join(sorted([longest[:3], others[0]])) if others else None
        heads = [pair, "*"] if pair else [longest[:6] if len(longest) >= 6 else longest[:3]]
        match = " AND ".join(f"strpos(text, %(start{j})s) > 0" for j in range(len(words)))
        for head in heads:
            params[f"head{len(streams)}"] = head
            streams.append(("n", f"%(head{len(streams)})s", match, name_condition))
    elif words:
        plain.append(f"({name_condition})")
    ctes = ", ".join(STREAM.format(i=i, kind=kind, head=head, match=match)
                     for i, (kind, head, match, _) in enumerate(streams))
    parts = [f"(SELECT id, created_at FROM hits_{i}) UNION "
             f"({STREAM_FALLBACK.format(i=i, kind=kind, head=head, where=where)})"
             for i, (kind, head, _, where) in enumerate(streams)]
    parts.append(f"(SELECT id, created_at FROM payments_order WHERE {' OR '.join(plain)} "
                 "ORDER BY created_at DESC, id DESC LIMIT 51)")
    keys = f"{'WITH ' + ctes if ctes else ''} SELECT id FROM ({' UNION '.join(parts)}) found"
    return [exact(query), *listing(f"WHERE id IN ({keys})", params)]


def listing(where, params):
    return [
        lambda rows: (ORDERS_PAGE.format(where=where), params),
        lambda rows: (PAYMENTS_OF_ORDERS, {"ids": [row[0] for row in rows]}) if rows else None,
    ]


def order_page(order_id):
    return [
        lambda rows: (PAYMENTS_WITH_BALANCES.format(where="p.order_id = %(order)s"), {"order": order_id}),
        lambda rows: (TIMELINE, {"order": order_id}),
    ]


def order_page_with_lines(order_id):
    return [*order_page(order_id), lambda rows: (LINES, {"order": order_id})]


def approval_queue():
    return [
        lambda rows: (QUEUE, ()),
        lambda rows: (PAYMENTS_WITH_BALANCES.format(where="p.id = ANY(%(ids)s)"), {"ids": [r[0] for r in rows]}),
    ]


def admin_list(counted, listing_sql, where="", params=None, currencies=None):
    params = params or {}
    steps = [
        lambda rows: (CAPPED_COUNT.format(table=counted, where=where), params),
        lambda rows: (listing_sql.format(where=where), params),
    ]
    if currencies:
        steps.append(lambda rows: (CURRENCIES.format(table=currencies), ()))
    return steps


# The measurements ---------------------------------------------------------------------------


class Bench:
    def __init__(self, requests_per_case):
        self.n = requests_per_case
        self.results = {}  # name -> {"kind", "queries", "rounds": [figures of each round]}
        # Values bound in the client, as Django's backend binds them: bound by the server, the
        # same statement run more than five times is prepared, and PostgreSQL's generic plan
        # for `number LIKE $1` walked every operation at ten million orders (minutes a query).
        self.db = psycopg.connect(os.environ["DATABASE_URL"], cursor_factory=psycopg.ClientCursor)

    def client_for(self, username):
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        client.get("/healthz")
        raw = Raw(self.db, user.pk, client.cookies[settings.SESSION_COOKIE_NAME].value)
        return client, raw

    def measure(self, name, who, keys, url, *, raw=None, kind="desk", expect=(200,)):
        """GET url(key) for keys in turn, n times in all, each after the floor, and the
        hand-written SQL raw(key) as often; record this round's medians and p95s."""
        client, raw_runner = who
        keys = list(keys)
        client.get(url(keys[0]))  # warm
        client.get(FLOOR_URL)
        timings, sql, raw_sql, floor = [], [], [], []
        for index in range(self.n):
            key = keys[index % len(keys)]
            started = time.perf_counter()
            response = client.get(FLOOR_URL)
            floor.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 404, response.status_code
            with sql_timer() as spent:
                started = time.perf_counter()
                response = client.get(url(key))
                timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code in expect, (url(key), response.status_code)
            sql.append(spent[0] * 1000)
            if raw:
                raw_sql.append(raw(raw_runner, key) * 1000)
        with CaptureQueriesContext(connection) as captured:
            client.get(url(keys[0]))
        case = self.results.setdefault(name, {"kind": kind, "queries": len(captured), "rounds": []})
        case["rounds"].append({
            "median": statistics.median(timings), "p95": percentile(timings, 0.95),
            "floor_median": statistics.median(floor), "floor_p95": percentile(floor, 0.95),
            "sql": statistics.median(sql), "raw": statistics.median(raw_sql) if raw_sql else None,
        })

    def measure_posts(self, name, who, posts):
        client, _ = who
        timings = []
        for url, data in posts:
            started = time.perf_counter()
            response = client.post(url, data)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 302, (url, response.status_code)
        case = self.results.setdefault(name, {"kind": "desk", "queries": None, "rounds": []})
        case["rounds"].append({
            "median": statistics.median(timings), "p95": percentile(timings, 0.95),
            "floor_median": None, "floor_p95": None, "sql": None, "raw": None,
        })

    @staticmethod
    def summary(case):
        """The median over the rounds of each figure, and the floor multiple's range."""
        rounds = case["rounds"]

        def median_of(name):
            values = [r[name] for r in rounds if r[name] is not None]
            return statistics.median(values) if values else None

        multiples = [r["p95"] / r["floor_p95"] for r in rounds if r["floor_p95"]]
        return {
            "median": median_of("median"), "p95": median_of("p95"), "floor_p95": median_of("floor_p95"),
            "sql": median_of("sql"), "raw": median_of("raw"),
            "x_floor": statistics.median(multiples) if multiples else None,
            "x_floor_low": min(multiples) if multiples else None,
            "x_floor_high": max(multiples) if multiples else None,
        }

    def report(self):
        rounds = max(len(case["rounds"]) for case in self.results.values())
        print(f"\nEach figure: the median of {rounds} round(s) of {self.n} requests; x floor: the median "
              "multiple, and its lowest and highest round.")
        print(f"{'page':44} {'median':>8} {'p95':>8} {'floor p95':>9} {'x floor':>7} {'range':>11} "
              f"{'queries':>7} {'page SQL':>9} {'raw SQL':>8} {'ratio':>6}  target")
        missed = 0
        for name, case in self.results.items():
            row = self.summary(case)
            desk = case["kind"] == "desk"
            limit = DESK_P95_MS if desk else ADMIN_P95_MS
            floor_limit = DESK_FLOOR_X if desk else ADMIN_FLOOR_X
            ratio = row["sql"] / row["raw"] if row["raw"] else None
            over_floor = row["x_floor"]
            ok = row["p95"] <= limit
            if over_floor is not None:
                ok = ok and over_floor <= floor_limit
            if desk and case["queries"] is not None:
                ok = ok and case["queries"] <= MAX_DESK_QUERIES
            if ratio is not None:
                ok = ok and ratio <= MAX_RATIO
            missed += not ok
            target = f"p95 <= {limit} ms" + (f", <= {MAX_DESK_QUERIES} queries" if desk else "")
            if over_floor is not None:
                target += f", <= {floor_limit}x floor"
            spread = "" if over_floor is None else f"{row['x_floor_low']:.1f}-{row['x_floor_high']:.1f}"
            print(
                f"{name:44} {row['median']:6.1f}ms {row['p95']:6.1f}ms "
                f"{'' if row['floor_p95'] is None else format(row['floor_p95'], '7.1f') + 'ms':>9} "
                f"{'' if over_floor is None else format(over_floor, '6.1f') + 'x':>7} {spread:>11} "
                f"{'' if case['queries'] is None else case['queries']:>7} "
                f"{'' if row['sql'] is None else format(row['sql'], '7.2f') + 'ms':>9} "
                f"{'' if row['raw'] is None else format(row['raw'], '6.2f') + 'ms':>8} "
                f"{'' if ratio is None else format(ratio, '5.1f') + 'x':>6}  "
                f"{'ok' if ok else 'MISSED'} ({target}{', ratio <= 5x' if ratio is not None else ''})"
            )
        return missed


def samples(count=400, where=""):
    """Real keys to search for, from pages spread over the whole table."""
    columns = "o.id, o.number, o.customer_email, p.reference, o.customer_name"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM payments_order o TABLESAMPLE SYSTEM (1) JOIN payments_payment p "
            f"ON p.order_id = o.id {where} LIMIT %s",
            [count],
        )
        rows = cursor.fetchall()
        if len(rows) < count // 4:  # a small database: take any rows
            cursor.execute(
                f"SELECT {columns} FROM payments_order o JOIN payments_payment p ON p.order_id = o.id {where} "
                "ORDER BY random() LIMIT %s",
                [count],
            )
            rows = cursor.fetchall()
    return rows


def cases(bench):
    """Each page as (name, who, keys, url(key), hand-written steps(key), kind, expected status)."""
    rows = samples()
    orders = [row[0] for row in rows]
    numbers = [row[1] for row in rows]
    emails = [row[2] for row in rows]
    references = [row[3] for row in rows]
    itemized = [row[0] for row in samples(where="WHERE o.itemized")]
    # Prefixes that list a page of orders: the number less its last two digits.
    prefixes = [number[:-2] for number in numbers]
    # Names as agents type them: the first name and the beginning of the last, in lower case
    # ("kari nord"); and the beginning of an email ("kari.nord").
    names = [f"{row[4].split()[0].lower()} {row[4].split()[-1][:4].lower()}" for row in rows]
    email_starts = [email[:9] for email in emails]
    agent = bench.client_for("bench-agent")
    manager = bench.client_for("bench-manager")
    auditor = bench.client_for("bench-auditor")
    agent_id = User.objects.get(username="bench-agent").pk
    manager_id = User.objects.get(username="bench-manager").pk

    def search(key):
        return f"/?q={quote(key)}"

    admin = "/admin/payments"
    by_reference = "WHERE md5(p.reference) = md5(%(q)s) AND p.reference = %(q)s"
    operations = (
        "payments_operation o JOIN payments_payment p ON p.id = o.payment_id "
        "JOIN payments_order ord ON ord.id = p.order_id"
    )
    return [
        ("search by order number (opens the order)", agent, numbers, search, lambda k: [exact(k)], "desk", 302),
        ("search by provider reference (opens it)", agent, references, search, lambda k: [exact(k)], "desk", 302),
        # An email names one order or a few: the one opens (302), a few are listed.
        ("search by email", agent, emails, search, search_listing, "desk", (200, 302)),
        ("search by order-number prefix", agent, prefixes, search, search_listing, "desk", 200),
        ("search by customer name (\"kari nord\")", agent, names, search, search_listing, "desk", (200, 302)),
        ("search by the beginning of an email", agent, email_starts, search, search_listing, "desk", (200, 302)),
        ("order list, first page", agent, [1], lambda k: "/", lambda k: listing("", {}), "desk", 200),
        ("order list, a page deep in the list", agent, orders, lambda k: f"/?after={k}",
         lambda k: listing(OLDER_THAN, {"after": k}), "desk", 200),
        ("order page", agent, orders, lambda k: f"/orders/{k}/", order_page, "desk", 200),
        ("order page, an order with lines", agent, itemized, lambda k: f"/orders/{k}/", order_page_with_lines,
         "desk", 200),
        ("approvals (manager)", manager, [1], lambda k: "/approvals/", lambda k: approval_queue(), "desk", 200),
        ("needs attention (manager)", manager, [1], lambda k: "/attention/",
         lambda k: [lambda rows: (NEEDS_ATTENTION, ())], "desk", 200),
        ("my requests", agent, [1], lambda k: "/my-requests/",
         lambda k: [lambda rows: (MY_REQUESTS, {"user": agent_id})], "desk", 200),
        ("exports (manager)", manager, [1], lambda k: "/exports/",
         lambda k: [lambda rows: (MY_EXPORTS, {"user": manager_id})], "desk", 200),
        ("admin payments", auditor, [1], lambda k: f"{admin}/payment/",
         lambda k: admin_list("payments_payment", ADMIN_PAYMENTS, currencies="payments_payment"), "admin", 200),
        ("admin payments, search by reference", auditor, references, lambda k: f"{admin}/payment/?q={quote(k)}",
         lambda k: admin_list("payments_payment p", ADMIN_PAYMENTS, by_reference, {"q": k},
                              currencies="payments_payment"), "admin", 200),
        ("admin operations", auditor, [1], lambda k: f"{admin}/operation/",
         lambda k: admin_list("payments_operation", ADMIN_OPERATIONS), "admin", 200),
        ("admin operations, search by order number", auditor, numbers, lambda k: f"{admin}/operation/?q={k}",
         lambda k: admin_list(operations, ADMIN_OPERATIONS, "WHERE ord.number LIKE %(q)s", {"q": k + "%"}),
         "admin", 200),
        ("admin audit events", auditor, [1], lambda k: f"{admin}/auditevent/",
         lambda k: admin_list("payments_auditevent", ADMIN_EVENTS), "admin", 200),
        ("admin audit events, search by actor", auditor, ["bench-agent2"], lambda k: f"{admin}/auditevent/?q={k}",
         lambda k: admin_list("payments_auditevent e", ADMIN_EVENTS, "WHERE upper(e.actor_label) = upper(%(q)s)",
                              {"q": k}), "admin", 200),
    ]


def desk_and_admin(bench, rounds):
    measured = cases(bench)
    for round_number in range(rounds):
        started = time.monotonic()
        for name, who, keys, url, steps, kind, status in measured:
            bench.measure(name, who, keys, url, raw=lambda raw, key, steps=steps: raw.page(*steps(key)),
                          kind=kind, expect=status if isinstance(status, tuple) else (status,))
        print(f"Round {round_number + 1} of {rounds}: {time.monotonic() - started:.0f} s")


def refunds(bench, sandbox_url):
    """Refunds of 1.00 through the sandbox (real HTTP), on payments with money left."""
    sandbox = SandboxClient(sandbox_url)
    payments = list(
        Payment.objects.filter(provider="vipps", currency="NOK", captured__gt=100_000, refunded=0)
        .order_by("-pk")[: bench.n]
    )
    for payment in payments:
        sandbox.create_payment(provider=payment.provider, reference=payment.reference, currency=payment.currency,
                               amount=payment.authorized, captured=payment.captured)

    def post(payment):
        prefix = f"refund-{payment.pk}"
        return f"/payments/{payment.pk}/refund/", {
            f"{prefix}-amount": "1.00", f"{prefix}-reason": "goodwill",
            f"{prefix}-idempotency_key": new_idempotency_key(),
        }

    bench.measure_posts("refund through the sandbox (POST)", bench.client_for("bench-agent"),
                        [post(payment) for payment in payments])


def start_sandbox():
    server = SandboxServer(("127.0.0.1", 0), sandbox=Sandbox(providers_config=settings.PROVIDERS))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    urls = provider_urls(server.base_url)
    settings.PROVIDERS = {code: {**config, **urls[code]} for code, config in settings.PROVIDERS.items()}
    return server


def load(seconds, clients):
    """Requests per second from gunicorn with 4 workers, for the order page and /healthz."""
    # The socket listens before gunicorn starts (it is handed over as fd://), so the first
    # requests wait in its backlog instead of being refused: no polling for readiness.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "backoffice.wsgi", "--workers", "4",
         "--bind", f"fd://{listener.fileno()}", "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.perf.settings"},
        pass_fds=[listener.fileno()],
    )
    try:
        login = Client()
        login.force_login(User.objects.get(username="bench-agent"))
        cookie = login.cookies[settings.SESSION_COOKIE_NAME].value
        order_ids = [row[0] for row in samples(200)]
        figures = {}
        for name, paths in (("/healthz", ["/healthz"]), ("order page", [f"/orders/{o}/" for o in order_ids])):
            counts = []
            # The clock starts once every client is warm: gunicorn's workers start (and import
            # Django) while the first requests wait, which is no part of the rate.
            warm = threading.Barrier(clients)
            window = {}

            def worker(paths=paths, counts=counts, warm=warm, window=window):
                http = requests.Session()
                http.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
                for path in paths[:8]:  # warm each worker's connection
                    http.get(base + path, timeout=60)
                if warm.wait() == 0:
                    window["start"] = time.monotonic()
                    window["deadline"] = window["start"] + seconds
                warm.wait()  # every client reads the same deadline
                done = 0
                while time.monotonic() < window["deadline"]:
                    response = http.get(base + paths[done % len(paths)], timeout=30)
                    assert response.status_code == 200, response.status_code
                    done += 1
                counts.append(done)

            with ThreadPoolExecutor(clients) as pool:
                for future in [pool.submit(worker) for _ in range(clients)]:
                    future.result()
            figures[name] = sum(counts) / (time.monotonic() - window["start"])
        print(f"\nLoad: gunicorn with 4 workers, {clients} concurrent clients on the same machine, "
              f"{seconds} s each")
        for name, rate in figures.items():
            print(f"  {name:12} {rate:7.0f} requests/s")
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)
        listener.close()


# The README's production command; the bench binds it to a socket it made itself.
GUNICORN = ["backoffice.wsgi", "--workers", "4", "--timeout", "30", "--graceful-timeout", "30",
            "--logger-class", "backoffice.log_filters.GunicornLogger", "--log-level", "warning"]


def _serve():
    """gunicorn as the README runs it, on a free port: (base URL, process, listener)."""
    # The socket listens before gunicorn starts (handed over as fd://): no polling for readiness.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *GUNICORN, "--bind", f"fd://{listener.fileno()}"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.perf.settings", "DEBUG": "false"},
        pass_fds=[listener.fileno()],
    )
    return f"http://127.0.0.1:{listener.getsockname()[1]}", server, listener


def _logged_in(base, username):
    """A requests session logged in through the login form, as a person logs in."""
    http = requests.Session()
    form = http.get(f"{base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
    answer = http.post(f"{base}/accounts/login/", timeout=30, allow_redirects=False,
                       data={"username": username, "password": "bench-password", "csrfmiddlewaretoken": token},
                       headers={"Referer": f"{base}/accounts/login/"})
    assert answer.status_code == 302, f"{username} could not log in: {answer.status_code}"
    return http


def _csrf(http, base, path):
    page = http.get(base + path, timeout=30)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]


def _peak_mb(pid):
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return None


def production_check():
    """Every payment exported through the app behind gunicorn and the task worker, checked row
    for row; desk and admin pages timed through gunicorn meanwhile."""
    from payments.models import Export
    from payments.services.exports import exports_storage

    base, server, listener = _serve()
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker"], cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.perf.settings", "DEBUG": "false"},
    )
    try:
        manager, auditor, agent = (_logged_in(base, name) for name in ("bench-manager", "bench-auditor", "bench-agent"))
        expected = Payment.objects.count()
        asked = time.monotonic()
        answer = manager.post(f"{base}/exports/payments/", timeout=30, allow_redirects=False,
                              data={"csrfmiddlewaretoken": _csrf(manager, base, "/")},
                              headers={"Referer": f"{base}/"})
        assert answer.status_code == 302, answer.status_code
        export = Export.objects.filter(requested_by__username="bench-manager").latest("created_at", "pk")
        order_ids = [row[0] for row in samples(50)]
        pages = [
            (agent, "/"), (agent, f"/?after={order_ids[0]}"), (agent, "/my-requests/"), (manager, "/approvals/"),
            (manager, "/attention/"),
            (manager, "/exports/"), (auditor, "/admin/payments/payment/"), (auditor, "/admin/payments/operation/"),
            (auditor, "/admin/payments/auditevent/"), (auditor, "/admin/payments/order/"),
            *((agent, f"/orders/{order}/") for order in order_ids),
        ]
        slowest, timed = {}, 0
        while export.status in ("queued", "running"):
            http, path = pages[timed % len(pages)]
            started = time.perf_counter()
            response = http.get(base + path, timeout=60)
            spent = time.perf_counter() - started
            assert response.status_code == 200, (path, response.status_code)
            key = path if not path.startswith("/orders/") else "/orders/<id>/"
            slowest[key] = max(slowest.get(key, 0), spent)
            timed += 1
            time.sleep(0.2)
            export.refresh_from_db()
        made = time.monotonic() - asked
        peak = _peak_mb(worker.pid)
        assert export.status == "done", f"the export {export.status}: {export.failure_message}"
        # Downloaded as the manager downloads it, through gunicorn.
        digest, rows, size, last = hashlib.sha256(), -1, 0, b""
        with manager.get(f"{base}/exports/{export.pk}/download/", stream=True, timeout=60) as download:
            assert download.status_code == 200, download.status_code
            pending = b""
            for chunk in download.iter_content(1 << 20):
                size += len(chunk)
                pending += chunk
                lines = pending.split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if last:
                        digest.update(last + b"\n")
                        rows += 1
                    last = line
        check = last.decode().rstrip("\r")  # the file's lines end as CSV's do, with CR LF
        whole = check == f"# rows={rows} sha256={digest.hexdigest()}" and rows == expected and not pending
        exports_storage().delete(export.file_name)
        print(f"\nExport of every payment behind gunicorn (README's command, DEBUG off), made by the task worker: "
              f"{rows:,} rows of {expected:,} in {made:.0f} s, file {size / 2**20:.0f} MB, worker's peak memory "
              f"{peak} MB, check line {check!r}: {'ok' if whole else 'MISSED'} (every row, the check line agrees)")
        longest = max(slowest.values())
        print(f"  {timed} desk and admin requests through gunicorn meanwhile, the slowest "
              f"{longest * 1000:.0f} ms ({max(slowest, key=slowest.get)}): "
              f"{'ok' if longest < 5 else 'MISSED'} (< 5 s)")
        for path, spent in sorted(slowest.items(), key=lambda item: -item[1]):
            print(f"    {path:40} {spent * 1000:7.0f} ms")
        return {"rows": rows, "expected": expected, "seconds": made, "file_mb": size / 2**20,
                "worker_peak_mb": peak, "check": check, "whole": whole, "requests": timed,
                "slowest_ms": {path: spent * 1000 for path, spent in slowest.items()}}, whole and longest < 5
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)
        server.terminate()
        server.wait(timeout=30)
        listener.close()


def machine():
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        counts = []
        for table in ("payments_order", "payments_orderline", "payments_payment", "payments_operation",
                      "payments_auditevent"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts.append(cursor.fetchone()[0])
        cursor.execute("SELECT pg_database_size(current_database())")
        size = cursor.fetchone()[0]
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    described = {
        "cores": os.cpu_count(), "memory_gb": round(memory_gb), "postgresql": version.split()[0],
        "python": sys.version.split()[0], "django": django.get_version(), "load": os.getloadavg(),
        "orders": counts[0], "lines": counts[1], "payments": counts[2], "operations": counts[3],
        "audit_events": counts[4], "database_gib": round(size / 2**30, 2),
    }
    print(f"Machine: {described['cores']} cores, {described['memory_gb']} GB RAM, PostgreSQL "
          f"{described['postgresql']}, Python {described['python']}, Django {described['django']}; "
          f"load average {' '.join(f'{value:.1f}' for value in described['load'])}")
    print("Data: {:,} orders ({:,} lines), {:,} payments, {:,} operations, {:,} audit events; "
          "database {:.1f} GiB".format(*counts, size / 2**30))
    return described


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per page and round (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="times every page is measured (default 3)")
    parser.add_argument("--load-seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the load part")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-export", action="store_true", help="skip the export behind gunicorn")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    options = parser.parse_args()
    # The floor's 404s are expected, each one of them.
    logging.getLogger("django.request").setLevel(logging.ERROR)
    if not Payment.objects.exists():
        sys.exit("The database holds no orders: seed it first (scripts/bench does, with seed_bench).")
    figures = {"when": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(), "requests": options.requests,
               "rounds": options.rounds}
    bench = Bench(options.requests)
    server = start_sandbox()
    try:
        desk_and_admin(bench, options.rounds)
        refunds(bench, server.base_url)
    finally:
        server.stop()
    missed = bench.report()
    figures["pages"] = {name: {**case, **bench.summary(case)} for name, case in bench.results.items()}
    if not options.skip_export:
        figures["export"], ok = production_check()
        missed += not ok
    if not options.skip_load:
        figures["load"] = load(options.load_seconds, options.clients)
    if options.json:
        options.json.write_text(json.dumps(figures, indent=1, default=str))
    print(f"\n{missed} figure(s) missed their target." if missed else "\nEvery figure met its target.")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
