"""Baseline calibrators IMC must beat: classical image denoisers and text correctors.

Registered exactly as a third-party calibrator plugin would be.

* ``median-denoise``, ``nlm-denoise``, ``bilateral-denoise``: filter the image
  before the encoder (every image, clean or not).
* ``spell-correct``: dictionary spelling correction of the question against the
  reference split's vocabulary (textdistance, Damerau-Levenshtein).
* ``self-correct``: the model rewrites the question once itself (needs free generation).
"""

import medrobust

from .denoise import BilateralDenoise, MedianDenoise, NLMeansDenoise
from .text import SelfCorrect, SpellCorrect

__all__ = ["MedianDenoise", "NLMeansDenoise", "BilateralDenoise", "SpellCorrect", "SelfCorrect",
           "medrobust_register_calibrators"]


@medrobust.hookimpl
def medrobust_register_calibrators(register):
    register("median-denoise", MedianDenoise)
    register("nlm-denoise", NLMeansDenoise)
    register("bilateral-denoise", BilateralDenoise)
    register("spell-correct", SpellCorrect)
    register("self-correct", SelfCorrect)
