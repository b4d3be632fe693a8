"""Ligature repair: code points with a known meaning mapped, U+FFFD ligatures completed from known words,
what is left counted, and the repairs recorded per page and in the store."""

from __future__ import annotations

import pytest
from test_loaders import SHARED_RELEASES

from synthtune.ingest.loaders.ligatures import Repairs, known_words, repair


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("\ufffdnancial results for the \ufffdrst quarter", "financial results for the first quarter"),
        ("cash \ufffdow and e\ufffdective tax", "cash flow and effective tax"),
        ("O\ufffdcer and tari\ufffds", "Officer and tariffs"),
        ("a write-o\ufffd of in\ufffdation", "a write-off of inflation"),
    ],
)
def test_unmapped_ligatures_are_completed_from_known_words(broken: str, fixed: str) -> None:
    text, repairs = repair(broken)

    assert text == fixed
    assert repairs == Repairs(ligatures=broken.count("\ufffd"))


def test_the_document_s_own_words_decide_what_the_list_does_not_know() -> None:
    assert repair("the Zy\ufffdvo fund")[0] == "the Zy\ufffdvo fund"  # no known word: left as it is
    assert repair("the Zy\ufffdvo fund", known_words("Zyflvo Capital"))[0] == "the Zyflvo fund"


def test_presentation_forms_and_symbol_font_bullets_are_mapped() -> None:
    text, repairs = repair("\uf0b7 \ufb01rst \ufb02oor, \ufb00ect, \uf001le")

    assert text == "\u2022 first floor, ffect, file"
    assert repairs == Repairs(mapped=5)


def test_an_unexplained_replacement_character_is_counted_not_guessed() -> None:
    text, repairs = repair("price \ufffd 12 and x\ufffd")

    assert text == "price \ufffd 12 and x\ufffd"
    assert repairs.to_json() == {"unrepaired": 2}


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_RELEASES.is_dir(), reason="needs ../shared/data/earnings_releases")
def test_releases_with_unmapped_ligatures_are_searchable_by_the_words(make_project) -> None:
    p = make_project()
    report = p.ingest(
        [SHARED_RELEASES / "EBAY_2023Q1_EARNINGS.pdf", SHARED_RELEASES / "COSTCO_2023Q1_EARNINGS.pdf"]
    )

    assert report.added == 2
    for doc in p.documents():
        pages = p.store.pages(doc.id)
        assert not any("\ufffd" in pg.text for pg in pages)
        assert sum(pg.metadata.get("repairs", {}).get("ligatures", 0) for pg in pages) > 20
    hits = p.search("eBay first quarter financial results", mode="lexical")
    assert hits and "eBay" in hits[0].title
