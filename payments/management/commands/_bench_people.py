"""Who orders in the benchmark's shop (seed_bench): customers of six markets, each with the
names, e-mail habits and currency of its country.

A real shop of millions of orders has millions of customers, most of them ordering once or a
few times, with names as varied as its countries': a handful of names are common, most are rare.
The names below are each country's most common ones, weighted by rank, and a long tail of rarer
surnames made the way that country makes them (Nord + li, Lind + qvist, Yama + shita). Searches by
name or by the beginning of an email then find what they find in a real shop: a few orders of
one customer, or a few hundred of a common name, not a fixed share of the whole table."""

import bisect
from dataclasses import dataclass
from functools import cache
from itertools import accumulate

from payments.customer_names import folded_name


@dataclass(frozen=True)
class Market:
    code: str
    weight: float
    currencies: tuple  # (currency, weight, providers with weights)
    first_names: tuple
    last_names: tuple
    tail_prefixes: tuple
    tail_suffixes: tuple
    domains: tuple


MARKETS = (
    Market(
        "no", 35,
        (("NOK", 1, (("vipps", 1),)),),
        ("Kari", "Ola", "Ingrid", "Lars", "Anne", "Per", "Marit", "Jan", "Liv", "Bjørn", "Åse", "Knut",
         "Solveig", "Arne", "Hilde", "Terje", "Randi", "Geir", "Silje", "Jonas", "Nora", "Emil", "Sofie",
         "Henrik", "Ida", "Magnus", "Thea", "Sander", "Maja", "Tobias", "Ingeborg", "Øystein", "Ragnhild",
         "Even", "Marius", "Kristin", "Tor", "Sigrid", "Håkon", "Eirik", "Astrid", "Vegard", "Mari", "Jørgen"),
        ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen",
         "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Johannessen", "Andreassen",
         "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen", "Lund", "Sørensen", "Jakobsen", "Moen",
         "Gundersen", "Iversen", "Strand", "Solberg", "Svendsen", "Eide", "Knutsen", "Martinsen", "Paulsen",
         "Bakken", "Kristoffersen", "Mathisen", "Lie", "Amundsen", "Nguyen", "Rasmussen", "Ali", "Lunde",
         "Solheim", "Berge", "Moe", "Nygård", "Bakke", "Nordmann", "Ødegård", "Aasen", "Sæther", "Myhre"),
        ("Aas", "Berg", "Bjørk", "Dal", "Eng", "Fjell", "Haug", "Holm", "Lien", "Lund", "Myr", "Nord", "Ros",
         "Sand", "Skog", "Sol", "Stor", "Strand", "Vik", "Øst", "Grøn", "Kval", "Løv", "Rød"),
        ("en", "heim", "li", "by", "land", "vik", "dal", "stad", "rud", "berg", "set", "bakken", "haug", "nes",
         "gård", "sæter"),
        (("gmail.com", 5), ("hotmail.com", 3), ("online.no", 2), ("outlook.com", 2), ("icloud.com", 1),
         ("yahoo.no", 1)),
    ),
    Market(
        "dk", 10,
        (("DKK", 1, (("vipps", 3), ("bambora", 2))),),
        ("Mette", "Jens", "Anne", "Peter", "Hanne", "Lars", "Susanne", "Michael", "Lone", "Henrik", "Marianne",
         "Søren", "Camilla", "Thomas", "Louise", "Mads", "Freja", "Emil", "Ida", "Frederik", "Sofie", "Rasmus",
         "Line", "Anders", "Birgitte", "Niels", "Karen", "Jesper", "Maja", "Christian"),
        ("Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen",
         "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen", "Christiansen", "Poulsen",
         "Johansen", "Møller", "Mortensen", "Knudsen", "Jakobsen", "Mikkelsen", "Frederiksen", "Laursen",
         "Holm", "Schmidt", "Eriksen", "Bach", "Lund"),
        ("Bech", "Dal", "Frost", "Gaard", "Holm", "Kjær", "Lind", "Mølle", "Nør", "Ravn", "Skov", "Vest"),
        ("gaard", "holm", "bjerg", "lund", "dal", "by", "strup", "hede", "skov", "sø"),
        (("gmail.com", 5), ("hotmail.com", 3), ("live.dk", 2), ("mail.dk", 1), ("outlook.dk", 1)),
    ),
    Market(
        "se", 15,
        (("SEK", 1, (("bambora", 1), ("simpleps", 1))),),
        ("Anna", "Erik", "Maria", "Lars", "Karin", "Anders", "Eva", "Johan", "Kristina", "Per", "Lena", "Karl",
         "Sara", "Mikael", "Emma", "Oscar", "Elsa", "Lucas", "Ebba", "Hugo", "Maja", "Linnea", "Björn", "Åsa",
         "Göran", "Ulla", "Nils", "Ingrid", "Stefan", "Malin"),
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
         "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson", "Bengtsson", "Jönsson",
         "Lindberg", "Jakobsson", "Magnusson", "Olofsson", "Lindström", "Lindqvist", "Lindgren", "Berg",
         "Axelsson", "Bergström", "Lundberg", "Söderberg", "Åberg", "Öberg"),
        ("Berg", "Lind", "Sjö", "Ek", "Holm", "Lund", "Strand", "Sund", "Dahl", "Nord", "Sand", "Ström", "Björk",
         "Gran", "Hag", "Fors", "Ahl", "Wall"),
        ("ström", "berg", "qvist", "gren", "lund", "dahl", "holm", "man", "sten", "blad", "ling", "löf", "vall"),
        (("gmail.com", 5), ("hotmail.com", 3), ("telia.com", 2), ("outlook.com", 2), ("live.se", 1)),
    ),
    Market(
        "de", 15,
        (("EUR", 1, (("bambora", 3), ("vipps", 1))),),
        ("Thomas", "Michael", "Andreas", "Stefan", "Sabine", "Petra", "Susanne", "Claudia", "Jürgen", "Klaus",
         "Monika", "Ursula", "Lukas", "Leon", "Mia", "Hannah", "Lena", "Jonas", "Felix", "Sophie", "Jörg",
         "Günther", "Anke", "Katrin", "Maximilian", "Birgit", "Frank", "Uwe", "Julia", "Tobias"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
         "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz",
         "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz",
         "Krause", "Meier", "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter"),
        ("Alt", "Berg", "Brand", "Eich", "Feld", "Gold", "Groß", "Hoch", "Kirch", "Linden", "Neu", "Rosen",
         "Stein", "Wald", "Weiß", "Sommer"),
        ("mann", "er", "bach", "berg", "feld", "hof", "hausen", "meier", "ing", "brunner", "huber"),
        (("gmail.com", 4), ("web.de", 3), ("gmx.de", 3), ("t-online.de", 2), ("outlook.de", 1)),
    ),
    Market(
        "jp", 5,
        (("JPY", 1, (("bambora", 1),)),),
        ("Yuki", "Hiroshi", "Takashi", "Akira", "Yoko", "Keiko", "Haruto", "Yui", "Sota", "Hina", "Ren", "Mei",
         "Daiki", "Aoi", "Kenji", "Naoko", "Satoshi", "Emi", "Shota", "Riko"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi",
         "Kato", "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue", "Kimura", "Hayashi",
         "Shimizu", "Yamazaki", "Mori", "Abe", "Ikeda", "Hashimoto", "Ishikawa"),
        ("Yama", "Naka", "Taka", "Kawa", "Mori", "Ishi", "Fuji", "Matsu", "Hara", "Ono", "Kita", "Miya", "Oka",
         "Sugi", "Kuro", "Shira"),
        ("moto", "da", "mura", "kawa", "shita", "gawa", "zaki", "hara", "no", "ta", "uchi", "guchi", "saki",
         "oka", "shima", "ike"),
        (("gmail.com", 3), ("yahoo.co.jp", 3), ("docomo.ne.jp", 2), ("icloud.com", 2)),
    ),
    Market(
        "en", 20,
        (("AUD", 1, (("optty", 1),)), ("USD", 1, (("optty", 1), ("simpleps", 2)))),
        ("James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
         "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
         "Olivia", "Liam", "Emma", "Noah", "Charlotte", "Jack", "Amelia", "Oliver", "Ava", "Lucas", "Mia",
         "Chloe", "Ethan", "Grace", "Zoe", "Daniel"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
         "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
         "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
         "Wright", "Scott", "Nguyen", "Hill", "Green", "Adams", "Baker", "Nelson", "Mitchell", "Campbell",
         "Roberts", "Carter", "Phillips", "Evans", "Turner", "Kelly", "O'Brien", "Murphy", "Ryan"),
        ("Ash", "Black", "Brook", "Craw", "Field", "Green", "Hart", "Kings", "Mill", "Red", "Stan", "West",
         "Whit", "Fair", "Hol", "Thorn"),
        ("ford", "ley", "ton", "wood", "well", "field", "bury", "ham", "wick", "son", "more", "dale"),
        (("gmail.com", 5), ("yahoo.com", 2), ("hotmail.com", 2), ("outlook.com", 2), ("icloud.com", 2),
         ("bigpond.com", 1)),
    ),
)


def _ranked(names, steepness=0.5):
    """Cumulative weights of names by rank: the first is the commonest."""
    return list(accumulate(1 / (rank + 2) ** steepness for rank in range(len(names))))


def _weighted(pairs):
    return tuple(value for value, _ in pairs), list(accumulate(weight for _, weight in pairs))


def pick(values, cumulative, fraction):
    """The value at `fraction` (0 <= fraction < 1) of the cumulative weights."""
    return values[min(bisect.bisect_right(cumulative, fraction * cumulative[-1]), len(values) - 1)]


class _Prepared:
    def __init__(self, market):
        self.market = market
        self.first = (market.first_names, _ranked(market.first_names))
        self.last = (market.last_names, _ranked(market.last_names))
        self.tail = tuple(prefix + suffix for prefix in market.tail_prefixes for suffix in market.tail_suffixes)
        self.domains = _weighted(market.domains)
        self.currencies = [
            (currency, _weighted(providers)) for currency, weight, providers in market.currencies
        ]
        self.currency_weights = list(accumulate(weight for _, weight, _ in market.currencies))


_MARKETS = tuple(_Prepared(market) for market in MARKETS)
_MARKET_WEIGHTS = list(accumulate(market.weight for market in MARKETS))
# Of every 100 customers, this many have a surname from the long tail.
_TAIL_SHARE = 0.4

_MASK = (1 << 64) - 1


def _mix(value):
    """splitmix64: 64 well-mixed bits from an integer, the same on every run."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def _fractions(customer, seed, count):
    """`count` numbers in [0, 1), fixed for the customer."""
    value = _mix(customer * 1_000_003 + seed)
    fractions = []
    for _ in range(count):
        value = _mix(value)
        fractions.append(value / 2**64)
    return fractions


@cache
def _email_words(first, last):
    """The name as it goes into an address: "Åse", "Ødegård" -> "ase", "odegard"."""
    return folded_name(first).split()[0], "".join(folded_name(last).split())


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    currency: str
    provider: str


def customer(number, seed):
    """Customer `number` of the shop: the same name, email and habits each time it is asked
    for, so that a customer's orders share them."""
    f = _fractions(number, seed, 9)
    prepared = pick(_MARKETS, _MARKET_WEIGHTS, f[0])
    first = pick(*prepared.first, f[1])
    if f[2] < _TAIL_SHARE:
        last = prepared.tail[int(f[3] * len(prepared.tail))]
    else:
        last = pick(*prepared.last, f[3])
    currency, providers = pick(prepared.currencies, prepared.currency_weights, f[4])
    provider = pick(*providers, f[5])
    first_word, last_word = _email_words(first, last)
    # Most addresses carry digits: the plain first.last is taken early at every provider.
    habit, tag = int(f[6] * 20), int(f[7] * 100_000)
    if habit == 0:
        local = f"{first_word}.{last_word}"
    elif habit < 8:
        local = f"{first_word}.{last_word}{tag % 1000}"
    elif habit < 12:
        local = f"{first_word}{last_word}{tag}"
    elif habit < 15:
        local = f"{first_word[0]}{last_word}{tag % 100}"
    elif habit < 18:
        local = f"{first_word}_{last_word}{1950 + tag % 60}"
    else:
        local = f"{last_word}.{first_word}{tag % 10_000}"
    domain = pick(*prepared.domains, f[8])
    return Customer(name=f"{first} {last}", email=f"{local}@{domain}", currency=currency, provider=provider)
