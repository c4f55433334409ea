"""Loaders for the public medical VQA datasets (VQA-RAD, SLAKE, PathVQA) and JSONL manifests.

Registered exactly as a third-party dataset plugin would be. Each reads a local
copy of a public release (nothing downloads) given as ``--dataset NAME:PATH``;
options come from ``--dataset-option KEY=VALUE``. The loaders import only when a
dataset is built, so loading the plugin is cheap.

* ``vqa-rad``: the OSF release (JSON + image folder) or the Hugging Face parquet release.
* ``slake``: the Slake1.0 release (English by default; ``lang=zh`` or ``lang=all``).
* ``pathvqa``: the original release (pickled QA lists + image folders) or the parquet release.
* ``jsonl``: a manifest for in-house data, one JSON object per line.

Every dataset offers the splits ``test`` and ``reference`` (a training split,
image-disjoint from test, at most ``reference_size`` samples) plus the release's
own split names, and ``describe()`` / ``digest(split)``.

Inputs are bounded: an image is read only from a regular file inside the
dataset's folder (an absolute name, a ``..`` or a symlink that leads out, a FIFO
or a device is refused unread) of at most ``max_image_bytes``, and a record whose
question or reference answer is longer than ``max_question_chars`` /
``max_answer_chars`` is skipped. Refused records are listed by ``describe()``.
"""

from __future__ import annotations

import importlib
from typing import Any

import medrobust

__all__ = ["DatasetError", "LocalDataset", "medrobust_register_datasets"]

_LAZY = {"LocalDataset": "._dataset"}
_LOADERS = {"vqa-rad": ".vqa_rad", "slake": ".slake", "pathvqa": ".pathvqa", "jsonl": ".jsonl"}


def __getattr__(name: str) -> Any:
    if name == "DatasetError":  # medrobust's own, kept here for code that imported it from this package
        return medrobust.DatasetError
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)


def _factory(name: str) -> Any:
    def factory(options: dict[str, Any]) -> Any:
        return importlib.import_module(_LOADERS[name], __name__).load(options)

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = f"The {name!r} dataset from a local path (imported on first use)."
    return factory


@medrobust.hookimpl
def medrobust_register_datasets(register: medrobust.Register) -> None:
    for name in _LOADERS:
        register(name, _factory(name))
