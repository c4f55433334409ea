"""Every image noise at clinical sizes: time per image and peak memory, each measured in a fresh process.

For each size (gray, and RGB at the sizes given by ``--rgb``) and each image noise, a subprocess
imports torch, builds a batch of ``--batch`` phantom images, warms up on a small crop, notes its peak
resident memory (``ru_maxrss``), applies the noise at severity ``--severity`` (``apply_batch``, every
image with its own seed, as the harness does), and reports the time per image and the rise of the peak
over the warm baseline. A noise that fails or runs past ``--timeout`` seconds is reported as such.

    python bench/noise_sizes.py                                  # 256, 512, 1024, 2048 gray; 1024 RGB
    python bench/noise_sizes.py --quick                          # 128 and 256 only
    python bench/noise_sizes.py --noises ct_low_dose,jpeg --sizes 512,1024 --json out.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

MEASURE = r'''
import json, resource, sys, time
import torch
from medrobust.run.plugins import load_plugins
name, channels, size, batch, severity, threads = sys.argv[1], *(int(a) for a in sys.argv[2:7])
torch.set_num_threads(threads)
noise = load_plugins().noises[name]
y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
body = ((x ** 2 + y ** 2) < 0.8).float() * (0.5 + 0.2 * torch.sin(9 * x) * torch.cos(7 * y))
images = body.expand(batch, channels, size, size).contiguous().clamp(0, 1)
params = [noise.params(severity, 100 + i) for i in range(batch)]
noise.apply_batch(images[:, :, :32, :32].contiguous(), params)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
noise.apply_batch(images, params)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ms_per_image": 1000 * seconds / batch, "peak_mb": (peak - base) / 1024}))
'''


def measure(name: str, channels: int, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """One noise at one size in a fresh process."""
    try:
        proc = subprocess.run([sys.executable, "-c", MEASURE, name, str(channels), str(size), str(args.batch),
                               str(args.severity), str(args.threads)], capture_output=True, text=True,
                              timeout=args.timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"over {args.timeout} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["killed"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:120]}"}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="256,512,1024,2048", help="gray sizes, comma-separated")
    parser.add_argument("--rgb", default="1024", help="RGB sizes, comma-separated ('' for none)")
    parser.add_argument("--noises", default="", help="noise names, comma-separated (default: every image noise)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per measurement")
    parser.add_argument("--quick", action="store_true", help="128 and 256 gray, no RGB")
    parser.add_argument("--json", help="also write every number here")
    args = parser.parse_args(argv)
    from medrobust.run.plugins import load_plugins

    noises = load_plugins().noises
    names = args.noises.split(",") if args.noises else [n for n in noises if noises[n].modality == "image"]
    settings = [(f"gray{s}", 1, int(s)) for s in ("128,256" if args.quick else args.sizes).split(",") if s]
    settings += [] if args.quick else [(f"rgb{s}", 3, int(s)) for s in args.rgb.split(",") if s]
    revision = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    print(f"noise sizes, revision {revision}, batch {args.batch}, severity {args.severity}, "
          f"{args.threads} threads; ms per image / peak MB above the warm baseline")
    print(f"{'noise':>22} " + " ".join(f"{label:>16}" for label, _, _ in settings))
    result: dict[str, Any] = {"revision": revision, "settings": [s[0] for s in settings], "noises": {}}
    for name in names:
        row = {label: measure(name, channels, size, args) for label, channels, size in settings}
        result["noises"][name] = row
        cells = [f"{r['ms_per_image']:>8.0f} / {r['peak_mb']:>5.0f}" if "error" not in r else f"{r['error'][:16]:>16}"
                 for r in row.values()]
        print(f"{name:>22} " + " ".join(cells), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
