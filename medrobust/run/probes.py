"""Evidence gathered once per run in the process that holds the model.

* repeatability: the clean inputs asked twice more, bypassing cache and journal;
* shortcut baselines: closed accuracy with an uninformative (mid-gray) image, a
  black image, and the majority answer, so a reader sees whether the model uses
  the image;
* the test data: per-item hashes, a manifest digest, strata counts and the
  overlap with the reference split;
* the environment: versions, device, threads and determinism settings.

Everything returned is JSON-ready: under pytest-xdist it travels to the
controller inside the run's facts.
"""

from __future__ import annotations

import os
import platform
from collections import Counter
from typing import Any, Optional, Sequence

from PIL import Image

from .._canonical import canonical_json, image_digest, sha256_json, text_digest
from .._format import rounded
from ..sample import Sample
from .metrics import closed_answer, estimate, normalize_answer
from .stats import paired_difference

__all__ = ["REPEATABILITY_SAMPLES", "SHORTCUT_SAMPLES", "repeatability", "shortcuts", "test_data",
           "environment", "hypothesis_profile", "installed_versions"]

REPEATABILITY_SAMPLES = 64
"""At most this many clean samples are asked twice more."""
SHORTCUT_SAMPLES = 256
"""At most this many closed questions are asked with the image replaced."""


def _ask(model: Any, model_name: str, samples: Sequence[Sample], batch_size: int,
         calls: Any = None) -> list[Optional[str]]:
    """Answers straight from the model: no cache, no journal; a failing sample answers None.

    ``calls`` is the run's :class:`~medrobust.run.model_calls.ModelCalls` (its worker thread and time limit).
    """
    from ..noise import Composition
    from .evaluate import Evaluator

    evaluator = Evaluator(model, model_name, samples, {}, 0, batch_size, calls=calls)
    return list(evaluator.evaluate(Composition()).answers)


def repeatability(model: Any, model_name: str, samples: Sequence[Sample], batch_size: int,
                  limit: int = REPEATABILITY_SAMPLES, calls: Any = None) -> dict[str, Any]:
    """Ask the first ``limit`` clean samples twice and count agreeing answers.

    Samples on which either ask failed are left out of ``n``. ``calls``: the run's model calls.
    """
    subset = list(samples)[:limit]
    first = _ask(model, model_name, subset, batch_size, calls)
    second = _ask(model, model_name, subset, batch_size, calls)
    scores, disagreements = [], []
    for sample, a, b in zip(subset, first, second):
        if a is None or b is None:
            continue
        same = normalize_answer(a) == normalize_answer(b)
        scores.append(float(same))
        if not same:
            disagreements.append(sample.id)
    est = estimate(scores)
    return {"n": est.n, "agree": int(sum(scores)), "rate": rounded(est.value), "low": rounded(est.low),
            "high": rounded(est.high), "asked": len(subset), "disagreements": disagreements,
            "method": "each sample asked twice on clean inputs, bypassing the answer cache and journal; "
                      "answers compared after lower-casing and removing punctuation"}


def _flat(image: Image.Image, level: int) -> Image.Image:
    fill: Any = level if image.mode in ("L", "I", "F", "P", "1") else (level,) * len(image.getbands())
    return Image.new(image.mode if image.mode != "P" else "L", image.size, fill)


def _with_flat_images(samples: Sequence[Sample], level: int) -> list[Sample]:
    """``samples`` with their image replaced by a uniform one of ``level``: one image (and one digest) per
    mode and size, shared by the samples that have them (images are never changed in place), so that 256
    radiographs of 3000 px do not become 256 blank copies of 27 MB each."""
    flats: dict[tuple[str, tuple[int, int]], tuple[Image.Image, str]] = {}
    out = []
    for sample in samples:
        key = (sample.image.mode, sample.image.size)
        if key not in flats:
            flat = _flat(sample.image, level)
            flats[key] = (flat, image_digest(flat))
        flat, digest = flats[key]
        replaced = sample.replace(image=flat)
        replaced.__dict__["image_sha256"] = digest  # Sample.image_sha256's cache: hashed once per image
        out.append(replaced)
    return out


def shortcuts(model: Any, model_name: str, samples: Sequence[Sample], clean_answers: Sequence[Optional[str]],
              batch_size: int, limit: int = SHORTCUT_SAMPLES, calls: Any = None) -> Optional[dict[str, Any]]:
    """Closed accuracy on clean images, a mid-gray image, a black image, and of the majority answer.

    Args:
        samples: The evaluation samples; the first ``limit`` closed ones are used.
        clean_answers: The run's clean answers, aligned with ``samples``.
        calls: The run's :class:`~medrobust.run.model_calls.ModelCalls`.

    Returns:
        None when the data set has no closed questions.
    """
    closed = [(s, a) for s, a in zip(samples, clean_answers) if s.answer_type == "closed"][:limit]
    if not closed:
        return None
    subset = [s for s, _ in closed]

    def correct(answers: Sequence[Optional[str]]) -> list[float]:
        # scored as the closed_accuracy metric scores (a sentence counts by its first yes/no word)
        return [float(a is not None and closed_answer(s.answer, a) == normalize_answer(s.answer))
                for s, a in zip(subset, answers)]

    gray = _ask(model, model_name, _with_flat_images(subset, 128), batch_size, calls)
    black = _ask(model, model_name, _with_flat_images(subset, 0), batch_size, calls)
    counts = Counter(normalize_answer(s.answer) for s in subset)
    majority = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    scores = {"clean": correct([a for _, a in closed]), "text_only": correct(gray), "blank_image": correct(black),
              "majority": correct([majority] * len(subset))}
    return {"metric": "closed_accuracy", "n": len(subset),
            **{name: estimate(values).to_json() for name, values in scores.items()},
            # the model against each shortcut on the same questions: clean minus shortcut, paired 95 % interval
            "margins": {name: paired_difference(scores[name], scores["clean"]).to_json()
                        for name in ("text_only", "blank_image", "majority")},
            "majority_answer": majority,
            "note": f"closed accuracy on the first {len(subset)} closed questions: as asked; with the image "
                    f"replaced by a uniform mid-gray one (the model sees the text only); with a black image; "
                    f"and always answering the most frequent reference answer ({majority!r}). A model that "
                    f"uses the image should beat all three clearly; 'margins' are the paired differences "
                    f"(as asked minus shortcut) with their 95 % intervals."}


def test_data(dataset: Any, samples: Sequence[Sample], name: str, split: str,
              reference_split: str) -> dict[str, Any]:
    """Provenance, answer types, strata counts, per-item hashes and independence from the reference split."""
    items = [{"id": s.id, "image_sha256": s.image_sha256, "question_sha256": text_digest(s.question)}
             for s in samples]
    strata: dict[str, dict[str, int]] = {}
    for key in ("modality", "organ"):
        counts = Counter(str(s.metadata[key]) for s in samples if s.metadata.get(key) not in (None, ""))
        if counts:
            strata[key] = dict(sorted(counts.items()))
    describe = getattr(dataset, "describe", None)
    description = describe() if callable(describe) else {}
    return {"name": name, "provenance": _provenance(name, description), "split": split,
            "n_samples": len(samples),
            "answer_types": {t: sum(1 for s in samples if s.answer_type == t) for t in ("closed", "open")},
            "strata": strata, "manifest_digest": sha256_json(items),
            "items": items, "reference_split": _reference(dataset, reference_split, items)}


def _provenance(name: str, description: Any) -> str:
    if not isinstance(description, dict) or not description:
        return f"dataset {name!r}; its plugin does not describe where the data come from"
    for key in ("provenance", "source", "generator", "description"):
        if isinstance(description.get(key), str) and description[key].strip():
            version = f" version {description['version']}" if description.get("version") else ""
            return f"{description.get('name', name)}{version}: {description[key].strip()}"
    return f"dataset {name!r} as its plugin describes it: {canonical_json(description)}"


def _reference(dataset: Any, split: str, items: list[dict[str, str]]) -> dict[str, Any]:
    try:
        reference = list(dataset.samples(split))
    except Exception as exc:  # a dataset without that split
        return {"name": split, "n_samples": 0, "overlap": None, "independent": None,
                "note": f"the reference split could not be read ({type(exc).__name__}: {exc}); "
                        f"independence is not established"}
    ids = {i["id"] for i in items}
    images = {i["image_sha256"] for i in items}
    questions = {i["question_sha256"] for i in items}
    overlap = {"ids": sum(1 for s in reference if s.id in ids),
               "images": sum(1 for s in reference if s.image_sha256 in images),
               "questions": sum(1 for s in reference if text_digest(s.question) in questions)}
    independent = overlap["ids"] == 0 and overlap["images"] == 0
    note = ("no reference item shares an id or an image with the test data"
            if independent else "reference items share ids or images with the test data: a calibrator "
                                "fitted on them has seen test inputs")
    if overlap["questions"]:
        note += (f"; {overlap['questions']} reference questions occur verbatim in the test data "
                 f"(expected for templated questions)")
    return {"name": split, "n_samples": len(reference), "overlap": overlap, "independent": independent,
            "note": note}


def environment(device: str) -> dict[str, Any]:
    """Versions, device, threads and determinism settings of this process (the seed is in the run's options)."""
    versions = installed_versions(("torch", "transformers"))
    env: dict[str, Any] = {"python": platform.python_version(), "torch": versions["torch"],
                           "transformers": versions["transformers"], "platform": platform.platform(terse=True),
                           "device": device, "torch_threads": None, "deterministic_algorithms": False,
                           "cudnn_deterministic": None,
                           "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
                           "hypothesis_profile": hypothesis_profile()}
    try:
        import torch  # already imported by the noise catalogue
    except ImportError:
        torch = None
    if torch is not None:
        env["torch_threads"] = torch.get_num_threads()
        env["deterministic_algorithms"] = bool(torch.are_deterministic_algorithms_enabled())
        cudnn = getattr(getattr(torch, "backends", None), "cudnn", None)
        env["cudnn_deterministic"] = bool(cudnn.deterministic) if cudnn is not None else None
    return env


def installed_versions(names: Sequence[str]) -> dict[str, Optional[str]]:
    """The installed version of each distribution in ``names`` (None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, Optional[str]] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def hypothesis_profile() -> str:
    """The name of the hypothesis settings profile in effect in this process."""
    try:
        from hypothesis import settings

        return str(settings.get_current_profile_name())
    except Exception:  # pragma: no cover - hypothesis internals changed
        return "unknown"
