"""``vqa-rad``: VQA-RAD (Lau et al. 2018) from a local copy of either public release.

* OSF release: ``VQA_RAD Dataset Public.json`` (an array of records with ``qid``,
  ``image_name``, ``image_organ``, ``question``, ``answer``, ``answer_type``
  CLOSED/OPEN, ``question_type``, ``phrase_type``) beside ``VQA_RAD Image Folder/``.
  Records whose ``phrase_type`` starts with ``test`` (``test_freeform``,
  ``test_para``) form the test split (451 questions), the rest the train split.
* Hugging Face parquet release (flaviagiammarino/vqa-rad):
  ``data/train-*.parquet`` and ``data/test-*.parquet`` with the image bytes,
  ``question`` and ``answer``; closed means a yes/no answer there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medrobust import DatasetError

from ._dataset import LocalDataset, dataset_options
from ._parquet import ParquetRelease, parquet_splits
from ._records import ImageSource, Problem, Record, RecordReader, load_json_list, relative

__all__ = ["OSFRelease", "load"]

NAME = "vqa-rad"
ANNOTATIONS = "VQA_RAD Dataset Public.json"
IMAGES = "VQA_RAD Image Folder"
_EXPECTED = (f"expected {ANNOTATIONS!r} beside {IMAGES + '/'!r} (OSF release) or data/train-*.parquet and "
             f"data/test-*.parquet (Hugging Face release)")


class OSFRelease:
    """The OSF release: one JSON file for both splits, one folder of images."""

    format = "osf-json"
    splits = ("train", "test")
    test_split = "test"
    reference_split = "train"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.annotations = root / ANNOTATIONS
        self.images = root / IMAGES
        if not self.images.is_dir():
            raise DatasetError(f"{NAME}: image folder not found: {self.images}; {_EXPECTED}")
        self.notes: dict[str, Any] = {"annotation_file": ANNOTATIONS}
        self._by_split: dict[str, list[Record]] = {}

    def read(self, split: str, problems: list[Problem]) -> list[Record]:
        if not self._by_split:
            self._by_split = {s: [] for s in self.splits}
            for record in self._parse(problems):
                self._by_split[record.split].append(record)
        return self._by_split[split]

    def _parse(self, problems: list[Problem]) -> list[Record]:
        reader = RecordReader(ANNOTATIONS, problems)
        records = []
        for raw, qid, where in reader.each(load_json_list(self.annotations, self.root), "qid"):
            phrase_type = reader.text(raw, where, "phrase_type")
            read = reader.question(raw, where, "image_name", qid, "qid") if phrase_type else None
            if read is None:
                continue
            image_name, question, answer, answer_type = read
            path = reader.image_inside(self.images / image_name, self.root, where, "image_name", image_name)
            if path is None:
                continue
            split = "test" if phrase_type.lower().startswith("test") else "train"  # type: ignore[union-attr]
            metadata = {"release_split": split, "qid": qid, "image_name": image_name, "phrase_type": phrase_type,
                        **reader.descriptive(raw, where, {"image_organ": "organ", "question_type": "question_type"})}
            records.append(Record(
                id=f"{NAME}/{split}/{qid}", split=split,
                image=ImageSource.file(path, relative(path, self.root)),
                question=question, answer=answer, answer_type=answer_type,
                metadata=metadata, file=ANNOTATIONS, where=where, image_field="image_name"))
        return records


def detect(root: Path, form: str) -> Any:
    """The release found at ``root`` (``form``: auto, osf or parquet)."""
    if root.is_file():
        if root.name != ANNOTATIONS:
            raise DatasetError(f"{NAME}: {root} is a file; give the folder of the release ({_EXPECTED})")
        root = root.parent
    if form in ("auto", "osf") and (root / ANNOTATIONS).is_file():
        return OSFRelease(root)
    shards = parquet_splits(root) if form in ("auto", "parquet") else {}
    if shards:
        return ParquetRelease(NAME, root, shards, _EXPECTED)
    raise DatasetError(f"{NAME}: no release found in {root}; {_EXPECTED}")


def load(options: dict[str, Any]) -> LocalDataset:
    """The ``vqa-rad`` dataset factory (options: ``format`` auto|osf|parquet and the common ones)."""
    root, seed, opts = dataset_options(NAME, options, {"format": "auto"}, {"format": ("auto", "osf", "parquet")})
    return LocalDataset(NAME, detect(root, opts["format"]), opts, seed)
