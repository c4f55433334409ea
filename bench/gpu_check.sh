#!/usr/bin/env bash
# The GPU checks of issue 13 as one prepared script, for a machine with an NVIDIA GPU (e.g. the H200
# device), run from the repository root in about 9 minutes:
#   1. the CUDA tests (noise on the GPU: skipped on a CPU machine with "needs CUDA");
#   2. bench/harness_overhead.py at 20 ms a sample with the model and the noise on the GPU;
#   3. bench/llava_med_overhead.py at LLaVA-Med size (random weights), plugin vs a bare generate loop.
# Every step has its own time limit and the script goes on past a failing one. Outputs go to $OUT
# (default ./gpu_out). Uses $PYTHON (default: python3, which must have a CUDA torch and medrobust
# installed, e.g. `pip install -e ".[test]"` with the preinstalled CUDA torch).
set -u
OUT=${OUT:-./gpu_out}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
status=()

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s): $*" | tee -a "$OUT/summary.txt"
  local started=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  status+=("$name: exit $rc in $((SECONDS - started)) s")
  tail -n 25 "$OUT/$name.log"
}

"$PYTHON" -c "import torch, medrobust; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>&1 | tee "$OUT/env.txt"
git rev-parse --short HEAD >> "$OUT/env.txt" 2>/dev/null

step cuda_tests 150 "$PYTHON" -m pytest tests/noise/test_jpeg.py tests/noise/test_ct.py tests/noise/test_mri.py \
  tests/noise/test_batch.py tests/test_verdict.py -q -p no:cacheprovider -rs
step harness_overhead 240 "$PYTHON" bench/harness_overhead.py --ms-per-sample 20 --samples 16 --scaling "" \
  --json "$OUT/harness_overhead.json" -- --device cuda --noise-device cuda
step llava_med_overhead 180 "$PYTHON" bench/llava_med_overhead.py --size llava-med --device cuda --batch 32 \
  --samples 64 --rounds 2

echo "=== summary" | tee -a "$OUT/summary.txt"
printf '%s\n' "${status[@]}" | tee -a "$OUT/summary.txt"
