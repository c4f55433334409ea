"""Question templates in the style of VQA-RAD and SLAKE, a few paraphrases per kind.

Answers are lower case, one word or one short phrase; counts are digits.

Each kind's first ``CORE[kind]`` paraphrases are its core phrasings; the others
are extra phrasings with words the core ones do not use. The reference split asks
only core phrasings; train and test ask all of them, so a vocabulary (or lexicon)
built from reference questions does not cover the test questions.
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
        "Can you spot a nodule on this scan?",
        "Is any focal finding depicted?",
    )),
    "modality_yn": ("closed", (
        "Is this {article} {modality_phrase}?",
        "Was this image taken as {article} {modality_phrase}?",
        "Is this image {article} {modality_phrase}?",
        "Does this picture come from {article} {modality_phrase}?",
    )),
    "side": ("closed", (
        "Which side is the lesion on?",
        "On which side of the image is the lesion?",
        "Is the lesion on the left or the right?",
        "Where is the abnormality, left or right?",
        "Which half of the picture contains the finding?",
        "Is the nodule located towards the left or right?",
    )),
    "organ": ("open", (
        "What organ is shown?",
        "Which organ is imaged?",
        "What part of the body is this?",
        "Which body part does this image show?",
        "Which anatomical region is depicted?",
        "What structure does this scan cover?",
    )),
    "modality": ("open", (
        "What imaging modality is this?",
        "What modality was used to take this image?",
        "How was this image acquired?",
        "What kind of image is this?",
        "Which imaging technique produced this picture?",
        "Name the type of scan displayed.",
    )),
    "count": ("open", (
        "How many lesions are there?",
        "How many lesions are visible?",
        "What is the number of lesions?",
        "How many abnormalities can be seen?",
        "Count the nodules in this scan.",
        "How many focal findings appear?",
    )),
    "size": ("open", (
        "How large is the lesion?",
        "What is the size of the lesion?",
        "How big are the lesions?",
        "Are the findings small or large?",
        "Describe the nodule size.",
    )),
}

KINDS: tuple[str, ...] = tuple(TEMPLATES)

#: kind -> how many of its first paraphrases are core (asked in every split)
CORE: dict[str, int] = {
    "presence": 5, "modality_yn": 3, "side": 4, "organ": 4, "modality": 4, "count": 4, "size": 3,
}

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
