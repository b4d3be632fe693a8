"""Refusals: answers that say the information is not available instead of answering.

Pure functions: no store, no model.
"""

from __future__ import annotations

import re

from synthtune.text.clean import nfkc, strip_think

_SOURCE = (
    r"(?:provided |given |available |above |supplied |retrieved |following |cited )?"
    r"(?:documents?|context|texts?|passages?|sources?|excerpts?|information|data|materials?|"
    r"filings?|transcripts?|reports?|releases?|records?|snippets?)"
)
_VERBS_SAY = (
    r"(?:say|state|mention|specify|provide|include|contain|disclose|indicate|give|discuss|report|address|"
    r"cover|reveal|list|offer|describe|talk about|have (?:any |enough |the |this |that )?(?:information|details|data))"
)
_REFUSALS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        # the documents (provided) do not say
        r"\b"
        + _SOURCE
        + r"(?:\s+(?:provided|given|available|above|here|supplied))?\s+(?:do|does|did)\s*(?:not|n't)\s+"
        r"(?:explicitly\s+|specifically\s+|directly\s+|clearly\s+)?" + _VERBS_SAY + r"\b",
        # not mentioned in the context
        r"\bnot\s+(?:explicitly\s+|specifically\s+|directly\s+|clearly\s+)?(?:mentioned|stated|specified|"
        r"provided|disclosed|given|available|included|reported|addressed|discussed|found|covered|said|"
        r"indicated|present|listed|described)\s+(?:in|within|by|from|anywhere in)\s+(?:the|this|these|any)\s+"
        + _SOURCE,
        # the information is not available
        r"\b(?:information|details?|data|answer)\s+(?:is|are|was|were)\s+(?:not|n't)\s+(?:explicitly\s+|"
        r"specifically\s+)?(?:mentioned|stated|specified|provided|available|given|disclosed|included|known|"
        r"present|reported)\b",
        r"\b(?:this|that|it)\s+(?:is|was)\s+(?:not|n't)\s+(?:explicitly\s+|specifically\s+)?"
        r"(?:mentioned|stated|specified|known)\b",
        # "The CEO's favourite colour is not specified."
        r"\b(?:is|are|was|were|has|have)(?:\s+been)?\s*(?:not|n't)\s+(?:been\s+)?(?:explicitly\s+|specifically\s+|"
        r"directly\s+|clearly\s+)?(?:specified|mentioned|stated)\b",
        # a bare "Not mentioned." / "Unknown" / "N/A"
        r"^\W*(?:(?:it is |this is )?not\s+(?:mentioned|stated|specified|provided|available|given|disclosed|"
        r"known)|unknown|n/?a|none|no answer|unanswerable|not applicable)\W*$",
        # I don't know / I cannot find / I'm unable to
        r"\b(?:i|we)\s+(?:do not|don't|dont|cannot|can't|can not|could not|couldn't|am unable to|"
        r"are unable to|was unable to|have no way to)\s+(?:know|find|determine|answer|tell|say|provide|"
        r"locate|see|identify|confirm|verify|access|have (?:enough |any |the |sufficient )?"
        r"(?:information|data|details|context|access))\b",
        r"\b(?:i|we)(?:'m| am| are)\s+(?:not (?:sure|certain|aware|able)|unable|sorry)\b",
        r"\b(?:i|we) (?:apologi[sz]e|have no (?:information|data|details|knowledge))\b",
        r"\bunable to (?:find|determine|answer|locate|identify|provide)\b",
        # cannot be determined (from the provided context)
        r"\b(?:cannot|can't|can not|could not|couldn't)\s+be\s+(?:determined|found|answered|inferred|"
        r"established|verified|derived|known|calculated|identified|confirmed)\b",
        r"\b(?:not possible|impossible)\s+to\s+(?:determine|tell|say|know|answer|infer|find|calculate|"
        r"identify|confirm|verify)\b",
        # no information about / no mention of
        r"\bno\s+(?:specific\s+|explicit\s+|relevant\s+|available\s+|such\s+|direct\s+)?(?:information|"
        r"mention|data|details?|indication|reference|record|figures?|answer)\s+(?:about|on|regarding|of|is|"
        r"was|in|to|for|given|provided|available|concerning|related)\b",
        r"\b(?:insufficient|not enough|no sufficient|inadequate)\s+(?:information|context|data|details)\b",
        r"\b(?:outside|beyond)\s+(?:the\s+)?scope\s+of\s+(?:the|this|these)\s+" + _SOURCE,
        r"\bthe answer is not (?:in|available|present|provided|given|known)\b",
        r"\b(?:is|are|was|were|'s)\s+not\s+(?:in|part of|among)\s+(?:the|these|this|any)\s+" + _SOURCE,
    )
]


def is_refusal(text: str) -> bool:
    """Whether an answer says the information is not available rather than answering.

    Matches "The documents do not say", "not mentioned in the context", "I don't know", "cannot be
    determined from the provided text", "There is no information about ..."; an answer that only
    contains a negation ("Revenue did not decline; it rose 5%") is not a refusal.
    """
    text = nfkc(strip_think(text)).strip()
    if not text:
        return False
    return any(p.search(text) for p in _REFUSALS)
