"""A/B benchmark of calibrators on the imc-11 noises: how much of the drop each one recovers.

For every calibrator (none, each baseline, imc-pdc, imc-sms, imc) it evaluates the
model through the calibrator and without it on the same noisy inputs (the
imc-11 noises at the chosen severities) and prints, per calibrator:

  clean       closed accuracy of the uncalibrated model on clean inputs
  noisy       mean closed accuracy of the uncalibrated model under the noises
  calibrated  mean closed accuracy through the calibrator under the noises
  recovered   (calibrated - noisy) / (clean - noisy): the fraction of the drop won back
  clean cost  clean accuracy lost by calibrating clean inputs

It also prints the same per modality (image noises, text noises). All figures
come from one run; answers are journaled, so a rerun only pays for what changed.

    python bench/imc_ab.py [--samples 420] [--severities 2 3 4] [--calibrators none imc ...]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from medrobust.noise import Composition, NoiseStep, resolve_noises
from medrobust.run.context import RunContext
from medrobust.run.options import add_cli_arguments, options_from_args
from medrobust.run.plugins import load_plugins

DEFAULT_CALIBRATORS = ("none", "median-denoise", "bilateral-denoise", "nlm-denoise", "spell-correct",
                       "self-correct", "imc-pdc", "imc-sms", "imc")


def evaluate_calibrator(host: Any, calibrator: str, compositions: list[Composition],
                        args: argparse.Namespace) -> dict:
    """Clean, noisy and calibrated closed accuracy for one calibrator, overall and per modality."""
    ctx = RunContext(options_from_args(args, calibrator=calibrator), host)
    metric = host.metrics[args.metric]
    started = time.perf_counter()
    calibrated = ctx.evaluator
    baseline = ctx.baseline_evaluator or calibrated
    rows = []
    for comp in compositions:
        raw = baseline.compare(comp, metric)
        cal = calibrated.compare(comp, metric)
        rows.append({"composition": comp.key, "modality": host.noises[comp.steps[0].name].modality,
                     "clean": raw.clean.value, "noisy": raw.noisy.value, "calibrated": cal.noisy.value,
                     "calibrated_clean": cal.clean.value})
    out = {"calibrator": calibrator, "seconds": round(time.perf_counter() - started, 1), "rows": rows}
    for label, subset in (("all", rows), ("image", [r for r in rows if r["modality"] == "image"]),
                          ("text", [r for r in rows if r["modality"] == "text"])):
        if not subset:
            continue
        clean = subset[0]["clean"]
        noisy = sum(r["noisy"] for r in subset) / len(subset)
        cal = sum(r["calibrated"] for r in subset) / len(subset)
        drop = clean - noisy
        out[label] = {"clean": clean, "noisy": noisy, "calibrated": cal,
                      "recovered": (cal - noisy) / drop if drop > 0 else float("nan"),
                      "clean_cost": clean - subset[0]["calibrated_clean"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cli_arguments(parser, exclude=("--calibrator", "--calibrator-option"))
    parser.add_argument("--calibrators", nargs="+", default=list(DEFAULT_CALIBRATORS))
    parser.add_argument("--severities", nargs="+", type=int, default=[2, 3, 4])
    parser.add_argument("--metric", default="closed_accuracy")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    host = load_plugins()
    names = resolve_noises("imc-11", host.noises)
    compositions = [Composition((NoiseStep(n, s),)) for n in names for s in args.severities]
    results = []
    print(f"imc-11 at severities {args.severities}: {len(compositions)} compositions, metric {args.metric}")
    header = f"{'calibrator':18s} {'scope':6s} {'clean':>6s} {'noisy':>6s} {'calib.':>6s} {'recovered':>9s} {'clean cost':>10s} {'s':>6s}"
    print(header)
    print("-" * len(header))
    for calibrator in args.calibrators:
        if calibrator not in host.calibrators:
            print(f"{calibrator:18s} not registered; skipped")
            continue
        try:
            result = evaluate_calibrator(host, calibrator, compositions, args)
        except ValueError as exc:  # a calibrator that cannot run on this model says why
            print(f"{calibrator:18s} cannot run: {exc}")
            continue
        results.append(result)
        for scope in ("all", "image", "text"):
            r = result.get(scope)
            if r:
                print(f"{calibrator:18s} {scope:6s} {r['clean']:6.3f} {r['noisy']:6.3f} {r['calibrated']:6.3f} "
                      f"{r['recovered']:9.1%} {r['clean_cost']:+10.3f} {result['seconds']:6.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
