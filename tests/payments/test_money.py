"""Money at the edges: what an agent or a shop may type, what they are told when it is refused,
and how amounts are shown. JPY has no decimals, EUR and NOK two, KWD three."""

from decimal import Decimal

import pytest
from babel.numbers import format_currency
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from payments.money import (
    MAX_MINOR_UNITS,
    MONEY_LOCALES,
    InvalidAmount,
    UnknownCurrency,
    currency_exponent,
    format_money,
    format_plain,
    format_typed,
    money_locale,
    parse_amount,
    parse_typed_amount,
    to_major,
    to_minor,
)

NBSP = "\u00a0"
DIGITS_ONLY = "Enter the amount in digits, for example 12.50."
POINT_FOR_DECIMALS = "Use a point for decimals, for example 12.50."
NOT_POSITIVE = "The amount must be greater than zero."
TOO_LARGE = "That amount is too large."


@pytest.mark.parametrize(
    ("currency", "exponent"), [("JPY", 0), ("EUR", 2), ("NOK", 2), ("KWD", 3)]
)
def test_each_currency_has_its_own_number_of_decimals(currency, exponent):
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12.5", "EUR", 1250),
        ("12", "EUR", 1200),
        ("0.01", "EUR", 1),
        ("0012.50", "EUR", 1250),
        ("  12.50  ", "EUR", 1250),
        ("1250.00", "NOK", 125000),
        ("1250", "JPY", 1250),
        ("1", "JPY", 1),
        ("1.234", "KWD", 1234),
        ("1.2", "KWD", 1200),
        ("0.001", "KWD", 1),
        ("10000000000000.00", "EUR", MAX_MINOR_UNITS),
        ("1000000000000000", "JPY", MAX_MINOR_UNITS),
        ("1000000000000.000", "KWD", MAX_MINOR_UNITS),
    ],
)
def test_accepted_amounts_become_exact_minor_units(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        # More decimals than the currency has.
        ("12.505", "EUR", "EUR amounts have at most 2 decimals."),
        ("12.500", "NOK", "NOK amounts have at most 2 decimals."),
        ("1.2345", "KWD", "KWD amounts have at most 3 decimals."),
        ("1250.0", "JPY", "JPY amounts have no decimals."),
        ("1250.5", "JPY", "JPY amounts have no decimals."),
        # Negative or zero.
        ("-1", "EUR", NOT_POSITIVE),
        ("-0.01", "KWD", NOT_POSITIVE),
        ("0", "EUR", NOT_POSITIVE),
        ("0.00", "EUR", NOT_POSITIVE),
        ("0.000", "KWD", NOT_POSITIVE),
        ("0", "JPY", NOT_POSITIVE),
        # Nothing at all.
        ("", "EUR", "Enter an amount."),
        ("   ", "EUR", "Enter an amount."),
        (None, "EUR", "Enter an amount."),
        # Not a number.
        ("abc", "EUR", DIGITS_ONLY),
        ("12 EUR", "EUR", DIGITS_ONLY),
        ("€12", "EUR", DIGITS_ONLY),
        ("+12", "EUR", DIGITS_ONLY),
        ("12.", "EUR", DIGITS_ONLY),
        (".50", "EUR", DIGITS_ONLY),
        ("1.2.3", "EUR", DIGITS_ONLY),
        ("0x10", "EUR", DIGITS_ONLY),
        ("1_000", "EUR", DIGITS_ONLY),
        # Exponents, which Decimal and float would both take.
        ("1e3", "EUR", DIGITS_ONLY),
        ("1E3", "JPY", DIGITS_ONLY),
        ("1.5e-2", "KWD", DIGITS_ONLY),
        # NaN and infinities, in the spellings Decimal and float know.
        ("NaN", "EUR", DIGITS_ONLY),
        ("nan", "EUR", DIGITS_ONLY),
        ("sNaN", "EUR", DIGITS_ONLY),
        ("Infinity", "EUR", DIGITS_ONLY),
        ("inf", "NOK", DIGITS_ONLY),
        # Digits of other scripts, which int() and Decimal() would read as 12.
        ("١٢", "EUR", DIGITS_ONLY),  # Arabic-Indic
        ("۱۲", "EUR", DIGITS_ONLY),  # Extended Arabic-Indic
        ("१२", "EUR", DIGITS_ONLY),  # Devanagari
        ("１２", "JPY", DIGITS_ONLY),  # full-width
        ("²", "EUR", DIGITS_ONLY),
        # Thousands separators, and a comma for decimals.
        ("1,250.00", "NOK", DIGITS_ONLY),
        ("1 250.00", "NOK", DIGITS_ONLY),
        (f"1{NBSP}250", "NOK", DIGITS_ONLY),
        ("1'250.00", "EUR", DIGITS_ONLY),
        ("12,50", "EUR", POINT_FOR_DECIMALS),
        ("1,234", "KWD", POINT_FOR_DECIMALS),
        # Without decimals, a comma can only be a thousands separator.
        ("1,250", "JPY", "Write JPY amounts in digits only, for example 1250."),
        # Absurd sizes: just over the limit, and far over it.
        ("10000000000000.01", "EUR", TOO_LARGE),
        ("1000000000000001", "JPY", TOO_LARGE),
        ("1000000000000.001", "KWD", TOO_LARGE),
        ("9" * 30, "EUR", TOO_LARGE),
        ("1" * 10_000, "EUR", TOO_LARGE),
    ],
)
def test_refused_amounts_say_why(text, currency, message):
    with pytest.raises(InvalidAmount) as refused:
        parse_amount(text, currency)

    assert str(refused.value) == message


def test_zero_is_accepted_only_where_asked_for():
    assert parse_amount("0.00", "EUR", allow_zero=True) == 0
    assert parse_amount("0", "JPY", allow_zero=True) == 0
    with pytest.raises(InvalidAmount, match="greater than zero"):
        parse_amount("-0", "EUR", allow_zero=True)


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        ("XYZ", "XYZ is not a known currency."),
        ("ABC", "ABC is not a known currency."),
        ("eur", "Use a three-letter ISO 4217 currency code, such as EUR."),
        ("EURO", "Use a three-letter ISO 4217 currency code, such as EUR."),
        ("", "Use a three-letter ISO 4217 currency code, such as EUR."),
        (None, "Use a three-letter ISO 4217 currency code, such as EUR."),
    ],
)
def test_an_unknown_currency_is_refused_whatever_the_amount(currency, message):
    for call in (
        lambda: parse_amount("12", currency),
        lambda: to_minor(Decimal("12"), currency),
        lambda: to_major(1200, currency),
        lambda: format_money(1200, currency),
    ):
        with pytest.raises(UnknownCurrency) as refused:
            call()
        assert str(refused.value) == message


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("12.50"), "EUR", 1250),
        (Decimal("0.1") + Decimal("0.2"), "EUR", 30),
        (12, "EUR", 1200),
        (Decimal("12.0"), "JPY", 12),
        (Decimal("1.234"), "KWD", 1234),
        (Decimal("9999999999999.99"), "NOK", 999_999_999_999_999),
        (Decimal("1E+3"), "EUR", 100_000),
        (Decimal("-5.00"), "EUR", -500),
    ],
)
def test_to_minor_is_exact(amount, currency, minor):
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        (Decimal("1.005"), "EUR", "EUR amounts have at most 2 decimals."),
        (Decimal("12.5"), "JPY", "JPY amounts have no decimals."),
        (Decimal("1.2345"), "KWD", "KWD amounts have at most 3 decimals."),
        (12.5, "EUR", "Amounts must not be floating-point numbers."),
        (0.1, "EUR", "Amounts must not be floating-point numbers."),
        (Decimal("NaN"), "EUR", DIGITS_ONLY),
        (Decimal("Infinity"), "EUR", DIGITS_ONLY),
        (Decimal("-Infinity"), "EUR", DIGITS_ONLY),
        (Decimal("1E+16"), "EUR", TOO_LARGE),
    ],
)
def test_to_minor_never_rounds_and_never_takes_floats(amount, currency, message):
    with pytest.raises(InvalidAmount) as refused:
        to_minor(amount, currency)

    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("minor", "currency", "major"),
    [
        (125000, "NOK", "1250.00"),
        (1, "EUR", "0.01"),
        (0, "EUR", "0.00"),
        (1250, "JPY", "1250"),
        (1, "KWD", "0.001"),
        (1234, "KWD", "1.234"),
        (1000, "KWD", "1.000"),
    ],
)
def test_to_major_and_format_plain_keep_every_decimal_of_the_currency(minor, currency, major):
    assert to_major(minor, currency) == Decimal(major)
    assert str(to_major(minor, currency)) == major
    assert format_plain(minor, currency) == major


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (125000, "NOK", "1,250.00 NOK"),
        (123456789, "EUR", "1,234,567.89 EUR"),
        (5, "EUR", "0.05 EUR"),
        (0, "EUR", "0.00 EUR"),
        (1250, "JPY", "1,250 JPY"),
        (1234567, "JPY", "1,234,567 JPY"),
        (1234, "KWD", "1.234 KWD"),
        (1234567, "KWD", "1,234.567 KWD"),
        (1, "KWD", "0.001 KWD"),
    ],
)
def test_format_money_groups_digits_keeps_the_currency_decimals_and_names_it(minor, currency, shown):
    # The code is kept on the amount's line by a no-break space.
    assert format_money(minor, currency) == shown.replace(" ", NBSP)


def test_format_money_follows_the_configured_locale(settings):
    settings.MONEY_LOCALE = "de"

    assert format_money(125000, "NOK") == f"1.250,00{NBSP}NOK"
    assert format_money(1234567, "KWD") == f"1.234,567{NBSP}KWD"


CURRENCIES = st.sampled_from(["JPY", "EUR", "NOK", "KWD"])


@hypothesis_settings(max_examples=500, deadline=None, database=None)
@given(
    minor=st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS),
    currency=st.sampled_from(["JPY", "EUR", "NOK", "SEK", "DKK", "USD", "AUD", "GBP", "KWD", "CLF"]),
    # The desk's own locales, and others MONEY_LOCALE may name: spaces, apostrophes, other symbols.
    locale=st.sampled_from([*MONEY_LOCALES, "fr", "de_CH", "en_IN", "pt_PT", "es", "ar", "hi", "fa"]),
)
def test_format_money_writes_what_babel_writes_with_the_display_pattern(minor, currency, locale):
    # format_money writes the amount itself, for speed; babel's formatter is the reference.
    expected = format_currency(
        to_major(minor, currency), currency, format="#,##0.00\u00a0¤¤", locale=locale, currency_digits=True
    )

    with money_locale(locale):
        assert format_money(minor, currency) == expected


@hypothesis_settings(max_examples=300, deadline=None, database=None)
@given(minor=st.integers(min_value=1, max_value=MAX_MINOR_UNITS), currency=CURRENCIES)
def test_what_is_written_out_reads_back_as_the_same_amount(minor, currency):
    assert parse_amount(format_plain(minor, currency), currency) == minor
    assert to_minor(to_major(minor, currency), currency) == minor


@hypothesis_settings(max_examples=300, deadline=None, database=None)
@given(minor=st.integers(min_value=0, max_value=MAX_MINOR_UNITS), currency=CURRENCIES)
def test_what_is_shown_is_the_plain_amount_grouped_by_thousands(minor, currency):
    shown = format_money(minor, currency)

    number, code = shown.split(NBSP)
    assert code == currency
    assert number.replace(",", "") == format_plain(minor, currency)
    whole = number.split(".")[0]
    assert all(len(group) == 3 for group in whole.split(",")[1:])
    assert 1 <= len(whole.split(",")[0]) <= 3


# Amounts as agents type them, in their locale (parse_typed_amount) ----------------------------

COMMA_LOCALES = ["nb", "da", "sv", "de"]


@pytest.mark.parametrize("locale", COMMA_LOCALES)
@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12,50", "NOK", 1250),
        ("12,5", "NOK", 1250),
        ("12", "NOK", 1200),
        ("1 234,50", "NOK", 123450),
        (f"1{NBSP}234,50", "NOK", 123450),
        ("1\u202f234,50", "NOK", 123450),  # the narrow no-break space some systems group with
        ("1.234,50", "NOK", 123450),
        ("1234,50", "NOK", 123450),
        ("1.234.567,89", "EUR", 123456789),
        ("1 234 567", "EUR", 123456700),
        ("1.234", "EUR", 123400),  # grouped: 1.234 euros cannot be written with three decimals
        ("1 234", "JPY", 1234),
        ("1,234", "KWD", 1234),
        # The currency's sign or code before or after the number.
        ("kr 12,50", "NOK", 1250),
        ("12,50 kr", "NOK", 1250),
        ("NOK 1 234,50", "NOK", 123450),
        ("1.234,50 nok", "NOK", 123450),
        ("12,50 kr.", "DKK", 1250),
        ("12,50 €", "EUR", 1250),
        ("€12,50", "EUR", 1250),
        ("EUR12", "EUR", 1200),
    ],
)
def test_agents_in_comma_locales_type_amounts_as_they_write_them(locale, text, currency, minor):
    assert parse_typed_amount(text, currency, locale=locale) == minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("1,234.50", "EUR", 123450),
        ("1 234.50", "EUR", 123450),
        ("1234.5", "EUR", 123450),
        ("1,234", "EUR", 123400),
        ("1,234,567.89", "USD", 123456789),
        ("$12.50", "USD", 1250),
        ("US$ 12.50", "USD", 1250),
        ("12.50 usd", "USD", 1250),
        ("£1,234.50", "GBP", 123450),
        ("A$ 12.50", "AUD", 1250),
        ("1,250", "JPY", 1250),
        ("¥1,250", "JPY", 1250),
        ("1.234", "KWD", 1234),
    ],
)
def test_agents_in_english_type_amounts_as_they_write_them(text, currency, minor):
    assert parse_typed_amount(text, currency, locale="en") == minor


@pytest.mark.parametrize(
    ("locale", "text", "currency", "message"),
    [
        # A point for decimals where a comma is written, and the other way round: two readings.
        ("nb", "12.50", "NOK", f"“12.50” is not written as amounts are here: did you mean 1{NBSP}250,00 or 12,50? "
                               f"Write amounts like 1{NBSP}234,50."),
        ("de", "12.50", "EUR", "“12.50” is not written as amounts are here: did you mean 1.250,00 or 12,50? "
                               "Write amounts like 1.234,50."),
        ("en", "12,50", "EUR", "“12,50” is not written as amounts are here: did you mean 1,250.00 or 12.50? "
                               "Write amounts like 1,234.50."),
        ("en", "1.234,50", "EUR", "“1.234,50” is not written as amounts are here: did you mean 1,234.50? "
                                  "Write amounts like 1,234.50."),
        ("sv", "1 234.50", "SEK", f"“1 234.50” is not written as amounts are here: did you mean 123{NBSP}450,00 or "
                                  f"1{NBSP}234,50? Write amounts like 1{NBSP}234,50."),
        ("de", "1.23.4", "EUR", "“1.23.4” is not written as amounts are here: did you mean 1.234,00? "
                                "Write amounts like 1.234,50."),
        # Three decimals, or a grouping of three: with a three-decimal currency, both are amounts.
        ("en", "1,234", "KWD", "“1,234” can be read two ways: write 1,234.000 or 1.234."),
        ("de", "1.234", "KWD", "“1.234” can be read two ways: write 1.234,000 or 1,234."),
        # More decimals than the currency has, counted as written.
        ("de", "12,500", "EUR", "EUR amounts have at most 2 decimals. Write amounts like 1.234,50."),
        ("en", "12.505", "EUR", "EUR amounts have at most 2 decimals. Write amounts like 1,234.50."),
        ("nb", "1 234,5", "JPY", f"JPY amounts have no decimals. Write amounts like 1{NBSP}234."),
        # Another currency's code; signs and words that are no amount.
        ("en", "USD 12.50", "EUR", "This payment is in EUR, not USD."),
        ("nb", "12,50 SEK", "NOK", "This payment is in NOK, not SEK."),
        ("en", "$12.50", "EUR", "Enter the amount in digits, for example 1,234.50."),
        ("en", "€", "EUR", "Enter the amount in digits, for example 1,234.50."),
        ("en", "twelve", "EUR", "Enter the amount in digits, for example 1,234.50."),
        ("nb", "12,", "NOK", f"Enter the amount in digits, for example 1{NBSP}234,50."),
        ("nb", ",50", "NOK", f"Enter the amount in digits, for example 1{NBSP}234,50."),
        ("en", "1e3", "EUR", "Enter the amount in digits, for example 1,234.50."),
        ("en", "NaN", "EUR", "Enter the amount in digits, for example 1,234.50."),
        ("en", "Infinity", "EUR", "Enter the amount in digits, for example 1,234.50."),
        ("en", "١٢", "EUR", "Enter the amount in digits, for example 1,234.50."),
        ("en", "１２", "JPY", "Enter the amount in digits, for example 1,234."),
        ("en", "1'234.50", "EUR", "Enter the amount in digits, for example 1,234.50."),
        ("en", "1_000", "EUR", "Enter the amount in digits, for example 1,234.50."),
        ("en", "+12", "EUR", "Enter the amount in digits, for example 1,234.50."),
        # Nothing, zero, less than nothing, too much.
        ("en", "  ", "EUR", "Enter an amount."),
        ("en", None, "EUR", "Enter an amount."),
        ("nb", "0,00", "NOK", NOT_POSITIVE),
        ("en", "-5", "EUR", NOT_POSITIVE),
        ("nb", "kr -5", "NOK", NOT_POSITIVE),
        ("nb", "\u221212,50", "NOK", NOT_POSITIVE),
        ("en", "10,000,000,000,000.01", "EUR", "That amount is too large. Write amounts like 1,234.50."),
        ("en", "9" * 41, "EUR", TOO_LARGE),
    ],
)
def test_typed_amounts_that_are_ambiguous_or_wrong_are_refused_with_how_to_write_them(
    locale, text, currency, message
):
    with pytest.raises(InvalidAmount) as refused:
        parse_typed_amount(text, currency, locale=locale)

    assert str(refused.value) == message


def test_typed_amounts_are_read_in_the_current_locale(settings):
    settings.MONEY_LOCALE = "en"
    assert parse_typed_amount("1,234.50", "EUR") == 123450

    with money_locale("nb"):
        assert parse_typed_amount("1.234,50", "EUR") == 123450
        assert format_money(123450, "EUR") == f"1{NBSP}234,50{NBSP}EUR"
        assert format_typed(123450, "EUR") == f"1{NBSP}234,50"
    with money_locale(None):  # nobody's own choice: MONEY_LOCALE
        assert format_typed(123450, "EUR") == "1,234.50"


@hypothesis_settings(max_examples=200, deadline=None, database=None)
@given(
    minor=st.integers(min_value=1, max_value=MAX_MINOR_UNITS),
    currency=CURRENCIES,
    locale=st.sampled_from(sorted(MONEY_LOCALES)),
)
def test_what_is_filled_in_for_an_agent_reads_back_as_the_same_amount(minor, currency, locale):
    typed = format_typed(minor, currency, locale=locale)
    if currency == "KWD" and typed.count(".") + typed.count(",") == 1 and typed[-4] in ".,":
        # "1,234" in en: a grouping of three or three decimals, which the agent is asked about.
        return
    assert parse_typed_amount(typed, currency, locale=locale) == minor
