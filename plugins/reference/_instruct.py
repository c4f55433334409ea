"""The short instructions the reference model is trained to follow, and generic corruptions.

Two instructions, put in the model's own format (``format_prompt``):

* "is this question well written?" -> ``yes`` / ``no``;
* "rewrite this question correctly: ..." -> the question as it should read.

Training pairs come from phantom-vqa's own questions and :func:`corrupt`, a
generic corruption written here (random character substitutions, insertions,
drops, swaps of neighbours, a dropped word). It is deliberately not one of the
catalogue's text noises (``medrobust.noise.text*``): a calibrator measured on
those must not find its test noise in the model's training data.

Pure Python (no torch), so the measure script and tests can use it cheaply.
"""

from __future__ import annotations

import random
import string

from typing import Callable, Sequence

__all__ = ["JUDGE_PROMPTS", "REWRITE_PROMPTS", "corrupt", "read_verdict", "instruction_rates"]

JUDGE_PROMPTS: tuple[str, ...] = (
    "Is this question well written? Answer yes or no. Question: {question}",
    "Is this question well written? {question}",
    "Is this question well written? yes/no: {question}",
)
"""Phrasings of the "well written?" instruction the model is trained on (reply ``yes`` or ``no``)."""

REWRITE_PROMPTS: tuple[str, ...] = (
    "Rewrite this question correctly: {question}",
    "Rewrite this question correctly. Question: {question}",
)
"""Phrasings of the "rewrite" instruction the model is trained on (reply: the question)."""

_LETTERS = string.ascii_lowercase


def _edit(chars: list[str], rng: random.Random) -> None:
    """One random character edit in place: substitute, insert, drop, or swap neighbours."""
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    if not letters:
        return
    i = rng.choice(letters)
    op = rng.randrange(4)
    if op == 0:
        chars[i] = rng.choice([c for c in _LETTERS if c != chars[i].lower()])
    elif op == 1:
        chars.insert(i + rng.randrange(2), rng.choice(_LETTERS))
    elif op == 2 and len(letters) > 3:
        del chars[i]
    elif i + 1 < len(chars) and chars[i + 1] != chars[i]:
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    else:
        chars[i] = rng.choice([c for c in _LETTERS if c != chars[i].lower()])


def corrupt(question: str, rng: random.Random, max_edits: int = 3) -> str:
    """``question`` with 1 to ``max_edits`` random character edits (sometimes a dropped word).

    Always returns a text different from ``question``.
    """
    for _ in range(10):
        words = question.split(" ")
        if len(words) > 3 and rng.random() < 0.1:
            del words[rng.randrange(1, len(words) - 1)]
        chars = list(" ".join(words))
        for _ in range(rng.randint(1, max_edits)):
            _edit(chars, rng)
        out = "".join(chars)
        if out != question:
            return out
    return question + rng.choice(_LETTERS)


def read_verdict(reply: str) -> bool | None:
    """``True`` for a reply that says yes, ``False`` for no, ``None`` otherwise."""
    first = reply.strip().lower().split(" ")[0].strip(".,!") if reply.strip() else ""
    return {"yes": True, "no": False}.get(first)


def instruction_rates(generate: Callable[[list[str], int], list[str]], format_prompt: Callable[[str], str],
                      questions: Sequence[str], seed: int = 0) -> dict[str, float]:
    """How well a model follows the two instructions, on ``questions`` and corrupted copies.

    Args:
        generate: ``generate(prompts, max_new_tokens)`` -> one reply per prompt.
        format_prompt: The model's ``format_prompt``.
        questions: Well-written questions (one corrupted copy each, seeded by ``seed``).

    Returns:
        ``clean_judged_yes`` (share of the questions judged well written),
        ``corrupted_judged_no`` (share of the corrupted copies judged not), and
        ``rewrite_restores`` (share of corrupted copies rewritten to the question exactly).
    """
    rng = random.Random(seed)
    questions = list(questions)
    bad = [corrupt(q, rng) for q in questions]
    judge, rewrite = JUDGE_PROMPTS[0], REWRITE_PROMPTS[0]
    yes = generate([format_prompt(judge.format(question=q)) for q in questions], 4)
    no = generate([format_prompt(judge.format(question=b)) for b in bad], 4)
    fixed = generate([format_prompt(rewrite.format(question=b)) for b in bad], 48)
    n = max(1, len(questions))
    return {"clean_judged_yes": round(sum(read_verdict(r) is True for r in yes) / n, 4),
            "corrupted_judged_no": round(sum(read_verdict(r) is False for r in no) / n, 4),
            "rewrite_restores": round(sum(f.strip() == q for f, q in zip(fixed, questions)) / n, 4)}
