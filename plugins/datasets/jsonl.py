"""``jsonl``: a manifest for in-house data, one JSON object per line.

Each line: ``id``, ``image`` (a path relative to the manifest's folder, naming
a file inside it: absolute paths, ``..`` that climbs out and symlinks that lead
out are refused, as by every loader), ``question``, ``answer``; optional
``answer_type`` (closed / open; inferred from a yes/no answer when absent),
``modality``, ``organ``, ``question_type`` and ``split``. Lines without
``split`` belong to ``test``.
The reference split is ``reference`` when some lines say so, else ``train``.
Blank lines and lines starting with ``#`` are ignored. The path given may be the
manifest or a folder holding exactly one ``*.jsonl`` file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medrobust import DatasetError

from ._dataset import LocalDataset, dataset_options
from ._records import ImageSource, Problem, Record, RecordReader

__all__ = ["load", "ManifestRelease"]

NAME = "jsonl"
FIELDS = ("id", "image", "question", "answer", "answer_type", "modality", "organ", "question_type", "split")
DESCRIPTIVE = {"modality": "modality", "organ": "organ", "question_type": "question_type"}


class ManifestRelease:
    """A JSONL manifest: records of every split in one file, images beside it."""

    format = "jsonl-manifest"
    test_split = "test"

    def __init__(self, manifest: Path) -> None:
        self.manifest = manifest
        self.root = manifest.parent
        self.notes: dict[str, Any] = {"manifest": manifest.name, "ignored_fields": []}
        self._by_split: dict[str, list[Record]] = {}
        self._problems: list[Problem] = []
        self._parse()
        if self.test_split not in self._by_split:
            raise DatasetError(f"{NAME}: {manifest.name} has no usable test record; lines without \"split\" or "
                               f"with \"split\": \"test\" are evaluated"
                               + (f" (first problem: {self._problems[0]})" if self._problems else ""))
        self.reference_split = "reference" if "reference" in self._by_split else "train"
        self.splits = tuple(self._by_split)
        self.reference_hint = ("add lines with \"split\": \"train\" (or \"reference\"): calibrators are "
                               "fitted on those, never on test lines")

    def _parse(self) -> None:
        reader = RecordReader(self.manifest.name, self._problems)
        ignored: set[str] = set()
        try:
            lines = self.manifest.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{self.manifest}: cannot be read as UTF-8 text ({exc})") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"line {number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                reader.problem(where, "(line)", f"is not JSON (column {exc.colno}: {exc.msg}); expected one "
                                                f"JSON object per line")
                continue
            if not reader.record(raw, where):
                continue
            ignored.update(k for k in raw if k not in FIELDS)
            sample_id = reader.text(raw, where, "id", numbers=True)
            if sample_id is None:
                continue
            where = f"line {number} (id {sample_id})"
            split = reader.text(raw, where, "split", required=False) or "test"
            read = reader.question(raw, where, "image", sample_id, "id")
            if read is None:
                continue
            image, question, answer, answer_type = read
            metadata = {"release_split": split, **reader.descriptive(raw, where, DESCRIPTIVE)}
            path = reader.image_inside(self.root / image, self.root, where, "image", image)
            if path is None:
                continue
            self._by_split.setdefault(split, []).append(Record(
                id=f"{NAME}/{sample_id}", split=split, image=ImageSource.file(path, image),
                question=question, answer=answer, answer_type=answer_type,
                metadata=metadata, file=self.manifest.name, where=where))
        self.notes["ignored_fields"] = sorted(ignored)

    def read(self, split: str, problems: list[Problem]) -> list[Record]:
        if self._problems:  # reported once, on the first read
            problems += self._problems
            self._problems = []
        return self._by_split[split]


def find_manifest(path: Path) -> Path:
    """The manifest: ``path`` itself, or the one ``*.jsonl`` file in the folder ``path``."""
    if path.is_file():
        return path
    found = sorted(path.glob("*.jsonl"))
    if len(found) != 1:
        raise DatasetError(f"{NAME}: {path} holds {len(found)} *.jsonl files ({', '.join(p.name for p in found)}); "
                           f"give the manifest itself: --dataset jsonl:/path/to/manifest.jsonl")
    return found[0]


def load(options: dict[str, Any]) -> LocalDataset:
    """The ``jsonl`` dataset factory (the common options only)."""
    root, seed, opts = dataset_options(NAME, options, {})
    return LocalDataset(NAME, ManifestRelease(find_manifest(root)), opts, seed)
