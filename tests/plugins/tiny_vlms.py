"""Builds tiny random-weight checkpoints of the ``hf-vlm`` families offline.

One builder per family (Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT, Gemma 3, Idefics3), each writing what
the released checkpoints hold: ``config.json`` + ``model.safetensors`` from
``save_pretrained``, a byte-level BPE tokenizer trained here with the special
tokens the family needs, an image processor that needs no torchvision (the
``*ImageProcessorPil`` classes) and the family's chat template. Every model is
well under 1M parameters; weights are sharpened (x8) so greedy answers depend on
the input instead of repeating one token.

Qwen2-VL's and Qwen2.5-VL's processors also want a video processor, which needs torchvision; the
builder saves the processor through an image-only subclass and writes
``processor_config.json`` naming ``Qwen2VLProcessor``, exactly as a released
checkpoint does. Loading it without torchvision is the plugin's job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

__all__ = ["FAMILIES", "build_tokenizer", "save_tiny_vlm"]

CORPUS = [
    "Is there a lesion in the left lung? yes",
    "What modality is this image? ct scan of the brain",
    "Is this normal? no, there is a large mass on the right side",
    "You are a helpful assistant. User: Assistant:",
    "how many lesions are present? one two three; which organ: chest, brain, eye, shoulder.",
]

QWEN2_VL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LLAVA_NEXT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}[INST] "
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}<image>\n{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}"
    "{% endfor %} [/INST]{% elif message['role'] == 'assistant' %} {{ message['content'][0]['text'] }}</s> "
    "{% endif %}{% endfor %}")
GEMMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for item in message['content'] %}{% if item['type'] == 'image' %}<start_of_image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
IDEFICS3_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")


def build_tokenizer(special: list[str], roles: dict[str, str], extra: dict[str, str] | None = None) -> Any:
    """A byte-level BPE tokenizer with ``special`` tokens, left padding, wrapped for transformers.

    Args:
        special: Special tokens, added first (their ids are 0, 1, ...).
        roles: ``bos_token`` / ``eos_token`` / ``pad_token`` / ``unk_token`` -> token.
        extra: Named extra special tokens (``image_token``, ``boi_token``...).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + len(special) + 64, special_tokens=list(special),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 5, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, padding_side="left", extra_special_tokens=extra or {},
                                   model_input_names=["input_ids", "attention_mask"], **roles)


def _sharpen(model: Any) -> Any:
    import torch

    with torch.no_grad():  # random init is near-uniform; sharpen it so greedy answers depend on the input
        for p in model.parameters():
            if p.ndim >= 2:
                if not p.any():  # e.g. Gemma 3's projection starts at zero: the image would not matter
                    p.normal_(0.0, 0.02)
                p.mul_(8.0)
    return model.eval()


def _text(tok: Any, **kw: Any) -> dict[str, Any]:
    """Small decoder settings shared by the families' language models."""
    out = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
               num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
               eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
               bos_token_id=tok.bos_token_id)
    out.update(kw)
    return out


def _qwen2_vl(out: Path, version: str = "2") -> None:
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                              Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor)
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
               "<|image_pad|>", "<|video_pad|>"]
    tok = build_tokenizer(special, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    ids = {s: tok.convert_tokens_to_ids(s) for s in special}
    vision: dict[str, Any] = dict(depth=2, hidden_size=32, num_heads=2, patch_size=8, spatial_merge_size=2,
                                  temporal_patch_size=2, in_channels=3)
    if version == "2":
        config_class, model_class, processor_class = Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
        vision.update(embed_dim=32, mlp_ratio=2)
    else:  # windows of 2x2 merged tokens (32 pixels), full attention in the last block
        config_class, model_class = Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
        processor_class = Qwen2_5_VLProcessor
        vision.update(intermediate_size=64, out_hidden_size=32, window_size=32, fullatt_block_indexes=[1])
    config = config_class(
        text_config=_text(tok, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                "mrope_section": [2, 3, 3]}),
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    _sharpen(model_class(config)).save_pretrained(out)

    class _ImageOnly(processor_class):  # type: ignore[valid-type,misc]  # the video processor needs torchvision
        def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None,
                     **kwargs: Any) -> None:
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    # 64x64 images -> an 8x8 patch grid -> 16 merged tokens; larger images get more
    images = Qwen2VLImageProcessorPil(patch_size=8, merge_size=2, temporal_patch_size=2,
                                      min_pixels=32 * 32, max_pixels=64 * 64)
    _ImageOnly(image_processor=images, tokenizer=tok, chat_template=QWEN2_VL_TEMPLATE).save_pretrained(out)
    path = out / "processor_config.json"
    saved = json.loads(path.read_text())
    saved["processor_class"] = processor_class.__name__
    path.write_text(json.dumps(saved, indent=2))


def _llava_next(out: Path) -> None:
    from transformers import (CLIPVisionConfig, LlavaNextConfig, LlavaNextForConditionalGeneration,
                              LlavaNextProcessor, MistralConfig)
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    tok = build_tokenizer(["<unk>", "<s>", "</s>", "<pad>", "<image>"],
                          {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"},
                          {"image_token": "<image>"})
    size, patch = 32, 8
    pinpoints = [[32, 64], [64, 32], [64, 64]]
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              num_channels=3, image_size=size, patch_size=patch, projection_dim=32)
    config = LlavaNextConfig(vision_config=vision, text_config=MistralConfig(**_text(tok)),
                             image_token_index=tok.convert_tokens_to_ids("<image>"), image_grid_pinpoints=pinpoints,
                             vision_feature_layer=-2, vision_feature_select_strategy="default",
                             image_seq_length=(size // patch) ** 2)
    _sharpen(LlavaNextForConditionalGeneration(config)).save_pretrained(out)
    images = LlavaNextImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                        image_grid_pinpoints=pinpoints, do_convert_rgb=True)
    LlavaNextProcessor(image_processor=images, tokenizer=tok, patch_size=patch,
                       vision_feature_select_strategy="default", num_additional_image_tokens=1,
                       chat_template=LLAVA_NEXT_TEMPLATE).save_pretrained(out)


def _gemma3(out: Path) -> None:
    from transformers import (Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor,
                              Gemma3TextConfig, SiglipVisionConfig)
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    special = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
               "<end_of_image>", "<image_soft_token>"]
    tok = build_tokenizer(special, {"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>",
                                    "unk_token": "<unk>"},
                          {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                           "image_token": "<image_soft_token>"})
    size, patch, tokens = 32, 4, 16  # 8x8 patches pooled to 4x4 = 16 image tokens
    text = Gemma3TextConfig(**_text(tok, head_dim=16, query_pre_attn_scalar=16, sliding_window=64,
                                    layer_types=["sliding_attention", "full_attention"]))
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                num_channels=3, image_size=size, patch_size=patch, vision_use_head=False)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=tokens,
                          boi_token_index=tok.convert_tokens_to_ids("<start_of_image>"),
                          eoi_token_index=tok.convert_tokens_to_ids("<end_of_image>"),
                          image_token_index=tok.convert_tokens_to_ids("<image_soft_token>"))
    _sharpen(Gemma3ForConditionalGeneration(config)).save_pretrained(out)
    images = Gemma3ImageProcessorPil(size={"height": size, "width": size}, do_convert_rgb=True)
    Gemma3Processor(image_processor=images, tokenizer=tok, chat_template=GEMMA3_TEMPLATE,
                    image_seq_length=tokens).save_pretrained(out)


def _idefics3(out: Path) -> None:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor, LlamaConfig
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    rows = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    special = ["<|begin_of_text|>", "<|end_of_text|>", "<end_of_utterance>", "<fake_token_around_image>",
               "<image>", "<global-img>", *rows]
    tok = build_tokenizer(special, {"bos_token": "<|begin_of_text|>", "eos_token": "<end_of_utterance>",
                                    "pad_token": "<|end_of_text|>"}, {"image_token": "<image>"})
    size, patch, scale = 32, 8, 2  # 4x4 patches per sub-image, pixel-shuffled to 2x2 = 4 tokens
    config = Idefics3Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           num_channels=3, image_size=size, patch_size=patch),
        text_config=LlamaConfig(**_text(tok)), scale_factor=scale,
        image_token_id=tok.convert_tokens_to_ids("<image>"))
    _sharpen(Idefics3ForConditionalGeneration(config)).save_pretrained(out)
    # a 64x64 image -> 2x2 crops of 32 + the whole image at 32 = 5 sub-images
    images = Idefics3ImageProcessorPil(size={"longest_edge": 2 * size}, max_image_size={"longest_edge": size},
                                       do_image_splitting=True, do_convert_rgb=True)
    Idefics3Processor(image_processor=images, tokenizer=tok, chat_template=IDEFICS3_TEMPLATE,
                      image_seq_len=(size // patch) ** 2 // scale ** 2).save_pretrained(out)


FAMILIES: dict[str, Callable[[Path], None]] = {
    "qwen2_vl": _qwen2_vl,
    "qwen2_5_vl": lambda out: _qwen2_vl(out, version="2.5"),
    "llava_next": _llava_next,
    "gemma3": _gemma3,
    "idefics3": _idefics3,
}


def save_tiny_vlm(out: Path, family: str, seed: int = 0) -> Path:
    """Write a tiny random-weight checkpoint of ``family`` (a key of :data:`FAMILIES`) to ``out``."""
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    FAMILIES[family](out)
    return out
