"""``ReferenceModel``: the embedded LLaVA served through transformers' own classes.

The same code path (``LlavaForConditionalGeneration.generate`` with
``pixel_values`` and image tokens in ``input_ids``) serves any LLaVA checkpoint
whose processor is grayscale 64x64; torch and transformers are imported when a
model is built, not when this module is imported.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import medrobust

__all__ = ["ReferenceModel", "WEIGHTS_DIR"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ReferenceModel:
    """A small LLaVA (CLIP vision tower + Llama) answering medical questions.

    It also scores question tokens (trained with a language-model loss on the
    questions) and follows two short instructions in its own prompt format
    (:meth:`format_prompt`): "is this question well written?" and "rewrite this
    question correctly: ...".

    Args:
        options: ``path`` (weights directory; ``None`` -> the shipped weights),
            ``device`` (default ``"cpu"``), ``batch_size`` (default 64),
            ``max_new_tokens`` (default 8), ``threads`` (torch CPU threads, default 1:
            a model this small gains little from more, and several threads per
            process stall badly when xdist workers or other jobs share the cores).
    """

    OPTIONS = ("batch_size", "max_new_tokens", "threads")
    """The ``--model-option`` keys it takes; the harness refuses others at start-up."""

    def __init__(self, options: Optional[dict] = None) -> None:
        options = dict(options or {})
        self.path = Path(options.get("path") or WEIGHTS_DIR)
        self.device = str(options.get("device") or "cpu")
        self.batch_size = int(options.get("batch_size") or 64)
        self.max_new_tokens = int(options.get("max_new_tokens") or 8)
        self.threads = int(options.get("threads") or 1)
        if not (self.path / "config.json").is_file():
            raise FileNotFoundError(
                f"reference model: no config.json in {self.path}; train weights with "
                "`python -m medrobust_plugins.reference.train --out DIR`")
        if not list(self.path.glob("*.safetensors")):
            raise FileNotFoundError(f"reference model: no *.safetensors weights in {self.path}")

        import torch
        from transformers import LlavaForConditionalGeneration, PreTrainedTokenizerFast
        from transformers.utils import logging as hf_logging

        from . import _build

        hf_logging.disable_progress_bar()
        if self.device == "cpu":
            torch.set_num_threads(self.threads)

        self._torch = torch
        self._build = _build
        self.tokenizer = PreTrainedTokenizerFast.from_pretrained(
            str(self.path), local_files_only=True, padding_side="left")
        self.model = LlavaForConditionalGeneration.from_pretrained(
            str(self.path), local_files_only=True, use_safetensors=True,
            dtype=torch.float32).to(self.device)
        self.model.eval()
        self._transform: Optional[Callable[[Any, Sequence[Any]], Any]] = None
        self._images: Optional[Sequence[Any]] = None
        self.model.model.multi_modal_projector.register_forward_pre_hook(self._pre_hook)
        self._capture: Optional[list] = None

    # -- feature hook ---------------------------------------------------------
    def _pre_hook(self, module: Any, args: tuple) -> Optional[tuple]:
        features = args[0]
        if self._capture is not None:
            self._capture.append(features.detach().clone())
        if self._transform is None:
            return None
        out = self._transform(features, self._images if self._images is not None else [])
        return (out.to(features.dtype),) + tuple(args[1:])

    def set_feature_transform(self, fn: Optional[Callable[[Any, Sequence[Any]], Any]]) -> None:
        """Install ``fn(features, images) -> features`` before the projector (``None`` removes)."""
        self._transform = fn

    def vision_features(self, images: Sequence[Any]) -> Any:
        """What the projector receives, untransformed: float tensor [B, 64, 128]."""
        torch = self._torch
        feats = []
        saved, self._transform = self._transform, None
        try:
            with torch.inference_mode():
                for i in range(0, len(images), self.batch_size):
                    chunk = images[i:i + self.batch_size]
                    self._capture = []
                    self.model.model.get_image_features(
                        pixel_values=self._build.pixel_values(chunk).to(self.device),
                        vision_feature_layer=self.model.config.vision_feature_layer,
                        vision_feature_select_strategy=(
                            self.model.config.vision_feature_select_strategy))
                    feats.append(self._capture[0])
        finally:
            self._capture = None
            self._transform = saved
        return torch.cat(feats) if feats else torch.zeros(0, self._build.IMAGE_SEQ_LENGTH,
                                                          self.model.config.vision_config.hidden_size)

    # -- generation -----------------------------------------------------------
    def _generate(self, texts: list[str], images: Optional[Sequence[Any]],
                  max_new_tokens: int) -> list[str]:
        torch = self._torch
        out: list[str] = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                chunk = texts[i:i + self.batch_size]
                enc = {k: v.to(self.device) for k, v in self._build.encode(self.tokenizer, chunk).items()}
                kwargs: dict[str, Any] = {}
                imgs = None
                if images is not None:
                    imgs = list(images[i:i + self.batch_size])
                    kwargs["pixel_values"] = self._build.pixel_values(imgs).to(self.device)
                self._images = imgs
                try:
                    ids = self.model.generate(
                        **enc, **kwargs, max_new_tokens=max_new_tokens, do_sample=False,
                        num_beams=1, pad_token_id=self.tokenizer.pad_token_id,
                        eos_token_id=self.tokenizer.eos_token_id)
                finally:
                    self._images = None
                new = ids[:, enc["input_ids"].shape[1]:]
                out.extend(self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out

    def answer(self, samples: list[Any]) -> list[str]:
        """Greedy answers, stripped and lower-cased, one per sample."""
        texts = [self._build.PROMPT_TEMPLATE.format(question=s.question) for s in samples]
        answers = self._generate(texts, [s.image for s in samples], self.max_new_tokens)
        return [a.strip().lower() for a in answers]

    def format_prompt(self, user_text: str) -> str:
        """``user_text`` as one user turn of the model's format: ``"USER: {user_text} ASSISTANT:"``.

        The reference model was trained to answer questions and to follow two short
        instructions in this format ("Is this question well written? ..." -> yes/no,
        "Rewrite this question correctly: ..." -> the question); see ``_instruct``.
        """
        return self._build.format_prompt(str(user_text))

    def generate(self, prompts: list[str], images: Optional[list[Any]] = None,
                 max_new_tokens: int = 32) -> list[str]:
        """Continue free-text prompts; with images, ``<image>`` is put where the model saw it in training.

        That is right after ``"USER: "`` for a prompt made by :meth:`format_prompt` (so
        ``generate([format_prompt(q)], images=[im])`` is the prompt :meth:`answer`
        uses), at the start of any other prompt without ``<image>``.
        """
        if images is not None:
            if len(images) != len(prompts):
                raise ValueError(f"generate: {len(prompts)} prompts but {len(images)} images")
            prompts = [self._build.with_image(p) for p in prompts]
        elif any("<image>" in p for p in prompts):
            raise ValueError("generate: a prompt contains <image> but no images were given")
        return self._generate(list(prompts), images, max_new_tokens)

    def score_text(self, texts: list[str], images: Optional[list[Any]] = None) -> list[list[tuple[str, float]]]:
        """Per text, its tokens with their log-probabilities, scored where a question sits in the prompt."""
        from .scoring import score_text

        return score_text(self, texts, images)

    # -- the contract ---------------------------------------------------------
    def capabilities(self) -> medrobust.Capabilities:
        """Every optional capability: a forward pre-hook on the projector, generation, token scoring."""
        return medrobust.Capabilities(feature_hook=True, free_generation=True, token_scoring=True)

    def describe(self) -> dict[str, Any]:
        """Name, digests of weights / config / tokenizer, generation settings, size."""
        weights = sorted(self.path.glob("*.safetensors"))
        tok_files = [self.path / f for f in TOKENIZER_FILES if (self.path / f).is_file()]
        return {
            "name": "reference",
            "architecture": "LlavaForConditionalGeneration (CLIP vision + Llama)",
            "weights_sha256": {p.name: _sha256(p) for p in weights},
            "config_sha256": _sha256(self.path / "config.json"),
            "tokenizer_sha256": {p.name: _sha256(p) for p in tok_files},
            "generation": {
                "decoding": "greedy", "max_new_tokens": self.max_new_tokens,
                "prompt_template": self._build.PROMPT_TEMPLATE,
                "format_prompt": self._build.TEXT_PROMPT_TEMPLATE.replace("{question}", "{user_text}"),
                "batch_size": self.batch_size, "padding_side": "left",
            },
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "device": self.device,
        }
