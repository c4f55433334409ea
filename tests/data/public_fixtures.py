"""Writers of tiny copies of the public releases (VQA-RAD, SLAKE, PathVQA) and of a JSONL manifest.

Each writer lays out files exactly as the release does, with a handful of
records and small images drawn with numpy and saved with PIL, and returns the
folder to give after ``NAME:``. Tests break them on purpose afterwards.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PIL import Image

__all__ = ["picture", "image_bytes", "write_image", "VQA_RAD_RECORDS", "write_vqa_rad_osf", "write_vqa_rad_parquet",
           "SLAKE_RECORDS", "write_slake", "PATHVQA_QAS", "write_pathvqa_original", "write_pathvqa_parquet",
           "write_jsonl", "write_parquet"]


def picture(seed: int, size: tuple[int, int] = (24, 20), mode: str = "L") -> Image.Image:
    """A small deterministic picture (a gradient with a bright disc), different for each seed."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    cx, cy = rng.integers(4, w - 4), rng.integers(4, h - 4)
    base = (x * 180 // max(w - 1, 1) + 20 + 60 * ((x - cx) ** 2 + (y - cy) ** 2 < 16)).astype(np.uint8)
    if mode == "L":
        return Image.fromarray(base, mode="L")
    return Image.fromarray(np.stack([base, base[::-1], np.full_like(base, seed * 37 % 256)], axis=-1), mode="RGB")


def image_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    """``image`` encoded as ``fmt``."""
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def write_image(path: Path, image: Image.Image) -> Path:
    """Save ``image`` at ``path`` (format from the suffix), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


# -- VQA-RAD ----------------------------------------------------------------
def _rad(qid: int, image: str, organ: str, question: str, answer: Any, answer_type: str, question_type: str,
         phrase_type: str) -> dict[str, Any]:
    return {"qid": qid, "image_name": image, "image_case_url": f"https://medpix.example/{image}",
            "image_organ": organ, "answer": answer, "answer_type": answer_type, "question_type": question_type,
            "question": question, "question_rephrase": "NULL", "phrase_type": phrase_type, "qid_linked_id": "",
            "evaluation": "given", "question_frame": "NULL"}


#: five train questions (on three images) and three test questions (on two images, one shared with train)
VQA_RAD_RECORDS: list[dict[str, Any]] = [
    _rad(1, "synpic100.jpg", "CHEST", "Is there a pneumothorax?", "Yes", "CLOSED", "PRES", "freeform"),
    _rad(2, "synpic100.jpg", "CHEST", "What organ is shown?", "chest", "OPEN", "ORGAN", "para"),
    _rad(3, "synpic300.jpg", "HEAD", "Is the brain normal?", "no", "CLOSED", "ABN", "freeform"),
    _rad(4, "synpic300.jpg", "HEAD", "How many lesions are there?", 2, "OPEN", "COUNT", "freeform"),
    _rad(5, "synpic400.jpg", "ABD", "Is this an MRI?", "No", "CLOSED ", "MODALITY", "para"),
    _rad(6, "synpic100.jpg", "CHEST", "Is the heart enlarged?", "yes", "CLOSED", "SIZE", "test_freeform"),
    _rad(7, "synpic200.jpg", "ABD", "Which side is the cyst on?", "left", "CLOSED", "POS", "test_para"),
    _rad(8, "synpic200.jpg", "ABD", "What is the abnormality?", "Renal cyst", "OPEN", "ABN", "test_freeform"),
]
_RAD_IMAGES = {"synpic100.jpg": (1, (32, 28), "RGB"), "synpic200.jpg": (2, (30, 30), "L"),
               "synpic300.jpg": (3, (26, 22), "L"), "synpic400.jpg": (4, (28, 24), "RGB")}


def write_vqa_rad_osf(root: Path, records: Optional[list[Any]] = None) -> Path:
    """The OSF release: ``VQA_RAD Dataset Public.json`` and ``VQA_RAD Image Folder/``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, (seed, size, mode) in _RAD_IMAGES.items():
        write_image(root / "VQA_RAD Image Folder" / name, picture(seed, size, mode))
    data = VQA_RAD_RECORDS if records is None else records
    (root / "VQA_RAD Dataset Public.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return root


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A shard in the Hugging Face layout: ``image`` as a struct of ``bytes`` and ``path``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({
        "image": pa.array([r["image"] for r in rows], type=image_type),
        "question": pa.array([r["question"] for r in rows], type=pa.string()),
        "answer": pa.array([r["answer"] for r in rows], type=pa.string()),
    })
    pq.write_table(table, path)
    return path


def _row(seed: int, question: str, answer: str, size: tuple[int, int] = (24, 20), mode: str = "RGB",
         fmt: str = "JPEG") -> dict[str, Any]:
    return {"image": {"bytes": image_bytes(picture(seed, size, mode), fmt), "path": None},
            "question": question, "answer": answer}


def write_vqa_rad_parquet(root: Path) -> Path:
    """flaviagiammarino/vqa-rad: ``data/train-*.parquet`` (4 rows) and ``data/test-*.parquet`` (3 rows)."""
    write_parquet(root / "data" / "train-00000-of-00001-eb8844602202be60.parquet", [
        _row(1, "is there a pneumothorax?", "yes"), _row(1, "what organ is shown?", "chest"),
        _row(3, "is the brain normal?", "no", mode="L"), _row(4, "is this an mri?", "no")])
    write_parquet(root / "data" / "test-00000-of-00001-e5bc3d208bb4deeb.parquet", [
        _row(1, "is the heart enlarged?", "yes"),
        _row(2, "what is the abnormality?", "renal cyst", mode="L", fmt="PNG"),
        _row(2, "is there a cyst?", "yes", mode="L", fmt="PNG")])
    return root


# -- SLAKE ------------------------------------------------------------------
def _slake(qid: int, img_id: int, question: str, answer: str, lang: str, answer_type: str, modality: str,
           location: str, content_type: str) -> dict[str, Any]:
    return {"img_id": img_id, "img_name": f"xmlab{img_id}/source.jpg", "question": question, "answer": answer,
            "q_lang": lang, "location": location, "modality": modality, "answer_type": answer_type,
            "base_type": "vqa", "content_type": content_type, "triple": ["vhead", "_", "_"], "qid": qid}


SLAKE_RECORDS: dict[str, list[dict[str, Any]]] = {
    "train": [
        _slake(0, 1, "What modality is used to take this image?", "CT", "en", "OPEN", "CT", "Abdomen", "Modality"),
        _slake(1, 1, "这张图片的成像方式是什么?", "CT", "zh", "OPEN", "CT", "Abdomen", "Modality"),
        _slake(2, 2, "Does the picture contain liver?", "Yes", "en", "CLOSED", "MRI", "Abdomen", "Organ"),
        _slake(3, 3, "Is the lung healthy?", "No", "en", "CLOSED", "X-Ray", "Lung", "Abnormality"),
    ],
    "validate": [
        _slake(100, 2, "Which organ is abnormal?", "Liver", "en", "OPEN", "MRI", "Abdomen", "Abnormality"),
    ],
    "test": [
        _slake(200, 4, "Where is the abnormality?", "Left Lung", "en", "OPEN", "X-Ray", "Lung", "Position"),
        _slake(201, 4, "这张图片中的肺是否健康?", "否", "zh", "CLOSED", "X-Ray", "Lung", "Abnormality"),
        _slake(202, 5, "Is this a T2 weighted MRI?", "Yes", "en", "CLOSED", "MRI", "Brain", "Modality"),
    ],
}
_SLAKE_IMAGES = {1: (11, (24, 24), "L"), 2: (12, (20, 24), "L"), 3: (13, (28, 20), "RGB"),
                 4: (14, (24, 20), "RGB"), 5: (15, (22, 22), "L")}


def write_slake(root: Path, records: Optional[dict[str, Any]] = None) -> Path:
    """Slake1.0: ``train.json``, ``validate.json``, ``test.json`` and ``imgs/xmlabN/source.jpg``."""
    root.mkdir(parents=True, exist_ok=True)
    for img_id, (seed, size, mode) in _SLAKE_IMAGES.items():
        write_image(root / "imgs" / f"xmlab{img_id}" / "source.jpg", picture(seed, size, mode))
        (root / "imgs" / f"xmlab{img_id}" / "detection.json").write_text("[]", encoding="utf-8")
    for split, data in (SLAKE_RECORDS if records is None else records).items():
        (root / f"{split}.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return root


# -- PathVQA ----------------------------------------------------------------
PATHVQA_QAS: dict[str, list[dict[str, Any]]] = {
    "train": [{"image": "train_0000", "question": "What is present?", "answer": "hemorrhage"},
              {"image": "train_0000", "question": "Is hemorrhage present?", "answer": "yes"},
              {"image": "train_0001", "question": "Does this image show fibrosis?", "answer": "no"}],
    "val": [{"image": "val_0000", "question": "What does this image show?", "answer": "granuloma"}],
    "test": [{"image": "test_0000", "question": "Is necrosis present?", "answer": "Yes"},
             {"image": "test_0000", "question": "What shows necrosis?", "answer": "liver"},
             {"image": "test_0001", "question": "Are nuclei visible?", "answer": "no"}],
}


def write_pathvqa_original(root: Path, qas: Optional[dict[str, Any]] = None) -> Path:
    """The original release: ``images/<split>/<name>.jpg`` and ``qas/<split>/<split>_qa.pkl``."""
    qas = PATHVQA_QAS if qas is None else qas
    for split, records in qas.items():
        for i, name in enumerate(sorted({r["image"] for r in records if isinstance(r, dict) and "image" in r})):
            write_image(root / "images" / split / f"{name}.jpg", picture(30 + i + 10 * len(split), (26, 26), "RGB"))
        (root / "qas" / split).mkdir(parents=True, exist_ok=True)
        (root / "qas" / split / f"{split}_qa.pkl").write_bytes(pickle.dumps(records, protocol=2))
    return root


def write_pathvqa_parquet(root: Path) -> Path:
    """flaviagiammarino/path-vqa: ``data/{train,validation,test}-*.parquet``."""
    for split, rows in {"train": PATHVQA_QAS["train"], "validation": PATHVQA_QAS["val"],
                        "test": PATHVQA_QAS["test"]}.items():
        write_parquet(root / "data" / f"{split}-00000-of-00001.parquet",
                      [_row(40 + len(split) + int(r["image"][-1]), r["question"], r["answer"]) for r in rows])
    return root


# -- JSONL manifest ---------------------------------------------------------
def write_jsonl(root: Path, lines: Optional[list[Any]] = None) -> Path:
    """``manifest.jsonl`` with images in ``images/``; returns the manifest path."""
    write_image(root / "images" / "a.png", picture(51, (24, 24), "L"))
    write_image(root / "images" / "b.png", picture(52, (24, 24), "RGB"))
    write_image(root / "images" / "c.png", picture(53, (20, 24), "L"))
    if lines is None:
        lines = [
            {"id": "p1", "image": "images/a.png", "question": "Is there an effusion?", "answer": "yes",
             "modality": "X-ray", "organ": "Chest", "split": "test"},
            {"id": "p2", "image": "images/b.png", "question": "What is the finding?", "answer": "nodule",
             "answer_type": "open", "modality": "CT", "organ": "chest"},
            {"id": "p3", "image": "images/c.png", "question": "Left or right?", "answer": "Left",
             "answer_type": "CLOSED", "split": "train", "site": "hospital A"},
            {"id": 4, "image": "images/c.png", "question": "Is it normal?", "answer": "no", "split": "train"},
        ]
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path = root / "manifest.jsonl"
    path.write_text("# in-house sample manifest\n" + text + "\n\n", encoding="utf-8")
    return path
