"""bench/imc_ab.py: recovered with paired-bootstrap intervals, imc against the best other, a --quick run."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("imc_ab", ROOT / "bench" / "imc_ab.py")
imc_ab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(imc_ab)


def _result(cal_noisy: list[float], fit_s: float = 1.0) -> dict:
    clean = ([1.0] * 8 + [0.0] * 2) * 4
    noisy = ([1.0] * 4 + [0.0] * 6) * 4
    return {"fit_s": fit_s, "ms_per_sample": 0.5, "cells": {"gaussian_noise@2#0": {
        "clean": clean, "noisy": noisy, "cal_clean": clean, "cal_noisy": cal_noisy}}}


def test_recovered_is_the_share_of_the_drop_won_back_with_a_paired_interval() -> None:
    results = {"imc": _result(([1.0] * 7 + [0.0] * 3) * 4), "spell-correct": _result(([1.0] * 5 + [0.0] * 5) * 4),
               "median-denoise": _result(([1.0] * 4 + [0.0] * 6) * 4)}
    keys = ["gaussian_noise@2#0"]
    rows = {r["calibrator"]: r for r in imc_ab.summarise(results, keys, 40, 300)}
    # clean 0.8, noisy 0.4: imc at 0.7 wins back 0.3 of the 0.4 drop
    assert rows["imc"]["recovered"] == pytest.approx(0.75)
    assert rows["spell-correct"]["recovered"] == pytest.approx(0.25)
    lo, hi = rows["imc"]["interval"]
    assert lo <= 0.75 <= hi and lo < hi
    diff = rows["imc - spell-correct"]  # the best other calibrator, by point estimate
    assert diff["recovered"] == pytest.approx(0.5)
    assert diff["interval"][0] > 0  # imc is right on every sample spell-correct is, and on 8 more
    assert rows["median-denoise"]["interval"] == (0.0, 0.0)
    assert rows["imc"]["clean_cost"] == 0.0 and rows["imc"]["clean_cost_interval"] == (0.0, 0.0)


def test_a_calibrator_variant_carries_its_options() -> None:
    assert imc_ab.parse_variant("imc-pdc[gate=off,strength=0.5]") == ("imc-pdc", {"gate": "off", "strength": "0.5"})
    assert imc_ab.parse_variant("spell-correct+median-denoise") == ("spell-correct+median-denoise", {})
    assert all(imc_ab.parse_variant(a)[1] for a in imc_ab.ABLATIONS)


def test_quick_run_prints_every_cell_calibrator_and_interval(tmp_path) -> None:
    out = tmp_path / "ab.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "imc_ab.py"), "--quick", "--journal", "none",
                           "--json", str(out)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for needle in ("gaussian_noise@3", "keyboard_typos@3", "spell-correct+median-denoise", "median-denoise[kernel=5]",
                   "recovered [95 % interval]", "clean cost [95 % interval]", "ms/sample"):
        assert needle in text, text
    summary = json.loads(out.read_text())["summary"]
    assert [r["calibrator"] for r in summary] == imc_ab.QUICK["calibrators"]
    for row in summary:
        assert row["fit_s"] >= 0 and len(row["interval"]) == 2
        assert math.isnan(row["recovered"]) or row["interval"][0] <= row["recovered"] <= row["interval"][1]
