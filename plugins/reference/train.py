"""Train the reference model on phantom-vqa's train split, reproducibly on CPU.

    python -m medrobust_plugins.reference.train --out plugins/reference/weights --seed 0

Two stages (a from-scratch LLaVA this small does not learn left/right end to end):

1. the vision tower alone, with a small head predicting the findings (presence,
   side, count, size, modality, organ) from the features the projector receives;
2. the whole LLaVA on the questions, loss on the answer tokens only.

Augmentation is geometric only: horizontal flip (which swaps left/right answers
and side labels) and shifts of up to 3 pixels. No noise or blur augmentation:
the model is meant to show how a medical MLLM degrades under noise.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from medrobust import PhantomVQA, phantom_questions

from . import _build

SHIFT = 3


def _labels(samples):
    bank = phantom_questions()
    modality = list(bank.modalities)
    organ = list(bank.organs)
    rows = []
    for s in samples:
        md = s.metadata
        rows.append([
            int(md["lesion_present"]),
            {None: 0, "left": 1, "right": 2}[md["lesion_side"]],
            md["lesion_count"],
            {None: 0, "small": 1, "large": 2}[md["lesion_size"]],
            modality.index(md["modality"]),
            organ.index(md["organ"]),
        ])
    return torch.tensor(rows, dtype=torch.long)


HEADS = (2, 3, 4, 3, 4, 4)


def _augment(images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random horizontal flip and shift of uint8 images [B, 64, 64] -> float [-1, 1] [B,1,64,64]."""
    b = images.shape[0]
    x = images.float().div(255.0).unsqueeze(1)
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dx = torch.randint(-SHIFT, SHIFT + 1, (b,), generator=gen)
    dy = torch.randint(-SHIFT, SHIFT + 1, (b,), generator=gen)
    padded = F.pad(x, (SHIFT, SHIFT, SHIFT, SHIFT), mode="replicate")
    out = torch.empty_like(x)
    n = x.shape[-1]
    for k in range(b):
        y0, x0 = SHIFT + int(dy[k]), SHIFT + int(dx[k])
        out[k] = padded[k, :, y0:y0 + n, x0:x0 + n]
    return (out - 0.5) / 0.5, flip


def _lr(step: int, total: int, base: float, warmup: int = 100) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


class FindingsHead(nn.Module):
    """Findings from position-agnostic pooling (mean and max over tokens).

    The head cannot see where a token lies, so the vision tower must write the
    lesion's side into the token features themselves, where the language model
    can read it.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * dim, 256), nn.GELU(), nn.Linear(256, sum(HEADS)))

    def forward(self, feats: torch.Tensor) -> list[torch.Tensor]:
        logits = self.mlp(torch.cat([feats.mean(1), feats.amax(1)], -1))
        return list(torch.split(logits, HEADS, -1))


def _features(model, pixel_values: torch.Tensor) -> torch.Tensor:
    out = model.model.vision_tower(pixel_values, output_hidden_states=True, return_dict=True)
    return out.hidden_states[model.config.vision_feature_layer][:, 1:]


def stage1(model, images, labels, steps, batch, gen, log) -> None:
    head = FindingsHead(model.config.vision_config.hidden_size)
    params = list(model.model.vision_tower.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.01)
    model.train()
    n = images.shape[0]
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, n, (batch,), generator=gen)
        x, flip = _augment(images[idx], gen)
        y = labels[idx].clone()
        side = y[:, 1]
        y[:, 1] = torch.where(flip & (side > 0), 3 - side, side)
        outs = head(_features(model, x))
        loss = sum(F.cross_entropy(o, y[:, k]) for k, o in enumerate(outs))
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, 2e-3)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            acc = [float((o.argmax(-1) == y[:, k]).float().mean()) for k, o in enumerate(outs)]
            log(f"stage1 step {step} loss {loss.item():.4f} acc {[round(a, 2) for a in acc]} "
                f"{time.time() - t0:.0f}s")


def _tokenise(tokenizer, samples):
    """Per sample: prompt ids (with bos, image tokens expanded), answer ids, flipped answer ids."""
    prompts, answers, flipped = [], [], []
    cache: dict[str, list[int]] = {}

    def ids(text: str) -> list[int]:
        if text not in cache:
            cache[text] = tokenizer(text, add_special_tokens=False)["input_ids"]
        return cache[text]

    swap = {"left": "right", "right": "left"}
    for s in samples:
        p = _build.expand_image_tokens(tokenizer, _build.PROMPT_TEMPLATE.format(question=s.question))
        prompts.append([tokenizer.bos_token_id] + ids(p))
        answers.append(ids(" " + s.answer) + [tokenizer.eos_token_id])
        flipped.append(ids(" " + swap.get(s.answer, s.answer)) + [tokenizer.eos_token_id]
                       if s.metadata["question_kind"] == "side" else answers[-1])
    return prompts, answers, flipped


def _batch(prompts, answers, flipped, idx, flip, pad_id):
    seqs, labs = [], []
    for k, i in enumerate(idx.tolist()):
        a = flipped[i] if bool(flip[k]) else answers[i]
        seqs.append(prompts[i] + a)
        labs.append([-100] * len(prompts[i]) + a)
    n = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), n), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for k, (s, l) in enumerate(zip(seqs, labs)):
        input_ids[k, : len(s)] = torch.tensor(s)
        labels[k, : len(l)] = torch.tensor(l)
        mask[k, : len(s)] = 1
    return input_ids, mask, labels


def stage2(model, tokenizer, samples, images, steps, batch, gen, log) -> None:
    prompts, answers, flipped = _tokenise(tokenizer, samples)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model.train()
    n = images.shape[0]
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, n, (batch,), generator=gen)
        x, flip = _augment(images[idx], gen)
        input_ids, mask, labels = _batch(prompts, answers, flipped, idx, flip, tokenizer.pad_token_id)
        out = model(input_ids=input_ids, attention_mask=mask, pixel_values=x, labels=labels)
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, 1e-3)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"stage2 step {step} loss {out.loss.item():.4f} {time.time() - t0:.0f}s")


def evaluate(model, tokenizer, samples, batch: int = 64) -> dict:
    """Exact-match accuracy per question kind with greedy generation."""
    model.eval()
    per: dict[str, list[int]] = {}
    with torch.inference_mode():
        for i in range(0, len(samples), batch):
            chunk = samples[i:i + batch]
            enc = _build.encode(tokenizer, [_build.PROMPT_TEMPLATE.format(question=s.question)
                                             for s in chunk])
            ids = model.generate(**enc, pixel_values=_build.pixel_values([s.image for s in chunk]),
                                 max_new_tokens=8, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id)
            preds = tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            for s, p in zip(chunk, preds):
                per.setdefault(s.metadata["question_kind"], []).append(
                    int(p.strip().lower() == s.answer))
    model.train()
    res = {k: round(sum(v) / len(v), 4) for k, v in sorted(per.items())}
    res["all"] = round(sum(sum(v) for v in per.values()) / sum(len(v) for v in per.values()), 4)
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stage1-steps", type=int, default=600)
    ap.add_argument("--stage2-steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        lines.append(msg)

    t0 = time.time()
    data = PhantomVQA({"seed": 0})
    train = data.samples("train")
    reference = data.samples("reference")
    images = torch.from_numpy(np.stack([np.asarray(s.image, dtype=np.uint8) for s in train]))
    log(f"data: {len(train)} train samples in {time.time() - t0:.1f}s")

    from transformers import LlavaForConditionalGeneration

    tokenizer = _build.build_tokenizer()
    model = LlavaForConditionalGeneration(_build.build_config(tokenizer))
    log(f"parameters: {sum(p.numel() for p in model.parameters())}")

    stage1(model, images, _labels(train), args.stage1_steps, 2 * args.batch, gen, log)
    stage2(model, tokenizer, train, images, args.stage2_steps, args.batch, gen, log)

    model.eval()
    result = evaluate(model, tokenizer, reference)
    log(f"reference accuracy per kind: {json.dumps(result)}")
    model.save_pretrained(str(args.out), safe_serialization=True)
    tokenizer.save_pretrained(str(args.out))
    minutes = (time.time() - t0) / 60
    log(f"total training time: {minutes:.1f} min")
    (args.out / "training_log.json").write_text(json.dumps({
        "seed": args.seed, "threads": args.threads, "stage1_steps": args.stage1_steps,
        "stage2_steps": args.stage2_steps, "batch": args.batch,
        "reference_accuracy": result, "minutes": round(minutes, 2), "log": lines,
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
