"""The ``--model-option`` keys of ``llava-med`` and ``hf-vlm``, with their defaults and allowed values.

Kept apart from the model classes (and free of torch) so that the plugin's factories can
declare them as ``OPTIONS`` when the plugin registers: the harness then refuses an
unknown key at start-up, before anything loads (:mod:`medrobust.run.startup`).
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["BASE_DEFAULTS", "BASE_CHOICES", "LLAVA_MED_DEFAULTS", "LLAVA_MED_CHOICES", "HF_VLM_DEFAULTS",
           "HF_VLM_CHOICES", "ATTENTION", "QUANTIZATION", "DEVICE_MAPS"]

ATTENTION = ("auto", "eager", "sdpa", "flash_attention_2")
"""``attn_implementation``: ``auto`` lets transformers choose (sdpa where it can)."""
QUANTIZATION = ("none", "8bit", "4bit")
"""``load_in``: bitsandbytes' LLM.int8() or NF4 weights."""
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
"""``device_map`` strategies of accelerate (a device name such as ``cpu`` or ``cuda:1`` is also accepted)."""

BASE_DEFAULTS: dict[str, Any] = {
    "path": "", "device": "cpu", "dtype": "auto", "batch_size": 16, "max_new_tokens": 32, "num_beams": 1,
    "do_sample": False, "temperature": 1.0, "top_p": 1.0, "seed": 0, "threads": 0,
    "trust_remote_code": False,
    # where the checkpoint comes from and how it is loaded (see _hub and _loading)
    "repo": "", "revision": "", "device_map": "", "max_memory": "", "attn_implementation": "auto",
    "load_in": "none",
}
BASE_CHOICES: dict[str, Sequence[Any]] = {"dtype": ("auto", "float32", "bfloat16", "float16"),
                                          "attn_implementation": ATTENTION, "load_in": QUANTIZATION}

LLAVA_MED_DEFAULTS: dict[str, Any] = {**BASE_DEFAULTS, "template": "mistral", "image_aspect_ratio": "pad"}
LLAVA_MED_CHOICES: dict[str, Sequence[Any]] = {**BASE_CHOICES, "image_aspect_ratio": ("pad", "processor")}

HF_VLM_DEFAULTS: dict[str, Any] = {**BASE_DEFAULTS, "question": "{question}", "image_size": 0}
HF_VLM_CHOICES: dict[str, Sequence[Any]] = BASE_CHOICES
