"""A realistic schema /3 certificate dict, built offline, following the certificate contract of issue 6.

``make_certificate()`` gives the shape D1 (evidence) and D2 (cases, integrity) write:
protocol with criteria and a deviation, environment, test data with a manifest, curves
and a heat map, repeatability, shortcuts, limitations, failure cases with PNG thumbnails.
Numbers follow a simple seeded model of accuracy falling with severity so that some
checks pass, some fail and some are inconclusive.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import random
import zlib
from typing import Any, Optional, Sequence

from PIL import Image, ImageDraw

from medrobust._canonical import canonical_json
from medrobust.certificate.record import compute_digest

NOISES = {
    "gaussian_noise": ("image", "sensor", "Additive Gaussian sensor noise (low dose, short exposure).",
                       "Low-dose CT and fast MRI trade noise for dose and time.", "sigma", [0.02, 0.04, 0.08, 0.14, 0.2]),
    "motion_blur": ("image", "motion", "Linear motion blur from patient movement during acquisition.",
                    "Patients who cannot hold still: children, dyspnoea, pain.", "kernel_px", [3, 5, 9, 13, 17]),
    "jpeg": ("image", "compression", "Lossy JPEG compression (PACS export, messaging, screenshots).",
             "Images forwarded by e-mail or messenger for a second opinion.", "quality", [80, 50, 30, 15, 7]),
    "contrast": ("image", "display", "Reduced contrast (wrong window, faded print).",
                 "Images photographed from a monitor or film.", "factor", [0.8, 0.6, 0.45, 0.3, 0.2]),
    "char_typos": ("text", "typing", "Characters swapped, dropped or doubled as in hurried typing.",
                   "Questions typed by clinicians between tasks.", "rate", [0.02, 0.05, 0.1, 0.15, 0.25]),
    "word_dropout": ("text", "asr", "Words dropped, as dictation software loses them.",
                     "Dictated questions in noisy wards.", "rate", [0.05, 0.1, 0.15, 0.2, 0.3]),
}
MODALITIES = {"x-ray": 140, "ct": 120, "mri": 110, "fundus photograph": 50}
ORGANS = {"chest": 200, "brain": 120, "eye": 50, "shoulder": 50}


def thumbnail(seed: int, noisy: bool = False, size: int = 64) -> str:
    """A small grey PNG (a disc on a gradient, speckled when ``noisy``) as a data URI."""
    rng = random.Random(seed)
    img = Image.new("L", (size, size))
    img.putdata([int(40 + 150 * x / size) for y in range(size) for x in range(size)])
    draw = ImageDraw.Draw(img)
    r = 8 + seed % 8
    cx, cy = 20 + seed % 24, 22 + (seed * 7) % 20
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=235)
    if noisy:
        px = img.load()
        for _ in range(size * size // 3):
            x, y = rng.randrange(size), rng.randrange(size)
            px[x, y] = max(0, min(255, px[x, y] + rng.choice((-90, 90))))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _est(value: float, n: int, method: str = "wilson") -> dict[str, Any]:
    half = 1.96 * math.sqrt(max(value * (1 - value), 0.01) / n)
    return {"value": round(value, 6), "low": round(max(0.0, value - half), 6), "high": round(min(1.0, value + half), 6),
            "n": n, "method": method}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def make_certificate(*, n_specs: Optional[int] = None, noises: Sequence[str] = tuple(NOISES),
                     severities: Sequence[int] = (1, 2, 3, 4, 5), metrics: Sequence[str] = ("closed_accuracy",),
                     calibrated: bool = True, with_strata: bool = True, n_samples: int = 420,
                     hostile: Optional[dict[str, str]] = None, seed: int = 0) -> dict[str, Any]:
    """A schema /2 certificate dict with its digest.

    Args:
        n_specs: number of specs, each checking every noise at every severity; None gives
            one spec per noise (as a YAML suite does) plus one two-noise hypothesis spec.
        noises: noise names; names outside :data:`NOISES` get generic image-noise entries.
        severities: severities checked.
        metrics: metrics checked per composition.
        calibrated: whether a calibrator ran (A/B columns, uncalibrated curve).
        with_strata: whether checks carry stratified results.
        n_samples: test-set size.
        hostile: strings to plant where a model or dataset speaks: keys ``answer``,
            ``question``, ``sample_id``, ``noise``, ``message``, ``image`` (an image field value).
        seed: seed of the numbers.
    """
    rng = random.Random(seed)
    hostile = hostile or {}
    noise_defs = {n: NOISES.get(n, ("image", "generic", f"Synthetic noise {n}.", f"Rationale of {n}.", "amount",
                                    [0.1 * (i + 1) for i in range(5)])) for n in noises}
    if "noise" in hostile:
        noise_defs[hostile["noise"]] = ("text", "hostile", hostile["noise"], hostile["noise"], "rate", [0.1] * 5)
    weight = {n: 0.01 + 0.012 * i for i, n in enumerate(noise_defs)}
    n_closed = n_samples * 3 // 7
    clean_value = {"closed_accuracy": 0.86, "answer_consistency": 1.0, "open_recall": 0.71}
    thresholds = {"closed_accuracy": {"max_drop": 0.1}, "answer_consistency": {"min": 0.8},
                  "open_recall": {"max_drop": 0.15}}

    def check(key: str, comp: list[dict[str, Any]], metric: str, harm: float, spec_id: str) -> dict[str, Any]:
        n = n_closed if metric == "closed_accuracy" else n_samples
        base = clean_value.get(metric, 0.8)
        noisy_v = max(0.0, base - harm + rng.uniform(-0.01, 0.01))
        clean, noisy = _est(base if base < 1 else 1.0, n), _est(noisy_v, n)
        drop = round(clean["value"] - noisy["value"], 6)
        threshold = thresholds.get(metric, {"max_drop": 0.1})
        if "max_drop" in threshold:
            half = 1.96 * math.sqrt(2 * max(noisy_v * (1 - noisy_v), 0.01) / n) * 0.6
            interval = {"of": "drop", "low": round(drop - half, 6), "high": round(drop + half, 6)}
            limit = threshold["max_drop"]
            concl = "pass" if interval["high"] <= limit else "fail" if interval["low"] > limit else "inconclusive"
        else:
            interval = {"of": "noisy", "low": noisy["low"], "high": noisy["high"]}
            limit = threshold["min"]
            concl = "pass" if interval["low"] >= limit else "fail" if interval["high"] < limit else "inconclusive"
        out = {"composition": comp, "composition_key": key, "metric": metric, "clean": clean, "noisy": noisy,
               "drop": drop, "threshold": threshold, "passed": concl != "fail", "model_errors": 0,
               "conclusion": concl, "interval": interval, "case_id": None, "uncalibrated": None, "strata": {}}
        if calibrated:
            raw = _est(max(0.0, noisy_v - harm * 0.4), n)
            gain = round(noisy["value"] - raw["value"], 6)
            out["uncalibrated"] = {
                "clean": _est(base if base < 1 else 1.0, n), "noisy": raw,
                "noisy_gain": {"diff": gain, "low": round(gain - 0.03, 6), "high": round(gain + 0.03, 6), "n": n,
                               "method": "mcnemar", "a_only": 3, "b_only": 3 + int(gain * n), "p_value": 0.0123},
                "clean_cost": {"diff": -0.004, "low": -0.02, "high": 0.012, "n": n, "method": "mcnemar",
                               "a_only": 2, "b_only": 1, "p_value": 1.0}}
        if with_strata:
            out["strata"] = {
                "modality": {m: {"clean": _est(base, c // 2), "noisy": _est(max(0.0, noisy_v - 0.02 * i), c // 2)}
                             for i, (m, c) in enumerate(MODALITIES.items())},
                "answer_type": {"closed": {"clean": _est(base, n_closed), "noisy": _est(noisy_v, n_closed)}}}
        return out

    def applied(name: str, sev: int, position: int, sample: int = 0) -> dict[str, Any]:
        param, values = noise_defs[name][4], noise_defs[name][5]
        return {"name": name, "severity": sev, "version": "1", "params": {param: values[min(sev, 5) - 1]},
                "seed": (seed * 1_000_003 + zlib.crc32(name.encode()) % 10_000 + 31 * sev + position) % 2**32}

    specs = []
    names = list(noise_defs)
    if n_specs is None:
        groups = [(f"suites/imc-6.robust.yaml::{n}", "yaml", [n]) for n in names]
    else:
        groups = [(f"suites/test_bulk.py::test_spec_{i:03d}", "python", names) for i in range(n_specs)]
    for spec_id, kind, group in groups:
        checks = [check(f"{n}@{s}", [applied(n, s, 0)], m, weight[n] * s ** 1.3, spec_id)
                  for n in group for s in severities for m in metrics]
        specs.append({"id": spec_id, "name": spec_id.split("::")[-1], "kind": kind, "message": "", "checks": checks})
    if n_specs is None and len(names) >= 2:
        a, b = names[0], names[-1]
        comp = [applied(a, 2, 0), applied(b, 3, 1)]
        checks = [check(f"{a}@2+{b}@3", comp, "closed_accuracy", weight[a] * 2.5 + weight[b] * 4.2,
                        "suites/test_mixed.py::test_mild_mixed_noise_keeps_answers")]
        specs.append({"id": "suites/test_mixed.py::test_mild_mixed_noise_keeps_answers", "name": "mixed",
                      "kind": "python", "message": "", "checks": checks})

    for spec in specs:  # the one check the protocol's deviation below names carries its message
        for c in spec["checks"]:
            deviating = (spec is specs[0] and c["metric"] == "closed_accuracy"
                         and c["composition_key"] == f"{names[0]}@1")
            c["deviation"] = "threshold max_drop 0.15 in this run, 0.1 in the protocol" if deviating else None

    cases = []
    for spec in specs:
        worst = {"fail": 0, "inconclusive": 1, "pass": 2}
        spec["conclusion"] = min((c["conclusion"] for c in spec["checks"]), key=worst.get, default="pass")
        spec["outcome"] = {"fail": "fail", "pass": "pass", "inconclusive": "pass"}[spec["conclusion"]]
        failing = [c for c in spec["checks"] if c["conclusion"] == "fail"]
        spec["minimal_failure"] = failing[0] if failing else None
        if failing and len(cases) < 3:
            case_id = f"case-{len(cases) + 1}"
            failing[0]["case_id"] = case_id
            spec["message"] = (f"{failing[0]['metric']} dropped by {failing[0]['drop']:.3f} under "
                               f"{failing[0]['composition_key']} (max_drop {failing[0]['threshold'].get('max_drop')})")
            examples = []
            for k in range(2):
                sid = hostile.get("sample_id", f"test-{17 + 40 * k + len(cases):05d}")
                q = "Is there a lesion in the left lung?"
                qn = hostile.get("question", "Is tehre a lesoin in the lfet lung?")
                examples.append({
                    "sample_id": sid, "question_clean": q, "question_noisy": qn, "answer_reference": "yes",
                    "answer_clean": "yes", "answer_noisy": hostile.get("answer", "no"),
                    "score_clean": 1.0, "score_noisy": 0.0,
                    "image_clean_png": hostile.get("image", thumbnail(k + 3 * len(cases))),
                    "image_noisy_png": thumbnail(k + 3 * len(cases), noisy=True),
                    "noisy_image_sha256": _sha(f"img{k}"), "noisy_question_sha256": _sha(qn)})
            cases.append({"id": case_id, "spec": spec["id"], "metric": failing[0]["metric"],
                          "composition": failing[0]["composition"], "composition_key": failing[0]["composition_key"],
                          "replay_command": (f"medrobust evaluate --model reference --dataset phantom-vqa --seed {seed} "
                                             f"--noise '{failing[0]['composition_key']}' --metric {failing[0]['metric']}"),
                          "replay_case_command": f"medrobust replay reports/certificate.json --case {case_id}",
                          "examples": examples})
    if "message" in hostile and specs:
        specs[0]["message"] = hostile["message"]

    all_checks = [c for s in specs for c in s["checks"]]
    by_concl = {k: sum(1 for c in all_checks if c["conclusion"] == k) for k in ("pass", "fail", "inconclusive")}
    summary = {"specs": len(specs), "pass": sum(s["conclusion"] == "pass" for s in specs),
               "fail": sum(s["conclusion"] == "fail" for s in specs),
               "inconclusive": sum(s["conclusion"] == "inconclusive" for s in specs),
               "error": 0, "skipped": 0, "known failure": 0, "checks": len(all_checks), "checks_by_conclusion": by_concl}
    verdict = "FAIL" if summary["fail"] else "INCONCLUSIVE" if summary["inconclusive"] else "PASS"

    curves, cells = [], []
    for metric in metrics:
        for n in names:
            if n_specs is None:
                singles = {c["composition"][0]["severity"]: c for s in specs for c in s["checks"]
                           if c["metric"] == metric and len(c["composition"]) == 1 and c["composition"][0]["name"] == n}
            else:
                singles = {c["composition"][0]["severity"]: c for c in specs[0]["checks"]
                           if c["metric"] == metric and c["composition"][0]["name"] == n}
            if not singles:
                continue
            first = next(iter(singles.values()))
            points = [{"severity": 0, **{k: first["clean"][k] for k in ("value", "low", "high")},
                       "uncalibrated": first["uncalibrated"]["clean"]["value"] if calibrated else None}]
            for sev in sorted(singles):
                c = singles[sev]
                points.append({"severity": sev, **{k: c["noisy"][k] for k in ("value", "low", "high")},
                               "uncalibrated": c["uncalibrated"]["noisy"]["value"] if calibrated else None})
            curves.append({"metric": metric, "noise": n, "points": points})
            if metric == metrics[0]:
                cells.append([singles[s]["drop"] if s in singles else None for s in severities])

    items = [{"id": f"test-{i:05d}", "image_sha256": _sha(f"image {i}"), "question_sha256": _sha(f"question {i}")}
             for i in range(n_samples)]
    cert: dict[str, Any] = {
        "schema": "medrobust.certificate/4",
        "verdict": verdict,
        "verdict_rule": ("The run FAILS if any check's 95 % interval lies wholly beyond its threshold, is "
                         "INCONCLUSIVE if none fails but at least one interval straddles its threshold, and "
                         "PASSES when every interval lies within its threshold."),
        "scope_disclaimer": ("Bench testing of robustness to input perturbations on the stated test data. This report "
                             "is not a conformity assessment, a regulatory clearance or a clinical validation."),
        "summary": summary,
        "harness": {"version": "0.1.0", "git_revision": "3a0e08c2f9d1b7e4a6c5d8f0e1b2a3c4d5e6f7a8",
                    "platform": "Linux-6.1-x86_64-with-glibc2.36",
                    "versions": {"python": "3.11.7", "torch": "2.5.1+cpu", "transformers": "4.46.0"}},
        "run": {"severity_scale": "declared", "hypothesis_profile": "medrobust",
                "options": {"model": "reference", "dataset": "phantom-vqa", "calibrator": "imc" if calibrated else "none",
                            "seed": seed, "split": "test", "batch_size": 64, "device": "cpu"},
                "plugins": {"models": {"reference": "reference"}, "calibrators": {"imc": "imc", "none": "builtins"}}},
        "model": {"name": "reference", "class": "medrobust_plugins.reference.model.ReferenceModel",
                  "architecture": "LlavaForConditionalGeneration (CLIP vision + Llama)", "parameters": 991232,
                  "device": "cpu", "config_sha256": _sha("config"),
                  "weights_sha256": {"model.safetensors": _sha("weights")},
                  "tokenizer_sha256": {"tokenizer.json": _sha("tok")},
                  "processor_sha256": {"preprocessor_config.json": _sha("proc")},
                  "generation": {"decoding": "greedy", "max_new_tokens": 8, "batch_size": 64,
                                 "prompt_template": "USER: <image>\n{question} ASSISTANT:"}},
        "calibrator": ({"name": "imc", "options": {"pdc": True, "sms": True},
                        "params": {"pdc_prototypes": 32, "sms_steps": 1, "reference_n": 280}}
                       if calibrated else {"name": "none", "options": {}, "params": {}}),
        "dataset": {"name": "phantom-vqa", "split": "test", "n_samples": n_samples, "path": None,
                    "samples_digest": _sha("samples")},
        "noises": {n: {"modality": d[0], "family": d[1], "version": "1", "description": d[2], "rationale": d[3],
                       "random": True, "plugin": "builtins", "severities": [{d[4]: v} for v in d[5]]}
                   for n, d in noise_defs.items()},
        "specs": specs,
        "sample_errors": [{"composition": f"{names[0]}@5", "sample": "test-00311",
                           "error": "RuntimeError: CUDA out of memory (simulated)"}],
        "timing": {"finished_at": "2026-11-28T17:30:52+00:00", "process_seconds": 79.8},
        "local": {"certificate": "reports/certificate", "journal": None},
        "protocol": {
            "placeholder": False, "sha256": _sha("protocol.yaml"), "title": "Chest and brain VQA robustness",
            "version": "1.2", "intended_use": "Decision support answering closed questions about radiographs.",
            "scope": "Acquisition and transmission noise; typed and dictated questions.",
            "test_data": "phantom-vqa test split (420 samples), independent of the reference split.",
            "criteria": [{"id": "C1", "spec": None, "metric": "closed_accuracy", "max_drop": 0.1, "min": None,
                          "justification": "A 10-point drop would change the triage of one case in ten."},
                         {"id": "C2", "spec": None, "metric": "answer_consistency", "max_drop": None, "min": 0.8,
                          "justification": "Answers must not flip for four inputs in five."}],
            "deviations": [{"spec": specs[0]["id"], "metric": "closed_accuracy", "composition_key": f"{names[0]}@1",
                            "protocol": {"max_drop": 0.1}, "run": {"max_drop": 0.15},
                            "message": "threshold max_drop 0.15 in this run, 0.1 in the protocol"}],
            "sign_off": [{"role": "tester", "name": "", "date": ""}, {"role": "clinical reviewer", "name": "", "date": ""},
                         {"role": "approver", "name": "", "date": ""}]},
        "environment": {"python": "3.11.7", "torch": "2.5.1+cpu", "transformers": "4.46.0",
                        "platform": "Linux-6.1-x86_64", "device": "cpu", "torch_threads": 2,
                        "deterministic_algorithms": True, "cudnn_deterministic": None, "cublas_workspace_config": None,
                        "hypothesis_profile": "medrobust"},
        "test_data": {"name": "phantom-vqa", "provenance": "Seeded synthetic lesions on real anatomy "
                      "(scikit-image and pydicom test images, public domain / MIT / CC0).",
                      "split": "test", "n_samples": n_samples, "answer_types": {"closed": n_closed, "open": n_samples - n_closed},
                      "strata": {"modality": MODALITIES, "organ": ORGANS}, "manifest_digest": _sha(canonical_json(items)),
                      "items": items,
                      "reference_split": {"name": "reference", "n_samples": 280,
                                          "overlap": {"ids": 0, "images": 0, "questions": 12}, "independent": True,
                                          "note": "12 question texts recur (templated questions); no image is shared."}},
        "results": {"curves": curves,
                    "heatmap": {"metric": metrics[0], "noises": names[:len(cells)], "severities": list(severities),
                                "cells": cells}},
        "repeatability": {"n": 64, "agree": 64, "rate": 1.0, "low": 0.943, "high": 1.0, "disagreements": []},
        "shortcuts": {"metric": "closed_accuracy", "clean": _est(0.86, n_closed), "text_only": _est(0.52, n_closed),
                      "blank_image": _est(0.41, n_closed), "majority": _est(0.55, n_closed),
                      "note": "Without the image the model falls to the majority baseline: it uses the image."},
        "limitations": [f"{names[-1]} at severity 4 or more drops closed accuracy beyond 0.10.",
                        "Two-noise compositions fail from moderate severities."],
        "cases": cases,
    }
    cert["section_digests"] = {k: hashlib.sha256(canonical_json(v).encode()).hexdigest()
                               for k, v in sorted(cert.items()) if k not in ("timing", "local", "digest")}
    cert["digest"] = compute_digest(cert)
    return cert
