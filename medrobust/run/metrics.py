"""Metrics: per-sample scores, aggregated with a 95 % confidence interval."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Callable, Optional, Sequence

from rapidfuzz.distance import Levenshtein

from ..sample import Sample

__all__ = ["Metric", "Estimate", "estimate", "normalize_answer", "closed_answer", "METRICS", "MAX_SCORED_CHARS"]

MAX_SCORED_CHARS = 4000
"""Answers are scored on their first this many characters (a model that answers a megabyte is scored
on its opening, in bounded time); 4,000 is also the datasets' cap on a reference answer."""

Score = Callable[[Sample, Optional[str], Optional[str]], Optional[float]]

_PUNCT = re.compile(r"[^\w\s]")
_Z95 = 1.959963984540054


def normalize_answer(text: Optional[str]) -> str:
    """The first :data:`MAX_SCORED_CHARS` characters, lower case, punctuation removed, whitespace collapsed."""
    if text is None:
        return ""
    return " ".join(_PUNCT.sub(" ", text[:MAX_SCORED_CHARS].lower()).split())


CLOSED_VOCABULARIES = (("yes", "no"), ("left", "right"), ("true", "false"), ("present", "absent"),
                       ("normal", "abnormal"))
"""Answer sets of closed questions: a sentence answer is read as its first word from the set."""


def closed_answer(reference: str, answer: Optional[str]) -> str:
    """The closed answer a free-text ``answer`` gives, in the vocabulary of ``reference``.

    Chat models answer closed questions in sentences ("Yes, there is a lesion in
    the left lung."); as in LLaVA-Med's own evaluation, such an answer counts by
    the first word of the reference's vocabulary it contains (here: "yes"). An
    answer with none of those words, or a reference outside every vocabulary, is
    compared whole after normalisation.
    """
    ref, text = normalize_answer(reference), normalize_answer(answer)
    if text == ref:
        return text
    for vocabulary in CLOSED_VOCABULARIES:
        if ref in vocabulary:
            for word in text.split():
                if word in vocabulary:
                    return word
    return text


@dataclasses.dataclass(frozen=True)
class Metric:
    """A named score of one answer.

    ``score(sample, answer, clean_answer)`` returns a number in [0, 1] or
    ``None`` when the metric does not apply to the sample (an open question
    for closed accuracy). ``answer`` (or ``clean_answer``) is ``None`` when the
    model failed on the sample; every metric then scores it as wrong (0).
    """

    name: str
    description: str
    score: Score = dataclasses.field(repr=False)
    needs_clean_answer: bool = False


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean with its 95 % interval over ``n`` applicable samples."""

    value: float
    low: float
    high: float
    n: int
    method: str

    def to_json(self) -> dict:
        return {"value": round(self.value, 6), "low": round(self.low, 6),
                "high": round(self.high, 6), "n": self.n, "method": self.method}

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def estimate(scores: Sequence[Optional[float]]) -> Estimate:
    """Mean of the applicable scores with a 95 % interval.

    Binary scores get the Wilson score interval; graded scores a normal
    interval on the mean (clipped to [0, 1]).
    """
    values = [float(s) for s in scores if s is not None]
    n = len(values)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "none")
    mean = sum(values) / n
    if all(v in (0.0, 1.0) for v in values):
        z2 = _Z95 ** 2
        centre = (mean + z2 / (2 * n)) / (1 + z2 / n)
        half = _Z95 * math.sqrt(mean * (1 - mean) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        return Estimate(mean, max(0.0, centre - half), min(1.0, centre + half), n, "wilson")
    var = sum((v - mean) ** 2 for v in values) / max(1, n - 1)
    half = _Z95 * math.sqrt(var / n)
    return Estimate(mean, max(0.0, mean - half), min(1.0, mean + half), n, "normal")


def _closed_accuracy(sample: Sample, answer: Optional[str], _clean: Optional[str]) -> Optional[float]:
    if sample.answer_type != "closed":
        return None
    return float(answer is not None and closed_answer(sample.answer, answer) == normalize_answer(sample.answer))


def _open_recall(sample: Sample, answer: Optional[str], _clean: Optional[str]) -> Optional[float]:
    if sample.answer_type != "open":
        return None
    reference = normalize_answer(sample.answer).split()
    if not reference:
        return None
    predicted = set(normalize_answer(answer).split())
    return sum(token in predicted for token in reference) / len(reference)


def _answer_consistency(sample: Sample, answer: Optional[str], clean: Optional[str]) -> Optional[float]:
    if answer is None or clean is None:  # an answer the model failed to give is wrong, clean or noisy
        return 0.0
    if sample.answer_type == "closed":
        return float(closed_answer(sample.answer, answer) == closed_answer(sample.answer, clean))
    return float(normalize_answer(answer) == normalize_answer(clean))


def _answer_similarity(_sample: Sample, answer: Optional[str], clean: Optional[str]) -> Optional[float]:
    if answer is None or clean is None:  # an answer the model failed to give is wrong, clean or noisy
        return 0.0
    # rapidfuzz's C++ Levenshtein: the same figure as textdistance's, in microseconds, not seconds
    return float(Levenshtein.normalized_similarity(normalize_answer(answer), normalize_answer(clean)))


METRICS = (
    Metric("closed_accuracy", "Accuracy on closed (yes/no, left/right) questions; a sentence answer counts "
                              "by its first yes/no (left/right...) word.",
           _closed_accuracy),
    Metric("open_recall", "Fraction of reference-answer tokens present in the answer, on open questions.",
           _open_recall),
    Metric("answer_consistency", "Fraction of samples whose noisy answer equals the clean answer (on closed "
                                 "questions: gives the same yes/no, left/right...).",
           _answer_consistency, needs_clean_answer=True),
    Metric("answer_similarity", "Normalised Levenshtein similarity of the noisy to the clean answer (each "
                                f"scored on its first {MAX_SCORED_CHARS:,} characters).",
           _answer_similarity, needs_clean_answer=True),
)
