"""The Hugging Face parquet releases: ``data/<split>-NNNNN-of-NNNNN[-hash].parquet``.

Each row holds ``image`` (the ``datasets`` Image feature: a struct of ``bytes`` and
``path``, or plain bytes), ``question`` and ``answer``. Used by the parquet
releases of VQA-RAD (flaviagiammarino/vqa-rad) and PathVQA (flaviagiammarino/path-vqa).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterator, Optional

from medrobust import DatasetError

from ._records import ImageSource, Problem, Record, RecordReader, infer_answer_type, relative

__all__ = ["ParquetRelease", "import_pyarrow", "parquet_splits", "read_parquet_split"]

_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_]+?)-\d{5}-of-\d{5}(-[0-9a-f]+)?\.parquet$")
_COLUMNS = ("image", "question", "answer")


def import_pyarrow() -> Any:
    """``pyarrow.parquet``, or an error saying how to install it."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError('reading a parquet release needs pyarrow: pip install "medrobust[parquet]"') from None
    return pq


def data_folder(root: Path) -> Path:
    """The folder holding the shards: ``root/data`` or ``root`` itself."""
    return root / "data" if (root / "data").is_dir() else root


def parquet_splits(root: Path) -> dict[str, list[Path]]:
    """Split name -> its shards, in name order (empty when ``root`` holds no shards)."""
    folder = data_folder(root)
    splits: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.parquet")):
        match = _SHARD.match(path.name)
        if match:
            splits.setdefault(match["split"], []).append(path)
    return splits


def _image_bytes(value: Any) -> Any:
    """The encoded bytes of an image cell (struct of bytes/path, or bytes)."""
    if isinstance(value, dict):
        return value.get("bytes")
    return value


def _rows(path: Path, root: Path) -> Iterator[dict[str, Any]]:
    pq = import_pyarrow()
    name = relative(path, root)
    try:
        shard = pq.ParquetFile(path)
        columns = shard.schema_arrow.names
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError...
        raise DatasetError(f"{name}: not a readable parquet file ({exc}); expected a shard of the "
                           f"Hugging Face release") from None
    missing = [c for c in _COLUMNS if c not in columns]
    if missing:
        raise DatasetError(f"{name}: column(s) {', '.join(missing)} missing; expected columns "
                           f"{', '.join(_COLUMNS)} (found {', '.join(columns) or 'none'})")
    for batch in shard.iter_batches(batch_size=256, columns=list(_COLUMNS)):
        yield from batch.to_pylist()


def read_parquet_split(name: str, root: Path, split: str, shards: list[Path],
                       problems: list[Problem]) -> list[Record]:
    """Records of one split of a parquet release; ids are ``NAME/SPLIT/NNNNN`` by row."""
    records = []
    index = 0
    shared: dict[str, bytes] = {}  # one bytes object per distinct image (rows repeat their image)
    for path in shards:
        reader = RecordReader(relative(path, root), problems)
        for row, raw in enumerate(_rows(path, root)):
            where = f"row {row}"
            sample_index, index = index, index + 1
            question = reader.text(raw, where, "question")
            answer = reader.text(raw, where, "answer", numbers=True)
            data = _image_bytes(raw.get("image"))
            if not isinstance(data, (bytes, bytearray)):
                reader.problem(where, "image", "holds no image bytes; expected the encoded image in image.bytes")
                continue
            if question is None or answer is None:
                continue
            answer = answer.lower()
            image = ImageSource.embedded(bytes(data), f"{reader.file} row {row} field 'image'")
            image = dataclasses.replace(image, data=shared.setdefault(image.key, image.data))  # type: ignore[arg-type]
            records.append(Record(
                id=f"{name}/{split}/{sample_index:05d}", split=split, image=image,
                question=question, answer=answer, answer_type=infer_answer_type(answer),
                metadata={"release_split": split}, file=reader.file, where=where))
    return records


class ParquetRelease:
    """A Hugging Face parquet release: shards per split, images embedded in the rows.

    Args:
        name: Dataset name (sample ids and messages).
        root: The release folder (holding ``data/`` or the shards).
        shards: Split name -> shards, from :func:`parquet_splits`.
        expected: What a complete release looks like, for the message when train or test is missing.
        metadata: Fields added to every sample's metadata (e.g. ``{"modality": "pathology"}``).
    """

    format = "hf-parquet"
    test_split = "test"
    reference_split = "train"

    def __init__(self, name: str, root: Path, shards: dict[str, list[Path]], expected: str,
                 metadata: Optional[dict[str, Any]] = None) -> None:
        missing = [s for s in (self.test_split, self.reference_split) if s not in shards]
        if missing:
            raise DatasetError(f"{name}: no {' or '.join(missing)} shards in {root}; {expected}")
        self.name = name
        self.root = root
        self.shards = shards
        self.splits = tuple(shards)
        self.metadata = dict(metadata or {})
        self.notes: dict[str, Any] = {"shards": {s: [relative(p, root) for p in ps] for s, ps in shards.items()}}

    def read(self, split: str, problems: list[Problem]) -> list[Record]:
        records = read_parquet_split(self.name, self.root, split, self.shards[split], problems)
        for r in records:
            r.metadata.update(self.metadata)
        return records
