"""The view of a certificate: its JSON turned into plain dicts and lists for the template.

Each section of the page has a function here; the template only loops and branches over
what :func:`build_view` returns. Fields a certificate lacks (older schemas) are shown as
missing, never fail the page.
"""

from __future__ import annotations

from typing import Any, Optional

from .._format import json_text as _text
from .._format import number, signed
from . import charts
from .embed import png_data_uri

__all__ = ["build_view"]

DEFAULT_DISCLAIMER = ("Bench testing of robustness to input perturbations. This report is not a conformity "
                      "assessment, a clearance, an approval or a clinical validation of the model.")
SIGN_OFF_ROLES = ("tester", "clinical reviewer", "approver")
MAX_MANIFEST_ROWS = 20
MAX_STRATA_ROWS = 24


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _rows(mapping: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested dicts into ``(dotted key, text)`` rows, keys sorted."""
    out: list[tuple[str, str]] = []
    for key in sorted(_d(mapping), key=lambda k: (k != "name", str(k))):
        value = mapping[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.extend(_rows(value, name + "."))
        else:
            out.append((name, _text(value) if value is not None else "none"))
    return out


def build_view(cert: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, computed from the certificate dict."""
    protocol = _d(cert.get("protocol"))
    specs = [_spec_view(s) for s in _l(cert.get("specs"))]
    cases = [_case_view(c) for c in _l(cert.get("cases"))]
    return {
        "schema": str(cert.get("schema", "unknown")),
        "cover": _cover(cert, protocol, specs),
        "identification": _identification(cert),
        "test_data": _test_data(cert),
        "noises": _noises(cert),
        "protocol": _protocol(protocol),
        "specs": specs,
        "calibrated": any(c["ab"] for s in specs for c in s["checks"]),
        "calibrator": str(_d(cert.get("calibrator")).get("name", "calibrator")),
        "curves": _curves(_d(cert.get("results"))),
        "heatmap": _heatmap(_d(cert.get("results"))),
        "strata": _strata(specs),
        "repeatability": _d(cert.get("repeatability")) or None,
        "cases": cases,
        "minimal_failures": [s for s in specs if s["minimal_failure"]] if not cases else [],
        "sample_errors": _l(cert.get("sample_errors")),
        "shortcuts": _shortcuts(_d(cert.get("shortcuts"))),
        "limitations": [str(x) for x in _l(cert.get("limitations"))],
        "known_failures": [s for s in specs if s["outcome"] == "known failure"],
        "sign_off": _sign_off(protocol),
        "section_digests": sorted(_d(cert.get("section_digests")).items()),
        "answers": {"rows": _d(cert.get("answers")).get("rows"), "sha256": _d(cert.get("answers")).get("sha256"),
                    "arms": [str(a) for a in _l(_d(cert.get("answers")).get("arms"))]} if cert.get("answers") else None,
        "run_rows": _rows(_d(cert.get("run")).get("options")),
        "plugins": _rows(_d(cert.get("run")).get("plugins")),
    }


def _cover(cert: dict[str, Any], protocol: dict[str, Any], specs: list[dict[str, Any]]) -> dict[str, Any]:
    verdict = str(cert.get("verdict", "NOT RUN"))
    summary = _d(cert.get("summary"))
    by_conclusion = _d(summary.get("checks_by_conclusion"))
    if not by_conclusion:
        by_conclusion = {k: sum(1 for s in specs for c in s["checks"] if c["conclusion"] == k)
                         for k in ("pass", "fail", "inconclusive")}
    judgement = _d(cert.get("judgement"))
    return {
        "verdict": verdict,
        "verdict_class": verdict.lower().replace(" ", "-"),
        "reason": judgement.get("reason"),
        "validity": judgement.get("validity") if judgement else None,
        "completeness": judgement.get("completeness") if judgement else None,
        "verdict_rule": cert.get("verdict_rule"),
        "date": _d(cert.get("timing")).get("finished_at"),
        "journal_use": _d(_d(cert.get("timing")).get("journal_use")),
        "digest": cert.get("digest"),
        "disclaimer": cert.get("scope_disclaimer") or DEFAULT_DISCLAIMER,
        "protocol_sha": protocol.get("sha256"),
        "protocol_title": protocol.get("title"),
        "protocol_version": protocol.get("version"),
        "placeholder": bool(protocol.get("placeholder", True)) or not protocol,
        "recorded_protocol": bool(protocol),
        "deviations": len(_l(protocol.get("deviations"))),
        "model": _d(cert.get("model")).get("name"),
        "calibrator": _d(cert.get("calibrator")).get("name"),
        "dataset": _d(cert.get("dataset")).get("name"),
        "seed": _run_seed(cert),
        # pass / fail / inconclusive by each spec's conclusion, the rest by its pytest outcome
        "specs": {"specs": summary.get("specs", len(specs)),
                  **{k: sum(1 for s in specs if s["conclusion"] == k and s["outcome"] != "known failure")
                     for k in ("pass", "fail", "inconclusive")},
                  **{k: sum(1 for s in specs if s["outcome"] == k) for k in ("error", "known failure", "skipped")}},
        "checks": summary.get("checks", sum(len(s["checks"]) for s in specs)),
        "checks_by_conclusion": by_conclusion,
    }


def _identification(cert: dict[str, Any]) -> list[dict[str, Any]]:
    harness = _d(cert.get("harness"))
    run = _d(cert.get("run"))
    environment = _d(cert.get("environment"))
    if not environment:  # schema /1: what the harness recorded about its environment
        environment = {**_d(harness.get("versions")), "platform": harness.get("platform"),
                       "device": _d(cert.get("model")).get("device"),
                       "hypothesis_profile": run.get("hypothesis_profile")}
    dataset = {k: v for k, v in _d(cert.get("dataset")).items() if k != "description"}
    return [
        {"id": "id-model", "title": "Model", "rows": _rows(cert.get("model"))},
        {"id": "id-calibrator", "title": "Calibrator", "rows": _rows(cert.get("calibrator"))},
        {"id": "id-dataset", "title": "Dataset", "rows": _rows(dataset)},
        {"id": "id-harness", "title": "Harness", "rows": [
            ("version", _text(harness.get("version"))), ("git revision", _text(harness.get("git_revision"))),
            ("platform", _text(harness.get("platform"))), ("schema", _text(cert.get("schema")))]},
        {"id": "id-environment", "title": "Environment", "rows": _rows(environment)},
    ]


def _test_data(cert: dict[str, Any]) -> dict[str, Any]:
    td = _d(cert.get("test_data"))
    dataset = _d(cert.get("dataset"))
    description = _d(dataset.get("description"))
    items = _l(td.get("items"))
    ref = _d(td.get("reference_split"))
    return {
        "recorded": bool(td),
        "name": td.get("name", dataset.get("name")),
        "provenance": td.get("provenance") or description.get("generator"),
        "split": td.get("split", dataset.get("split")),
        "n_samples": td.get("n_samples", dataset.get("n_samples")),
        "answer_types": sorted(_d(td.get("answer_types")).items()),
        "strata": [(axis, sorted(_d(counts).items(), key=lambda kv: str(kv[0])))
                   for axis, counts in sorted(_d(td.get("strata")).items())],
        "manifest_digest": td.get("manifest_digest") or dataset.get("samples_digest"),
        "manifest": items[:MAX_MANIFEST_ROWS],
        "manifest_total": len(items),
        "sources": [(name, _d(style)) for name, style in sorted(_d(description.get("styles")).items())],
        "reference": ref or None,
        "overlap": sorted(_d(ref.get("overlap")).items()),
    }


def _noises(cert: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, noise in sorted(_d(cert.get("noises")).items()):
        noise = _d(noise)
        table = [_d(r) for r in _l(noise.get("severities"))]
        params = sorted({k for row in table for k in row}, key=str)
        out.append({
            "name": name, "version": noise.get("version"), "modality": noise.get("modality"),
            "family": noise.get("family"), "description": noise.get("description"),
            "rationale": noise.get("rationale"), "random": noise.get("random"), "plugin": noise.get("plugin"),
            "levels": list(range(1, len(table) + 1)),
            "params": [(p, [_text(row[p]) if p in row else "" for row in table]) for p in params],
            "calibration": [_d(c) for c in _l(noise.get("calibration"))],
        })
    return out


def _protocol(protocol: dict[str, Any]) -> dict[str, Any]:
    criteria = []
    for c in _l(protocol.get("criteria")):
        c = _d(c)
        limit = []
        if c.get("max_drop") is not None:
            limit.append(f"drop ≤ {_text(c['max_drop'])}")
        if c.get("min") is not None:
            limit.append(f"value ≥ {_text(c['min'])}")
        criteria.append({**c, "limit": ", ".join(limit) or "none"})
    deviations = []
    for d in _l(protocol.get("deviations")):
        d = _d(d)
        deviations.append({**d, "protocol_text": _threshold_text(d.get("protocol")),
                           "run_text": _threshold_text(d.get("run"))})
    return {"recorded": bool(protocol), **{k: protocol.get(k) for k in (
        "title", "version", "sha256", "intended_use", "scope", "test_data", "note")},
        "placeholder": bool(protocol.get("placeholder", True)), "criteria": criteria, "deviations": deviations}


def _threshold_text(threshold: Any) -> str:
    return ", ".join(f"{k} {_text(v)}" for k, v in sorted(_d(threshold).items())) or "none"


_OUTCOME_CONCLUSION = {"pass": "pass", "fail": "fail", "known failure": "fail", "error": "error",
                       "skipped": "not run", "not run": "not run"}


def _spec_view(spec: Any) -> dict[str, Any]:
    spec = _d(spec)
    checks = [_check_view(c) for c in _l(spec.get("checks"))]
    outcome = str(spec.get("outcome", spec.get("verdict", "not run")))  # "verdict" before schema /4
    conclusion = str(spec.get("conclusion") or _OUTCOME_CONCLUSION.get(outcome, outcome))
    counts = {k: sum(1 for c in checks if c["conclusion"] == k) for k in ("pass", "fail", "inconclusive")}
    minimal = _d(spec.get("minimal_failure"))
    return {"id": spec.get("id", ""), "name": spec.get("name"), "kind": spec.get("kind"), "outcome": outcome,
            "conclusion": conclusion, "message": spec.get("message") or "", "checks": checks, "counts": counts,
            "minimal_failure": _check_view(minimal) if minimal else None}


def _check_view(check: Any) -> dict[str, Any]:
    check = _d(check)
    conclusion = check.get("conclusion") or ("pass" if check.get("passed") else "fail")
    interval = _d(check.get("interval"))
    ab = _d(check.get("uncalibrated"))
    return {
        "key": check.get("composition_key", ""), "metric": check.get("metric", ""),
        "composition": _l(check.get("composition")),
        "clean": _d(check.get("clean")), "noisy": _d(check.get("noisy")), "drop": check.get("drop"),
        "interval": interval or None,
        "threshold": _threshold_text(check.get("threshold")),
        "conclusion": str(conclusion), "case_id": check.get("case_id"),
        "errors": check.get("model_errors") or 0,
        "strata": _d(check.get("strata")),
        "ab": ab or None,
        # each check says itself whether its threshold departs from the protocol; protocol.deviations keeps
        # only one entry (one composition) per spec, metric and threshold
        "deviation": bool(check.get("deviation")),
    }


def _curves(results: dict[str, Any]) -> list[dict[str, Any]]:
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for curve in _l(results.get("curves")):
        curve = _d(curve)
        points = [_d(p) for p in _l(curve.get("points"))]
        metric, noise = str(curve.get("metric", "")), str(curve.get("noise", ""))
        by_metric.setdefault(metric, []).append({
            "noise": noise, "chart": charts.curve_chart(metric, noise, points), "points": points})
    out = []
    for metric, group in sorted(by_metric.items()):
        severities = sorted({p.get("severity") for g in group for p in g["points"]
                             if isinstance(p.get("severity"), int)})
        table = [(g["noise"], [_point_text(g["points"], s) for s in severities]) for g in group]
        out.append({"metric": metric, "charts": group, "severities": severities, "table": table,
                    "uncalibrated": any(s.label != "measured" for g in group for s in g["chart"].series)})
    return out


def _point_text(points: list[dict[str, Any]], severity: int) -> list[str]:
    """Lines of one curve-table cell: value, its 95 % CI, the value without calibrator if any."""
    for p in points:
        if p.get("severity") == severity:
            lines = [number(p.get("value")), f"[{number(p.get('low'))}, {number(p.get('high'))}]"]
            if isinstance(p.get("uncalibrated"), (int, float)):
                lines.append(f"w/o cal. {number(p['uncalibrated'])}")
            return lines
    return ["–"]


def _heatmap(results: dict[str, Any]) -> Optional[dict[str, Any]]:
    hm = _d(results.get("heatmap"))
    noises = [str(n) for n in _l(hm.get("noises"))]
    severities = [s for s in _l(hm.get("severities")) if isinstance(s, int)]
    if not noises or not severities:
        return None
    cells = [_l(row) for row in _l(hm.get("cells"))]
    chart = charts.heat_map(str(hm.get("metric", "")), noises, severities, cells)
    rows = [(n, [signed(cells[i][j]) if i < len(cells) and j < len(cells[i]) else "n/a"
                 for j in range(len(severities))]) for i, n in enumerate(noises)]
    return {"metric": hm.get("metric"), "chart": chart, "severities": severities, "rows": rows}


def _strata(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One table per stratification axis: rows are checks, columns the axis' values."""
    checks = [(s, c) for s in specs for c in s["checks"] if c["strata"]]
    order = {"fail": 0, "inconclusive": 1}
    checks.sort(key=lambda sc: order.get(sc[1]["conclusion"], 2))
    axes = sorted({axis for _, c in checks for axis in c["strata"]})
    out = []
    for axis in axes:
        rows_all = [(s, c) for s, c in checks if isinstance(c["strata"].get(axis), dict)]
        values = sorted({str(v) for _, c in rows_all for v in c["strata"][axis]})
        rows = []
        for s, c in rows_all[:MAX_STRATA_ROWS]:
            cells = []
            for value in values:
                cell = _d(c["strata"][axis].get(value))
                if cell:
                    clean, noisy = _d(cell.get("clean")), _d(cell.get("noisy"))
                    cells.append(f"{number(clean.get('value'))} → {number(noisy.get('value'))} (n={_text(noisy.get('n'))})")
                else:
                    cells.append("–")
            rows.append({"spec": s["id"], "key": c["key"], "metric": c["metric"], "conclusion": c["conclusion"],
                         "cells": cells})
        out.append({"axis": axis, "columns": values, "rows": rows, "total": len(rows_all)})
    return out


def _case_view(case: Any) -> dict[str, Any]:
    case = _d(case)
    examples = []
    for ex in _l(case.get("examples")):
        ex = _d(ex)
        examples.append({**ex, "image_clean": png_data_uri(ex.get("image_clean_png")),
                         "image_noisy": png_data_uri(ex.get("image_noisy_png"))})
    composition = []
    for applied in _l(case.get("composition")):
        applied = _d(applied)
        extra = {k: v for k, v in applied.items() if k not in ("name", "severity")}
        composition.append({"name": applied.get("name"), "severity": applied.get("severity"),
                            "params": _threshold_text(extra)})
    return {"id": str(case.get("id", "")), "spec": case.get("spec"), "metric": case.get("metric"),
            "key": case.get("composition_key"), "composition": composition,
            "replay": case.get("replay_command"), "replay_case": case.get("replay_case_command"),
            "examples": examples}


def _shortcuts(shortcuts: dict[str, Any]) -> Optional[dict[str, Any]]:
    if not shortcuts:
        return None
    labels = [("clean", "Image and question (clean)"), ("text_only", "Question with an uninformative mid-grey image"),
              ("blank_image", "Question with a black image"), ("majority", "Majority answer, no model")]
    rows = [(label, _d(shortcuts.get(key))) for key, label in labels if isinstance(shortcuts.get(key), dict)]
    return {"metric": shortcuts.get("metric"), "rows": rows, "note": shortcuts.get("note")}


def _sign_off(protocol: dict[str, Any]) -> list[dict[str, str]]:
    given = {str(_d(s).get("role", "")).lower(): _d(s) for s in _l(protocol.get("sign_off"))}
    roles = list(SIGN_OFF_ROLES) + [r for r in given if r not in SIGN_OFF_ROLES]
    return [{"role": r, "name": str(given.get(r, {}).get("name") or ""), "date": str(given.get(r, {}).get("date") or "")}
            for r in roles]


def _run_seed(cert: dict[str, Any]) -> Any:
    """The run's seed: in its options (schema /4), or beside them (schemas /1-/3)."""
    run = _d(cert.get("run"))
    return _d(run.get("options")).get("seed", run.get("seed"))
