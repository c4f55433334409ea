"""Scenes (background geometry + findings) and their rendering at model resolution.

A :class:`Scene` holds every random choice of one image, so rendering is a pure
function of it; :func:`render` can draw the same scene with or without its
lesions, which lets tests check that the ground truth matches the pixels.

Lesions are designed to be distinguishable from anatomy: a bright round core
with a dark rim, unlike vessels, ribs or ventricles. All lesions of one image lie
on the same side (left or right half *of the image as displayed*) and share one
size class.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image

from ._backgrounds import SIZE as SOURCE_SIZE
from ._backgrounds import background

IMAGE_SIZE = 64
SIDES = ("left", "right")
SIZES = ("small", "large")
RADIUS = {"small": 2.2, "large": 4.2}
RIM = 1.4
MARGIN = 4.0  # minimum distance between a lesion's rim and the midline / border


@dataclasses.dataclass(frozen=True)
class Lesion:
    """One finding: centre (x, y) in pixels, radius, core and rim intensities."""

    x: float
    y: float
    radius: float
    core: float
    rim: float


@dataclasses.dataclass(frozen=True)
class Scene:
    """Every random choice behind one image."""

    style: str
    angle: float
    scale: float
    cx: float
    cy: float
    flip: bool
    gamma: float
    contrast: float
    offset: float
    side: str | None
    size: str | None
    lesions: tuple[Lesion, ...]

    @property
    def count(self) -> int:
        return len(self.lesions)


def draw_scene(rng: np.random.Generator, style: str, count: int,
               side: str | None = None, size: str | None = None) -> Scene:
    """Draw a scene with ``count`` lesions (side and size drawn if not given)."""
    angle = float(rng.uniform(-10.0, 10.0))
    scale = float(rng.uniform(0.72, 1.0))
    half = scale * SOURCE_SIZE / 2.0
    slack = SOURCE_SIZE / 2.0 - half
    cx = float(SOURCE_SIZE / 2.0 + rng.uniform(-slack, slack))
    cy = float(SOURCE_SIZE / 2.0 + rng.uniform(-slack, slack))
    flip = bool(rng.integers(2))
    gamma = float(math.exp(rng.uniform(-0.35, 0.35)))
    contrast = float(rng.uniform(0.75, 1.05))
    offset = float(rng.uniform(-0.06, 0.08))
    lesions: list[Lesion] = []
    if count > 0:
        side = side or SIDES[int(rng.integers(2))]
        size = size or SIZES[int(rng.integers(2))]
        r = RADIUS[size]
        outer = r + RIM
        mid = IMAGE_SIZE / 2.0
        if side == "left":
            xlo, xhi = MARGIN + outer, mid - MARGIN - outer
        else:
            xlo, xhi = mid + MARGIN + outer, IMAGE_SIZE - MARGIN - outer
        ylo, yhi = MARGIN + outer, IMAGE_SIZE - MARGIN - outer
        while len(lesions) < count:
            x = float(rng.uniform(xlo, xhi))
            y = float(rng.uniform(ylo, yhi))
            radius = float(r * rng.uniform(0.9, 1.1))
            if all(math.hypot(x - o.x, y - o.y) > 2 * outer + 2.0 for o in lesions):
                lesions.append(Lesion(x, y, radius, float(rng.uniform(0.88, 1.0)),
                                      float(rng.uniform(0.0, 0.12))))
    else:
        side = size = None
    return Scene(style, angle, scale, cx, cy, flip, gamma, contrast, offset,
                 side, size, tuple(lesions))


def _background(scene: Scene) -> np.ndarray:
    src = Image.fromarray(background(scene.style), mode="F")
    # Output pixel (u, v) -> source point: centre + R(angle) * scale * (u - c, v - c).
    k = scene.scale * SOURCE_SIZE / IMAGE_SIZE
    a = math.radians(scene.angle)
    ca, sa = math.cos(a) * k, math.sin(a) * k
    c = IMAGE_SIZE / 2.0
    coeffs = (ca, -sa, scene.cx - ca * c + sa * c, sa, ca, scene.cy - sa * c - ca * c)
    img = src.transform((IMAGE_SIZE, IMAGE_SIZE), Image.Transform.AFFINE, coeffs,
                        resample=Image.Resampling.BILINEAR, fillcolor=0.0)
    arr = np.asarray(img, dtype=np.float32)
    if scene.flip:
        arr = arr[:, ::-1]
    arr = np.clip(arr, 0.0, 1.0) ** scene.gamma
    return np.clip(arr * scene.contrast + scene.offset, 0.0, 0.8)


_YY, _XX = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) + 0.5


def render(scene: Scene, with_lesions: bool = True) -> Image.Image:
    """The scene as a 64x64 grayscale (mode ``L``) image."""
    arr = _background(scene)
    if with_lesions:
        for les in scene.lesions:
            d = np.sqrt((_XX - les.x) ** 2 + (_YY - les.y) ** 2)
            core = np.clip(les.radius - d + 0.5, 0.0, 1.0)
            outer = np.clip(les.radius + RIM - d + 0.5, 0.0, 1.0)
            rim = outer - core
            arr = arr * (1.0 - outer) + les.rim * rim + les.core * core
    return Image.fromarray(np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8), mode="L")
