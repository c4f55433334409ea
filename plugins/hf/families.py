"""What ``hf-vlm`` knows about each image-text-to-text family transformers loads natively.

A :class:`Family` says how a checkpoint is recognised (``config.json``'s
``model_type``), how images go to its processor, and where its vision features
can be read and replaced before the language model: the module whose *input* is
hooked and how that input splits into one ``[tokens, dim]`` block per image.

=============  ============================  =========================================
model_type     features hooked               tokens per image
=============  ============================  =========================================
qwen2_vl       input of ``visual.merger``    patches before the 2x2 merge, in raster
               (vision tower output)         order; ``t*h*w`` varies with image size
qwen2_5_vl     input of ``visual.merger``    as qwen2_vl (window order undone)
llava_next     input of                      CLIP patches of the base view and every
               ``multi_modal_projector``     anyres crop; varies with aspect ratio
gemma3         input of                      SigLIP patches (fixed image size): the
               ``multi_modal_projector``     projector pools them to 256 tokens
idefics3       input of ``connector``        patches of every sub-image (crops and
               (before pixel shuffle)        the global view); varies with image size
=============  ============================  =========================================

torch is imported inside the functions that need it, never at module import.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Sequence

__all__ = ["Family", "FAMILIES", "UnsupportedModel", "detect_family", "generic_family", "supported_model_types",
           "split_features", "join_features"]


class UnsupportedModel(ValueError):
    """A checkpoint whose architecture ``hf-vlm`` does not support."""


@dataclasses.dataclass(frozen=True)
class Family:
    """How ``hf-vlm`` drives one architecture.

    Attributes:
        model_type: ``config.json``'s ``model_type``.
        label: Human name, with released checkpoints of the family.
        hook_module: Attribute path, from the loaded ``...ForConditionalGeneration``,
            of the module whose input is the vision features; ``None`` when the
            architecture offers no such point (then ``hook_unavailable`` says why).
        hook_note: What the hooked features are, for ``describe()``.
        units: ``(inputs, model) -> [n per image]``: how many leading-dimension
            units of the hooked input belong to each image of a batch.
        flat: The hooked input is ``[units, dim]`` (one unit is a token) rather
            than ``[units, tokens, dim]``.
        order: Optional ``(inputs, model) -> [index per image]``: for image ``i``,
            the permutation that puts its tokens in raster order.
        nested_images: The processor wants ``[[image], [image], ...]``.
        video_processor: The processor class also takes a video processor (which
            needs torchvision); without torchvision it is loaded image-only.
        hook_unavailable: Why there is no feature hook (when ``hook_module`` is None).
        generic: Not one of the families above but any other ``model_type`` transformers'
            ``AutoModelForImageTextToText`` loads (:func:`generic_family`): answering only.
    """

    model_type: str
    label: str
    hook_module: Optional[str]
    hook_note: str
    units: Callable[[Mapping[str, Any], Any], list[int]]
    flat: bool = False
    order: Optional[Callable[[Mapping[str, Any], Any], list[Any]]] = None
    nested_images: bool = True
    video_processor: bool = False
    hook_unavailable: str = ""
    generic: bool = False


# -- units per image ---------------------------------------------------------------
def _one_each(inputs: Mapping[str, Any], model: Any) -> list[int]:
    n = int(inputs["pixel_values"].shape[0])
    batch = int(inputs["input_ids"].shape[0]) if "input_ids" in inputs else n
    if n != batch:
        raise ValueError(f"{model.config.model_type}: {n} image crops for {batch} images; turn pan-and-scan "
                         "off in the processor (do_pan_and_scan=false) to use the feature hook")
    return [1] * n


def _qwen_patches(inputs: Mapping[str, Any], model: Any) -> list[int]:
    return [int(t * h * w) for t, h, w in inputs["image_grid_thw"].tolist()]


def _anyres_views(inputs: Mapping[str, Any], model: Any) -> list[int]:
    from transformers.models.llava_next.modeling_llava_next import image_size_to_num_patches

    config = model.config
    return [image_size_to_num_patches(size, config.image_grid_pinpoints, config.vision_config.image_size)
            for size in inputs["image_sizes"].tolist()]


def _real_sub_images(inputs: Mapping[str, Any], model: Any) -> list[int]:
    # the model drops all-zero padding sub-images before the vision tower; count the others
    pixels = inputs["pixel_values"]
    real = (pixels != 0).flatten(2).any(-1)
    return [int(n) for n in real.sum(1).tolist()]


# -- token order -------------------------------------------------------------------
def _merge_to_raster(t: int, h: int, w: int, m: int) -> Any:
    """Index putting Qwen2-VL's merge-group patch order (t, h/m, w/m, m, m) in raster order."""
    import torch

    idx = torch.arange(t * h * w).reshape(t, h // m, w // m, m, m)
    return idx.permute(0, 1, 3, 2, 4).reshape(-1)


def _qwen2_order(inputs: Mapping[str, Any], model: Any) -> list[Any]:
    m = model.config.vision_config.spatial_merge_size
    return [_merge_to_raster(t, h, w, m) for t, h, w in inputs["image_grid_thw"].tolist()]


def _qwen2_5_order(inputs: Mapping[str, Any], model: Any) -> list[Any]:
    import torch
    from transformers.vision_utils import get_vision_window_index

    vision = model.config.vision_config
    m = vision.spatial_merge_size
    unit = m * m
    out = []
    for row in inputs["image_grid_thw"].tolist():
        t, h, w = row
        window, _ = get_vision_window_index(torch.tensor([row]), spatial_merge_size=m,
                                            window_size=vision.window_size, patch_size=vision.patch_size)
        inverse = torch.argsort(window)  # merge group g sits at window position inverse[g]
        raster = _merge_to_raster(t, h, w, m)
        out.append(inverse[raster // unit] * unit + raster % unit)
    return out


FAMILIES: dict[str, Family] = {f.model_type: f for f in (
    Family("qwen2_vl", "Qwen2-VL (e.g. Qwen2-VL-2B/7B-Instruct, HuatuoGPT-Vision-7B-Qwen2)",
           "model.visual.merger",
           "input of visual.merger: vision-tower patches before the 2x2 spatial merge, put in raster "
           "order; tokens per image = t*h*w patches and vary with image size",
           _qwen_patches, flat=True, order=_qwen2_order, nested_images=False, video_processor=True),
    Family("qwen2_5_vl", "Qwen2.5-VL (e.g. Qwen2.5-VL-3B/7B-Instruct, Lingshu-7B)",
           "model.visual.merger",
           "input of visual.merger: vision-tower patches before the 2x2 spatial merge, window order undone "
           "to raster order; tokens per image = t*h*w patches and vary with image size",
           _qwen_patches, flat=True, order=_qwen2_5_order, nested_images=False, video_processor=True),
    Family("llava_next", "LLaVA-NeXT / LLaVA-1.6 (e.g. llava-v1.6-mistral-7b-hf)",
           "model.multi_modal_projector",
           "input of multi_modal_projector: selected CLIP patch features of the base view followed by every "
           "anyres crop; tokens per image vary with its aspect ratio",
           _anyres_views, nested_images=True),
    Family("gemma3", "Gemma 3 (e.g. gemma-3-4b-it, MedGemma-4b-it)",
           "model.multi_modal_projector",
           "input of multi_modal_projector: SigLIP patch features at the fixed image size, before the "
           "projector pools them to mm_tokens_per_image",
           _one_each, nested_images=True),
    Family("idefics3", "Idefics3 / SmolVLM (e.g. Idefics3-8B-Llama3, SmolVLM-Instruct, SmolVLM-256M)",
           "model.connector",
           "input of connector: SigLIP patch features of every sub-image (crops, then the global view) "
           "before pixel shuffle; tokens per image vary with its size when image splitting is on",
           _real_sub_images, nested_images=True),
)}


def supported_model_types() -> list[str]:
    """The ``model_type`` values ``hf-vlm`` loads, sorted."""
    return sorted(FAMILIES)


def detect_family(config: Mapping[str, Any], path: str = "") -> Family:
    """The family of a checkpoint from its ``config.json`` contents.

    Raises:
        UnsupportedModel: naming the model type found and listing the supported ones.
    """
    model_type = str(config.get("model_type") or "")
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    arch = ", ".join(config.get("architectures") or []) or "none"
    where = f" in {path}" if path else ""
    hint = ""
    if model_type == "llava":
        hint = " LLaVA checkpoints (llava-hf format) load with --model llava-med."
    elif model_type.startswith("llava_") and model_type != "llava_next":
        hint = (" This looks like an original-repository LLaVA checkpoint; convert it to the llava-hf format "
                "(transformers' convert_llava_weights_to_hf) and use --model llava-med.")
    raise UnsupportedModel(
        f"hf-vlm: model_type {model_type or '(missing)'!r} (architectures: {arch}){where} is not supported; "
        f"supported model types: {', '.join(supported_model_types())}.{hint}")


def generic_family(config: Mapping[str, Any], path: str = "", trust_remote_code: bool = False) -> Family:
    """The answering-only fallback for a ``model_type`` outside :data:`FAMILIES` that transformers'
    ``AutoModelForImageTextToText`` loads (natively, or through the checkpoint's own code when
    ``trust_remote_code`` is on and its ``auto_map`` names that class).

    Raises:
        UnsupportedModel: Not an image-text-to-text model transformers can load (what
            :func:`detect_family` says, plus why the fallback does not apply).
    """
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    model_type = str(config.get("model_type") or "")
    remote = "AutoModelForImageTextToText" in (config.get("auto_map") or {})
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES and not (remote and trust_remote_code):
        try:
            detect_family(config, path)
        except UnsupportedModel as exc:
            why = ("its config.json maps AutoModelForImageTextToText to the checkpoint's own code; add "
                   "--model-option trust_remote_code=true if you trust that code" if remote else
                   f"transformers' AutoModelForImageTextToText has no class for model_type {model_type!r}")
            raise UnsupportedModel(f"{exc} The answering-only fallback does not apply either: {why}.") from None
    hint = " --model llava-med loads LLaVA checkpoints with the feature hook." if model_type == "llava" else ""
    return Family(
        model_type, f"{model_type} (generic fallback: AutoModelForImageTextToText + the processor's chat template)",
        None, "", _one_each, nested_images=True, generic=True,
        hook_unavailable=(f"model_type {model_type!r} is outside the families hf-vlm knows "
                          f"({', '.join(supported_model_types())}), so it knows no module whose input is the "
                          f"vision features.{hint}"))


def split_features(family: Family, features: Any, units: Sequence[int], order: Optional[Sequence[Any]]) -> list[Any]:
    """The hooked input cut into one ``[tokens, dim]`` block per image (raster order where known)."""
    pieces = []
    start = 0
    for i, n in enumerate(units):
        block = features[start:start + n]
        start += n
        block = block if family.flat else block.reshape(-1, block.shape[-1])
        if order is not None:
            block = block[order[i].to(block.device)]
        pieces.append(block)
    if start != features.shape[0]:
        raise RuntimeError(f"hf-vlm: {family.model_type} feature hook saw {features.shape[0]} units but the "
                           f"inputs account for {start}")
    return pieces


def join_features(family: Family, pieces: Sequence[Any], like: Any, order: Optional[Sequence[Any]]) -> Any:
    """Inverse of :func:`split_features`: blocks back into the hooked input's layout."""
    import torch

    out = []
    for i, block in enumerate(pieces):
        if order is not None:
            block = block[torch.argsort(order[i]).to(block.device)]
        out.append(block if family.flat else block.reshape(-1, *like.shape[1:]))
    return torch.cat(out).to(like.dtype)
