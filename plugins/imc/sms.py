"""SMS, the Self-instantiated Multi-agent System: IMC's text half.

Following "Perceive and Calibrate" (arXiv 2512.21964), agents instantiated from
the *same* model refine a noisy question through a hierarchy, in bounded rounds,
and every step is recorded (:class:`SMSRecord`: each agent's prompt and reply,
cut to :data:`~._sms_records.MAX_RECORDED_CHARS` characters, how the reply was
read, the tools' scores).

**Generated agents** (``agents=model``; the default, ``auto``, where the model
declares ``free_generation`` and has ``format_prompt(user_text)``). Each agent is
a role prompt that ``model.format_prompt`` puts in the model's own format (never
a template of SMS's own), continued by ``model.generate``:

1. **Assessor**: "Is this question well written? Answer yes or no." The reply is
   read with negations and hedges ("The question is not well written" is no;
   "probably" is no answer); a well-written question is passed on untouched, and
   a reply that cannot be read is recorded and the agent abstains (the question
   stays as it was).
2. **Corrector**: "Rewrite this question correctly: ..." The rewrite is read out
   of a polite or explained reply ("Sure, here is the corrected question: ...",
   quotes, trailing explanations, several lines); an unreadable reply abstains.
3. **Reviewer**: the tools veto a rewrite that changes the question's meaning
   (a protected token, i.e. negation, laterality, number or unit, removed,
   changed or added, unless it repairs a typo the lexicon does not know:
   ``lfet`` -> ``left`` but never ``on`` -> ``no``) or edits more than
   ``max_edit_fraction`` of it; then the model is asked the assessor's question
   about the rewrite: well written, it is accepted; not, it goes back to the
   corrector for the next round; after ``rounds`` rounds the original is kept.

**Tools** (the probability and lexicon signals; ``agents=tools`` runs them alone,
the mode of a model without ``format_prompt``, which SMS says in one warning and
records under ``agents`` in :meth:`SMSCalibrator.describe`): the *probability
assessor* flags words whose surprisal or number of tokens per character (from
``score_text``) exceeds the ``threshold_percentile`` percentile of the clean
reference questions' words, and, with ``known_words``, words outside the lexicon
(words of the clean reference questions plus the whole words of the model's
tokenizer); the *search corrector* replaces flagged words by lexicon neighbours
within a small Damerau-Levenshtein distance, merges, splits and Unicode
normalisations, the model scoring every candidate (log-likelihood minus
``edit_penalty`` nats per edit); the *likelihood reviewer* accepts a rewrite
whose protected tokens are unchanged, whose log-likelihood rose by ``margin``
nats and whose edit is within ``max_edit_fraction``, else sends the corrector to
its next candidates. Each agent can be switched to its tool (an ablation), or
join it: ``assessor=either|both`` (noisy if either / both say so),
``corrector=best`` (the likelihood chooses between the model's and the search's
rewrite, among those the vetoes let through), ``reviewer=both`` (also the
likelihood gain). On the reference model v2, which learnt to rewrite its own
question generator's questions, the default agents fix most catalogue text
noise and change no clean test question; a question it never learnt gets a
rewrite into one it knows, which the vetoes refuse (``corrector=best`` then
falls back to the search); ``python bench/sms_report.py`` measures all this.

Options (``--calibrator-option KEY=VALUE``; strings are parsed), tool defaults
chosen by ``python -m medrobust_plugins.imc._sms_tune`` on the reference split
with generic hand-made typos, never with the catalogue's text noises:

========================  ========================================================
``agents``                ``auto`` (model agents where the model can generate in
                          its own format, else tools), ``model`` or ``tools``
``assessor``              ``auto``, ``model``, ``probability``, ``either``, ``both``
``corrector``             ``auto``, ``model``, ``search``, ``best``
``reviewer``              ``auto``, ``model``, ``likelihood``, ``both``
``assess_prompt``         the assessor's and reviewer's instruction (``{question}``)
``rewrite_prompt``        the corrector's instruction (``{question}``)
``rounds``                corrector/reviewer rounds at most (default 3)
``margin``                log-likelihood gain (nats) the likelihood reviewer demands (1.0)
``max_edit_fraction``     largest accepted edit, as a fraction of the question (0.3)
``threshold_percentile``  percentile of clean reference words / questions above
                          which the probability assessor flags (100)
``max_word_edit``         largest normalised edit of one word by a candidate (0.4)
``max_word_distance``     largest absolute edit of one word (2)
``max_candidates``        lexicon candidates per flagged word (6)
``edit_penalty``          nats charged per character edit when ranking (8.0)
``known_words``           the probability assessor flags words outside the lexicon (true)
``with_image``            agents see the image, tools score with it (default false)
``max_new_tokens``        budget of a generated rewrite (48)
``cache_size``            text scores and replies kept between calls (50000; 0 disables)
========================  ========================================================
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections import OrderedDict
from typing import Any, Mapping, Optional, Sequence

import medrobust

from ._passthrough import PassThroughModel
from ._sms_model_agents import ASSESS_PROMPT, REWRITE_PROMPT, ModelAgents
from ._sms_records import SMSRecord, SMSStep, bounded, round4 as _r
from ._sms_text import Lexicon, word_scores, words_of

__all__ = ["SMSCalibrator", "SMSRecord", "SMSStep", "SMSModel", "refine", "plan_agents", "parse_options",
           "DEFAULTS", "ASSESS_PROMPT", "REWRITE_PROMPT"]

DEFAULTS: dict[str, Any] = {
    "agents": "auto", "assessor": "auto", "corrector": "auto", "reviewer": "auto",
    "assess_prompt": ASSESS_PROMPT, "rewrite_prompt": REWRITE_PROMPT,
    "rounds": 3, "margin": 1.0, "max_edit_fraction": 0.3, "threshold_percentile": 100.0,
    "max_word_edit": 0.4, "max_word_distance": 2, "max_candidates": 6, "edit_penalty": 8.0,
    "with_image": False, "max_new_tokens": 48, "cache_size": 50000, "known_words": True,
}
_CHOICES = {"agents": ("auto", "model", "tools"),
            "assessor": ("auto", "model", "probability", "either", "both"),
            "corrector": ("auto", "model", "search", "best"),
            "reviewer": ("auto", "model", "likelihood", "both")}
_TOOL = {"assessor": "probability", "corrector": "search", "reviewer": "likelihood"}
_GENERATES = {"assessor": ("model", "either", "both"), "corrector": ("model", "best"), "reviewer": ("model", "both")}
_SCORES = {"assessor": ("probability", "either", "both"), "corrector": ("search", "best"),
           "reviewer": ("likelihood", "both")}


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
    if out["max_new_tokens"] < 1:
        raise medrobust.OptionError("imc-sms: option max_new_tokens must be at least 1")
    for key in ("assess_prompt", "rewrite_prompt"):
        if "{question}" not in out[key]:
            raise medrobust.OptionError(f"imc-sms: option {key} must contain {{question}} where the question "
                                        f"goes, e.g. {DEFAULTS[key]!r}")
    return out


def plan_agents(opts: Mapping[str, Any], model: Any) -> tuple[dict[str, str], str]:
    """Which agent is the model's and which a tool, for ``opts`` on ``model``; and why tools, if auto chose them.

    Raises:
        medrobust.MissingCapability: The plan needs what the model does not offer (said with the reason).
    """
    caps = medrobust.capabilities_of(model)
    name = _model_name(model)
    why_not = []
    if not caps.has("free_generation"):
        why_not.append(f"it does not offer the free-generation capability ({caps.reason('free_generation')})")
    if not callable(getattr(model, "format_prompt", None)):
        why_not.append("it has no format_prompt(user_text) to put the agents' prompts in its own format")
    mode, note = opts["agents"], ""
    if mode == "auto":
        mode = "tools" if why_not else "model"
        if why_not:
            note = f"model {name} cannot run SMS's generated agents: {'; '.join(why_not)}"
    plan = {agent: (opts[agent] if opts[agent] != "auto" else ("model" if mode == "model" else _TOOL[agent]))
            for agent in _TOOL}
    generating = [a for a in _TOOL if plan[a] in _GENERATES[a]]
    if generating and why_not:
        raise medrobust.MissingCapability(
            f"imc-sms with {', '.join(f'{a}={plan[a]}' for a in generating)} asks model {name} to generate the "
            f"agents' replies, but {'; '.join(why_not)}. Use --calibrator-option agents=tools (the probability "
            f"and lexicon tools alone) or a model plugin that implements generate and format_prompt")
    scoring = [a for a in _TOOL if plan[a] in _SCORES[a]]
    if scoring and not caps.has("token_scoring"):
        raise medrobust.MissingCapability(
            f"imc-sms needs the token-scoring capability (score_text(texts, images=None)) for its "
            f"{', '.join(f'{a}={plan[a]}' for a in scoring)} (the model's own probabilities); model {name} does "
            f"not offer it ({caps.reason('token_scoring')})" + (f"; and {note[note.index(': ') + 2:]}" if note else ""))
    return plan, note


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


class SMSCalibrator(ModelAgents):
    """``imc-sms``: the model's own agents assess, correct and review each question, with tools beside them.

    The agents are :class:`~medrobust_plugins.imc._sms_model_agents.ModelAgents` and
    the tools :class:`~medrobust_plugins.imc._sms_agents.SMSAgents`; this class is
    the calibrator contract: options, ``fit``, ``wrap``, ``describe``.
    """

    def __init__(self, options: Optional[dict[str, Any]] = None) -> None:
        self.opts = parse_options(dict(options or {}))
        self.thresholds: dict[str, float] = {}
        self.lexicon: Optional[Lexicon] = None
        self.fitted_on = 0
        self._model: Any = None
        self._cache: OrderedDict[str, list[tuple[str, float]]] = OrderedDict()
        self._replies: OrderedDict[tuple[str, int], str] = OrderedDict()
        self.plan: dict[str, str] = {}
        self.agents_note = ""
        self.prompts: dict[str, str] = {}

    # -- capability -------------------------------------------------------------
    def _require(self, model: Any) -> None:
        """Plan the agents for ``model``; :class:`medrobust.MissingCapability` unless it offers what they need."""
        self.plan, self.agents_note = plan_agents(self.opts, model)

    def _generating(self) -> bool:
        """Does any planned agent generate replies with the model?"""
        return any(self.plan.get(a) in _GENERATES[a] for a in _TOOL)

    # -- fit --------------------------------------------------------------------
    def fit(self, model: Any, reference_samples: Sequence[Any], noises: Mapping[str, Any]) -> None:
        """Thresholds and lexicon from the clean reference questions (never test samples).

        ``noises`` (the run's noise registry) is not used: SMS knows no noise of the catalogue.
        """
        self._require(model)
        self._model = model
        self._cache.clear()
        self._replies.clear()
        questions = [s.question for s in reference_samples]
        if not questions:
            raise ValueError("imc-sms: fit needs at least one reference sample")
        if self.agents_note:
            warnings.warn(f"imc-sms runs its tool-only agents (probability assessor, lexicon search corrector, "
                          f"likelihood reviewer): {self.agents_note} (recorded in the certificate)", stacklevel=2)
        self.prompts = {}
        if self._generating():
            self.prompts = {key: bounded(str(model.format_prompt(self.opts[key])))
                            for key in ("assess_prompt", "rewrite_prompt")}
        unique = list(dict.fromkeys(questions))
        scoring = medrobust.capabilities_of(model).has("token_scoring")
        scores = self._score(unique) if scoring else [[] for _ in unique]
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
        """A model answering refined questions (a model that cannot run the fitted agents gets the tools, said)."""
        fitted_plan = dict(self.plan)
        self._require(model)
        if self.agents_note and self.plan != fitted_plan:
            warnings.warn(f"imc-sms runs its tool-only agents on the wrapped model: {self.agents_note}",
                          stacklevel=2)
        if self.lexicon is None:
            raise RuntimeError("imc-sms: call fit(model, reference_samples, noises) before wrap(model)")
        if model is not self._model:
            self._model = model
            self._cache.clear()
            self._replies.clear()
        return SMSModel(model, self)

    def describe(self) -> dict[str, Any]:
        """Options, the agents as planned (which is the model's, which a tool, and why), fitted state."""
        agents: dict[str, Any] = {"mode": "model" if self._generating() else "tools", **self.plan}
        if self.agents_note:
            agents["note"] = self.agents_note
        if self.prompts:
            agents["prompts"] = dict(self.prompts)
        return {"name": "imc-sms", "params": dict(self.opts), "agents": agents, "fitted_on": self.fitted_on,
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
