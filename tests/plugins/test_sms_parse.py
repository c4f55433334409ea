"""Reading SMS agents' replies: yes/no with negations and hedges, rewrites out of polite or hostile replies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from medrobust_plugins.imc._sms_parse import parse_rewrite, parse_verdict
from medrobust_plugins.imc._sms_text import Lexicon, meaning_changes


@pytest.mark.parametrize("reply, expected", [
    ("Yes", True), ("yes.", True), (" Yes, it is well written.", True), ("Answer: yes", True),
    ("**Yes**", True), ("There are no typos.", True), ("I don't see any errors.", True),
    ("The question is clear and correct.", True), ("It is typo-free.", True), ("Yes, it contains no errors.", True),
    ("No", False), ("no.", False), ("No, it has spelling mistakes.", False),
    ("The question is not well written.", False), ("The question is not clear.", False),
    ("It contains several typos.", False), ("The question is unclear.", False), ("Not well written.", False),
    ("It needs to be corrected.", False), ("The question isn't correct", False),
    # hedges, contradictions, echoes and babble: no answer
    ("The question is not", None), ("Probably not.", None), ("Maybe", None), ("I think so.", None),
    ("It seems fine.", None), ("Yes, but there is a typo.", None), ("No, the question is well written.", None),
    ("yes or no", None), ("Is this question well written? Answer yes or no.", None), ("yes yes no no", None),
    ("", None), ("   ", None), ("lesion left", None), ("chest", None),
])
def test_verdicts(reply, expected):
    parsed = parse_verdict(reply)
    assert parsed.value is expected, parsed.how
    assert parsed.how


Q = "Is there a lesoin on the lfet?"
FIXED = "Is there a lesion on the left?"


@pytest.mark.parametrize("reply", [
    FIXED, f" {FIXED}\n", f"Sure, here is the corrected question: {FIXED}",
    f"Sure! Here's the corrected question:\n\n\"{FIXED}\"\n\nI fixed the typos 'lesoin' and 'lfet'.",
    f"\u201c{FIXED}\u201d", f"'{FIXED}'", f"`{FIXED}`", f"**{FIXED}**", f"1. {FIXED}", f"- {FIXED}",
    f"{FIXED} (corrected 'lfet' to 'left')", f"{FIXED} I corrected the spelling.",
    f"Corrected question: '{FIXED}' - the words were misspelled.", f"Here you go:\n{FIXED}\nExplanation: typos.",
    f"```\n{FIXED}\n```", f"Certainly. The corrected question is: {FIXED}",
])
def test_rewrites_are_read_out_of_polite_and_explained_replies(reply):
    parsed = parse_rewrite(reply, Q)
    assert parsed.value == FIXED, parsed.how


@pytest.mark.parametrize("reply, why", [
    ("", "empty"), ("  \n ", "empty"), ("I'm sorry, I cannot help with that.", "refusal"),
    ("Sure!", "preamble"), ("Yes", "preamble"), ("Sure, here it is:", "preamble"),
    ("is there lesion left side " * 10, "characters for a"),
])
def test_replies_that_are_not_rewrites(reply, why):
    parsed = parse_rewrite(reply, Q)
    assert parsed.value is None and why in parsed.how


def test_a_question_without_question_mark_keeps_its_own_punctuation():
    q = "Descirbe the lesoin - size and site"
    assert parse_rewrite("Describe the lesion - size and site", q).value == "Describe the lesion - size and site"
    assert parse_rewrite("Describe the lesion (I fixed 'lesoin')", "Descirbe the lesoin").value == \
        "Describe the lesion"


def test_meaning_changes_read_protected_tokens_with_the_lexicon():
    lexicon = Lexicon("is there a lesion on the left right side no not it".split())
    assert meaning_changes(Q, FIXED, lexicon) == []  # "lfet" -> "left" repairs a typo
    assert meaning_changes("Is it 2cm?", "Is it 2 cm?", lexicon) == []
    assert meaning_changes(FIXED, "Is there a lesion on the right?", lexicon) == ["removes 'left'", "adds 'right'"]
    assert meaning_changes("Is there no lesion?", "Is there a lesion?", lexicon) == ["removes 'no'"]
    assert meaning_changes(FIXED, "Is there not a lesion on the left?", lexicon) == ["adds 'not'"]
    assert meaning_changes(FIXED, "Is there a lesion no the left?", lexicon) == ["adds 'no'"]  # "on" is a word


@settings(max_examples=300, deadline=None)
@given(reply=st.text(max_size=300), question=st.text(min_size=1, max_size=80))
def test_any_reply_is_read_or_abstained_on_never_raises(reply, question):
    verdict = parse_verdict(reply)
    assert verdict.value in (True, False, None) and verdict.how
    rewrite = parse_rewrite(reply, question)
    assert rewrite.value is None or (isinstance(rewrite.value, str) and rewrite.value.strip() == rewrite.value
                                     and rewrite.value and "\n" not in rewrite.value)
