"""What PDC perceives, and what it does on image noises it was never fitted on.

PDC is fitted as a run fits it (defaults, the reference split). Then, on clean test
images (measured and reported here, never used to choose anything):

1. the gate: the share of clean images it states it leaves untouched (cross-fitted
   on the reference split) against the share it leaves untouched on clean test images;
2. perception: per imc-11 image noise and severity, the share of images labelled with
   that noise, and the share the gate lets through to calibration;
3. leave-one-noise-out over every image noise of the catalogue: PDC fitted without
   noise X (the imc-11 image noises less X), applied to images under X: the share
   gated, the label it gives most often to those (with its share of them), and the
   feature distance to the clean image's features after calibration over before
   (1.00: unchanged, below 1: closer, above 1: moved the wrong way).

    python bench/pdc_report.py [--samples 64] [--severities 2 4] [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any, Sequence

IMC11 = ("gaussian_noise", "impulse_noise", "motion_blur", "jpeg", "contrast", "pixelate")


def _noisy(samples: Sequence[Any], noise: str, severity: int, noises: Any) -> list[Any]:
    from medrobust import Composition, apply_composition

    comp = Composition.of(f"{noise}@{severity}")
    return [apply_composition(s, comp, noises, 0)[0].image for s in samples]


def _fit(model: Any, reference: Sequence[Any], noises: Any, known: Sequence[str]) -> Any:
    from medrobust_plugins.imc import PDC

    pdc = PDC({"noises": ",".join(known)})
    pdc.fit(model, reference, noises)
    return pdc


def _untouched(model: Any, pdc: Any, samples: Sequence[Any]) -> float:
    """Share of ``samples`` (clean) the gate leaves untouched."""
    if not samples:
        return float("nan")
    return sum(not v[2] for v in pdc.perceive(model.vision_features([s.image for s in samples]))) / len(samples)


def perception_rows(model: Any, pdc: Any, test: Sequence[Any], noises: Any,
                    severities: Sequence[int]) -> list[dict[str, Any]]:
    """Per imc-11 image noise and severity: labelled right, and gated (calibrated)."""
    rows = []
    for noise in IMC11:
        for sev in severities:
            verdicts = pdc.perceive(model.vision_features(_noisy(test, noise, sev, noises)))
            rows.append({"noise": noise, "severity": sev, "n": len(verdicts),
                         "right": sum(v[0] == noise for v in verdicts) / len(verdicts),
                         "gated": sum(v[2] for v in verdicts) / len(verdicts)})
    return rows


def leave_one_out_row(model: Any, pdc: Any, test: Sequence[Any], clean_features: Any, noise: str,
                      severity: int, noises: Any) -> dict[str, Any]:
    """What a PDC that does not know ``noise`` does on it."""
    feats = model.vision_features(_noisy(test, noise, severity, noises)).float()
    verdicts = pdc.perceive(feats)
    calibrated = pdc.calibrate(feats).float()
    before = (feats - clean_features).flatten(1).norm(dim=1)
    after = (calibrated - clean_features).flatten(1).norm(dim=1)
    gated = [v[0] for v in verdicts if v[2]]
    label, count = Counter(gated).most_common(1)[0] if gated else ("-", 0)
    return {"noise": noise, "severity": severity, "gated": len(gated) / len(verdicts),
            "label": label, "label_share": count / max(1, len(gated)),
            "distance_ratio": float(after.mean() / before.mean().clamp_min(1e-12))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=64, help="clean test images measured")
    parser.add_argument("--severities", nargs="+", type=int, default=[2, 4],
                        help="severities of the leave-one-noise-out table (perception: all five)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 12 images, 4 noises, severity 4")
    args = parser.parse_args(argv)

    import medrobust
    from medrobust_plugins.reference import ReferenceModel

    noises = medrobust.load_plugins().noises
    data = medrobust.PhantomVQA({})
    reference, all_test = data.samples("reference"), data.samples("test")
    severities = [4] if args.quick else list(args.severities)
    test = all_test[:12 if args.quick else args.samples]
    image_noises = [n for n in noises if noises[n].modality == "image"]
    if args.quick:
        image_noises = ["gaussian_noise", "contrast", "gaussian_blur", "speckle_noise"]
    model = ReferenceModel({"path": None})

    started = time.perf_counter()
    pdc = _fit(model, reference, noises, IMC11)
    gate = pdc.describe()["gate"]
    fitted = set(pdc.fitted_ids)
    held_out = [s for s in reference if s.id not in fitted]
    print(f"PDC defaults fitted on {pdc.fitted_on} reference images in {time.perf_counter() - started:.1f} s")
    print(f"gate {gate['kind']}: states {gate['clean_untouched']:.3f} of clean images untouched "
          f"(cross-fitted, {gate['folds']} folds); untouched: "
          + ", ".join(f"{_untouched(model, pdc, ss):.3f} of {len(ss)} {what}" for what, ss in
                      (("held-out clean reference images", held_out), ("clean test images", all_test))))
    clean_features = model.vision_features([s.image for s in test]).float()
    print(f"the tables below: {len(test)} test images")
    print(f"prototypes merged into clean (not perceivable): {', '.join(pdc.describe()['merged_into_clean'])}\n")

    print("perception (share labelled with the noise / share gated to calibration)")
    levels = severities if args.quick else [1, 2, 3, 4, 5]
    print(f"{'noise':16s}" + "".join(f"{'sev ' + str(s):>12s}" for s in levels))
    rows = perception_rows(model, pdc, test, noises, levels)
    for noise in IMC11:
        cells = [r for r in rows if r["noise"] == noise]
        print(f"{noise:16s}" + "".join(f"{r['right']:7.2f}/{r['gated']:.2f}" for r in cells))
    mean = {s: sum(r["right"] for r in rows if r["severity"] == s) / len(IMC11) for s in levels}
    print(f"{'mean (6 noises)':16s}" + "".join(f"{mean[s]:7.2f}{'':5s}" for s in levels))

    print("\nleave-one-noise-out: PDC fitted without noise X, applied to X")
    print(f"{'noise X':22s}{'sev':>4s}{'gated':>7s}  {'label of the gated':26s}{'dist after/before':>18s}")
    without: dict[Any, Any] = {None: pdc}
    for noise in image_noises:
        left_out = noise if noise in IMC11 else None
        if left_out not in without:
            without[left_out] = _fit(model, reference, noises, [n for n in IMC11 if n != left_out])
        for sev in severities:
            try:
                r = leave_one_out_row(model, without[left_out], test, clean_features, noise, sev, noises)
            except Exception as exc:  # a noise that cannot apply to these images says why
                print(f"{noise:22s}{sev:4d}  cannot apply: {type(exc).__name__}: {exc}")
                continue
            label = f"{r['label']} ({r['label_share']:.2f})"
            print(f"{noise:22s}{sev:4d}{r['gated']:7.2f}  {label:26s}{r['distance_ratio']:18.3f}")
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
