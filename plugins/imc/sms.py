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

import dataclasses
import math
import weakref
from collections import OrderedDict
from typing import Any, Optional, Sequence

from medrobust.noise.text import tokenize
from medrobust.options import parse_options as _parse_typed

from ._sms_text import (Lexicon, edit_fraction, normalise_spacing, protected_sequence,
                        word_candidates, word_scores, words_of)
from .pdc import MissingCapability

__all__ = ["SMSCalibrator", "SMSRecord", "SMSStep", "SMSModel", "refine", "DEFAULTS",
           "ASSESS_PROMPT", "REWRITE_PROMPT", "MissingCapability"]

DEFAULTS: dict[str, Any] = {
    "rounds": 3, "margin": 1.0, "max_edit_fraction": 0.3, "threshold_percentile": 100.0,
    "corrector": "search", "assessor": "probability", "max_word_edit": 0.4, "max_word_distance": 2,
    "max_candidates": 6, "edit_penalty": 8.0, "with_image": False, "max_new_tokens": 32,
    "cache_size": 50000, "known_words": True,
}
ASSESS_PROMPT = "USER: Is this question well written? Answer yes or no. Question: {question} ASSISTANT:"
REWRITE_PROMPT = "USER: Rewrite this question without typos: {question} ASSISTANT:"
_CHOICES = {"corrector": ("search", "generate"), "assessor": ("probability", "generate", "either")}


def _r(x: float) -> float:
    return round(float(x), 4)


@dataclasses.dataclass
class SMSStep:
    """One agent's step: who, in which round, what it saw and said, and why."""

    agent: str          # "assessor" | "corrector" | "reviewer"
    round: int          # 0 for the assessor, 1.. for corrector/reviewer rounds
    input: str
    output: str
    decision: str       # assessor: "clean"/"noisy"; corrector: "rewrite"/"no-rewrite"; reviewer: "accept"/"reject"
    scores: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SMSRecord:
    """Everything SMS did to one question (JSON-serialisable through :meth:`to_json`)."""

    question: str
    final: str
    steps: list[SMSStep] = dataclasses.field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.final != self.question

    @property
    def assessed_clean(self) -> bool:
        return bool(self.steps) and self.steps[0].agent == "assessor" and self.steps[0].decision == "clean"

    @property
    def rounds(self) -> int:
        return max((s.round for s in self.steps), default=0)

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "final": self.final, "changed": self.changed,
                "steps": [dataclasses.asdict(s) for s in self.steps]}


def parse_options(options: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated with ``options``, strings parsed to the defaults' types."""
    out = _parse_typed("imc-sms", options, DEFAULTS, _CHOICES)
    if out["rounds"] < 1:
        raise ValueError("imc-sms: option rounds must be at least 1")
    if not 0 < out["threshold_percentile"] <= 100:
        raise ValueError("imc-sms: option threshold_percentile must be in (0, 100]")
    return out


def _model_name(model: Any) -> str:
    ident = getattr(model, "identity", None)
    if callable(ident):
        try:
            return str(ident().get("name") or type(model).__name__)
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


class SMSCalibrator:
    """``imc-sms``: assess, correct and review each question with the model's own probabilities."""

    def __init__(self, options: Optional[dict[str, Any]] = None) -> None:
        self.opts = parse_options(dict(options or {}))
        self.thresholds: dict[str, float] = {}
        self.lexicon: Optional[Lexicon] = None
        self.fitted_on = 0
        self._model: Any = None
        self._cache: OrderedDict[str, list[tuple[str, float]]] = OrderedDict()

    # -- capability -------------------------------------------------------------
    def _require(self, model: Any) -> None:
        if not callable(getattr(model, "score_text", None)):
            raise MissingCapability(
                f"imc-sms needs the token-scoring capability (score_text(texts, images=None)) to assess "
                f"and rank questions with the model's own probabilities; model {_model_name(model)} does "
                "not offer it")
        needs_generation = self.opts["corrector"] == "generate" or self.opts["assessor"] != "probability"
        if needs_generation and not callable(getattr(model, "generate", None)):
            raise MissingCapability(
                f"imc-sms with corrector={self.opts['corrector']} assessor={self.opts['assessor']} needs the "
                f"free-generation capability (generate(prompts)); model {_model_name(model)} does not offer it")

    # -- scoring ----------------------------------------------------------------
    def _score(self, texts: Sequence[str], images: Optional[Sequence[Any]] = None) -> list[list[tuple[str, float]]]:
        """Token scores of texts; text-only scores are cached (they do not depend on an image)."""
        if images is not None:
            return self._model.score_text(list(texts), images=list(images))
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            for text, scores in zip(todo, self._model.score_text(todo)):
                self._cache[text] = scores
        out = [self._cache[t] for t in texts]
        while len(self._cache) > max(self.opts["cache_size"], len(texts)):
            self._cache.popitem(last=False)
        return out

    def _loglik(self, texts: Sequence[str], images: Optional[Sequence[Any]]) -> list[float]:
        return [sum(lp for _, lp in s) for s in self._score(texts, images)]

    # -- fit --------------------------------------------------------------------
    def fit(self, model: Any, reference_samples: Sequence[Any]) -> None:
        """Thresholds and lexicon from the clean reference questions (never test samples)."""
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

    # -- agents -----------------------------------------------------------------
    def _unusual(self, word: Any, surprisal: float, pieces: int) -> bool:
        """Does the model find this word unusual next to clean reference words?"""
        th, chars = self.thresholds, max(1, len(word.text))
        if self.opts["known_words"] and word.parts[1] and word.parts[1].lower() not in self.lexicon:
            return True
        return (surprisal / chars > th["word_surprisal_per_char"]
                or pieces / chars > th["word_pieces_per_char"])

    def _assess(self, questions: list[str], images: Optional[list[Any]]) -> list[tuple[list[int], SMSStep]]:
        scores = self._score(questions, images)
        verdicts: list[Optional[bool]] = [None] * len(questions)
        if self.opts["assessor"] != "probability":
            replies = self._model.generate([ASSESS_PROMPT.format(question=q) for q in questions],
                                           images=images, max_new_tokens=4)
            verdicts = [r.strip().lower().startswith("no") for r in replies]
        th = self.thresholds
        out = []
        for k, (q, toks) in enumerate(zip(questions, scores)):
            words = words_of(q)
            ws = word_scores(q, toks)
            flagged = [i for i, (w, (s, n)) in enumerate(zip(words, ws))
                       if not w.protected and self._unusual(w, s, n)]
            mean = sum(-lp for _, lp in toks) / len(toks) if toks else 0.0
            if not flagged and mean > th["question_mean_surprisal"]:
                free = [i for i, w in enumerate(words) if not w.protected]
                if free:
                    flagged = [max(free, key=lambda i: ws[i][0])]
            noisy = bool(flagged)
            if self.opts["assessor"] == "generate":
                noisy = bool(verdicts[k])
            elif self.opts["assessor"] == "either":
                noisy = noisy or bool(verdicts[k])
            if noisy and not flagged:  # the model says noisy: fix its least likely unprotected word
                free = [i for i, w in enumerate(words) if not w.protected]
                flagged = [max(free, key=lambda i: ws[i][0])] if free else []
            step = SMSStep("assessor", 0, q, q, "noisy" if noisy else "clean", {
                "mean_surprisal": _r(mean),
                "words": [{"word": w.text, "surprisal": _r(s), "pieces": n,
                           "known": w.parts[1].lower() in self.lexicon, "flagged": i in flagged}
                          for i, (w, (s, n)) in enumerate(zip(words, ws))],
                **({"model_says_noisy": verdicts[k]} if verdicts[k] is not None else {})})
            out.append((flagged if noisy else [], step))
        return out

    def refine_many(self, questions: Sequence[str], images: Optional[Sequence[Any]] = None) -> list[SMSRecord]:
        """One record per question: the agents' steps and the final question."""
        if self.lexicon is None:
            raise RuntimeError("imc-sms: call fit(model, reference_samples) first")
        questions = list(questions)
        imgs = list(images) if (images is not None and self.opts["with_image"]) else None
        records = [SMSRecord(q, q) for q in questions]
        assessed = self._assess(questions, imgs)
        open_ = []
        for k, (flagged, step) in enumerate(assessed):
            records[k].steps.append(step)
            if flagged:
                open_.append(k)
        if not open_:
            return records
        opts = self.opts
        # candidate rewrites per flagged word, all scored in one batch
        plans: dict[int, dict[str, Any]] = {}
        texts, owners = [], []
        for k in open_:
            q = questions[k]
            words = words_of(q)
            pieces = tokenize(q)
            per_word = {}
            for i in assessed[k][0]:
                cands = word_candidates(words, i, self.lexicon, opts["max_word_edit"],
                                        opts["max_word_distance"], opts["max_candidates"])
                per_word[i] = []
                for first, last, repl, cost in cands:
                    new = pieces[:words[first].index] + [repl] + pieces[words[last].index + 1:]
                    per_word[i].append({"first": first, "last": last, "text": repl, "cost": cost,
                                        "question": "".join(new)})
                    texts.append("".join(new))
                    owners.append(k)
            plans[k] = {"words": words, "pieces": pieces, "cands": per_word}
        base_ll = dict(zip(open_, self._loglik([questions[k] for k in open_],
                                               [imgs[k] for k in open_] if imgs else None)))
        cand_ll = self._loglik(texts, [imgs[k] for k in owners] if imgs else None)
        pos = 0
        for k in open_:
            for i, cands in plans[k]["cands"].items():
                for c in cands:
                    c["gain"] = cand_ll[pos] - base_ll[k]
                    c["value"] = c["gain"] - opts["edit_penalty"] * c["cost"]
                    pos += 1
                cands.sort(key=lambda c: (-c["value"], c["cost"], c["text"]))
                # the unchanged word is always an option: nothing below it is worth proposing
                keep = []
                for c in cands:
                    keep.append(c)
                    if c["text"] == plans[k]["words"][i].text and c["first"] == c["last"]:
                        break
                plans[k]["cands"][i] = keep
            plans[k]["pointer"] = {i: 0 for i in plans[k]["cands"]}
        generated: dict[int, str] = {}
        if opts["corrector"] == "generate":
            outs = self._model.generate([REWRITE_PROMPT.format(question=questions[k]) for k in open_],
                                        images=[imgs[k] for k in open_] if imgs else None,
                                        max_new_tokens=opts["max_new_tokens"])
            generated = {k: normalise_spacing(o.split("\n")[0]) for k, o in zip(open_, outs)}
        for rnd in range(1, opts["rounds"] + 1):
            proposals: dict[int, tuple[str, list[dict[str, Any]]]] = {}
            for k in open_:
                q = questions[k]
                if rnd == 1 and k in generated and generated[k] and generated[k] != q:
                    proposals[k] = (generated[k], [])
                    records[k].steps.append(SMSStep("corrector", rnd, q, generated[k], "rewrite",
                                                    {"method": "generate"}))
                    continue
                text, used = self._compose(q, plans[k])
                if text == q:
                    records[k].steps.append(SMSStep("corrector", rnd, q, q, "no-rewrite",
                                                    {"method": "search", "reason": "no candidate more likely"}))
                    continue
                proposals[k] = (text, used)
                records[k].steps.append(SMSStep("corrector", rnd, q, text, "rewrite", {
                    "method": "search",
                    "changes": [{"from": " ".join(w.text for w in plans[k]["words"][c["first"]:c["last"] + 1]),
                                 "to": c["text"], "gain": _r(c["gain"]), "edits": c["cost"]} for c in used]}))
            if not proposals:
                break
            keys = list(proposals)
            lls = self._loglik([proposals[k][0] for k in keys], [imgs[k] for k in keys] if imgs else None)
            still_open = []
            for k, ll in zip(keys, lls):
                q, (text, used) = questions[k], proposals[k]
                same_protected = protected_sequence(text) == protected_sequence(q)
                gain = ll - base_ll[k]
                frac = edit_fraction(q, text)
                ok = same_protected and gain >= opts["margin"] and frac <= opts["max_edit_fraction"]
                reasons = [r for r, bad in (("protected tokens changed", not same_protected),
                                            ("likelihood gain below margin", gain < opts["margin"]),
                                            ("edit too large", frac > opts["max_edit_fraction"])) if bad]
                records[k].steps.append(SMSStep("reviewer", rnd, text, text if ok else q,
                                                "accept" if ok else "reject", {
                                                    "protected_same": same_protected, "gain": _r(gain),
                                                    "edit_fraction": _r(frac), "reasons": reasons}))
                if ok:
                    records[k].final = text
                    continue
                if used:
                    self._advance(plans[k], used, opts["margin"])
                still_open.append(k)
            open_ = still_open
            if not open_:
                break
        return records

    @staticmethod
    def _compose(question: str, plan: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """The question with each flagged word's current candidate (merges take both words)."""
        words, pieces = plan["words"], list(plan["pieces"])
        used, taken = [], set()
        for i in sorted(plan["cands"]):
            cands, p = plan["cands"][i], plan["pointer"][i]
            if p >= len(cands):
                continue
            c = cands[p]
            span = set(range(c["first"], c["last"] + 1))
            if span & taken or (c["text"] == words[i].text and c["first"] == c["last"]):
                continue
            taken |= span
            used.append(c)
        for c in sorted(used, key=lambda c: -c["first"]):
            first, last = words[c["first"]].index, words[c["last"]].index
            pieces[first:last + 1] = [c["text"]] + [""] * (last - first)
        return "".join(pieces), used

    @staticmethod
    def _advance(plan: dict[str, Any], used: list[dict[str, Any]], margin: float) -> None:
        """After a rejection: words whose change did not earn the margin move to their next candidate;
        if every change earned it (the whole was too large), the weakest change is dropped."""
        weak = [c for c in used if c["gain"] < margin]
        targets = weak or [min(used, key=lambda c: c["gain"])]
        for c in targets:
            i = next(i for i, cands in plan["cands"].items() if c in cands)
            plan["pointer"][i] += 1 if weak else len(plan["cands"][i])

    # -- contract ---------------------------------------------------------------
    def wrap(self, model: Any) -> "SMSModel":
        """A model answering refined questions."""
        self._require(model)
        if self.lexicon is None:
            raise RuntimeError("imc-sms: call fit(model, reference_samples) before wrap(model)")
        if model is not self._model:
            self._model = model
            self._cache.clear()
        return SMSModel(model, self)

    def describe(self) -> dict[str, Any]:
        return {"name": "imc-sms", "params": dict(self.opts), "fitted_on": self.fitted_on,
                "thresholds": dict(self.thresholds), "lexicon_size": len(self.lexicon or ())}


class SMSModel:
    """The wrapped model: questions go through SMS, then to the inner model.

    ``last_records`` holds the :class:`SMSRecord` of each sample of the last
    ``answer`` call. The optional capabilities of the inner model pass through.
    """

    _PASS = ("vision_features", "set_feature_transform", "generate", "score_text", "identity")

    def __init__(self, model: Any, sms: SMSCalibrator) -> None:
        self.model = model
        self.sms = sms
        self.last_records: list[SMSRecord] = []

    def refine(self, samples: Sequence[Any]) -> list[Any]:
        samples = list(samples)
        self.last_records = self.sms.refine_many([s.question for s in samples], [s.image for s in samples])
        return [s if r.final == s.question else s.replace(question=r.final)
                for s, r in zip(samples, self.last_records)]

    def answer(self, samples: list[Any]) -> list[str]:
        return self.model.answer(self.refine(samples))

    def __getattr__(self, name: str) -> Any:
        if name in SMSModel._PASS:
            return getattr(self.__dict__["model"], name)
        raise AttributeError(name)


_FITTED: dict[int, "weakref.ref[SMSCalibrator]"] = {}


def refine(model: Any, question: str, image: Any = None, *,
           calibrator: Optional[SMSCalibrator] = None) -> SMSRecord:
    """Refine one question with SMS; uses ``calibrator`` or the last one fitted on ``model``."""
    if calibrator is None:
        ref = _FITTED.get(id(model))
        calibrator = ref() if ref is not None else None
        if calibrator is None or calibrator._model is not model:
            raise RuntimeError("imc-sms: no SMSCalibrator fitted on this model; call "
                               "SMSCalibrator(options).fit(model, reference_samples) first or pass calibrator=")
    calibrator._require(model)
    calibrator._model = model
    return calibrator.refine_many([question], None if image is None else [image])[0]
