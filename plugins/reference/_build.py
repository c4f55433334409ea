"""What training and inference share: tokenizer, config, prompt and preprocessing.

Imports torch and transformers; import this module lazily.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

IMAGE_SIZE = 64
PATCH_SIZE = 8
IMAGE_SEQ_LENGTH = (IMAGE_SIZE // PATCH_SIZE) ** 2
PROMPT_TEMPLATE = "USER: <image>\n{question} ASSISTANT:"
TEXT_PROMPT_TEMPLATE = "USER: {question} ASSISTANT:"
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
VOCAB_SIZE = 400


TEXT_LAYERS = 3


def format_prompt(user_text: str) -> str:
    """One user turn in the model's own format, ending where its reply begins."""
    return TEXT_PROMPT_TEMPLATE.format(question=user_text)


def with_image(prompt: str) -> str:
    """``prompt`` with ``<image>`` where the model was trained to see it (after ``USER: ``)."""
    if "<image>" in prompt:
        return prompt
    head = TEXT_PROMPT_TEMPLATE.split("{question}")[0]
    if prompt.startswith(head):
        return head + "<image>\n" + prompt[len(head):]
    return "<image>\n" + prompt


def tokenizer_corpus() -> list[str]:
    """Text the BPE tokenizer is trained on: every template, answer, instruction and the prompt."""
    from medrobust import phantom_questions

    from ._instruct import JUDGE_PROMPTS, REWRITE_PROMPTS

    bank = phantom_questions()
    lines: list[str] = []
    for _, templates in bank.templates.values():
        for t in templates:
            for article, phrase in bank.modality_phrases.values():
                lines.append(PROMPT_TEMPLATE.format(
                    question=t.format(article=article, modality_phrase=phrase)))
    for p in JUDGE_PROMPTS + REWRITE_PROMPTS:
        lines.extend([format_prompt(p.format(question="")) + " yes no"] * 3)
    for answers in bank.answers.values():
        lines.extend((" " + a) * 20 for a in answers)
    lines.append("USER: ASSISTANT: the image shows a lesion on the left right side of the chest"
                 " brain eye shoulder; no abnormality, one two three lesions, small large.")
    return lines


def build_tokenizer() -> Any:
    """A byte-level BPE tokenizer (deterministic), wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    corpus = tokenizer_corpus()
    tok.train_from_iterator(corpus * 5, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        pad_token="<pad>", extra_special_tokens={"image_token": "<image>"},
        padding_side="left", model_input_names=["input_ids", "attention_mask"])


def build_config(tokenizer: Any) -> Any:
    """The LLaVA configuration: CLIP vision tower + Llama language model, ~1M parameters."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
        num_channels=1, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=128)
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
        num_hidden_layers=TEXT_LAYERS, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=256, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    return LlavaConfig(
        vision_config=vision, text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=IMAGE_SEQ_LENGTH, vision_feature_layer=-1,
        vision_feature_select_strategy="default", projector_hidden_act="gelu",
        tie_word_embeddings=True)


def pixel_values(images: Sequence[Any]) -> torch.Tensor:
    """Grayscale 64x64 images -> float tensor [B, 1, 64, 64] normalised to [-1, 1].

    Accepts PIL images (converted to ``L``, resized if needed) or float tensors /
    arrays in [0, 1] of shape [H, W] or [1, H, W].
    """
    out = []
    for im in images:
        if isinstance(im, Image.Image):
            if im.mode != "L":
                im = im.convert("L")
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
            t = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)
        else:
            t = torch.as_tensor(im, dtype=torch.float32)
            if t.ndim == 3:
                t = t.mean(0)
        out.append(t.reshape(1, IMAGE_SIZE, IMAGE_SIZE))
    return (torch.stack(out) - 0.5) / 0.5


def expand_image_tokens(tokenizer: Any, text: str) -> str:
    """Replace each ``<image>`` with as many image tokens as the vision tower yields."""
    return text.replace("<image>", "<image>" * IMAGE_SEQ_LENGTH)


def encode(tokenizer: Any, texts: list[str]) -> dict[str, torch.Tensor]:
    """Left-padded input_ids and attention_mask, with ``<s>`` prepended."""
    ids = [[tokenizer.bos_token_id] + tokenizer(expand_image_tokens(tokenizer, t),
                                                add_special_tokens=False)["input_ids"]
           for t in texts]
    n = max(len(i) for i in ids)
    input_ids = torch.full((len(ids), n), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(ids), n), dtype=torch.long)
    for k, seq in enumerate(ids):
        input_ids[k, n - len(seq):] = torch.tensor(seq)
        mask[k, n - len(seq):] = 1
    return {"input_ids": input_ids, "attention_mask": mask}
