"""Real anatomical backgrounds, loaded offline once per process.

Every source is reduced to a float32 array in [0, 1] of shape 128x128. Sources:

* pydicom's own test files (MIT): ``CT_small.dcm`` (chest CT, axial);
* pydicom-data (MIT), embedded in ``_assets.py``: chest radiograph (its
  ``MONOCHROME1`` grey levels inverted to the usual display: lungs dark, bone
  bright), head CT, shoulder MRI;
* nibabel's test data (MIT), embedded in ``_assets.py``: ``anatomical.nii``, a
  real T1 brain MRI (one axial slice);
* scikit-image (CC0): ``retina()`` fundus photograph.
"""

from __future__ import annotations

import base64
import functools
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 128

#: style -> (modality, organ, source, licence)
STYLES: dict[str, dict[str, str]] = {
    "chest_xray": {
        "modality": "x-ray", "organ": "chest",
        "source": "pydicom-data RG1_UNCR.dcm (chest radiograph), embedded", "licence": "MIT",
    },
    "chest_ct": {
        "modality": "ct", "organ": "chest",
        "source": "pydicom test file CT_small.dcm (axial chest CT)", "licence": "MIT",
    },
    "head_ct": {
        "modality": "ct", "organ": "brain",
        "source": "pydicom-data eCT_Supplemental.dcm (axial head CT), embedded", "licence": "MIT",
    },
    "brain_mri": {
        "modality": "mri", "organ": "brain",
        "source": "nibabel test data anatomical.nii (T1 brain MRI, axial slice), embedded",
        "licence": "MIT",
    },
    "shoulder_mri": {
        "modality": "mri", "organ": "shoulder",
        "source": "pydicom-data MR2_UNCR.dcm (shoulder MRI), embedded", "licence": "MIT",
    },
    "fundus": {
        "modality": "fundus photograph", "organ": "eye",
        "source": "scikit-image data.retina() (green channel)", "licence": "CC0",
    },
}


def _resize(a: np.ndarray) -> np.ndarray:
    img = Image.fromarray(np.asarray(a, dtype=np.float32), mode="F")
    img = img.resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def _embedded(name: str) -> np.ndarray:
    from ._assets import ASSETS
    from ._assets import SIZE as ASSET_SIZE

    raw = zlib.decompress(base64.b64decode("".join(ASSETS[name]["data"])))
    arr = np.frombuffer(raw, dtype=np.uint8).reshape(ASSET_SIZE, ASSET_SIZE)
    return _resize(arr.astype(np.float32) / 255.0)


def _chest_ct() -> np.ndarray:
    import pydicom
    import pydicom.data

    path = Path(pydicom.data.__file__).parent / "test_files" / "CT_small.dcm"
    if not path.is_file():
        raise FileNotFoundError(
            f"phantom-vqa needs pydicom's bundled test file {path}; reinstall pydicom")
    a = pydicom.dcmread(path).pixel_array.astype(np.float32)
    lo, hi = np.percentile(a, [1.0, 99.5])
    return _resize(np.clip((a - lo) / (hi - lo), 0.0, 1.0))


def _fundus() -> np.ndarray:
    from skimage.data import retina

    g = retina()[:, :, 1].astype(np.float32) / 255.0
    hi = np.percentile(g, 99.5)
    return _resize(np.clip(g / hi, 0.0, 1.0) * 0.85)


@functools.lru_cache(maxsize=None)
def background(style: str) -> np.ndarray:
    """The 128x128 float32 source image of a style (cached; do not modify)."""
    if style in ("chest_xray", "head_ct", "shoulder_mri", "brain_mri"):
        arr = _embedded(style)
    elif style == "chest_ct":
        arr = _chest_ct()
    elif style == "fundus":
        arr = _fundus()
    else:
        raise ValueError(f"unknown style {style!r}; styles: {', '.join(STYLES)}")
    arr.setflags(write=False)
    return arr
