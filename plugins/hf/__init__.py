"""Models loaded through transformers from a local path: ``llava-med`` and ``hf-vlm``.

Registered exactly as a third-party model plugin would be. The factories import
torch and transformers only when a model is built, so loading the plugin is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

import medrobust

__all__ = ["medrobust_register_models", "llava_med"]


def llava_med(options: dict[str, Any]) -> Any:
    """LLaVA-Med v1.5, or any llava-hf-format LLaVA checkpoint, from ``--model-path``."""
    return importlib.import_module(".llava_med", __name__).LlavaMed(options)


@medrobust.hookimpl
def medrobust_register_models(register: medrobust.Register) -> None:
    register("llava-med", llava_med)
