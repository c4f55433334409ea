"""MRI acquisition artifacts, simulated in k-space.

The k-space conventions (centring, phase-encode rows, magnitude
reconstruction) are those of :mod:`medrobust.noise._kspace`. Random draws (one
set per image, shared by its channels) come only from
``generator(params, device)``; a fixed number of draws is made whatever the
severity, and the severity only scales them, so the same seed gives nested,
growing corruptions from level 1 to 5.

The k-space stage of every artifact is exposed (``*_kspace``, masks, fields) so
the physics tests can check it directly. Where the result has a cheaper exact
route, the noise takes it and a test holds it equal to the k-space round trip:
ghosting by the shift theorem on the pixel grid (when the period divides the
height), the spike by its plane wave, and corruptions of whole phase-encode
lines (undersampling, other ghosting) by transforming only that axis.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from ._kspace import (frequencies, real_dtype, through_kspace, through_phase_encode_lines,
                      work_dtype)
from ._ops import generator
from .base import ImageNoise

__all__ = ["MRI_MOTION", "MRI_GHOSTING", "MRI_SPIKE", "MRI_UNDERSAMPLING", "MRI_RICIAN_NOISE",
           "MRI_BIAS_FIELD", "MRI_GIBBS_RINGING", "NOISES",
           "motion_displacements", "motion_kspace", "ghosting_modulation", "ghosting_kspace", "ghosting",
           "spike_location", "spike_kspace", "spike", "undersampling_mask", "undersampling_kspace",
           "rician_noise", "bias_field", "gibbs_window", "gibbs_kspace"]

MAX_MOTION_SEGMENTS = 8
"""Motion segments drawn per image; a severity uses the first ``segments`` of them."""
SPIKE_MIN_RADIUS = 0.15
SPIKE_MAX_RADIUS = 0.45
"""Spike position: radius in k-space as a fraction of the Nyquist frequency."""


# --- rigid motion ----------------------------------------------------------------------------

def motion_displacements(batch: int, height: int, params: Mapping[str, Any],
                         device: torch.device, dtype: torch.dtype = torch.float32
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per phase-encode line translation ``(dy, dx)`` in pixels, each ``[B, H]``.

    The patient moves ``segments`` times; each move lasts ``lines * H``
    consecutive phase-encode lines (sequential ordering) at a random time, and
    translates the object by ``shift * U(0.5, 1)`` pixels in a random direction.
    Overlapping moves add up. Lines with zero displacement were acquired in place.
    """
    gen = generator(params, device)
    draws = torch.rand((batch, MAX_MOTION_SEGMENTS, 3), generator=gen, device=device,
                       dtype=torch.float64)
    n = int(params["segments"])
    length = max(1, round(float(params["lines"]) * height))
    start = (draws[:, :n, 0] * (height - length + 1)).floor()  # [B, n]
    magnitude = float(params["shift"]) * (0.5 + 0.5 * draws[:, :n, 1])
    angle = 2.0 * math.pi * draws[:, :n, 2]
    line = torch.arange(height, device=device, dtype=torch.float64).view(1, 1, -1)
    active = ((line >= start[..., None]) & (line < start[..., None] + length)).double()  # [B, n, H]
    dy = (active * (magnitude * torch.sin(angle))[..., None]).sum(1)
    dx = (active * (magnitude * torch.cos(angle))[..., None]).sum(1)
    return dy.to(dtype), dx.to(dtype)


def motion_kspace(kspace: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Rigid in-plane translation during a segment of the acquisition.

    A translation by ``(dy, dx)`` multiplies k-space by the phase ramp
    ``exp(-2 pi i (ky dy + kx dx))``; it is applied only to the lines acquired
    while the patient was displaced, so magnitudes are untouched everywhere.
    """
    b, _, h, w = kspace.shape
    real = real_dtype(kspace)
    dy, dx = motion_displacements(b, h, params, kspace.device, real)
    fy = frequencies(h, kspace.device, real).view(1, h, 1)
    fx = frequencies(w, kspace.device, real).view(1, 1, w)
    phase = -2.0 * math.pi * (fy * dy[..., None] + fx * dx[..., None])  # [B, H, W]
    return kspace * torch.polar(torch.ones_like(phase), phase)[:, None]


# --- ghosting --------------------------------------------------------------------------------

def _ghosting_phase(batch: int, params: Mapping[str, Any], device: torch.device) -> torch.Tensor:
    """The modulation phase ``phi`` of each image, ``[B]`` float64."""
    gen = generator(params, device)
    return 2.0 * math.pi * torch.rand((batch,), generator=gen, device=device, dtype=torch.float64)


def ghosting_modulation(batch: int, height: int, params: Mapping[str, Any], device: torch.device,
                        dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Factor ``[B, H]`` of each phase-encode line of a centred k-space (see :func:`ghosting_kspace`)."""
    phi = _ghosting_phase(batch, params, device)[:, None]
    ky = torch.arange(height, device=device, dtype=torch.float64) - height // 2
    mod = 1.0 + 2.0 * float(params["intensity"]) * torch.cos(2.0 * math.pi * ky / float(params["period"]) + phi)
    mod[:, height // 2] = 1.0  # the centre line stays as acquired: the image keeps its brightness
    return mod.to(dtype)


def ghosting_kspace(kspace: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Periodic modulation of the phase-encode lines (period ``period`` lines).

    Line ``ky`` (counted from the centre) is multiplied by
    ``1 + 2 a cos(2 pi ky / N + phi)`` with ``a = intensity``, ``N = period`` and
    a random phase ``phi`` per image. By the shift theorem this adds two
    replicas of the object, shifted by ``+-H/N`` pixels (FOV/N) along the
    phase-encode axis, each with amplitude ``a`` times the object. The centre
    line ``ky = 0`` is left as acquired (as TorchIO restores the k-space
    centre): modulating it too would scale every column's mean by
    ``1 + 2 a cos(phi)``, a global brightening or darkening of up to 60 % at
    the top severity that has nothing to do with ghosts.
    """
    b, _, h, _ = kspace.shape
    return kspace * ghosting_modulation(b, h, params, kspace.device, real_dtype(kspace))[:, None, :, None]


def ghosting(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """The image :func:`ghosting_kspace` reconstructs to.

    When the period ``N`` divides the height, the shift theorem is exact on the
    pixel grid: the complex image is
    ``x + a e^(i phi) x(y + H/N) + a e^(-i phi) x(y - H/N) - 2 a cos(phi) m``
    (circular shifts; ``m``, each column's mean, undoes the modulation of the
    centre line), so its magnitude is computed without any Fourier transform.
    Other heights go through the phase-encode axis. Both equal the k-space
    round trip up to float rounding (tests/noise/test_mri.py).
    """
    b, _, h, _ = images.shape
    period = int(params["period"])
    if h % period:
        return _ghosting_by_lines(images, params)
    shift = h // period
    work = images.to(work_dtype(images.dtype))
    phi = _ghosting_phase(b, params, images.device)
    a = float(params["intensity"])
    cos_a = (a * phi.cos()).to(work.dtype).view(b, 1, 1, 1)
    sin_a = (a * phi.sin()).to(work.dtype).view(b, 1, 1, 1)
    out = torch.empty_like(work)
    per = max(1, GHOSTING_CHUNK // work[0].numel()) if images.device.type == "cpu" else b  # stay in cache
    for i in range(0, b, per):
        x, into = work[i:i + per], out[i:i + per]
        ahead = _rolled_rows(x, shift)  # x(y + H/N), circular
        behind = _rolled_rows(x, h - shift)  # x(y - H/N)
        imag = torch.sub(ahead, behind).mul_(sin_a[i:i + per])
        column_mean = x.mean(dim=-2, keepdim=True)  # the centre line ky = 0, back in image space
        real = ahead.add_(behind).sub_(column_mean, alpha=2.0).mul_(cos_a[i:i + per]).add_(x)
        torch.sqrt(real.square_().addcmul_(imag, imag), out=into)
    return out.to(images.dtype).clamp_(0.0, 1.0)


#: Values per pass of :func:`ghosting`'s closed form on CPU (1 MB of float32).
GHOSTING_CHUNK = 1 << 18


def _rolled_rows(x: torch.Tensor, shift: int) -> torch.Tensor:
    """``x(y + shift)`` with circular rows: two contiguous slices (``torch.roll`` gathers, 5x slower)."""
    shift %= x.shape[-2]
    return torch.cat([x[..., shift:, :], x[..., :shift, :]], dim=-2) if shift else x.clone()


# --- spike (herringbone) ---------------------------------------------------------------------

def spike_location(batch: int, height: int, width: int, params: Mapping[str, Any],
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row and column index (centred k-space) and phase of one spike per image."""
    gen = generator(params, device)
    draws = torch.rand((batch, 3), generator=gen, device=device, dtype=torch.float64)
    radius = SPIKE_MIN_RADIUS + (SPIKE_MAX_RADIUS - SPIKE_MIN_RADIUS) * draws[:, 0]
    angle = 2.0 * math.pi * draws[:, 1]
    row = (height // 2 + (radius * torch.sin(angle) * height / 2).round()).long().clamp(0, height - 1)
    col = (width // 2 + (radius * torch.cos(angle) * width / 2).round()).long().clamp(0, width - 1)
    return row, col, 2.0 * math.pi * draws[:, 2]


def spike_kspace(kspace: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Add one high-amplitude k-space point (an RF spike / electrostatic discharge).

    The spike has magnitude ``amplitude * |DC|``; after reconstruction it is a
    plane wave (herringbone stripes) of amplitude ``amplitude`` times the mean
    image intensity.
    """
    b, c, h, w = kspace.shape
    row, col, phase = spike_location(b, h, w, params, kspace.device)
    dc = kspace[:, :, h // 2, w // 2].abs()  # [B, C]
    value = float(params["amplitude"]) * dc * torch.polar(
        torch.ones_like(phase), phase).to(kspace.dtype)[:, None]
    out = kspace.clone()
    idx = torch.arange(b, device=kspace.device)
    out[idx, :, row, col] = out[idx, :, row, col] + value
    return out


def spike(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """The image :func:`spike_kspace` reconstructs to, computed in image space by its closed form.

    A k-space point ``v = A H W exp(i phi)`` at frequency ``(ky, kx)`` adds the
    plane wave ``A exp(i theta)``, ``theta = 2 pi (ky y / H + kx x / W) + phi``,
    to the (real) image, so the magnitude is
    ``sqrt(x^2 + 2 A x cos(theta) + A^2)`` with ``A = amplitude * |sum x| / (H W)``.
    Equal to the k-space round trip up to float rounding (tests/noise/test_mri.py),
    without any Fourier transform.
    """
    b, c, h, w = images.shape
    work = images.to(work_dtype(images.dtype))
    row, col, phase = spike_location(b, h, w, params, images.device)
    f64 = dict(device=images.device, dtype=torch.float64)
    theta_y = 2.0 * math.pi * (row - h // 2).double()[:, None] * torch.arange(h, **f64) / h + phase[:, None]
    theta_x = 2.0 * math.pi * (col - w // 2).double()[:, None] * torch.arange(w, **f64) / w
    # cos(a + b) from the per-row and per-column factors (angles in float64, the [B, H, W] product in work dtype)
    cos_y, sin_y = theta_y.cos().to(work.dtype), theta_y.sin().to(work.dtype)
    cos_x, sin_x = theta_x.cos().to(work.dtype), theta_x.sin().to(work.dtype)
    cos_theta = (cos_y[:, :, None] * cos_x[:, None, :]).sub_(sin_y[:, :, None] * sin_x[:, None, :])
    amp = float(params["amplitude"]) * work.sum(dim=(-2, -1), keepdim=True).abs_().div_(h * w)  # [B, C, 1, 1]
    out = torch.addcmul(work, cos_theta[:, None], 2.0 * amp)  # x + 2 A cos(theta)
    out.mul_(work).add_(amp.square()).clamp_(min=0.0).sqrt_()
    return out.to(images.dtype).clamp_(0.0, 1.0)


# --- undersampling ---------------------------------------------------------------------------

def undersampling_mask(batch: int, height: int, params: Mapping[str, Any],
                       device: torch.device) -> torch.Tensor:
    """Kept phase-encode lines, boolean ``[B, H]``.

    ``round(H / acceleration)`` lines are kept: the ``round(center * H)``
    central lines (fully sampled calibration region), then the others by a
    random priority per line (so a higher acceleration keeps a subset of the
    lines of a lower one for the same seed).
    """
    gen = generator(params, device)
    priority = torch.rand((batch, height), generator=gen, device=device, dtype=torch.float64)
    keep = max(1, min(height, round(height / float(params["acceleration"]))))
    centre = min(keep, round(float(params["center"]) * height))
    first = height // 2 - centre // 2
    priority[:, first:first + centre] += 2.0
    order = priority.argsort(dim=1, descending=True)[:, :keep]
    mask = torch.zeros((batch, height), dtype=torch.bool, device=device)
    return mask.scatter_(1, order, True)


def _undersampling_factors(batch: int, height: int, params: Mapping[str, Any], device: torch.device,
                           dtype: torch.dtype) -> torch.Tensor:
    return undersampling_mask(batch, height, params, device).to(dtype)


def undersampling_kspace(kspace: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Zero the phase-encode lines that were not acquired (zero-filled reconstruction)."""
    b, _, h, _ = kspace.shape
    mask = undersampling_mask(b, h, params, kspace.device)
    return kspace * mask[:, None, :, None]


# --- Rician noise ----------------------------------------------------------------------------

def rician_noise(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Magnitude of the image plus complex white Gaussian noise of std ``sigma`` per component.

    Thermal noise is white and complex in k-space, hence also in image space;
    the magnitude makes it Rician (Rayleigh on a zero background). The same
    noise field is used for all channels of an image.
    """
    b, _, h, w = images.shape
    gen = generator(params, images.device)
    work = work_dtype(images.dtype)
    noise = torch.randn((2, b, 1, h, w), generator=gen, device=images.device, dtype=work)
    noise.mul_(float(params["sigma"]))
    real = torch.add(images.to(work), noise[0])
    # |real + i imag| as sqrt(real^2 + imag^2), in place: 2x cheaper than torch.hypot
    out = real.square_().add_(noise[1].square_()).sqrt_()
    return out.to(images.dtype).clamp_(0.0, 1.0)


# --- bias field ------------------------------------------------------------------------------

def bias_field(batch: int, height: int, width: int, params: Mapping[str, Any],
               device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Smooth multiplicative field ``[B, 1, H, W]`` (receive-coil sensitivity).

    ``exp(sum c_ij x^i y^j)`` over ``1 <= i + j <= order`` on coordinates in
    ``[-1, 1]``, coefficients ``U(-coefficient, coefficient)`` (as TorchIO's
    RandomBiasField, without the constant term so the mean level is kept).
    """
    order = int(params["order"])
    terms = [(i, j) for i in range(order + 1) for j in range(order + 1 - i) if i + j > 0]
    gen = generator(params, device)
    coeff = float(params["coefficient"]) * (
        2.0 * torch.rand((batch, len(terms)), generator=gen, device=device, dtype=torch.float64) - 1.0)
    y = torch.linspace(-1.0, 1.0, height, device=device, dtype=torch.float64).view(-1, 1)
    x = torch.linspace(-1.0, 1.0, width, device=device, dtype=torch.float64).view(1, -1)
    basis = torch.stack([x ** i * y ** j for i, j in terms])  # [T, H, W]
    log_field = torch.einsum("bt,thw->bhw", coeff, basis)
    return log_field.exp().to(dtype)[:, None]


def mri_bias_field(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Multiply by a seeded smooth bias field (see :func:`bias_field`)."""
    b, _, h, w = images.shape
    return (images * bias_field(b, h, w, params, images.device, images.dtype)).clamp_(0.0, 1.0)


# --- Gibbs ringing ---------------------------------------------------------------------------

def gibbs_window(length: int, fraction: float, device: torch.device) -> torch.Tensor:
    """Boolean mask of the ``round(fraction * length)`` central samples of a centred k-space axis."""
    keep = max(1, min(length, round(fraction * length)))
    first = length // 2 - keep // 2
    mask = torch.zeros(length, dtype=torch.bool, device=device)
    mask[first:first + keep] = True
    return mask


def gibbs_kspace(kspace: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Keep only a central window of ``fraction`` of k-space along both axes, zero-fill the rest."""
    h, w = kspace.shape[-2:]
    fraction = float(params["fraction"])
    rows = gibbs_window(h, fraction, kspace.device)
    cols = gibbs_window(w, fraction, kspace.device)
    return kspace * (rows[:, None] & cols[None, :])


_ghosting_by_lines = through_phase_encode_lines(ghosting_modulation, "mri_ghosting")

# --- declarations ----------------------------------------------------------------------------

MRI_MOTION = ImageNoise(
    name="mri_motion", family="mri",
    description="MRI patient motion: the patient shifted during part of the scan, "
                "leaving ghosts and blurring along the phase-encode direction.",
    rationale=("Patients move during long MR acquisitions (children, claustrophobic or acutely ill patients); "
               "inconsistent k-space lines leave ghosts and blur along the phase-encode direction."),
    table=[{"segments": s, "lines": f, "shift": d}
           for s, f, d in ((1, 0.1, 1.5), (1, 0.15, 2.5), (2, 0.15, 3.0), (2, 0.2, 4.0), (3, 0.25, 5.0))],
    version="2", fn=through_kspace(motion_kspace),
)
MRI_GHOSTING = ImageNoise(
    name="mri_ghosting", family="mri",
    description="MRI ghosting: faint shifted copies of the anatomy along the phase-encode "
                "direction (periodic motion such as breathing or pulsation, or EPI phase errors).",
    rationale=("Periodic motion (breathing, cardiac and vessel pulsation, CSF flow) and EPI phase errors "
               "replicate the anatomy at fixed shifts along the phase-encode direction."),
    table=[{"period": 4, "intensity": a} for a in (0.04, 0.08, 0.13, 0.2, 0.3)],
    version="3", fn=ghosting,  # 3: the centre line is not modulated (2: closed form, same law as 1)
)
MRI_SPIKE = ImageNoise(
    name="mri_spike", family="mri",
    description="MRI spike (herringbone) artifact: a burst of RF interference corrupts one "
                "k-space sample and overlays the image with stripes.",
    rationale=("Electrical discharges or RF interference (loose connections, faulty lighting in the scanner "
               "room) corrupt single k-space samples and overlay herringbone stripes."),
    table=[{"amplitude": a} for a in (0.03, 0.06, 0.12, 0.22, 0.4)],
    version="2", fn=spike,
)
MRI_UNDERSAMPLING = ImageNoise(
    name="mri_undersampling", family="mri",
    description="Accelerated (undersampled) MRI: phase-encode lines skipped to shorten the scan, "
                "reconstructed without correction, giving aliasing and blur.",
    rationale=("Accelerated protocols skip phase-encode lines to shorten scans; with imperfect parallel-imaging "
               "or compressed-sensing reconstruction, aliasing and blur remain."),
    table=[{"acceleration": r, "center": c}
           for r, c in ((1.25, 0.16), (1.6, 0.12), (2.0, 0.1), (3.0, 0.08), (4.0, 0.08))],
    version="2", fn=through_phase_encode_lines(_undersampling_factors, "mri_undersampling"),
)
MRI_RICIAN_NOISE = ImageNoise(
    name="mri_rician_noise", family="mri",
    description="MRI thermal noise at low signal-to-noise ratio (fast or high-resolution scans, "
                "weak coils), with the Rician statistics of magnitude images.",
    rationale=("Magnitude MR images at low SNR, e.g. fast or high-resolution scans, low field strength or "
               "distant coils, carry Rician noise that also raises the background."),
    table=[{"sigma": s} for s in (0.015, 0.03, 0.06, 0.1, 0.18)],
    fn=rician_noise, version="2",  # 2: magnitude as sqrt(re^2 + im^2), not hypot (last bits)
)
MRI_BIAS_FIELD = ImageNoise(
    name="mri_bias_field", family="mri",
    description="MRI intensity inhomogeneity (bias field): a smooth brightness variation "
                "across the image from uneven coil sensitivity.",
    rationale=("Uneven receive-coil sensitivity and B1 inhomogeneity, strongest at 3 T and with surface coils, "
               "make the same tissue brighter in one region than in another."),
    table=[{"order": 3, "coefficient": c} for c in (0.1, 0.2, 0.3, 0.45, 0.65)],
    fn=mri_bias_field,
)
MRI_GIBBS_RINGING = ImageNoise(
    name="mri_gibbs_ringing", family="mri",
    description="MRI Gibbs (truncation) ringing: a low acquisition matrix leaves ripples "
                "parallel to sharp edges.",
    rationale=("Low acquisition matrices (fast or low-resolution protocols) truncate k-space and leave ripples "
               "beside sharp edges that can mimic a syrinx or meniscal tear."),
    table=[{"fraction": f} for f in (0.75, 0.6, 0.5, 0.4, 0.3)],
    random=False, version="2", fn=through_kspace(gibbs_kspace),
)

NOISES = (MRI_MOTION, MRI_GHOSTING, MRI_SPIKE, MRI_UNDERSAMPLING, MRI_RICIAN_NOISE,
          MRI_BIAS_FIELD, MRI_GIBBS_RINGING)
