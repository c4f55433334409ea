"""How a checkpoint is loaded: placement (accelerate's ``device_map``), memory caps, attention kernel, quantisation.

The options (``--model-option KEY=VALUE``) are those a transformers user passes to
``from_pretrained``:

=======================  ===================================================================
``device_map``           ``auto`` / ``balanced`` / ``balanced_low_0`` / ``sequential`` (accelerate
                         spreads the layers over the GPUs, then the CPU) or one device
                         (``cuda:1``, ``cpu``); weights load straight onto their devices.
                         Needs accelerate (``pip install "medrobust[gpu]"``).
``max_memory``           per-device caps for ``device_map``: ``0:20GiB,1:20GiB,cpu:60GiB``
                         (keys: a GPU index or ``cuda:N``, ``cpu``, ``mps``; sizes in B, KB, KiB,
                         MB, MiB, GB, GiB, TB or TiB)
``attn_implementation``  ``auto`` (transformers' choice), ``eager``, ``sdpa`` or
                         ``flash_attention_2`` (CUDA, float16/bfloat16, the flash-attn package)
``load_in``              ``none``, ``8bit`` (LLM.int8()) or ``4bit`` (NF4, computing in ``dtype``),
                         through transformers' ``BitsAndBytesConfig``; needs bitsandbytes and
                         accelerate (``pip install "medrobust[gpu]"``)
=======================  ===================================================================

Every check that needs no torch runs before anything is imported or read
(:func:`check_loading`), so a missing package or a contradictory option stops the run
at start-up with one message naming the package and the pip command.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any, Mapping, Union

import medrobust

from ._options import DEVICE_MAPS

__all__ = ["MissingPackage", "installed", "check_loading", "parse_max_memory", "model_kwargs", "places_itself",
           "auto_is_cuda", "check_resolved", "input_device", "loading_report", "PIP_GPU"]

PIP_GPU = 'pip install "medrobust[gpu]"'
_DEVICE = re.compile(r"^(cpu|mps|meta|(cuda|xpu|npu)(:\d+)?|\d+)$")
_SIZE = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B|B)?$", re.IGNORECASE)


class MissingPackage(medrobust.OptionError):
    """An option that needs a package which is not installed; the message names it and the pip command."""


def installed(package: str) -> bool:
    """Whether ``package`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _require(plugin: str, package: str, what: str, pip: str) -> None:
    if not installed(package):
        raise MissingPackage(f"{plugin}: {what} needs the package {package}, which is not installed here; "
                             f"install it with `{pip}`")


def parse_max_memory(plugin: str, text: str) -> dict[Union[int, str], str]:
    """``"0:20GiB,cpu:60GiB"`` -> ``{0: "20GiB", "cpu": "60GiB"}`` (accelerate's ``max_memory``).

    Raises:
        medrobust.OptionError: A malformed entry, device or size, named.
    """
    out: dict[Union[int, str], str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        device, sep, size = (part.strip() for part in entry.rpartition(":"))
        if not sep or not device:
            raise medrobust.OptionError(f"{plugin}: max_memory entry {entry!r} is not DEVICE:SIZE; give e.g. "
                                        "max_memory=0:20GiB,cpu:60GiB")
        key: Union[int, str]
        if device.isdigit() or re.fullmatch(r"cuda:\d+", device):
            key = int(device.rpartition(":")[2])
        elif device in ("cpu", "mps", "disk"):
            key = device
        else:
            raise medrobust.OptionError(f"{plugin}: max_memory device {device!r} is not a GPU index (0, 1, cuda:1), "
                                        "cpu or mps")
        if not _SIZE.match(size):
            raise medrobust.OptionError(f"{plugin}: max_memory size {size!r} for {device} is not a size such as "
                                        "20GiB, 500MB or a number of bytes")
        out[key] = size.replace(" ", "")
    if not out:
        raise medrobust.OptionError(f"{plugin}: max_memory is empty; give e.g. max_memory=0:20GiB,cpu:60GiB")
    return out


def check_loading(plugin: str, options: Mapping[str, Any]) -> None:
    """Refuse, before torch is imported, loading options that contradict each other or lack their package.

    Raises:
        medrobust.OptionError: Naming the option and the fix.
        MissingPackage: Naming the package and the pip command.
    """
    device_map, load_in, attn = options["device_map"], options["load_in"], options["attn_implementation"]
    if device_map and device_map not in DEVICE_MAPS and not _DEVICE.match(device_map):
        raise medrobust.OptionError(f"{plugin}: option device_map must be one of {', '.join(DEVICE_MAPS)} or a "
                                    f"device (cpu, cuda, cuda:1, mps); got {device_map!r}")
    if options["max_memory"]:
        parse_max_memory(plugin, options["max_memory"])
        if device_map not in DEVICE_MAPS:
            raise medrobust.OptionError(f"{plugin}: max_memory caps what device_map places on each device; add "
                                        "device_map=auto (or balanced, sequential)")
    if device_map:
        _require(plugin, "accelerate", f"device_map={device_map}", PIP_GPU)
    if load_in != "none":
        _require(plugin, "bitsandbytes", f"load_in={load_in}", PIP_GPU)
        _require(plugin, "accelerate", f"load_in={load_in}", PIP_GPU)
    if attn == "flash_attention_2":
        _require(plugin, "flash_attn", "attn_implementation=flash_attention_2",
                 "pip install flash-attn --no-build-isolation")


def auto_is_cuda(options: Mapping[str, Any], device: Any, torch: Any) -> bool:
    """Whether ``dtype=auto`` means bfloat16: the model runs on CUDA (``--device`` or a GPU ``device_map``)."""
    if device.type == "cuda":
        return True
    device_map = options["device_map"]
    return bool(device_map) and device_map not in ("cpu", "mps", "meta") and torch.cuda.is_available()


def check_resolved(plugin: str, options: Mapping[str, Any], device: Any, dtype: Any, torch: Any) -> None:
    """Refuse what only the resolved device and dtype show: a ``device_map`` device torch does not have,
    flash attention off CUDA or in float32."""
    device_map = options["device_map"]
    if device_map.startswith("cuda") or device_map.isdigit():
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device_map.rpartition(":")[2]) if device_map[-1].isdigit() else 0
        if index >= count:
            raise medrobust.OptionError(f"{plugin}: device_map={device_map} names a CUDA device, but torch sees "
                                        f"{count} here; use device_map=auto, cpu or one of cuda:0..cuda:{count - 1}"
                                        if count else f"{plugin}: device_map={device_map} names a CUDA device, but "
                                        "torch sees none here; use device_map=auto or cpu")
    if options["attn_implementation"] != "flash_attention_2":
        return
    on_cuda = device.type == "cuda" or auto_is_cuda(options, device, torch)
    if not on_cuda or dtype == torch.float32:
        raise medrobust.OptionError(
            f"{plugin}: attn_implementation=flash_attention_2 runs on CUDA in float16 or bfloat16 only (here: "
            f"{'a CUDA device' if on_cuda else 'no CUDA device'}, {str(dtype).replace('torch.', '')}); use "
            "attn_implementation=sdpa, or a CUDA device with dtype=bfloat16")


def places_itself(options: Mapping[str, Any]) -> bool:
    """Whether ``from_pretrained`` puts the weights on their devices (then the model is never moved)."""
    return bool(options["device_map"]) or options["load_in"] != "none"


def model_kwargs(options: Mapping[str, Any], dtype: Any, device: Any) -> dict[str, Any]:
    """The ``from_pretrained`` arguments for weights: safetensors only, dtype, placement, kernel, quantisation."""
    kwargs: dict[str, Any] = {"use_safetensors": True, "dtype": dtype}
    if options["device_map"]:
        kwargs["device_map"] = options["device_map"]
    elif options["load_in"] != "none":
        kwargs["device_map"] = {"": str(device)}
    elif device.type != "cpu" and installed("accelerate"):
        kwargs["device_map"] = str(device)
    if options["max_memory"]:
        kwargs["max_memory"] = parse_max_memory("", options["max_memory"])
    if options["attn_implementation"] != "auto":
        kwargs["attn_implementation"] = options["attn_implementation"]
    if options["load_in"] != "none":
        from transformers import BitsAndBytesConfig

        if options["load_in"] == "8bit":
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                               bnb_4bit_compute_dtype=dtype)
    return kwargs


def _as_device(value: Any, torch: Any) -> Any:
    return torch.device(f"cuda:{value}") if isinstance(value, int) else torch.device(value)


def input_device(model: Any, torch: Any) -> Any:
    """Where a placed model's inputs go: the first accelerator of its device map, else where its weights are."""
    device_map = getattr(model, "hf_device_map", None) or {}
    for value in device_map.values():
        if value not in ("cpu", "disk", "meta"):
            return _as_device(value, torch)
    if device_map:
        return torch.device("cpu")
    first = next(model.parameters(), None)
    return first.device if first is not None and first.device.type != "meta" else torch.device("cpu")


def loading_report(model: Any, options: Mapping[str, Any], device: Any, dtype: Any) -> dict[str, Any]:
    """How the weights were loaded and where they sit, for ``describe()``."""
    device_map = getattr(model, "hf_device_map", None) or {}
    per_device: dict[str, int] = {}
    for value in device_map.values():
        name = f"cuda:{value}" if isinstance(value, int) else str(value)
        per_device[name] = per_device.get(name, 0) + 1
    quantization = None
    if options["load_in"] != "none":
        quantization = {"method": "bitsandbytes", "load_in": options["load_in"]}
        if options["load_in"] == "4bit":
            quantization.update(quant_type="nf4", compute_dtype=str(dtype).replace("torch.", ""))
    return {
        "device_map": options["device_map"] or None,
        "devices": sorted(per_device) or [str(device)],
        "modules_per_device": dict(sorted(per_device.items())) or None,
        "max_memory": {str(k): v for k, v in parse_max_memory("", options["max_memory"]).items()}
        if options["max_memory"] else None,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "quantization": quantization,
    }
