"""``phantom-vqa``: the embedded, procedurally generated medical VQA dataset.

Images are 64x64 grayscale renderings of real anatomical backgrounds (shipped by
pydicom, pydicom-data and scikit-image, loaded offline) with seeded lesions of
known count, side and size; questions follow VQA-RAD / SLAKE templates.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Mapping

from . import _questions
from .dataset import PhantomVQA

__all__ = ["PhantomVQA", "PhantomQuestions", "phantom_questions"]


@dataclasses.dataclass(frozen=True)
class PhantomQuestions:
    """The question bank phantom-vqa draws from (read-only), for models trained on it.

    Attributes:
        kinds: Question kinds, in the dataset's order.
        templates: Kind -> (answer type ``closed``/``open``, its paraphrases); a
            ``modality_yn`` paraphrase holds ``{article}`` and ``{modality_phrase}``.
        answers: Kind -> the answers it can have, in a fixed order.
        modality_phrases: Modality answer -> (article, phrase used in yes/no questions).
        modalities: The modality answers.
        organs: The organ answers.
        core_templates: Kind -> its core paraphrases, the only ones the reference
            split asks (train and test also ask the extra ones in ``templates``).
    """

    kinds: tuple[str, ...]
    templates: Mapping[str, tuple[str, tuple[str, ...]]]
    answers: Mapping[str, tuple[str, ...]]
    modality_phrases: Mapping[str, tuple[str, str]]
    modalities: tuple[str, ...]
    organs: tuple[str, ...]
    core_templates: Mapping[str, tuple[str, ...]]


_BANK = PhantomQuestions(
    kinds=_questions.KINDS,
    templates=MappingProxyType(dict(_questions.TEMPLATES)),
    answers=MappingProxyType(dict(_questions.ANSWERS)),
    modality_phrases=MappingProxyType(dict(_questions.MODALITY_PHRASES)),
    modalities=_questions.MODALITIES,
    organs=_questions.ORGANS,
    core_templates=MappingProxyType({k: ts[:_questions.CORE[k]] for k, (_, ts) in _questions.TEMPLATES.items()}),
)


def phantom_questions() -> PhantomQuestions:
    """phantom-vqa's question templates, answers, modalities and organs."""
    return _BANK
