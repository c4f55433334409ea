"""The ``phantom-vqa`` dataset: seeded medical-style images with known findings."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ...sample import Sample, image_digest
from ._backgrounds import STYLES
from ._questions import ANSWERS, CORE, KINDS, MODALITY_PHRASES, MODALITIES, TEMPLATES
from ._render import IMAGE_SIZE, SIDES, SIZES, RADIUS, draw_scene, render

__all__ = ["PhantomVQA"]

NAME = "phantom-vqa"
VERSION = "2"

#: split -> (code mixed into every sample seed, number of samples)
SPLITS: dict[str, tuple[int, int]] = {
    "train": (1, 21000),
    "reference": (2, 280),
    "test": (3, 420),
}


def _plan(kind: str, j: int, rng: np.random.Generator) -> tuple[str, dict[str, Any], str]:
    """Style, scene arguments and answer for the j-th question of a kind.

    The answer cycles through the kind's answers (balanced splits); the style
    cycles through the styles compatible with that answer.
    """
    answers = ANSWERS[kind]
    answer = answers[j % len(answers)]
    turn = j // len(answers)
    styles = list(STYLES)
    if kind == "organ":
        styles = [s for s in STYLES if STYLES[s]["organ"] == answer]
    elif kind == "modality":
        styles = [s for s in STYLES if STYLES[s]["modality"] == answer]
    style = styles[turn % len(styles)]
    args: dict[str, Any] = {}
    if kind == "presence":
        args["count"] = int(rng.integers(1, 4)) if answer == "yes" else 0
    elif kind == "count":
        args["count"] = int(answer)
    elif kind == "side":
        args["count"] = int(rng.integers(1, 4))
        args["side"] = answer
    elif kind == "size":
        args["count"] = int(rng.integers(1, 4))
        args["size"] = answer
    else:
        args["count"] = int(rng.integers(0, 4))
    return style, args, answer


def make_sample(seed: int, split: str, index: int) -> tuple[Sample, Any]:
    """The sample at ``index`` of ``split`` and its :class:`Scene`."""
    code, _ = SPLITS[split]
    rng = np.random.default_rng(np.random.SeedSequence([seed, code, index]))
    kind = KINDS[index % len(KINDS)]
    style, args, answer = _plan(kind, index // len(KINDS), rng)
    scene = draw_scene(rng, style, **args)
    answer_type, templates = TEMPLATES[kind]
    asked = CORE[kind] if split == "reference" else len(templates)
    template = templates[int(rng.integers(asked))]
    info = STYLES[style]
    fields: dict[str, str] = {}
    if kind == "modality_yn":
        asked = info["modality"]
        if answer == "no":
            others = [m for m in MODALITIES if m != asked]
            asked = others[int(rng.integers(len(others)))]
        article, phrase = MODALITY_PHRASES[asked]
        fields = {"article": article, "modality_phrase": phrase}
        fields["asked_modality"] = asked
    question = template.format(**fields)
    if kind == "organ":
        answer = info["organ"]
    elif kind == "modality":
        answer = info["modality"]
    metadata: dict[str, Any] = {
        "modality": info["modality"],
        "organ": info["organ"],
        "style": style,
        "question_kind": kind,
        "template": templates.index(template),
        "lesion_present": scene.count > 0,
        "lesion_count": scene.count,
        "lesion_side": scene.side,
        "lesion_size": scene.size,
        "lesions": [[round(l.x, 3), round(l.y, 3), round(l.radius, 3)] for l in scene.lesions],
    }
    if "asked_modality" in fields:
        metadata["asked_modality"] = fields["asked_modality"]
    sample = Sample(
        id=f"{NAME}/{split}/{index:05d}",
        image=render(scene),
        question=question,
        answer=answer,
        answer_type=answer_type,  # type: ignore[arg-type]
        metadata=metadata,
    )
    return sample, scene


class PhantomVQA:
    """Seeded, procedurally generated medical VQA with known ground truth.

    Args:
        options: ``seed`` (int, default 0) changes every image and question;
            ``path`` is accepted and ignored (nothing is read from disk).
    """

    splits: tuple[str, ...] = tuple(SPLITS)

    def __init__(self, options: dict | None = None) -> None:
        options = dict(options or {})
        self.seed = int(options.get("seed", 0) or 0)
        self._cache: dict[str, list[Sample]] = {}

    def samples(self, split: str) -> list[Sample]:
        """All samples of a split, in index order (generated once, then cached)."""
        if split not in SPLITS:
            raise ValueError(
                f"phantom-vqa has no split {split!r}; splits: {', '.join(self.splits)}")
        if split not in self._cache:
            n = SPLITS[split][1]
            self._cache[split] = [make_sample(self.seed, split, i)[0] for i in range(n)]
        return list(self._cache[split])

    def digest(self, split: str) -> str:
        """sha256 over every sample's id, image digest, question and answer."""
        h = hashlib.sha256()
        for s in self.samples(split):
            for part in (s.id, image_digest(s.image), s.question, s.answer):
                h.update(part.encode())
                h.update(b"\0")
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        """Name, version, sizes, generator and background sources with licences."""
        return {
            "name": NAME,
            "version": VERSION,
            "seed": self.seed,
            "sizes": {name: n for name, (_, n) in SPLITS.items()},
            "image": {"mode": "L", "size": [IMAGE_SIZE, IMAGE_SIZE]},
            "generator": (
                "Each sample is drawn from numpy's SeedSequence(seed, split, index): a real "
                "anatomical background (random crop, rotation +-10 deg, horizontal flip, "
                "gamma / contrast / offset) with 0-3 round lesions (bright core, dark rim) "
                "on one side of the image as displayed, all 'small' (radius "
                f"{RADIUS['small']} px) or all 'large' ({RADIUS['large']} px). Question kinds "
                "cycle by index; answers cycle within a kind so every split is balanced. "
                "Reference questions use each kind's core paraphrases only; train and test "
                "also use extra paraphrases with words the core ones lack."
            ),
            "styles": {k: dict(v) for k, v in STYLES.items()},
            "question_kinds": {k: {"answer_type": TEMPLATES[k][0], "answers": list(ANSWERS[k]),
                                   "paraphrases": len(TEMPLATES[k][1]), "core_paraphrases": CORE[k]}
                               for k in KINDS},
            "side_convention": "left/right of the image as displayed",
            "sides": list(SIDES),
            "sizes_of_lesions": list(SIZES),
        }
