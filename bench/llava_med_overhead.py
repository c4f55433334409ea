"""The ``llava-med`` plugin against a bare transformers loop: samples/s and the harness's overhead.

A random-weight LLaVA of LLaVA-Med v1.5's shapes (CLIP ViT-L/14-336 + Mistral-7B,
``--size llava-med``; ``--size tiny`` for a CPU smoke run) is saved once with
``save_pretrained`` and loaded twice: by the plugin, and by a plain loop (processor ->
``generate`` greedy -> ``batch_decode``) with the same prompts, images, batch size and
new-token count. Rounds alternate between the two; the best round of each counts.
Overhead = plugin time / bare time - 1 (goal: at most 3 %). Also times loading and
``describe()`` (sha256 of every weight file). Prints one JSON object.

```
python bench/llava_med_overhead.py --size llava-med --device cuda --batch 32 --samples 128
python bench/llava_med_overhead.py --size tiny --samples 16      # CPU smoke run
```
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "plugins"))

import tiny_llava  # noqa: E402  (the checkpoint builder the tests use)

PROMPT = "[INST] <image>\n{question} [/INST]"


def save_random_checkpoint(out: Path, size: str, device: str) -> float:
    """A random-weight checkpoint of ``size``, initialised on ``device`` (bf16 on CUDA); returns seconds."""
    import torch
    from transformers import LlavaForConditionalGeneration

    start = time.perf_counter()
    tokenizer = tiny_llava.build_tokenizer()
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlavaForConditionalGeneration(tiny_llava.build_config(tokenizer, size=size)).eval()
    finally:
        torch.set_default_dtype(previous)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tiny_llava.build_processor(tokenizer, size=size).save_pretrained(out)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return time.perf_counter() - start


class BareLoop:
    """What a user would write with transformers alone: processor, greedy ``generate``, decode."""

    def __init__(self, path: Path, device: str, dtype: Any, batch: int, new_tokens: int) -> None:
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        self.processor.tokenizer.padding_side = "left"
        self.model = LlavaForConditionalGeneration.from_pretrained(
            path, local_files_only=True, use_safetensors=True, dtype=dtype).to(device).eval()
        self.device, self.dtype, self.batch, self.new_tokens = device, dtype, batch, new_tokens

    def answer(self, samples: list[Any]) -> list[str]:
        import torch

        out: list[str] = []
        with torch.inference_mode():
            for i in range(0, len(samples), self.batch):
                chunk = samples[i:i + self.batch]
                enc = self.processor(text=[PROMPT.format(question=s.question) for s in chunk],
                                     images=[s.image.convert("RGB") for s in chunk], padding=True,
                                     return_tensors="pt").to(self.device)
                enc["pixel_values"] = enc["pixel_values"].to(self.dtype)
                ids = self.model.generate(**enc, do_sample=False, num_beams=1, max_new_tokens=self.new_tokens,
                                          pad_token_id=self.processor.tokenizer.pad_token_id)
                out.extend(self.processor.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True))
        return out


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(tiny_llava.SIZES), default="llava-med")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write the checkpoint (default: a temporary one)")
    args = parser.parse_args(argv)

    import torch

    from medrobust.data.phantom import PhantomVQA
    from medrobust_plugins.hf.llava_med import LlavaMed

    samples = PhantomVQA({}).samples("test")
    samples = (samples * (args.samples // len(samples) + 1))[:args.samples]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "ckpt"
        report: dict[str, Any] = {"size": args.size, "device": args.device, "batch": args.batch,
                                  "samples": len(samples), "new_tokens": args.new_tokens}
        report["build_and_save_s"] = round(save_random_checkpoint(path, args.size, args.device), 2)
        load_s, plugin = _timed(LlavaMed, {"path": str(path), "device": args.device, "batch_size": args.batch,
                                           "max_new_tokens": args.new_tokens, "image_aspect_ratio": "processor"})
        report["plugin_load_s"] = round(load_s, 2)
        describe_s, ident = _timed(plugin.describe)
        report.update(describe_s=round(describe_s, 2), parameters=ident["parameters"], dtype=ident["dtype"])
        load_s, bare = _timed(BareLoop, path, args.device, plugin.dtype, args.batch, args.new_tokens)
        report["bare_load_s"] = round(load_s, 2)

        warm = samples[:args.batch]
        same = bare.answer(warm) == plugin.answer(warm)
        times: dict[str, list[float]] = {"bare": [], "plugin": []}
        for _ in range(args.rounds):
            for name, runner in (("bare", bare), ("plugin", plugin)):
                times[name].append(_timed(runner.answer, samples)[0])
        best = {k: min(v) for k, v in times.items()}
        report.update(
            same_answers_on_warmup_batch=same,
            bare_samples_per_s=round(len(samples) / best["bare"], 2),
            plugin_samples_per_s=round(len(samples) / best["plugin"], 2),
            overhead_percent=round(100 * (best["plugin"] / best["bare"] - 1), 2),
            rounds_s={k: [round(t, 3) for t in v] for k, v in times.items()},
            torch=torch.__version__,
            gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
