"""Every image noise at clinical sizes (512 x 512 gray, 1024 x 1024 RGB) and at the smallest we accept
(32 x 32 gray and RGB), batch 2, under a memory cap.

One subprocess per size applies every image noise in turn under ``RLIMIT_AS`` set, after torch is
imported and the inputs exist, to what the process already maps plus :data:`ALLOWANCE` times the
batch's float32 bytes plus :data:`FIXED_MB`: a noise that builds a temporary larger than that fails
with an allocation error instead of taking the machine's memory. Each noise's time per image must stay
under :data:`SECONDS_PER_IMAGE` (generous: a 2-core CI machine, severity 5).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from medrobust.run.plugins import load_plugins

HOST = load_plugins()
IMAGE = [n for n in HOST.noises if HOST.noises[n].modality == "image"]
SIZES = {"gray32": (1, 32), "rgb32": (3, 32), "gray512": (1, 512), "rgb1024": (3, 1024)}
BATCH = 2
ALLOWANCE = 40
"""Temporaries allowed, in multiples of the batch's float32 bytes (8 MB gray 512, 24 MB RGB 1024)."""
FIXED_MB = 384
SECONDS_PER_IMAGE = 6.0

SCRIPT = r'''
import json, resource, sys, time
import torch
from medrobust.run.plugins import load_plugins
torch.set_num_threads(2)
channels, size, batch, allowance, fixed_mb = (int(a) for a in sys.argv[1:6])
names = sys.argv[6].split(",")
noises = load_plugins().noises
y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
body = ((x ** 2 + y ** 2) < 0.8).float() * (0.5 + 0.2 * torch.sin(9 * x) * torch.cos(7 * y))
images = body.expand(batch, channels, size, size).contiguous().clamp(0, 1)
for name in names[:2]:  # warm-up: lazy imports and thread pools before the cap
    noises[name].apply_batch(images[:, :, :32, :32].contiguous(), [noises[name].params(1, i) for i in range(batch)])
with open("/proc/self/statm") as f:
    mapped = int(f.read().split()[0]) * resource.getpagesize()
cap = mapped + allowance * images.numel() * 4 + fixed_mb * 2 ** 20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
for name in names:
    noise = noises[name]
    params = [noise.params(5, 100 + i) for i in range(batch)]
    started = time.perf_counter()
    try:
        out = noise.apply_batch(images, params)
        ok = (tuple(out.shape) == tuple(images.shape) and out.dtype == images.dtype
              and float(out.min()) >= 0.0 and float(out.max()) <= 1.0)
        result = {"ok": bool(ok), "changed": bool((out != images).any())}
        del out
    except (MemoryError, RuntimeError) as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    result["seconds_per_image"] = (time.perf_counter() - started) / batch
    print(json.dumps({"name": name, **result}), flush=True)
'''


@pytest.fixture(scope="module", params=sorted(SIZES))
def results(request):
    channels, size = SIZES[request.param]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(channels), str(size), str(BATCH), str(ALLOWANCE),
                           str(FIXED_MB), ",".join(IMAGE)], capture_output=True, text=True, timeout=1200)
    rows = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["name"]] = row
    return request.param, rows, proc.stderr[-2000:]


@pytest.mark.parametrize("name", IMAGE)
def test_every_image_noise_runs_at_clinical_sizes_within_memory_and_time(results, name):
    size, rows, stderr = results
    assert name in rows, f"{name} at {size} never reported (the process died?): {stderr}"
    row = rows[name]
    assert row["ok"], f"{name} at {size}: {row.get('error', 'shape, dtype or range changed')}"
    assert row["changed"], f"{name} at {size} left the images unchanged at severity 5"
    assert row["seconds_per_image"] <= SECONDS_PER_IMAGE, f"{name} at {size}: {row['seconds_per_image']:.1f} s"
