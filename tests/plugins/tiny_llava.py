"""Builds tiny random-weight LLaVA checkpoints offline, in the llava-hf format and in the original one.

Everything is made here: a byte-level BPE tokenizer trained on a few lines with an
``<image>`` token, a CLIP vision tower (3 channels: the processor converts gray
phantom images to RGB and resizes them) and a Mistral or Llama language model,
saved with ``save_pretrained`` (safetensors) beside a ``LlavaProcessor`` whose
image processor needs no torchvision (``CLIPImageProcessorPil``). Under 100k
parameters, so a whole robustness suite runs in seconds on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IMAGE_SIZE = 32
PATCH_SIZE = 8
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
CORPUS = [
    "[INST] <image>\nIs there a lesion in the left lung? [/INST] yes",
    "[INST] <image>\nWhat modality is this image? [/INST] ct scan of the brain",
    "USER: <image>\nIs this normal? ASSISTANT: no, there is a large mass on the right side",
    "A chat between a curious human and an artificial intelligence assistant.",
    "how many lesions are present? one two three; which organ: chest, brain, eye, shoulder.",
]
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}[INST] "
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n"
    "{% else %}{{ item['text'] }}{% endif %}{% endfor %} [/INST]{% endif %}{% endfor %}")


def build_tokenizer(vocab_size: int = 300) -> Any:
    """A byte-level BPE tokenizer with ``<image>``, saved padding right (the plugin must pad left)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 5, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(  # a BOS first, as Mistral's and Llama's tokenizers do
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"}, padding_side="right",  # the plugin pads left itself
        model_input_names=["input_ids", "attention_mask"])


SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "vision": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE, "projection_dim": 32},
        "text": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                 "num_key_value_heads": 1, "max_position_embeddings": 512},
    },
    # every linear layer at least 64 wide: bitsandbytes' 4-bit CPU kernels quantise in blocks of 64 inputs
    "tiny-64": {
        "vision": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE, "projection_dim": 64},
        "text": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                 "num_key_value_heads": 1, "max_position_embeddings": 512},
    },
    # LLaVA-Med v1.5's shapes: CLIP ViT-L/14-336 + Mistral-7B (for benchmarks on a GPU, 7.57B parameters)
    "llava-med": {
        "vision": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                   "num_attention_heads": 16, "image_size": 336, "patch_size": 14, "projection_dim": 768},
        "text": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
                 "num_key_value_heads": 8, "max_position_embeddings": 32768, "rope_theta": 1e6, "vocab_size": 32000},
    },
}


def build_config(tokenizer: Any, text: str = "mistral", size: str = "tiny") -> Any:
    """A ``LlavaConfig`` (CLIP vision tower + Mistral or Llama) of one of ``SIZES``."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, MistralConfig

    shape = SIZES[size]
    vision = CLIPVisionConfig(num_channels=3, **shape["vision"])
    text_kwargs = {"vocab_size": len(tokenizer), "bos_token_id": tokenizer.bos_token_id,
                   "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id, **shape["text"]}
    text_config = MistralConfig(**text_kwargs) if text == "mistral" else LlamaConfig(**text_kwargs)
    tokens = (shape["vision"]["image_size"] // shape["vision"]["patch_size"]) ** 2
    return LlavaConfig(vision_config=vision, text_config=text_config,
                       image_token_id=tokenizer.convert_tokens_to_ids("<image>"), image_seq_length=tokens,
                       vision_feature_layer=-2, vision_feature_select_strategy="default",
                       projector_hidden_act="gelu")


def build_model(tokenizer: Any, text: str = "mistral", seed: int = 0, size: str = "tiny") -> Any:
    """A tiny random-weight ``LlavaForConditionalGeneration`` (CLIP + Mistral or Llama), fp32."""
    import torch
    from transformers import LlavaForConditionalGeneration

    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(build_config(tokenizer, text, size)).eval()
    with torch.no_grad():  # random init is near-uniform; sharpen it so greedy answers depend on the input
        for p in model.parameters():
            if p.ndim >= 2:
                p.mul_(8.0)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def build_processor(tokenizer: Any, chat_template: bool = False, size: str = "tiny") -> Any:
    """A ``LlavaProcessor`` with a PIL-only CLIP image processor (RGB, resized to the tower's size)."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    side, patch = SIZES[size]["vision"]["image_size"], SIZES[size]["vision"]["patch_size"]
    images = CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side},
                                   do_convert_rgb=True)
    return LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=patch,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=CHAT_TEMPLATE if chat_template else None)


def save_tiny_llava(out: Path, text: str = "mistral", seed: int = 0, chat_template: bool = False,
                    size: str = "tiny") -> Path:
    """Write a llava-hf-format checkpoint (safetensors, config, processor, tokenizer) of one of ``SIZES``
    to ``out``."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out = Path(out)
    tokenizer = build_tokenizer()
    build_model(tokenizer, text=text, seed=seed, size=size).save_pretrained(out, safe_serialization=True)
    build_processor(tokenizer, chat_template=chat_template).save_pretrained(out)
    return out


def save_original_format(out: Path) -> Path:
    """A directory shaped like the original LLaVA-Med release: LlavaMistralForCausalLM + mm_vision_tower."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({
        "architectures": ["LlavaMistralForCausalLM"], "model_type": "llava_mistral",
        "mm_vision_tower": "openai/clip-vit-large-patch14-336", "mm_projector_type": "mlp2x_gelu",
        "hidden_size": 32, "image_aspect_ratio": "pad"}))
    (out / "model-00001-of-00001.safetensors").write_bytes(b"")
    return out


def save_bin_only(out: Path) -> Path:
    """A llava-hf-format checkpoint whose weights are only a pickled ``pytorch_model.bin``."""
    import torch

    out = save_tiny_llava(out)
    for path in out.glob("*.safetensors"):
        path.unlink()
    torch.save({"not": torch.zeros(1)}, out / "pytorch_model.bin")
    return out


def place_in_hub_cache(checkpoint: Path, cache: Path, repo: str, commit: str,
                       refs: tuple[str, ...] = ("main",)) -> Path:
    """Lay ``checkpoint``'s files out as ``hf download`` leaves them in a Hugging Face hub cache.

    ``cache/models--ORG--NAME/blobs/<sha256>`` holds each file, ``snapshots/<commit>/<name>``
    links to its blob, and ``refs/<ref>`` holds ``commit`` for each of ``refs``. Returns the
    snapshot folder.
    """
    import hashlib
    import shutil

    folder = Path(cache) / ("models--" + repo.replace("/", "--"))
    blobs, snapshot = folder / "blobs", folder / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for file in sorted(Path(checkpoint).iterdir()):
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blobs / digest)
        (snapshot / file.name).symlink_to(Path("..") / ".." / "blobs" / digest)
    for ref in refs:
        (folder / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (folder / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes it
    return snapshot
