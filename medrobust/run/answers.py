"""Every answer the run's verdict rests on, one plain row per (arm, composition, sample).

The rows are written beside the certificate as JSON Lines (``<base>.answers.jsonl``, one
canonical JSON object a line, sorted), and the certificate states the file's sha256, so
that anyone can audit, rescore or recount the answers behind each figure (as lm-eval's
``--log_samples`` does for text benchmarks). Under pytest-xdist each process makes the rows of the
compositions it evaluated; the controller merges them (:func:`medrobust.run.facts.merge_facts`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from .._canonical import canonical_json
from ..noise import Composition

__all__ = ["ARMS_NOTE", "answer_rows", "row_key", "answers_jsonl"]

ARMS_NOTE = (
    "One row per (arm, composition, sample): arm 'model' (no calibrator), or 'calibrated' (the model "
    "through the calibrator, as the specs see it) and 'uncalibrated' (the same model without it, the A "
    "arm); composition 'clean' for the clean inputs. Scores are every registered metric of the answer "
    "against the same arm's clean answer. An answer read from the answer journal (an interrupted or "
    "repeated run) gives the same row as one asked now: its noise is re-applied for the records and "
    "digests. The file lies beside the certificate, named after it: <certificate>.answers.jsonl.")
"""What the certificate's ``answers`` section says of the rows."""


def row_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """The identity and sort order of a row: (arm, composition, sample)."""
    return row["arm"], row["composition"], row["sample"]


def answer_rows(ctx: Any) -> list[dict[str, Any]]:
    """The rows of every answer this process holds, sorted by :func:`row_key` (none before the model loaded).

    Args:
        ctx: The run context (:class:`~medrobust.run.context.RunContext`).
    """
    if not ctx.loaded:
        return []
    metrics = {name: ctx.host.metrics[name] for name in sorted(ctx.host.metrics)}
    rows = [row for arm, evaluator in ctx.arms().items() for row in _arm_rows(arm, evaluator, metrics)]
    return sorted(rows, key=row_key)


def _arm_rows(arm: str, evaluator: Any, metrics: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    evaluations = evaluator.evaluations
    clean = evaluations.get(Composition().key)
    samples = evaluator.samples
    clean_answers: tuple[Optional[str], ...] = clean.answers if clean is not None else (None,) * len(samples)
    for key, evaluation in evaluations.items():
        for sample, answer, clean_answer in zip(samples, evaluation.answers, clean_answers):
            digests = evaluation.inputs.get(sample.id)
            yield {"arm": arm, "composition": key, "sample": sample.id, "answer": answer,
                   "error": evaluation.errors.get(sample.id),
                   "noisy_image_sha256": digests[0] if digests else None,
                   "noisy_question_sha256": digests[1] if digests else None,
                   "applied": [r.to_json() for r in evaluation.records.get(sample.id, ())],
                   "scores": {name: _score(metric, sample, answer, clean_answer) for name, metric in metrics.items()}}


def _score(metric: Any, sample: Any, answer: Optional[str], clean_answer: Optional[str]) -> Optional[float]:
    score = metric.score(sample, answer, clean_answer)
    return None if score is None else float(score)


def answers_jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    """The JSON Lines text of ``rows``: one canonical JSON object a line, sorted by :func:`row_key`."""
    return "".join(canonical_json(row) + "\n" for row in sorted(rows, key=row_key))
