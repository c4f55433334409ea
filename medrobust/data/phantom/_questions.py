"""Question templates in the style of VQA-RAD and SLAKE, a few paraphrases per kind.

Answers are lower case, one word or one short phrase; counts are digits.
"""

from __future__ import annotations

#: kind -> (answer type, paraphrases)
TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "presence": ("closed", (
        "Is there a lesion?",
        "Is there any abnormality in this image?",
        "Are there any lesions visible?",
        "Is a lesion present?",
        "Does this image show a lesion?",
    )),
    "modality_yn": ("closed", (
        "Is this {article} {modality_phrase}?",
        "Was this image taken as {article} {modality_phrase}?",
        "Is this image {article} {modality_phrase}?",
    )),
    "side": ("closed", (
        "Which side is the lesion on?",
        "On which side of the image is the lesion?",
        "Is the lesion on the left or the right?",
        "Where is the abnormality, left or right?",
    )),
    "organ": ("open", (
        "What organ is shown?",
        "Which organ is imaged?",
        "What part of the body is this?",
        "Which body part does this image show?",
    )),
    "modality": ("open", (
        "What imaging modality is this?",
        "What modality was used to take this image?",
        "How was this image acquired?",
        "What kind of image is this?",
    )),
    "count": ("open", (
        "How many lesions are there?",
        "How many lesions are visible?",
        "What is the number of lesions?",
        "How many abnormalities can be seen?",
    )),
    "size": ("open", (
        "How large is the lesion?",
        "What is the size of the lesion?",
        "How big are the lesions?",
    )),
}

KINDS: tuple[str, ...] = tuple(TEMPLATES)

#: modality answer -> (article, phrase used inside yes/no questions)
MODALITY_PHRASES: dict[str, tuple[str, str]] = {
    "x-ray": ("an", "x-ray"),
    "ct": ("a", "ct scan"),
    "mri": ("an", "mri"),
    "fundus photograph": ("a", "fundus photograph"),
}

MODALITIES: tuple[str, ...] = tuple(MODALITY_PHRASES)
ORGANS: tuple[str, ...] = ("chest", "brain", "shoulder", "eye")

#: kind -> the answers it can have, in a fixed order (the balancing cycle)
ANSWERS: dict[str, tuple[str, ...]] = {
    "presence": ("yes", "no"),
    "modality_yn": ("yes", "no"),
    "side": ("left", "right"),
    "organ": ORGANS,
    "modality": MODALITIES,
    "count": ("0", "1", "2", "3"),
    "size": ("small", "large"),
}
