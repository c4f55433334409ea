"""The ``openai-compatible`` model: a model served behind an OpenAI-compatible endpoint.

Registered exactly as a third-party model plugin would be; standard library
HTTP only, imported when a model is built.
"""

from __future__ import annotations

from typing import Any

import medrobust

__all__ = ["openai_compatible", "medrobust_register_models"]


def openai_compatible(options: dict[str, Any]) -> Any:
    """An :class:`~medrobust_plugins.openai_compat.model.OpenAICompatModel` for the endpoint in ``options``."""
    from .model import build

    return build(options)


@medrobust.hookimpl
def medrobust_register_models(register: medrobust.Register) -> None:
    register("openai-compatible", openai_compatible)
