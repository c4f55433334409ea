"""Models loaded through transformers from a local path: ``llava-med`` and ``hf-vlm``.

Registered exactly as a third-party model plugin would be. The factories import
torch and transformers only when a model is built, so loading the plugin is cheap.
They are named ``*_model``: a function named like its submodule (``llava_med``) is
replaced by that module on the package once the submodule is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

import medrobust

__all__ = ["medrobust_register_models", "llava_med_model", "hf_vlm_model"]


def llava_med_model(options: dict[str, Any]) -> Any:
    """LLaVA-Med v1.5, or any llava-hf-format LLaVA checkpoint, from ``--model-path``."""
    return importlib.import_module(".llava_med", __name__).LlavaMed(options)


def hf_vlm_model(options: dict[str, Any]) -> Any:
    """Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT, Gemma 3 or Idefics3 from ``--model-path`` (``config.json`` decides)."""
    return importlib.import_module(".hf_vlm", __name__).HFVLM(options)


@medrobust.hookimpl
def medrobust_register_models(register: medrobust.Register) -> None:
    register("llava-med", llava_med_model)
    register("hf-vlm", hf_vlm_model)
