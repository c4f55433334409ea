"""Token scoring for the transformers-backed models: per-token log-probabilities of texts.

``score_text`` is :meth:`HFVisionLanguageModel.score_text` (the *token scoring*
capability): each text is scored where a question sits in the model's own prompt
(``build_prompt`` up to the question), in one teacher-forced forward pass per
batch. Only the text's own tokens come back; their strings are slices of the text
that join back to it (a character split over several byte-level tokens goes to the
last of them; the others get ``""``).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

__all__ = ["score_text", "text_tokens", "SENTINEL"]

SENTINEL = "\u2063QUESTION\u2063"
"""Stands for the question in a prompt built to be cut there (invisible separators around a word)."""


def text_tokens(tokenizer: Any, prefix: str, text: str) -> tuple[list[int], list[str]]:
    """(ids from the text's first token to the end, the text's token strings)."""
    full = prefix + text
    enc = tokenizer(full, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    start, first, pieces, pos = len(prefix), None, [], len(prefix)
    for k, (_, end) in enumerate(offsets):
        if end <= start:  # the prompt's tokens, and special tokens the tokenizer adds (offset 0, 0)
            continue
        if first is None:
            first = k
        pieces.append(full[pos:end] if end > pos else "")
        pos = max(pos, end)
    if first is None:
        return [], []
    return ids[first:], pieces


def score_text(model: Any, texts: Sequence[str], images: Optional[Sequence[Any]] = None,
               ) -> list[list[tuple[str, float]]]:
    """Per text, ``(token, log-probability)`` for each of its tokens, in order.

    Args:
        model: An :class:`~medrobust_plugins.hf._base.HFVisionLanguageModel`.
        texts: Texts to score (questions, as the user turn of the prompt).
        images: Optional, one image per text: the text is scored about its image.
    """
    torch = model._torch
    texts = list(texts)
    if images is not None and len(images) != len(texts):
        raise ValueError(f"score_text: {len(texts)} texts but {len(images)} images")
    prefix = model.build_prompt(SENTINEL, with_image=images is not None).split(SENTINEL)[0]
    out: list[list[tuple[str, float]]] = []
    with torch.inference_mode():
        for i in model._chunks(len(texts)):
            chunk = texts[i:i + model.batch_size]
            given = None if images is None else list(images[i:i + model.batch_size])
            imgs = None if given is None else [model.prepare_image(im) for im in given]
            spans = [text_tokens(model.tokenizer, prefix, t) for t in chunk]
            inputs = model._to_device(model.encode([prefix + t for t in chunk], imgs))
            model._images = given
            try:
                logits = model.model(**inputs, **model.forward_kwargs(inputs)).logits
            finally:
                model._images = None
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            ids = inputs["input_ids"]
            token_logp = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1).cpu()
            ids = ids.cpu()
            n = ids.shape[1]
            for k, (tail_ids, pieces) in enumerate(spans):
                start = n - len(tail_ids)
                if ids[k, start:].tolist() != tail_ids:
                    raise RuntimeError(f"{model.PLUGIN}: score_text could not align the tokens of "
                                       f"{chunk[k]!r} in the processed prompt")
                # the token at position p is predicted by the logits at p - 1
                values = token_logp[k, start - 1:start - 1 + len(pieces)].tolist() if pieces else []
                out.append(list(zip(pieces, (float(v) for v in values))))
    return out
