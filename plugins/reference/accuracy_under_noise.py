"""The reference model's accuracy on phantom-vqa's test split, clean and under noise.

    python -m medrobust_plugins.reference.accuracy_under_noise [--path DIR] [--json OUT] [--clean-only]

Noises come from the harness's registry (``gaussian_noise``, ``gaussian_blur``)
at explicit parameters, scores from its metrics, so the figures are the ones a
robustness run computes. It also measures the two instructions the model follows
in its own format, on the test questions: the share of them judged well written,
of corrupted copies (the training's generic corruption, another seed) judged not,
and of corrupted copies rewritten to the question exactly.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

NOISE_SIGMAS = (0.05, 0.1, 0.2, 0.3, 0.4)
BLUR_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0)


def score(samples, answers: list[str]) -> dict[str, Any]:
    """Closed exact-match accuracy, open token recall, per-kind exact match."""
    from medrobust import METRICS, normalize_answer

    metrics = {m.name: m for m in METRICS}
    out: dict[str, Any] = {}
    for name in ("closed_accuracy", "open_recall"):
        values = [v for s, a in zip(samples, answers) if (v := metrics[name].score(s, a, None)) is not None]
        out[name] = round(sum(values) / len(values), 4)
    per: dict[str, list[float]] = {}
    for s, a in zip(samples, answers):
        per.setdefault(s.metadata["question_kind"], []).append(
            float(normalize_answer(a) == normalize_answer(s.answer)))
    out["per_kind"] = {k: round(sum(v) / len(v), 4) for k, v in sorted(per.items())}
    return out


def run(path: str | None = None, threads: int = 1, clean_only: bool = False) -> dict[str, Any]:
    import torch

    from medrobust import PhantomVQA, image_to_tensor, load_plugins, tensor_to_image

    from .model import ReferenceModel

    noises = load_plugins().noises
    samples = PhantomVQA({}).samples("test")
    model = ReferenceModel({"path": path, "threads": threads})
    clean = torch.cat([image_to_tensor(s.image) for s in samples])

    def evaluate(images: torch.Tensor) -> dict[str, Any]:
        noisy = [s.replace(image=tensor_to_image(images[i:i + 1], s.image.mode)) for i, s in enumerate(samples)]
        return score(samples, model.answer(noisy))

    t0 = time.time()
    out: dict[str, Any] = {"n": len(samples), "clean": score(samples, model.answer(samples))}
    out["clean_seconds"] = round(time.time() - t0, 2)
    from ._instruct import instruction_rates

    unique = list(dict.fromkeys(s.question for s in samples))
    out["instructions"] = {"questions": len(unique), **instruction_rates(
        lambda prompts, n: model.generate(prompts, max_new_tokens=n), model.format_prompt, unique, seed=1)}
    if clean_only:
        return out
    conditions: list[tuple[str, Callable]] = []
    conditions += [(f"gaussian_noise sigma={s}", lambda x, s=s: noises["gaussian_noise"].apply(x, {"sigma": s, "seed": 0}))
                   for s in NOISE_SIGMAS]
    conditions += [(f"gaussian_blur sigma={s}", lambda x, s=s: noises["gaussian_blur"].apply(x, {"sigma": s}))
                   for s in BLUR_SIGMAS]
    conditions += [("blank (all black)", lambda x: torch.zeros_like(x))]
    out["noisy"] = {name: evaluate(fn(clean.clone())) for name, fn in conditions}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", default=None, help="weights directory (default: shipped weights)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--clean-only", action="store_true", help="skip the noisy conditions")
    args = ap.parse_args(argv)
    res = run(args.path, args.threads, args.clean_only)
    c = res["clean"]
    print(f"phantom-vqa test, n={res['n']} ({res['clean_seconds']} s per pass)")
    print(f"clean: closed accuracy {c['closed_accuracy']:.3f}  open recall {c['open_recall']:.3f}")
    print("  per kind: " + "  ".join(f"{k} {v:.3f}" for k, v in c["per_kind"].items()))
    i = res["instructions"]
    print(f"instructions on the {i['questions']} distinct test questions: well written judged yes "
          f"{i['clean_judged_yes']:.3f}, corrupted judged no {i['corrupted_judged_no']:.3f}, "
          f"rewrite restores the question {i['rewrite_restores']:.3f}")
    if "noisy" in res:
        print(f"{'condition':28s} closed  open   d_closed")
    for name, r in res.get("noisy", {}).items():
        print(f"{name:28s} {r['closed_accuracy']:.3f}  {r['open_recall']:.3f}  "
              f"{r['closed_accuracy'] - c['closed_accuracy']:+.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
