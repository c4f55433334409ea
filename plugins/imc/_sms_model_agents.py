"""SMS's generated agents: the model itself assesses, corrects and reviews, in its own prompt format.

Each agent is a role prompt (an instruction about one question) that
``model.format_prompt`` wraps in the model's own template or chat template, then
``model.generate`` continues; the reply is read by :mod:`._sms_parse`. A reply
that cannot be read is recorded and the agent abstains: the question stays as it
was. The probability and lexicon signals of :class:`._sms_agents.SMSAgents` are
tools the agents use: the meaning check (protected tokens, a lexicon-backed typo
repair) and the edit limit veto every rewrite; ``assessor=either|both`` adds the
probability assessor's vote; ``corrector=best`` lets the model's likelihood choose
between the model's rewrite and the lexicon search's; ``reviewer=both`` also asks
the likelihood gain of ``margin`` nats.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional, Sequence

from ._sms_agents import SMSAgents
from ._sms_parse import parse_rewrite, parse_verdict
from ._sms_records import SMSRecord, SMSStep, bounded, round4 as _r
from ._sms_text import edit_fraction, meaning_changes

__all__ = ["ModelAgents", "ASSESS_PROMPT", "REWRITE_PROMPT", "VERDICT_TOKENS"]

ASSESS_PROMPT = "Is this question well written? Answer yes or no. Question: {question}"
"""The assessor's (and the reviewer's) instruction; ``model.format_prompt`` puts it in the model's format."""
REWRITE_PROMPT = "Rewrite this question correctly: {question}"
"""The corrector's instruction."""
VERDICT_TOKENS = 16
"""Budget of a yes/no reply: enough for "The question is not well written."."""


class ModelAgents(SMSAgents):
    """Assessor, corrector and reviewer as the model's own generated replies, with the tools beside them.

    Reads the calibrator's ``plan`` (which agent is the model's, which a tool) and
    keeps generated replies in ``_replies`` (bounded like the score cache).
    """

    plan: dict[str, str]
    _replies: OrderedDict[tuple[str, int], str]

    # -- asking the model ---------------------------------------------------------
    def _ask(self, instruction: str, questions: Sequence[str], images: Optional[Sequence[Any]],
             max_new_tokens: int) -> list[tuple[str, str]]:
        """(prompt, reply) per question: the instruction in the model's format, continued by the model."""
        if not questions:
            return []
        fmt = self._model.format_prompt
        prompts = [str(fmt(instruction.replace("{question}", q))) for q in questions]
        if images is not None:
            return list(zip(prompts, self._model.generate(prompts, images=list(images),
                                                          max_new_tokens=max_new_tokens)))
        todo = list(dict.fromkeys(p for p in prompts if (p, max_new_tokens) not in self._replies))
        if todo:
            for p, reply in zip(todo, self._model.generate(todo, max_new_tokens=max_new_tokens)):
                self._replies[(p, max_new_tokens)] = str(reply)
        out = [(p, self._replies[(p, max_new_tokens)]) for p in prompts]
        while len(self._replies) > max(self.opts["cache_size"], len(prompts)):
            self._replies.popitem(last=False)
        return out

    def _verdicts(self, questions: Sequence[str], images: Optional[Sequence[Any]]) -> list[dict[str, Any]]:
        """The model's "is it well written?" per question: value True/False/None and what it said."""
        asked = self._ask(self.opts["assess_prompt"], questions, images, VERDICT_TOKENS)
        out = []
        for prompt, reply in asked:
            parsed = parse_verdict(reply)
            out.append({"well_written": parsed.value, "reply": bounded(reply), "read_as": parsed.how,
                        "prompt": bounded(prompt)})
        return out

    # -- the agents -----------------------------------------------------------------
    def refine_many(self, questions: Sequence[str], images: Optional[Sequence[Any]] = None) -> list[SMSRecord]:
        """One record per question: every agent's step (with the model's reply) and the final question."""
        if self.lexicon is None:
            raise RuntimeError("imc-sms: call fit(model, reference_samples, noises) first")
        questions = list(questions)
        imgs = list(images) if (images is not None and self.opts["with_image"]) else None
        plan = self.plan
        if plan["assessor"] == "probability" and plan["corrector"] == "search" and plan["reviewer"] == "likelihood":
            return self._refine_tools(questions, imgs)
        tool = self._assess(questions, imgs) if plan["assessor"] in ("probability", "either", "both") else None
        said = self._verdicts(questions, imgs) if plan["assessor"] != "probability" else None
        records = [SMSRecord(q, q) for q in questions]
        open_ = []
        for k, q in enumerate(questions):
            flagged = bool(tool[k][0]) if tool else None
            verdict = said[k]["well_written"] if said else None
            if plan["assessor"] == "probability":
                decision = "noisy" if flagged else "clean"
            elif plan["assessor"] == "model":
                decision = "abstain" if verdict is None else ("clean" if verdict else "noisy")
            elif plan["assessor"] == "either":
                decision = "noisy" if (verdict is False or flagged) else "clean"
            else:  # both
                decision = "noisy" if (verdict is False and flagged) else "clean"
            scores: dict[str, Any] = {"method": plan["assessor"]}
            if said:
                scores.update(said[k])
            if tool:
                scores["tool"] = tool[k][1].scores
            records[k].steps.append(SMSStep("assessor", 0, q, q, decision, scores))
            if decision == "noisy":
                open_.append(k)
        current = {k: questions[k] for k in open_}
        for rnd in range(1, self.opts["rounds"] + 1):
            if not open_:
                break
            proposals = self._correct(open_, current, questions, imgs, records, rnd)
            open_ = self._review(proposals, current, questions, imgs, records, rnd)
        return records

    def _correct(self, open_: list[int], current: dict[int, str], questions: list[str],
                 imgs: Optional[list[Any]], records: list[SMSRecord], rnd: int) -> dict[int, str]:
        """The corrector's rewrites of the still-open questions (the last rewrite sent back, or the question)."""
        method = self.plan["corrector"]
        texts = [current[k] for k in open_]
        sub_imgs = [imgs[k] for k in open_] if imgs else None
        searched: dict[int, SMSRecord] = {}
        if method in ("search", "best"):
            searched = dict(zip(open_, self._refine_tools(texts, sub_imgs)))
        asked = dict(zip(open_, self._ask(self.opts["rewrite_prompt"], texts, sub_imgs,
                                          self.opts["max_new_tokens"]))) if method != "search" else {}
        proposals: dict[int, str] = {}
        for k in open_:
            src = current[k]
            scores: dict[str, Any] = {"method": method}
            options: list[tuple[str, str]] = []
            unread = False
            if k in asked:
                prompt, reply = asked[k]
                parsed = parse_rewrite(reply, src)
                scores.update({"prompt": bounded(prompt), "reply": bounded(reply), "read_as": parsed.how})
                unread = parsed.value is None
                if not unread:
                    options.append(("model", str(parsed.value)))
            if k in searched:
                scores["search"] = searched[k].final if searched[k].changed else None
                if searched[k].changed:
                    options.append(("search", searched[k].final))
            options = [(who, t) for who, t in options if t != src]
            if len(options) > 1:  # the tools' vetoes first: a rewrite that changes the meaning is no option
                kept = [(who, t) for who, t in options if not self._vetoes(questions[k], t)]
                if len(kept) < len(options):
                    scores["vetoed"] = [who for who, t in options if (who, t) not in kept]
                options = kept or options
            if len(options) > 1:  # the likelihood chooses, each edit charged edit_penalty nats
                lls = self._loglik([t for _, t in options], [imgs[k]] * len(options) if imgs else None)
                values = [ll - self.opts["edit_penalty"] * edit_fraction(src, t) * len(src)
                          for ll, (_, t) in zip(lls, options)]
                scores["values"] = {who: _r(v) for (who, _), v in zip(options, values)}
                options = [options[max(range(len(options)), key=lambda i: values[i])]]
            if options:
                scores["chosen"] = options[0][0]
                proposals[k] = options[0][1]
                records[k].steps.append(SMSStep("corrector", rnd, src, options[0][1], "rewrite", scores))
            else:
                records[k].steps.append(SMSStep("corrector", rnd, src, src, "abstain" if unread else "no-rewrite",
                                                scores))
        return proposals

    def _vetoes(self, question: str, rewrite: str) -> list[str]:
        """Why the tools refuse ``rewrite`` of ``question``: meaning changes, an edit too large."""
        reasons = meaning_changes(question, rewrite, self.lexicon)
        frac = edit_fraction(question, rewrite)
        if frac > self.opts["max_edit_fraction"]:
            reasons.append(f"edit too large ({frac:.2f} of the question)")
        return reasons

    def _review(self, proposals: dict[int, str], current: dict[int, str], questions: list[str],
                imgs: Optional[list[Any]], records: list[SMSRecord], rnd: int) -> list[int]:
        """Accept, reject or send back each rewrite; returns the questions sent back for another round."""
        method = self.plan["reviewer"]
        keys = list(proposals)
        if not keys:
            return []
        texts = [proposals[k] for k in keys]
        gains: Optional[list[float]] = None
        if method in ("likelihood", "both"):
            lls = self._loglik(texts + [questions[k] for k in keys], [imgs[k] for k in keys] * 2 if imgs else None)
            gains = [a - b for a, b in zip(lls[:len(keys)], lls[len(keys):])]
        vetoes: dict[int, list[str]] = {}
        fracs: dict[int, float] = {}
        for n, k in enumerate(keys):
            fracs[k] = edit_fraction(questions[k], proposals[k])
            vetoes[k] = self._vetoes(questions[k], proposals[k])
            if gains is not None and gains[n] < self.opts["margin"]:
                vetoes[k].append("likelihood gain below margin")
        said: dict[int, dict[str, Any]] = {}
        if method in ("model", "both"):  # the model reviews only what the tools let through
            asked = [k for k in keys if not vetoes[k]]
            said = dict(zip(asked, self._verdicts([proposals[k] for k in asked],
                                                  [imgs[k] for k in asked] if imgs else None)))
        sent_back = []
        for n, k in enumerate(keys):
            q, text, reasons = questions[k], proposals[k], vetoes[k]
            scores: dict[str, Any] = {"method": method, "edit_fraction": _r(fracs[k]),
                                      "meaning_changes": [r for r in reasons if r.startswith(("adds", "removes"))]}
            if gains is not None:
                scores["gain"] = _r(gains[n])
            scores.update(said.get(k, {}))
            verdict = said[k]["well_written"] if k in said else None
            if reasons:
                decision = "reject"
            elif method == "likelihood" or verdict is True:
                decision = "accept"
            elif verdict is False:
                decision = "send-back"
            else:
                decision = "abstain"
            scores["reasons"] = reasons
            records[k].steps.append(SMSStep("reviewer", rnd, text, text if decision == "accept" else q,
                                            decision, scores))
            if decision == "accept":
                records[k].final = text
            elif decision == "send-back":
                current[k] = text
                sent_back.append(k)
        return sent_back
