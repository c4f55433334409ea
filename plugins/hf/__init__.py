"""Models loaded through transformers: ``llava-med`` and ``hf-vlm``.

From a local directory (``--model-path DIR``) or a repo id in the local Hugging Face
cache (``--model-option repo=ORG/NAME``), never downloaded. Registered exactly as a
third-party model plugin would be. The factories import torch and transformers only
when a model is built, so loading the plugin is cheap; they declare their option keys
as ``OPTIONS``, so the harness refuses an unknown ``--model-option`` key at start-up.
They are named ``*_model``: a function named like its submodule (``llava_med``) is
replaced by that module on the package once the submodule is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

import medrobust

from ._options import HF_VLM_DEFAULTS, LLAVA_MED_DEFAULTS

__all__ = ["medrobust_register_models", "llava_med_model", "hf_vlm_model"]


def llava_med_model(options: dict[str, Any]) -> Any:
    """LLaVA-Med v1.5, or any llava-hf-format LLaVA checkpoint, from ``--model-path`` or ``repo``."""
    return importlib.import_module(".llava_med", __name__).LlavaMed(options)


llava_med_model.OPTIONS = tuple(LLAVA_MED_DEFAULTS)  # type: ignore[attr-defined]


def hf_vlm_model(options: dict[str, Any]) -> Any:
    """Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT, Gemma 3, Idefics3, or answering only any other image-text-to-text
    model transformers loads, from ``--model-path`` or ``repo`` (``config.json`` decides)."""
    return importlib.import_module(".hf_vlm", __name__).HFVLM(options)


hf_vlm_model.OPTIONS = tuple(HF_VLM_DEFAULTS)  # type: ignore[attr-defined]


@medrobust.hookimpl
def medrobust_register_models(register: medrobust.Register) -> None:
    register("llava-med", llava_med_model)
    register("hf-vlm", hf_vlm_model)
