"""Measure the reference model on phantom-vqa's test split, clean and under noise.

    python -m medrobust_plugins.reference.measure [--path DIR] [--json OUT]

Self-contained on purpose (the harness's noise module is not used): Gaussian
pixel noise (additive N(0, sigma) on [0, 1] pixels, clipped) and Gaussian blur
(separable kernel, reflect padding) are implemented here with torch, each seeded.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any, Callable

import numpy as np

NOISE_SIGMAS = (0.05, 0.1, 0.2, 0.3, 0.4)
BLUR_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0)


def _to_tensor(images) -> Any:
    import torch

    return torch.from_numpy(np.stack([np.asarray(im.convert("L"), dtype=np.float32) / 255.0
                                      for im in images]))


def _to_images(x) -> list:
    from PIL import Image

    arr = (x.clamp(0, 1) * 255.0).round().to(dtype=__import__("torch").uint8).numpy()
    return [Image.fromarray(a, mode="L") for a in arr]


def gaussian_noise(x, sigma: float, seed: int = 0):
    """Additive N(0, sigma) on [0, 1] pixels, clipped."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0.0, 1.0)


def gaussian_blur(x, sigma: float):
    """Separable Gaussian blur of [B, H, W] images, radius ceil(3 sigma), reflect padding."""
    import torch
    import torch.nn.functional as F

    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    y = F.pad(x[:, None], (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    y = F.conv2d(y, k.view(1, 1, -1, 1))
    return y[:, 0]


def _tokens(text: str) -> list[str]:
    return text.lower().replace(",", " ").split()


def score(samples, answers: list[str]) -> dict[str, Any]:
    """Closed exact-match accuracy, open token recall, per-kind exact match."""
    closed, recall, per = [], [], {}
    for s, a in zip(samples, answers):
        a = a.strip().lower()
        exact = int(a == s.answer)
        per.setdefault(s.metadata["question_kind"], []).append(exact)
        if s.answer_type == "closed":
            closed.append(exact)
        else:
            ref = _tokens(s.answer)
            got = set(_tokens(a))
            recall.append(sum(t in got for t in ref) / len(ref))
    return {
        "closed_accuracy": round(float(np.mean(closed)), 4),
        "open_recall": round(float(np.mean(recall)), 4),
        "per_kind": {k: round(float(np.mean(v)), 4) for k, v in sorted(per.items())},
    }


def run(path: str | None = None, threads: int = 1) -> dict[str, Any]:
    import torch

    from medrobust.data.phantom import PhantomVQA

    from .model import ReferenceModel

    torch.set_num_threads(threads)
    samples = PhantomVQA({}).samples("test")
    model = ReferenceModel({"path": path})
    clean = _to_tensor([s.image for s in samples])

    def evaluate(images) -> dict[str, Any]:
        return score(samples, model.answer([s.replace(image=im) for s, im in zip(samples, images)]))

    t0 = time.time()
    out: dict[str, Any] = {"n": len(samples), "clean": evaluate([s.image for s in samples])}
    out["clean_seconds"] = round(time.time() - t0, 2)
    conditions: list[tuple[str, Callable]] = []
    conditions += [(f"gaussian_noise sigma={s}", lambda x, s=s: gaussian_noise(x, s)) for s in NOISE_SIGMAS]
    conditions += [(f"gaussian_blur sigma={s}", lambda x, s=s: gaussian_blur(x, s)) for s in BLUR_SIGMAS]
    conditions += [("blank (all black)", lambda x: torch.zeros_like(x))]
    out["noisy"] = {name: evaluate(_to_images(fn(clean))) for name, fn in conditions}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", default=None, help="weights directory (default: shipped weights)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args(argv)
    res = run(args.path, args.threads)
    c = res["clean"]
    print(f"phantom-vqa test, n={res['n']} ({res['clean_seconds']} s per pass)")
    print(f"clean: closed accuracy {c['closed_accuracy']:.3f}  open recall {c['open_recall']:.3f}")
    print("  per kind: " + "  ".join(f"{k} {v:.3f}" for k, v in c["per_kind"].items()))
    print(f"{'condition':28s} closed  open   d_closed")
    for name, r in res["noisy"].items():
        print(f"{name:28s} {r['closed_accuracy']:.3f}  {r['open_recall']:.3f}  "
              f"{r['closed_accuracy'] - c['closed_accuracy']:+.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
