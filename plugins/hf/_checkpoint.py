"""A local transformers checkpoint directory: checked before anything loads, digested for the certificate.

Only safetensors weights load (pickled weights can run code when read); the
weight, config and processor files are digested with sha256 so the certificate
names exactly what answered, never the local path.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import medrobust

__all__ = ["CheckpointError", "checkpoint_dir", "check_weights", "file_digests", "sha256_file",
           "WEIGHT_PATTERNS", "PICKLE_PATTERNS", "PROCESSOR_FILES"]

WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json")
PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
PROCESSOR_FILES = (
    "generation_config.json", "preprocessor_config.json", "processor_config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "tokenizer.model", "vocab.json",
    "merges.txt", "chat_template.json", "chat_template.jinja", "video_preprocessor_config.json",
)
_DIGESTS: dict[tuple[str, int, int], str] = {}


class CheckpointError(medrobust.OptionError):
    """A checkpoint directory (``--model-path``) this plugin cannot load; the message says what to do."""


def sha256_file(path: Path) -> str:
    """sha256 of a file, streamed, cached per (path, size, mtime) for the process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 23), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def checkpoint_dir(plugin: str, path: str) -> Path:
    """``path`` as a checkpoint directory holding ``config.json``.

    Raises:
        CheckpointError: No path, not a directory, or no ``config.json`` in it.
    """
    if not path:
        raise CheckpointError(f"{plugin}: no checkpoint given; pass --model-path DIR, a local "
                              "transformers checkpoint directory (config.json + *.safetensors), or "
                              "--model-option repo=ORG/NAME, a checkpoint in the local Hugging Face cache")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise CheckpointError(f"{plugin}: --model-path {path} is not a directory")
    if not (p / "config.json").is_file():
        raise CheckpointError(f"{plugin}: no config.json in {p}; --model-path must be a transformers "
                              "checkpoint directory as written by save_pretrained")
    return p


def check_weights(plugin: str, path: Path) -> None:
    """Nothing, if ``path`` holds safetensors weights.

    Raises:
        CheckpointError: Only pickled weights (with how to convert them), or no weights at all.
    """
    if any(path.glob("*.safetensors")):
        return
    pickled = sorted(q.name for pat in PICKLE_PATTERNS for q in path.glob(pat))
    if pickled:
        raise CheckpointError(
            f"{plugin}: {path} holds only pickled weights ({', '.join(pickled[:3])}); only "
            "safetensors load, because unpickling can run code. Convert once, in an environment you "
            "trust: load it with from_pretrained(DIR, use_safetensors=False) and save_pretrained(OUT) "
            "(transformers writes safetensors), then pass --model-path OUT")
    raise CheckpointError(f"{plugin}: no *.safetensors weights in {path}")


def file_digests(path: Path) -> dict[str, Any]:
    """sha256 of the weight files, the config and the processor / tokenizer / template files."""
    weights = sorted({q for pat in WEIGHT_PATTERNS for q in path.glob(pat)})
    processor_files = [path / f for f in PROCESSOR_FILES if (path / f).is_file()]
    processor_files += sorted(q for q in path.glob("*.jinja") if q.name != "chat_template.jinja")
    return {
        "weights_sha256": {q.name: sha256_file(q) for q in weights},
        "config_sha256": sha256_file(path / "config.json"),
        "processor_sha256": {q.name: sha256_file(q) for q in processor_files},
    }
