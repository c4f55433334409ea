"""The ``jpeg`` noise: libjpeg's lossy stages, batched in torch, against Pillow's real JPEG."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from medrobust.run.plugins import load_plugins
from medrobust.noise import _jpeg
from medrobust.noise._jpeg import jpeg_lossy
from medrobust.noise._jpeg_blocks import dct_matrix, islow_matrix, quant_table

QUALITIES = [p["quality"] for p in load_plugins().noises["jpeg"].table]  # 80, 50, 30, 15, 7
#: What "agrees with Pillow" means here, per image. Measured over the 5 qualities of the table: on
#: 60 phantom-vqa images 5 pixels in 1.2 million differed from Pillow's decoded JPEG, on 24 96x96
#: crops of skimage's colour photographs 9 in 3.3 million, each by one level, at most one pixel of
#: an image (2.4e-4 of a 64x64 one): float32 rounding in islow's second passes (float64, as on
#: CUDA, matches exactly). The mutants below (wrong quality, no chroma subsampling, float DCT)
#: differ on more than 1 % of the pixels of every image they are tried on.
MAX_DIFFERING = 1e-3
MAX_LEVELS = 1


def _pillow(arr: np.ndarray, quality: int, **save) -> np.ndarray:
    """Pillow's JPEG round trip of an 8-bit ``[H, W]`` or ``[H, W, 3]`` array."""
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality, **save)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L" if arr.ndim == 2 else "RGB"))


def _ours(arr: np.ndarray, quality: int, fn=jpeg_lossy) -> np.ndarray:
    x = torch.from_numpy(arr.copy()).float() / 255.0
    x = x[None, None] if arr.ndim == 2 else x.permute(2, 0, 1)[None]
    y = (fn(x, quality)[0] * 255.0).round().to(torch.uint8)
    return y[0].numpy() if arr.ndim == 2 else y.permute(1, 2, 0).numpy()


def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.BILINEAR))


def _u8(a) -> np.ndarray:
    return np.clip(np.round(np.asarray(a, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def gray_images() -> list[np.ndarray]:
    """64x64: three embedded anatomical backgrounds, a phantom-vqa sample, and a smooth synthetic."""
    from medrobust.data.phantom import PhantomVQA
    from medrobust.data.phantom._backgrounds import background

    images = [_resize(_u8(background(s)), (64, 64)) for s in ("chest_xray", "head_ct", "shoulder_mri")]
    images.append(np.asarray(PhantomVQA({}).samples("test")[0].image))
    yy, xx = np.mgrid[0:64, 0:64]
    images.append(_u8((40 + 2.5 * xx + 0.8 * yy + 10 * np.sin(xx / 7.0)) / 255.0))
    return images


@pytest.fixture(scope="module")
def rgb_images() -> list[np.ndarray]:
    """96x96 and 70x53: a fundus photograph, embedded backgrounds as channels, pseudo-colour, synthetic."""
    from skimage.data import retina

    from medrobust.data.phantom._backgrounds import background

    fundus = retina()
    stack = np.stack([_resize(_u8(background(s)), (96, 96)) for s in ("chest_xray", "head_ct", "shoulder_mri")], -1)
    ct = _resize(_u8(background("head_ct")), (96, 96)).astype(np.float64) / 255.0
    pseudo = _u8(np.stack([np.clip(1.5 - abs(4 * ct - c), 0, 1) for c in (3, 2, 1)], -1))  # a "jet" map
    yy, xx = np.mgrid[0:96, 0:96]
    smooth = _u8(np.stack([xx / 95, yy / 95, 0.5 + 0.4 * np.sin((xx + yy) / 9)], -1))
    return [_resize(fundus, (96, 96)), _resize(fundus[300:1100, 200:1000], (70, 53)), stack, pseudo, smooth,
            _resize(stack, (70, 53))]


def _check_agreement(ours: np.ndarray, pillow: np.ndarray, original: np.ndarray) -> None:
    diff = np.abs(ours.astype(int) - pillow.astype(int))
    assert (diff > 0).mean() <= MAX_DIFFERING and diff.max() <= MAX_LEVELS, (diff.mean(), diff.max())
    # the comparison means something: JPEG moved the image far more than ours differs from Pillow
    assert np.abs(original.astype(int) - pillow.astype(int)).mean() > 0.3


@pytest.mark.parametrize("quality", QUALITIES)
def test_gray_matches_pillow(gray_images, quality):
    for image in gray_images:
        _check_agreement(_ours(image, quality), _pillow(image, quality), image)


@pytest.mark.parametrize("quality", QUALITIES)
def test_rgb_matches_pillow_including_odd_sizes(rgb_images, quality):
    for image in rgb_images:
        _check_agreement(_ours(image, quality), _pillow(image, quality), image)


def _differing(a: np.ndarray, b: np.ndarray) -> float:
    return float((a != b).mean())


def test_the_bound_catches_a_quality_off_by_one_step(gray_images, rgb_images):
    # Measured: a neighbouring quality differs from Pillow's result on 1.4-40 % of these images' pixels
    # (not on the smooth synthetic one, whose few non-zero coefficients keep their rounding).
    for image in gray_images[:3] + rgb_images[:3]:
        for quality in QUALITIES:
            pillow = _pillow(image, quality)
            for wrong in (quality - 1, quality + 1):
                assert _differing(_ours(image, wrong), pillow) > 10 * MAX_DIFFERING, (quality, wrong)


def test_the_bound_catches_missing_chroma_subsampling(rgb_images):
    # Measured: Pillow without subsampling (4:4:4) differs from ours on 19-90 % of pixels, so an
    # implementation that skipped subsampling (or upsampled differently) would fail the agreement test.
    for image in rgb_images:
        for quality in QUALITIES:
            full_chroma = _pillow(image, quality, subsampling=0)
            assert _differing(_ours(image, quality), full_chroma) > 100 * MAX_DIFFERING


def _float_dct_jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Gray JPEG with the exact orthonormal DCT instead of islow (64x64 images)."""
    d, q = dct_matrix(torch.float64), quant_table(quality).double()
    levels = (x.double() * 255.0).round() - 128.0
    blocks = levels.view(-1, 8, 8, 8, 8).transpose(-3, -2)  # [B, by, bx, 8, 8]
    coef = d @ blocks @ d.T
    pixels = d.T @ (torch.round(coef / q) * q) @ d
    return (pixels + 128.0).round().clamp(0, 255).transpose(-3, -2).reshape(x.shape) / 255.0


def test_the_bound_catches_a_float_dct(gray_images):
    # Why islow: the exact DCT, measured here, leaves 0.5-17 % of pixels off Pillow's (up to 16 levels).
    for image in gray_images[:4]:
        for quality in QUALITIES:
            assert _differing(_ours(image, quality, _float_dct_jpeg), _pillow(image, quality)) > MAX_DIFFERING


def test_quant_tables_are_the_ones_pillow_writes():
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    for quality in list(range(1, 101, 3)) + QUALITIES + [100]:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="JPEG", quality=quality)
        tables = Image.open(io.BytesIO(buf.getvalue())).quantization
        assert list(tables[0]) == quant_table(quality).flatten().tolist(), quality
        assert list(tables[1]) == quant_table(quality, chroma=True).flatten().tolist(), quality


def test_islow_matrix_is_libjpegs_scaled_dct():
    a, d = islow_matrix().double(), dct_matrix()
    assert torch.allclose(d @ d.T, torch.eye(8, dtype=torch.float64), atol=1e-12)
    assert (a / (8192 * 8 ** 0.5) - d).abs().max() < 1e-4  # 13-bit constants
    assert a[0].tolist() == [8192] * 8 and a[4].tolist() == [8192, -8192, -8192, 8192] * 2
    assert a[1, 0] == 11363 and a[7, 3] == -11363  # sums of jfdctint.c's FIX_ constants


def test_a_smooth_ramp_at_quality_7_becomes_flat_8x8_blocks_with_their_means():
    ramp = torch.linspace(60 / 255, 124 / 255, 64).expand(1, 1, 64, 64)  # 1 level per pixel across
    out = jpeg_lossy(ramp, 7)
    blocks = (out * 255.0).round().view(8, 8, 8, 8).transpose(1, 2)  # [by, bx, 8, 8]
    assert torch.equal(blocks, blocks[..., :1, :1].expand_as(blocks))  # every AC term quantised away
    steps = blocks[:, 1:, 0, 0] - blocks[:, :-1, 0, 0]
    assert (steps >= 0).all() and (steps > 0).sum() >= 8 * 4           # steps at block edges only
    step = quant_table(7)[0, 0].item()                                   # DC step, 8x a block mean
    means = ((ramp * 255.0).round().view(8, 8, 8, 8).transpose(1, 2).mean((-1, -2)))
    assert ((blocks[..., 0, 0] - means).abs() <= step / 16 + 0.5).all()


def test_a_steeper_ramp_keeps_only_low_frequencies():
    ramp = torch.linspace(0.2, 0.8, 64).expand(1, 1, 64, 64)
    out = (jpeg_lossy(ramp, 30)[0, 0] * 255.0).round().double()
    d = dct_matrix()
    coef = d @ out.view(8, 8, 8, 8).transpose(1, 2) @ d.T                  # [by, bx, u, v]
    assert (coef[..., 1:, :].abs() <= 4.0).all()                          # no vertical detail (rounding only)
    assert (coef[..., 0, 4:].abs() <= 4.0).all()                          # high horizontal frequencies gone
    assert (coef[..., 0, 1].abs() > 20).all()                              # the slope survives


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(2, 1, 64, 64), (3, 3, 40, 57), (2, 3, 17, 9), (1, 2, 23, 31)])
def test_keeps_shape_dtype_range_and_8_bit_levels(shape, dtype):
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    out = jpeg_lossy(images, 30)
    assert out.shape == images.shape and out.dtype == dtype and out.device == images.device
    assert out.min() >= 0.0 and out.max() <= 1.0 and not torch.equal(out, images)
    assert torch.equal(out, (out * 255.0).round() / 255.0)  # exactly k / 255 in the input's dtype


def test_float64_and_float32_inputs_give_the_same_levels(rgb_images):
    x = torch.from_numpy(np.stack(rgb_images[:1] + rgb_images[2:5])).permute(0, 3, 1, 2) / 255.0
    a, b = jpeg_lossy(x.float(), 15), jpeg_lossy(x.double(), 15)
    assert torch.equal((a.double() * 255).round(), (b * 255).round())


def test_non_8_bit_inputs_are_quantised_to_8_bits_first():
    gen = torch.Generator().manual_seed(3)
    images = torch.rand(2, 3, 24, 40, generator=gen) * 1.2 - 0.1  # off the 8-bit lattice, some out of range
    quantised = (images.clamp(0, 1) * 255.0).round() / 255.0
    assert torch.equal(jpeg_lossy(images, 50), jpeg_lossy(quantised, 50))


def test_batched_equals_one_image_at_a_time(monkeypatch, rgb_images):
    gen = torch.Generator().manual_seed(4)
    colour = torch.from_numpy(np.stack(rgb_images[:1] + rgb_images[2:5])).permute(0, 3, 1, 2) / 255.0
    gray3 = colour[:, :1].expand(-1, 3, -1, -1)
    mixed = torch.cat([colour[:2], gray3[:3], colour[2:], torch.rand(2, 3, 96, 96, generator=gen)])
    monkeypatch.setattr(_jpeg, "CHUNK_PIXELS", 3 * 96 * 96)  # several groups, the last one partial
    for batch in (mixed, mixed[:, :1].contiguous(), mixed[:, :2].contiguous()):
        together = jpeg_lossy(batch, 30)
        alone = torch.cat([jpeg_lossy(image[None], 30) for image in batch])
        assert torch.equal(together, alone)


def test_gray_stored_as_rgb_takes_the_luma_shortcut_with_libjpegs_result(gray_images):
    image = np.repeat(gray_images[0][..., None], 3, axis=-1)
    ours = _ours(image, 30)
    assert np.array_equal(ours, _pillow(image, 30))
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255.0
    full = torch.empty_like(x)
    _jpeg._Colour(64, 64, 1, x.device)(x, 30, full)  # the whole colour pipeline, no shortcut
    assert np.array_equal(ours, (full[0] * 255).round().byte().permute(1, 2, 0).numpy())


def test_other_channel_counts_code_each_channel_as_gray():
    images = torch.rand(2, 4, 32, 48, generator=torch.Generator().manual_seed(5))
    out = jpeg_lossy(images, 50)
    for c in range(4):
        assert torch.equal(out[:, c:c + 1], jpeg_lossy(images[:, c:c + 1], 50))


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 17), (17, 1), (17, 2), (9, 3), (16, 4), (5, 5), (8, 16),
                                  (23, 31)])
@pytest.mark.parametrize("channels", [1, 3])
def test_small_and_narrow_images_match_pillow(monkeypatch, size, channels):
    # Geometry (MCU padding, edge replication, chroma sizes; libjpeg upsamples chroma at most 2
    # samples wide by repetition, not the triangle filter) in exact float64 arithmetic, then float32.
    rng = np.random.default_rng(sum(size) + channels)
    image = rng.integers(0, 256, size + ((3,) if channels == 3 else ())).astype(np.uint8)
    for quality in (95, 30):
        pillow = _pillow(image, quality)
        diff = np.abs(_ours(image, quality).astype(int) - pillow)
        assert (diff > 0).mean() <= max(MAX_DIFFERING, 3 / diff.size) and diff.max() <= 2
        with monkeypatch.context() as m:
            m.setattr(_jpeg, "_work_dtype", lambda device: torch.float64)
            assert np.array_equal(_ours(image, quality), pillow)


def test_float64_arithmetic_used_on_cuda_is_libjpeg_exact(monkeypatch, gray_images, rgb_images):
    monkeypatch.setattr(_jpeg, "_work_dtype", lambda device: torch.float64)
    for image in gray_images[:2] + rgb_images[:3]:
        for quality in (80, 15):
            assert np.array_equal(_ours(image, quality), _pillow(image, quality))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_and_pillow(rgb_images, gray_images):
    for image in rgb_images[:2] + gray_images[:2]:
        on_gpu = _ours(image, 30, lambda x, q: jpeg_lossy(x.cuda(), q).cpu())
        assert np.array_equal(on_gpu, _pillow(image, 30))
        assert _differing(on_gpu, _ours(image, 30)) <= MAX_DIFFERING


def test_colour_conversions_are_libjpegs_for_every_value():
    levels = torch.arange(256, dtype=torch.int64)
    centred = levels - 128
    y = levels.view(-1, 1, 1).float()
    cb, cr = centred.view(1, -1, 1).float(), centred.view(1, 1, -1).float()
    # decode (jdcolor.c tables) against the float32 form used in _Colour, for every Y, Cb, Cr
    r_tab = (91881 * centred + 32768) >> 16
    b_tab = (116130 * centred + 32768) >> 16
    g_tab = (-22554 * centred.view(-1, 1) + 32768 - 46802 * centred.view(1, -1)) >> 16
    ours_r = torch.floor(y + 0.5 + cr * _jpeg._CR_R)
    ours_g = torch.floor(y + 0.5 + cb * _jpeg._CB_G + cr * _jpeg._CR_G)
    ours_b = torch.floor(y + 0.5 + cb * _jpeg._CB_B)
    assert torch.equal(ours_r.long(), levels.view(-1, 1, 1) + r_tab.view(1, 1, -1))
    assert torch.equal(ours_b.long(), levels.view(-1, 1, 1) + b_tab.view(1, -1, 1))
    assert torch.equal(ours_g.long(), levels.view(-1, 1, 1) + g_tab.view(1, 256, 256))
    # encode (jccolor.c) for every R, G, B: the float32 matrix product, exact in any summation order
    rgb = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).view(3, -1)
    fix = torch.tensor(_jpeg._RGB_TO_YCC, dtype=torch.int64)
    expected = (fix @ rgb + torch.tensor([32768, 32767 + (128 << 16), 32767 + (128 << 16)]).view(3, 1)) >> 16
    matrix, offset = _jpeg._colour_constants(torch.device("cpu"), torch.float32)
    ours = torch.floor(matrix @ rgb.float() + offset.view(3, 1))
    ours[1:] += 128
    assert torch.equal(ours.long(), expected)


def test_the_noise_is_version_3_and_applies_jpeg_lossy():
    noise = load_plugins().noises["jpeg"]
    assert noise.version == "3" and not noise.random
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    assert torch.equal(noise.apply(images, noise.params(3, seed=0)), jpeg_lossy(images, 30))


def test_rejects_what_is_not_a_float_image_batch():
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        jpeg_lossy(torch.rand(3, 8, 8), 50)
    with pytest.raises(TypeError, match="float images"):
        jpeg_lossy(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), 50)
    assert jpeg_lossy(torch.rand(0, 3, 8, 8), 50).shape == (0, 3, 8, 8)
    leaf = torch.rand(1, 3, 16, 16, requires_grad=True)  # a tensor from a model: coded, not differentiated
    assert torch.equal(jpeg_lossy(leaf, 50), jpeg_lossy(leaf.detach(), 50))
