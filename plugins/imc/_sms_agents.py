"""SMS's tools: the probability assessor, the lexicon-search corrector, the likelihood reviewer.

:class:`SMSAgents` is the part of :class:`~medrobust_plugins.imc.sms.SMSCalibrator`
that works from the model's token probabilities and the lexicon alone (the
tool-only mode, and the tools the generated agents of
:mod:`~medrobust_plugins.imc._sms_model_agents` use); it reads the calibrator's
``opts``, ``thresholds``, ``lexicon``, the model it scores with (``_model``) and
its score cache (``_cache``). The method is described in :mod:`medrobust_plugins.imc.sms`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional, Sequence

import medrobust

from ._sms_records import MAX_RECORDED_WORDS, SMSRecord, SMSStep, round4 as _r
from ._sms_text import Lexicon, edit_fraction, protected_sequence, word_candidates, word_scores, words_of

__all__ = ["SMSAgents"]


class SMSAgents:
    """Assessor, corrector and reviewer over the fitted state of an SMS calibrator."""

    opts: dict[str, Any]
    thresholds: dict[str, float]
    lexicon: Optional[Lexicon]
    _model: Any
    _cache: OrderedDict[str, list[tuple[str, float]]]

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

    # -- agents -----------------------------------------------------------------
    def _unusual(self, word: Any, surprisal: float, pieces: int) -> bool:
        """Does the model find this word unusual next to clean reference words?"""
        th, chars = self.thresholds, max(1, len(word.text))
        if self.opts["known_words"] and word.parts[1] and word.parts[1].lower() not in self.lexicon:
            return True
        return (surprisal / chars > th["word_surprisal_per_char"]
                or pieces / chars > th["word_pieces_per_char"])

    def _assess(self, questions: list[str], images: Optional[list[Any]]) -> list[tuple[list[int], SMSStep]]:
        """The probability (and lexicon) assessor: per question, the flagged words and its step."""
        scores = self._score(questions, images)
        th = self.thresholds
        out = []
        for q, toks in zip(questions, scores):
            words = words_of(q)
            ws = word_scores(q, toks)
            flagged = [i for i, (w, (s, n)) in enumerate(zip(words, ws))
                       if not w.protected and self._unusual(w, s, n)]
            mean = sum(-lp for _, lp in toks) / len(toks) if toks else 0.0
            if not flagged and mean > th["question_mean_surprisal"]:
                free = [i for i, w in enumerate(words) if not w.protected]
                if free:
                    flagged = [max(free, key=lambda i: ws[i][0])]
            step = SMSStep("assessor", 0, q, q, "noisy" if flagged else "clean", {
                "method": "probability", "mean_surprisal": _r(mean),
                "words": [{"word": w.text, "surprisal": _r(s), "pieces": n,
                           "known": w.parts[1].lower() in self.lexicon, "flagged": i in flagged}
                          for i, (w, (s, n)) in enumerate(zip(words, ws)) if i < MAX_RECORDED_WORDS]})
            out.append((flagged, step))
        return out

    def _refine_tools(self, questions: list[str], imgs: Optional[list[Any]],
                      assessed: Optional[list[tuple[list[int], SMSStep]]] = None) -> list[SMSRecord]:
        """The tool-only agents: one record per question (``assessed``: the assessor's work, when done)."""
        records = [SMSRecord(q, q) for q in questions]
        assessed = assessed if assessed is not None else self._assess(questions, imgs)
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
            pieces = medrobust.tokenize(q)
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
        for rnd in range(1, opts["rounds"] + 1):
            proposals: dict[int, tuple[str, list[dict[str, Any]]]] = {}
            for k in open_:
                q = questions[k]
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
                                                    "method": "likelihood", "protected_same": same_protected, "gain": _r(gain),
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
