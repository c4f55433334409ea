"""What SMS does to questions, per text noise: how often it changes a clean one, and what it fixes.

SMS is fitted on the clean reference split and refines the phantom-vqa test
questions, clean and under every text noise of the catalogue at the chosen
severities. Printed per noise and severity (and as JSON with ``--json``):

  changed    share of questions SMS rewrote (on clean questions: the clean-change rate, target <= 2 %)
  exact      share whose refined question equals the clean one (the noisy question itself: before)
  dist       mean Damerau-Levenshtein distance to the clean question, noisy -> refined
  harmed     share SMS moved farther from the clean question
  acc        closed accuracy of the model, noisy -> refined question (same image)
  abstain    share where an agent's reply could not be read (the agent abstained)
  ms/q       SMS's time per question

    python bench/sms_report.py [--model-path DIR] [--modes default tools model] [--severities 2 4]
    python bench/sms_report.py --quick          # a few noises and samples (CI runs this)
    python bench/sms_report.py --option reviewer=both   # any imc-sms option, for every mode

``--modes``: ``default`` is SMS as ``--calibrator imc-sms`` runs it (generated
agents where the model has ``format_prompt``, else the tools); ``tools`` the
probability/lexicon tools alone; ``model`` the generated agents (a model without
``format_prompt`` is given ``--format``, e.g. ``"USER: {} ASSISTANT:"``, or skipped).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import medrobust
from medrobust import Composition, apply_composition, closed_answer

ROOT = Path(__file__).resolve().parents[1]
QUICK_NOISES = ("keyboard_typos", "ocr_confusions", "split_words")


class Formatted:
    """A model given ``format_prompt`` from a template string with one ``{}``."""

    def __init__(self, model: Any, template: str) -> None:
        self.model, self.template = model, template

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def format_prompt(self, user_text: str) -> str:
        return self.template.replace("{}", user_text)


def _distance(a: str, b: str) -> int:
    from medrobust_plugins.imc._sms_text import dl_distance

    return dl_distance(a, b)


def _abstained(record: Any) -> bool:
    return any(step.decision == "abstain" for step in record.steps)


def measure(cal: Any, model: Any, samples: list[Any], noisy_questions: list[str]) -> dict[str, Any]:
    """One row: what SMS did to ``noisy_questions`` (the samples' questions under one noise)."""
    started = time.perf_counter()
    records = cal.refine_many(noisy_questions)
    seconds = time.perf_counter() - started
    clean = [s.question for s in samples]
    n = len(samples)
    row: dict[str, Any] = {
        "n": n, "changed": sum(r.changed for r in records) / n,
        "exact_before": sum(q == c for q, c in zip(noisy_questions, clean)) / n,
        "exact_after": sum(r.final == c for r, c in zip(records, clean)) / n,
        "dist_before": sum(_distance(q, c) for q, c in zip(noisy_questions, clean)) / n,
        "dist_after": sum(_distance(r.final, c) for r, c in zip(records, clean)) / n,
        "harmed": sum(_distance(r.final, c) > _distance(q, c)
                      for r, q, c in zip(records, noisy_questions, clean)) / n,
        "abstained": sum(_abstained(r) for r in records) / n, "ms_per_question": 1000 * seconds / n,
        "examples": [{"clean": c, "noisy": q, "refined": r.final}
                     for c, q, r in zip(clean, noisy_questions, records) if r.changed][:3],
    }
    closed = [k for k, s in enumerate(samples) if s.answer_type == "closed"]
    if closed:
        sub = [samples[k] for k in closed]
        before = model.answer([s.replace(question=noisy_questions[k]) for s, k in zip(sub, closed)])
        after = model.answer([s.replace(question=records[k].final) for s, k in zip(sub, closed)])

        def acc(answers: list[str]) -> float:
            return sum(closed_answer(s.answer, a) == medrobust.normalize_answer(s.answer)
                       for a, s in zip(answers, sub)) / len(sub)

        row["acc_before"], row["acc_after"] = acc(before), acc(after)
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every mode's rows: clean, then each text noise at each severity."""
    from medrobust_plugins.imc.sms import SMSCalibrator
    from medrobust_plugins.reference import ReferenceModel

    host = medrobust.load_plugins()
    noises = host.noises
    data = medrobust.PhantomVQA({})
    reference = data.samples("reference")
    test = list(data.samples("test"))[:args.samples]
    names = args.noises or sorted(k for k in noises if noises[k].modality == "text")
    base = ReferenceModel({"path": args.model_path} if args.model_path else {})
    out: dict[str, Any] = {"model": base.describe().get("weights_sha256"), "samples": len(test),
                           "severities": args.severities, "revision": _revision(), "modes": {}}
    noisy = {(name, sev): [apply_composition(s, Composition.of((name, sev)), noises, args.seed)[0].question
                           for s in test] for name in names for sev in args.severities}
    for mode in args.modes:
        model: Any = base
        options = {**dict(o.split("=", 1) for o in args.option),
                   "agents": {"default": "auto", "tools": "tools", "model": "model"}[mode]}
        if mode == "model" and not callable(getattr(base, "format_prompt", None)):
            if not args.format:
                out["modes"][mode] = {"skipped": "the model has no format_prompt; give --format"}
                continue
            model = Formatted(base, args.format)
        cal = SMSCalibrator(options)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cal.fit(model, reference, noises)
        rows = [{"noise": "clean", "severity": 0, **measure(cal, model, test, [s.question for s in test])}]
        for (name, sev), questions in noisy.items():
            rows.append({"noise": name, "severity": sev, **measure(cal, model, test, questions)})
        out["modes"][mode] = {"agents": cal.describe()["agents"], "options": options, "warnings": [str(w.message) for w in caught],
                              "rows": rows}
    return out


def _revision() -> Optional[str]:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def render(result: dict[str, Any]) -> str:
    """The rows as a plain-text table per mode."""
    lines = [f"SMS on phantom-vqa test ({result['samples']} questions), revision {result['revision']}, "
             f"model {result['model']}"]
    for mode, body in result["modes"].items():
        if "skipped" in body:
            lines.append(f"\n[{mode}] skipped: {body['skipped']}")
            continue
        agents = body["agents"]
        lines.append(f"\n[{mode}] agents: {agents['mode']} (assessor={agents['assessor']}, "
                     f"corrector={agents['corrector']}, reviewer={agents['reviewer']})"
                     + "".join(f" {k}={v}" for k, v in body.get("options", {}).items() if k != "agents"))
        lines.append(f"{'noise':24} sev changed  exact b->a     dist b->a     harmed  acc b->a       abstain  ms/q")
        for r in body["rows"]:
            acc = f"{r['acc_before']:.3f}->{r['acc_after']:.3f}" if "acc_before" in r else "-"
            lines.append(f"{r['noise']:24} {r['severity']:>3} {r['changed']:7.1%}  "
                         f"{r['exact_before']:.2f}->{r['exact_after']:.2f}  "
                         f"{r['dist_before']:5.2f}->{r['dist_after']:5.2f}  {r['harmed']:6.1%}  {acc:13}  "
                         f"{r['abstained']:6.1%}  {r['ms_per_question']:.1f}")
        noisy = [r for r in body["rows"] if r["noise"] != "clean"]
        if noisy:
            mean = {k: sum(r.get(k, 0) for r in noisy) / len(noisy)
                    for k in ("exact_before", "exact_after", "acc_before", "acc_after")}
            lines.append(f"{'mean over noises':28} exact {mean['exact_before']:.3f}->{mean['exact_after']:.3f}"
                         f"   acc {mean['acc_before']:.3f}->{mean['acc_after']:.3f}")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-path", default=None, help="reference model weights (default: the embedded ones)")
    ap.add_argument("--modes", nargs="+", default=["default", "tools", "model"],
                    choices=["default", "tools", "model"])
    ap.add_argument("--format", default=None, help="format_prompt template for a model without one ('{}')")
    ap.add_argument("--severities", nargs="+", type=int, default=[2, 4])
    ap.add_argument("--noises", nargs="+", default=None, help="text noises (default: every text noise)")
    ap.add_argument("--samples", type=int, default=100000, help="first N test samples (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--option", action="append", default=[], help="KEY=VALUE imc-sms option for every mode")
    ap.add_argument("--quick", action="store_true", help=f"{', '.join(QUICK_NOISES)} at severity 3, 24 samples")
    ap.add_argument("--json", default=None, help="also write the result as JSON here")
    args = ap.parse_args(argv)
    if args.format is not None and "{}" not in args.format:
        ap.error("--format must contain {} where the user text goes, e.g. 'USER: {} ASSISTANT:'")
    if any("=" not in o for o in args.option):
        ap.error("--option takes KEY=VALUE, e.g. --option reviewer=both")
    if args.quick:
        args.noises, args.severities, args.samples = list(QUICK_NOISES), [3], 24
    result = run(args)
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
