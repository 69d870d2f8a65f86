"""The ways into an order that search reads newest first (OrderSearchTerm), and the search that
reads them on PostgreSQL.

A search lists the newest orders its query finds, a page at a time. Through the trigram and
prefix indexes, PostgreSQL finds every order that matches and sorts them all to take the
page: "kari nord" finds 650 orders at a million orders and 6,500 at ten million, each read
from the table. A term stream holds the orders that have one head, newest first, and the page
is read from its index as far as it needs, with the folded name or email beside each entry to
check the rest of the query. A name's heads are the first three letters of each of its words
("kar", "nor"), each pair of different ones ("kar nor") and the first six letters of long
words: "kari nord" reads the stream of "kar nor", where most entries match, rather than that of
"kar", where one in a hundred does. An email's are its first three and six characters.

A stream that is long and holds few matches would be read to its end: it is read up to
settings.SEARCH_STREAM_WINDOW entries only, and when those hold less than a page, the search is
answered through the trigram and prefix indexes as before (few orders match, then).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from payments.models import Order, SearchTermKind

HEAD_LENGTH = 3
# Long words and emails also have a longer head: "sandersen" is read from the stream of
# "sander", which is short, rather than from that of "san".
LONG_HEAD_LENGTH = 6
# A name has a term for each pair of its heads when it has this many heads at most; one with
# more (a name of many words) has the OVERFLOW head instead, read beside every pair's stream.
MAX_PAIRED_HEADS = 8
OVERFLOW = "*"
NAME, EMAIL = SearchTermKind.NAME.value, SearchTermKind.EMAIL.value

# The terms are made by PostgreSQL, from the order's folded name (payments.customer_names) and
# email, when the order is stored (a trigger), and by migration 0025 and seed_bench for orders
# stored without it: one definition. Changing them (or changing stored names or emails) needs a
# migration that replaces the function and writes the terms again. Heads of names: the first
# three letters of each word of three letters or more, each pair of different ones (in code
# point order, as COLLATE "C" sorts) up to MAX_PAIRED_HEADS of them, and the first six letters
# of each word that long. Of emails, in capitals as `istartswith` compares them (UPPER): the
# first three and six characters. A name of 200 characters makes at most 8 + 28 + 100 terms.
TERMS_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION payments_search_terms(folded text, email text)
RETURNS TABLE (term_kind text, term_head text, term_text text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH words AS (
        SELECT word FROM regexp_split_to_table(folded, ' ') AS word WHERE length(word) >= {HEAD_LENGTH}
    ), heads AS (
        SELECT DISTINCT left(word, {HEAD_LENGTH}) COLLATE "C" AS head FROM words
    ), paired AS (
        SELECT count(*) <= {MAX_PAIRED_HEADS} AS yes FROM heads
    )
    SELECT '{NAME}', head, folded FROM heads
    UNION ALL
    SELECT '{NAME}', first.head || ' ' || second.head, folded
    FROM heads first JOIN heads second ON first.head < second.head
    WHERE (SELECT yes FROM paired)
    UNION ALL
    SELECT '{NAME}', '{OVERFLOW}', folded WHERE NOT (SELECT yes FROM paired)
    UNION ALL
    SELECT DISTINCT '{NAME}', left(word, {LONG_HEAD_LENGTH}), folded FROM words WHERE length(word) >= {LONG_HEAD_LENGTH}
    UNION ALL
    SELECT '{EMAIL}', left(upper(email), size), upper(email)
    FROM unnest(ARRAY[{HEAD_LENGTH}, {LONG_HEAD_LENGTH}]) AS size WHERE length(email) >= size
$$;

CREATE OR REPLACE FUNCTION payments_order_write_search_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO payments_ordersearchterm (order_id, kind, head, text, created_at)
    SELECT NEW.id, term_kind, term_head, term_text, NEW.created_at
    FROM payments_search_terms(NEW.customer_name_folded, NEW.customer_email);
    RETURN NULL;
END
$$;
"""
TRIGGER = "order_search_terms"
TRIGGER_SQL = f"""
CREATE TRIGGER {TRIGGER} AFTER INSERT ON payments_order
FOR EACH ROW EXECUTE FUNCTION payments_order_write_search_terms();
"""
DROP_SQL = f"""
DROP TRIGGER IF EXISTS {TRIGGER} ON payments_order;
DROP FUNCTION IF EXISTS payments_order_write_search_terms();
DROP FUNCTION IF EXISTS payments_search_terms(text, text);
"""


def backfill_sql(where: str = "") -> str:
    """SQL writing the terms of the orders `where` (SQL on the order `o`) names, for orders
    stored while the trigger was off or not there yet."""
    return (
        "INSERT INTO payments_ordersearchterm (order_id, kind, head, text, created_at) "
        "SELECT o.id, term_kind, term_head, term_text, o.created_at FROM payments_order o "
        f"CROSS JOIN LATERAL payments_search_terms(o.customer_name_folded, o.customer_email) {where}"
    )


@dataclass(frozen=True)
class Stream:
    """The orders whose term of `kind` and head (`head`, SQL with `head_params`) meets
    `condition` (SQL on the term's `text`, with `params`); `fallback`, the same orders found
    through the order table's indexes."""

    kind: str
    head: str
    head_params: Sequence[Any]
    condition: str
    params: Sequence[Any]
    fallback: QuerySet[Order]


def name_streams(words: Sequence[str], fallback: QuerySet[Order]) -> list[Stream]:
    """The orders whose folded name has words beginning with each of `words`: from the stream
    of the heads of the two longest words with different heads (two words with the same head
    may be found in one word of a name) and from that of names with too many heads to pair;
    else from the stream of the longest word's long head, else of its head. None (an empty
    list) when no word is as long as a head: the trigram index answers."""
    long_words = sorted((word for word in words if len(word) >= HEAD_LENGTH), key=len, reverse=True)
    if not long_words:
        return []
    longest = long_words[0]
    others = [word[:HEAD_LENGTH] for word in long_words if word[:HEAD_LENGTH] != longest[:HEAD_LENGTH]]
    if others:
        heads = [" ".join(sorted([longest[:HEAD_LENGTH], others[0]])), OVERFLOW]
    else:
        heads = [longest[:LONG_HEAD_LENGTH] if len(longest) >= LONG_HEAD_LENGTH else longest[:HEAD_LENGTH]]
    condition = " AND ".join(["strpos(text, %s) > 0"] * len(words))
    starts = [" " + word for word in words]
    return [Stream(SearchTermKind.NAME, "%s", [head], condition, starts, fallback) for head in heads]


def email_stream(beginning: str, fallback: QuerySet[Order]) -> Stream | None:
    """The orders whose email begins with `beginning` in any case (in capitals, as PostgreSQL
    writes them); None when it is shorter than a head, or could not begin an email (it holds a
    space), or names its domain: that is one customer's few orders, which the index on the
    email finds at once, when the stream of its head would be read to its end."""
    if len(beginning) < HEAD_LENGTH or "@" in beginning or any(char.isspace() for char in beginning):
        return None
    # PostgreSQL's upper() changes no string's length.
    length = LONG_HEAD_LENGTH if len(beginning) >= LONG_HEAD_LENGTH else HEAD_LENGTH
    return Stream(
        SearchTermKind.EMAIL, "left(upper(%s), %s)", [beginning, length], "starts_with(text, upper(%s))", [beginning],
        fallback,
    )


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
            f"WHERE kind = %s AND head = {stream.head} {bound_sql} {ordering} LIMIT %s) window_ "
            f"WHERE {stream.condition} {ordering} LIMIT %s)"
        )
        window = settings.SEARCH_STREAM_WINDOW
        cte_params += [stream.kind, *stream.head_params, *bound_params, window, *stream.params, limit]
        parts.append(f"SELECT id, created_at FROM {hits}")
        fallback_sql, fallback_params = orm(stream.fallback)
        longer = (
            f"EXISTS (SELECT 1 FROM payments_ordersearchterm WHERE kind = %s AND head = {stream.head} {bound_sql} "
            f"{ordering} OFFSET %s)"
        )
        # The fallback's own conditions, then the two that say whether it is needed: PostgreSQL
        # evaluates those once, before reading anything, and the second only if the first holds.
        parts.append(
            f"SELECT * FROM ({fallback_sql}) fallback_{position} (id, created_at) "
            f"WHERE (SELECT count(*) FROM {hits}) < %s AND {longer}"
        )
        params += [*fallback_params, limit, stream.kind, *stream.head_params, *bound_params, window]
    plain_sql, plain_params = orm(plain)
    parts.append(f"SELECT * FROM ({plain_sql}) plain_ (id, created_at)")
    params += plain_params
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    union = " UNION ".join(f"({part})" for part in parts)
    return RawSQL(f"{with_}SELECT found.id FROM ({union}) found (id, created_at)", cte_params + params)
