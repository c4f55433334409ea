"""``pathvqa``: PathVQA (He et al. 2020) from a local copy of either public release.

* Original release (the ``pvqa`` folder): ``images/{train,val,test}/<name>.jpg`` and
  ``qas/{train,val,test}/<split>_qa.pkl``, each a pickled list of
  ``{"image": "<name>", "question": ..., "answer": ...}``.
* Hugging Face parquet release (flaviagiammarino/path-vqa):
  ``data/{train,validation,test}-*.parquet`` with the image bytes, ``question``, ``answer``.

Neither release states an answer type: yes/no answers are closed, all others open.
Every sample's metadata says ``modality: pathology``.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from medrobust import DatasetError

from ._dataset import LocalDataset, dataset_options
from ._parquet import ParquetRelease, parquet_splits
from ._records import ImageSource, Problem, Record, RecordReader, relative, require_file

__all__ = ["OriginalRelease", "load", "load_plain_pickle"]

NAME = "pathvqa"
SPLITS = ("train", "val", "test")
_EXPECTED = ("expected the original release (images/{train,val,test}/ and qas/{train,val,test}/<split>_qa.pkl) "
             "or the Hugging Face release (data/train-*.parquet, data/test-*.parquet)")


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles lists, dicts, tuples, strings, numbers and sets, nothing else.

    The original PathVQA annotations are pickles, and unpickling runs whatever
    callable the file names: a tampered or wrongly downloaded ``.pkl`` could run
    code on the machine that evaluates the model. Plain containers are built by
    pickle opcodes without looking anything up, so refusing every global lookup
    except the set types keeps real annotations loadable and code out.
    """

    _ALLOWED = {("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"),
                ("__builtin__", "frozenset")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refers to {module}.{name}; only plain lists, dicts, strings and numbers "
                                     f"are accepted in annotation pickles")


def load_plain_pickle(data: bytes) -> Any:
    """Unpickle ``data`` allowing only plain containers, strings and numbers (see :class:`_PlainUnpickler`)."""
    return _PlainUnpickler(io.BytesIO(data), encoding="utf-8").load()


def _qa_file(root: Path, split: str) -> Path:
    for candidate in (root / "qas" / split / f"{split}_qa.pkl", root / "qas" / f"{split}_qa.pkl"):
        if candidate.is_file():
            return candidate
    return root / "qas" / split / f"{split}_qa.pkl"


class OriginalRelease:
    """The original release: pickled QA lists and image folders per split."""

    format = "original-pkl"
    test_split = "test"
    reference_split = "train"

    def __init__(self, root: Path) -> None:
        self.root = root
        for split in (self.test_split, self.reference_split):
            require_file(_qa_file(root, split), f"{NAME}: annotation file", lambda: _EXPECTED)
        self.splits = tuple(s for s in SPLITS if _qa_file(root, s).is_file())
        self.notes: dict[str, Any] = {"annotation_files": {s: relative(_qa_file(root, s), root) for s in self.splits}}

    def _load(self, split: str) -> list[Any]:
        path = _qa_file(self.root, split)
        name = relative(path, self.root)
        try:
            data = load_plain_pickle(path.read_bytes())
        except OSError as exc:
            raise DatasetError(f"{name}: cannot be read ({exc.strerror or exc})") from None
        except Exception as exc:  # UnpicklingError, EOFError, ValueError... from a damaged or foreign file
            raise DatasetError(f"{name}: not a plain annotation pickle ({type(exc).__name__}: {exc}); expected "
                               f"the release's list of {{image, question, answer}} records") from None
        if not isinstance(data, list):
            raise DatasetError(f"{name}: holds a {type(data).__name__}; expected a list of "
                               f"{{image, question, answer}} records")
        return data

    def read(self, split: str, problems: list[Problem]) -> list[Record]:
        file = relative(_qa_file(self.root, split), self.root)
        reader = RecordReader(file, problems)
        records = []
        for index, raw in enumerate(self._load(split)):
            where = f"record {index}"
            if not reader.record(raw, where):
                continue
            read = reader.question(raw, where, "image")
            if read is None:
                continue
            image, question, answer, answer_type = read
            named = image if Path(image).suffix else image + ".jpg"  # the release names images without .jpg
            path = reader.image_inside(self.root / "images" / split / named, self.root, where, "image", image)
            if path is None:
                continue
            records.append(Record(
                id=f"{NAME}/{split}/{index:05d}", split=split, image=ImageSource.file(path, relative(path, self.root)),
                question=question, answer=answer, answer_type=answer_type,
                metadata={"release_split": split, "image_name": image, "modality": "pathology"},
                file=file, where=where))
        return records


def detect(root: Path, form: str) -> Any:
    """The release found at ``root`` or ``root/pvqa`` (``form``: auto, original or parquet)."""
    if root.is_file():
        raise DatasetError(f"{NAME}: {root} is a file; give the folder of the release ({_EXPECTED})")
    if form in ("auto", "original"):
        for candidate in (root, root / "pvqa"):
            if (candidate / "qas").is_dir():
                return OriginalRelease(candidate)
    shards = parquet_splits(root) if form in ("auto", "parquet") else {}
    if shards:
        return ParquetRelease(NAME, root, shards, _EXPECTED, {"modality": "pathology"})
    raise DatasetError(f"{NAME}: no release found in {root}; {_EXPECTED}")


def load(options: dict[str, Any]) -> LocalDataset:
    """The ``pathvqa`` dataset factory (options: ``format`` auto|original|parquet and the common ones)."""
    root, seed, opts = dataset_options(NAME, options, {"format": "auto"},
                                       {"format": ("auto", "original", "parquet")})
    return LocalDataset(NAME, detect(root, opts["format"]), opts, seed)
