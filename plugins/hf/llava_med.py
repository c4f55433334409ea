"""``llava-med``: LLaVA-Med v1.5, or any LLaVA checkpoint in the transformers (llava-hf) format.

The checkpoint is a local directory written by ``save_pretrained``
(``LlavaForConditionalGeneration`` + ``LlavaProcessor``, safetensors), given with
``--model-path``, or a repo id in the local Hugging Face cache
(``--model-option repo=ORG/NAME``, see :mod:`~medrobust_plugins.hf._hub`). A checkpoint still in the original LLaVA-Med repository format
(``LlavaMistralForCausalLM`` with ``mm_vision_tower``) is refused with the command
that converts it.

Options (``--model-option KEY=VALUE``), besides those of
:class:`~medrobust_plugins.hf._base.HFVisionLanguageModel` (``dtype``, ``batch_size``,
``max_new_tokens``, ``do_sample``, ``device_map``, ``load_in``...):

======================  ========================================================
``template``            the conversation template: ``mistral`` (LLaVA-Med v1.5:
                        ``[INST] <image>\\n{question} [/INST]``, the default),
                        ``vicuna`` (LLaVA v1 system prompt + ``USER: ... ASSISTANT:``),
                        ``llava-hf`` (``USER: <image>\\n{question} ASSISTANT:``),
                        ``chat`` (the processor's own chat template), or a template
                        of your own holding ``{question}`` and ``<image>``
``image_aspect_ratio``  ``pad`` (as LLaVA-Med v1.5 does: pad to a square with the
                        image processor's mean colour, then resize) or ``processor``
                        (the processor's resize and centre crop only)
======================  ========================================================

The feature hook sits on ``model.multi_modal_projector``: PDC sees the CLIP features
``[batch, image tokens, vision width]`` the projector maps into the language model.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Sequence

import medrobust

from ._base import CheckpointError, FeatureHookMixin, HFVisionLanguageModel
from ._options import LLAVA_MED_CHOICES, LLAVA_MED_DEFAULTS

__all__ = ["LlavaMed", "TEMPLATES"]

TEMPLATES: dict[str, str] = {
    "mistral": "[INST] <image>\n{question} [/INST]",
    "vicuna": ("A chat between a curious human and an artificial intelligence assistant. The assistant gives "
               "helpful, detailed, and polite answers to the human's questions. USER: <image>\n{question} ASSISTANT:"),
    "llava-hf": "USER: <image>\n{question} ASSISTANT:",
}
ORIGINAL_ARCHITECTURES = ("LlavaMistralForCausalLM", "LlavaLlamaForCausalLM", "LlavaMptForCausalLM")
# model_type of the original LLaVA repository's classes; llava_next, llava_onevision... are llava-hf models
ORIGINAL_MODEL_TYPES = ("llava_mistral", "llava_llama", "llava_mpt")
CONVERT_HINT = (
    "Convert it once with transformers' script src/transformers/models/llava/convert_llava_weights_to_hf.py "
    "(in the transformers source tree), e.g. `python convert_llava_weights_to_hf.py --text_model_id "
    "mistralai/Mistral-7B-Instruct-v0.2 --vision_model_id openai/clip-vit-large-patch14-336 "
    "--old_state_dict_id microsoft/llava-med-v1.5-mistral-7b --output_hub_path OUT`, or use a published "
    "llava-hf-format conversion of LLaVA-Med v1.5; then pass --model-path OUT. Only safetensors weights load.")


class LlavaMed(FeatureHookMixin, HFVisionLanguageModel):
    """LLaVA-Med v1.5 (or another llava-hf-format LLaVA) with its conversation template.

    Args:
        options: ``path`` (checkpoint directory), ``device``, ``template``,
            ``image_aspect_ratio`` and the base options; see the module docstring.
    """

    PLUGIN: ClassVar[str] = "llava-med"
    DEFAULTS: ClassVar[dict[str, Any]] = LLAVA_MED_DEFAULTS
    CHOICES: ClassVar[dict[str, Sequence[Any]]] = LLAVA_MED_CHOICES
    FEATURE_MODULE: ClassVar[str] = "model.multi_modal_projector"

    def check_config(self, config: dict[str, Any]) -> None:
        """Refuse the original LLaVA-Med format (with how to convert) and non-LLaVA checkpoints."""
        template = self.options["template"]
        if template not in TEMPLATES and template != "chat" and (
                "{question}" not in template or "<image>" not in template):
            raise medrobust.OptionError(f"llava-med: option template must be one of {', '.join(TEMPLATES)}, chat, "
                                        f"or a template holding {{question}} and <image>; got {template!r}")
        archs = config.get("architectures") or []
        if ("mm_vision_tower" in config or any(a in ORIGINAL_ARCHITECTURES for a in archs)
                or config.get("model_type") in ORIGINAL_MODEL_TYPES):
            raise CheckpointError(
                f"llava-med: {self.path} is in the original LLaVA-Med repository format "
                f"({', '.join(archs) or config.get('model_type')}, mm_vision_tower); this plugin loads the "
                f"transformers (llava-hf) format. {CONVERT_HINT}")
        if config.get("model_type") != "llava":
            raise CheckpointError(
                f"llava-med: {self.path} holds a {config.get('model_type')!r} model "
                f"({', '.join(archs) or 'no architectures'}); llava-med loads LlavaForConditionalGeneration "
                "checkpoints (model_type 'llava'). For other image-text-to-text models use --model hf-vlm.")

    def load_model(self, dtype: Any) -> Any:
        from transformers import LlavaForConditionalGeneration

        return LlavaForConditionalGeneration.from_pretrained(str(self.path), **self.weight_kwargs(dtype),
                                                             **self.load_kwargs())

    def load_processor(self) -> Any:
        """The checkpoint's LlavaProcessor; template=chat without a chat template is refused here,
        before the weights load."""
        processor = super().load_processor()
        if getattr(processor, "image_processor", None) is None or getattr(processor, "tokenizer", None) is None:
            raise CheckpointError(f"llava-med: {self.path} has no LlavaProcessor (tokenizer + image processor); "
                                  "save one there with LlavaProcessor.save_pretrained")
        if self.options["template"] == "chat" and not getattr(processor, "chat_template", None):
            raise CheckpointError(f"llava-med: template=chat but the processor in {self.path} has no chat "
                                  f"template; choose one of {', '.join(TEMPLATES)} or give your own")
        return processor

    def build_prompt(self, question: str, with_image: bool = True) -> str:
        """The conversation template filled with the question (``str.replace``: braces are safe)."""
        name = self.options["template"]
        if name == "chat":
            return super().build_prompt(question, with_image)
        template = TEMPLATES.get(name, name)
        if not with_image:  # the image token goes, with the space or newline after it
            template = re.sub(r"<image>\s?", "", template)
        return template.replace("<image>", self.image_token).replace("{question}", question)

    def user_turn(self, text: str, with_image: bool) -> str:
        """One user turn in the ``template``: ``format_prompt(text)`` is ``[INST] {text} [/INST]`` (mistral),
        ``... USER: {text} ASSISTANT:`` (vicuna), ``USER: {text} ASSISTANT:`` (llava-hf), or the
        processor's chat template (chat); with the image, where the template puts it."""
        return self.build_prompt(text, with_image)

    def prepare_image(self, image: Any) -> Any:
        """RGB; with ``image_aspect_ratio=pad``, padded to a centred square in the processor's mean colour."""
        from PIL import Image

        image = super().prepare_image(image)
        width, height = image.size
        if self.options["image_aspect_ratio"] != "pad" or width == height:
            return image
        mean = getattr(self.processor.image_processor, "image_mean", None) or (0.5, 0.5, 0.5)
        side = max(width, height)
        # LLaVA's expand2square truncates: tuple(int(x * 255) for x in image_mean) -> (122, 116, 104) for CLIP
        square = Image.new("RGB", (side, side), tuple(int(m * 255) for m in mean))
        square.paste(image, ((side - width) // 2, (side - height) // 2))
        return square

    def describe(self) -> dict[str, Any]:
        """The base description plus template, aspect-ratio handling and the hooked module."""
        described = super().describe()
        described.update(template=self.options["template"] if self.options["template"] in TEMPLATES
                         or self.options["template"] == "chat" else "custom",
                         image_aspect_ratio=self.options["image_aspect_ratio"],
                         feature_module=self.FEATURE_MODULE)
        return described
