"""Failure cases: a failing check's composition, with the examples whose score fell the most.

A case is built by :func:`failure_case` when the check fails, where the
evaluator lives (an xdist worker, or the only process); it travels on the spec
record as plain JSON and is numbered when the certificate is assembled.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Optional

from PIL import Image

from .._canonical import image_digest, text_digest
from ..noise import Composition, apply_composition
from .context import RunContext
from .evaluate import Comparison
from .options import replay_command
from .plugins import plugin_arguments

__all__ = ["MAX_EXAMPLES", "THUMBNAIL_PX", "SEED_RULE", "failure_case", "thumbnail_uri", "case_replay_command"]

MAX_EXAMPLES = 4
"""Examples kept per case: the samples whose score fell the most."""

THUMBNAIL_PX = 96
"""Long side of the thumbnails, so that a full benchmark's certificate stays small."""

SEED_RULE = "derive_seed(run seed, sample id, position, noise name, severity)"
"""How each step's seed derives; the seeds themselves are in each example's ``applied`` records."""


def thumbnail_uri(image: Image.Image, max_px: int = THUMBNAIL_PX) -> str:
    """A ``data:image/png;base64,...`` thumbnail of ``image``, at most ``max_px`` on its long side."""
    thumb = image.copy()
    if thumb.mode not in ("L", "RGB"):
        thumb = thumb.convert("RGB")
    thumb.thumbnail((max_px, max_px), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _steps(noises: Any, composition: Composition) -> list[dict[str, Any]]:
    """The composition's JSON steps, each with its position, its noise's version and modality and the
    parameters its severity level declares."""
    out = []
    for position, step in enumerate(composition.to_json()):
        noise = noises[step["name"]]
        out.append({**step, "position": position, "version": noise.version, "modality": noise.modality,
                    "params": dict(noise.table[step["severity"] - 1]), "seed": SEED_RULE})
    return out


def _fallen(scores: tuple[Optional[float], ...], clean_scores: tuple[Optional[float], ...]) -> list[int]:
    """Indices of samples whose score fell, largest fall first, then in sample order."""
    fell = [(c - s, i) for i, (s, c) in enumerate(zip(scores, clean_scores))
            if s is not None and c is not None and c - s > 0]
    return [i for _, i in sorted(fell, key=lambda t: (-t[0], t[1]))][:MAX_EXAMPLES]


def failure_case(ctx: RunContext, composition: Composition, metric: str, result: Comparison) -> dict[str, Any]:
    """The case of a failing check, ready for JSON (without its ``id``: the certificate numbers cases).

    Args:
        ctx: The run context whose evaluator answered (a worker's under xdist).
        composition: The failing composition.
        metric: The metric name.
        result: The :class:`~medrobust.run.evaluate.Comparison` of the check.
    """
    evaluator = ctx.evaluator
    clean = evaluator.evaluate(Composition())
    noisy = evaluator.evaluate(composition)
    clean_scores = result.clean_scores or (None,) * len(result.scores)
    examples = []
    for i in _fallen(result.scores, clean_scores):
        sample = evaluator.samples[i]
        changed, applied = apply_composition(sample, composition, evaluator.noises, evaluator.run_seed)
        examples.append({
            "sample_id": sample.id,
            "question_clean": sample.question, "question_noisy": changed.question,
            "answer_reference": sample.answer,
            "answer_clean": clean.answers[i], "answer_noisy": noisy.answers[i],
            "score_clean": clean_scores[i], "score_noisy": result.scores[i],
            "image_clean_png": thumbnail_uri(sample.image), "image_noisy_png": thumbnail_uri(changed.image),
            "noisy_image_sha256": image_digest(changed.image),
            "noisy_question_sha256": text_digest(changed.question),
            "applied": [record.to_json() for record in applied],
        })
    return {"metric": metric, "composition": _steps(evaluator.noises, composition), "composition_key": composition.key,
            "replay_command": case_replay_command(ctx, composition, metric), "examples": examples}


def case_replay_command(ctx: RunContext, composition: Composition, metric: str) -> str:
    """The ``medrobust evaluate`` command that re-evaluates ``composition`` under ``metric``, with a
    ``--plugin`` for each plugin file (a conftest) that registered the model, calibrator, dataset, a
    noise or the metric."""
    options = ctx.options
    used = [("models", options.model), ("calibrators", options.calibrator), ("datasets", options.dataset),
            *(("noises", step["name"]) for step in composition.to_json()), ("metrics", metric)]
    return replay_command(options, composition.to_json_text(), metric, plugin_arguments(ctx.host, used))
