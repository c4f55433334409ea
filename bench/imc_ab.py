"""A/B benchmark of calibrators on the imc-11 noises, with paired-bootstrap intervals.

For every noise x severity of the imc-11 preset it prints closed accuracy clean, noisy,
and noisy under each calibrator (imc, its parts, every single baseline and the chains
that give a fair two-modality comparison), averaged over the seeds; then, per
calibrator over all cells:

  calibrated  mean closed accuracy through the calibrator under the noises
  recovered   (calibrated - noisy) / (clean - noisy), with a 95 % paired-bootstrap interval
              (samples resampled, the same draw for every cell, seed and calibrator)
  clean cost  clean accuracy lost by calibrating clean inputs, with its 95 % interval
  fit s       time to fit the calibrator (first seed)
  ms/sample   answering time per sample through the calibrator, less the model's own

and the difference in recovered between imc and the best other calibrator (the single
baselines and the chains, chosen by point estimate), with its interval. A calibrator
may carry options, ``imc-pdc[gate=off]``; ``--ablations`` adds PDC without its gate,
with hard assignment, with the shift formula and with the gate over the whole
descriptor, and SMS with its tools in place of the model's agents. (An oracle-label
PDC ablation is not there yet.) Each seed is a
run of its own (other noise draws); answers are journaled, so a rerun pays only for
what changed. The calibrators are fitted on the reference split only.

    python bench/imc_ab.py [--samples 420] [--severities 2 4] [--seeds 0 1 2] [--calibrators ...]
    python bench/imc_ab.py --ablations      # also PDC without gate, hard, shift...; SMS tools only
    python bench/imc_ab.py --quick          # a smoke run (CI): 24 samples, 2 noises, 2 seeds
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Optional, Sequence

from medrobust.noise import Composition, NoiseStep, resolve_noises
from medrobust.run.context import RunContext
from medrobust.run.options import add_cli_arguments, options_from_args
from medrobust.run.plugins import load_plugins

SINGLE = ("median-denoise", "bilateral-denoise", "nlm-denoise", "spell-correct", "self-correct")
CHAINS = ("spell-correct+median-denoise", "spell-correct+imc-pdc", "imc-sms+median-denoise")
IMC = ("imc", "imc-pdc", "imc-sms")
DEFAULT_CALIBRATORS = IMC + SINGLE + CHAINS
ABLATIONS = ("imc-pdc[gate=off]", "imc-pdc[assignment=hard]", "imc-pdc[formula=shift]",
             "imc-pdc[gate_space=full]", "imc-sms[agents=tools]")
"""PDC without its gate, hard assignment, the shift formula, the gate over the whole descriptor;
SMS with its probability/lexicon tools in place of the model's agents."""
QUICK = {"samples": 24, "noises": ["gaussian_noise", "keyboard_typos"], "severities": [3], "seeds": [0, 1],
         "calibrators": ["spell-correct", "median-denoise", "spell-correct+median-denoise",
                         "median-denoise[kernel=5]"]}


def _scores(values: Sequence[Optional[float]]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def parse_variant(label: str) -> tuple[str, dict[str, str]]:
    """``"imc-pdc[gate=off,strength=0.5]"`` -> ``("imc-pdc", {"gate": "off", "strength": "0.5"})``."""
    name, _, rest = label.partition("[")
    options = dict(part.split("=", 1) for part in rest.rstrip("]").split(",") if "=" in part)
    return name, options


def run_calibrator(host: Any, calibrator: str, compositions: list[Composition], args: argparse.Namespace,
                   seed: int) -> dict[str, Any]:
    """Per-sample scores: clean and noisy (uncalibrated), calibrated clean and noisy, per composition.

    ``calibrator`` is a name or chain, optionally with options: ``imc-pdc[gate=off]``."""
    name, options = parse_variant(calibrator)
    ctx = RunContext(options_from_args(args, calibrator=name, calibrator_options=options, seed=seed), host)
    metric = host.metrics[args.metric]
    started = time.perf_counter()
    ctx.model  # fits the calibrator
    fit_s = time.perf_counter() - started
    calibrated, baseline = ctx.evaluator, ctx.baseline_evaluator
    cells: dict[str, dict[str, list[float]]] = {}
    timed = {"calibrated": 0.0, "uncalibrated": 0.0}
    for comp in compositions:
        t0 = time.perf_counter()
        raw = baseline.compare(comp, metric)
        t1 = time.perf_counter()
        cal = calibrated.compare(comp, metric)
        timed["uncalibrated"] += t1 - t0
        timed["calibrated"] += time.perf_counter() - t1
        cells[comp.key] = {"clean": _scores(raw.clean_scores), "noisy": _scores(raw.scores),
                           "cal_clean": _scores(cal.clean_scores), "cal_noisy": _scores(cal.scores)}
    answered = 2 * len(compositions) * len(ctx.samples)
    return {"fit_s": fit_s, "ms_per_sample": 1000 * (timed["calibrated"] - timed["uncalibrated"]) / answered,
            "cells": cells}


def recovered(results: dict[str, dict[str, Any]], name: str, keys: Sequence[str], rows: Any) -> float:
    """(calibrated - noisy) / (clean - noisy) over ``keys`` (cell, seed) and sample ``rows``."""
    import warnings

    import numpy as np

    clean, noisy, cal = [], [], []
    with warnings.catch_warnings():  # a resample with no closed question gives NaN, dropped by bootstrap()
        warnings.simplefilter("ignore", RuntimeWarning)
        for key in keys:
            cell = results[name]["cells"][key]
            clean.append(np.nanmean(np.asarray(cell["clean"])[rows]))
            noisy.append(np.nanmean(np.asarray(cell["noisy"])[rows]))
            cal.append(np.nanmean(np.asarray(cell["cal_noisy"])[rows]))
        drop = np.mean(clean) - np.mean(noisy)
    return float((np.mean(cal) - np.mean(noisy)) / drop) if drop > 0 else float("nan")


def clean_cost(results: dict[str, dict[str, Any]], name: str, keys: Sequence[str], rows: Any) -> float:
    """Clean accuracy lost by calibrating clean inputs, over sample ``rows`` (the clean inputs are
    the same in every cell and seed, so it is taken on the first)."""
    import warnings

    import numpy as np

    cell = results[name]["cells"][keys[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(np.asarray(cell["clean"])[rows]) - np.nanmean(np.asarray(cell["cal_clean"])[rows]))


def bootstrap(fn: Any, n: int, draws: int, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of ``fn(rows)`` over ``draws`` resamples of ``n`` sample rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    values = np.array([fn(rng.integers(0, n, n)) for _ in range(draws)])
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan")
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def summarise(results: dict[str, dict[str, Any]], keys: list[str], n: int, draws: int) -> list[dict[str, Any]]:
    """Per calibrator: mean calibrated, recovered with its interval, clean cost, costs; imc minus the best other."""
    import numpy as np

    everything = np.arange(n)
    rows = []
    for name, result in results.items():
        cells = [result["cells"][k] for k in keys]
        rec = recovered(results, name, keys, everything)
        rows.append({"calibrator": name,
                     "clean": float(np.mean([np.nanmean(c["clean"]) for c in cells])),
                     "noisy": float(np.mean([np.nanmean(c["noisy"]) for c in cells])),
                     "calibrated": float(np.mean([np.nanmean(c["cal_noisy"]) for c in cells])),
                     "clean_cost": clean_cost(results, name, keys, everything),
                     "clean_cost_interval": bootstrap(lambda r, _n=name: clean_cost(results, _n, keys, r), n, draws),
                     "recovered": rec,
                     "interval": bootstrap(lambda r, _n=name: recovered(results, _n, keys, r), n, draws),
                     "fit_s": result["fit_s"], "ms_per_sample": result["ms_per_sample"]})
    others = [r for r in rows if parse_variant(r["calibrator"])[0] not in IMC and not np.isnan(r["recovered"])]
    if "imc" in results and others:
        best = max(others, key=lambda r: r["recovered"])["calibrator"]

        def diff(r: Any) -> float:
            return recovered(results, "imc", keys, r) - recovered(results, best, keys, r)
        rows.append({"calibrator": f"imc - {best}", "recovered": diff(everything),
                     "interval": bootstrap(diff, n, draws)})
    return rows


def _mean(results: dict[str, dict[str, Any]], name: str, field: str, keys: Sequence[str]) -> float:
    import numpy as np

    return float(np.mean([np.nanmean(results[name]["cells"][k][field]) for k in keys]))


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cli_arguments(parser, exclude=("--calibrator", "--calibrator-option", "--seed"))
    parser.add_argument("--calibrators", nargs="+", default=list(DEFAULT_CALIBRATORS))
    parser.add_argument("--severities", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--ablations", action="store_true", help="also: " + ", ".join(ABLATIONS))
    parser.add_argument("--noises", nargs="+", default=None, help="default: the imc-11 preset")
    parser.add_argument("--metric", default="closed_accuracy")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap draws")
    parser.add_argument("--quick", action="store_true", help="a smoke run: " + json.dumps(QUICK))
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.noises, args.severities = QUICK["samples"], QUICK["noises"], QUICK["severities"]
        args.seeds, args.calibrators, args.bootstrap = QUICK["seeds"], QUICK["calibrators"], 200
    if args.ablations:
        args.calibrators = list(args.calibrators) + [a for a in ABLATIONS if a not in args.calibrators]

    host = load_plugins()
    names = args.noises or resolve_noises("imc-11", host.noises)
    compositions = [Composition((NoiseStep(n, s),)) for n in names for s in args.severities]
    print(f"{len(names)} noises at severities {args.severities}, seeds {args.seeds}, metric {args.metric}")
    results: dict[str, dict[str, Any]] = {}
    for calibrator in args.calibrators:
        if parse_variant(calibrator)[0] not in host.calibrators:
            print(f"{calibrator}: not registered or not a valid chain; skipped")
            continue
        merged: dict[str, Any] = {"cells": {}}
        try:
            for seed in args.seeds:
                run = run_calibrator(host, calibrator, compositions, args, seed)
                merged.setdefault("fit_s", run["fit_s"])
                merged.setdefault("ms_per_sample", run["ms_per_sample"])
                merged["cells"].update({f"{key}#{seed}": cell for key, cell in run["cells"].items()})
        except ValueError as exc:  # a calibrator that cannot run on this model says why
            print(f"{calibrator}: cannot run: {exc}")
            continue
        results[calibrator] = merged
    if not results:
        return
    keys = list(next(iter(results.values()))["cells"])
    n = len(next(iter(results.values()))["cells"][keys[0]]["clean"])

    width = max(12, *(len(c) for c in results))
    print(f"\nclosed accuracy per cell (mean over seeds)\n{'cell':22s}{'clean':>7s}{'noisy':>7s}"
          + "".join(f"{c[:width]:>{width + 1}s}" for c in results))
    name0 = next(iter(results))
    for comp in compositions:
        seeds = [f"{comp.key}#{s}" for s in args.seeds]
        print(f"{comp.key:22s}{_mean(results, name0, 'clean', seeds):7.3f}"
              f"{_mean(results, name0, 'noisy', seeds):7.3f}"
              + "".join(f"{_mean(results, c, 'cal_noisy', seeds):{width + 1}.3f}" for c in results))

    summary = summarise(results, keys, n, args.bootstrap)
    print(f"\nover all cells and seeds ({n} samples, {args.bootstrap} paired bootstrap draws)")
    print(f"{'calibrator':32s}{'calibrated':>11s}{'recovered [95 % interval]':>30s}"
          f"{'clean cost [95 % interval]':>30s}{'fit s':>7s}{'ms/sample':>10s}")
    for row in summary:
        lo, hi = row["interval"]
        rec = f"{row['recovered']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        if "calibrated" in row:
            clo, chi = row["clean_cost_interval"]
            cost = f"{row['clean_cost']:+.3f} [{clo:+.3f}, {chi:+.3f}]"
            print(f"{row['calibrator']:32s}{row['calibrated']:11.3f}{rec:>30s}{cost:>30s}"
                  f"{row['fit_s']:7.1f}{row['ms_per_sample']:10.2f}")
        else:
            print(f"{row['calibrator']:32s}{'':11s}{rec:>30s}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": summary, "results": results}, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
