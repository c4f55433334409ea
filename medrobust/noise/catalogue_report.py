"""What ``medrobust noises`` shows: the catalogue with measured strength, and contact sheets."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from PIL import Image, ImageDraw

from ..sample import Sample
from ._image_tensor import image_to_tensor, tensor_to_image
from .base import SEVERITY_LEVELS, ImageNoise, Noise, derive_seed
from .similarity import mean_change

__all__ = ["measure_noise", "catalogue_rows", "contact_sheet"]


def measure_noise(noise: Noise, samples: Sequence[Sample], seed: int = 0) -> list[float]:
    """Mean SSIM (image noises) or edit similarity (text noises) per severity 1-5 on ``samples``."""
    return [round(mean_change(noise, samples, lambda s, level=level: noise.params(
        level, derive_seed(seed, s.id, 0, noise.name, level))), 4) for level in SEVERITY_LEVELS]


def catalogue_rows(noises: Mapping[str, Noise], providers: Mapping[str, str],
                   samples: Sequence[Sample] = ()) -> list[dict[str, Any]]:
    """One JSON-ready row per noise; ``measured`` is filled when ``samples`` are given."""
    rows = []
    for name in noises:
        noise = noises[name]
        row: dict[str, Any] = {
            "name": name, "modality": noise.modality, "family": noise.family, "version": noise.version,
            "random": noise.random, "description": noise.description,
            "rationale": noise.rationale, "plugin": providers.get(name, "?"),
            "severities": [dict(r) for r in noise.table],
        }
        if noise.modality == "text":
            row["protects_tokens"] = bool(getattr(noise, "protects_tokens", True))
        if samples:
            row["measure"] = "ssim" if noise.modality == "image" else "edit_similarity"
            row["measured"] = measure_noise(noise, samples)
        rows.append(row)
    return sorted(rows, key=lambda r: (r["modality"], r["family"], r["name"]))


def contact_sheet(noise: ImageNoise, sample: Sample, seed: int = 0, scale: int = 3) -> Image.Image:
    """The clean image and severities 1-5 side by side, labelled, enlarged ``scale`` times."""
    clean = image_to_tensor(sample.image)
    tiles = [("clean", sample.image)]
    for level in SEVERITY_LEVELS:
        params = noise.params(level, derive_seed(seed, sample.id, 0, noise.name, level))
        tiles.append((f"severity {level}", tensor_to_image(noise.apply(clean.clone(), params), sample.image.mode)))
    w, h = sample.image.size
    tw, th, label = w * scale, h * scale, 14
    sheet = Image.new("RGB", (tw * len(tiles) + 4 * (len(tiles) + 1), th + label + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (text, image) in enumerate(tiles):
        x = 4 + i * (tw + 4)
        sheet.paste(image.convert("RGB").resize((tw, th), Image.NEAREST), (x, label + 4))
        draw.text((x, 2), text, fill="black")
    return sheet
