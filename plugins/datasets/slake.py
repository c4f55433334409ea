"""``slake``: SLAKE (Liu et al. 2021) from a local copy of the Slake1.0 release.

``train.json``, ``validate.json`` and ``test.json`` are arrays of records with
``qid``, ``img_name`` (``xmlab0/source.jpg``, under ``imgs/``), ``question``,
``answer``, ``q_lang`` (en / zh), ``answer_type`` CLOSED/OPEN, ``modality``,
``location``, ``content_type`` and ``base_type``. The English questions are
loaded by default; ``--dataset-option lang=zh`` or ``lang=all`` selects others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medrobust import DatasetError

from ._dataset import LocalDataset, dataset_options
from ._records import ImageSource, Problem, Record, RecordReader, load_json_list, relative, shown

__all__ = ["load", "SlakeRelease"]

NAME = "slake"
FILES = {"train": "train.json", "validate": "validate.json", "test": "test.json"}
IMAGES = "imgs"
LANGS = ("en", "zh", "all")
#: release field -> metadata key
DESCRIPTIVE = {"modality": "modality", "location": "organ", "content_type": "question_type", "base_type": "base_type"}


class SlakeRelease:
    """Slake1.0: one JSON file per split, images in ``imgs/<folder>/source.jpg``."""

    format = "slake1.0-json"
    test_split = "test"
    reference_split = "train"

    def __init__(self, root: Path, lang: str) -> None:
        for split in (self.test_split, self.reference_split):
            if not (root / FILES[split]).is_file():
                raise DatasetError(f"{NAME}: annotation file not found: {root / FILES[split]}; expected the "
                                   f"Slake1.0 folder with {', '.join(FILES.values())} and {IMAGES}/")
        if not (root / IMAGES).is_dir():
            raise DatasetError(f"{NAME}: image folder not found: {root / IMAGES}; expected the Slake1.0 folder "
                               f"with {', '.join(FILES.values())} and {IMAGES}/")
        self.root = root
        self.lang = lang
        self.splits = tuple(s for s, f in FILES.items() if (root / f).is_file())
        self.notes: dict[str, Any] = {"lang": lang, "other_language_records": {}}

    def read(self, split: str, problems: list[Problem]) -> list[Record]:
        file = FILES[split]
        reader = RecordReader(file, problems)
        records, other = [], 0
        for raw, qid, where in reader.each(load_json_list(self.root / file, self.root), "qid"):
            lang = reader.text(raw, where, "q_lang")
            if lang is None:
                continue
            if lang not in ("en", "zh"):
                reader.problem(where, "q_lang", f"is {shown(lang, 20)}; expected en or zh")
                continue
            if self.lang != "all" and lang != self.lang:
                other += 1
                continue
            read = reader.question(raw, where, "img_name", qid, "qid")
            if read is None:
                continue
            image_name, question, answer, answer_type = read
            metadata = {"release_split": split, "qid": qid, "image_name": image_name, "lang": lang,
                        **reader.descriptive(raw, where, DESCRIPTIVE)}
            path = reader.image_inside(self.root / IMAGES / image_name, self.root, where, "img_name", image_name)
            if path is None:
                continue
            records.append(Record(
                id=f"{NAME}/{split}/{qid}", split=split, image=ImageSource.file(path, relative(path, self.root)),
                question=question, answer=answer, answer_type=answer_type,
                metadata=metadata, file=file, where=where, image_field="img_name"))
        self.notes["other_language_records"][split] = other
        return records


def find_root(path: Path) -> Path:
    """The Slake1.0 folder: ``path`` itself, ``path/Slake1.0``, or the folder of a given JSON file."""
    if path.is_file():
        return path.parent
    if not (path / FILES["test"]).is_file() and (path / "Slake1.0").is_dir():
        return path / "Slake1.0"
    return path


def load(options: dict[str, Any]) -> LocalDataset:
    """The ``slake`` dataset factory (options: ``lang`` en|zh|all and the common ones)."""
    root, seed, opts = dataset_options(NAME, options, {"lang": "en"}, {"lang": LANGS})
    return LocalDataset(NAME, SlakeRelease(find_root(root), opts["lang"]), opts, seed)
