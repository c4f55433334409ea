"""Token scoring for the reference model: per-token log-probabilities of texts.

``score_text`` is bound as ``ReferenceModel.score_text`` (the *token scoring*
capability of :mod:`medrobust.contract`). Each text is scored where a question sits
in the model's prompt: after ``USER: <image>\\n`` when images are given (the
image tokens expanded exactly as :func:`_build.encode` does, the image passed as
``pixel_values``) and after ``USER: `` otherwise. Only the text's own tokens come
back; their strings are slices of the text that join back to it exactly (a
character that byte-level BPE splits over several tokens is given to the last of
them; the others get ``""``). The model was trained with a language-model loss on
its questions in both places, so a question's tokens get meaningful probabilities
(a well-written question well under a nat a token, a typo several nats).

One teacher-forced forward pass per batch: left padding, position ids from the
attention mask (as generation computes them, so a text's scores do not depend on
its batch), ``torch.inference_mode``, log-softmax over the vocabulary.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

__all__ = ["score_text", "IMAGE_PREFIX", "TEXT_PREFIX"]

IMAGE_PREFIX = "USER: <image>\n"
TEXT_PREFIX = "USER: "


def _encode_one(model: Any, text: str, with_image: bool) -> tuple[list[int], list[str], int]:
    """(ids with ``<s>``, token strings of the text, index of the text's first token)."""
    build, tok = model._build, model.tokenizer
    prefix = build.expand_image_tokens(tok, IMAGE_PREFIX) if with_image else TEXT_PREFIX
    full = prefix + text
    enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = [tok.bos_token_id] + list(enc["input_ids"])
    start = len(prefix)
    first = None
    pieces: list[str] = []
    pos = start
    for k, (_, end) in enumerate(enc["offset_mapping"]):
        if end <= start:
            continue
        if first is None:
            first = k + 1  # +1 for <s>
        pieces.append(full[pos:end] if end > pos else "")
        pos = max(pos, end)
    if first is None:  # empty text: nothing to score
        first = len(ids)
    return ids, pieces, first


def score_text(model: Any, texts: list[str], images: Optional[Sequence[Any]] = None,
               ) -> list[list[tuple[str, float]]]:
    """Per text, ``(token, log-probability)`` for each of its tokens, in order.

    Args:
        model: A :class:`~medrobust_plugins.reference.model.ReferenceModel`.
        texts: Texts to score (questions, as the user turn of the prompt).
        images: Optional, one image per text: the text is scored about its image.

    Returns:
        One list per text; the token strings concatenate to the text.
    """
    torch = model._torch
    texts = list(texts)
    if images is not None and len(images) != len(texts):
        raise ValueError(f"score_text: {len(texts)} texts but {len(images)} images")
    out: list[list[tuple[str, float]]] = []
    with torch.inference_mode():
        for i in range(0, len(texts), model.batch_size):
            chunk = texts[i:i + model.batch_size]
            imgs = list(images[i:i + model.batch_size]) if images is not None else None
            encoded = [_encode_one(model, t, imgs is not None) for t in chunk]
            n = max(len(e[0]) for e in encoded)
            input_ids = torch.full((len(chunk), n), model.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), n), dtype=torch.long)
            for k, (ids, _, _) in enumerate(encoded):
                input_ids[k, n - len(ids):] = torch.tensor(ids)
                mask[k, n - len(ids):] = 1
            position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
            kwargs: dict[str, Any] = {}
            if imgs is not None:
                kwargs["pixel_values"] = model._build.pixel_values(imgs).to(model.device)
            model._images = imgs
            try:
                logits = model.model(input_ids=input_ids.to(model.device),
                                     attention_mask=mask.to(model.device),
                                     position_ids=position_ids.to(model.device), **kwargs).logits
            finally:
                model._images = None
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            target = input_ids[:, 1:].to(logp.device)
            token_logp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).cpu()
            for k, (ids, pieces, first) in enumerate(encoded):
                offset = n - len(ids)
                # token at position p (in ids) is predicted at logits position p - 1
                values = token_logp[k, offset + first - 1: offset + len(ids) - 1].tolist()
                out.append(list(zip(pieces, (float(v) for v in values))))
    return out
