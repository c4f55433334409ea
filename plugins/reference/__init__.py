"""The embedded ``reference`` model: a ~1M-parameter LLaVA trained on phantom-vqa.

Registered exactly as a third-party model plugin would be. Importing this
package is cheap: torch and transformers load only when a model is built.
"""

import medrobust

from .model import ReferenceModel

__all__ = ["ReferenceModel", "medrobust_register_models"]


@medrobust.hookimpl
def medrobust_register_models(register):
    register("reference", ReferenceModel)
