"""Checks for text and JSON from outside (the shops' intake, notes, query strings), kept apart
from the rules of each input so that every input refuses the same things in the same words.

Text that cannot lie: control characters (C0 and C1, NUL, CR, LF) break storage, e-mail
headers and CSV rows; bidirectional controls and invisible characters make a text read
otherwise than it is (an order number shown reversed, a name that hides part of itself).
Identifiers (order numbers, references) refuse all of them; names keep the joiners that some
scripts and emoji need. Pages isolate user text too (`<bdi>`), for what was stored before.
"""

import json
import unicodedata
from typing import Any

# Embeddings, overrides, isolates and marks (Unicode's Bidi_Control characters).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Zero-width joiner and non-joiner: part of how Persian, Indic scripts and emoji are written.
JOINERS = frozenset("\u200c\u200d")
# JSON the back office reads is a few levels deep; deeper is a mistake or an attack on the parser.
MAX_JSON_DEPTH = 20


def _name(character: str) -> str:
    return unicodedata.name(character, f"U+{ord(character):04X}")


def identifier_problem(text: str) -> str:
    """Why `text` cannot be an order number or a reference (it holds a control, format or
    separator character, such as NUL, a line break, a bidirectional override or a zero-width
    space), or "" when it can."""
    for character in text:
        if unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp"):
            return f"Must not contain control or invisible characters (found {_describe(character)})."
    return ""


def name_problem(text: str) -> str:
    """Why `text` cannot be a person's name or a note: control characters, line breaks,
    bidirectional controls and invisible characters other than the joiners; or ""."""
    for character in text:
        category = unicodedata.category(character)
        if category in ("Cc", "Zl", "Zp") or character in BIDI_CONTROLS or (
            category == "Cf" and character not in JOINERS
        ):
            return f"Must not contain control or invisible characters (found {_describe(character)})."
    return ""


def _describe(character: str) -> str:
    if character == "\x00":
        return "NUL"
    if character in "\r\n":
        return "a line break"
    if unicodedata.category(character) == "Cc":
        return f"control character U+{ord(character):04X}"
    return f"{_name(character).lower()}, U+{ord(character):04X}"


class UnreadableJson(ValueError):
    """The body is not JSON the back office reads; the message says why, for the sender."""


def load_json(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON document in `body` (bytes), or UnreadableJson: not UTF-8 JSON, or nested more
    than `max_depth` levels (which the parser would not survive far beyond)."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise UnreadableJson(f"The JSON is nested too deeply (at most {max_depth} levels).") from None
    except (ValueError, UnicodeDecodeError):
        raise UnreadableJson("The body is not valid JSON.") from None
    if _deeper_than(data, max_depth):
        raise UnreadableJson(f"The JSON is nested too deeply (at most {max_depth} levels).")
    return data


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether arrays and objects in `data` nest more than `limit` levels; without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return False
