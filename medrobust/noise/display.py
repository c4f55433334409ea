"""Display and transfer noises: bit depth, wrong window/level, scanned-film moire, burned-in text."""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from ._ops import generator
from .base import ImageNoise

__all__ = ["BIT_DEPTH", "WINDOW_CLIPPING", "SCANNED_FILM_MOIRE", "BURNED_IN_TEXT", "NOISES",
           "moire_pattern", "text_mask", "annotation_strings"]

#: Gaussian optical blur (pixels) of the scanner before sampling; it removes the
#: grating frequencies themselves and leaves their low-frequency beat.
SCANNER_MTF_SIGMA = 1.5
#: Annotation templates: digits only besides neutral letters (never "L"/"R", which
#: would read as laterality markers). ``#`` is replaced by a seeded digit.
TEXT_TEMPLATES = ("ID #### ##/##", "ACC ######", "##/##/20##", "SE # IM ##", "##:##:##", "KV ## MAS #.#")
_DIGITS_PER_STRING = 8


def bit_depth(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Quantise to ``2 ** bits`` evenly spaced levels spanning [0, 1]."""
    top = float(2 ** int(params["bits"]) - 1)
    return images.clamp(0.0, 1.0).mul_(top).round_().div_(top)  # in place: one new tensor


def window_clipping(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Clip to the window ``level +- width / 2`` and stretch it to [0, 1] (values outside saturate)."""
    width = float(params["width"])
    low = float(params["level"]) - 0.5 * width
    return ((images - low) / width).clamp_(0.0, 1.0)


def moire_pattern(params: Mapping[str, Any], batch: int, size: tuple[int, int],
                  device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Scanner-blurred product of two gratings, ``[B, 1, H, W]`` of mean 1.

    Gratings ``1 + a cos(2 pi k_i . x + phi_i)`` of frequency ``cycles_per_pixel``,
    the second rotated by ``rotation_deg``, base orientation and phases seeded.
    Their product holds the difference (beat) and sum frequencies; each cosine
    is weighted by the Gaussian scanner MTF at its continuous frequency before
    sampling, so the near-Nyquist gratings are faint and the beat dominates.
    """
    h, w = size
    gen = generator(params, device)
    u = torch.rand((batch, 3), generator=gen, device=device, dtype=torch.float64)
    theta, phi1, phi2 = math.pi * u[:, 0], 2 * math.pi * u[:, 1], 2 * math.pi * u[:, 2]
    freq, amp = float(params["cycles_per_pixel"]), float(params["amplitude"])
    rot = math.radians(float(params["rotation_deg"]))
    y = torch.arange(h, device=device, dtype=torch.float64).view(1, h, 1)
    x = torch.arange(w, device=device, dtype=torch.float64).view(1, 1, w)

    def wave(kx: torch.Tensor, ky: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        # MTF(k) * cos(2 pi (kx x + ky y) + phase), built separably:
        # cos(a + b) = cos a cos b - sin a sin b
        mtf = torch.exp(-2.0 * (math.pi * SCANNER_MTF_SIGMA) ** 2 * (kx ** 2 + ky ** 2)).view(-1, 1, 1)
        across = 2 * math.pi * kx.view(-1, 1, 1) * x + phase.view(-1, 1, 1)
        down = 2 * math.pi * ky.view(-1, 1, 1) * y
        cos_a, sin_a = (mtf * torch.cos(across)).to(dtype), (mtf * torch.sin(across)).to(dtype)
        return cos_a * torch.cos(down).to(dtype) - sin_a * torch.sin(down).to(dtype)

    k1x, k1y = freq * torch.cos(theta), freq * torch.sin(theta)
    k2x, k2y = freq * torch.cos(theta + rot), freq * torch.sin(theta + rot)
    pattern = (1.0 + amp * (wave(k1x, k1y, phi1) + wave(k2x, k2y, phi2))
               + 0.5 * amp ** 2 * (wave(k1x - k2x, k1y - k2y, phi1 - phi2)
                                   + wave(k1x + k2x, k1y + k2y, phi1 + phi2)))
    return pattern.unsqueeze(1)


def scanned_film_moire(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Multiply by a seeded moire pattern (film digitised on a scanner or photographed off a screen)."""
    b, _, h, w = images.shape
    return (images * moire_pattern(params, b, (h, w), images.device, images.dtype)).clamp_(0.0, 1.0)


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default_imagefont()  # Pillow's built-in bitmap font, 6 x 11 cells


def annotation_strings(digits: list[int], template: int) -> str:
    """Fill template ``template`` (an index into :data:`TEXT_TEMPLATES`) with seeded digits."""
    it = iter(digits)
    pattern = TEXT_TEMPLATES[template % len(TEXT_TEMPLATES)]
    return "".join(str(next(it)) if c == "#" else c for c in pattern)


def text_mask(params: Mapping[str, Any], batch: int, size: tuple[int, int], device: torch.device,
              dtype: torch.dtype) -> torch.Tensor:
    """Coverage ``[B, 1, H, W]`` in [0, 1] of ``n_strings`` seeded annotations per image.

    Strings are drawn in the bitmap font on one native-resolution canvas for the
    whole batch, then resampled so a text line is ``text_height`` of the image
    height. String ``i``'s content and position are the same whatever ``n_strings``.
    """
    h, w = size
    n = int(params["n_strings"])
    gen = generator(params, device)
    digits = torch.randint(0, 10, (n, batch, _DIGITS_PER_STRING), generator=gen, device=device).tolist()
    choice = torch.randint(0, len(TEXT_TEMPLATES), (n, batch), generator=gen, device=device).tolist()
    where = torch.rand((n, batch, 2), generator=gen, device=device, dtype=torch.float64).tolist()
    font = _font()
    line = font.getbbox("0")[3]  # cell height of the font, pixels
    scale = float(params["text_height"]) * h / line
    hn, wn = max(line + 1, math.ceil(h / scale)), max(1, math.ceil(w / scale))
    canvas = Image.new("L", (wn, hn * batch))
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        for j in range(batch):
            text = annotation_strings(digits[i][j], choice[i][j])
            tw = font.getbbox(text)[2]
            top = int(where[i][j][0] * (hn - line))
            left = int(where[i][j][1] * max(wn - tw, 0))
            draw.text((left, j * hn + top), text, fill=255, font=font)
    native = torch.from_numpy(np.asarray(canvas, dtype=np.float32).copy()).to(device)
    native = native.view(batch, 1, hn, wn) / 255.0
    mask = F.interpolate(native, size=(h, w), mode="bilinear", align_corners=False,
                         antialias=scale < 1.0)
    return mask.clamp_(0.0, 1.0).to(dtype)


def burned_in_text(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Composite seeded annotation text of grey level ``intensity`` at ``opacity`` onto the images."""
    b, _, h, w = images.shape
    alpha = float(params["opacity"]) * text_mask(params, b, (h, w), images.device, images.dtype)
    return (images * (1.0 - alpha) + alpha * float(params["intensity"])).clamp_(0.0, 1.0)


BIT_DEPTH = ImageNoise(
    name="bit_depth", family="display",
    description=("Reduced bit depth: grey levels collapsed into a few bands "
                 "(low-bit export, posterised screen capture)."),
    rationale=("Medical images are acquired at 10-16 bits but often exported, screenshot or displayed at 8 bits "
               "or fewer, which collapses subtle density differences into bands."),
    table=[{"bits": b} for b in (6, 5, 4, 3, 2)],
    random=False, fn=bit_depth,
)
WINDOW_CLIPPING = ImageNoise(
    name="window_clipping", family="display",
    description=("Wrong window/level: a narrow display window saturates "
                 "everything outside it to black or white."),
    rationale=("Images exported or captured at a narrow window/level (a bone or lung window) saturate every "
               "tissue outside it, hiding findings in the clipped range."),
    table=[{"level": lv, "width": wd}
           for lv, wd in ((0.5, 0.85), (0.52, 0.7), (0.55, 0.55), (0.58, 0.4), (0.6, 0.25))],
    random=False, fn=window_clipping,
)
SCANNED_FILM_MOIRE = ImageNoise(
    name="scanned_film_moire", family="display",
    description="Moire: wavy interference bands from scanning printed film or photographing a monitor.",
    rationale=("Digitising printed film on a flatbed scanner, or photographing an LCD or film behind a grid, "
               "produces interference bands that can mimic texture."),
    table=[{"cycles_per_pixel": 0.4, "rotation_deg": 5.0, "amplitude": a}
           for a in (0.25, 0.35, 0.47, 0.62, 0.85)],
    fn=scanned_film_moire,
)
BURNED_IN_TEXT = ImageNoise(
    name="burned_in_text", family="display",
    description=("Burned-in annotations: patient ID, date and acquisition "
                 "text printed into the image pixels."),
    rationale=("Ultrasound, fluoroscopy and secondary-capture images carry patient, date and acquisition "
               "annotations burned into the pixels, often over anatomy."),
    table=[{"n_strings": n, "text_height": th, "opacity": op, "intensity": 1.0}
           for n, th, op in ((1, 0.1, 0.6), (1, 0.12, 0.8), (2, 0.12, 0.9), (3, 0.14, 1.0),
                             (4, 0.16, 1.0))],
    fn=burned_in_text,
)

NOISES = (BIT_DEPTH, WINDOW_CLIPPING, SCANNED_FILM_MOIRE, BURNED_IN_TEXT)
