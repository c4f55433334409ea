"""``hf-vlm``: image-text-to-text models transformers loads natively, from a local directory.

The family is read from ``config.json``'s ``model_type`` (see
:mod:`~medrobust_plugins.hf.families`): Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT, Gemma 3
(MedGemma) and Idefics3 (SmolVLM) have every capability. Any other model type that
transformers' ``AutoModelForImageTextToText`` loads (Mllama, PaliGemma, InternVL, LLaVA...)
falls back to that class and the processor's chat template and *answers only*:
``capabilities()`` declares the feature hook, free generation and token scoring absent,
each with the reason; a model type transformers cannot load that way is refused with
the list of supported ones. The checkpoint is ``--model-path DIR`` or a repo id in the
local Hugging Face cache (``--model-option repo=ORG/NAME``). Questions are put through the processor's own chat template (one
user turn: the image, then the question, then the generation prompt); answers are
greedy by default, in left-padded batches (the options of
:class:`~medrobust_plugins.hf._base.HFVisionLanguageModel`).

Options of its own (``--model-option KEY=VALUE``):

===============  ==============================================================
``question``     the user text, holding ``{question}`` (default ``{question}``;
                 e.g. ``{question} Answer with one word.``)
``image_size``   resize every image to this square size before the processor
                 (default 0: as given). Families whose vision-token count
                 follows the image size (Qwen2-VL, LLaVA-NeXT, Idefics3) need
                 one size for a feature transform such as IMC's PDC.
===============  ==============================================================

The feature hook (``vision_features`` / ``set_feature_transform``) sits on the
input of the module where the family's vision features enter the projector; what
it sees is recorded in ``describe()["feature_hook"]``, and ``capabilities()``
declares it per family (with the reason for a family that has no such module). Qwen2-VL and Qwen2.5-VL's
processors also want a video processor, which needs torchvision: without it the
processor is loaded image-only (recorded as ``processor``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Sequence

import medrobust

from ._base import CheckpointError, FeatureHookMixin, HFVisionLanguageModel
from ._options import HF_VLM_CHOICES, HF_VLM_DEFAULTS
from .families import (Family, UnsupportedModel, detect_family, generic_family, join_features, split_features,
                       supported_model_types)

__all__ = ["HFVLM"]


class HFVLM(FeatureHookMixin, HFVisionLanguageModel):
    """A supported image-text-to-text checkpoint, with the feature hook where its family has one.

    The family (read from ``config.json`` before any weight loads) says where the
    vision features can be hooked; a family with no such module declares
    ``feature_hook`` absent with the reason, in ``capabilities()`` and in
    ``describe()["feature_hook"]``.
    """

    PLUGIN: ClassVar[str] = "hf-vlm"
    DEFAULTS: ClassVar[dict[str, Any]] = HF_VLM_DEFAULTS
    CHOICES: ClassVar[dict[str, Sequence[Any]]] = HF_VLM_CHOICES

    family: Family
    processor_note: str = "AutoProcessor"
    _units: Optional[list[int]] = None
    _order: Optional[list[Any]] = None

    def __init__(self, options: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(options)
        self.name = f"hf-vlm ({self.family.model_type})"
        if self.family.model_type.startswith("qwen2"):  # what generate() puts before a prompt with an image
            self.image_token = "<|vision_start|><|image_pad|><|vision_end|>"

    def check_config(self, config: dict[str, Any]) -> None:
        """Find the family, or the answering-only fallback; refuse what transformers cannot load as an
        image-text-to-text model (listing the supported model types)."""
        if "{question}" not in self.options["question"]:
            raise medrobust.OptionError(f"hf-vlm: option question must hold {{question}}, "
                                        f"got {self.options['question']!r}")
        if self.options["image_size"] < 0:
            raise medrobust.OptionError(f"hf-vlm: option image_size must be 0 (as given) or a size in pixels, "
                                        f"got {self.options['image_size']}")
        try:
            self.family = detect_family(config, str(self.path))
        except UnsupportedModel:
            try:
                self.family = generic_family(config, str(self.path), self.options["trust_remote_code"])
            except UnsupportedModel as exc:
                raise CheckpointError(str(exc)) from None

    def load_processor(self) -> Any:
        """``AutoProcessor`` (without torchvision, the family's processor without its video half); one
        without a chat template is refused here, before the weights load."""
        processor = self._load_processor()
        if not getattr(processor, "chat_template", None):
            raise CheckpointError(
                f"hf-vlm: the processor in {self.path} has no chat template (chat_template.jinja or "
                "chat_template.json), and hf-vlm builds every prompt with it; save the template the model was "
                "trained with there (processor.chat_template = ...; processor.save_pretrained(DIR))")
        return processor

    def _load_processor(self) -> Any:
        try:
            return super().load_processor()
        except (OSError, ImportError, ValueError, TypeError) as exc:
            if not self.family.video_processor:
                raise
            first = exc
        import transformers

        name = _processor_class_name(self.path) or ""
        cls = getattr(transformers, name, None) if name.endswith("Processor") else None
        if not isinstance(cls, type):
            raise CheckpointError(f"hf-vlm: cannot load the processor in {self.path}: {first}")
        self.processor_note = (f"{name} (image-only: its video processor did not load, {type(first).__name__}; "
                               "video processors need torchvision)")
        return _image_only(cls).from_pretrained(str(self.path), **self.load_kwargs())

    def forward_kwargs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Qwen2-VL families compute their own multimodal positions from the attention mask."""
        if self.family.model_type.startswith("qwen2"):
            return {}
        return super().forward_kwargs(inputs)

    def build_prompt(self, question: str, with_image: bool = True) -> str:
        """The processor's chat template around the ``question`` option's text."""
        return super().build_prompt(self.options["question"].replace("{question}", question), with_image)

    def prepare_image(self, image: Any) -> Any:
        """RGB, resized to ``image_size`` x ``image_size`` when that option is set."""
        image = super().prepare_image(image)
        size = self.options["image_size"]
        if size and image.size != (size, size):
            from PIL import Image

            image = image.resize((size, size), Image.Resampling.BICUBIC)
        return image

    def _processor_encode(self, texts: list[str], images: Optional[list[Any]]) -> Any:
        """The processor call; images nested one list per text where the family wants it."""
        if images is not None and self.family.nested_images:
            images = [[im] for im in images]
        return super().encode(texts, images)

    def encode(self, texts: list[str], images: Optional[list[Any]]) -> Any:
        """The processor call; with the feature hook, the batch's units per image are kept for it."""
        inputs = self._processor_encode(texts, images)
        if self.family.hook_module is not None:
            self._remember(inputs)
        return inputs

    # -- the feature hook, per family ------------------------------------------------
    @property
    def FEATURE_MODULE(self) -> str:  # type: ignore[override]  # per family, not per class
        return str(self.family.hook_module)

    def feature_hook_unavailable(self) -> Optional[str]:
        """``None`` where the family has a module whose input is the vision features, else why not."""
        if self.family.hook_module is not None:
            return None
        return self.family.hook_unavailable or (
            f"hf-vlm knows no module of {self.family.model_type} whose input is the vision features")

    def answering_only(self) -> Optional[str]:
        """Why the generic fallback offers neither free generation nor token scoring (``None`` for a
        family hf-vlm knows)."""
        if not self.family.generic:
            return None
        return (f"model_type {self.family.model_type!r} runs through hf-vlm's generic fallback "
                "(AutoModelForImageTextToText + the processor's chat template), which answers only: prompt "
                "formats, token alignment and padding are checked only for the families hf-vlm knows "
                f"({', '.join(supported_model_types())})")

    def feature_hook_report(self) -> dict[str, Any]:
        """What the feature hook reads, or why there is none."""
        why = self.feature_hook_unavailable()
        if why is not None:
            return {"available": False, "reason": why}
        return {"available": True, "module": self.family.hook_module, "features": self.family.hook_note}

    def describe(self) -> dict[str, Any]:
        """The base description plus family, processor and feature-hook report."""
        described = super().describe()
        described.update(family=self.family.model_type, family_label=self.family.label,
                         generic_fallback=self.family.generic,
                         processor=self.processor_note, feature_hook=self.feature_hook_report(),
                         question_template=self.options["question"],
                         image_size=self.options["image_size"] or None)
        return described

    def _remember(self, inputs: Mapping[str, Any]) -> None:
        """Units per image (and token order) of the batch about to run, for the hook."""
        if inputs.get("pixel_values") is None:
            self._units, self._order = None, None
            return
        self._units = self.family.units(inputs, self.model)
        self._order = self.family.order(inputs, self.model) if self.family.order else None

    def image_feature_inputs(self, images: list[Any]) -> dict[str, Any]:
        """The image half of the processor's output for ``images`` (one bare image token each)."""
        token = getattr(self.processor, "image_token", None) or self.image_token
        inputs = dict(self._processor_encode([token] * len(images), images))
        self._remember(inputs)
        return {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}

    def features_to_batch(self, features: Any, n_images: int) -> Any:
        """The hooked input as ``[images, tokens, dim]``; one token count per batch is required."""
        if self._units is None:
            raise RuntimeError("hf-vlm: the feature hook ran without a processed image batch")
        pieces = split_features(self.family, features, self._units, self._order)
        counts = sorted({p.shape[0] for p in pieces})
        if len(counts) > 1:
            raise ValueError(
                f"hf-vlm ({self.family.model_type}): the images of one batch give different numbers of vision "
                f"tokens ({', '.join(map(str, counts))}), so their features cannot form one [batch, tokens, dim] "
                "tensor; resize every image to one size with --model-option image_size=N")
        return self._torch.stack(pieces)

    def features_from_batch(self, batch: Any, like: Any) -> Any:
        """Inverse of :meth:`features_to_batch`."""
        return join_features(self.family, list(batch.to(like.device)), like, self._order)


def _processor_class_name(path: Path) -> Optional[str]:
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        file = path / name
        if file.is_file():
            value = json.loads(file.read_text(encoding="utf-8")).get("processor_class")
            if value:
                return str(value)
    return None


def _image_only(cls: type) -> type:
    """``cls`` without its video processor argument (its ``__call__`` skips videos when absent)."""

    def __init__(self: Any, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None,
                 **kwargs: Any) -> None:
        cls.__init__(self, image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    return type(f"{cls.__name__}ImageOnly", (cls,), {"__init__": __init__})
