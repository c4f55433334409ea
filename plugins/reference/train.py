"""Train the reference model on phantom-vqa's train split, reproducibly on CPU.

    python -m medrobust_plugins.reference.train --out plugins/reference/weights --seed 0

Two stages (a from-scratch LLaVA this small does not learn left/right end to end):

1. the vision tower alone, with a small head predicting the findings (presence,
   side, count, size, modality, organ) from the features the projector receives;
2. the projector and language model (the vision tower frozen), each step on a batch of image questions and a batch of
   text-only prompts: the answers (loss on the reply), the questions themselves
   (language-model loss on the question tokens, so they get meaningful
   probabilities, with and without the image), and two short instructions in the
   model's own format (``_instruct``): "is this question well written?" (yes/no)
   and "rewrite this question correctly: ..." on phantom-vqa's train questions,
   clean or with generic random corruptions (never the catalogue's text noises).
   A share of the instructions come with the question's image.

Augmentation is geometric only: horizontal flip (which swaps left/right answers
and side labels) and shifts of up to 3 pixels. No noise or blur augmentation:
the model is meant to show how a medical MLLM degrades under noise.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from medrobust import PhantomVQA, phantom_questions

from . import _build
from ._instruct import JUDGE_PROMPTS, REWRITE_PROMPTS, corrupt, instruction_rates

SHIFT = 3
IMAGE_INSTRUCTIONS = 0.1
"""Share of the image batch that is an instruction about the sample's question."""
QUESTION_WEIGHT = 0.5
"""Weight of the question tokens' language-model loss beside the replies'."""
KIND_WEIGHTS = {"presence": 1.5, "modality_yn": 0.5, "side": 2.0, "organ": 0.5, "modality": 0.5,
                "count": 2.0, "size": 2.0}
"""How often stage 2 draws each question kind (relative): the ones that need the lesions, more."""


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


def stage1(model, images, labels, steps, batch, gen, log, device="cpu") -> None:
    head = FindingsHead(model.config.vision_config.hidden_size).to(device)
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
        y = y.to(device)
        outs = head(_features(model, x.to(device)))
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


class Encoder:
    """Token ids of a prompt made of parts, with each token's loss class (cached by parts).

    Classes: 0 no loss, 1 question (language-model loss), 2 reply. A token belongs
    to the part its last character lies in; the text is tokenised whole, as at
    inference, so the ids are exactly those the model sees when asked.
    """

    def __init__(self, tokenizer) -> None:
        self.tok = tokenizer
        self.cache: dict[tuple, tuple[list[int], list[int]]] = {}

    def __call__(self, parts: tuple[tuple[str, int], ...], reply: bool) -> tuple[list[int], list[int]]:
        hit = self.cache.get(parts) if len(self.cache) < 200_000 else None
        if hit is None:
            text = "".join(p for p, _ in parts)
            enc = self.tok(_build.expand_image_tokens(self.tok, text), add_special_tokens=False,
                           return_offsets_mapping=True)
            ends, acc = [], 0
            for p, _ in parts:
                acc += len(_build.expand_image_tokens(self.tok, p))
                ends.append(acc)
            cls = []
            for _, end in enc["offset_mapping"]:
                k = next(i for i, e in enumerate(ends) if end <= e)
                cls.append(parts[k][1])
            ids = [self.tok.bos_token_id] + list(enc["input_ids"])
            cls = [0] + cls
            if reply:
                ids.append(self.tok.eos_token_id)
                cls.append(2)
            hit = (ids, cls)
            if len(parts) < 4 or not reply:
                self.cache[parts] = hit
        return hit


def _qa_parts(question: str, answer: str, image: bool = True) -> tuple[tuple[str, int], ...]:
    head = "USER: <image>\n" if image else "USER: "
    parts = ((head, 0), (question, 1), (" ASSISTANT:", 0))
    return parts + (((" " + answer, 2),) if answer else ())


def _instruction_parts(question: str, rng: random.Random, image: bool) -> tuple[tuple[str, int], ...]:
    """A judge or rewrite instruction about ``question`` (clean or corrupted), with its reply."""
    bad = corrupt(question, rng)
    if rng.random() < 0.5:
        clean = rng.random() < 0.5
        prompt = rng.choice(JUDGE_PROMPTS).format(question=question if clean else bad)
        reply = "yes" if clean else "no"
    else:
        asked = question if rng.random() < 0.15 else bad
        prompt = rng.choice(REWRITE_PROMPTS).format(question=asked)
        reply = question
    text = _build.format_prompt(prompt)
    if image:
        text = _build.with_image(text)
    return ((text, 0), (" " + reply, 2))


def _pad(rows: list[tuple[list[int], list[int]]], pad_id: int):
    n = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    cls = torch.zeros((len(rows), n), dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for k, (ids, c) in enumerate(rows):
        input_ids[k, :len(ids)] = torch.tensor(ids)
        cls[k, :len(c)] = torch.tensor(c)
        mask[k, :len(ids)] = 1
    return input_ids, mask, cls


def _token_losses(logits: torch.Tensor, input_ids: torch.Tensor, cls: torch.Tensor):
    """Mean cross-entropy of the reply tokens and of the question tokens (0 if none)."""
    ce = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), input_ids[:, 1:].flatten(),
                         reduction="none").view(input_ids.shape[0], -1)
    target = cls[:, 1:]
    out = []
    for c in (2, 1):
        m = (target == c).float()
        out.append((ce * m).sum() / m.sum().clamp(min=1.0))
    return out


def stage2(model, tokenizer, samples, images, steps, batch, text_batch, gen, log, device) -> None:
    """Answers, question language model and instructions, with and without the image.

    The vision tower stays as stage 1 left it (frozen): the projector and the
    language model learn to read its features.
    """
    enc = Encoder(tokenizer)
    rng = random.Random(int(torch.randint(0, 2**31, (1,), generator=gen)))
    swap = {"left": "right", "right": "left"}
    questions = [s.question for s in samples]
    for p in model.model.vision_tower.parameters():
        p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    model.train()
    weights = torch.tensor([KIND_WEIGHTS[s.metadata["question_kind"]] for s in samples], dtype=torch.float)
    t0 = time.time()
    for step in range(steps):
        idx = torch.multinomial(weights, batch, replacement=True, generator=gen)
        x, flip = _augment(images[idx], gen)
        rows = []
        for k, i in enumerate(idx.tolist()):
            s = samples[i]
            if rng.random() < IMAGE_INSTRUCTIONS:
                rows.append(enc(_instruction_parts(s.question, rng, image=True), True))
                continue
            a = swap.get(s.answer, s.answer) if bool(flip[k]) and s.metadata["question_kind"] == "side" \
                else s.answer
            rows.append(enc(_qa_parts(s.question, a), True))
        trows = []
        for _ in range(text_batch):
            q = questions[rng.randrange(len(questions))]
            if rng.random() < 0.2:
                trows.append(enc(_qa_parts(q, "", image=False), False))
            else:
                trows.append(enc(_instruction_parts(q, rng, image=False), True))
        ids, mask, cls = _pad(rows, tokenizer.pad_token_id)
        tids, tmask, tcls = _pad(trows, tokenizer.pad_token_id)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       pixel_values=x.to(device)).logits
        reply, question = _token_losses(logits, ids.to(device), cls.to(device))
        tlogits = model(input_ids=tids.to(device), attention_mask=tmask.to(device)).logits
        treply, tquestion = _token_losses(tlogits, tids.to(device), tcls.to(device))
        loss = reply + treply + QUESTION_WEIGHT * (question + tquestion) / 2
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, 1e-3)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"stage2 step {step} answers {reply.item():.4f} instructions {treply.item():.4f} "
                f"questions {question.item():.3f} {time.time() - t0:.0f}s")


def _greedy(model, tokenizer, texts, images, max_new_tokens, device, batch: int = 64) -> list[str]:
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            enc = {k: v.to(device) for k, v in _build.encode(tokenizer, texts[i:i + batch]).items()}
            kw = {} if images is None else {"pixel_values": _build.pixel_values(images[i:i + batch]).to(device)}
            ids = model.generate(**enc, **kw, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [o.strip() for o in out]


def evaluate(model, tokenizer, samples, device: str = "cpu") -> dict:
    """Exact-match accuracy per question kind (greedy), and the instruction rates."""
    model.eval()
    preds = _greedy(model, tokenizer, [_build.PROMPT_TEMPLATE.format(question=s.question) for s in samples],
                    [s.image for s in samples], 8, device)
    per: dict[str, list[int]] = {}
    for s, p in zip(samples, preds):
        per.setdefault(s.metadata["question_kind"], []).append(int(p.lower() == s.answer))
    res: dict = {k: round(sum(v) / len(v), 4) for k, v in sorted(per.items())}
    res["all"] = round(sum(sum(v) for v in per.values()) / sum(len(v) for v in per.values()), 4)
    res["instructions"] = instruction_rates(
        lambda texts, n: _greedy(model, tokenizer, texts, None, n, device), _build.format_prompt,
        [s.question for s in samples])
    model.train()
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stage1-steps", type=int, default=400)
    ap.add_argument("--stage2-steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--text-batch", type=int, default=32)
    ap.add_argument("--device", default="cpu", help="cpu (the shipped weights) or cuda (trials)")
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
    model = LlavaForConditionalGeneration(_build.build_config(tokenizer)).to(args.device)
    log(f"parameters: {sum(p.numel() for p in model.parameters())}")

    stage1(model, images, _labels(train), args.stage1_steps, 2 * args.batch, gen, log, args.device)
    stage2(model, tokenizer, train, images, args.stage2_steps, args.batch, args.text_batch, gen, log,
           args.device)

    model.eval()
    result = evaluate(model, tokenizer, reference, args.device)
    log(f"reference accuracy per kind and instruction rates: {json.dumps(result)}")
    model.cpu().save_pretrained(str(args.out), safe_serialization=True)
    tokenizer.save_pretrained(str(args.out))
    minutes = (time.time() - t0) / 60
    log(f"total training time: {minutes:.1f} min")
    (args.out / "training_log.json").write_text(json.dumps({
        "seed": args.seed, "threads": args.threads, "device": args.device,
        "stage1_steps": args.stage1_steps, "stage2_steps": args.stage2_steps, "batch": args.batch,
        "text_batch": args.text_batch, "reference": result, "minutes": round(minutes, 2), "log": lines,
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
