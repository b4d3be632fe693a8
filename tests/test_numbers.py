"""Number extraction, normalisation and the grounding check (synthtune.text.numbers)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthtune.text.numbers import (
    Num,
    detect_scale,
    extract_numbers,
    number_supported,
    unsupported_numbers,
)

# A page of the demo corpus's Q3 earnings release, as pypdfium2 extracts it.
Q3_TABLE = """Condensed Consolidated Statements of Operations (unaudited)
($ in millions, except per share data)
Three months
ended Sep 30,
2025
Three months
ended Sep 30,
2024
Nine months
ended Sep 30,
2025
Nine months
ended Sep 30,
2024
Revenue 152.2 121.9 427.2 345.1
Operating income (loss) 9.4 1.1 18.4 (3.5)
Interest and other income (expense), net (0.4) 1.4 1.9 4.5
Net income (loss) 7.1 1.2 16.0 (1.7)
Net income (loss) per share, diluted $0.16 $0.03 $0.37 $(0.04)
Gross margin 43.4% 39.9% 42.3% 39.2%
Operating margin 6.2% 0.9% 4.3% (1.0)%
Key Operating Metrics
Robots shipped (units) 1,210 1,140 975
Full-time employees 1,385 1,310 1,150
"""

Q3_PROSE = (
    "AUSTIN, Texas, October 28, 2025 - Acme Robotics, Inc. (Nasdaq: ACMR) today reported results for its third "
    "quarter of fiscal 2025, which ended September 30, 2025. Total revenue was $152.2 million, an increase of "
    "24.9% from $121.9 million in the third quarter of fiscal 2024. Adjusted EBITDA(2) was $22.6 million. "
    "Cash provided by operating activities was $18.3 million, resulting in free cash flow(3) of negative $11.5 "
    "million. Management will host a conference call today, October 28, 2025, at 4:30 p.m. Eastern Time."
)


def values(text: str, **kwargs) -> list[Decimal]:
    return [n.value for n in extract_numbers(text, **kwargs)]


def one(text: str) -> Num:
    nums = extract_numbers(text)
    assert len(nums) == 1, nums
    return nums[0]


# --------------------------------------------------------------------------------------------------
# extraction


@pytest.mark.parametrize(
    "text",
    [
        "$5.1 billion",
        "5,100 million",
        "5.1B",
        "$5.1bn",
        "USD 5.1 billion",
        "5.1 billion USD",
        "US$5.1 bn",
        "5100000000",
    ],
)
def test_the_same_amount_written_many_ways(text):
    assert one(text).value == Decimal("5.1e9")


@pytest.mark.parametrize(
    ("text", "value", "kind", "currency"),
    [
        ("€3.2m", Decimal("3.2e6"), "currency", "EUR"),
        ("£40k", Decimal("40000"), "currency", "GBP"),
        ("$2.5 trillion", Decimal("2.5e12"), "currency", "USD"),
        ("1.2 thousand", Decimal("1200"), "plain", None),
        ("1,234,567", Decimal("1234567"), "plain", None),
        ("diluted EPS of 0.37", Decimal("0.37"), "plain", None),
        ("$0.16 per diluted share", Decimal("0.16"), "currency", "USD"),
        ("12.5%", Decimal("12.5"), "percent", None),
        ("12.5 %", Decimal("12.5"), "percent", None),
        ("12.5 percent", Decimal("12.5"), "percent", None),
        ("12.5 per cent", Decimal("12.5"), "percent", None),
        ("up 3.2 percentage points", Decimal("3.2"), "percent", None),
        ("margin expanded 150 basis points", Decimal("1.5"), "percent", None),
        ("150bps", Decimal("1.5"), "percent", None),
        ("leverage of 3.5x", Decimal("3.5"), "plain", None),
        ("two new products", Decimal(2), "plain", None),
        ("twenty-five sites", Decimal(25), "plain", None),
        ("three million robots", Decimal("3e6"), "plain", None),
        ("a 1,200-robot order", Decimal(1200), "plain", None),
    ],
)
def test_values_kinds_and_currencies(text, value, kind, currency):
    num = one(text)
    assert (num.value, num.kind, num.currency) == (value, kind, currency)


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("(3.5)", "(3.5)"),
        ("-3.5", "-3.5"),
        ("\u22123.5", "\u22123.5"),  # unicode minus
        ("loss of -$3.5", "-$3.5"),
        ("$-3.5", "$-3.5"),
        ("$(3.5)", "$(3.5)"),
        ("($3.5)", "($3.5)"),
        ("negative $3.5", "negative $3.5"),
    ],
)
def test_negatives(text, raw):
    num = one(text)
    assert abs(num.value) == Decimal("3.5") and num.value < 0
    assert num.raw == raw
    assert text[num.span[0] : num.span[1]] == raw


def test_negative_percent_in_parentheses_both_ways():
    assert values("(1.0)% and (2.5%)") == [Decimal(-1), Decimal("-2.5")]
    assert [n.kind for n in extract_numbers("(1.0)% and (2.5%)")] == ["percent", "percent"]


@pytest.mark.parametrize(
    "text",
    [
        "in 2025",
        "fiscal 2025",
        "FY2025",
        "FY25",
        "Q3",
        "3Q25",
        "Q3 FY2025",
        "the third quarter",
        "the 3rd quarter",
        "October 28, 2025",
        "28 October 2025",
        "Sep 30, 2025",
        "2025-07-29",
        "7/29/2025",
        "at 4:30 p.m. Eastern Time",
        "Three months ended Sep 30, 2025",
        "nine months ended September 30",
        "Form 10-K",
        "Strider X2 and S2",
        "Conductor 4.2.1",
        "Adjusted EBITDA(2)",
        "(1) Non-GAAP measure",
        "2024-2025",
        "one of the largest orders",
    ],
)
def test_years_dates_labels_and_ordinals_are_not_facts(text):
    assert extract_numbers(text) == []


def test_a_hyphen_between_numbers_is_not_a_minus():
    assert values("revenue grew 3-5% in 2024-2025") == [Decimal(3), Decimal(5)]
    assert [n.kind for n in extract_numbers("3-5%")] == ["percent", "percent"]


def test_ranges_share_the_unit_written_after_the_second_bound():
    assert values("$5.1 to $5.3 billion") == [Decimal("5.1e9"), Decimal("5.3e9")]
    assert values("between 3 and 5 percent") == [Decimal(3), Decimal(5)]
    assert values("$158 million to $165 million") == [Decimal("1.58e8"), Decimal("1.65e8")]


def test_a_year_written_as_an_amount_is_kept():
    assert values("$2025 and 2,025 robots") == [Decimal(2025), Decimal(2025)]


def test_precision_is_the_last_written_digit_times_the_scale():
    assert one("$5.1 billion").unit == Decimal("1e8")
    assert one("5,104 million").unit == Decimal("1e6")
    assert one("24.9%").unit == Decimal("0.1")
    assert one("$0.37").unit == Decimal("0.01")
    assert one("$5.1 billion").mantissa == Decimal("5.1")


def test_spans_point_at_the_raw_text():
    text = "Revenue was $152.2 million, up 24.9%, and EPS was $0.16."
    nums = extract_numbers(text)
    assert [n.raw for n in nums] == ["$152.2 million", "24.9%", "$0.16"]
    for n in nums:
        assert text[n.span[0] : n.span[1]] == n.raw
    assert float(nums[0]) == 152.2e6


def test_financial_table_row():
    assert values("Operating income (loss) 9.4 1.1 18.4 (3.5)") == [
        Decimal("9.4"),
        Decimal("1.1"),
        Decimal("18.4"),
        Decimal("-3.5"),
    ]
    assert values("Net income (loss) per share, diluted $0.16 $0.03 $0.37 $(0.04)") == [
        Decimal("0.16"),
        Decimal("0.03"),
        Decimal("0.37"),
        Decimal("-0.04"),
    ]


def test_prose_from_an_earnings_release():
    nums = extract_numbers(Q3_PROSE)
    assert [n.raw for n in nums] == [
        "$152.2 million",
        "24.9%",
        "$121.9 million",
        "$22.6 million",
        "$18.3 million",
        "negative $11.5 million",
    ]
    assert nums[-1].value == Decimal("-11.5e6")


def test_default_scale_applies_to_numbers_without_their_own():
    nums = extract_numbers("Revenue 152.2 and margin 43.4% and $1.2 billion", default_scale=1e6)
    assert [n.value for n in nums] == [Decimal("152.2e6"), Decimal("43.4"), Decimal("1.2e9")]
    assert nums[0].unit == Decimal("1e5")


def test_number_words_can_be_turned_off():
    assert values("two robots and 3 sites", words=False) == [Decimal(3)]


# --------------------------------------------------------------------------------------------------
# scale headers


@pytest.mark.parametrize(
    ("text", "scale"),
    [
        ("($ in millions, except per share data)", 1e6),
        ("(in millions, except per share data)", 1e6),
        ("(In thousands)", 1e3),
        ("Dollars in thousands", 1e3),
        ("amounts in billions", 1e9),
        ("(USD millions)", 1e6),
        ("Weighted-average diluted shares (millions)", 1e6),
        ("in millions of U.S. dollars", 1e6),
        ("(€m)", 1e6),
        ("($000s)", 1e3),
        (Q3_TABLE, 1e6),
        ("Robots are used in millions of homes.", None),
        ("Revenue was $152.2 million.", None),
    ],
)
def test_detect_scale(text, scale):
    assert detect_scale(text) == scale


# --------------------------------------------------------------------------------------------------
# grounding


@pytest.mark.parametrize(
    ("answer", "source"),
    [
        ("$5.1 billion", "Revenue was $5.1 billion."),
        ("$5.1 billion", "Revenue was 5,100 million dollars."),
        ("5.1B", "Revenue was $5,100 million."),
        ("$5.1 billion", "($ in millions)\nRevenue 5,100 4,800"),
        ("$5.1 billion", "Revenue was $5,104 million."),  # rounded to the stated precision
        ("$5.1 billion", "($ in millions)\nRevenue 5,104"),
        ("5,100 million", "Revenue of $5.1 billion"),
        ("24.9%", "up 24.9% year over year"),
        ("25%", "up 24.9% year over year"),
        ("12.5 percent", "grew 12.5%"),
        ("12.5%", "grew 12.5 per cent"),
        ("1.5 percentage points", "margin expanded 150 basis points"),
        ("-3.5", "Operating income (loss) 9.4 1.1 18.4 (3.5)"),
        ("(3.5)", "Operating income (loss) 9.4 1.1 18.4 \u22123.5"),
        ("an operating loss of $3.5 million", "($ in millions)\nOperating income (loss) 9.4 1.1 18.4 (3.5)"),
        ("$0.37", "(in millions, except per share data)\nNet income per share, diluted $0.16 $0.03 $0.37"),
        ("1,210 robots", "(in millions, except per share data)\nRobots shipped (units) 1,210 1,140 975"),
        ("revenue was 152.2", "Revenue was $152.2 million."),  # quoting the written figure
        ("two", "2 new products"),
        ("2 new products", "two new products"),
        ("negative free cash flow of -$11.5 million", "free cash flow(3) of negative $11.5 million"),
        ("€3.2m", "sales of EUR 3.2 million"),
    ],
)
def test_supported(answer, source):
    num = extract_numbers(answer)[0]
    assert number_supported(num, source), (num, source)


@pytest.mark.parametrize(
    ("answer", "source"),
    [
        ("$5.2 billion", "Revenue was $5.1 billion."),
        ("$5.1 million", "Revenue was $5.1 billion."),
        ("$5.104 billion", "Revenue was $5.1 billion."),  # more precise than the source
        ("$5 billion", "Revenue was $5.4 billion."),  # a rounding too coarse to count
        ("12.5%", "a ratio of 0.125"),  # percentages stay percentages
        ("0.125", "grew 12.5%"),
        ("12.5", "grew 12.5%"),
        ("-3.5", "Operating income 3.5"),  # a negative needs a negative
        ("€5.1 billion", "Revenue was $5.1 billion."),  # different currencies
        ("24.8%", "up 24.9% year over year"),
        ("1,200 robots", "shipped 1,210 robots"),
        ("three", "2 new products"),
    ],
)
def test_not_supported(answer, source):
    num = extract_numbers(answer)[0]
    assert not number_supported(num, source), (num, source)


def test_source_scale_can_be_given_or_turned_off():
    num = one("$5.1 billion")
    assert number_supported(num, "Revenue 5,100", source_scale=1e6)
    assert not number_supported(num, "Revenue 5,100", source_scale=1)


def test_rounding_tolerance_is_adjustable():
    num = one("$5 billion")
    assert not number_supported(num, "$5.4 billion")
    assert number_supported(num, "$5.4 billion", max_rounding_error=0.1)


def test_unsupported_numbers_across_cited_texts():
    answer = (
        "In the third quarter revenue was $152.2 million, up 24.9%; operating income was $9.4 million and "
        "diluted EPS was $0.16. Gross margin was 45.1%, and Acme shipped 1,210 robots to 461 customers."
    )
    missing = unsupported_numbers(answer, [Q3_PROSE, Q3_TABLE])
    assert [n.raw for n in missing] == ["45.1%", "461"]


def test_unsupported_numbers_ignores_years_and_quarters():
    answer = "In Q3 FY2025 (the quarter ended September 30, 2025) revenue was $152.2 million."
    assert unsupported_numbers(answer, [Q3_PROSE]) == []
    assert unsupported_numbers(answer, []) == extract_numbers(answer)


def test_answers_without_numbers_are_supported():
    assert unsupported_numbers("Revenue grew because of a record order.", ["nothing"]) == []


# --------------------------------------------------------------------------------------------------
# properties

amounts = st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2, allow_nan=False)
SCALES = {
    "": 1,
    " thousand": 10**3,
    " million": 10**6,
    " billion": 10**9,
    "bn": 10**9,
    "m": 10**6,
    "k": 10**3,
}


@given(amounts, st.sampled_from(sorted(SCALES)), st.sampled_from(["", "$", "USD ", "€"]))
def test_formatting_with_commas_and_scales_parses_back(amount, scale, currency):
    text = f"a total of {currency}{amount:,.2f}{scale} was reported"
    nums = extract_numbers(text)
    assert len(nums) == 1, (text, nums)
    assert nums[0].value == amount * SCALES[scale]
    assert nums[0].raw == text[nums[0].span[0] : nums[0].span[1]]


@given(amounts.filter(lambda d: d > 0))
def test_parenthesised_negative_equals_minus(amount):
    paren, minus = one(f"net ({amount:,.2f}) in the year"), one(f"net -{amount:,.2f} in the year")
    assert paren.value == minus.value == -amount
    assert number_supported(minus, f"net ({amount:,.2f}) in the year")
    assert number_supported(paren, f"net \u2212{amount:,.2f}")


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=3))
def test_a_number_supports_itself_and_close_roundings(cents, places):
    amount = Decimal(cents) / 100
    source = f"revenue of ${amount:,.2f} million"
    assert number_supported(one(source), source)
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    answer = one(f"about ${rounded:,.{places}f} million")
    close = abs(rounded - amount) <= Decimal("0.05") * amount
    assert number_supported(answer, source) == close
    wrong = one(f"about ${rounded + Decimal(1).scaleb(-places):,.{places}f} million")
    assert not number_supported(wrong, source)


def test_a_spaced_dash_in_a_range_is_not_a_minus():
    assert values("revenue of $158 \u2013 $165 million") == [Decimal("1.58e8"), Decimal("1.65e8")]
    assert values("growth of 3 \u2013 5%") == [Decimal(3), Decimal(5)]


def test_recorded_answers_of_the_bundled_model():
    # answers recorded from SmolLM2-135M-Instruct (see tests/test_parsing.py), against their source chunk
    chunk = (
        "In June we signed a contract with Northwind Grocers for 1,200 Strider robots, to be deployed across 18 "
        "of their distribution centers. It is the largest order in Acme's history by a wide margin; our previous "
        "record was a little over 300 robots. Northwind started with a 40-robot pilot in a single building in 2023."
    )
    assert unsupported_numbers("Northwind Grocers ordered 1,200 Strider robots.", [chunk]) == []
    hallucinated = "NorthWind Grosceau ordered 579 Robots! This includes all orders made within six months prior (June 20th)."
    assert [n.raw for n in unsupported_numbers(hallucinated, [chunk])] == ["579", "six"]
