"""Choose SMS defaults on the reference split, with generic hand-made typos only.

    python -m medrobust_plugins.imc._sms_tune [--model-path DIR]
    python -m medrobust_plugins.imc._sms_tune --accuracy [--option KEY=VALUE ...]

The typos here (insert, delete, substitute, transpose, double a letter, split a
word, run two words together) are written for tuning and are none of the
catalogue's text noises, so SMS is not tuned to the benchmark it is measured on.
The figure of merit is the mean Damerau-Levenshtein distance of the refined
question to the clean one, with the share of clean questions changed as a
constraint. ``--accuracy`` reports closed accuracy on held-out reference samples
(clean, noisy and SMS-refined) for the imc-11 text noises: SMS is fitted on one half
of the reference split and measured on the other. Neither reads the test split: both
entry points refuse samples that come from it, or that record no split
(:func:`~medrobust_plugins.imc._splits.require_not_test`).
"""

from __future__ import annotations

import argparse
import itertools
import random
import string
import time
from typing import Any, Sequence

import medrobust
from medrobust import is_protected

from ._sms_text import dl_distance
from ._splits import require_not_test
from .sms import SMSCalibrator

__all__ = ["hand_typos", "evaluate", "accuracy_by_text_noise", "tune", "main"]


def hand_typos(text: str, rate: float, seed: int) -> str:
    """Generic typing errors on unprotected words, never creating a protected token."""
    rng = random.Random(seed)
    words = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        core = w.rstrip("?,.")
        trail = w[len(core):]
        if is_protected(w) or len(core) < 2 or rng.random() >= rate:
            out.append(w)
            i += 1
            continue
        op = rng.choice(("insert", "delete", "substitute", "transpose", "double", "split", "merge"))
        j = rng.randrange(len(core))
        c = rng.choice(string.ascii_lowercase)
        new = {
            "insert": core[:j] + c + core[j:],
            "delete": core[:j] + core[j + 1:],
            "substitute": core[:j] + c + core[j + 1:],
            "transpose": core[:j] + core[j + 1:j + 2] + core[j:j + 1] + core[j + 2:],
            "double": core[:j] + core[j] + core[j:],
            "split": core[:max(1, j)] + " " + core[max(1, j):] if len(core) > 3 else core,
            "merge": core,
        }[op]
        if op == "merge" and not trail and i + 1 < len(words) and not is_protected(words[i + 1]):
            new = core + words[i + 1]
            i += 1
            trail = ""
        if any(is_protected(t) for t in new.split()):
            new = core
        out.append(new + trail)
        i += 1
    return " ".join(out)


def evaluate(cal: SMSCalibrator, clean: list[str], rate: float, seed: int = 0) -> dict[str, Any]:
    """Mean edit distance to the clean question, before and after SMS, and clean changes."""
    noisy = [hand_typos(q, rate, seed + k) for k, q in enumerate(clean)]
    t0 = time.time()
    fixed = [r.final for r in cal.refine_many(noisy)]
    seconds = time.time() - t0
    clean_changed = sum(r.changed for r in cal.refine_many(clean)) / len(clean)
    return {
        "noisy_dl": sum(dl_distance(a, b) for a, b in zip(noisy, clean)) / len(clean),
        "refined_dl": sum(dl_distance(a, b) for a, b in zip(fixed, clean)) / len(clean),
        "exact": sum(a == b for a, b in zip(fixed, clean)) / len(clean),
        "clean_changed": clean_changed, "seconds": round(seconds, 2),
    }


IMC11_TEXT = ("keyboard_typos", "ocr_confusions", "asr_homophones", "clinical_misspellings", "word_dropout")


def accuracy_by_text_noise(model: Any, options: dict[str, str], reference: Sequence[Any],
                           severities: tuple[int, ...] = (2, 3, 4)) -> list[dict[str, Any]]:
    """Closed accuracy clean / noisy / SMS-refined per imc-11 text noise, on held-out reference samples.

    SMS is fitted on the first half of ``reference`` and measured on the closed questions of the
    second half.

    Raises:
        medrobust.OptionError: When a sample comes from the test split or records no split.
    """
    from medrobust import Composition, apply_composition, load_plugins

    require_not_test(reference, "_sms_tune.accuracy_by_text_noise")
    noises = load_plugins().noises
    half = len(reference) // 2
    cal = SMSCalibrator(options)
    cal.fit(model, list(reference[:half]), noises)
    wrapped = cal.wrap(model)
    held = [s for s in reference[half:] if s.answer_type == "closed"]

    def acc(answers: list[str]) -> float:
        return sum(a == s.answer for a, s in zip(answers, held)) / len(held)

    clean_acc = acc(model.answer(held))
    t0 = time.time()
    sms_clean = acc(wrapped.answer(held))
    rows = [{"noise": "clean", "severity": 0, "plain": clean_acc, "sms": sms_clean,
             "changed": sum(r.changed for r in wrapped.last_records) / len(held),
             "seconds": round(time.time() - t0, 1)}]
    print(rows[-1], flush=True)
    for name in IMC11_TEXT:
        for sev in severities:
            comp = Composition.of((name, sev))
            noisy = [apply_composition(s, comp, noises, 0)[0] for s in held]
            plain = acc(model.answer(noisy))
            t0 = time.time()
            refined = acc(wrapped.answer(noisy))
            fixed = [r.final for r in wrapped.last_records]
            rows.append({
                "noise": name, "severity": sev, "plain": plain, "sms": refined,
                "changed": sum(r.changed for r in wrapped.last_records) / len(held),
                "dl_noisy": sum(dl_distance(n.question, s.question) for n, s in zip(noisy, held)) / len(held),
                "dl_sms": sum(dl_distance(f, s.question) for f, s in zip(fixed, held)) / len(held),
                "seconds": round(time.time() - t0, 1)})
            print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-path", default=None)
    ap.add_argument("--accuracy", action="store_true", help="closed accuracy on held-out reference samples per text noise")
    ap.add_argument("--option", action="append", default=[], help="KEY=VALUE SMS option (with --accuracy)")
    args = ap.parse_args(argv)
    from medrobust_plugins.reference import ReferenceModel

    model = ReferenceModel({"path": args.model_path})
    reference = medrobust.PhantomVQA({}).samples("reference")
    if args.accuracy:
        accuracy_by_text_noise(model, dict(o.split("=", 1) for o in args.option), reference)
        return
    tune(model, reference)


def tune(model: Any, reference: Sequence[Any]) -> None:
    """Print each option setting's figures of merit on hand-made typos of the reference questions.

    Raises:
        medrobust.OptionError: When a sample comes from the test split or records no split.
    """
    require_not_test(reference, "_sms_tune.tune")
    clean = [s.question for s in reference]
    grid = {"edit_penalty": (0.5, 3.0, 8.0), "margin": (1.0,), "threshold_percentile": (99.0, 100.0),
            "known_words": (True, False)}
    for values in itertools.product(*grid.values()):
        opts = dict(zip(grid, values))
        cal = SMSCalibrator({k: str(v) for k, v in opts.items()})
        cal.fit(model, reference, {})
        res = {r: evaluate(cal, clean, r) for r in (0.2, 0.4)}
        print(opts, {r: {k: round(v, 3) for k, v in x.items()} for r, x in res.items()}, flush=True)


if __name__ == "__main__":
    main()
