"""Customers' names as search compares them: without case, accents or punctuation, so that
"kari nord", "Kåri Nordmann" and "KARI NORDMANN" find the same person.

The folded name is stored beside the name (Order.customer_name_folded) and searched with LIKE,
on every database alike; PostgreSQL serves the LIKE from a trigram index.
"""

import unicodedata

# Letters that Unicode does not decompose into a base letter and an accent.
_BASE_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i"})

# A search looks for at most this many words of a name: more add nothing but work.
MAX_SEARCH_WORDS = 6


def _words(text: str) -> list[str]:
    # Folded again once decomposed: some characters decompose into capitals ("ℌ" into "H").
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_BASE_LETTERS)).casefold()
    plain = "".join(" " if not char.isalnum() else char for char in decomposed if not unicodedata.combining(char))
    return plain.split()


def folded_name(name: str) -> str:
    """`name` folded for search: its words in lower case without accents, each after a space
    (" kari nordmann"), so that a word's beginning is found as " " + the word."""
    return "".join(" " + word for word in _words(name))


def name_search_words(query: str) -> list[str]:
    """The words of `query` to look for at the beginnings of the words of folded names."""
    return _words(query)[:MAX_SEARCH_WORDS]
