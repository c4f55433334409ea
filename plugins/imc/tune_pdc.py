"""Choose PDC's defaults on the reference split only: ``python -m medrobust_plugins.imc.tune_pdc``.

The reference split is shuffled (seeded) and cut in two halves: PDC fits its
prototypes on the first, and each option setting is scored on the second, clean
and under the image noises at severities 2-4. The test split is never touched:
:func:`tune` refuses samples that come from it, or that record no split
(:func:`~medrobust_plugins.imc._splits.require_not_test`).

Score = (mean accuracy over the noisy conditions + clean accuracy) / 2, so that
harming clean inputs costs as much as helping all noisy ones gains. Accuracy is
exact match over all answers (closed accuracy is printed too; it has half the
samples). The search is coordinate-wise from the current defaults; every
setting tried is printed.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any, Optional, Sequence

from ._splits import require_not_test
from .pdc import DEFAULTS, IMC11_IMAGE_NOISES, PDC

__all__ = ["SEARCH", "tune", "main"]

SEARCH: list[tuple[str, list[Any]]] = [
    ("formula", ["restandardise", "shift"]),
    ("stats", ["token", "channel"]),
    ("strength", [0.5, 1.0]),
    ("gate", [("both", 0.95), ("posterior", 0.5), ("posterior", 0.8), ("novelty", 0.95)]),
    ("gate_space", ["discriminant", "full"]),
    ("min_separability", [0.6, 0.75, 0.9]),
    ("assignment", ["soft", "hard"]),
    ("bands", ["s1:1,s2:2,s3:3,s4:4,s5:5", "mild:1-2,strong:3-5"]),
    ("shrinkage", [0.02, 0.1, 0.3]),
    ("descriptor", ["stats", "spread"]),
]


def _conditions(samples: list, names: list[str], severities: list[int], noises: Any) -> dict[str, list]:
    from medrobust import Composition, apply_composition

    out = {"clean": samples}
    for name in names:
        for sev in severities:
            comp = Composition.of(f"{name}@{sev}")
            out[comp.key] = [apply_composition(s, comp, noises, 0)[0] for s in samples]
    return out


def _accuracy(model: Any, conditions: dict[str, list], pdc: Any = None, features: Any = None,
              baseline: Any = None) -> dict[str, tuple[float, float]]:
    """Accuracy per condition; with ``pdc``, only the images its gate lets through are
    re-answered (the others' features stay bit-identical, so their answers are the
    baseline's)."""
    res = {}
    for key, samples in conditions.items():
        if pdc is None:
            answers = model.answer(samples)
            baseline[key] = answers
        else:
            answers = list(baseline[key])
            applied = [i for i, v in enumerate(pdc.perceive(features[key])) if v[2]]
            if applied:
                new = model.answer([samples[i] for i in applied])
                for i, a in zip(applied, new):
                    answers[i] = a
        hits = [a == s.answer for a, s in zip(answers, samples)]
        closed = [h for h, s in zip(hits, samples) if s.answer_type == "closed"]
        res[key] = (sum(hits) / len(hits), sum(closed) / max(1, len(closed)))
    return res


def _score(res: dict[str, tuple[float, float]], col: int = 0) -> tuple[float, float, float]:
    noisy = [v[col] for k, v in res.items() if k != "clean"]
    mean_noisy = sum(noisy) / len(noisy)
    return (mean_noisy + res["clean"][col]) / 2, res["clean"][col], mean_noisy


def _options(base: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    opts = dict(base)
    if key == "gate":
        opts["gate"] = value[0]
        opts["margin" if value[0] == "posterior" else "clean_quantile"] = value[1]
    else:
        opts[key] = value
    return opts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", default=None, help="reference model weights (default: shipped)")
    parser.add_argument("--severities", default="2,3,4")
    parser.add_argument("--only", default=None, help="comma-separated options to search (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="passes of the coordinate search")
    args = parser.parse_args(argv)

    from medrobust import PhantomVQA, load_plugins
    from medrobust_plugins.reference import ReferenceModel

    model = ReferenceModel({"path": args.model_path})
    tune(model, list(PhantomVQA({}).samples("reference")), load_plugins().noises,
         [int(s) for s in args.severities.split(",")], args.only, args.seed, args.rounds)


def tune(model: Any, reference: Sequence[Any], noises: Any, severities: Sequence[int],
         only: Optional[str] = None, seed: int = 0, rounds: int = 1) -> dict[str, Any]:
    """Coordinate search of PDC's options on ``reference`` (fit on one half, select on the other).

    Returns:
        The best options found.

    Raises:
        medrobust.OptionError: When a sample comes from the test split or records no split.
    """
    require_not_test(reference, "tune_pdc")
    order = list(range(len(reference)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    fit_half = [reference[i] for i in sorted(order[:half])]
    select_half = [reference[i] for i in sorted(order[half:])]
    conditions = _conditions(select_half, list(IMC11_IMAGE_NOISES), list(severities), noises)
    print(f"fit on {len(fit_half)} reference samples, select on {len(select_half)} "
          f"({len(conditions)} conditions)")

    t = time.time()
    baseline: dict[str, list] = {}
    none = _accuracy(model, conditions, baseline=baseline)
    features = {k: model.vision_features([s.image for s in v]) for k, v in conditions.items()}
    print(f"none: score {_score(none)[0]:.4f} clean {none['clean'][0]:.3f} "
          f"noisy {_score(none)[2]:.3f} (closed: clean {none['clean'][1]:.3f} noisy {_score(none, 1)[2]:.3f}) "
          f"[{time.time() - t:.0f}s]")

    tried: dict[str, float] = {}

    def evaluate(opts: dict[str, Any]) -> float:
        key = repr(sorted(opts.items()))
        if key in tried:
            return tried[key]
        t0 = time.time()
        pdc = PDC(opts)
        pdc.fit(model, fit_half, noises)
        res = _accuracy(pdc.wrap(model), conditions, pdc, features, baseline)
        score, clean, noisy = _score(res)
        _, cclean, cnoisy = _score(res, 1)
        changed = {k: v for k, v in opts.items() if DEFAULTS.get(k) != v}
        print(f"{changed or 'defaults'}: score {score:.4f} clean {clean:.3f} noisy {noisy:.3f} "
              f"(closed: clean {cclean:.3f} noisy {cnoisy:.3f}) [{time.time() - t0:.0f}s]", flush=True)
        tried[key] = score
        return score

    best = {k: v for k, v in DEFAULTS.items()}
    best_score = evaluate(best)
    for _ in range(rounds):
        for key, values in SEARCH:
            if only and key not in only.split(","):
                continue
            for value in values:
                opts = _options(best, key, value)
                score = evaluate(opts)
                if score > best_score + 1e-9:
                    best, best_score = opts, score
    changed = {k: v for k, v in best.items() if DEFAULTS.get(k) != v}
    print(f"best: {changed or 'the current defaults'} score {best_score:.4f}")
    return best


if __name__ == "__main__":
    main()
