"""SMS, the Self-instantiated Multi-agent System: IMC's text half.

Following "Perceive and Calibrate" (arXiv 2512.21964), agents instantiated from
the *same* model refine a noisy question through a hierarchy, in bounded rounds,
and every step is recorded:

1. **Assessor** (perceive): is the question noisy? By default from the model's own
   token probabilities (``score_text``): each word's surprisal (sum of its tokens'
   ``-log p``) and its number of tokens (a word the model does not know falls apart
   into sub-word pieces), per character, are compared with thresholds fitted on
   the clean reference questions (their ``threshold_percentile`` percentile), and
   the question's mean token surprisal likewise; with ``known_words`` (default) a
   word outside the lexicon (below) is flagged too. With ``assessor=generate`` the
   model is also asked "Is this question well written? Answer yes or no." (only
   meaningful for an instruction-following model; the embedded reference model is
   not one, hence the default). A question assessed clean is passed on untouched.

   Measured on the embedded reference model: its language model is trained on
   answer tokens only, so its probabilities of *question* tokens are flat (about
   10 nats a token whatever the word) and surprisal mostly counts tokens; the
   lexicon check does most of the assessing there (probabilities alone: mean edit
   distance to the clean question 0.95 -> 0.87 on hand-made typos of the
   reference split; with ``known_words``: 0.95 -> 0.35). A model trained on text
   (LLaVA-Med) gives the probability signal its intended weight.
2. **Corrector** (calibrate): rewrites the flagged words. ``corrector=search``
   (default) is model-guided search: candidates for each flagged, unprotected word
   are known words within a small Damerau-Levenshtein distance (the lexicon: words
   of the clean reference questions, plus whole-word entries of the model's
   tokenizer vocabulary when it exposes one), merges with the next word, splits
   into two known words, and cheap normalisations (NFKC, Latin look-alikes of
   Cyrillic/Greek letters, invisible characters, casing, repeated punctuation,
   spacing); the model scores every candidate question in one batch and the most
   likely (log-likelihood minus ``edit_penalty`` nats per edit) wins.
   ``corrector=generate`` first asks the model to "Rewrite this question without
   typos" (needs ``generate``); later rounds fall back to the search.
3. **Reviewer**: accepts a rewrite only if (a) the protected tokens (negation,
   laterality, numbers, units) are identical and in the same order, (b) the
   model's log-likelihood of the question rose by at least ``margin`` nats and (c)
   the rewrite is within ``max_edit_fraction`` of the input (Damerau-Levenshtein
   over length). A rejected rewrite goes back to the corrector, which moves to the
   next-best candidates of the words that did not earn their change; after
   ``rounds`` rounds the original question is kept.

Options (``--calibrator-option KEY=VALUE``; strings are parsed), defaults chosen
by ``python -m medrobust_plugins.imc._sms_tune`` on the reference split with
generic hand-made typos, never with the catalogue's text noises:

========================  ========================================================
``rounds``                corrector/reviewer rounds at most (default 3)
``margin``                log-likelihood gain (nats) the reviewer demands (1.0)
``max_edit_fraction``     largest accepted edit, as a fraction of the question (0.3)
``threshold_percentile``  percentile of clean reference words / questions above
                          which the assessor flags (100: the most unusual clean word)
``corrector``             ``search`` or ``generate``
``assessor``              ``probability`` (default), ``generate`` (the model's
                          yes/no decides; the words to fix still come from the
                          probabilities) or ``either`` (noisy if either says so)
``max_word_edit``         largest normalised edit of one word by a candidate (0.4)
``max_word_distance``     largest absolute edit of one word (2)
``max_candidates``        lexicon candidates per flagged word (6)
``edit_penalty``          nats charged per character edit when ranking (8.0)
``known_words``           flag words outside the lexicon too (true)
``with_image``            score questions about their image (slower; default false)
``max_new_tokens``        budget of generative agents (32)
``cache_size``            text scores kept between calls (50000; 0 disables)
========================  ========================================================
"""

from __future__ import annotations

import math
import weakref
from collections import OrderedDict
from typing import Any, Mapping, Optional, Sequence

import medrobust

from ._passthrough import PassThroughModel
from ._sms_agents import ASSESS_PROMPT, REWRITE_PROMPT, SMSAgents
from ._sms_records import SMSRecord, SMSStep, round4 as _r
from ._sms_text import Lexicon, word_scores, words_of

__all__ = ["SMSCalibrator", "SMSRecord", "SMSStep", "SMSModel", "refine", "DEFAULTS",
           "ASSESS_PROMPT", "REWRITE_PROMPT"]

DEFAULTS: dict[str, Any] = {
    "rounds": 3, "margin": 1.0, "max_edit_fraction": 0.3, "threshold_percentile": 100.0,
    "corrector": "search", "assessor": "probability", "max_word_edit": 0.4, "max_word_distance": 2,
    "max_candidates": 6, "edit_penalty": 8.0, "with_image": False, "max_new_tokens": 32,
    "cache_size": 50000, "known_words": True,
}
_CHOICES = {"corrector": ("search", "generate"), "assessor": ("probability", "generate", "either")}


def parse_options(options: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated with ``options``, strings parsed to the defaults' types.

    Raises:
        medrobust.OptionError: An unknown option, or a value of the wrong type or out of range.
    """
    out = medrobust.parse_options("imc-sms", options, DEFAULTS, _CHOICES)
    if out["rounds"] < 1:
        raise medrobust.OptionError("imc-sms: option rounds must be at least 1")
    if not 0 < out["threshold_percentile"] <= 100:
        raise medrobust.OptionError("imc-sms: option threshold_percentile must be in (0, 100]")
    return out


def _model_name(model: Any) -> str:
    describe = getattr(model, "describe", None)
    if callable(describe):
        try:
            return str(describe().get("name") or type(model).__name__)
        except Exception:  # noqa: BLE001 - a name for an error message only
            pass
    return type(model).__name__


def _percentile(values: Sequence[float], q: float) -> float:
    xs = sorted(values)
    if not xs:
        return math.inf
    k = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _vocabulary_words(model: Any) -> list[str]:
    """Whole words of the model's tokenizer vocabulary, when it exposes one (byte-level ``Ġword``)."""
    tok = getattr(model, "tokenizer", None)
    get_vocab = getattr(tok, "get_vocab", None)
    if not callable(get_vocab):
        return []
    words = []
    for piece in get_vocab():
        if piece.startswith(("Ġ", "▁")):
            w = piece[1:]
            if len(w) >= 3 and w.isalpha() and w.isascii():
                words.append(w.lower())
    return words


class SMSCalibrator(SMSAgents):
    """``imc-sms``: assess, correct and review each question with the model's own probabilities.

    The agents themselves are :class:`~medrobust_plugins.imc._sms_agents.SMSAgents`;
    this class is the calibrator contract: options, ``fit``, ``wrap``, ``describe``.
    """

    def __init__(self, options: Optional[dict[str, Any]] = None) -> None:
        self.opts = parse_options(dict(options or {}))
        self.thresholds: dict[str, float] = {}
        self.lexicon: Optional[Lexicon] = None
        self.fitted_on = 0
        self._model: Any = None
        self._cache: OrderedDict[str, list[tuple[str, float]]] = OrderedDict()

    # -- capability -------------------------------------------------------------
    def _require(self, model: Any) -> None:
        """Raise :class:`medrobust.MissingCapability` unless ``model`` declares what the options need."""
        caps = medrobust.capabilities_of(model)
        if not caps.has("token_scoring"):
            raise medrobust.MissingCapability(
                f"imc-sms needs the token-scoring capability (score_text(texts, images=None)) to assess "
                f"and rank questions with the model's own probabilities; model {_model_name(model)} does "
                f"not offer it ({caps.reason('token_scoring')})")
        needs_generation = self.opts["corrector"] == "generate" or self.opts["assessor"] != "probability"
        if needs_generation and not caps.has("free_generation"):
            raise medrobust.MissingCapability(
                f"imc-sms with corrector={self.opts['corrector']} assessor={self.opts['assessor']} needs the "
                f"free-generation capability (generate(prompts)); model {_model_name(model)} does not offer it "
                f"({caps.reason('free_generation')})")

    # -- fit --------------------------------------------------------------------
    def fit(self, model: Any, reference_samples: Sequence[Any], noises: Mapping[str, Any]) -> None:
        """Thresholds and lexicon from the clean reference questions (never test samples).

        ``noises`` (the run's noise registry) is not used: SMS knows no noise of the catalogue.
        """
        self._require(model)
        self._model = model
        self._cache.clear()
        questions = [s.question for s in reference_samples]
        if not questions:
            raise ValueError("imc-sms: fit needs at least one reference sample")
        unique = list(dict.fromkeys(questions))
        scores = self._score(unique)
        per_char, pieces_per_char, means, known = [], [], [], set()
        for q, toks in zip(unique, scores):
            for w, (s, n) in zip(words_of(q), word_scores(q, toks)):
                if not w.protected:
                    chars = max(1, len(w.text))
                    per_char.append(s / chars)
                    pieces_per_char.append(n / chars)
                known.add(w.parts[1].lower())
            if toks:
                means.append(sum(-lp for _, lp in toks) / len(toks))
        p = self.opts["threshold_percentile"]
        self.thresholds = {"word_surprisal_per_char": _r(_percentile(per_char, p)),
                           "word_pieces_per_char": _r(_percentile(pieces_per_char, p)),
                           "question_mean_surprisal": _r(_percentile(means, p))}
        self.lexicon = Lexicon(list(known) + _vocabulary_words(model))
        self.fitted_on = len(questions)
        _FITTED[id(model)] = weakref.ref(self)

    # -- contract ---------------------------------------------------------------
    def wrap(self, model: Any) -> "SMSModel":
        """A model answering refined questions."""
        self._require(model)
        if self.lexicon is None:
            raise RuntimeError("imc-sms: call fit(model, reference_samples, noises) before wrap(model)")
        if model is not self._model:
            self._model = model
            self._cache.clear()
        return SMSModel(model, self)

    def describe(self) -> dict[str, Any]:
        return {"name": "imc-sms", "params": dict(self.opts), "fitted_on": self.fitted_on,
                "thresholds": dict(self.thresholds), "lexicon_size": len(self.lexicon or ())}


class SMSModel(PassThroughModel):
    """The wrapped model: questions go through SMS, then to the inner model.

    ``last_records`` holds the :class:`SMSRecord` of each sample of the last
    ``answer`` call. The inner model's capabilities pass through unchanged
    (``generate`` and ``score_text`` see the prompts as given, unrefined).
    """

    def __init__(self, model: Any, sms: SMSCalibrator) -> None:
        super().__init__(model)
        self.sms = sms
        self.last_records: list[SMSRecord] = []

    def refine(self, samples: Sequence[Any]) -> list[Any]:
        samples = list(samples)
        self.last_records = self.sms.refine_many([s.question for s in samples], [s.image for s in samples])
        return [s if r.final == s.question else s.replace(question=r.final)
                for s, r in zip(samples, self.last_records)]

    def answer(self, samples: list[Any]) -> list[str]:
        return self.model.answer(self.refine(samples))


_FITTED: dict[int, "weakref.ref[SMSCalibrator]"] = {}


def refine(model: Any, question: str, image: Any = None, *,
           calibrator: Optional[SMSCalibrator] = None) -> SMSRecord:
    """Refine one question with SMS; uses ``calibrator`` or the last one fitted on ``model``."""
    if calibrator is None:
        ref = _FITTED.get(id(model))
        calibrator = ref() if ref is not None else None
        if calibrator is None or calibrator._model is not model:
            raise RuntimeError("imc-sms: no SMSCalibrator fitted on this model; call SMSCalibrator(options)"
                               ".fit(model, reference_samples, noises) first or pass calibrator=")
    calibrator._require(model)
    calibrator._model = model
    return calibrator.refine_many([question], None if image is None else [image])[0]
