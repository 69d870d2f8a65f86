"""The ways into an order that search reads newest first (OrderSearchTerm), and the search that
reads them on PostgreSQL.

A search lists the newest orders its query finds, a page at a time. Through the trigram and
prefix indexes, PostgreSQL finds every order that matches and sorts them all to take the
page: "kari nord" finds 650 orders at a million orders and 6,500 at ten million, each read
from the table. A term stream holds the orders that have one head, newest first, and the page
is read from its index as far as it needs, with the folded name or email beside each entry to
check the rest of the query. A name's heads are the first three letters of each of its words
("kar", "nor") and each pair of different ones ("kar nor"): "kari nord" reads the stream of
"kar nor", where most entries match, rather than that of "kar", where one in a hundred does.
An email's are its first three and its first six characters.

A stream that is long and holds few matches would be read to its end: it is read up to
settings.SEARCH_STREAM_WINDOW entries only, and when those hold less than a page, the search is
answered through the trigram and prefix indexes as before (few orders match, then).
"""

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from payments.models import Order, OrderSearchTerm, SearchTermKind

HEAD_LENGTH = 3
# Long words and emails also have a longer head: "sandersen" is read from the stream of
# "sander", which is short, rather than from that of "san".
LONG_HEAD_LENGTH = 6


def name_heads(folded: str) -> list[str]:
    """The heads of a folded name (payments.customer_names.folded_name): the first three letters
    of each word (a shorter word is found through the trigram index only), each pair of
    different ones (the two in the order of their characters' code points), and the first six
    letters of each word that long. A name of 200 characters has at most 50 words of three
    letters: some 1,300 heads."""
    words = folded.split()
    singles = sorted({word[:HEAD_LENGTH] for word in words if len(word) >= HEAD_LENGTH})
    return [
        *singles,
        *(f"{first} {second}" for first, second in itertools.combinations(singles, 2)),
        *sorted({word[:LONG_HEAD_LENGTH] for word in words if len(word) >= LONG_HEAD_LENGTH}),
    ]


def email_text(email: str) -> str:
    return email.lower()


def email_heads(email: str) -> list[str]:
    email = email_text(email)
    return [email[:length] for length in (HEAD_LENGTH, LONG_HEAD_LENGTH) if len(email) >= length]


def search_terms(folded: str, email: str) -> list[tuple[str, str, str]]:
    """(kind, head, text) of each OrderSearchTerm of an order with this folded name and email."""
    return [
        *((SearchTermKind.NAME, head, folded) for head in name_heads(folded)),
        *((SearchTermKind.EMAIL, head, email_text(email)) for head in email_heads(email)),
    ]


def order_search_terms(order: Order) -> list[OrderSearchTerm]:
    """The OrderSearchTerms of a stored order, not saved."""
    return [
        OrderSearchTerm(order=order, kind=kind, head=head, text=text, created_at=order.created_at)
        for kind, head, text in search_terms(order.customer_name_folded, order.customer_email)
    ]


# Emails written in printable ASCII only, whose lower case PostgreSQL makes as Python does
# whatever the database's locale (it may leave "Ø" as it is).
ASCII_EMAIL = r"^[ -~]*$"

# The same rows made by PostgreSQL from the orders already stored (migration 0024), but for the
# emails not written in ASCII. "C" orders text by code points, as Python does.
BACKFILL_SQL = f"""
INSERT INTO payments_ordersearchterm (order_id, kind, head, text, created_at)
SELECT o.id, 'n', heads.head, o.customer_name_folded, o.created_at
FROM payments_order o
CROSS JOIN LATERAL (
    WITH singles AS (
        SELECT DISTINCT left(word, 3) COLLATE "C" AS head
        FROM regexp_split_to_table(o.customer_name_folded, ' ') AS word
        WHERE length(word) >= 3
    )
    SELECT head FROM singles
    UNION ALL
    SELECT first.head || ' ' || second.head FROM singles first JOIN singles second ON first.head < second.head
    UNION ALL
    SELECT DISTINCT left(word, 6)
    FROM regexp_split_to_table(o.customer_name_folded, ' ') AS word
    WHERE length(word) >= 6
) heads
UNION ALL
SELECT o.id, 'e', heads.head, lower(o.customer_email), o.created_at
FROM payments_order o
CROSS JOIN LATERAL (
    SELECT left(lower(o.customer_email), size) AS head
    FROM unnest(ARRAY[3, 6]) AS size
    WHERE length(o.customer_email) >= size
) heads
WHERE o.customer_email ~ '{ASCII_EMAIL}'
"""


@dataclass(frozen=True)
class Stream:
    """The orders whose term of `kind` and `head` meets `condition` (SQL on the term's `text`,
    with `params`); `fallback`, the same orders found through the order table's indexes."""

    kind: str
    head: str
    condition: str
    params: Sequence[Any]
    fallback: QuerySet[Order]


def name_stream(words: Sequence[str], fallback: QuerySet[Order]) -> Stream | None:
    """The orders whose folded name has words beginning with each of `words`, read from the
    stream of the heads of the two longest words with different heads (two words with the same
    head may be found in one word of a name), else of the longest word's long head, else of its
    head; None when no word is as long as a head."""
    long_words = sorted((word for word in words if len(word) >= HEAD_LENGTH), key=len, reverse=True)
    if not long_words:
        return None
    longest = long_words[0]
    others = [word[:HEAD_LENGTH] for word in long_words if word[:HEAD_LENGTH] != longest[:HEAD_LENGTH]]
    if others:
        head = " ".join(sorted([longest[:HEAD_LENGTH], others[0]]))
    else:
        head = longest[:LONG_HEAD_LENGTH] if len(longest) >= LONG_HEAD_LENGTH else longest[:HEAD_LENGTH]
    condition = " AND ".join(["strpos(text, %s) > 0"] * len(words))
    return Stream(SearchTermKind.NAME, head, condition, [" " + word for word in words], fallback)


def email_stream(beginning: str, fallback: QuerySet[Order]) -> Stream | None:
    """The orders whose email begins with `beginning` in any case; None when it is shorter than
    a head, or could not begin an email (it holds a space), or names its domain: that is one
    customer's few orders, which the index on the email finds at once, when the stream of its
    head would be read to its end."""
    beginning = email_text(beginning)
    if len(beginning) < HEAD_LENGTH or "@" in beginning or any(char.isspace() for char in beginning):
        return None
    head = email_heads(beginning)[-1]
    return Stream(SearchTermKind.EMAIL, head, "starts_with(text, %s)", [beginning], fallback)


def newest_keys(
    *, plain: QuerySet[Order], streams: Iterable[Stream], limit: int, bound: Any, newest_first: bool
) -> RawSQL:
    """SQL for the ids of the first `limit` orders, in the order list's order, of those `plain`
    finds and those of each stream, beyond `bound` (the id of the order a page starts after,
    or None). PostgreSQL only.

    Each part is read in that order through its own index and stops at `limit`; a stream reads
    at most settings.SEARCH_STREAM_WINDOW entries, and when those hold fewer than `limit` matches
    while the stream goes on, its fallback is read instead (PostgreSQL skips that part otherwise)."""
    direction, beyond = ("DESC", "<") if newest_first else ("ASC", ">")
    ordering = f"ORDER BY created_at {direction}, order_id {direction}"
    bound_sql, bound_params = "", []
    if bound is not None:
        bound_sql = f"AND (created_at, order_id) {beyond} (SELECT created_at, id FROM payments_order WHERE id = %s)"
        bound_params = [bound]
    ctes, cte_params, parts, params = [], [], [], []

    def orm(queryset: QuerySet[Order]) -> tuple[str, tuple[Any, ...]]:
        return queryset.values_list("pk", "created_at")[:limit].query.sql_with_params()

    for position, stream in enumerate(streams):
        hits = f"hits_{position}"
        ctes.append(
            f"{hits} AS MATERIALIZED (SELECT order_id AS id, created_at FROM ("
            f"SELECT order_id, created_at, text FROM payments_ordersearchterm "
            f"WHERE kind = %s AND head = %s {bound_sql} {ordering} LIMIT %s) window_ "
            f"WHERE {stream.condition} {ordering} LIMIT %s)"
        )
        window = settings.SEARCH_STREAM_WINDOW
        cte_params += [stream.kind, stream.head, *bound_params, window, *stream.params, limit]
        parts.append(f"SELECT id, created_at FROM {hits}")
        fallback_sql, fallback_params = orm(stream.fallback)
        longer = (
            f"EXISTS (SELECT 1 FROM payments_ordersearchterm WHERE kind = %s AND head = %s {bound_sql} "
            f"{ordering} OFFSET %s)"
        )
        # The fallback's own conditions, then the two that say whether it is needed: PostgreSQL
        # evaluates those once, before reading anything, and the second only if the first holds.
        parts.append(
            f"SELECT * FROM ({fallback_sql}) fallback_{position} (id, created_at) "
            f"WHERE (SELECT count(*) FROM {hits}) < %s AND {longer}"
        )
        params += [*fallback_params, limit, stream.kind, stream.head, *bound_params, window]
    plain_sql, plain_params = orm(plain)
    parts.append(f"SELECT * FROM ({plain_sql}) plain_ (id, created_at)")
    params += plain_params
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    union = " UNION ".join(f"({part})" for part in parts)
    return RawSQL(f"{with_}SELECT found.id FROM ({union}) found (id, created_at)", cte_params + params)
