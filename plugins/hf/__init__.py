"""Models loaded through transformers from a local path: ``llava-med`` and ``hf-vlm``."""
