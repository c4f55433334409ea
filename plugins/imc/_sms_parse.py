"""Reading SMS agents' replies: a yes/no verdict, or a rewritten question.

A generated reply is untrusted text: it may be polite ("Sure, here is the
corrected question: ..."), quoted, explained, spread over lines, negated ("The
question is not well written"), hedged ("probably"), contradictory, or nonsense.
The parsers return what they can read with certainty and otherwise ``None`` with
the reason, so that the agent abstains (the question stays as it was).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Optional

__all__ = ["Parsed", "parse_verdict", "parse_rewrite"]


@dataclasses.dataclass(frozen=True)
class Parsed:
    """What a reply says (``None``: it could not be read) and how it was read."""

    value: Optional[object]
    how: str


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
                         "\u2032": "'", "`": "'"})
_HEDGES = re.compile(
    r"\b(maybe|perhaps|probably|possibly|likely|unlikely|might|not sure|unsure|uncertain|hard to (?:say|tell)|"
    r"difficult to (?:say|tell)|could be|can't tell|cannot tell|can't say|cannot say|it depends|depends on|somewhat|"
    r"partly|partially|more or less|i think|i believe|i guess|seems?|appears?|arguably|not (?:entirely|completely|"
    r"quite) sure)\b")
_LEAD = re.compile(r"^(?:answer|reply|response|assistant|verdict|a)\s*[:\-]\s*")
_YES = re.compile(r"^(yes|yeah|yep|yup|affirmative|correct|true)\b")
_NO = re.compile(r"^(no|nope|negative|false|incorrect)\b")
# "clean" descriptions: negated, they say the question is noisy
_GOOD = re.compile(r"\b(well[\s-]?written|well[\s-]?formed|well[\s-]?phrased|clearly written|properly written|"
                   r"correctly (?:written|spelled|spelt)|grammatical(?:ly correct)?|clear|correct|fine|ok|okay|"
                   r"readable|understandable|good|error[\s-]?free|typo[\s-]?free|flawless|acceptable)\b")
# "noisy" descriptions: negated ("no typos", "without errors"), they say the question is clean
_BAD = re.compile(r"\b(typos?|misspell(?:ed|ing|ings|t)?|spelling (?:errors?|mistakes?)|errors?|mistakes?|"
                  r"poorly(?: written)?|badly(?: written)?|ungrammatical|garbled|corrupted|noisy|noise|"
                  r"unclear|unreadable|incorrect|wrong|broken|malformed|confusing|nonsense|gibberish|"
                  r"needs? (?:to be )?(?:correct|fix|rewrit)\w*|should be (?:correct|fix|rewrit)\w*)\b")
_NEGATION = frozenset("not no never without isn't isnt aren't arent wasn't doesn't doesnt don't dont didn't cannot "
                      "can't hasn't haven't lacks lack nor neither none nothing zero free".split())
_CLAUSE = re.compile(r"[.;,!:]|\bbut\b|\bhowever\b|\balthough\b|\bthough\b|\bexcept\b")


def _clean(reply: str) -> str:
    text = unicodedata.normalize("NFKC", str(reply)).translate(_QUOTES)
    text = re.sub(r"[*_#>]+", " ", text)  # markdown emphasis, headings, quotes
    return re.sub(r"\s+", " ", text).strip()


def _negated(before: str) -> bool:
    """Is a description negated by one of the four words before it, within its clause?"""
    clause = _CLAUSE.split(before)[-1]
    return any(w in _NEGATION for w in re.findall(r"[a-z']+", clause)[-4:])


def _polarity(text: str) -> tuple[set[bool], list[str]]:
    """The judgements a statement makes: True = well written, False = noisy, with the phrases read.

    Sentences that ask (end with ``?``: an echoed instruction) judge nothing.
    """
    statements = " . ".join(s for s in re.split(r"(?<=[.!?])\s+", text) if not s.rstrip().endswith("?"))
    found: set[bool] = set()
    read: list[str] = []
    for pattern, plain_means_clean in ((_GOOD, True), (_BAD, False)):
        for m in pattern.finditer(statements):
            # "typo-free" / "error free" are good words although they contain a bad one
            if not plain_means_clean and re.match(r"[\s-]?free\b", statements[m.end():]):
                continue
            neg = _negated(statements[:m.start()])
            found.add(plain_means_clean != neg)
            read.append(("not " if neg else "") + m.group(0))
    return found, read


def parse_verdict(reply: str) -> Parsed:
    """``True`` (well written), ``False`` (noisy) or ``None`` (abstain) from a yes/no reply.

    Reads a leading yes/no, or a statement ("The question is not well written",
    "It contains no typos"); a hedge, a contradiction, "yes or no" or no judgement is ``None``.
    """
    text = _LEAD.sub("", _clean(reply).lower())
    if not text:
        return Parsed(None, "empty reply")
    if re.search(r"\byes\W+(?:and|or)\W+no\b|\bno\W+(?:and|or)\W+yes\b", text):
        return Parsed(None, "both yes and no")
    bare = re.findall(r"[a-z']+", re.split(r"[.!?\n]", text)[0])
    if {"yes", "no"} <= set(bare) <= {"yes", "no"}:  # "yes yes no no": a model that babbles
        return Parsed(None, "both yes and no")
    hedge = _HEDGES.search(text)
    if hedge:
        return Parsed(None, f"hedged ({hedge.group(0)!r})")
    m = _YES.match(text) or _NO.match(text)
    lead = None if m is None else bool(_YES.match(text))
    found, read = _polarity(text[m.end():] if m else text)
    if m is not None:
        if found and found != {lead}:
            return Parsed(None, f"contradictory: {m.group(0)!r} then {', '.join(read)}")
        return Parsed(lead, f"leading {m.group(0)!r}")
    if len(found) == 1:
        return Parsed(found.pop(), f"statement: {', '.join(read)}")
    if found:
        return Parsed(None, f"contradictory statement: {', '.join(read)}")
    return Parsed(None, "no yes/no and no judgement of the question")


_PREAMBLE = re.compile(
    r"^(?:sure|certainly|of course|okay|ok|here|here's|here is|the|a|corrected|correct|rewritten|revised|fixed|"
    r"rewrite|rewriting|improved|clean|cleaned|new|question|version|sentence|text|is|are|it|would be|reads|"
    r"without|typos?|errors?|mistakes?|spelling|grammar|the question|answer|output|result|edited|proper|"
    r"properly|written|well|i|have|has|been|corrected it|as follows|follows|below|thing|no problem|absolutely|"
    r"yes|you go|[,!.\-:;'\" ])+$", re.IGNORECASE)
_REFUSAL = re.compile(r"^(?:i'?m sorry|sorry|i cannot|i can't|i am unable|i'm unable|as an ai|unfortunately)\b",
                      re.IGNORECASE)
_EXPLANATION = re.compile(r"\s+(?:\(|\[|-{1,2}\s|—|–|note\b|explanation\b|i (?:corrected|fixed|changed|replaced)|"
                          r"this (?:question|corrects|fixes)|the (?:typo|error|original|correction)|"
                          r"corrections?:|changes?:)", re.IGNORECASE)
_STRIP = "\"' \t*`>-•"


def _unquote(text: str) -> str:
    text = re.sub(r"^\s*(?:[-*•>]|\d+[.)])\s+", "", text).strip()
    for _ in range(3):
        stripped = text.strip()
        if len(stripped) >= 2 and stripped[0] in "\"'`" and stripped[-1] == stripped[0]:
            text = stripped[1:-1]
        else:
            break
    return text.strip()


def _after_preamble(line: str) -> Optional[str]:
    """The text after a polite preamble ("Sure, here is the corrected question: ..."), else the line."""
    head, sep, tail = line.partition(":")
    if sep and _PREAMBLE.match(head.strip()):
        return tail.strip()
    return line


def parse_rewrite(reply: str, question: str, max_growth: float = 2.0) -> Parsed:
    """The rewritten question in a reply, or ``None`` with the reason.

    Drops a polite preamble, quotes, list markers and a trailing explanation, and
    picks the line that reads as the question (ending like the original when it
    ends with ``?``). A refusal, a bare yes/no or a reply much longer than the
    question (``max_growth`` times its length plus 20 characters) is not a rewrite.
    """
    text = unicodedata.normalize("NFC", str(reply)).replace("\r", "\n")
    text = re.sub(r"```\w*", "\n", text).translate(_QUOTES)
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if not lines:
        return Parsed(None, "empty reply")
    if _REFUSAL.match(_unquote(lines[0])):
        return Parsed(None, "refusal")
    candidates: list[str] = []
    for line in lines:
        body = _after_preamble(line)
        if body and not (body is line and _PREAMBLE.match(line)):  # else a preamble alone: look further
            body = _unquote(body)
            if body:
                candidates.append(body)
    if not candidates:
        return Parsed(None, "only a preamble")
    wants_q = question.rstrip().endswith("?")
    pick = next((c for c in candidates if "?" in c), candidates[0]) if wants_q else candidates[0]
    how = "line with '?'" if wants_q and "?" in pick else "first line"
    n_marks = max(1, question.count("?"))
    if wants_q and pick.count("?") >= n_marks:
        cut = [m.end() for m in re.finditer(r"\?", pick)][n_marks - 1]
        if pick[cut:].strip():
            how += ", explanation after '?' dropped"
        pick = pick[:cut]
    else:
        m = _EXPLANATION.search(pick)
        if m and m.start() > 0 and m.group(0).strip().lower() not in question.lower():
            pick = pick[:m.start()]
            how += ", explanation dropped"
    pick = _unquote(pick.strip(" \t")).strip(_STRIP.replace("-", "")).strip()
    pick = re.sub(r"\s+", " ", pick)
    if not pick:
        return Parsed(None, "nothing left after the preamble and quotes")
    if re.fullmatch(r"(?i)(yes|no)[.!]?", pick):
        return Parsed(None, "a yes/no, not a rewrite")
    if len(pick) > max_growth * len(question) + 20:
        return Parsed(None, f"{len(pick)} characters for a {len(question)}-character question")
    return Parsed(pick, how)
