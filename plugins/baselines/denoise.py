"""Image-denoising baselines: filter the image before the model's encoder sees it.

Each filters every image, clean or not (a baseline does not perceive), so the
clean-input cost is part of what a run measures.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import medrobust

from ._common import SampleMapWrapper, parse, replace_images

__all__ = ["MedianDenoise", "NLMeansDenoise", "BilateralDenoise"]


class _ImageDenoiser:
    """Shared contract: nothing to fit; ``wrap`` filters ``sample.image``."""

    name = ""
    defaults: dict[str, Any] = {}
    modalities = ("image",)
    """What it changes (a calibrator chain takes one calibrator per modality)."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.opts = parse(self.name, dict(options or {}), self.defaults)

    def fit(self, model: Any, reference_samples: Sequence[Any], noises: Mapping[str, Any]) -> None:
        """Nothing to fit: a classical filter (``noises`` is not used)."""

    def denoise(self, image: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def wrap(self, model: Any) -> SampleMapWrapper:
        return SampleMapWrapper(model, lambda samples: replace_images(samples, self.denoise))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.opts)}


def _to_float(image: Any) -> tuple[Any, str]:
    import numpy as np

    return np.asarray(image, dtype=np.float64) / 255.0, image.mode


def _to_image(arr: Any, mode: str) -> Any:
    import numpy as np
    from PIL import Image

    return Image.fromarray((np.clip(arr, 0, 1) * 255.0).round().astype(np.uint8), mode=mode)


def noise_sigma(arr: Any) -> float:
    """Gaussian noise sigma of a [0, 1] image by Immerkaer's (1996) Laplacian-difference method.

    (scikit-image's ``estimate_sigma`` would need PyWavelets, which is not a dependency.)
    """
    import numpy as np
    from scipy.ndimage import convolve

    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    planes = arr[..., None] if arr.ndim == 2 else arr
    sigmas = []
    for c in range(planes.shape[-1]):
        plane = planes[..., c]
        h, w = plane.shape
        if h < 3 or w < 3:
            return 0.0
        response = convolve(plane, mask, mode="reflect")[1:-1, 1:-1]
        sigmas.append(np.sqrt(np.pi / 2) * np.abs(response).sum() / (6.0 * (w - 2) * (h - 2)))
    return float(np.mean(sigmas))


class MedianDenoise(_ImageDenoiser):
    """``median-denoise``: a median filter (option ``kernel``, odd, default 3)."""

    name = "median-denoise"
    defaults = {"kernel": 3}

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        if self.opts["kernel"] < 1 or self.opts["kernel"] % 2 == 0:
            raise medrobust.OptionError(
                f"median-denoise: kernel must be an odd positive integer, got {self.opts['kernel']}")

    def denoise(self, image: Any) -> Any:
        from PIL import ImageFilter

        return image.filter(ImageFilter.MedianFilter(self.opts["kernel"]))


class NLMeansDenoise(_ImageDenoiser):
    """``nlm-denoise``: scikit-image's non-local means.

    Options: ``h`` (filter strength as a multiple of the noise sigma estimated per
    image by :func:`noise_sigma`, default 0.8), ``patch_size`` (5), ``patch_distance`` (6).
    """

    name = "nlm-denoise"
    defaults = {"h": 0.8, "patch_size": 5, "patch_distance": 6}

    def denoise(self, image: Any) -> Any:
        from skimage.restoration import denoise_nl_means

        arr, mode = _to_float(image)
        channel_axis = -1 if arr.ndim == 3 else None
        sigma = noise_sigma(arr)
        if sigma <= 0:
            return image
        out = denoise_nl_means(arr, h=self.opts["h"] * sigma, sigma=sigma, fast_mode=True,
                               patch_size=self.opts["patch_size"],
                               patch_distance=self.opts["patch_distance"], channel_axis=channel_axis)
        return _to_image(out, mode)


class BilateralDenoise(_ImageDenoiser):
    """``bilateral-denoise``: scikit-image's bilateral filter.

    Options: ``sigma_color`` (intensity scale in [0, 1]; 0 = estimate per image,
    default 0.1), ``sigma_spatial`` (pixels, default 1.0).
    """

    name = "bilateral-denoise"
    defaults = {"sigma_color": 0.1, "sigma_spatial": 1.0}

    def denoise(self, image: Any) -> Any:
        from skimage.restoration import denoise_bilateral

        arr, mode = _to_float(image)
        channel_axis = -1 if arr.ndim == 3 else None
        out = denoise_bilateral(arr, sigma_color=self.opts["sigma_color"] or None,
                                sigma_spatial=self.opts["sigma_spatial"], channel_axis=channel_axis)
        return _to_image(out, mode)
