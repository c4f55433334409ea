"""Greedy, beam or sampled generation for the transformers-backed models, in left-padded batches.

``run_generate`` is what :meth:`HFVisionLanguageModel.answer` and ``generate`` call.
Sampled prompts are generated one per call, each under its own seed
(:meth:`HFVisionLanguageModel.sample_seed`) in a forked torch RNG, so a sampled answer
depends on the seed and the sample only, and torch's global RNG is left as it was.
"""

from __future__ import annotations

import copy
from typing import Any, Optional, Sequence

__all__ = ["run_generate", "rng_devices"]


def rng_devices(model: Any) -> list[int]:
    """The CUDA devices whose RNG state a sampled call forks (and restores): every GPU the weights sit on."""
    torch = model._torch
    placed = getattr(model.model, "hf_device_map", None) or {}
    devices = {torch.device(f"cuda:{v}") if isinstance(v, int) else torch.device(v)
               for v in placed.values() if v not in ("disk", "meta")}
    devices.add(model.device)
    cuda = [d for d in devices if d.type == "cuda"]
    return sorted({d.index if d.index is not None else torch.cuda.current_device() for d in cuda})


def run_generate(model: Any, texts: Sequence[str], images: Optional[Sequence[Any]], max_new_tokens: int) -> list[str]:
    """The new text of each prompt (special tokens dropped), ``images`` one per prompt or ``None``."""
    torch = model._torch
    out: list[str] = []
    config = copy.deepcopy(model.generation_config)
    config.max_new_tokens = max_new_tokens
    size = 1 if config.do_sample else model.batch_size  # sampled: one prompt per call, seeded by itself
    with torch.inference_mode():
        for i in range(0, len(texts), size):
            given = None if images is None else list(images[i:i + size])
            imgs = None if given is None else [model.prepare_image(im) for im in given]
            inputs = model._to_device(model.encode(list(texts[i:i + size]), imgs))
            model._images = given  # a feature transform sees the images as the caller gave them
            try:
                if config.do_sample:
                    with torch.random.fork_rng(devices=rng_devices(model)):
                        torch.manual_seed(model.sample_seed(texts[i], None if imgs is None else imgs[0]))
                        ids = model.model.generate(**inputs, generation_config=config)
                else:
                    ids = model.model.generate(**inputs, generation_config=config)
            finally:
                model._images = None
            new = ids[:, inputs["input_ids"].shape[1]:]
            out.extend(model.tokenizer.batch_decode(new, skip_special_tokens=True))
    return out
