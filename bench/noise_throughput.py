"""Images per second of medrobust's image noises against peer libraries, in one run.

For every image noise of ours that a peer also implements, this times our
batched ``apply`` (severity 3, the whole batch in one call) and the peer's op at
its nearest parameters, on the same images:

* imagecorruptions (numpy, one image at a time; imported through a
  ``pkg_resources`` shim because current setuptools no longer ships it),
* albumentations 2.x (numpy uint8, one image at a time),
* TorchIO (one subject at a time, a ``[C, H, W, 1]`` tensor: its 2-D convention),
* kornia (batched ``[B, C, H, W]`` tensors, like ours).

Peers are not dependencies: one that is missing is reported as ``not installed``,
an op that raises as ``failed``. The mapping (peer op and parameters for each of
our noises) is the data in :data:`MAPPING`; ``--show-mapping`` prints it.

Timing: warm-up calls, then rounds in which ours and every peer of the op are
called once each, in turn, until ``repeats`` rounds or the time budget is reached
(at least ``min_repeats``); the fastest call of each is reported as images/s, so
load from other processes, which only ever slows a call, disturbs all alike.
Each table also shows the images/s of a plain float copy of the batch, a bound
for any op that returns a fresh float batch (timed alone and in every cell's
rounds; the fastest counts). One-image peers are timed as a loop
over the first ``peer_images`` images of the batch (fewer for ops so slow that
the loop would overrun the budget, but at least :data:`MIN_PEER_IMAGES`, or
:data:`MIN_PEER_SECONDS` of work where a single image takes longer; their cost
per image does not depend on the batch size). Everybody gets the same 8-bit
images: ours as ``k / 255`` float32 and, by default, the peers as the same
float32 values (``--peer-input uint8`` gives albumentations uint8 instead);
input conversion is not timed for anybody. Torch (and OpenCV) threads are
pinned to each value of ``--threads`` in turn.

Target, per op and setting: the op *meets* it when ours runs at least
:data:`TARGET_PEER_RATIO` (2) times the images/s of the fastest peer fed the
same float32 values, *or* ours takes at most :data:`TARGET_COPY_FACTOR` (1.5)
times as long as ``batch.clone()`` of the same batch (the float-copy floor: no
op that returns a fresh float batch can beat it by much). The second clause
exists because uint8 lookup tables and fixed-point filters move a quarter of
the bytes and beat any float-tensor op; the ``target`` column says which
clause holds. Against ``--peer-input uint8`` the same column is informative
only.

Usage::

    python bench/noise_throughput.py            # full measurement (minutes)
    python bench/noise_throughput.py --quick    # smoke run (small batches, few repeats)
    python bench/noise_throughput.py --peer-input uint8   # albumentations on uint8 (not the target's reading)
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import sys
import time
import types
import warnings
from typing import Any, Callable, Mapping, Optional, Sequence, Union

__all__ = ["PeerOp", "MAPPING", "PEERS", "Setting", "load_peer", "measure", "target", "main"]

SEVERITY = 3
SEED = 20261128
PEERS = ("imagecorruptions", "albumentations", "torchio", "kornia")
#: Peers that take one image per call; the others take the whole batch.
PER_IMAGE = {"imagecorruptions": True, "albumentations": True, "torchio": True, "kornia": False}
#: One-image peers are timed over at least this many images per call, even when slow ...
MIN_PEER_IMAGES = 4
#: ... unless a single image takes longer: then over as many as make this much work (at least one).
MIN_PEER_SECONDS = 0.5
#: The target: ours >= this times the fastest float32 peer ...
TARGET_PEER_RATIO = 2.0
#: ... or ours' time per batch <= this times that of ``batch.clone()`` (the float-copy floor).
TARGET_COPY_FACTOR = 1.5

Kwargs = Union[Mapping[str, Any], Callable[[int, int], Mapping[str, Any]]]


@dataclasses.dataclass(frozen=True)
class PeerOp:
    """One peer operation standing in for one of our noises.

    Attributes:
        peer: Library name, one of :data:`PEERS`.
        op: The peer's corruption name (imagecorruptions) or transform class.
        kwargs: Constructor arguments (``severity`` for imagecorruptions), or a
            function of the image height and width returning them.
        note: How the parameters were matched to our severity 3.
    """

    peer: str
    op: str
    kwargs: Kwargs
    note: str = ""

    def resolved(self, height: int, width: int) -> dict[str, Any]:
        """Constructor arguments for images of ``height`` x ``width``."""
        kw = self.kwargs(height, width) if callable(self.kwargs) else self.kwargs
        return dict(kw)


def _ic(name: str, severity: int, note: str) -> PeerOp:
    return PeerOp("imagecorruptions", name, {"severity": severity}, note)


def _elastic_kornia(height: int, width: int) -> dict[str, Any]:
    # kornia smooths U(-1, 1) noise (normalised Gaussian kernel) and scales it by alpha in
    # grid units (2 / size per pixel); its rms per axis is alpha * sqrt(1/3) / (2 sqrt(pi) sigma).
    # alpha below gives ~0.71 px per axis (1 px vector rms, as ours).
    per_axis_px = 1.0 / math.sqrt(2.0)
    rms_unit = math.sqrt(1.0 / 3.0) / (2.0 * math.sqrt(math.pi) * 4.0)
    alpha = per_axis_px * 2.0 / max(height, width) / rms_unit
    return {"kernel_size": (25, 25), "sigma": (4.0, 4.0), "alpha": (alpha, alpha)}


#: Our noise (at severity 3) -> the nearest peer ops. Our severity-3 parameters are in the
#: comments; imagecorruptions only has severity levels, so the nearest level is used.
MAPPING: dict[str, tuple[PeerOp, ...]] = {
    # sigma 0.1
    "gaussian_noise": (
        _ic("gaussian_noise", 1, "sev 1: sigma 0.08 (sev 2: 0.12)"),
        PeerOp("albumentations", "GaussNoise", {"std_range": (0.1, 0.1), "per_channel": True}),
        PeerOp("torchio", "RandomNoise", {"std": (0.1, 0.1)}),
        PeerOp("kornia", "RandomGaussianNoise", {"std": 0.1}),
    ),
    # sigma 1.0 px
    "gaussian_blur": (
        _ic("gaussian_blur", 1, "sev 1: sigma 1"),
        PeerOp("albumentations", "GaussianBlur", {"blur_limit": (7, 7), "sigma_limit": (1.0, 1.0)}),
        PeerOp("torchio", "RandomBlur", {"std": (1.0, 1.0)}, "std in mm, spacing 1 mm"),
        PeerOp("kornia", "RandomGaussianBlur", {"kernel_size": 7, "sigma": (1.0, 1.0)}),
    ),
    # quality 30
    "jpeg": (
        _ic("jpeg_compression", 1, "sev 1: quality 25"),
        PeerOp("albumentations", "ImageCompression", {"quality_range": (30, 30)}),
        PeerOp("kornia", "RandomJPEG", {"jpeg_quality": 30.0}, "differentiable JPEG"),
    ),
    # 150 photons per unit intensity
    "shot_noise": (
        _ic("shot_noise", 1, "sev 1: 60 photons"),
        PeerOp("albumentations", "ShotNoise", {"scale_range": (1 / 150, 1 / 150)},
               "scale = 1/photons, in linear light (gamma 2.2)"),
    ),
    # 2.5 % of pixels, half salt
    "impulse_noise": (
        _ic("impulse_noise", 1, "sev 1: amount 0.03"),
        PeerOp("albumentations", "SaltAndPepper", {"amount": (0.025, 0.025), "salt_vs_pepper": (0.5, 0.5)}),
        PeerOp("kornia", "RandomSaltAndPepperNoise", {"amount": 0.025, "salt_vs_pepper": 0.5}),
    ),
    # x * (1 + 0.1 N(0, 1))
    "speckle_noise": (
        _ic("speckle_noise", 1, "sev 1: sigma 0.15"),
        PeerOp("albumentations", "MultiplicativeNoise",
               {"multiplier": (0.827, 1.173), "elementwise": True, "per_channel": True},
               "uniform multiplier of std 0.1"),
    ),
    # disk radius 1.5 px
    "defocus_blur": (
        _ic("defocus_blur", 1, "sev 1: radius 3 (scaled for 224 px)"),
        PeerOp("albumentations", "Defocus", {"radius": (2, 2), "alias_blur": (0.1, 0.1)},
               "integer radius only"),
    ),
    # 4 px, angle from the seed
    "motion_blur": (
        _ic("motion_blur", 1, "sev 1: radius 10, sigma 3"),
        PeerOp("albumentations", "MotionBlur",
               {"blur_limit": (5, 5), "allow_shifted": False, "angle_range": (0, 180),
                "direction_range": (0.0, 0.0)}, "odd kernel sizes only"),
        PeerOp("kornia", "RandomMotionBlur", {"kernel_size": 5, "angle": (0.0, 180.0), "direction": 0.0}),
    ),
    # max zoom 1.08
    "zoom_blur": (
        _ic("zoom_blur", 1, "sev 1: zooms 1.00-1.10 step 0.01"),
        PeerOp("albumentations", "ZoomBlur", {"max_factor": (1.08, 1.08), "step_factor": (0.01, 0.01)}),
    ),
    # +0.2
    "brightness": (
        _ic("brightness", 2, "sev 2: +0.2 (in HSV value)"),
        PeerOp("albumentations", "RandomBrightnessContrast",
               {"brightness_limit": (0.2, 0.2), "contrast_limit": (0.0, 0.0)}),
        PeerOp("kornia", "RandomBrightness", {"brightness": (1.2, 1.2)}, "adds factor - 1"),
    ),
    # factor 0.5 around the mean
    "contrast": (
        _ic("contrast", 1, "sev 1: factor 0.4"),
        PeerOp("albumentations", "RandomBrightnessContrast",
               {"brightness_limit": (0.0, 0.0), "contrast_limit": (-0.5, -0.5)}),
        PeerOp("kornia", "RandomContrast", {"contrast": (0.5, 0.5)}, "multiplies (no mean kept)"),
    ),
    # gamma 1.7
    "gamma": (
        PeerOp("albumentations", "RandomGamma", {"gamma_limit": (170, 170)}),
        PeerOp("torchio", "RandomGamma", {"log_gamma": (math.log(1.7), math.log(1.7))}),
        PeerOp("kornia", "RandomGamma", {"gamma": (1.7, 1.7)}),
    ),
    # 4 x 4 block means
    "pixelate": (
        _ic("pixelate", 5, "sev 5: resize factor 0.25 (box)"),
        PeerOp("albumentations", "Downscale",
               {"scale_range": (0.25, 0.25), "interpolation_pair": {"downscale": 3, "upscale": 0}},
               "INTER_AREA down, INTER_NEAREST up"),
    ),
    # 1 px rms displacement, smoothness sigma 4 px
    "elastic": (
        _ic("elastic_transform", 1, "sev 1 (affine + elastic, scaled for 224 px)"),
        PeerOp("albumentations", "ElasticTransform", {"alpha": 10.0, "sigma": 4.0},
               "alpha 10 ~ 1 px rms for sigma 4"),
        PeerOp("torchio", "RandomElasticDeformation",
               {"num_control_points": 7, "max_displacement": (2.0, 2.0, 0.0)}, "B-spline"),
        PeerOp("kornia", "RandomElasticTransform", _elastic_kornia, "alpha ~ 1 px rms, sigma 4"),
    ),
    # 4 bits
    "bit_depth": (
        PeerOp("albumentations", "Posterize", {"num_bits": 4}),
        PeerOp("kornia", "RandomPosterize", {"bits": 4}),
    ),
    # 2 moves of 3 px over 15 % of the lines each
    "mri_motion": (
        PeerOp("torchio", "RandomMotion", {"degrees": 0.0, "translation": 3.0, "num_transforms": 2}),
    ),
    # period 4 lines, ghost amplitude 0.13
    "mri_ghosting": (
        PeerOp("torchio", "RandomGhosting", {"num_ghosts": 4, "axes": (0,), "intensity": (0.13, 0.13)},
               "intensity is relative to the k-space maximum"),
    ),
    # one spike of 0.12 |DC|
    "mri_spike": (
        PeerOp("torchio", "RandomSpike", {"num_spikes": 1, "intensity": (0.12, 0.12)}),
    ),
    # sigma 0.06
    "mri_rician_noise": (
        PeerOp("torchio", "RandomNoise", {"std": (0.06, 0.06)}, "Gaussian, not Rician"),
    ),
    # order 3, coefficients U(-0.3, 0.3)
    "mri_bias_field": (
        PeerOp("torchio", "RandomBiasField", {"coefficients": 0.3, "order": 3}),
    ),
}


@dataclasses.dataclass(frozen=True)
class Setting:
    """One image size and batch size."""

    label: str
    size: int
    channels: int
    batch: int


FULL = dict(settings=(Setting("gray64", 64, 1, 64), Setting("gray64", 64, 1, 256),
                      Setting("rgb224", 224, 3, 32), Setting("gray512", 512, 1, 8),
                      Setting("rgb1024", 1024, 3, 4)),
            warmup=2, repeats=9, min_repeats=3, budget_s=4.0, peer_images=64)
QUICK = dict(settings=(Setting("gray64", 64, 1, 16), Setting("rgb224", 224, 3, 4)),
             warmup=1, repeats=3, min_repeats=2, budget_s=0.5, peer_images=8)


# ---------------------------------------------------------------- peers


def _import_imagecorruptions() -> types.ModuleType:
    """Import imagecorruptions, shimming ``pkg_resources.resource_filename`` if setuptools lacks it."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, resource: str) -> str:
            spec = importlib.util.find_spec(package)
            base = os.path.dirname(spec.origin) if spec and spec.origin else ""
            return os.path.join(base, resource)

        shim.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    return importlib.import_module("imagecorruptions")


def load_peer(name: str) -> tuple[Optional[types.ModuleType], str]:
    """The peer's module (or ``None``) and a status: its version, ``not installed`` or ``failed``."""
    module_name = {"kornia": "kornia.augmentation"}.get(name, name)
    if importlib.util.find_spec(name) is None:
        return None, "not installed"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = _import_imagecorruptions() if name == "imagecorruptions" else importlib.import_module(module_name)
    except Exception as exc:  # a peer that is present but broken
        return None, f"failed ({type(exc).__name__}: {exc})"
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        version = str(getattr(sys.modules.get(name, module), "__version__", "?"))
    return module, version


def _peer_callable(module: types.ModuleType, op: PeerOp, height: int, width: int) -> Callable[[Any], Any]:
    """A function applying ``op`` to one input in the form the peer expects."""
    kw = op.resolved(height, width)
    if op.peer == "imagecorruptions":
        return lambda image: module.corrupt(image, corruption_name=op.op, severity=kw["severity"])
    if op.peer == "albumentations":
        transform = getattr(module, op.op)(**kw, p=1.0)
        return lambda image: transform(image=image)["image"]
    if op.peer == "kornia":
        transform = getattr(module, op.op)(**kw, p=1.0)
        return transform
    transform = getattr(module, op.op)(**kw)  # torchio
    return transform


# ---------------------------------------------------------------- timing


def _best_seconds(fns: Mapping[str, Callable[[], Any]], warmup: int, repeats: int, min_repeats: int,
                  budget_s: float, budgeted: Optional[int] = None) -> dict[str, float]:
    """Fastest call time of each function, timed in interleaved rounds.

    Every round calls each function once, in turn, so a burst of load from
    another process hits all contenders alike; the minimum over rounds is the
    least disturbed measurement of each (at least ``min_repeats`` rounds, then
    until ``repeats`` or ``budget_s`` per contender). A function whose warm-up
    call alone takes over ``budget_s / (warmup + min_repeats)`` (large images
    of slow ops) is warmed up once only. ``budgeted``: how many contenders the
    time budget is for (default all; a cheap extra one adds no budget).
    """
    per_call = budget_s / max(warmup + min_repeats, 1)
    for fn in fns.values():
        for _ in range(warmup):
            t0 = time.perf_counter()
            fn()
            if time.perf_counter() - t0 > per_call:
                break
    best = {key: math.inf for key in fns}
    start = time.perf_counter()
    for i in range(repeats):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - t0)
        if i + 1 >= min_repeats and time.perf_counter() - start > budget_s * (budgeted or len(fns)):
            break
    return best


def copy_rate(setting: Setting, *, warmup: int, repeats: int, min_repeats: int, budget_s: float) -> float:
    """Images/s of ``batch.clone()``: a bound for any op that writes a fresh float batch.

    A float32 op reads the batch and writes a new one at least once; a peer on
    uint8 moves a quarter of the bytes. Ours within :data:`TARGET_COPY_FACTOR`
    of this rate meets the target whatever the peers do (see :func:`target`).
    The clone is also timed in every cell's rounds (:func:`measure`); a
    setting's floor is the fastest of all, since a few back-to-back clones can
    all fall into a burst of load and would make the floor too easy to reach.
    """
    batch = _inputs(setting)["batch"]
    return setting.batch / _best_seconds({"copy": batch.clone}, warmup, repeats, min_repeats, budget_s)["copy"]


def _inputs(setting: Setting) -> dict[str, Any]:
    """The same images in every form: a float batch, numpy uint8 per image, TorchIO tensors."""
    import torch
    import torch.nn.functional as F
    from medrobust.data.phantom import PhantomVQA
    from medrobust.noise.composition import image_to_tensor

    samples = PhantomVQA({}).samples("test")
    gray = torch.cat([image_to_tensor(samples[i % len(samples)].image) for i in range(setting.batch)])
    if gray.shape[-1] != setting.size:
        gray = F.interpolate(gray, size=(setting.size, setting.size), mode="bilinear",
                             align_corners=False).clamp_(0.0, 1.0)
    # 8-bit images, as decoded files are: ours gets exactly the values the peers get as uint8
    u8_batch = (gray.repeat(1, setting.channels, 1, 1) * 255.0).round_().to(torch.uint8)
    batch = u8_batch.float() / 255.0
    u8 = u8_batch.permute(0, 2, 3, 1).numpy()
    numpy_images = [img[..., 0].copy() if setting.channels == 1 else img.copy() for img in u8]
    float_images = [(img.astype("float32") / 255.0) for img in numpy_images]  # ours' exact values
    tio_images = [img.unsqueeze(-1).clone() for img in batch]  # [C, H, W, 1]
    return {"batch": batch, "numpy": numpy_images, "numpy_float32": float_images, "torchio": tio_images}


def _peer_image_count(one_image_s: float, available: int, budget_s: float, calls: int) -> int:
    """How many images a one-image peer loops over per timed call.

    A slow op gets fewer images, so that its ``calls`` (warm-up and minimum
    rounds) stay near ``budget_s``, but at least :data:`MIN_PEER_IMAGES`, or
    fewer where fewer already make :data:`MIN_PEER_SECONDS` of work (at least
    one: large images of slow ops would otherwise take minutes a cell).
    """
    one_image_s = max(one_image_s, 1e-9)
    floor = min(MIN_PEER_IMAGES, max(1, math.ceil(MIN_PEER_SECONDS / one_image_s)))
    keep = int(budget_s / calls / one_image_s)
    return min(available, max(floor, keep))


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    try:
        import cv2

        cv2.setNumThreads(n)
    except Exception:
        pass


def measure(noises: Mapping[str, Any], names: Sequence[str], peers: Mapping[str, tuple[Any, str]],
            setting: Setting, threads: int, *, warmup: int, repeats: int, min_repeats: int,
            budget_s: float, peer_images: int, peer_input: str = "float32") -> list[dict[str, Any]]:
    """Rows of images/s (``None`` where not measured) for ``names`` in one setting and thread count.

    ``peer_input`` is what albumentations gets: ``float32`` in [0, 1], the
    very values ours gets (the target's reading), or ``uint8`` images (its
    fast path: OpenCV lookup tables and uint8 filters). imagecorruptions
    converts any input to float64 itself and always gets uint8; TorchIO and
    kornia always get float tensors.
    """
    _set_threads(threads)
    data = _inputs(setting)
    batch, n_peer = data["batch"], min(peer_images, setting.batch)
    rows = []
    for name in names:
        noise = noises[name]
        row: dict[str, Any] = {"noise": name, "setting": setting.label, "batch": setting.batch,
                               "threads": threads, "peer_input": peer_input, "peers": {}, "failures": {}}
        params = noise.params(SEVERITY, SEED)
        row["ours_params"] = {k: v for k, v in params.items() if k != "seed"}
        contenders: dict[str, Callable[[], Any]] = {
            "ours": lambda noise=noise: noise.apply(batch, noise.params(SEVERITY, SEED)), "copy": batch.clone}
        counts = {"ours": setting.batch, "copy": setting.batch}
        for op in MAPPING.get(name, ()):
            module, status = peers[op.peer]
            if module is None:
                row["peers"][op.peer] = status
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fn = _peer_callable(module, op, setting.size, setting.size)
                    if PER_IMAGE[op.peer]:
                        form = {"torchio": "torchio", "albumentations": f"numpy_{peer_input}".replace(
                            "numpy_uint8", "numpy")}.get(op.peer, "numpy")
                        items = data[form][:n_peer]
                        fn(items[0])  # fail fast before timing
                        t0 = time.perf_counter()
                        fn(items[1 % len(items)])
                        items = items[:_peer_image_count(time.perf_counter() - t0, len(items), budget_s,
                                                         warmup + min_repeats)]

                        def run(fn=fn, items=items):
                            for item in items:
                                fn(item)
                        counts[op.peer] = len(items)
                    else:
                        fn(batch)

                        def run(fn=fn):
                            fn(batch)
                        counts[op.peer] = setting.batch
                contenders[op.peer] = run
            except Exception as exc:
                row["peers"][op.peer] = "failed"
                row["failures"][op.peer] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds = _best_seconds(contenders, warmup, repeats, min_repeats, budget_s,
                                    budgeted=len(contenders) - 1)  # the clone is cheap: no budget of its own
        row["ours"] = counts["ours"] / seconds.pop("ours")
        row["copy_cell"] = counts["copy"] / seconds.pop("copy")  # batch.clone() in this cell's rounds
        for peer, secs in seconds.items():
            row["peers"][peer] = counts[peer] / secs
        fastest = _fastest(row)
        row["fastest"] = fastest[0] if fastest else None
        row["ratio"] = row["ours"] / fastest[1] if fastest else None
        rows.append(row)
    return rows


# ---------------------------------------------------------------- output


def _rate(value: Any) -> str:
    if isinstance(value, float):
        for scale, suffix in ((1e6, "M"), (1e3, "k")):
            if value >= scale:
                return f"{value / scale:.3g}{suffix}"
        return f"{value:.3g}"
    return str(value) if value is not None else "-"


def _fastest(row: Mapping[str, Any]) -> Optional[tuple[str, float]]:
    """The fastest measured peer of a row and its images/s, or ``None``."""
    measured = [(peer, v) for peer, v in row["peers"].items() if isinstance(v, float)]
    return max(measured, key=lambda item: item[1]) if measured else None


def target(ratio: Optional[float], copy_x: Optional[float]) -> tuple[Optional[bool], str]:
    """Whether a cell meets the target, and a short verdict saying which clause holds.

    ``ratio`` is ours / the fastest peer's images/s, ``copy_x`` ours' time in
    units of ``batch.clone()``'s (copy images/s / ours images/s). Met when
    ``ratio >= TARGET_PEER_RATIO`` or ``copy_x <= TARGET_COPY_FACTOR``;
    ``None`` where neither is known.
    """
    if ratio is not None and ratio >= TARGET_PEER_RATIO:
        return True, f"yes, {_times(ratio, TARGET_PEER_RATIO)} peer"
    if copy_x is not None and copy_x <= TARGET_COPY_FACTOR:
        return True, f"yes, copy-bound: {_times(copy_x, TARGET_COPY_FACTOR)} the copy time"
    if ratio is None and copy_x is None:
        return None, "-"
    parts = [f"{_times(ratio, TARGET_PEER_RATIO)} peer" if ratio is not None else "no peer"]
    if copy_x is not None:
        parts.append(f"{_times(copy_x, TARGET_COPY_FACTOR)} copy time")
    return False, "no: " + ", ".join(parts)


def _times(value: float, limit: float) -> str:
    """``value`` as ``1.2x``; with two decimals where one would round onto ``limit`` (1.99 is not 2.0)."""
    text = f"{value:.1f}"
    return f"{value:.2f}x" if float(text) == limit and value != limit else f"{text}x"


def _verdict(row: Mapping[str, Any], copy: Optional[float]) -> str:
    """The target column of a row (see :func:`target`)."""
    return target(row["ratio"], copy / row["ours"] if copy else None)[1]


def format_table(rows: Sequence[Mapping[str, Any]], copy: Optional[float] = None) -> str:
    """A plain-text table of one setting and thread count.

    ``copy`` is the images/s of ``batch.clone()`` (see :func:`copy_rate`); the
    ``copy time`` column is ours' time in units of it, the ``target`` column
    the verdict of :func:`target`.
    """
    head = ["noise", "ours"] + list(PEERS) + ["ours/fastest", "copy time", "target"]
    body = []
    for row in rows:
        ratio = row["ratio"]
        body.append([row["noise"], _rate(row["ours"])]
                    + [_rate(row["peers"].get(p)) for p in PEERS]
                    + [f"{ratio:.2f}" if ratio is not None else "-",
                       f"{copy / row['ours']:.2f}x" if copy else "-", _verdict(row, copy)])
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [head] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _summary(rows: Sequence[Mapping[str, Any]], peer_input: str = "float32") -> str:
    """One line: how many rows meet the target, by which clause."""
    judged = [r for r in rows if r.get("meets") is not None]
    by_peer = sum(1 for r in judged if r["meets"] and r["ratio"] is not None and r["ratio"] >= TARGET_PEER_RATIO)
    met = sum(1 for r in judged if r["meets"])
    against = "" if peer_input == "float32" else f" against {peer_input} peers (informative only)"
    return (f"target met{against}: {met} of {len(judged)} ({by_peer} by {TARGET_PEER_RATIO:g}x peer, "
            f"{met - by_peer} copy-bound)")


def format_mapping() -> str:
    """Our noise, its severity-3 parameters and each peer op with its arguments."""
    from medrobust.run.plugins import load_plugins

    noises = load_plugins().noises
    lines = []
    for name, ops in MAPPING.items():
        ours = {k: v for k, v in noises[name].params(SEVERITY, SEED).items() if k != "seed"} if name in noises else "?"
        lines.append(f"{name}  {ours}")
        for op in ops:
            kw = op.resolved(64, 64) if callable(op.kwargs) else dict(op.kwargs)
            note = f"  # {op.note}" if op.note else ""
            lines.append(f"    {op.peer:17} {op.op}({', '.join(f'{k}={v!r}' for k, v in kw.items())}){note}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small batches, few repeats")
    parser.add_argument("--threads", default="1,2", help="torch/OpenCV thread counts, comma-separated")
    parser.add_argument("--noises", default="", help="only these of our noises, comma-separated")
    parser.add_argument("--settings", default="",
                        help="only these image settings, as LABEL/BATCH, comma-separated (e.g. gray64/64,rgb224/32)")
    parser.add_argument("--peer-input", choices=("float32", "uint8"), default="float32",
                        help="albumentations gets the same float32 values as ours (default: the "
                             "target's reading) or uint8 images (its fast path; verdicts informative only)")
    parser.add_argument("--include-unmatched", action="store_true",
                        help="also time our image noises no peer implements")
    parser.add_argument("--json", metavar="PATH", help="also write all rows as JSON")
    parser.add_argument("--show-mapping", action="store_true", help="print the peer mapping and exit")
    args = parser.parse_args(argv)
    if args.show_mapping:
        print(format_mapping())
        return 0
    warnings.filterwarnings("ignore")
    config = QUICK if args.quick else FULL
    from medrobust.run.plugins import load_plugins

    noises = {n: v for n, v in load_plugins().noises.items() if getattr(v, "modality", None) == "image"}
    names = [n for n in noises if n in MAPPING or args.include_unmatched]
    names.sort(key=lambda n: (n not in MAPPING, list(MAPPING).index(n) if n in MAPPING else 0, n))
    if args.noises:
        wanted = [n.strip() for n in args.noises.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(noises))
        if unknown:
            parser.error(f"unknown image noises: {', '.join(unknown)}")
        names = wanted
    peers = {p: load_peer(p) for p in PEERS}
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"medrobust noise throughput, severity {SEVERITY}, {'quick' if args.quick else 'full'} run; "
          f"torch {torch.__version__}; nice {os.nice(0)}; load average {load[0]:.1f} on {os.cpu_count()} CPUs")
    print("peers: " + ", ".join(f"{p} {status}" for p, (_, status) in peers.items()))
    print("images/s; ours: one batched apply call per batch; kornia batched; the other peers one image "
          f"per call, looped over the first {config['peer_images']} images (fewer for slow ops: at least "
          f"{MIN_PEER_IMAGES}, or {MIN_PEER_SECONDS:g} s of work); fastest of up to {config['repeats']} "
          f"interleaved rounds; albumentations gets {args.peer_input} images")
    print(f"target: ours >= {TARGET_PEER_RATIO:g}x the fastest peer on float32 input, or ours' time <= "
          f"{TARGET_COPY_FACTOR:g}x that of batch.clone()"
          + ("" if args.peer_input == "float32" else " (peers on uint8 here: verdicts informative only)"))
    all_rows = []
    settings = config["settings"]
    if args.settings:
        known = {f"{s.label}/{s.batch}": s for s in FULL["settings"] + QUICK["settings"]}
        wanted = [w.strip() for w in args.settings.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in known]
        if unknown:
            parser.error(f"unknown settings {', '.join(unknown)}; choose from {', '.join(known)}")
        settings = tuple(known[w] for w in wanted)
    timing = {k: v for k, v in config.items() if k not in ("settings", "peer_images")}
    for threads in [int(t) for t in args.threads.split(",")]:
        for setting in settings:
            _set_threads(threads)
            copy = copy_rate(setting, **timing)
            rows = measure(noises, names, peers, setting, threads, peer_input=args.peer_input,
                           **{k: v for k, v in config.items() if k != "settings"})
            copy = max([copy] + [row["copy_cell"] for row in rows])  # the least disturbed clone
            for row in rows:
                row["copy"] = copy
                row["copy_x"] = copy / row["ours"]
                row["meets"], row["verdict"] = target(row["ratio"], row["copy_x"])
            all_rows += rows
            print(f"\n{setting.label} batch {setting.batch}, {threads} thread(s); "
                  f"float copy (batch.clone(), fastest in the setting) {_rate(copy)} images/s")
            print(format_table(rows, copy))
            print(_summary(rows, args.peer_input))
            for row in rows:
                for peer, why in row["failures"].items():
                    print(f"  failed: {peer} for {row['noise']}: {why}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"severity": SEVERITY, "quick": args.quick, "peer_input": args.peer_input,
                       "target": {"peer_ratio": TARGET_PEER_RATIO, "copy_factor": TARGET_COPY_FACTOR},
                       "peers": {p: s for p, (_, s) in peers.items()}, "rows": all_rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
