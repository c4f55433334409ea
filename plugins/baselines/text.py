"""Text baselines: dictionary spelling correction and single-agent self-correction.

Both rewrite ``sample.question`` before the model answers, and never change a
protected token (negation, laterality, numbers, units; see
``medrobust.is_protected``).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Mapping, Sequence

import medrobust

from ._common import SampleMapWrapper, parse

__all__ = ["SpellCorrect", "SelfCorrect", "correct_spelling", "SELF_CORRECT_PROMPT"]

_CORE = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)


def _is_protected(token: str) -> bool:
    return medrobust.is_protected(token)


def _tokenize(text: str) -> list[str]:
    return medrobust.tokenize(text)


def _words(text: str) -> list[str]:
    return [m.lower() for m in re.findall(r"[A-Za-z][A-Za-z'\-]*", text)]


def _match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def correct_spelling(text: str, vocabulary: Counter, max_distance: int = 2, min_length: int = 3,
                     to_protected: bool = False) -> str:
    """Replace each out-of-vocabulary word by its closest vocabulary word.

    Closeness is Damerau-Levenshtein distance (textdistance); ties go to the more
    frequent word, then alphabetical order. Words shorter than ``min_length``,
    protected tokens and words with no vocabulary word within ``max_distance`` stay.
    A word becomes a protected word ("lefft" -> "left") only with ``to_protected``:
    by default a correction never introduces negation, laterality or a number.
    """
    import textdistance

    dl = textdistance.DamerauLevenshtein()
    out = []
    for token in _tokenize(text):
        lead, core, trail = _CORE.match(token).groups()
        low = core.lower()
        if (token.isspace() or not core or not core.replace("'", "").replace("-", "").isalpha()
                or len(core) < min_length or low in vocabulary or _is_protected(token)):
            out.append(token)
            continue
        best, best_key = None, None
        for word, count in vocabulary.items():
            if abs(len(word) - len(low)) > max_distance:
                continue
            dist = dl.distance(low, word)
            if dist > max_distance:
                continue
            key = (dist, -count, word)
            if best_key is None or key < best_key:
                best, best_key = word, key
        if best is None or (_is_protected(best) and not to_protected):
            out.append(token)
        else:
            out.append(lead + _match_case(best, core) + trail)
    return "".join(out)


class SpellCorrect:
    """``spell-correct``: spelling correction against the dataset's question vocabulary.

    ``fit`` builds the vocabulary from the reference samples' questions (and
    answers). Options: ``max_distance`` (Damerau-Levenshtein, default 2),
    ``min_length`` (shorter words are left alone, default 3), ``to_protected``
    (allow corrections that produce a protected word, default false).
    """

    defaults = {"max_distance": 2, "min_length": 3, "to_protected": False}
    modalities = ("text",)

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.opts = parse("spell-correct", dict(options or {}), self.defaults)
        self.vocabulary: Counter = Counter()

    def fit(self, model: Any, reference_samples: Sequence[Any], noises: Mapping[str, Any]) -> None:
        """The vocabulary of the reference questions and answers (``model`` and ``noises`` are not used)."""
        vocab: Counter = Counter()
        for s in reference_samples:
            vocab.update(_words(s.question))
            vocab.update(_words(s.answer))
        self.vocabulary = vocab

    def correct(self, text: str) -> str:
        if not self.vocabulary:
            raise RuntimeError("spell-correct: call fit(model, reference_samples, noises) first")
        return correct_spelling(text, self.vocabulary, self.opts["max_distance"], self.opts["min_length"],
                                self.opts["to_protected"])

    def wrap(self, model: Any) -> SampleMapWrapper:
        return SampleMapWrapper(model, lambda ss: [s.replace(question=self.correct(s.question)) for s in ss])

    def describe(self) -> dict[str, Any]:
        return {"name": "spell-correct", "params": dict(self.opts), "vocabulary_size": len(self.vocabulary)}


SELF_CORRECT_PROMPT = ("USER: Rewrite this question with any spelling or word errors corrected, "
                       "keeping its meaning: {question} ASSISTANT:")


def _protected_tokens(text: str) -> Counter:
    return Counter(_CORE.match(t).group(2).lower() for t in _tokenize(text)
                   if not t.isspace() and _is_protected(t))


class SelfCorrect:
    """``self-correct``: the model rewrites the question itself (one agent, one prompt).

    One ``generate`` call per batch with :data:`SELF_CORRECT_PROMPT` (option
    ``prompt``, with ``{question}``); the rewrite is kept only if it is non-empty
    and keeps every protected token of the original, else the original question is
    used. Options: ``max_new_tokens`` (default 32), ``with_image`` (show the image
    too, default false). Needs the free-generation capability.
    """

    defaults = {"prompt": SELF_CORRECT_PROMPT, "max_new_tokens": 32, "with_image": False}
    modalities = ("text",)

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.opts = parse("self-correct", dict(options or {}), self.defaults)
        if "{question}" not in self.opts["prompt"]:
            raise medrobust.OptionError("self-correct: option prompt must contain {question}")
        self.fallbacks = 0
        self.rewrites = 0

    @staticmethod
    def _require(model: Any) -> None:
        caps = medrobust.capabilities_of(model)
        if not caps.has("free_generation"):
            name = getattr(model, "name", None) or type(model).__name__
            raise medrobust.MissingCapability(
                f"self-correct needs the free-generation capability (generate(prompts)); model {name} does "
                f"not offer it ({caps.reason('free_generation')}), so the model cannot rewrite its questions")

    def fit(self, model: Any, reference_samples: Sequence[Any], noises: Mapping[str, Any]) -> None:
        """Nothing to fit; the model must declare free generation (``noises`` is not used)."""
        self._require(model)

    def accept(self, original: str, rewrite: str) -> str:
        """The rewrite, or the original when the rewrite is empty or drops protected tokens."""
        rewrite = " ".join(rewrite.split())
        if not rewrite or _protected_tokens(rewrite) != _protected_tokens(original):
            self.fallbacks += 1
            return original
        self.rewrites += 1
        return rewrite

    def rewrite(self, model: Any, samples: list[Any]) -> list[Any]:
        prompts = [self.opts["prompt"].format(question=s.question) for s in samples]
        images = [s.image for s in samples] if self.opts["with_image"] else None
        outs = model.generate(prompts, images=images, max_new_tokens=self.opts["max_new_tokens"])
        return [s.replace(question=self.accept(s.question, o)) for s, o in zip(samples, outs)]

    def wrap(self, model: Any) -> SampleMapWrapper:
        self._require(model)
        return SampleMapWrapper(model, lambda ss: self.rewrite(model, ss))

    def describe(self) -> dict[str, Any]:
        return {"name": "self-correct", "params": dict(self.opts)}
