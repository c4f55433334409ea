"""The unit of evaluation: one image, one question, one reference answer."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Literal

from PIL import Image

from ._canonical import image_digest

AnswerType = Literal["closed", "open"]

__all__ = ["AnswerType", "Sample", "image_digest"]


@dataclasses.dataclass(frozen=True)
class Sample:
    """One visual question with its reference answer.

    Attributes:
        id: Stable identifier, unique within a dataset; seeds derive from it.
        image: The image as a PIL image (mode ``L`` or ``RGB``).
        question: The question in natural language.
        answer: The reference answer, lower case.
        answer_type: ``"closed"`` (yes/no, left/right) or ``"open"``.
        metadata: Free descriptive fields (modality, organ, question kind...).
    """

    id: str
    image: Image.Image
    question: str
    answer: str
    answer_type: AnswerType
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def image_sha256(self) -> str:
        """:func:`image_digest` of the image, computed once per sample (a 1024 px RGB image takes
        milliseconds to hash, and a run states each clean image's digest several times). Images are
        never changed in place; a noisy image is a new sample (:meth:`replace`)."""
        return image_digest(self.image)

    def replace(self, **changes: Any) -> "Sample":
        """A copy of this sample with some fields changed."""
        return dataclasses.replace(self, **changes)
