"""8-bit images to float tensors and back: bit for bit what the plain torch formulation gives."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from medrobust.noise._image_tensor import batch_to_images, image_to_tensor, images_to_batch, tensor_to_image

#: Odd, thin, wide (one row more than a scratch chunk holds) and chunk-straddling sizes, as (width, height).
SIZES = [(1, 1), (33, 17), (17, 33), (64, 64), (1000, 140), (2 ** 17 + 3, 2)]
MODES = ["L", "RGB", "RGBA"]


def _reference_to_batch(images):
    """The plain formulation: uint8 HWC to float32 CHW, then ``div_(255.0)``."""
    arrays = [np.array(image, dtype=np.uint8) for image in images]
    pixels = torch.from_numpy(np.stack([a[..., None] if a.ndim == 2 else a for a in arrays]))
    return pixels.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)


def _reference_to_images(tensor, mode):
    """The plain formulation: clamp to [0, 1], ``* 255``, round half to even, uint8 HWC."""
    pixels = tensor.clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p, mode=mode) for p in pixels]


def _images(mode, size, count=2, seed=0):
    rng = np.random.default_rng(seed)
    width, height = size
    bands = len(Image.new(mode, (1, 1)).getbands())
    images = []
    for _ in range(count):
        a = rng.integers(0, 256, (height, width, bands), dtype=np.uint8)
        a.reshape(-1)[:min(a.size, 768)] = np.arange(min(a.size, 768)) % 256  # every value, 0 and 255 included
        images.append(Image.fromarray(a[..., 0] if bands == 1 else a, mode=mode).copy())
    return images


def _assert_same_images(got, expected, mode):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.mode == mode and g.size == e.size
        assert np.array_equal(np.asarray(g), np.asarray(e))


def _edge_tensors(shape):
    """In range, out of range, halves of 1/255 steps (ties of ``round``) and infinities, float32."""
    gen = torch.Generator().manual_seed(7)
    halves = torch.randint(-40, 551, shape, generator=gen).to(torch.float32) * 0.5 / 255.0
    ties = (torch.randint(0, 255, shape, generator=gen).to(torch.float32) + 0.5) / 255.0
    wide = torch.rand(shape, generator=gen) * 1.6 - 0.3
    special = torch.tensor([-0.0, float("inf"), float("-inf"), 3e38, -3e38, 1.0000001, -1e-30, 1e-30])
    for t in (halves, ties, wide):
        t.view(-1)[:special.numel()] = special[:t.numel()]
    return [halves, ties, wide, torch.randn(shape, generator=gen) * 1e6]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_images_to_batch_is_k_over_255_exactly(mode, size):
    images = _images(mode, size)
    got = images_to_batch(images)
    assert got.dtype == torch.float32 and got.is_contiguous()
    assert torch.equal(got, _reference_to_batch(images))
    assert torch.equal(image_to_tensor(images[1]), got[1:])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_batch_to_images_rounds_like_torch(mode, size):
    images = _images(mode, size)
    clean = images_to_batch(images)
    _assert_same_images(batch_to_images(clean, mode), images, mode)  # the 8-bit round trip is the identity
    for tensor in _edge_tensors(clean.shape):
        _assert_same_images(batch_to_images(tensor, mode), _reference_to_images(tensor, mode), mode)
    _assert_same_images([tensor_to_image(tensor, mode)], _reference_to_images(tensor[:1], mode), mode)


def test_batch_to_images_rounds_every_tie_and_its_neighbours():
    # for every k, the float32 nearest (k + 0.5) / 255 and 3 ulps either side, plus a stride of all [0, 1]
    ties = torch.tensor([(k + 0.5) / 255.0 for k in range(255)], dtype=torch.float32).view(torch.int32)
    near = (ties[:, None] + torch.arange(-3, 4, dtype=torch.int32)).reshape(-1)
    stride = torch.arange(0, 0x3F800001, 97, dtype=torch.int32)
    x = torch.cat([near, stride]).view(torch.float32).reshape(1, 1, 1, -1)
    _assert_same_images(batch_to_images(x, "L"), _reference_to_images(x, "L"), "L")


def test_batch_to_images_other_layouts_and_dtypes():
    gen = torch.Generator().manual_seed(3)
    strided = (torch.rand((2, 33, 17, 3), generator=gen) * 1.2 - 0.1).permute(0, 3, 1, 2)
    _assert_same_images(batch_to_images(strided, "RGB"), _reference_to_images(strided, "RGB"), "RGB")
    double = torch.rand((2, 1, 17, 33), generator=gen, dtype=torch.float64) * 1.2 - 0.1  # rounded in float64
    _assert_same_images(batch_to_images(double, "L"), _reference_to_images(double, "L"), "L")
    tracked = torch.rand((1, 3, 9, 5), generator=gen, requires_grad=True)
    _assert_same_images(batch_to_images(tracked, "RGB"), _reference_to_images(tracked.detach(), "RGB"), "RGB")
    assert tracked.grad is None


def test_conversions_from_several_threads_at_once():
    gen = torch.Generator().manual_seed(5)
    tensors = [torch.rand((1, 3, 300, 257), generator=gen) * 1.2 - 0.1 for _ in range(8)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: batch_to_images(images_to_batch(batch_to_images(t, "RGB")), "RGB"), tensors))
    for g, t in zip(got, tensors):
        _assert_same_images(g, _reference_to_images(t, "RGB"), "RGB")
