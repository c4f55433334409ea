"""What the harness costs over the model: end-to-end runs of the default suites on real-size images.

A model whose answering costs a fixed time per sample (``--ms-per-sample``: 20 ms is a 7B model on
one H200 at batch 64; 5 ms a faster one) answers yes/no questions about 512x512 gray and 1024x1024 RGB
images that this script writes as a JSONL dataset (the image's mean brightness decides the answer, so
the model is valid: it beats the uninformative-image shortcut). The default suites (``suites/``: the
imc-11 noises, evidence probes, certificate and answers file) run on it in a subprocess, as a user
runs them. The model adds up the time spent inside its ``answer`` calls and writes it to a file, so
model time is measured, not assumed. Printed in one run:

* wall time, model time, harness time (wall - model) and overhead (harness / model), per setting, for
  the imc-11 specs (the default suites without the CT/MRI/radiograph acquisition-physics spec, whose
  CPU noise costs seconds an image) and for the whole default suites; the harness time is split into
  the time the model waited for its inputs (noise not hidden behind answering: the first chunk of each
  composition) and the rest (start-up, hypothesis, metrics, evidence probes, certificate), read from the
  certificate's ``timing.stages``;
* noise time per image for each imc-11 image noise at 512 gray and 1024 RGB (batch of 8, CPU);
* the default suites on the embedded data at 1x, 2x and 4x ``--samples``, with ratios to 1x.

    python bench/harness_overhead.py                       # full run (several minutes on 2 cores)
    python bench/harness_overhead.py --quick               # smoke run
    python bench/harness_overhead.py --ms-per-sample 5 --json out.json

Wall time includes pytest's and the plugins' start-up (a few seconds), which a long run amortises.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

TIMED_MODEL = '''

# --- added by bench/harness_overhead.py: a model whose answering costs a fixed time per sample ---
import time as _time

import numpy as _np

import medrobust as _medrobust


class _TimedModel:
    def __init__(self, options):
        self.ms = float(options.get("ms", 20))
        self.log = options.get("log")

    def answer(self, samples):
        started = _time.perf_counter()
        _time.sleep(self.ms / 1000.0 * len(samples))
        out = ["yes" if _np.asarray(s.image).mean() > 127 else "no" for s in samples]
        if self.log:
            spent, ended = _time.perf_counter() - started, _time.time()
            with open(self.log, "a") as f:  # seconds, samples, and the call's start and end (epoch seconds)
                f.write(f"{spent:.6f} {len(samples)} {ended - spent:.4f} {ended:.4f}\\n")
        return out

    def describe(self):
        return {"name": "timed", "ms_per_sample": self.ms}


@_medrobust.hookimpl
def medrobust_register_models(register):
    register("timed", _TimedModel)
'''


def write_dataset(folder: Path, n: int, sizes: list[tuple[str, int]]) -> Path:
    """A JSONL manifest of ``n`` test and ``n`` reference samples per (mode, size): bright or dark images."""
    rng = np.random.default_rng(0)
    lines = []
    for mode, size in sizes:
        y, x = np.mgrid[0:size, 0:size]
        pattern = 40 * np.sin(x / 37.0) * np.cos(y / 23.0)
        for split in ("test", "reference"):
            for i in range(n):
                bright = i % 2 == 0
                base = (170 if bright else 80) + pattern
                gray = np.clip(base + rng.normal(0, 6, (size, size)), 0, 255).astype(np.uint8)
                arr = gray if mode == "L" else np.stack([gray, gray, gray], axis=-1)
                name = f"{mode}{size}-{split}-{i}.png"
                Image.fromarray(arr, mode).save(folder / name)
                lines.append({"id": name[:-4], "image": name, "question": "is the image bright?",
                              "answer": "yes" if bright else "no", "answer_type": "closed", "split": split,
                              "modality": "ct" if mode == "L" else "photo"})
    manifest = folder / "data.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return manifest


def run_suites(workdir: Path, args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, exit status and output tail of ``pytest suites/`` in ``workdir``."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider",
                           "--journal", "none", *args], cwd=workdir, capture_output=True, text=True, env=env)
    return time.perf_counter() - started, proc.returncode, (proc.stdout + proc.stderr)[-1500:]


#: pytest arguments of the spec selections: the imc-11 specs, or every default spec
SELECTIONS = {"imc-11": ["-k", "not acquisition_artifacts"], "all": []}


def _dataset(folder: Path, n: int, sizes: list[tuple[str, int]]) -> Path:
    """The manifest of the dataset of ``n`` samples per size in ``folder``: written there unless it is."""
    folder = folder / f"n{n}-{'-'.join(f'{m}{s}' for m, s in sizes)}"
    if (folder / "data.jsonl").exists():
        return folder / "data.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    return write_dataset(folder, n, sizes)


def overhead(ms: float, n: int, sizes: list[tuple[str, int]], extra: list[str], specs: str = "imc-11",
             data_dir: "Path | None" = None) -> dict[str, Any]:
    """One end-to-end run of the suites (``specs``: a key of :data:`SELECTIONS`) on the timed model and a
    written dataset (kept in ``data_dir`` for the next run, when given)."""
    with tempfile.TemporaryDirectory(prefix="medrobust-overhead-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "suites", work / "suites")
        with open(work / "suites" / "conftest.py", "a", encoding="utf-8") as f:
            f.write(TIMED_MODEL)
        manifest = _dataset(data_dir or work / "data", n, sizes)
        log = work / "model_time.log"
        started_at = time.time()  # epoch, as the model's call log states its calls
        wall, rc, tail = run_suites(work, ["--model", "timed", "--model-option", f"ms={ms}", "--model-option",
                                           f"log={log}", "--dataset", f"jsonl:{manifest}",
                                           "--certificate", str(work / "cert"), *SELECTIONS[specs], *extra],
                                    dict(os.environ))
        calls = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
        model = sum(float(call[0]) for call in calls)
        answers = sum(int(call[1]) for call in calls)
        # the harness before the model's first call (start-up: Python, plugins, data) and after its last
        # (evidence left to compute, certificate, exit)
        before = float(calls[0][2]) - started_at if calls else wall
        after = started_at + wall - float(calls[-1][3]) if calls else 0.0
        cert = json.loads((work / "cert.json").read_text()) if (work / "cert.json").exists() else {}
    stages = (cert.get("timing") or {}).get("stages") or {}
    waiting = sum(arm.get("waiting_for_inputs", 0.0) for arm in stages.values())
    harness = wall - model
    return {"specs": specs, "ms_per_sample": ms, "samples_per_size": n, "sizes": [f"{m}{s}" for m, s in sizes],
            "wall_s": wall, "model_s": model, "harness_s": harness, "waiting_s": waiting,
            "other_s": harness - waiting, "before_first_call_s": before, "after_last_call_s": after,
            "between_calls_s": harness - before - after, "stages": stages,
            "overhead_pct": 100 * harness / model if model else None, "answers": answers, "exit": rc,
            "verdict": cert.get("verdict"), "tail": tail if not cert or rc not in (0, 1) else ""}


def noise_times(sizes: list[tuple[str, int]], batch: int, repeats: int) -> dict[str, dict[str, dict[str, float]]]:
    """ms per image of each imc-11 image noise at severity 3 on ``batch`` images: the op alone
    (``apply_batch`` on a float tensor), and as the harness prepares an input (PIL to tensor, noise,
    back to 8 bits, sha256 of the noisy image)."""
    import torch

    from medrobust._canonical import image_digest
    from medrobust.noise import Composition
    from medrobust.noise.batch import apply_composition_batch
    from medrobust.noise.presets import PRESETS
    from medrobust.run.plugins import load_plugins
    from medrobust.sample import Sample

    noises = load_plugins().noises
    out: dict[str, dict[str, dict[str, float]]] = {}
    rng = np.random.default_rng(0)
    for mode, size in sizes:
        images = torch.rand(batch, 1 if mode == "L" else 3, size, size)
        shape = (size, size) if mode == "L" else (size, size, 3)
        samples = [Sample(f"s{i}", Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode), "q?", "yes",
                          "closed") for i in range(batch)]
        for name in PRESETS["imc-11"]:
            noise = noises[name]
            if noise.modality != "image":
                continue
            params = [noise.params(3, 1000 + i) for i in range(batch)]
            composition = Composition.of((name, 3))

            def prepare() -> None:
                for changed, _ in apply_composition_batch(samples, composition, noises, 0):
                    image_digest(changed.image)

            noise.apply_batch(images, params)  # warm-up
            op = min(_timed(lambda: noise.apply_batch(images, params)) for _ in range(repeats))
            prepared = min(_timed(prepare) for _ in range(repeats))
            out.setdefault(name, {})[f"{mode}{size}"] = {"op": 1000 * op / batch, "prepared": 1000 * prepared / batch}
    return out


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def scaling(samples: list[int]) -> list[dict[str, Any]]:
    """Wall time of the default suites on the embedded data at each ``--samples``."""
    rows = []
    for n in samples:
        with tempfile.TemporaryDirectory(prefix="medrobust-scaling-") as tmp:
            shutil.copytree(ROOT / "suites", Path(tmp) / "suites")
            wall, rc, _ = run_suites(Path(tmp), ["--samples", str(n), "--certificate", str(Path(tmp) / "c")],
                                     dict(os.environ))
        rows.append({"samples": n, "wall_s": wall, "exit": rc, "ratio": wall / rows[0]["wall_s"] if rows else 1.0})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ms-per-sample", type=float, action="append", help="model cost (repeatable; default 20, 5)")
    parser.add_argument("--samples", type=int, default=64, help="test (and reference) samples per image size")
    parser.add_argument("--specs", choices=("imc-11", "all", "both"), default="both",
                        help="the imc-11 specs at every --ms-per-sample, all default specs at the first, or both")
    parser.add_argument("--scaling", default="40,80,160", help="--samples of the embedded-data runs ('' to skip)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny images, 1 ms, no scaling")
    parser.add_argument("--json", help="also write every number here")
    parser.add_argument("--data", type=Path, help="keep the written datasets in this folder and reuse them")
    parser.add_argument("extra", nargs="*", help="further pytest arguments (after --)")
    args = parser.parse_args(argv)
    sizes = [("L", 48), ("RGB", 64)] if args.quick else [("L", 512), ("RGB", 1024)]
    costs = args.ms_per_sample or ([1.0] if args.quick else [20.0, 5.0])
    n = 2 if args.quick else args.samples
    revision = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    print(f"medrobust harness overhead, revision {revision}, command: {' '.join(sys.argv)}")
    result: dict[str, Any] = {"revision": revision, "runs": [], "noise_ms_per_image": {}, "scaling": []}
    print(f"{'specs':>7} {'model ms/sample':>16} {'answers':>8} {'wall s':>8} {'model s':>8} {'harness s':>10} "
          f"{'(start':>7} {'between':>8} {'end)':>5} {'waiting':>8} {'overhead':>9}  verdict")
    plan = [("imc-11", ms) for ms in costs] if args.specs in ("imc-11", "both") else []
    if args.specs in ("all", "both") and not args.quick:
        plan.append(("all", costs[0]))
    for specs, ms in plan:
        run = overhead(ms, n, sizes, args.extra, specs, args.data)
        result["runs"].append(run)
        pct = f"{run['overhead_pct']:.1f} %" if run["overhead_pct"] is not None else "n/a"
        print(f"{specs:>7} {ms:>16g} {run['answers']:>8} {run['wall_s']:>8.1f} {run['model_s']:>8.1f} "
              f"{run['harness_s']:>10.1f} {run['before_first_call_s']:>7.1f} {run['between_calls_s']:>8.1f} "
              f"{run['after_last_call_s']:>5.1f} {run['waiting_s']:>8.1f} {pct:>9}  {run['verdict']} "
              f"(exit {run['exit']})")
        if run["tail"]:
            print(run["tail"])
    result["noise_ms_per_image"] = noise_times(sizes, 2 if args.quick else 8, 1 if args.quick else 3)
    labels = [f"{m}{s}" for m, s in sizes]
    print("\nnoise ms per image (severity 3, batch of 8, CPU): the op alone / as the harness prepares an input")
    print(f"{'noise':>16} " + " ".join(f"{label:>16}" for label in labels))
    for name, row in result["noise_ms_per_image"].items():
        print(f"{name:>16} " + " ".join(f"{row[label]['op']:>7.1f} /{row[label]['prepared']:>7.1f}" for label in labels))
    if args.scaling and not args.quick:
        result["scaling"] = scaling([int(s) for s in args.scaling.split(",")])
        print("\ndefault suites on the embedded data:")
        for row in result["scaling"]:
            print(f"  --samples {row['samples']:>5}: {row['wall_s']:6.1f} s  ({row['ratio']:.2f}x the first)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
