"""Shared base of the transformers-backed model plugins (``llava-med``, ``hf-vlm``).

:class:`HFVisionLanguageModel` loads a local transformers checkpoint directory
safely and answers, generates and scores text in left-padded batches;
:class:`~medrobust_plugins.hf._feature_hook.FeatureHookMixin` adds the feature-hook
capability (read and transform the vision features before the language model) for
architectures where a module receives them. torch and transformers are imported
when a model is built.

What the base does, for every subclass:

* **Loading**: ``--model-path DIR``, or ``--model-option repo=ORG/NAME`` (with an optional
  ``revision``) resolved from the local Hugging Face cache only (:mod:`~medrobust_plugins.hf._hub`),
  must hold ``config.json`` and ``*.safetensors`` (``local_files_only``, ``use_safetensors=True``;
  pickled ``.bin`` weights are refused with a message saying how to convert them);
  ``trust_remote_code`` only when the option ``trust_remote_code=true`` is given. ``device_map``,
  ``max_memory``, ``attn_implementation`` and ``load_in`` (8/4-bit) are passed to
  ``from_pretrained`` as a transformers user would (:mod:`~medrobust_plugins.hf._loading`).
* **Options** (``--model-option KEY=VALUE``, parsed by :func:`medrobust.parse_options`):
  ``device`` (from ``--device``), ``dtype`` (``auto`` = bfloat16 on CUDA, float32 on
  CPU), ``batch_size``, ``max_new_tokens``, ``num_beams``, ``do_sample`` (greedy by
  default), ``temperature``, ``top_p``, ``seed`` (of sampling), ``threads`` (CPU
  threads, 0 = torch's default), ``trust_remote_code``.
* **Sampling** (``do_sample=true``): each prompt is generated alone, under a seed drawn
  from sha256(``seed``, the prompt, the image's digest), in a forked RNG (torch's global
  RNG is left as it was). A sample's sampled answer is thus a function of the seed and of
  the sample only, not of its batch, its position, or which samples a resumed run or an
  xdist worker still had to ask.
* **Batches**: the processor's tokenizer pads on the left; teacher-forced forwards get
  position ids from the attention mask, so a text's answer and scores do not depend
  on its batch in float32 (tested on CPU). In bfloat16/float16 on a GPU, padding changes
  the kernels' shapes and rounding, so a greedy token can still flip with the batch:
  keep ``--batch-size`` fixed across runs you compare.
* **answer / generate / format_prompt / score_text / capabilities / describe**: the model
  contract (``medrobust.Model``). ``capabilities()`` declares free generation and token
  scoring (unless :meth:`HFVisionLanguageModel.answering_only` says why not), and the feature
  hook where the class has one (with the reason where it has not). ``describe()`` holds
  sha256 digests of the weight files, config, processor / tokenizer / chat-template /
  generation-config files, the repo id and resolved commit when loaded from the cache, the
  generation settings, prompt template, how the weights were loaded and where they sit,
  dtype, device and parameter count (never the local path).

Extension points (override in a subclass; each is a small method or class attribute):

* ``PLUGIN`` (name in messages and in ``describe()``), ``DEFAULTS`` and ``CHOICES`` (extra
  options: ``DEFAULTS = {**HFVisionLanguageModel.DEFAULTS, "x": 1}``).
* ``check_config(config)``: raise a :class:`CheckpointError` for a checkpoint the
  plugin cannot load, before any weight is read (``config`` is ``config.json`` as a dict).
* ``load_model(dtype)`` (default ``AutoModelForImageTextToText``) and ``load_processor()``
  (default ``AutoProcessor``); pass ``**self.weight_kwargs(dtype), **self.load_kwargs()`` to a
  model's ``from_pretrained`` (safetensors, dtype, device map; local files, remote code flag).
* ``build_prompt(question, with_image)``: the prompt text for one question, holding
  ``self.image_token`` when ``with_image`` (default: the processor's chat template).
  ``prompt_template()`` records it in ``describe()``. ``user_turn(text, with_image)``: one bare
  user turn, what ``format_prompt`` returns (text only) and where ``generate`` puts an image.
* ``prepare_image(image)``: the PIL image handed to the processor (default: RGB).
* ``encode(texts, images)``: the processor call, returning tensors (default:
  ``processor(text=..., images=..., padding=True, return_tensors="pt")``).
* ``forward_kwargs(inputs)``: extra arguments of a teacher-forced forward (default:
  ``position_ids`` from the attention mask; return ``{}`` for models such as Qwen2-VL
  that compute their own multimodal positions).
* ``FeatureHookMixin`` (:mod:`~medrobust_plugins.hf._feature_hook`): the feature hook and
  its extension points. A class without it declares ``feature_hook`` absent, with the
  reason :meth:`HFVisionLanguageModel.feature_hook_unavailable` gives.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, ClassVar, Mapping, Optional, Sequence

import medrobust

from . import _loading
from ._checkpoint import CheckpointError, check_weights, checkpoint_dir, file_digests
from ._feature_hook import FeatureHookMixin
from ._generation import run_generate
from ._hub import Snapshot, snapshot_from_options
from ._options import BASE_CHOICES, BASE_DEFAULTS
from ._scoring import SENTINEL as _SENTINEL, score_text

__all__ = ["HFVisionLanguageModel", "FeatureHookMixin", "CheckpointError", "BASE_DEFAULTS", "BASE_CHOICES"]

RECORDED_GENERATION = ("max_new_tokens", "do_sample", "num_beams", "temperature", "top_p", "top_k",
                       "repetition_penalty", "eos_token_id", "pad_token_id")


class HFVisionLanguageModel:
    """An image-text-to-text model loaded by transformers from a local directory.

    Args:
        options: ``path`` (the checkpoint directory, from ``--model-path``) or ``repo`` (a
            repo id in the local Hugging Face cache), ``device`` (from ``--device``) and the
            options in ``DEFAULTS``; unknown ones fail.

    Raises:
        CheckpointError: The directory is missing, incomplete, not safetensors, or in a
            format the plugin does not load; the message says how to fix it.
        medrobust.OptionError: An unknown or malformed option, a repo id not in the cache, or
            a loading option whose package is missing (naming it and the pip command).
    """

    PLUGIN: ClassVar[str] = "hf"
    DEFAULTS: ClassVar[dict[str, Any]] = BASE_DEFAULTS
    CHOICES: ClassVar[dict[str, Sequence[Any]]] = BASE_CHOICES

    def __init__(self, options: Optional[Mapping[str, Any]] = None) -> None:
        given = {k: v for k, v in dict(options or {}).items() if v is not None}
        self.options = medrobust.parse_options(self.PLUGIN, given, self.DEFAULTS, self.CHOICES)
        self.snapshot: Optional[Snapshot] = snapshot_from_options(self.PLUGIN, self.options)
        self.path = checkpoint_dir(self.PLUGIN, str(self.snapshot.path) if self.snapshot else self.options["path"])
        config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        self.check_config(config)
        check_weights(self.PLUGIN, self.path)
        _loading.check_loading(self.PLUGIN, self.options)

        import torch
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._torch = torch
        self.device = self._resolve_device(self.options["device"])
        self.dtype = self._resolve_dtype(self.options["dtype"])
        _loading.check_resolved(self.PLUGIN, self.options, self.device, self.dtype, torch)
        self.batch_size = self.options["batch_size"]
        if self.batch_size < 1:
            raise medrobust.OptionError(f"{self.PLUGIN}: option batch_size must be at least 1, "
                                        f"got {self.batch_size}")
        if self.device.type == "cpu" and self.options["threads"] > 0:
            torch.set_num_threads(self.options["threads"])

        self.processor = self.load_processor()
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.image_token: str = getattr(self.processor, "image_token", None) or "<image>"
        self._adds_bos = self._tokenizer_adds_bos()

        self.model = self.load_model(self.dtype)
        if _loading.places_itself(self.options):  # accelerate placed the weights: inputs go where they start
            self.device = _loading.input_device(self.model, torch)
        else:
            self.model.to(self.device)
        self.model.eval()
        self.generation_config = self._generation_config()
        self._images: Optional[list[Any]] = None
        self.install_hooks()

    # -- loading ----------------------------------------------------------------
    def check_config(self, config: dict[str, Any]) -> None:
        """Reject a checkpoint this plugin cannot load (override); called before weights are read."""

    def load_kwargs(self) -> dict[str, Any]:
        """The safe loading flags every ``from_pretrained`` call gets."""
        return {"local_files_only": True, "trust_remote_code": self.options["trust_remote_code"]}

    def weight_kwargs(self, dtype: Any) -> dict[str, Any]:
        """What a model's ``from_pretrained`` gets besides :meth:`load_kwargs`: safetensors only, the dtype,
        the options' ``device_map`` / ``max_memory`` / ``attn_implementation`` / quantisation, and
        ``device_map`` (loading straight onto ``--device``) on a GPU when accelerate is installed."""
        return _loading.model_kwargs(self.options, dtype, self.device)

    def load_processor(self) -> Any:
        """The processor (tokenizer + image processor); override for a specific class."""
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(str(self.path), **self.load_kwargs())

    def load_model(self, dtype: Any) -> Any:
        """The model in ``dtype`` (moved to the device afterwards); override for a specific class."""
        from transformers import AutoModelForImageTextToText

        return AutoModelForImageTextToText.from_pretrained(str(self.path), **self.weight_kwargs(dtype),
                                                           **self.load_kwargs())

    def _resolve_device(self, name: str) -> Any:
        torch = self._torch
        try:
            device = torch.device(name or "cpu")
        except RuntimeError:
            raise medrobust.OptionError(f"{self.PLUGIN}: --device {name!r} is not a torch device "
                                        "(cpu, cuda, cuda:1, mps)")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise medrobust.OptionError(f"{self.PLUGIN}: --device {name} asked for CUDA but torch sees no CUDA "
                                        f"device (torch {torch.__version__}); use --device cpu or a CUDA build "
                                        "of torch")
        return device

    def _resolve_dtype(self, name: str) -> Any:
        torch = self._torch
        if name == "auto":
            return torch.bfloat16 if _loading.auto_is_cuda(self.options, self.device, torch) else torch.float32
        return getattr(torch, name)

    def _tokenizer_adds_bos(self) -> bool:
        bos = self.tokenizer.bos_token_id
        ids = self.tokenizer("a")["input_ids"]
        return bos is not None and bool(ids) and ids[0] == bos

    def _generation_config(self) -> Any:
        o = self.options
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = o["max_new_tokens"]
        config.num_beams = o["num_beams"]
        config.do_sample = o["do_sample"]
        if o["do_sample"]:
            config.temperature, config.top_p = o["temperature"], o["top_p"]
        else:  # greedy: sampling knobs left unset so nothing pretends they matter
            config.temperature = config.top_p = config.top_k = None
        if config.pad_token_id is None:
            config.pad_token_id = self.tokenizer.pad_token_id
        if config.eos_token_id is None:
            config.eos_token_id = self.tokenizer.eos_token_id
        return config

    def install_hooks(self) -> None:
        """Register forward hooks after loading (the feature-hook mixin overrides)."""

    def feature_hook_unavailable(self) -> Optional[str]:
        """Why this model has no feature hook (the feature-hook mixin says ``None``: it has one)."""
        return (f"{self.PLUGIN} hooks no module of {type(self).__name__}: the class does not mix in "
                "FeatureHookMixin")

    # -- prompts ----------------------------------------------------------------
    def build_prompt(self, question: str, with_image: bool = True) -> str:
        """The prompt for one question: the processor's chat template with a generation prompt."""
        content: list[dict[str, Any]] = [{"type": "image"}] if with_image else []
        content.append({"type": "text", "text": question})
        template = getattr(self.processor, "chat_template", None)
        if not template:
            raise CheckpointError(f"{self.PLUGIN}: the processor in {self.path} has no chat template; "
                                  "choose a prompt template with --model-option template=...")
        text = self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                  add_generation_prompt=True, tokenize=False)
        return self._strip_bos(text)

    def user_turn(self, text: str, with_image: bool) -> str:
        """One user turn (the image first when ``with_image``) ending where the reply begins: the
        processor's chat template, without the wording a subclass adds to questions."""
        return HFVisionLanguageModel.build_prompt(self, text, with_image)

    def format_prompt(self, user_text: str) -> str:
        """One user turn in the model's own prompt format, text only (:meth:`user_turn`), for :meth:`generate`.

        Raises:
            medrobust.MissingCapability: The model answers only (see :meth:`answering_only`).
        """
        self._require_generation("format_prompt")
        return self.user_turn(user_text, with_image=False)

    def _with_image(self, prompt: str) -> str:
        """``prompt`` with the image token: where the image sits in the user turn when the prompt opens as
        :meth:`format_prompt`'s do, else before the prompt."""
        plain, pictured = (self.user_turn(_SENTINEL, flag).split(_SENTINEL)[0] for flag in (False, True))
        if pictured != plain and prompt.startswith(plain):
            return pictured + prompt[len(plain):]
        return f"{self.image_token}\n{prompt}"

    def _strip_bos(self, text: str) -> str:
        """Drop a leading BOS the template wrote when the tokenizer adds one itself."""
        bos = self.tokenizer.bos_token
        if self._adds_bos and bos and text.startswith(bos):
            return text[len(bos):]
        return text

    def prompt_template(self) -> str:
        """The prompt as recorded in ``describe()``: ``build_prompt`` with ``{question}``."""
        return self.build_prompt(_SENTINEL).replace(_SENTINEL, "{question}")

    def prepare_image(self, image: Any) -> Any:
        """A PIL RGB image from a PIL image, or an array / tensor in [0, 1] ([H, W], [C, H, W])."""
        from PIL import Image

        if not isinstance(image, Image.Image):
            import numpy as np

            arr = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float32)
            if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
                arr = arr.transpose(1, 2, 0)
            if arr.ndim == 3 and arr.shape[-1] == 1:
                arr = arr[..., 0]
            image = Image.fromarray((arr.clip(0, 1) * 255).round().astype(np.uint8))
        return image if image.mode == "RGB" else image.convert("RGB")

    # -- batches ----------------------------------------------------------------
    def encode(self, texts: list[str], images: Optional[list[Any]]) -> Any:
        """Tensors for a batch (left padded); ``images`` is ``None`` for text only."""
        if images is None:
            return self.processor(text=texts, padding=True, return_tensors="pt")
        return self.processor(text=texts, images=images, padding=True, return_tensors="pt")

    def _to_device(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in inputs.items():
            if hasattr(value, "to"):
                value = value.to(self.device, self.dtype) if value.is_floating_point() else value.to(self.device)
            out[key] = value
        return out

    def forward_kwargs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Position ids from the attention mask, so left padding does not shift positions."""
        mask = inputs.get("attention_mask")
        if mask is None:
            return {}
        return {"position_ids": (mask.long().cumsum(-1) - 1).clamp(min=0)}

    def _chunks(self, n: int) -> range:
        return range(0, n, self.batch_size)

    def sample_seed(self, text: str, image: Optional[Any]) -> int:
        """The sampling seed of one prompt: sha256 of the ``seed`` option, the prompt text and the
        digest of the prepared image (``None``: text only), cut to 63 bits."""
        h = hashlib.sha256(json.dumps([self.options["seed"], text]).encode("utf-8"))
        h.update(b"\0" + (medrobust.image_digest(image) if image is not None else "no image").encode("ascii"))
        return int.from_bytes(h.digest()[:8], "big") >> 1

    # -- the contract -----------------------------------------------------------
    def answer(self, samples: list[Any]) -> list[str]:
        """One answer per sample (greedy by default), stripped of surrounding space."""
        texts = [self.build_prompt(s.question) for s in samples]
        answers = run_generate(self, texts, [s.image for s in samples], self.options["max_new_tokens"])
        return [a.strip() for a in answers]

    def generate(self, prompts: list[str], images: Optional[list[Any]] = None,
                 max_new_tokens: int = 32) -> list[str]:
        """Continue free-text prompts as given (build them with :meth:`format_prompt`); with images, a
        prompt without the image token gets it inside its user turn (:meth:`_with_image`)."""
        self._require_generation("generate")
        prompts = list(prompts)
        if images is not None:
            if len(images) != len(prompts):
                raise ValueError(f"generate: {len(prompts)} prompts but {len(images)} images")
            marks = [m for m in (self.image_token, getattr(self.processor, "boi_token", None)) if m]
            prompts = [p if any(m in p for m in marks) else self._with_image(p) for p in prompts]
            return run_generate(self, prompts, list(images), max_new_tokens)
        if any(self.image_token in p for p in prompts):
            raise ValueError(f"generate: a prompt contains {self.image_token} but no images were given")
        return run_generate(self, prompts, None, max_new_tokens)

    def score_text(self, texts: list[str], images: Optional[list[Any]] = None) -> list[list[tuple[str, float]]]:
        """Per text, its tokens with their log-probabilities, scored where the question sits in the prompt.

        The token strings are slices of the text that join back to it (a character split over
        several byte-level tokens goes to the last of them; the others get ``""``); see
        :mod:`~medrobust_plugins.hf._scoring`.
        """
        self._require_generation("score_text")
        return score_text(self, texts, images)

    # -- capabilities and description ---------------------------------------------
    def answering_only(self) -> Optional[str]:
        """Why this model offers neither free generation nor token scoring (``None``: it offers both)."""
        return None

    def _require_generation(self, method: str) -> None:
        why = self.answering_only()
        if why is not None:
            raise medrobust.MissingCapability(f"{self.PLUGIN}: {method}() is not offered: {why}")

    def capabilities(self) -> medrobust.Capabilities:
        """Free generation and token scoring unless the model answers only; the feature hook where the
        class has one. Each absence comes with its reason."""
        why = self.feature_hook_unavailable()
        only = self.answering_only()
        reasons = {"feature_hook": why} if why else {}
        if only:
            reasons.update(free_generation=only, token_scoring=only)
        return medrobust.Capabilities(feature_hook=why is None, free_generation=only is None,
                                      token_scoring=only is None, reasons=reasons)

    def architecture(self) -> str:
        """What ``describe()`` names as the architecture."""
        archs = getattr(self.model.config, "architectures", None) or []
        return ", ".join(archs) or type(self.model).__name__

    def describe(self) -> dict[str, Any]:
        """Digests of weights, config and processor files; generation settings; dtype, device, size."""
        gc = self.generation_config
        generation = {k: getattr(gc, k, None) for k in RECORDED_GENERATION}
        generation.update(decoding="sample" if gc.do_sample else ("beam" if gc.num_beams > 1 else "greedy"),
                          batch_size=self.batch_size, padding_side="left",
                          seed=self.options["seed"] if gc.do_sample else None)
        if gc.do_sample:
            generation["sample_seeding"] = ("per prompt: sha256(seed, prompt, image digest), one prompt per "
                                            "generate() call, in a forked torch RNG")
        return {
            "name": self.PLUGIN,
            "architecture": self.architecture(),
            "model_class": f"{type(self.model).__module__}.{type(self.model).__qualname__}",
            **(self.snapshot.describe() if self.snapshot else {}),
            **file_digests(self.path),
            "generation": generation,
            "prompt_template": self.prompt_template(),
            "loading": _loading.loading_report(self.model, self.options, self.device, self.dtype),
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": str(self.device),
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "trust_remote_code": self.options["trust_remote_code"],
        }
